//! The engine: git-annex's requests answered with a storage [`Backend`].
//!
//! git-annex does chunking and its own encryption itself; the engine only ever sees keys (plain,
//! chunk or `GPGHMAC…`) and local files. Each key becomes one object path through
//! [`crate::naming::object_path`] (the configured layout, on the HMAC name when encrypted), the
//! rule the `ferry` command shares. The safety rules of the protocol live here:
//! - CHECKPRESENT is three-valued: present only with the key's size, absent only when the store
//!   definitely said so, unknown for everything else;
//! - a STORE of a file whose size contradicts the key, or of an empty file for an encrypted key
//!   (what git-annex sends when gpg failed), is refused;
//! - a RETRIEVE that yields a different size than the key's is a failure, never a success.
//!
//! With ferry's own encryption (`ferry_encryption=`, [`crate::encryption`]) the storage is
//! wrapped in a [`SealedBackend`] and each key is first turned into its HMAC object name
//! (`FERRYHMACSHA256--…`), which the layout then places as if it were a key: directory hashes
//! are computed on that name, never on the plaintext key, and never asked of git-annex.
//! Everything above (size checks, three-valued presence) works unchanged, since the sealed
//! storage reports plaintext lengths.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use ferry_backends::layout::{self, Layout};
use ferry_backends::sealed::SealedBackend;
use ferry_backends::{Backend, BackendError, ErrorKind, ObjectMeta, ObjectPath};
use ferry_crypto::{Argon2Params, KeyId, KeyToken, NameKey};
use remote_proto::handler::{ConfigOption, InfoField};
use remote_proto::reply::Availability;
use remote_proto::{Annex, Extension, Failure, Key, Presence, Retrieved, SpecialRemote};
use tokio::sync::OnceCell;

use crate::encryption::{self, KeyLoadError};
use crate::naming::{self, NamingError};
use crate::settings::{CONFIG_KEYS, Phase, Settings, Storage};
use crate::storage::rclone_secrets;
use crate::storage::{self, Login, StorageSecrets, creds_names};
use ferry_crypto::Secret;

/// git-annex's cost of a remote on a local disk (its `cheapRemoteCost`): tried before network
/// remotes.
const LOCAL_COST: u32 = 100;

/// The remote after PREPARE: its settings and the storage they name.
struct Prepared {
    settings: Settings,
    /// The storage, wrapped in a [`SealedBackend`] when ferry encrypts.
    backend: Arc<dyn Backend>,
    /// With ferry's encryption: the key that names objects, and the master key's id.
    sealed: Option<(NameKey, KeyId)>,
}

/// ferry's special remote. One value serves every job of a process (ASYNC), so all state after
/// PREPARE is shared and read-only.
#[derive(Default)]
pub struct FerryRemote {
    prepared: OnceCell<Prepared>,
}

impl FerryRemote {
    /// A remote that has not been prepared yet.
    pub fn new() -> FerryRemote {
        FerryRemote::default()
    }

    fn prepared(&self) -> Result<&Prepared, Failure> {
        self.prepared
            .get()
            .ok_or_else(|| Failure::new("the remote was used before PREPARE succeeded"))
    }
}

/// Reads every known config key from git-annex, and `externaltype`, which can tell which rclone
/// bridge wrote a `target=` config (their defaults differ). At `enableremote NAME
/// externaltype=ferry` git-annex already answers `ferry`, so there the stored names decide.
async fn read_settings(annex: &Annex, phase: Phase) -> Result<Settings, Failure> {
    let mut values = Vec::with_capacity(CONFIG_KEYS.len() + 1);
    let names = CONFIG_KEYS
        .iter()
        .map(|k| k.name)
        .chain(std::iter::once("externaltype"));
    for name in names {
        let value = annex
            .get_config(name)
            .await
            .map_err(|e| Failure::new(format!("cannot read setting {name}: {e}")))?;
        values.push((name, value));
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    Settings::from_config(
        |name| {
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        },
        phase,
        &cwd,
    )
    .map_err(|e| Failure::new(e.to_string()))
}

/// An environment variable's value, when set and not empty.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A login from two environment variables, when both are set.
fn env_login(user: &str, secret: &str) -> Option<Login> {
    Some(Login {
        user: env(user)?,
        secret: Secret::new(env(secret)?),
    })
}

/// A login from git-annex's creds store; `None` when none is stored (or git-annex refused
/// the query, as it does in some processes).
async fn stored_login(annex: &Annex, name: &str) -> Option<Login> {
    match annex.get_creds(name).await {
        Ok((user, secret)) if !user.is_empty() || !secret.is_empty() => Some(Login {
            user,
            secret: Secret::new(secret),
        }),
        _ => None,
    }
}

/// A login from the environment (which wins, so that new credentials can be given any time)
/// or the creds store; at INITREMOTE one from the environment is stored with SETCREDS.
async fn login(
    annex: &Annex,
    phase: Phase,
    creds: &str,
    from_env: Option<Login>,
) -> Result<Option<Login>, Failure> {
    match from_env {
        Some(login) => {
            if phase == Phase::Init {
                annex
                    .set_creds(creds, &login.user, login.secret.expose())
                    .await
                    .map_err(|e| Failure::new(format!("cannot store credentials: {e}")))?;
            }
            Ok(Some(login))
        }
        None => Ok(stored_login(annex, creds).await),
    }
}

/// Gathers the secrets the configured storage needs. A `target=` remote's come from rclone.conf,
/// read again each time and never handed to git-annex's creds store.
async fn load_secrets(
    annex: &Annex,
    settings: &Settings,
    phase: Phase,
) -> Result<StorageSecrets, Failure> {
    if let Some(rclone) = &settings.rclone {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        return rclone_secrets(rclone, &cwd).map_err(Failure::new);
    }
    let mut secrets = StorageSecrets::default();
    match &settings.storage {
        Storage::Directory { .. } => {}
        Storage::S3 { .. } => {
            let from_env = env_login("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY");
            secrets.login = login(annex, phase, creds_names::S3, from_env).await?;
        }
        Storage::Webdav { .. } => {
            let from_env = env_login("WEBDAV_USERNAME", "WEBDAV_PASSWORD");
            secrets.login = login(annex, phase, creds_names::WEBDAV, from_env).await?;
            secrets.bearer_token = env("WEBDAV_BEARER_TOKEN").map(Secret::new);
        }
        Storage::Gdrive { client_id, .. } => {
            let from_file = match env("FERRY_GDRIVE_TOKEN_FILE") {
                Some(path) => {
                    // The environment wins over the creds store (see `login`), so this file
                    // is where the token in use came from: refreshes are written back to it.
                    secrets.gdrive_token_file = Some(PathBuf::from(&path));
                    let text = tokio::fs::read_to_string(&path).await.map_err(|e| {
                        Failure::new(format!("cannot read FERRY_GDRIVE_TOKEN_FILE={path}: {e}"))
                    })?;
                    // One line, so that it fits git-annex's creds store.
                    let one_line: String = text.lines().map(str::trim).collect();
                    Some(Login {
                        user: "token".to_owned(),
                        secret: Secret::new(one_line),
                    })
                }
                None => None,
            };
            secrets.gdrive_token = login(annex, phase, creds_names::GDRIVE_TOKEN, from_file)
                .await?
                .map(|l| l.secret);
            let client = client_id.as_ref().and_then(|id| {
                Some(Login {
                    user: id.clone(),
                    secret: Secret::new(env("FERRY_GDRIVE_CLIENT_SECRET")?),
                })
            });
            secrets.gdrive_client_secret = login(annex, phase, creds_names::GDRIVE_CLIENT, client)
                .await?
                .map(|l| l.secret);
        }
    }
    Ok(secrets)
}

/// Reads settings and secrets and opens the storage.
async fn open_storage(
    annex: &Annex,
    phase: Phase,
) -> Result<(Settings, Arc<dyn Backend>), Failure> {
    let settings = read_settings(annex, phase).await?;
    let secrets = load_secrets(annex, &settings, phase).await?;
    let backend = storage::open(&settings, &secrets).map_err(|e| Failure::new(e.to_string()))?;
    Ok((settings, backend))
}

/// Refuses ferry's encryption where it cannot work (checked at INITREMOTE, which enableremote
/// runs too): together with git-annex's encryption, and with tree exports or imports.
async fn check_encryption_fits(annex: &Annex, settings: &Settings) -> Result<(), Failure> {
    let algorithm = settings.encryption.encryption;
    let config = |name: &'static str| async move {
        annex
            .get_config(name)
            .await
            .map_err(|e| Failure::new(format!("cannot read setting {name}: {e}")))
    };
    let annex_encryption = config("encryption").await?;
    if !annex_encryption.is_empty() && annex_encryption != "none" {
        return Err(Failure::new(format!(
            "ferry_encryption={algorithm} and git-annex's encryption={annex_encryption} would encrypt everything twice; pick one: encryption=none ferry_encryption={algorithm} (ferry's: fast, streaming, objects bound to their names), or encryption={annex_encryption} without ferry_encryption (git-annex's gpg)"
        )));
    }
    for tree in ["exporttree", "importtree"] {
        let value = config(tree).await?;
        if matches!(value.as_str(), "yes" | "true") {
            return Err(Failure::new(format!(
                "ferry_encryption cannot be used with {tree}=yes: a tree export shows files under their own names, which ferry's encryption hides (git-annex refuses its own encryption with exports for the same reason); use a separate remote for the export"
            )));
        }
    }
    Ok(())
}

/// The message for a key that could not be made or loaded.
fn key_failure(err: &KeyLoadError) -> Failure {
    Failure::new(format!("ferry encryption: {err}"))
}

/// The master key at PREPARE ([`encryption::load_master_key`]), pinned to the first key id this
/// repository saw for the remote.
async fn load_master_key(
    annex: &Annex,
    settings: &Settings,
) -> Result<ferry_crypto::MasterKey, Failure> {
    let query = |what: &str, e: &dyn std::fmt::Display| {
        Failure::new(format!("cannot ask git-annex for {what}: {e}"))
    };
    let git_dir = annex
        .get_git_dir()
        .await
        .map_err(|e| query("the git directory", &e))?;
    let uuid = annex
        .get_uuid()
        .await
        .map_err(|e| query("the remote's uuid", &e))?;
    let wrapped = matches!(settings.encryption.token(), Ok(Some(KeyToken::Wrapped(_))));
    // Only for the advice of a locked remote; some processes cannot ask for it.
    let remote = if wrapped {
        annex
            .get_git_remote_name()
            .await
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "NAME".to_owned())
    } else {
        String::new()
    };
    let master = encryption::load_master_key(
        &settings.encryption,
        &git_dir,
        &uuid,
        &remote,
        encryption::passphrase_from_env,
    )
    .map_err(|e| key_failure(&e))?;
    encryption::check_key_id_pin(&git_dir, &uuid, master.key_id()).map_err(|e| key_failure(&e))?;
    Ok(master)
}

impl Prepared {
    fn path_of(&self, key: &Key) -> Result<ObjectPath, Failure> {
        let names = self.sealed.as_ref().map(|(names, _)| names);
        naming::object_path(self.settings.layout, names, key).map_err(|e| match e {
            NamingError::Unplaceable { .. } => Failure::new(format!(
                "{e}; migrate the file to another backend (git annex migrate --backend=SHA256E)"
            )),
            NamingError::NameNotAKey { .. } => Failure::new(e.to_string()),
        })
    }

    /// Where else an object of `key` may have been put by the rclone bridges (keys with `/`).
    /// Never for an encrypted remote: no other tool wrote its objects.
    fn legacy_paths_of(&self, key: &Key) -> Vec<ObjectPath> {
        if self.sealed.is_some() {
            return Vec::new();
        }
        layout::legacy_paths(self.settings.layout, None, key)
    }

    /// The storage for export requests, which are refused on an encrypted remote (INITREMOTE
    /// already refuses `exporttree=yes` with `ferry_encryption`; this is the second line).
    fn export_backend(&self) -> Result<&Arc<dyn Backend>, Failure> {
        if self.sealed.is_some() {
            return Err(Failure::new(
                "this remote uses ferry_encryption, which does not support exporttree",
            ));
        }
        Ok(&self.backend)
    }

    fn layout(&self) -> Layout {
        self.settings.layout
    }

    /// Fetches the object at `path` into `file` (resuming a partial `file`) and checks that
    /// the result has `key`'s size, so that a damaged object is never reported retrieved.
    /// `what` names the object in messages.
    async fn fetch(
        &self,
        path: &ObjectPath,
        key: &Key,
        file: &Path,
        annex: &Annex,
        what: &str,
    ) -> Result<(), Failure> {
        self.fetch_raw(path, file, annex)
            .await
            .map_err(|e| Failure::new(format!("cannot retrieve {what}: {e}")))?;
        self.check_fetched(key, file, what)
    }

    /// Fetches the object at `path` into `file` (resuming a partial `file`), unchecked.
    async fn fetch_raw(
        &self,
        path: &ObjectPath,
        file: &Path,
        annex: &Annex,
    ) -> Result<(), BackendError> {
        self.backend
            .get_to_file(path, file, &|n| annex.progress(n))
            .await
    }

    /// Checks that a fetched `file` has `key`'s size.
    fn check_fetched(&self, key: &Key, file: &Path, what: &str) -> Result<(), Failure> {
        // A local file we just wrote: stat it inline (see `store`).
        let got = std::fs::metadata(file)
            .map_err(|e| local_failure("cannot check the retrieved file", file, e))?
            .len();
        if !size_matches(key, got) {
            return Err(Failure::new(format!(
                "retrieved {got} bytes for {what}, but {key} has {}: the stored object is damaged or was changed outside git-annex; run git annex fsck --from on this remote",
                key.expected_object_len().unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Looks the key up at its path and, when absent there, at its legacy paths.
    async fn find(&self, key: &Key) -> Result<Option<(ObjectPath, ObjectMeta)>, BackendError> {
        let path = self.path_of(key).ok();
        let candidates = path.into_iter().chain(self.legacy_paths_of(key));
        for candidate in candidates {
            if let Some(meta) = self.backend.stat(&candidate).await? {
                return Ok(Some((candidate, meta)));
            }
        }
        Ok(None)
    }
}

/// The object path of an exported file: the name git-annex gives, relative to the store (and
/// its prefix). Names that could leave the store (`..`, absolute) are refused.
fn export_path(name: &str) -> Result<ObjectPath, Failure> {
    ObjectPath::new(name).map_err(|e| {
        Failure::new(format!(
            "cannot export to {name:?}: {e}; rename the file in the tree being exported"
        ))
    })
}

/// The message for a failed storage operation, naming the key.
fn storage_failure(what: &str, key: &Key, err: &BackendError) -> Failure {
    Failure::new(format!("{what} {key}: {err}"))
}

fn local_failure(what: &str, file: &Path, err: std::io::Error) -> Failure {
    Failure::new(format!("{what} {}: {err}", file.display()))
}

/// Checks an object's length against what the key says it must be.
fn size_matches(key: &Key, len: u64) -> bool {
    key.expected_object_len()
        .is_none_or(|expected| expected == len)
}

#[async_trait]
impl SpecialRemote for FerryRemote {
    fn extensions(&self) -> Vec<Extension> {
        vec![
            Extension::Info,
            Extension::Async,
            Extension::GetGitRemoteName,
            Extension::UnavailableResponse,
        ]
    }

    async fn init_remote(&self, annex: &Annex) -> Result<(), Failure> {
        let (mut settings, backend) = open_storage(annex, Phase::Init).await?;
        if settings.encryption.enabled() {
            check_encryption_fits(annex, &settings).await?;
            // The passphrase only matters when a new key is wrapped.
            let passphrase = if settings.encryption.passphrase && settings.encryption.key.is_none()
            {
                encryption::passphrase_from_env().map_err(|e| key_failure(&e))?
            } else {
                None
            };
            // Keeps an existing ferry_key: enableremote runs INITREMOTE again.
            encryption::init_key(
                &mut settings.encryption,
                passphrase.as_ref(),
                Argon2Params::default(),
            )
            .map_err(|e| key_failure(&e))?;
        }
        // INITREMOTE also runs at enableremote and autoenable: write back exactly what is in
        // use, which for an existing remote is what was stored, so nothing changes meaning.
        for (name, value) in settings.stored_values() {
            annex
                .set_config(name, &value)
                .await
                .map_err(|e| Failure::new(format!("cannot store setting {name}: {e}")))?;
        }
        for (name, value) in settings.secret_values() {
            annex
                .set_config(name, value.expose())
                .await
                .map_err(|e| Failure::new(format!("cannot store setting {name}: {e}")))?;
        }
        // Marks the directory as a store (and adopts one made by another tool), so that later
        // an unmounted disk is told from an empty store.
        backend
            .initialize()
            .await
            .map_err(|e| Failure::new(format!("the store cannot be used: {e}")))?;
        tracing::info!(
            storage = %backend.describe(),
            layout = %settings.layout,
            ferry_encryption = %settings.encryption.encryption,
            "initialized"
        );
        Ok(())
    }

    async fn prepare(&self, annex: &Annex) -> Result<(), Failure> {
        let (settings, backend) = open_storage(annex, Phase::Use).await?;
        // Temporary files and unfinished multipart uploads of killed STOREs (one listing
        // request on S3); a store that is away now is cleaned next time.
        match backend.clean_stale_uploads().await {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed {n} leftovers of interrupted uploads"),
            Err(e) => tracing::debug!("no cleanup of interrupted uploads: {e}"),
        }
        let (backend, sealed) = match settings.encryption.encryption.algorithm() {
            None => (backend, None),
            Some(algorithm) => {
                let master = load_master_key(annex, &settings).await?;
                let names = master.name_key(settings.encryption.mac);
                let key_id = master.key_id();
                let sealed: Arc<dyn Backend> =
                    Arc::new(SealedBackend::new(backend, master, algorithm));
                (sealed, Some((names, key_id)))
            }
        };
        tracing::debug!(
            storage = %backend.describe(),
            layout = %settings.layout,
            ferry_encryption = %settings.encryption.encryption,
            "prepared"
        );
        let _ = self.prepared.set(Prepared {
            settings,
            backend,
            sealed,
        });
        Ok(())
    }

    async fn store(&self, key: &Key, file: &Path, annex: &Annex) -> Result<(), Failure> {
        let p = self.prepared()?;
        let path = p.path_of(key)?;
        // git-annex's own file in the local repository: a stat is microseconds, cheaper than a
        // trip to the blocking pool (this runs for every one of thousands of small STOREs).
        let len = std::fs::metadata(file)
            .map_err(|e| local_failure("cannot read the file to store", file, e))?
            .len();
        if len == 0 && key.is_encrypted() {
            // gpg output is never empty: git-annex sends an empty file when gpg failed, and would
            // later count the empty object as a good copy.
            return Err(Failure::new(format!(
                "refusing to store an empty file for encrypted key {key}: gpg probably failed; check annex-gnupg-options and your gpg setup"
            )));
        }
        if !size_matches(key, len) {
            return Err(Failure::new(format!(
                "{} holds {len} bytes but key {key} says {}; the file changed while being stored, try again",
                file.display(),
                key.expected_object_len().unwrap_or_default()
            )));
        }
        tracing::debug!(%key, %path, len, "store");
        p.backend
            .put_file(&path, file, &|n| annex.progress(n))
            .await
            .map_err(|e| storage_failure("cannot store", key, &e))?;
        annex.progress(len);
        annex.debug(&format!("stored {key} at {path}")).await;
        Ok(())
    }

    async fn retrieve(&self, key: &Key, file: &Path, annex: &Annex) -> Result<Retrieved, Failure> {
        let p = self.prepared()?;
        // Without legacy paths to try, the object can only be at its path: fetching it right
        // away spares a lookup per RETRIEVE (on Drive a search call per chunk), and an absent
        // object fails the fetch as NotFound just the same.
        if p.legacy_paths_of(key).is_empty()
            && let Ok(path) = p.path_of(key)
        {
            tracing::debug!(%key, %path, "retrieve");
            annex.debug(&format!("retrieving {key} from {path}")).await;
            return match p.fetch_raw(&path, file, annex).await {
                Err(e) if e.kind() == ErrorKind::NotFound => Err(Failure::new(format!(
                    "{key} is not in {}",
                    p.backend.describe()
                ))),
                Err(e) => Err(Failure::new(format!("cannot retrieve {key}: {e}"))),
                Ok(()) => p
                    .check_fetched(key, file, key.as_str())
                    .map(|()| Retrieved::Written),
            };
        }
        let path = match p.find(key).await {
            Ok(Some((path, _))) => path,
            Ok(None) => {
                return Err(Failure::new(format!(
                    "{key} is not in {}",
                    p.backend.describe()
                )));
            }
            Err(e) => return Err(storage_failure("cannot retrieve", key, &e)),
        };
        tracing::debug!(%key, %path, "retrieve");
        annex.debug(&format!("retrieving {key} from {path}")).await;
        p.fetch(&path, key, file, annex, key.as_str()).await?;
        Ok(Retrieved::Written)
    }

    async fn check_present(&self, key: &Key, _annex: &Annex) -> Result<Presence, Failure> {
        let p = self.prepared()?;
        Ok(match p.find(key).await {
            Ok(Some((path, meta))) if size_matches(key, meta.len) => {
                tracing::debug!(%key, %path, "present");
                Presence::Present
            }
            Ok(Some((path, meta))) => {
                // The object there is not this key's content (a truncated copy): the content is
                // definitely not stored, and a new STORE replaces the bad object.
                tracing::warn!(%key, %path, len = meta.len, "object has the wrong size; reporting it absent");
                Presence::Absent
            }
            Ok(None) => Presence::Absent,
            Err(e) => Presence::Unknown(format!("cannot check {key}: {e}")),
        })
    }

    async fn remove(&self, key: &Key, annex: &Annex) -> Result<(), Failure> {
        let p = self.prepared()?;
        let paths = p.path_of(key).into_iter().chain(p.legacy_paths_of(key));
        for path in paths {
            p.backend
                .delete(&path)
                .await
                .map_err(|e| storage_failure("cannot remove", key, &e))?;
        }
        annex.debug(&format!("removed {key}")).await;
        Ok(())
    }

    async fn export_supported(&self, _annex: &Annex) -> Result<bool, Failure> {
        Ok(true)
    }

    async fn store_export(
        &self,
        key: &Key,
        file: &Path,
        name: &str,
        annex: &Annex,
    ) -> Result<(), Failure> {
        let p = self.prepared()?;
        let path = export_path(name)?;
        tracing::debug!(%key, %path, "store export");
        p.export_backend()?
            .put_file(&path, file, &|n| annex.progress(n))
            .await
            .map_err(|e| Failure::new(format!("cannot export {name}: {e}")))
    }

    async fn retrieve_export(
        &self,
        key: &Key,
        file: &Path,
        name: &str,
        annex: &Annex,
    ) -> Result<Retrieved, Failure> {
        let p = self.prepared()?;
        p.export_backend()?;
        let path = export_path(name)?;
        p.fetch(&path, key, file, annex, &format!("exported {name}"))
            .await?;
        Ok(Retrieved::Written)
    }

    async fn check_present_export(
        &self,
        key: &Key,
        name: &str,
        _annex: &Annex,
    ) -> Result<Presence, Failure> {
        let p = self.prepared()?;
        let path = export_path(name)?;
        Ok(match p.export_backend()?.stat(&path).await {
            Ok(Some(meta)) if size_matches(key, meta.len) => Presence::Present,
            Ok(Some(_)) | Ok(None) => Presence::Absent,
            Err(e) => Presence::Unknown(format!("cannot check exported {name}: {e}")),
        })
    }

    async fn remove_export(&self, _key: &Key, name: &str, _annex: &Annex) -> Result<(), Failure> {
        let p = self.prepared()?;
        let path = export_path(name)?;
        p.export_backend()?
            .delete(&path)
            .await
            .map_err(|e| Failure::new(format!("cannot remove exported {name}: {e}")))
    }

    async fn remove_export_directory(&self, dir: &str, _annex: &Annex) -> Result<(), Failure> {
        let p = self.prepared()?;
        let path = export_path(dir)?;
        // Only empty directories go: a file left in there is not git-annex's to delete.
        p.export_backend()?
            .remove_empty_dir(&path)
            .await
            .map_err(|e| Failure::new(format!("cannot remove export directory {dir}: {e}")))
    }

    async fn rename_export(
        &self,
        _key: &Key,
        old_name: &str,
        new_name: &str,
        _annex: &Annex,
    ) -> Result<(), Failure> {
        let p = self.prepared()?;
        let (from, to) = (export_path(old_name)?, export_path(new_name)?);
        p.export_backend()?
            .rename(&from, &to)
            .await
            .map_err(|e| Failure::new(format!("cannot rename {old_name} to {new_name}: {e}")))
    }

    async fn list_configs(&self, _annex: &Annex) -> Result<Vec<ConfigOption>, Failure> {
        Ok(CONFIG_KEYS
            .iter()
            .map(|k| ConfigOption {
                name: k.name.to_owned(),
                description: k.description.to_owned(),
            })
            .collect())
    }

    async fn get_cost(&self, _annex: &Annex) -> Result<u32, Failure> {
        let p = self.prepared()?;
        Ok(if p.backend.capabilities().local {
            LOCAL_COST
        } else {
            200
        })
    }

    async fn get_availability(&self, annex: &Annex) -> Result<Availability, Failure> {
        let p = self.prepared()?;
        let local = p.backend.capabilities().local;
        // An unplugged disk is "unavailable", so that `git annex sync --content` skips it.
        if annex.has_extension(&Extension::UnavailableResponse)
            && let Err(e) = p.backend.check().await
            && matches!(
                e.kind(),
                ErrorKind::Unreachable | ErrorKind::PermissionDenied
            )
        {
            annex.debug(&format!("unavailable: {e}")).await;
            return Ok(Availability::Unavailable);
        }
        Ok(if local {
            Availability::Local
        } else {
            Availability::Global
        })
    }

    async fn whereis(&self, key: &Key, _annex: &Annex) -> Result<Option<String>, Failure> {
        let p = self.prepared()?;
        match p.find(key).await {
            Ok(Some((path, _))) => Ok(Some(format!("{}/{path}", p.backend.describe().location))),
            _ => Ok(None),
        }
    }

    async fn get_info(&self, _annex: &Annex) -> Result<Vec<InfoField>, Failure> {
        let p = self.prepared()?;
        let d = p.backend.describe();
        let mut fields = vec![
            ("storage", d.storage.to_owned()),
            ("location", d.location),
            ("layout", p.layout().as_str().to_owned()),
        ];
        if let Some(rclone) = &p.settings.rclone {
            // The rclone remote and path, as the user wrote them; the storage above is what
            // they resolved to in rclone.conf.
            fields.push(("target", rclone.target.clone()));
            fields.push(("rclone path", rclone.prefix.clone()));
        } else if let Some(prefix) = &p.settings.prefix {
            fields.push(("prefix", prefix.as_str().to_owned()));
        }
        if let Storage::Directory { fsync, .. } = &p.settings.storage {
            fields.push(("fsync", if *fsync { "yes" } else { "no" }.to_owned()));
        }
        if let Some((names, key_id)) = &p.sealed {
            // What the key is and where it lives, never the key itself.
            let e = &p.settings.encryption;
            fields.push(("ferry encryption", e.encryption.as_str().to_owned()));
            fields.push(("ferry mac", names.mac().as_str().to_owned()));
            fields.push(("ferry key id", key_id.to_string()));
            let kind = match e.token() {
                Ok(Some(KeyToken::Wrapped(_))) => "passphrase-protected",
                _ => "plain, in the git-annex branch",
            };
            fields.push(("ferry key", kind.to_owned()));
        }
        Ok(fields
            .into_iter()
            .map(|(name, value)| InfoField {
                name: name.to_owned(),
                value,
            })
            .collect())
    }
}

//! The store a command reads: one function turns a remote's configuration (from the
//! repository's `remote.log`, or from flags when there is no repository) into the backend to
//! read from and how a git-annex key maps to an object there.
//!
//! Keys become object paths by [`crate::naming::object_path`], the remote's own rule. An
//! encrypted store (`ferry_encryption` other than `none`) is read through the remote's
//! [`SealedBackend`], so objects are opened and authenticated by the same code that wrote them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use ferry_backends::sealed::SealedBackend;
use ferry_backends::{Backend, ByteStream, ObjectPath};
use ferry_crypto::{MasterKey, NameKey};
use remote_proto::Key;

use crate::cli::annex_branch::{BranchKeys, object_keys};
use crate::cli::keys;
use crate::cli::repo::{self, RemoteConfig};
use crate::naming;
use crate::settings::{Phase, Settings};
use crate::storage;

/// A store opened for reading, with what is needed to find and read a key's objects.
#[derive(Debug, Clone)]
pub struct Store {
    /// The remote's name, or `the store` outside a repository, for messages.
    pub name: String,
    /// The remote's UUID, when it comes from a repository.
    pub uuid: Option<String>,
    /// Its settings.
    pub settings: Settings,
    /// The storage; for an encrypted store, the [`SealedBackend`] over it (plaintext lengths,
    /// verified reads).
    pub backend: Arc<dyn Backend>,
    /// The key that names objects, for an encrypted store.
    pub names: Option<NameKey>,
    /// The `chunk=` size given for a store outside a repository (inside one, the chunk logs
    /// say how each key was chunked).
    pub chunk_size: Option<u64>,
}

/// Which store, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct StoreSpec {
    /// A remote of the repository, by name or UUID.
    pub remote: Option<String>,
    /// Config values (`key=value`) for a store outside any repository; `storage`,
    /// `directory`, `layout`, `prefix` flags land here too.
    pub config: Vec<(String, String)>,
    /// A key token file for an encrypted store outside a repository (else `FERRY_KEY_FILE`).
    pub key_file: Option<std::path::PathBuf>,
}

impl StoreSpec {
    /// Parses `-c key=value`.
    ///
    /// # Errors
    /// No `=`.
    pub fn parse_pair(pair: &str) -> anyhow::Result<(String, String)> {
        let (k, v) = pair.split_once('=').with_context(|| {
            format!("-c {pair}: expected key=value, e.g. -c directory=/mnt/nas/annex")
        })?;
        Ok((k.trim().to_owned(), v.to_owned()))
    }
}

impl Store {
    /// Opens the store `spec` names: the repository's remote, or the one the config values
    /// describe. A `--remote` wins; giving both is refused so nobody reads a store they did not
    /// mean.
    ///
    /// # Errors
    /// No such remote, a bad configuration (every problem named), missing credentials, or an
    /// encrypted store without its key.
    pub fn open(repo_dir: &Path, spec: &StoreSpec) -> anyhow::Result<Store> {
        match &spec.remote {
            Some(name) => {
                if !spec.config.is_empty() {
                    anyhow::bail!(
                        "give either --remote {name} or the store's settings (-c, --directory, …), not both"
                    );
                }
                let remote = repo::find_remote(repo_dir, name)?;
                Store::from_remote(repo_dir, &remote)
            }
            None if spec.config.is_empty() => anyhow::bail!(
                "which store? give --remote NAME inside a git-annex repository, or the store's \
                 settings, e.g. --directory /mnt/nas/annex --layout lower"
            ),
            None => Store::from_flags(spec),
        }
    }

    /// The store of a repository's remote.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn from_remote(repo_dir: &Path, remote: &RemoteConfig) -> anyhow::Result<Store> {
        if !remote.is_ferry() {
            anyhow::bail!(
                "{} is not a ferry remote (type={}, externaltype={}); use git-annex to read it",
                remote.name(),
                remote.get("type").unwrap_or("?"),
                remote.get("externaltype").unwrap_or("-")
            );
        }
        let settings = repo::settings_of(repo_dir, remote)?;
        let secrets = repo::secrets_for(repo_dir, remote, &settings);
        let (backend, names) = open_sealed(&settings, &secrets, || {
            keys::remote_master(repo_dir, remote)
        })?;
        Ok(Store {
            name: remote.name().to_owned(),
            uuid: Some(remote.uuid.clone()),
            settings,
            backend,
            names,
            chunk_size: None,
        })
    }

    /// A store described by config values, outside any repository. Credentials come from the
    /// environment only.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn from_flags(spec: &StoreSpec) -> anyhow::Result<Store> {
        let map: BTreeMap<String, String> = spec.config.iter().cloned().collect();
        let get = |k: &str| map.get(k).cloned();
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        // Phase::Init: the values are the user's input, so check them strictly (a missing
        // directory is a typo here, not an unplugged disk).
        let settings = Settings::from_config(get, Phase::Init, &cwd)
            .map_err(|e| anyhow::anyhow!("bad store settings: {e}"))?;
        let fake = RemoteConfig {
            uuid: String::new(),
            fields: map.clone(),
        };
        let secrets = repo::secrets_for(&cwd, &fake, &settings);
        let (backend, names) = open_sealed(&settings, &secrets, || {
            keys::master_from_key_file(spec.key_file.as_deref())
        })?;
        let chunk_size = match get("chunk").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(parse_size(&v).with_context(|| {
                format!("chunk={v}: expected a size like git-annex's, e.g. chunk=50MiB")
            })?),
        };
        Ok(Store {
            name: format!("the store at {}", backend.describe()),
            uuid: None,
            settings,
            backend,
            names,
            chunk_size,
        })
    }

    /// Whether content is sealed with ferry's encryption.
    pub fn is_sealed(&self) -> bool {
        self.names.is_some()
    }

    /// Where `key`'s object is (the backend applies the prefix itself).
    ///
    /// # Errors
    /// A key the layouts cannot name (a `\` in it).
    pub fn path_of(&self, key: &Key) -> anyhow::Result<ObjectPath> {
        Ok(naming::object_path(
            self.settings.layout,
            self.names.as_ref(),
            key,
        )?)
    }

    /// The content of the object at `path`: as stored for a plain store; decrypted and
    /// authenticated by the [`SealedBackend`] for a sealed one, whose stream ends with an error,
    /// never quietly, when the object is damaged.
    ///
    /// # Errors
    /// The object cannot be read.
    pub async fn read(&self, path: &ObjectPath) -> anyhow::Result<ByteStream> {
        self.backend
            .get(path, 0)
            .await
            .with_context(|| format!("cannot read {path} from {}", self.name))
    }
}

impl Store {
    /// Every object the repository's keys may have on this store, by path: each key whole and,
    /// from the chunk logs, each of its chunk keys. Maps HMAC object names back to keys, and
    /// tells `verify` which objects git-annex knows nothing of.
    pub fn known_objects(&self, branch: &BranchKeys) -> BTreeMap<ObjectPath, Key> {
        let mut out = BTreeMap::new();
        for text in branch.keys.keys() {
            let Ok(key) = Key::parse(text) else { continue };
            let keys = match &self.uuid {
                Some(uuid) => object_keys(branch, &key, uuid).unwrap_or_default(),
                None => vec![key],
            };
            for k in keys {
                if let Ok(path) = self.path_of(&k) {
                    out.insert(path, k);
                }
            }
        }
        out
    }
}

/// A size as git-annex's `chunk=` takes it: a number and a unit, binary (`KiB`, `MiB`, `GiB`,
/// `TiB`) or decimal (`kB`, `MB`, `GB`, `TB`), or plain bytes (`B` or none).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return None,
    };
    number.checked_mul(factor).filter(|n| *n > 0)
}

/// What went wrong reading an object's content: the format's own message for a sealed object
/// that fails to open (tampered, truncated, wrong key), else the I/O error.
pub fn describe_read_error(err: &std::io::Error) -> String {
    match ferry_crypto::Error::from_io(err) {
        Some(e) => e.to_string(),
        None => err.to_string(),
    }
}

/// Opens the storage `settings` describe; for an encrypted store wraps it in the remote's
/// [`SealedBackend`] with the key `master` gives (only called then) and returns the key that
/// names its objects.
fn open_sealed(
    settings: &Settings,
    secrets: &storage::StorageSecrets,
    master: impl FnOnce() -> anyhow::Result<MasterKey>,
) -> anyhow::Result<(Arc<dyn Backend>, Option<NameKey>)> {
    let backend = storage::open(settings, secrets)?;
    let Some(algorithm) = settings.encryption.encryption.algorithm() else {
        return Ok((backend, None));
    };
    let master = master()?;
    let names = master.name_key(settings.encryption.mac);
    Ok((
        Arc::new(SealedBackend::new(backend, master, algorithm)),
        Some(names),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_parse_like_git_annex() {
        assert_eq!(parse_size("1MiB"), Some(1_048_576));
        assert_eq!(parse_size("100KiB"), Some(102_400));
        assert_eq!(parse_size("50MB"), Some(50_000_000));
        assert_eq!(parse_size("4096"), Some(4096));
        for bad in ["", "MiB", "1 parsec", "0", "-1MiB"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}

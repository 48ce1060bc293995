//! The store a command reads: one function turns a remote's configuration (from the
//! repository's `remote.log`, or from flags when there is no repository) into the backend to
//! read from and how a git-annex key maps to an object there.
//!
//! A plain remote keeps key `K` at `layout(K)`. An encrypted one (`ferry_encryption` other than
//! `none`) keeps it under its HMAC object name `N = name_key(mac).object_name(K)`, at
//! `layout(N)` (the name is laid out as if it were a key, so its hash directories leak nothing
//! about `K`), sealed with ferry-crypto's format.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use ferry_backends::layout::object_path;
use ferry_backends::{Backend, ByteStream, ObjectPath};
use ferry_crypto::{Encryption, Mac, MasterKey, NameKey, Opener, Transform};
use futures::StreamExt as _;
use remote_proto::Key;

use crate::cli::annex_branch::{BranchKeys, object_keys};
use crate::cli::keys;
use crate::cli::repo::{self, RemoteConfig};
use crate::settings::{Phase, Settings};
use crate::storage;

/// How keys become objects on a store.
#[derive(Debug, Clone)]
pub enum Naming {
    /// The key is the object's name; its content is stored as it is.
    Plain,
    /// ferry's encryption: HMAC object names, sealed content.
    Sealed {
        /// Opens objects.
        master: MasterKey,
        /// Names objects.
        names: NameKey,
    },
}

/// A store opened for reading, with what is needed to find and read a key's objects.
#[derive(Debug, Clone)]
pub struct Store {
    /// The remote's name, or `the store` outside a repository, for messages.
    pub name: String,
    /// The remote's UUID, when it comes from a repository.
    pub uuid: Option<String>,
    /// Its settings.
    pub settings: Settings,
    /// The storage.
    pub backend: Arc<dyn Backend>,
    /// Plain or sealed.
    pub naming: Naming,
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
        let settings =
            Settings::from_config(|k| remote.get(k).map(str::to_owned), Phase::Use, repo_dir)
                .map_err(|e| anyhow::anyhow!("remote {} is misconfigured: {e}", remote.name()))?;
        let secrets = repo::secrets_for(repo_dir, remote, &settings);
        let backend = storage::open(&settings, &secrets)?;
        let naming = naming(&|k| remote.get(k).map(str::to_owned), || {
            keys::remote_master(repo_dir, remote)
        })?;
        Ok(Store {
            name: remote.name().to_owned(),
            uuid: Some(remote.uuid.clone()),
            settings,
            backend,
            naming,
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
        let backend = storage::open(&settings, &secrets)?;
        let naming = naming(&get, || {
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
            naming,
            chunk_size,
        })
    }

    /// Whether content is sealed with ferry's encryption.
    pub fn is_sealed(&self) -> bool {
        matches!(self.naming, Naming::Sealed { .. })
    }

    /// Where `key`'s object is.
    ///
    /// # Errors
    /// A key the layouts cannot name (a `\` in it).
    pub fn path_of(&self, key: &Key) -> anyhow::Result<ObjectPath> {
        let named = match &self.naming {
            Naming::Plain => key.clone(),
            Naming::Sealed { names, .. } => {
                let name = names.object_name(key.as_str().as_bytes());
                Key::parse(&name).context("an HMAC object name parses as a key")?
            }
        };
        // The backend applies the prefix itself.
        object_path(self.settings.layout, None, &named)
            .with_context(|| format!("ferry cannot name an object for {key}"))
    }

    /// The content of the object at `path`: as stored for a plain store; decrypted and
    /// authenticated, segment by segment, for a sealed one (the object name is the path's file
    /// name). A sealed stream ends with an error, never quietly, when the object is damaged.
    ///
    /// # Errors
    /// The object cannot be read.
    pub async fn read(&self, path: &ObjectPath) -> anyhow::Result<ByteStream> {
        let raw = self
            .backend
            .get(path, 0)
            .await
            .with_context(|| format!("cannot read {path} from {}", self.name))?;
        Ok(match &self.naming {
            Naming::Plain => raw,
            Naming::Sealed { master, .. } => {
                Opener::new(master, path.file_name()).stream(raw).boxed()
            }
        })
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

/// The naming a remote's config asks for; `master` is only called for an encrypted one.
///
/// enc-merge: once the enc branch lands, read `ferry_encryption`/`ferry_mac` from its typed
/// settings instead of the raw map, and let [`Store::read`] wrap the backend in its
/// `SealedBackend` rather than opening here; the naming rule (HMAC name laid out as a key) is
/// the same on both sides and `tests/sealed.rs` pins it.
fn naming(
    get: &dyn Fn(&str) -> Option<String>,
    master: impl FnOnce() -> anyhow::Result<MasterKey>,
) -> anyhow::Result<Naming> {
    let value = |k: &str| get(k).filter(|v| !v.is_empty());
    let encryption: Encryption = match value("ferry_encryption") {
        None => Encryption::None,
        Some(v) => v.parse()?,
    };
    if encryption == Encryption::None {
        return Ok(Naming::Plain);
    }
    let mac: Mac = match value("ferry_mac") {
        None => Mac::default(),
        Some(v) => v.parse()?,
    };
    let master = master()?;
    Ok(Naming::Sealed {
        names: master.name_key(mac),
        master,
    })
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

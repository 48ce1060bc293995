//! ferry's own encryption in the engine: making the master key at INITREMOTE, loading it at
//! PREPARE (shared/crypto-format.md §8), and the local files that go with it.
//!
//! Where a key comes from, in order (§8.4):
//! 1. a plain `ferry_key` token (`ferry1:plain:…`) is the key itself;
//! 2. a passphrase-wrapped token (`ferry1:argon2id:…`) is opened with the **key cache**
//!    `$GIT_DIR/annex/ferry/keys/<remote uuid>` ([`key_cache_path`]), which `ferry unlock` writes
//!    ([`write_key_cache`]);
//! 3. otherwise with the passphrase in `FERRY_PASSPHRASE_FILE` or `FERRY_PASSPHRASE`
//!    ([`passphrase_from_env`]), running Argon2id;
//! 4. otherwise PREPARE fails, telling the user to run `ferry unlock --remote NAME` or set
//!    `FERRY_PASSPHRASE`.
//!
//! Whatever the source, the key's id must equal `ferry_keyid`, and (key-id pinning, §8.5) the id
//! this repository first saw for the remote, kept in `$GIT_DIR/annex/ferry/keyids/<uuid>`
//! ([`check_key_id_pin`]): someone who can push to the git-annex branch must not silently switch
//! the remote to a key of their own.
//!
//! No key, token or passphrase ever appears in an error, a log line or a DEBUG message.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ferry_crypto::{Argon2Params, KeyId, KeyToken, MasterKey, Secret, strip_passphrase_newline};
use zeroize::Zeroizing;

use crate::settings::EncryptionSettings;

/// The environment variable naming a file that holds the passphrase (one trailing newline is
/// ignored).
pub const PASSPHRASE_FILE_ENV: &str = "FERRY_PASSPHRASE_FILE";
/// The environment variable holding the passphrase itself.
pub const PASSPHRASE_ENV: &str = "FERRY_PASSPHRASE";

/// A passphrase, wiped from memory when dropped and never printed.
pub type Passphrase = Secret<Zeroizing<Vec<u8>>>;

/// Why a master key could not be made, loaded or checked. Messages say what to do and never
/// contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyLoadError {
    /// `ferry_key` does not parse, or a wrap/unwrap failed (wrong passphrase…).
    #[error(transparent)]
    Key(#[from] ferry_crypto::KeyError),

    /// The remote is passphrase-protected and no cache or passphrase is available.
    #[error(
        "this remote's ferry_key is protected by a passphrase: run `ferry unlock --remote {remote}` once in this repository, or set FERRY_PASSPHRASE (or FERRY_PASSPHRASE_FILE) for git-annex"
    )]
    NeedsPassphrase {
        /// The remote's name, for the command to run.
        remote: String,
    },

    /// `ferry_passphrase=yes` at INITREMOTE, without a passphrase in the environment.
    #[error(
        "ferry_passphrase=yes needs the passphrase in FERRY_PASSPHRASE_FILE (a file) or FERRY_PASSPHRASE when the remote is created"
    )]
    NoPassphraseToWrap,

    /// The passphrase (file) is empty.
    #[error("the passphrase from {0} is empty; give a real passphrase")]
    EmptyPassphrase(&'static str),

    /// The key loaded is not the one `ferry_keyid` names.
    #[error(
        "the master key from {source_name} has id {found}, but the remote's ferry_keyid is {expected}; {advice}"
    )]
    WrongKeyId {
        /// Where the key came from (`ferry_key`, the key cache at …).
        source_name: String,
        /// The remote's `ferry_keyid`.
        expected: KeyId,
        /// The loaded key's id.
        found: KeyId,
        /// What to do.
        advice: &'static str,
    },

    /// The key id differs from the one this repository recorded for the remote (§8.5).
    #[error(
        "this remote's key changed: its key id is now {found}, but this repository first used it with key id {pinned} (recorded in {}); somebody may have switched the remote to their own key to read what you store; if you changed the key yourself, delete that file",
        pin.display()
    )]
    KeyIdChanged {
        /// The id recorded at first use.
        pinned: KeyId,
        /// The id in use now.
        found: KeyId,
        /// The pin file.
        pin: PathBuf,
    },

    /// The remote's UUID cannot name a file.
    #[error("the remote's uuid {0:?} is not a UUID; cannot name its key files")]
    BadUuid(String),

    /// A local file (key cache, pin, passphrase file) could not be read or written.
    #[error("cannot {op} {}: {source}; check its permissions", path.display())]
    Io {
        /// What was being done (`read`, `write`…).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A key cache file does not hold a plain token.
    #[error(
        "the key cache {} is damaged ({reason}); delete it and run `ferry unlock --remote NAME` again",
        path.display()
    )]
    BadCache {
        /// The cache file.
        path: PathBuf,
        /// What is wrong (never the content).
        reason: String,
    },
}

fn io_error(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeyLoadError {
    let path = path.to_owned();
    move |source| KeyLoadError::Io { op, path, source }
}

/// A UUID as git-annex writes them (hex digits and dashes), so that it can name a file.
fn checked_uuid(uuid: &str) -> Result<&str, KeyLoadError> {
    let ok = !uuid.is_empty() && uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    if ok {
        Ok(uuid)
    } else {
        Err(KeyLoadError::BadUuid(uuid.to_owned()))
    }
}

/// `$GIT_DIR/annex/ferry`, where ferry keeps its per-repository files.
fn ferry_dir(git_dir: &Path) -> PathBuf {
    git_dir.join("annex").join("ferry")
}

/// The key cache of the remote `uuid`: `$GIT_DIR/annex/ferry/keys/<uuid>`.
///
/// Format: the plain token `ferry1:plain:<64 lowercase hex>` and a newline, mode 0600. It is
/// what `ferry unlock` leaves after running Argon2id once, so that remote processes need no
/// passphrase (and no 256 MiB for Argon2id). `.git/annex` is never pushed, and it already holds
/// the plaintext of every file, so the cache adds no exposure (§8.4).
///
/// # Errors
/// A `uuid` that is not a UUID ([`KeyLoadError::BadUuid`]).
pub fn key_cache_path(git_dir: &Path, uuid: &str) -> Result<PathBuf, KeyLoadError> {
    Ok(ferry_dir(git_dir).join("keys").join(checked_uuid(uuid)?))
}

/// Writes the key cache of the remote `uuid` (see [`key_cache_path`]) atomically, readable by
/// its owner only, and returns its path.
///
/// # Errors
/// [`KeyLoadError::Io`] when the directory or file cannot be written.
pub fn write_key_cache(
    git_dir: &Path,
    uuid: &str,
    master: &MasterKey,
) -> Result<PathBuf, KeyLoadError> {
    let path = key_cache_path(git_dir, uuid)?;
    let mut content = Zeroizing::new(master.to_plain_token().expose().as_bytes().to_vec());
    content.push(b'\n');
    write_private(&path, &content)?;
    Ok(path)
}

/// Reads the key cache of the remote `uuid`; `None` when there is none.
///
/// # Errors
/// [`KeyLoadError::Io`] for an unreadable file, [`KeyLoadError::BadCache`] for one that does not
/// hold a plain token.
pub fn read_key_cache(git_dir: &Path, uuid: &str) -> Result<Option<MasterKey>, KeyLoadError> {
    let path = key_cache_path(git_dir, uuid)?;
    let content = match std::fs::read(&path) {
        Ok(c) => Zeroizing::new(c),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("read", &path)(e)),
    };
    let bad = |reason: String| KeyLoadError::BadCache {
        path: path.clone(),
        reason,
    };
    let text = std::str::from_utf8(strip_passphrase_newline(&content))
        .map_err(|_| bad("not text".to_owned()))?;
    match KeyToken::parse(text).map_err(|e| bad(e.to_string()))? {
        KeyToken::Plain(master) => Ok(Some(master)),
        KeyToken::Wrapped(_) => Err(bad("it holds a wrapped key".to_owned())),
    }
}

/// Writes `content` to `path` through a temporary file created with mode 0600, then renames it
/// into place, so that a reader never sees half a key and nobody else can read it.
fn write_private(path: &Path, content: &[u8]) -> Result<(), KeyLoadError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path
        .parent()
        .expect("ferry's key files live in a directory");
    std::fs::create_dir_all(dir).map_err(io_error("create", dir))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(content)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_error("write", path))
}

/// The passphrase from `FERRY_PASSPHRASE_FILE` (less one trailing newline) or else
/// `FERRY_PASSPHRASE`, exactly as given; `None` when neither is set.
///
/// # Errors
/// An unreadable passphrase file, or an empty passphrase.
pub fn passphrase_from_env() -> Result<Option<Passphrase>, KeyLoadError> {
    if let Some(file) = std::env::var_os(PASSPHRASE_FILE_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(file);
        let content = Zeroizing::new(std::fs::read(&path).map_err(io_error("read", &path))?);
        let passphrase = Zeroizing::new(strip_passphrase_newline(&content).to_vec());
        if passphrase.is_empty() {
            return Err(KeyLoadError::EmptyPassphrase(PASSPHRASE_FILE_ENV));
        }
        return Ok(Some(Secret::new(passphrase)));
    }
    match std::env::var_os(PASSPHRASE_ENV) {
        None => Ok(None),
        Some(v) if v.is_empty() => Err(KeyLoadError::EmptyPassphrase(PASSPHRASE_ENV)),
        Some(v) => {
            use std::os::unix::ffi::OsStringExt as _;
            Ok(Some(Secret::new(Zeroizing::new(v.into_vec()))))
        }
    }
}

/// Makes sure a remote being created or re-enabled (INITREMOTE) has a key, filling in
/// `settings.key` and `settings.key_id`. Returns the master key when it is at hand.
///
/// **An existing `ferry_key` is always kept** (enableremote runs INITREMOTE again; a new key
/// would make everything stored unreadable). Only a remote without one gets a fresh key,
/// wrapped with `passphrase` when `settings.passphrase` (Argon2id with `params`).
///
/// # Errors
/// A plain key whose id contradicts `ferry_keyid`; `ferry_passphrase=yes` without a passphrase;
/// the OS random generator or Argon2id failing.
pub fn init_key(
    settings: &mut EncryptionSettings,
    passphrase: Option<&Passphrase>,
    params: Argon2Params,
) -> Result<Option<MasterKey>, KeyLoadError> {
    match settings.token()? {
        Some(KeyToken::Plain(master)) => {
            let id = checked_id(&master, settings.key_id, "ferry_key")?;
            settings.key_id = Some(id);
            Ok(Some(master))
        }
        // Its id cannot be checked without the passphrase; PREPARE checks it.
        Some(KeyToken::Wrapped(_)) => Ok(None),
        None => {
            let master = MasterKey::generate()?;
            let token = if settings.passphrase {
                let passphrase = passphrase.ok_or(KeyLoadError::NoPassphraseToWrap)?;
                master.wrap(passphrase.expose(), params)?.to_string()
            } else {
                master.to_plain_token().expose().as_str().to_owned()
            };
            settings.key = Some(Secret::new(token));
            settings.key_id = Some(master.key_id());
            Ok(Some(master))
        }
    }
}

/// The key's id, if it is the one `expected` (`ferry_keyid`) names; `source_name` says where
/// the key came from, for the message.
///
/// # Errors
/// [`KeyLoadError::WrongKeyId`].
pub fn checked_id(
    master: &MasterKey,
    expected: Option<KeyId>,
    source_name: &str,
) -> Result<KeyId, KeyLoadError> {
    let found = master.key_id();
    match expected {
        Some(expected) if expected != found => Err(KeyLoadError::WrongKeyId {
            source_name: source_name.to_owned(),
            expected,
            found,
            advice: "ferry_key and ferry_keyid were not made together; restore the ferry_key this remote was created with (git annex enableremote NAME ferry_key=…)",
        }),
        _ => Ok(found),
    }
}

/// The remote's master key at PREPARE, from the first source of the module docs that has one,
/// checked against `ferry_keyid`. `passphrase` is asked only when a wrapped key has no cache
/// (the engine passes [`passphrase_from_env`]; the `ferry` command also asks on a terminal). `remote` (the
/// remote's name) goes into the advice of [`KeyLoadError::NeedsPassphrase`].
///
/// # Errors
/// Every [`KeyLoadError`] but `NoPassphraseToWrap`, including those of `passphrase`.
pub fn load_master_key(
    settings: &EncryptionSettings,
    git_dir: &Path,
    uuid: &str,
    remote: &str,
    passphrase: impl FnOnce() -> Result<Option<Passphrase>, KeyLoadError>,
) -> Result<MasterKey, KeyLoadError> {
    let (master, source_name) = match settings.token()? {
        None => {
            return Err(KeyLoadError::Key(ferry_crypto::KeyError::BadToken {
                reason: "ferry_key is not set",
            }));
        }
        Some(KeyToken::Plain(master)) => (master, "ferry_key".to_owned()),
        Some(KeyToken::Wrapped(wrapped)) => match read_key_cache(git_dir, uuid)? {
            Some(master) => (
                master,
                format!("the key cache {}", key_cache_path(git_dir, uuid)?.display()),
            ),
            None => match passphrase()? {
                Some(p) => (
                    wrapped.unlock(p.expose())?,
                    "the passphrase-protected ferry_key".to_owned(),
                ),
                None => {
                    return Err(KeyLoadError::NeedsPassphrase {
                        remote: remote.to_owned(),
                    });
                }
            },
        },
    };
    checked_id(&master, settings.key_id, &source_name)?;
    Ok(master)
}

/// Where this repository records the key id it first used for the remote `uuid` (§8.5):
/// `$GIT_DIR/annex/ferry/keyids/<uuid>`, 16 hex digits and a newline.
///
/// # Errors
/// A `uuid` that is not a UUID.
pub fn key_id_pin_path(git_dir: &Path, uuid: &str) -> Result<PathBuf, KeyLoadError> {
    Ok(ferry_dir(git_dir).join("keyids").join(checked_uuid(uuid)?))
}

/// Key-id pinning (§8.5): records `key_id` for the remote `uuid` on first use, and afterwards
/// refuses any other id.
///
/// # Errors
/// [`KeyLoadError::KeyIdChanged`]; [`KeyLoadError::Io`] when the pin cannot be read or written.
pub fn check_key_id_pin(git_dir: &Path, uuid: &str, key_id: KeyId) -> Result<(), KeyLoadError> {
    let pin = key_id_pin_path(git_dir, uuid)?;
    match std::fs::read_to_string(&pin) {
        Ok(text) => match text.trim().parse::<KeyId>() {
            Ok(pinned) if pinned == key_id => Ok(()),
            Ok(pinned) => Err(KeyLoadError::KeyIdChanged {
                pinned,
                found: key_id,
                pin,
            }),
            // A damaged pin protects nothing; record the current id again.
            Err(_) => write_private(&pin, format!("{key_id}\n").as_bytes()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_private(&pin, format!("{key_id}\n").as_bytes())
        }
        Err(e) => Err(io_error("read", &pin)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_crypto::{Encryption, Mac};

    const UUID: &str = "0a53c264-1111-2222-3333-444444444444";

    fn enabled() -> EncryptionSettings {
        EncryptionSettings {
            encryption: Encryption::Aes256Gcm,
            mac: Mac::HmacSha256,
            ..EncryptionSettings::default()
        }
    }

    /// The cheapest parameters a writer may use: Argon2id's cost is not what is tested here.
    fn cheap() -> Argon2Params {
        Argon2Params {
            memory_kib: Argon2Params::MIN_MEMORY_KIB,
            iterations: Argon2Params::MIN_ITERATIONS,
            parallelism: 1,
        }
    }

    fn passphrase(p: &str) -> Passphrase {
        Secret::new(Zeroizing::new(p.as_bytes().to_vec()))
    }

    #[test]
    fn init_generates_a_key_once_and_keeps_it_after() {
        let mut s = enabled();
        let first = init_key(&mut s, None, cheap()).unwrap().unwrap();
        let token = s.key.clone().unwrap();
        assert!(token.expose().starts_with("ferry1:plain:"));
        assert_eq!(s.key_id, Some(first.key_id()));
        // enableremote: INITREMOTE again with the stored values.
        let again = init_key(&mut s, None, cheap()).unwrap().unwrap();
        assert_eq!(again.key_id(), first.key_id());
        assert_eq!(s.key.as_ref().unwrap().expose(), token.expose());
    }

    #[test]
    fn init_refuses_a_key_that_is_not_the_key_id() {
        let mut s = enabled();
        init_key(&mut s, None, cheap()).unwrap();
        s.key_id = Some(MasterKey::generate().unwrap().key_id());
        let err = init_key(&mut s, None, cheap()).unwrap_err();
        assert!(matches!(err, KeyLoadError::WrongKeyId { .. }), "{err}");
    }

    #[test]
    fn passphrase_mode_wraps_and_needs_a_passphrase_or_cache_to_load() {
        let git = tempfile::tempdir().unwrap();
        let mut s = EncryptionSettings {
            passphrase: true,
            ..enabled()
        };
        assert!(matches!(
            init_key(&mut s, None, cheap()),
            Err(KeyLoadError::NoPassphraseToWrap)
        ));
        let pass = passphrase("correct horse");
        let master = init_key(&mut s, Some(&pass), cheap()).unwrap().unwrap();
        let token = s.key.clone().unwrap();
        assert!(token.expose().starts_with("ferry1:argon2id:65536:3:1:"));
        // Re-running INITREMOTE needs no passphrase and keeps the wrapped key.
        assert!(init_key(&mut s, None, cheap()).unwrap().is_none());
        assert_eq!(s.key.as_ref().unwrap().expose(), token.expose());

        let none = || Ok(None);
        let err = load_master_key(&s, git.path(), UUID, "safe", none).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("ferry unlock --remote safe") && text.contains("FERRY_PASSPHRASE"),
            "{text}"
        );
        assert!(!text.contains(token.expose().as_str()));
        let wrong = load_master_key(&s, git.path(), UUID, "safe", || {
            Ok(Some(passphrase("nope")))
        });
        assert!(matches!(
            wrong,
            Err(KeyLoadError::Key(ferry_crypto::KeyError::WrongPassphrase))
        ));
        let loaded =
            load_master_key(&s, git.path(), UUID, "safe", || Ok(Some(pass.clone()))).unwrap();
        assert_eq!(loaded.key_id(), master.key_id());

        // What `ferry unlock` leaves makes the passphrase unnecessary.
        let path = write_key_cache(git.path(), UUID, &master).unwrap();
        assert_eq!(path, git.path().join("annex/ferry/keys").join(UUID));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("{}\n", master.to_plain_token().expose().as_str())
        );
        let asked =
            || -> Result<Option<Passphrase>, KeyLoadError> { panic!("asked for a passphrase") };
        let cached = load_master_key(&s, git.path(), UUID, "safe", asked).unwrap();
        assert_eq!(cached.key_id(), master.key_id());
    }

    #[test]
    fn a_cache_of_another_key_is_refused() {
        let git = tempfile::tempdir().unwrap();
        let mut s = EncryptionSettings {
            passphrase: true,
            ..enabled()
        };
        init_key(&mut s, Some(&passphrase("pw")), cheap()).unwrap();
        write_key_cache(git.path(), UUID, &MasterKey::generate().unwrap()).unwrap();
        let err = load_master_key(&s, git.path(), UUID, "safe", || Ok(None)).unwrap_err();
        assert!(matches!(err, KeyLoadError::WrongKeyId { .. }), "{err}");
        assert!(err.to_string().contains("key cache"), "{err}");
        std::fs::write(key_cache_path(git.path(), UUID).unwrap(), "garbage\n").unwrap();
        let err = load_master_key(&s, git.path(), UUID, "safe", || Ok(None)).unwrap_err();
        assert!(matches!(err, KeyLoadError::BadCache { .. }), "{err}");
        assert!(!err.to_string().contains("garbage"), "{err}");
    }

    #[test]
    fn key_id_is_pinned_at_first_use() {
        let git = tempfile::tempdir().unwrap();
        let a = MasterKey::generate().unwrap().key_id();
        let b = MasterKey::generate().unwrap().key_id();
        check_key_id_pin(git.path(), UUID, a).unwrap();
        check_key_id_pin(git.path(), UUID, a).unwrap();
        let err = check_key_id_pin(git.path(), UUID, b).unwrap_err();
        assert!(matches!(err, KeyLoadError::KeyIdChanged { .. }), "{err}");
        // Another remote has its own pin.
        check_key_id_pin(git.path(), "99999999-1111-2222-3333-444444444444", b).unwrap();
    }

    #[test]
    fn uuids_that_could_leave_the_directory_are_refused() {
        for bad in ["", "../x", "a/b", "x y"] {
            assert!(key_cache_path(Path::new(".git"), bad).is_err(), "{bad:?}");
        }
    }
}

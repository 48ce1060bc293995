//! `ferry unlock`: unwraps a passphrase-protected remote's key once and caches it where the
//! remote process looks (shared/crypto-format.md §8.4), so git-annex can use the remote without
//! running a 256 MiB Argon2id in every remote process.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ferry_crypto::KeyToken;
use serde::Serialize;

use crate::cli::keys;
use crate::cli::repo::{self, RemoteConfig};

/// What unlocking did.
#[derive(Debug, Serialize)]
pub struct Unlocked {
    /// The remote's name.
    pub remote: String,
    /// The key id of the unlocked key.
    pub key_id: String,
    /// The cache file written, `None` when the remote's key is plain (nothing to unlock).
    pub cache: Option<PathBuf>,
}

/// Unlocks `remote`'s key with the passphrase and writes the cache file (mode 0600, plain token
/// and a newline, replaced atomically).
///
/// # Errors
/// No `ferry_key`, no or a wrong passphrase, a key that is not `ferry_keyid`'s, or the cache
/// cannot be written.
pub fn unlock(repo_dir: &Path, remote: &RemoteConfig) -> anyhow::Result<Unlocked> {
    let wrapped = match keys::remote_token(remote)? {
        KeyToken::Plain(master) => {
            keys::check_key_id(remote, &master, "ferry_key")?;
            return Ok(Unlocked {
                remote: remote.name().to_owned(),
                key_id: master.key_id().to_string(),
                cache: None,
            });
        }
        KeyToken::Wrapped(wrapped) => wrapped,
    };
    let what = format!("remote {}", remote.name());
    let pass = keys::read_passphrase(&what, false)?;
    let master = wrapped
        .unlock(&pass)
        .with_context(|| format!("cannot unlock the key of {what}"))?;
    keys::check_key_id(remote, &master, "ferry_key")?;
    let cache = keys::key_cache_path(&repo::git_dir(repo_dir)?, &remote.uuid);
    if let Some(dir) = cache.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    keys::write_token(&cache, master.to_plain_token().expose(), true)?;
    Ok(Unlocked {
        remote: remote.name().to_owned(),
        key_id: master.key_id().to_string(),
        cache: Some(cache),
    })
}

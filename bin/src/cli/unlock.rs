//! `ferry unlock`: unwraps a passphrase-protected remote's key once and caches it where the
//! remote process looks (shared/crypto-format.md §8.4), so git-annex can use the remote without
//! running a 256 MiB Argon2id in every remote process.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ferry_crypto::KeyToken;
use serde::Serialize;

use crate::cli::keys;
use crate::cli::repo::{self, RemoteConfig};
use crate::encryption;

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

/// Unlocks `remote`'s key with the passphrase (always: a cache already there is replaced, not
/// trusted) and writes the cache file ([`encryption::write_key_cache`]).
///
/// # Errors
/// No `ferry_key`, no or a wrong passphrase, a key that is not `ferry_keyid`'s, or the cache
/// cannot be written.
pub fn unlock(repo_dir: &Path, remote: &RemoteConfig) -> anyhow::Result<Unlocked> {
    let (settings, token) = keys::remote_token(repo_dir, remote)?;
    let (master, wrapped) = match token {
        // Nothing to unlock: the remote process reads a plain key as it is.
        KeyToken::Plain(master) => (master, false),
        KeyToken::Wrapped(wrapped) => {
            let what = format!("remote {}", remote.name());
            let pass = keys::read_passphrase(&what, false)?;
            let master = wrapped
                .unlock(pass.expose())
                .with_context(|| format!("cannot unlock the key of {what}"))?;
            (master, true)
        }
    };
    encryption::checked_id(&master, settings.key_id, "ferry_key")?;
    let cache = if wrapped {
        let git_dir = repo::git_dir(repo_dir)?;
        Some(encryption::write_key_cache(
            &git_dir,
            &remote.uuid,
            &master,
        )?)
    } else {
        None
    };
    Ok(Unlocked {
        remote: remote.name().to_owned(),
        key_id: master.key_id().to_string(),
        cache,
    })
}

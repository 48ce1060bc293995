//! `ferry export-key`: shows a remote's key token for safekeeping.

use std::path::Path;

use ferry_crypto::KeyToken;
use serde::Serialize;

use crate::cli::keys;
use crate::cli::repo::RemoteConfig;
use crate::encryption;

/// A remote's key, as shown to its owner.
#[derive(Debug, Serialize)]
pub struct Exported {
    /// The remote's name.
    pub remote: String,
    /// The remote's UUID (the unlock cache is named after it).
    pub uuid: String,
    /// `plain` or `argon2id`.
    pub kind: &'static str,
    /// The key id, from a plain key or `ferry_keyid`.
    pub key_id: Option<String>,
    /// The token itself (`ferry_key`).
    pub token: String,
    /// What losing (or leaking) it means.
    pub warning: &'static str,
}

/// The key of `remote`.
///
/// # Errors
/// The remote has no `ferry_key`, or it is not `ferry_keyid`'s.
pub fn export_key(repo_dir: &Path, remote: &RemoteConfig) -> anyhow::Result<Exported> {
    let (settings, token) = keys::remote_token(repo_dir, remote)?;
    let key_id = match &token {
        KeyToken::Plain(master) => Some(encryption::checked_id(
            master,
            settings.key_id,
            "ferry_key",
        )?),
        // Its id is known only after unwrapping; ferry_keyid is what the remote checks.
        KeyToken::Wrapped(_) => settings.key_id,
    };
    Ok(Exported {
        remote: remote.name().to_owned(),
        uuid: remote.uuid.clone(),
        kind: keys::token_kind(&token),
        key_id: key_id.map(|id| id.to_string()),
        token: settings
            .key
            .as_ref()
            .map(|k| k.expose().clone())
            .unwrap_or_default(),
        warning: keys::loss_warning(&token),
    })
}

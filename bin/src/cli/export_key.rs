//! `ferry export-key`: shows a remote's key token for safekeeping.

use ferry_crypto::KeyToken;
use serde::Serialize;

use crate::cli::keys;
use crate::cli::repo::RemoteConfig;

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
/// The remote has no `ferry_key`, or it does not parse.
pub fn export_key(remote: &RemoteConfig) -> anyhow::Result<Exported> {
    let token = keys::remote_token(remote)?;
    let key_id = match &token {
        KeyToken::Plain(master) => {
            keys::check_key_id(remote, master, "ferry_key")?;
            Some(master.key_id().to_string())
        }
        KeyToken::Wrapped(_) => keys::remote_key_id(remote)?.map(|id| id.to_string()),
    };
    Ok(Exported {
        remote: remote.name().to_owned(),
        uuid: remote.uuid.clone(),
        kind: keys::token_kind(&token),
        key_id,
        token: remote.get("ferry_key").unwrap_or_default().to_owned(),
        warning: keys::loss_warning(&token),
    })
}

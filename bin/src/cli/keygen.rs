//! `ferry keygen`: makes a new master key token, plain or wrapped with a passphrase.

use std::path::{Path, PathBuf};

use anyhow::bail;
use ferry_crypto::{Argon2Params, KeyToken, MasterKey};
use serde::Serialize;

use crate::cli::keys;

/// Where the new token goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A new file, mode 0600.
    File(PathBuf),
    /// Standard output (asked for explicitly: a token on a screen or in a scrollback is easily
    /// leaked).
    Stdout,
}

/// A key that was made.
#[derive(Debug, Serialize)]
pub struct Generated {
    /// Its key id (`ferry_keyid`).
    pub key_id: String,
    /// `plain` or `argon2id`.
    pub kind: &'static str,
    /// The file it was written to.
    pub file: Option<PathBuf>,
    /// The token, only when it goes to stdout.
    pub token: Option<String>,
    /// What losing (or leaking) it means.
    pub warning: &'static str,
}

/// Makes a key; with `passphrase`, wraps it with Argon2id (`memory_kib` overrides the default
/// 256 MiB, for small machines; never below the format's 64 MiB floor).
///
/// # Errors
/// No passphrase, Argon2 parameters out of range, or `out` cannot be written (or exists).
pub fn keygen(
    destination: &Destination,
    passphrase: bool,
    memory_kib: Option<u32>,
    overwrite: bool,
) -> anyhow::Result<Generated> {
    if let Destination::File(out) = destination
        && !overwrite
        && out.symlink_metadata().is_ok()
    {
        // Checked before the passphrase prompt and the KDF, so nobody types a passphrase twice
        // for nothing; an existing key file is never replaced without --force.
        bail!(
            "{} already exists; a key file is never replaced silently: choose another --out, or add --force",
            out.display()
        );
    }
    let master = MasterKey::generate()?;
    let token_text = if passphrase {
        let mut params = Argon2Params::default();
        if let Some(m) = memory_kib {
            params.memory_kib = m;
        }
        let pass = keys::read_passphrase("the new key", true)?;
        master.wrap(pass.expose(), params)?.to_string()
    } else {
        master.to_plain_token().expose().to_string()
    };
    let token = KeyToken::parse(&token_text)?;
    let generated = Generated {
        key_id: master.key_id().to_string(),
        kind: keys::token_kind(&token),
        file: None,
        token: None,
        warning: keys::loss_warning(&token),
    };
    Ok(match destination {
        Destination::File(out) => {
            keys::write_token(out, &token_text, overwrite)?;
            Generated {
                file: Some(out.clone()),
                ..generated
            }
        }
        Destination::Stdout => Generated {
            token: Some(token_text),
            ..generated
        },
    })
}

/// The lines for people: the token (stdout only) first, then where it went and the warning.
pub fn describe(generated: &Generated, out: Option<&Path>) -> Vec<String> {
    let mut lines = Vec::new();
    match out {
        Some(path) => lines.push(format!(
            "wrote a new {} key to {} (mode 0600)",
            generated.kind,
            path.display()
        )),
        None => lines.push(format!("a new {} key:", generated.kind)),
    }
    lines.push(format!("key id: {}", generated.key_id));
    lines.push(generated.warning.to_owned());
    lines
}

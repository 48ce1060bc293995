//! Master keys for the `ferry` command: where one comes from (a remote's `ferry_key` through
//! [`encryption::load_master_key`], the same loading the remote does at PREPARE; a key file; a
//! passphrase).
//!
//! Secrets never travel in argv (any user can read another's command line in `ps`): a key comes
//! from a file, a passphrase from `FERRY_PASSPHRASE_FILE`, `FERRY_PASSPHRASE`
//! ([`encryption::passphrase_from_env`]) or a prompt on the terminal.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ferry_crypto::{KeyToken, MasterKey, Secret};
use zeroize::Zeroizing;

use crate::cli::outfile::{Mode, OutFile};
use crate::cli::repo::{self, RemoteConfig};
use crate::encryption::{self, KeyLoadError, PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, Passphrase};
use crate::settings::EncryptionSettings;

/// Names a file holding a key token (`ferry1:plain:…` or `ferry1:argon2id:…`).
pub const KEY_FILE_ENV: &str = "FERRY_KEY_FILE";

/// What to tell a person who now holds a key token, for `keygen` and `export-key`.
pub fn loss_warning(token: &KeyToken) -> &'static str {
    match token {
        KeyToken::Plain(_) => {
            "KEEP THIS KEY SAFE, AND SECRET. Without it, nothing stored under it can ever be decrypted: \
             not by you, not by anyone. With it, anyone can decrypt everything stored under it. \
             It is a plain key: if it is stored in a repository (ferry_key), anyone who can read that \
             repository, any clone or mirror of it, can decrypt the remote's data."
        }
        KeyToken::Wrapped(_) => {
            "KEEP THIS KEY SAFE, AND REMEMBER ITS PASSPHRASE. It is wrapped with a passphrase: to \
             decrypt you need both this token and the passphrase. Lose either one and nothing stored \
             under the key can ever be decrypted. Anyone who has both can decrypt everything."
        }
    }
}

/// `plain` or `argon2id`, for messages and JSON.
pub fn token_kind(token: &KeyToken) -> &'static str {
    match token {
        KeyToken::Plain(_) => "plain",
        KeyToken::Wrapped(_) => "argon2id",
    }
}

/// Asks for a passphrase on the terminal (twice when `confirm`, for a new passphrase); `None`
/// when there is no terminal. `why` completes the prompt ("Passphrase for {why}: ").
///
/// # Errors
/// The terminal cannot be read, the passphrase is empty, or the two entries differ.
pub fn prompt_passphrase(why: &str, confirm: bool) -> anyhow::Result<Option<Passphrase>> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let prompt = |text: String| {
        rpassword::prompt_password(text)
            .map(Zeroizing::new)
            .context("cannot read the passphrase from the terminal")
    };
    let first = prompt(format!("Passphrase for {why}: "))?;
    if first.is_empty() {
        bail!("the passphrase is empty; nothing was done");
    }
    if confirm && *prompt("Same passphrase again: ".to_owned())? != *first {
        bail!("the two passphrases differ; nothing was done, try again");
    }
    Ok(Some(Secret::new(Zeroizing::new(first.as_bytes().to_vec()))))
}

/// A passphrase from the environment ([`encryption::passphrase_from_env`]), else from the
/// terminal ([`prompt_passphrase`]).
///
/// # Errors
/// The passphrase file cannot be read, the passphrase is empty or mistyped, or there is no
/// terminal to ask on.
pub fn read_passphrase(why: &str, confirm: bool) -> anyhow::Result<Passphrase> {
    if let Some(pass) = encryption::passphrase_from_env()? {
        return Ok(pass);
    }
    prompt_passphrase(why, confirm)?.with_context(|| {
        format!(
            "a passphrase is needed for {why}, and there is no terminal to ask on; set \
             {PASSPHRASE_FILE_ENV} to a file holding it (or {PASSPHRASE_ENV})"
        )
    })
}

/// The master key of a token: a plain token is the key; a wrapped one asks for its passphrase
/// (see [`read_passphrase`]) and runs Argon2id. `what` names the token's origin in messages.
///
/// # Errors
/// No passphrase available, or a wrong one.
pub fn unlock_token(token: KeyToken, what: &str) -> anyhow::Result<MasterKey> {
    match token {
        KeyToken::Plain(master) => Ok(master),
        KeyToken::Wrapped(wrapped) => {
            let pass = read_passphrase(what, false)?;
            wrapped
                .unlock(pass.expose())
                .with_context(|| format!("cannot unlock {what}"))
        }
    }
}

/// Parses the token held in `file` (surrounding whitespace ignored: a token has none).
///
/// # Errors
/// The file cannot be read or holds no valid token.
pub fn token_from_file(file: &Path) -> anyhow::Result<KeyToken> {
    let text = Zeroizing::new(
        std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the key file {}", file.display()))?,
    );
    KeyToken::parse(text.trim()).with_context(|| format!("the key file {}", file.display()))
}

/// The typed encryption settings of `remote` and its `ferry_key` token.
///
/// # Errors
/// A misconfigured remote, or one without `ferry_key` (it is not encrypted by ferry).
pub fn remote_token(
    repo_dir: &Path,
    remote: &RemoteConfig,
) -> anyhow::Result<(EncryptionSettings, KeyToken)> {
    let settings = repo::settings_of(repo_dir, remote)?.encryption;
    let Some(token) = settings.token()? else {
        bail!(
            "remote {} has no ferry_key: ferry does not encrypt it (ferry_encryption={}); there is no key to use",
            remote.name(),
            settings.encryption
        );
    };
    Ok((settings, token))
}

/// The master key of a remote, for reading it, loaded as the remote loads it at PREPARE
/// ([`encryption::load_master_key`]: its plain `ferry_key`; for a wrapped one the unlock cache,
/// else the passphrase from the environment or, here only, the terminal), checked against
/// `ferry_keyid`.
///
/// # Errors
/// No `ferry_key`, no passphrase, a wrong one, or a key that is not the remote's.
pub fn remote_master(repo_dir: &Path, remote: &RemoteConfig) -> anyhow::Result<MasterKey> {
    let (settings, _) = remote_token(repo_dir, remote)?;
    let git_dir = repo::git_dir(repo_dir)?;
    let what = format!("remote {}", remote.name());
    // A prompt's own failure (mistyped confirmation, unreadable terminal) is kept apart:
    // `load_master_key` only knows its own errors.
    let mut prompt_error = None;
    let loaded =
        encryption::load_master_key(&settings, &git_dir, &remote.uuid, remote.name(), || {
            match encryption::passphrase_from_env()? {
                Some(pass) => Ok(Some(pass)),
                None => prompt_passphrase(&what, false).or_else(|e| {
                    prompt_error = Some(e);
                    Ok(None)
                }),
            }
        });
    match (loaded, prompt_error) {
        (Ok(master), _) => Ok(master),
        (Err(_), Some(e)) => Err(e),
        (Err(KeyLoadError::Key(e)), None) => {
            Err(e).with_context(|| format!("cannot unlock the key of {what}"))
        }
        (Err(e), None) => Err(e.into()),
    }
}

/// A master key from outside any repository: the token file named by `key_file` or by
/// `FERRY_KEY_FILE` (a wrapped token asks for its passphrase).
///
/// # Errors
/// Neither is given, or the file or passphrase is wrong.
pub fn master_from_key_file(key_file: Option<&Path>) -> anyhow::Result<MasterKey> {
    let env = std::env::var_os(KEY_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let Some(file) = key_file.map(Path::to_path_buf).or(env) else {
        bail!(
            "no key: give --remote NAME inside the repository, or set {KEY_FILE_ENV} (or --key-file) \
             to a file holding the key token (as written by `ferry keygen` or `ferry export-key`)"
        );
    };
    let token = token_from_file(&file)?;
    unlock_token(token, &format!("the key in {}", file.display()))
}

/// Writes `token` and a newline to `out` (mode 0600, atomically).
///
/// # Errors
/// `out` exists and `overwrite` is false, or it cannot be written.
pub fn write_token(out: &Path, token: &str, overwrite: bool) -> anyhow::Result<()> {
    let mut file = OutFile::create(out, overwrite, Mode::Secret)?;
    file.write_all(token.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .with_context(|| format!("cannot write {}", out.display()))?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let master = MasterKey::generate().unwrap();
        let file = dir.path().join("k");
        write_token(&file, master.to_plain_token().expose(), false).unwrap();
        let back = master_from_key_file(Some(&file)).unwrap();
        assert_eq!(back.key_id(), master.key_id());
        assert!(write_token(&file, "x", false).is_err());
    }
}

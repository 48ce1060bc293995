//! Master keys for the `ferry` command: where one comes from (a remote's `ferry_key`, a key file,
//! a passphrase), and the unlock cache the remote process reads for passphrase-protected remotes.
//!
//! Secrets never travel in argv (any user can read another's command line in `ps`): a key comes
//! from a file, a passphrase from `FERRY_PASSPHRASE_FILE`, `FERRY_PASSPHRASE` or a prompt on
//! the terminal.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ferry_crypto::{KeyId, KeyToken, MasterKey, strip_passphrase_newline};
use zeroize::Zeroizing;

use crate::cli::outfile::{Mode, OutFile};
use crate::cli::repo::RemoteConfig;

/// Names a file holding a key token (`ferry1:plain:…` or `ferry1:argon2id:…`).
pub const KEY_FILE_ENV: &str = "FERRY_KEY_FILE";
/// The passphrase itself.
pub const PASSPHRASE_ENV: &str = "FERRY_PASSPHRASE";
/// Names a file whose content (less one trailing newline) is the passphrase.
pub const PASSPHRASE_FILE_ENV: &str = "FERRY_PASSPHRASE_FILE";

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

/// Reads a passphrase from `FERRY_PASSPHRASE_FILE`, `FERRY_PASSPHRASE`, or the terminal (asking
/// twice when `confirm`, for a new passphrase). `why` completes the prompt
/// ("Passphrase for {why}: ").
///
/// # Errors
/// The file cannot be read, the passphrase is empty, the two entries differ, or there is no
/// terminal to ask on.
pub fn read_passphrase(why: &str, confirm: bool) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if let Some(file) = std::env::var_os(PASSPHRASE_FILE_ENV).filter(|v| !v.is_empty()) {
        let raw = Zeroizing::new(std::fs::read(&file).with_context(|| {
            format!(
                "cannot read the passphrase file {} named by {PASSPHRASE_FILE_ENV}",
                Path::new(&file).display()
            )
        })?);
        let pass = Zeroizing::new(strip_passphrase_newline(&raw).to_vec());
        if pass.is_empty() {
            bail!(
                "the passphrase file {} named by {PASSPHRASE_FILE_ENV} is empty",
                Path::new(&file).display()
            );
        }
        return Ok(pass);
    }
    if let Some(pass) = std::env::var_os(PASSPHRASE_ENV).filter(|v| !v.is_empty()) {
        return Ok(Zeroizing::new(pass.into_encoded_bytes()));
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "a passphrase is needed for {why}, and there is no terminal to ask on; set \
             {PASSPHRASE_FILE_ENV} to a file holding it (or {PASSPHRASE_ENV})"
        );
    }
    let first = Zeroizing::new(
        rpassword::prompt_password(format!("Passphrase for {why}: "))
            .context("cannot read the passphrase from the terminal")?,
    );
    if first.is_empty() {
        bail!("the passphrase is empty; nothing was done");
    }
    if confirm {
        let again = Zeroizing::new(
            rpassword::prompt_password("Same passphrase again: ")
                .context("cannot read the passphrase from the terminal")?,
        );
        if *again != *first {
            bail!("the two passphrases differ; nothing was done, try again");
        }
    }
    Ok(Zeroizing::new(first.as_bytes().to_vec()))
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
                .unlock(&pass)
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

/// The token in a remote's `ferry_key`.
///
/// # Errors
/// The remote has no `ferry_key` (it is not encrypted by ferry), or it does not parse.
pub fn remote_token(remote: &RemoteConfig) -> anyhow::Result<KeyToken> {
    let Some(token) = remote.get("ferry_key").filter(|t| !t.is_empty()) else {
        bail!(
            "remote {} has no ferry_key: ferry does not encrypt it (ferry_encryption={}); there is no key to use",
            remote.name(),
            remote.get("ferry_encryption").unwrap_or("none")
        );
    };
    KeyToken::parse(token).with_context(|| format!("remote {}", remote.name()))
}

/// The remote's `ferry_keyid`, when set.
///
/// # Errors
/// It is set but not 16 lowercase hex digits.
pub fn remote_key_id(remote: &RemoteConfig) -> anyhow::Result<Option<KeyId>> {
    remote
        .get("ferry_keyid")
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<KeyId>()
                .with_context(|| format!("remote {}: ferry_keyid={v}", remote.name()))
        })
        .transpose()
}

/// Checks that `master` is the key `ferry_keyid` names (§8.4 rule 3: a key from any source is
/// checked, so a stale cache or a swapped token is caught before anything is decrypted).
///
/// # Errors
/// The ids differ; the message names `source` (where the key came from).
pub fn check_key_id(remote: &RemoteConfig, master: &MasterKey, source: &str) -> anyhow::Result<()> {
    if let Some(expected) = remote_key_id(remote)?
        && master.key_id() != expected
    {
        bail!(
            "the key from {source} has key id {}, but remote {} has ferry_keyid={expected}; \
             this is not the remote's key (a stale unlock cache: delete it and run `ferry unlock --remote {}`)",
            master.key_id(),
            remote.name(),
            remote.name()
        );
    }
    Ok(())
}

/// Where the unlocked key of the remote `uuid` is cached for the remote process:
/// `$GIT_DIR/annex/ferry/keys/<uuid>` (shared/crypto-format.md §8.4).
// moves to encryption.rs (the enc branch defines `key_cache_path(git_dir, uuid)`); keep the two
// identical until then.
pub fn key_cache_path(git_dir: &Path, uuid: &str) -> PathBuf {
    git_dir.join("annex/ferry/keys").join(uuid)
}

/// The master key of a remote, for reading it: its plain `ferry_key`; for a wrapped one the
/// unlock cache, else the passphrase; always checked against `ferry_keyid`.
///
/// enc-merge: the same order as PREPARE's key loading in `bin/src/encryption.rs`; use that
/// function here once it exists (this one additionally prompts on a terminal).
///
/// # Errors
/// No `ferry_key`, no passphrase, a wrong one, or a key that is not the remote's.
pub fn remote_master(repo: &Path, remote: &RemoteConfig) -> anyhow::Result<MasterKey> {
    let (master, source) = match remote_token(remote)? {
        KeyToken::Plain(master) => (master, "ferry_key".to_owned()),
        KeyToken::Wrapped(wrapped) => {
            let cache = crate::cli::repo::git_dir(repo)
                .map(|dir| key_cache_path(&dir, &remote.uuid))
                .ok()
                .filter(|p| p.is_file());
            match cache {
                Some(path) => match token_from_file(&path)? {
                    KeyToken::Plain(master) => (master, path.display().to_string()),
                    KeyToken::Wrapped(_) => bail!(
                        "the unlock cache {} holds a wrapped key; delete it and run `ferry unlock --remote {}`",
                        path.display(),
                        remote.name()
                    ),
                },
                None => {
                    let what = format!("remote {}", remote.name());
                    let pass = read_passphrase(&what, false)?;
                    let master = wrapped
                        .unlock(&pass)
                        .with_context(|| format!("cannot unlock the key of {what}"))?;
                    (master, "ferry_key".to_owned())
                }
            }
        }
    };
    check_key_id(remote, &master, &source)?;
    Ok(master)
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
    fn cache_path_is_per_remote_uuid_under_annex() {
        assert_eq!(
            key_cache_path(Path::new("/r/.git"), "0a53-1"),
            Path::new("/r/.git/annex/ferry/keys/0a53-1")
        );
    }

    #[test]
    fn key_file_round_trips_and_keyid_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let master = MasterKey::generate().unwrap();
        let file = dir.path().join("k");
        write_token(&file, master.to_plain_token().expose(), false).unwrap();
        let back = master_from_key_file(Some(&file)).unwrap();
        assert_eq!(back.key_id(), master.key_id());

        let mut remote = RemoteConfig {
            uuid: "u".to_owned(),
            fields: Default::default(),
        };
        remote.fields.insert("name".into(), "nas".into());
        remote
            .fields
            .insert("ferry_keyid".into(), "0000000000000000".into());
        let err = check_key_id(&remote, &master, "here").unwrap_err();
        assert!(
            err.to_string().contains("ferry_keyid=0000000000000000"),
            "{err}"
        );
        remote
            .fields
            .insert("ferry_keyid".into(), master.key_id().to_string());
        check_key_id(&remote, &master, "here").unwrap();
    }
}

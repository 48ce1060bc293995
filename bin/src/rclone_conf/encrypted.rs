//! Encrypted rclone.conf files (`rclone config encryption set`), opened the way rclone opens
//! them (rclone's `fs/config/crypt.go`):
//!
//! - the file is comments, then the line `RCLONE_ENCRYPT_V0:`, then standard base64 (line
//!   breaks ignored) of a 24-byte nonce followed by a NaCl secretbox (XSalsa20-Poly1305) of
//!   the plain configuration;
//! - the key is SHA-256 of `[` + password + `][rclone-config]`, the password NFKC-normalized;
//! - the password comes from a command (`--password-command`; here `rclone_passcmd=`, the bash
//!   remote's key, else `RCLONE_PASSWORD_COMMAND`), else from `RCLONE_CONFIG_PASS`. rclone
//!   would then ask on the terminal; a special remote has no terminal, so ferry stops with a
//!   message saying what to set.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{LazyLock, Mutex};

use base64::Engine as _;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use super::{Env, RcloneConfError};

/// The line that starts the encrypted body, after any comments and blank lines.
pub const MARKER: &str = "RCLONE_ENCRYPT_V0:";

/// Where the password of an encrypted rclone.conf comes from.
#[derive(Debug, Clone, Copy)]
pub struct PasswordSource<'a> {
    /// `rclone_passcmd=` of the remote, in the place of rclone's `--password-command`.
    pub command: Option<&'a str>,
    /// The environment (`RCLONE_PASSWORD_COMMAND`, `RCLONE_CONFIG_PASS`).
    pub env: &'a Env,
}

/// Which setting gave the password, named in messages (never the password itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    PassCmd,
    PasswordCommandEnv,
    ConfigPassEnv,
}

impl Origin {
    fn name(self) -> &'static str {
        match self {
            Origin::PassCmd => "rclone_passcmd=",
            Origin::PasswordCommandEnv => "RCLONE_PASSWORD_COMMAND",
            Origin::ConfigPassEnv => "RCLONE_CONFIG_PASS",
        }
    }
}

/// The plain text of an encrypted rclone.conf: `body` is everything after the marker line.
pub fn decrypt(
    path: &Path,
    body: &str,
    source: PasswordSource<'_>,
) -> Result<Zeroizing<String>, RcloneConfError> {
    let fail = |problem: String| RcloneConfError::Encrypted {
        path: path.to_path_buf(),
        problem,
    };
    // Go's base64 decoder, which rclone uses, skips line breaks and nothing else.
    let compact: String = body.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(compact.trim_end())
        .map_err(|e| {
            fail(format!(
                "its encrypted body is not base64 ({e}); is the file damaged?"
            ))
        })?;
    // 24 bytes of nonce and the 16-byte Poly1305 tag at least.
    if sealed.len() < 24 + 16 {
        return Err(fail(
            "its encrypted body is too short; is the file damaged?".to_owned(),
        ));
    }
    let (password, origin) = password(path, source)?;
    let key = config_key(&password)
        .map_err(|problem| fail(format!("the password from {} {problem}", origin.name())))?;
    let (nonce, ciphertext) = sealed.split_at(24);
    let cipher = XSalsa20Poly1305::new(key.as_slice().into());
    let plain = cipher
        .decrypt(Nonce::from_slice(nonce), ciphertext)
        .map_err(|_| {
            fail(format!(
                "the password from {} does not open it (wrong password?); check it with `rclone config show`",
                origin.name()
            ))
        })?;
    let plain = Zeroizing::new(plain);
    String::from_utf8(plain.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| fail("its decrypted content is not UTF-8 text".to_owned()))
}

/// rclone's key: SHA-256 of `[password][rclone-config]` after NFKC normalization. A password
/// that is empty or only white space is refused, as rclone refuses it.
fn config_key(password: &str) -> Result<Zeroizing<[u8; 32]>, &'static str> {
    if password.trim().is_empty() {
        return Err("is empty");
    }
    let normalized = Zeroizing::new(password.nfkc().collect::<String>());
    let mut hasher = Sha256::new();
    hasher.update(b"[");
    hasher.update(normalized.as_bytes());
    hasher.update(b"][rclone-config]");
    Ok(Zeroizing::new(hasher.finalize().into()))
}

/// The password, in rclone's order: a password command (ferry's `rclone_passcmd=` in the place
/// of `--password-command`, then `RCLONE_PASSWORD_COMMAND`), else `RCLONE_CONFIG_PASS`.
fn password(
    path: &Path,
    source: PasswordSource<'_>,
) -> Result<(Zeroizing<String>, Origin), RcloneConfError> {
    let fail = |problem: String| RcloneConfError::Encrypted {
        path: path.to_path_buf(),
        problem,
    };
    let nonempty = |name: &str| source.env.get(name).filter(|v| !v.is_empty());
    let command = match source.command.filter(|c| !c.is_empty()) {
        Some(c) => Some((c, Origin::PassCmd)),
        None => {
            nonempty("RCLONE_PASSWORD_COMMAND").map(|c| (c.as_str(), Origin::PasswordCommandEnv))
        }
    };
    if let Some((command, origin)) = command {
        return password_from_command(command)
            .map(|p| (p, origin))
            .map_err(|problem| fail(format!("{} {problem}", origin.name())));
    }
    match nonempty("RCLONE_CONFIG_PASS") {
        Some(p) => Ok((Zeroizing::new(p.clone()), Origin::ConfigPassEnv)),
        None => Err(fail(
            "it needs its password: set RCLONE_CONFIG_PASS, or give rclone_passcmd=COMMAND (a command that prints the password, e.g. `pass show rclone`) at initremote or enableremote".to_owned(),
        )),
    }
}

/// Passwords printed by password commands in this process, by command line. A PREPARE reads
/// rclone.conf twice (the storage, then its credentials); a command such as `pass show` may
/// ask the user to unlock a key each time it runs, so each runs once per process. Failures
/// are not kept: the next read tries again.
static PRINTED_PASSWORDS: LazyLock<Mutex<HashMap<String, Zeroizing<String>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The password `command` prints, run at most once per process (see [`PRINTED_PASSWORDS`]).
fn password_from_command(command: &str) -> Result<Zeroizing<String>, String> {
    // A panic elsewhere while the lock was held leaves the map intact: keep using it.
    let mut printed = PRINTED_PASSWORDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(password) = printed.get(command) {
        return Ok(password.clone());
    }
    let password = run_password_command(command)?;
    printed.insert(command.to_owned(), password.clone());
    Ok(password)
}

/// Runs a password command the way rclone runs `--password-command`: split into words (not
/// through a shell, so nothing in it is expanded or injected), its output's leading and
/// trailing line breaks removed. Its standard input is not the caller's: ferry's is
/// git-annex's protocol pipe.
fn run_password_command(command: &str) -> Result<Zeroizing<String>, String> {
    let words =
        split_command(command).map_err(|e| format!("= {command:?} cannot be split: {e}"))?;
    let Some((program, args)) = words.split_first() else {
        return Err("is empty".to_owned());
    };
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .map_err(|e| format!("= {command:?} could not be run: {e}"))?;
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr: String = stderr.trim().chars().take(300).collect();
        return Err(format!(
            "= {command:?} failed ({}){}",
            output.status,
            if stderr.is_empty() {
                String::new()
            } else {
                format!(": {stderr}")
            }
        ));
    }
    let text = std::str::from_utf8(&stdout)
        .map_err(|_| format!("= {command:?} printed something that is not UTF-8 text"))?;
    let password = text.trim_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(format!("= {command:?} printed nothing"));
    }
    Ok(Zeroizing::new(password.to_owned()))
}

/// Splits a command line as rclone splits `--password-command` (a space-separated list read
/// as CSV with a space as the separator): words are separated by single spaces, a word in
/// double quotes may hold spaces and `""` for a quote; a quote inside an unquoted word is an
/// error. Only the first line counts.
pub fn split_command(line: &str) -> Result<Vec<String>, &'static str> {
    let line = line.trim_start_matches(['\r', '\n']);
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    if line.is_empty() {
        return Ok(words);
    }
    loop {
        let mut word = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted word has no closing \""),
                    Some('"') => match chars.peek() {
                        Some('"') => {
                            chars.next();
                            word.push('"');
                        }
                        None | Some(' ' | '\n' | '\r') => break,
                        Some(_) => return Err("a closing \" is followed by more text"),
                    },
                    Some(c) => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' || c == '\n' || c == '\r' {
                    break;
                }
                if c == '"' {
                    return Err("a \" appears inside an unquoted word");
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
        match chars.next() {
            Some(' ') => {}
            _ => return Ok(words),
        }
    }
}

/// Whether `line` (trimmed, the first that is not blank or a comment) starts an encrypted
/// file, and whether it is a version ferry (like rclone) cannot read.
pub fn marker_kind(line: &str) -> Option<Result<(), ()>> {
    if line == MARKER {
        Some(Ok(()))
    } else if line.starts_with("RCLONE_ENCRYPT_V") {
        Some(Err(()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_follows_rclones_space_separated_list() {
        let ok = |s: &str| split_command(s).unwrap();
        assert_eq!(ok("pass show rclone"), ["pass", "show", "rclone"]);
        assert_eq!(ok(r#"sh -c "echo hi""#), ["sh", "-c", "echo hi"]);
        assert_eq!(ok(r#"echo "say ""hi""""#), ["echo", r#"say "hi""#]);
        // Go's CSV reader: two spaces make an empty word; only the first line counts.
        assert_eq!(ok("a  b"), ["a", "", "b"]);
        assert_eq!(ok("a b\nc d"), ["a", "b"]);
        assert_eq!(ok(""), Vec::<String>::new());
        // No shell: these are plain words.
        assert_eq!(ok("echo $HOME;rm"), ["echo", "$HOME;rm"]);
        assert!(split_command(r#"echo a"b"#).is_err());
        assert!(split_command(r#"echo "ab"c"#).is_err());
        assert!(split_command(r#"echo "ab"#).is_err());
    }

    #[test]
    fn a_password_command_runs_once_per_process() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let script = dir.path().join("print-password");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho run >> '{}'\necho s3cret\n", runs.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let command = script.to_str().unwrap();
        for _ in 0..3 {
            assert_eq!(password_from_command(command).unwrap().as_str(), "s3cret");
        }
        assert_eq!(std::fs::read_to_string(&runs).unwrap(), "run\n");

        // A failing command is not remembered: it runs again on the next read.
        let failing = format!("sh -c \"echo run >> '{}'; exit 3\"", runs.display());
        assert!(password_from_command(&failing).is_err());
        assert!(password_from_command(&failing).is_err());
        assert_eq!(std::fs::read_to_string(&runs).unwrap(), "run\nrun\nrun\n");
    }

    #[test]
    fn key_is_sha256_of_the_bracketed_normalized_password() {
        let key = config_key("ferrypass").unwrap();
        let expected: [u8; 32] = Sha256::digest(b"[ferrypass][rclone-config]").into();
        assert_eq!(*key, expected);
        // NFKC: the ligature "ﬁ" is the same password as "fi".
        assert_eq!(*config_key("\u{fb01}").unwrap(), *config_key("fi").unwrap());
        assert!(config_key(" \t").is_err());
    }
}

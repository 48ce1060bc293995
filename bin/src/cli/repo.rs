//! A git-annex repository seen from outside git-annex: the special remotes' configuration in
//! the `git-annex` branch (`remote.log`) and their names in git config, so the `ferry` command
//! works with or without git-annex installed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// One special remote's configuration as stored in `remote.log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteConfig {
    /// The remote's UUID.
    pub uuid: String,
    /// Every `name=value` field, decoded (`&32;` is a space).
    pub fields: BTreeMap<String, String>,
}

impl RemoteConfig {
    /// A field's value, or `None` when unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The remote's name at initremote (`name=`).
    pub fn name(&self) -> &str {
        self.get("name").unwrap_or("")
    }

    /// Whether git-annex runs ferry for this remote.
    pub fn is_ferry(&self) -> bool {
        self.get("type") == Some("external") && self.get("externaltype") == Some("ferry")
    }
}

/// Decodes git-annex's escaping of config values in remote.log (`&NN;` = the character with
/// decimal code NN; git-annex writes spaces as `&32;`).
fn decode_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let decoded = after.find(';').and_then(|end| {
            let code: u32 = after[..end].parse().ok()?;
            Some((char::from_u32(code)?, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses `remote.log`: one line per remote, `UUID k=v k=v … timestamp=Ns`; for a UUID
/// listed twice the line with the newest timestamp wins.
pub fn parse_remote_log(text: &str) -> Vec<RemoteConfig> {
    let mut newest: BTreeMap<String, (u64, RemoteConfig)> = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(uuid) = words.next() else { continue };
        let mut fields = BTreeMap::new();
        let mut stamp = 0u64;
        for word in words {
            let Some((k, v)) = word.split_once('=') else {
                continue;
            };
            if k == "timestamp" {
                // `1795485471s` or `1795485471.123s`
                stamp = v
                    .trim_end_matches('s')
                    .split('.')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                continue;
            }
            fields.insert(k.to_owned(), decode_value(v));
        }
        let config = RemoteConfig {
            uuid: uuid.to_owned(),
            fields,
        };
        match newest.get(uuid) {
            Some((old, _)) if *old > stamp => {}
            _ => {
                newest.insert(uuid.to_owned(), (stamp, config));
            }
        }
    }
    newest.into_values().map(|(_, c)| c).collect()
}

fn git(repo: &Path, args: &[&str]) -> anyhow::Result<Option<String>> {
    let out = Command::new("git")
        .args(args)
        .current_dir(repo)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run git in {}; is git installed?", repo.display()))?;
    if !out.status.success() {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// The repository's git directory (`.git`, or the repository itself when bare), absolute.
///
/// # Errors
/// git cannot run, or `repo` is not inside a git repository.
pub fn git_dir(repo: &Path) -> anyhow::Result<std::path::PathBuf> {
    match git(repo, &["rev-parse", "--absolute-git-dir"])? {
        Some(dir) => Ok(std::path::PathBuf::from(dir.trim())),
        None => bail!(
            "{} is not a git repository: run ferry inside the repository (or give --repo DIR)",
            repo.display()
        ),
    }
}

/// Finds the special remote called `name` (its git remote name, its initremote name, or its
/// UUID) in the repository at `repo`.
///
/// # Errors
/// Not a git repository, no git-annex branch, or no such remote (the message lists the ferry
/// remotes there are).
pub fn find_remote(repo: &Path, name: &str) -> anyhow::Result<RemoteConfig> {
    if git(repo, &["rev-parse", "--git-dir"])?.is_none() {
        bail!(
            "{} is not a git repository: run ferry inside the repository, or give the remote's settings with flags",
            repo.display()
        );
    }
    let Some(log) = git(repo, &["show", "git-annex:remote.log"])? else {
        bail!(
            "{} has no git-annex branch with special remotes (git-annex:remote.log)",
            repo.display()
        );
    };
    let remotes = parse_remote_log(&log);
    let uuid_of_git_remote = git(
        repo,
        &["config", "--get", &format!("remote.{name}.annex-uuid")],
    )?
    .map(|s| s.trim().to_owned());
    let found = remotes.iter().find(|r| {
        Some(&r.uuid) == uuid_of_git_remote.as_ref() || r.uuid == name || r.name() == name
    });
    match found {
        Some(r) => Ok(r.clone()),
        None => {
            let ferry: Vec<&str> = remotes
                .iter()
                .filter(|r| r.is_ferry())
                .map(RemoteConfig::name)
                .collect();
            bail!(
                "no special remote called {name} in {}; ferry remotes there: {}",
                repo.display(),
                if ferry.is_empty() {
                    "none".to_owned()
                } else {
                    ferry.join(", ")
                }
            )
        }
    }
}

/// The typed settings of `remote`, as its remote process reads them at PREPARE.
///
/// # Errors
/// Every problem of its configuration, in one message.
pub fn settings_of(
    repo: &Path,
    remote: &RemoteConfig,
) -> anyhow::Result<crate::settings::Settings> {
    use crate::settings::{Phase, Settings};
    Settings::from_config(|k| remote.get(k).map(str::to_owned), Phase::Use, repo)
        .map_err(|e| anyhow::anyhow!("remote {} is misconfigured: {e}", remote.name()))
}

/// The secrets `remote` needs, as git-annex would hand them to the remote: from the
/// environment, or from the credentials git-annex stored for it in `.git/annex/creds/`
/// (`<uuid>-<name>`: the user on the first line, the secret on the second).
pub fn secrets_for(
    repo: &Path,
    remote: &RemoteConfig,
    settings: &crate::settings::Settings,
) -> crate::storage::StorageSecrets {
    use crate::settings::Storage;
    use crate::storage::{Login, StorageSecrets, creds_names};
    use ferry_crypto::Secret;

    let git_dir = git(repo, &["rev-parse", "--absolute-git-dir"])
        .ok()
        .flatten()
        .map(|s| std::path::PathBuf::from(s.trim()));
    let stored = |name: &str| -> Option<Login> {
        let path = git_dir
            .as_ref()?
            .join("annex/creds")
            .join(format!("{}-{name}", remote.uuid));
        let text = std::fs::read_to_string(path).ok()?;
        let mut lines = text.lines();
        Some(Login {
            user: lines.next()?.to_owned(),
            secret: Secret::new(lines.next().unwrap_or_default().to_owned()),
        })
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let env_login = |user: &str, secret: &str| {
        Some(Login {
            user: env(user)?,
            secret: Secret::new(env(secret)?),
        })
    };
    if let Some(rclone) = &settings.rclone {
        // As the remote itself does: from rclone.conf; a failure to read it already showed when
        // the settings were made, so here it only leaves the secrets empty.
        return crate::storage::rclone_secrets(rclone, repo).unwrap_or_default();
    }
    let mut secrets = StorageSecrets::default();
    match &settings.storage {
        Storage::Directory { .. } => {}
        Storage::S3 { .. } => {
            secrets.login = env_login("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
                .or_else(|| stored(creds_names::S3));
        }
        Storage::Webdav { .. } => {
            secrets.login = env_login("WEBDAV_USERNAME", "WEBDAV_PASSWORD")
                .or_else(|| stored(creds_names::WEBDAV));
            secrets.bearer_token = env("WEBDAV_BEARER_TOKEN").map(Secret::new);
        }
        Storage::Gdrive { .. } => {
            let from_file = env("FERRY_GDRIVE_TOKEN_FILE").and_then(|p| {
                let text = std::fs::read_to_string(&p).ok()?;
                Some((p, Secret::new(text.lines().map(str::trim).collect())))
            });
            // A token from the file gets refreshed tokens written back to it.
            secrets.gdrive_token_file = from_file.as_ref().map(|(p, _)| p.into());
            secrets.gdrive_token = from_file
                .map(|(_, t)| t)
                .or_else(|| stored(creds_names::GDRIVE_TOKEN).map(|l| l.secret));
            secrets.gdrive_client_secret = env("FERRY_GDRIVE_CLIENT_SECRET")
                .map(Secret::new)
                .or_else(|| stored(creds_names::GDRIVE_CLIENT).map(|l| l.secret));
        }
    }
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_remote_log_with_escapes_and_newest_line_wins() {
        let log = "\
0a53-1 directory=/tmp/a&32;b encryption=none externaltype=ferry name=nas type=external timestamp=10s
0a53-2 name=other type=directory timestamp=5s
0a53-1 directory=/tmp/new externaltype=ferry name=nas type=external timestamp=20s
";
        let remotes = parse_remote_log(log);
        assert_eq!(remotes.len(), 2);
        let nas = remotes.iter().find(|r| r.uuid == "0a53-1").unwrap();
        assert_eq!(nas.get("directory"), Some("/tmp/new"));
        assert!(nas.is_ferry());
        assert_eq!(decode_value("a&32;b&32;&32;c=d&x"), "a b  c=d&x");
    }
}

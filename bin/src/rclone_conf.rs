//! rclone's configuration (`rclone.conf` plus `RCLONE_CONFIG_*` variables) read the way rclone
//! reads it, so that `target=NAME` reaches the same storage, with the same credentials, as the
//! rclone bridges (`git-annex-remote-rclone`, `rclone gitannex`) did.
//!
//! The credentials stay in rclone.conf: they are read at every INITREMOTE and PREPARE and never
//! handed to git-annex, exactly as with the bash remote.
//!
//! This lives in the binary, not in `ferry-backends`: its output is the binary's own
//! [`Storage`] and [`StorageSecrets`], and it reads files and the environment, while the backends
//! take typed configs and never look at either.
//!
//! Steps: [`locate`] finds the file, [`RcloneConf::parse`] reads its sections,
//! [`RcloneConf::remote`] applies the environment overrides to one section, and
//! [`RcloneRemote::resolve`] maps it, with the path inside the remote, to ferry's storage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aes::Aes256;
use base64::Engine as _;
use ctr::cipher::{KeyIvInit, StreamCipher};
use ferry_backends::ObjectPath;
use ferry_crypto::Secret;

pub use encrypted::PasswordSource;

use crate::settings::Storage;

mod encrypted;
use crate::storage::{Login, StorageSecrets};

/// The environment as seen when the configuration is read. A snapshot rather than
/// `std::env::var`, so that tests pass their own.
pub type Env = BTreeMap<String, String>;

/// The environment of this process.
pub fn process_env() -> Env {
    std::env::vars().collect()
}

/// The storage types ferry can take from rclone.conf.
const SUPPORTED_TYPES: &str = "s3, webdav, drive and local";

/// The AES-256 key of rclone's `obscure`. It is public (in rclone's source and docs): obscuring
/// only keeps passwords from being read over a shoulder, it is no protection.
const OBSCURE_KEY: [u8; 32] = [
    0x9c, 0x93, 0x5b, 0x48, 0x73, 0x0a, 0x55, 0x4d, 0x6b, 0xfd, 0x7c, 0x63, 0xc8, 0x86, 0xa9, 0x2b,
    0xd3, 0x90, 0x19, 0x8e, 0xb8, 0x12, 0x8a, 0xfb, 0xf4, 0xde, 0x16, 0x2b, 0x8b, 0x95, 0xf6, 0x38,
];

/// What went wrong reading rclone's configuration; every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RcloneConfError {
    /// The file exists but cannot be read.
    #[error(
        "cannot read the rclone config {path}: {source}; check its permissions, or point RCLONE_CONFIG (or rclone_config=) at another file"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is encrypted with a configuration password and cannot be opened.
    #[error("the rclone config {} is encrypted and {problem}", path.display())]
    Encrypted {
        /// The file.
        path: PathBuf,
        /// What is missing or wrong, and what to do.
        problem: String,
    },
    /// A line that is neither a section, a `key = value`, a comment nor blank.
    #[error("the rclone config {}, line {line}: {problem}; fix it with `rclone config` or an editor", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// `target=` does not name a remote.
    #[error("target={target}: {problem}")]
    BadTarget {
        /// `target=` as given.
        target: String,
        /// What is wrong and what to give instead.
        problem: String,
    },
    /// No section and no environment variables for the remote.
    #[error("there is no rclone remote {name} in {location} (nor RCLONE_CONFIG_{}_TYPE in the environment); remotes there: {known}; create it with `rclone config`, or set RCLONE_CONFIG to the file that has it", name.to_uppercase())]
    NoSuchRemote {
        /// The remote's name.
        name: String,
        /// Which file was read.
        location: String,
        /// The remotes that are there.
        known: String,
    },
    /// The remote's type is not one ferry can use.
    #[error(
        "rclone remote {name} is type={kind}, which ferry cannot use; ferry reads rclone remotes of type {SUPPORTED_TYPES} (use storage= for ferry's own settings instead of target=)"
    )]
    UnsupportedType {
        /// The remote's name.
        name: String,
        /// Its `type`.
        kind: String,
    },
    /// The remote's section lacks or has a value ferry cannot use.
    #[error("rclone remote {name}: {problem}")]
    Remote {
        /// The remote's name.
        name: String,
        /// What is wrong and what to do.
        problem: String,
    },
}

/// Finds the rclone.conf rclone itself would read, in rclone's order: `explicit` (ferry's
/// `rclone_config=`, in the place of rclone's `--config`), `RCLONE_CONFIG`, `rclone.conf` next
/// to the rclone executable on PATH, `$XDG_CONFIG_HOME/rclone/rclone.conf`,
/// `~/.config/rclone/rclone.conf`, `~/.rclone.conf`, each only if it exists; else the path
/// rclone would create. `None` when `RCLONE_CONFIG` is empty or `/dev/null`, which rclone takes
/// as "no file, remotes come from the environment only".
pub fn locate(explicit: Option<&Path>, env: &Env) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    if let Some(v) = env.get("RCLONE_CONFIG") {
        return (!v.is_empty() && v != "/dev/null").then(|| PathBuf::from(v));
    }
    let beside_rclone = env
        .get("PATH")
        .into_iter()
        .flat_map(std::env::split_paths)
        .find(|dir| dir.join("rclone").is_file())
        .map(|dir| dir.join("rclone.conf"));
    let nonempty = |name: &str| env.get(name).filter(|v| !v.is_empty());
    let xdg = nonempty("XDG_CONFIG_HOME").map(|x| Path::new(x).join("rclone/rclone.conf"));
    let home = nonempty("HOME").map(PathBuf::from);
    let dot_config = home.as_ref().map(|h| h.join(".config/rclone/rclone.conf"));
    let legacy = home.as_ref().map(|h| h.join(".rclone.conf"));
    let existing = [&beside_rclone, &xdg, &dot_config, &legacy]
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .cloned();
    existing.or(xdg).or(dot_config)
}

/// The sections of an rclone.conf: remote name → its `key = value` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcloneConf {
    /// The file read, `None` for environment-only configuration.
    pub path: Option<PathBuf>,
    /// Each remote's values, by remote name (case-sensitive, as in rclone).
    pub sections: BTreeMap<String, BTreeMap<String, String>>,
}

impl RcloneConf {
    /// Reads the file at `path`; a missing file is an empty configuration (as for rclone, whose
    /// remotes may then come from the environment alone). An encrypted file is opened with the
    /// password from `password`.
    ///
    /// # Errors
    /// The file cannot be read or opened, or has a malformed line.
    pub fn load(
        path: Option<&Path>,
        password: PasswordSource<'_>,
    ) -> Result<RcloneConf, RcloneConfError> {
        let Some(path) = path else {
            return Ok(RcloneConf::default());
        };
        match std::fs::read_to_string(path) {
            Ok(text) => RcloneConf::parse_with(path, &text, password),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RcloneConf {
                path: Some(path.to_path_buf()),
                sections: BTreeMap::new(),
            }),
            Err(source) => Err(RcloneConfError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses the text of an unencrypted rclone.conf read from `path` (an encrypted one is
    /// refused as having no password).
    ///
    /// # Errors
    /// See [`RcloneConf::parse_with`].
    pub fn parse(path: &Path, text: &str) -> Result<RcloneConf, RcloneConfError> {
        let no_env = Env::new();
        RcloneConf::parse_with(
            path,
            text,
            PasswordSource {
                command: None,
                env: &no_env,
            },
        )
    }

    /// Parses the text of an rclone.conf read from `path`, as rclone's ini reader (goconfig)
    /// does; an encrypted file is first decrypted with the password from `password`.
    ///
    /// rclone's reader differs from other ini readers in ways that matter for secrets:
    /// `key: value` is the same as `key = value` (the first `=` or `:` ends the key); a value
    /// is trimmed, and unquoted only when wrapped in backticks or triple double quotes (how
    /// rclone writes a value holding a backtick), never when wrapped in single `"` or `'`,
    /// which then belong to the value; and there is no escaping.
    ///
    /// # Errors
    /// The text is an encrypted config that cannot be opened, or has a line that is not a
    /// section header, `key = value`, a comment (`#`, `;`) or blank.
    pub fn parse_with(
        path: &Path,
        text: &str,
        password: PasswordSource<'_>,
    ) -> Result<RcloneConf, RcloneConfError> {
        // rclone looks at the first line that is not blank or a comment: the marker means
        // everything after it is the encrypted configuration.
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                offset += line.len();
                continue;
            }
            match encrypted::marker_kind(trimmed) {
                Some(Ok(())) => {
                    let plain = encrypted::decrypt(path, &text[offset + line.len()..], password)?;
                    return RcloneConf::parse_plain(path, &plain);
                }
                Some(Err(())) => {
                    return Err(RcloneConfError::Encrypted {
                        path: path.to_path_buf(),
                        problem: format!(
                            "uses an encryption ({trimmed}) newer than ferry (and this rclone) reads; decrypt it with a newer rclone"
                        ),
                    });
                }
                None => break,
            }
        }
        RcloneConf::parse_plain(path, text)
    }

    fn parse_plain(path: &Path, text: &str) -> Result<RcloneConf, RcloneConfError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        // As in goconfig, keys before the first section header belong to a section named
        // DEFAULT.
        let mut current = "DEFAULT".to_owned();
        let mut auto_key = 1;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.len() >= 2 && line.starts_with('[') && line.ends_with(']') {
                current = match line[1..line.len() - 1].trim() {
                    "" => "DEFAULT".to_owned(),
                    name => name.to_owned(),
                };
                sections.entry(current.clone()).or_default();
                auto_key = 1;
                continue;
            }
            let (mut key, value) =
                split_key_value(line).map_err(|problem| RcloneConfError::Syntax {
                    path: path.to_path_buf(),
                    line: i + 1,
                    problem: format!("{problem} in {line:?}"),
                })?;
            // goconfig's auto-numbered keys ("- = value"), kept only to read the same keys.
            if key == "-" {
                key = format!("#{auto_key}");
                auto_key += 1;
            }
            sections
                .entry(current.clone())
                .or_default()
                .insert(key, value);
        }
        Ok(RcloneConf {
            path: Some(path.to_path_buf()),
            sections,
        })
    }

    /// The values of section `name` as rclone's `GetValue` returns them: a key missing from
    /// `a.b` is looked up in `a` (while such parent sections exist), and `%(key)s` in a value
    /// is replaced by `key` of the DEFAULT section, else of the same section, else by nothing.
    pub fn effective_values(&self, name: &str) -> BTreeMap<String, String> {
        let mut chain = vec![name];
        let mut current = name;
        while let Some(dot) = current.rfind('.') {
            current = &current[..dot];
            if !self.sections.contains_key(current) {
                break;
            }
            chain.push(current);
        }
        let mut out = BTreeMap::new();
        // Outermost first, so that the section's own values win.
        for section in chain.into_iter().rev() {
            for (key, raw) in &self.sections[section] {
                out.insert(key.clone(), self.unfold(section, raw, 0));
            }
        }
        out
    }

    /// Replaces `%(key)s` in `value` of `section` the way goconfig does (up to 200 rounds,
    /// the first match each round; its name loses leading `%(` and trailing `)s` characters).
    fn unfold(&self, section: &str, value: &str, depth: usize) -> String {
        let mut value = value.to_owned();
        // goconfig recurses without a bound and would overflow its stack on `a = %(a)s`;
        // ferry stops instead.
        if depth > 8 {
            return value;
        }
        for _ in 0..200 {
            let Some(reference) = first_reference(&value) else {
                break;
            };
            let replacement = self.lookup(section, &reference, depth);
            value = value.replace(&reference, &replacement);
        }
        value
    }

    /// What goconfig puts in place of `reference` (`%(name)s`) in a value of `section`.
    fn lookup(&self, section: &str, reference: &str, depth: usize) -> String {
        let name = reference
            .trim_start_matches(['%', '('])
            .trim_end_matches([')', 's']);
        if let Some(v) = self.sections.get("DEFAULT").and_then(|d| d.get(name)) {
            return self.unfold("DEFAULT", v, depth + 1);
        }
        if section != "DEFAULT"
            && let Some(v) = self.sections.get(section).and_then(|d| d.get(name))
        {
            return v.clone();
        }
        String::new()
    }

    /// The remote `name` with the environment's overrides applied, in rclone's precedence:
    /// `RCLONE_<TYPE>_<KEY>` (the backend-wide variable) over `RCLONE_CONFIG_<NAME>_<KEY>` over
    /// the file. `<NAME>` is the remote's name uppercased, dashes kept. A remote may exist in
    /// the environment only (`RCLONE_CONFIG_<NAME>_TYPE`).
    ///
    /// # Errors
    /// No such remote, or one without a type.
    pub fn remote(&self, name: &str, env: &Env) -> Result<RcloneRemote, RcloneConfError> {
        let env_prefix = format!("RCLONE_CONFIG_{}_", name.to_uppercase());
        let from_env: BTreeMap<String, String> = env
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(&env_prefix)?.to_lowercase(), v.clone())))
            .collect();
        let mut values = match self.sections.get(name) {
            Some(_) => self.effective_values(name),
            None if from_env.contains_key("type") => BTreeMap::new(),
            None => {
                return Err(RcloneConfError::NoSuchRemote {
                    name: name.to_owned(),
                    location: self.path.as_ref().map_or_else(
                        || "the environment (RCLONE_CONFIG is empty or /dev/null)".to_owned(),
                        |p| p.display().to_string(),
                    ),
                    known: if self.sections.is_empty() {
                        "none".to_owned()
                    } else {
                        self.sections.keys().cloned().collect::<Vec<_>>().join(", ")
                    },
                });
            }
        };
        values.extend(from_env);
        let kind = values.get("type").cloned().unwrap_or_default();
        if kind.is_empty() {
            return Err(RcloneConfError::Remote {
                name: name.to_owned(),
                problem: "it has no type = line; recreate it with `rclone config`".to_owned(),
            });
        }
        let backend_prefix = format!("RCLONE_{}_", kind.to_uppercase());
        for (k, v) in env {
            if let Some(key) = k.strip_prefix(&backend_prefix) {
                values.insert(key.to_lowercase(), v.clone());
            }
        }
        Ok(RcloneRemote {
            name: name.to_owned(),
            kind,
            values,
            env: env.clone(),
        })
    }
}

/// One rclone remote's effective values (file plus environment).
#[derive(Clone)]
pub struct RcloneRemote {
    /// The remote's name.
    pub name: String,
    /// Its `type` (s3, webdav, drive, local, …).
    pub kind: String,
    values: BTreeMap<String, String>,
    env: Env,
}

impl std::fmt::Debug for RcloneRemote {
    // The values hold credentials: only the keys are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RcloneRemote")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What a remote means to ferry: the storage, the path inside it, and the credentials to use.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The storage, as ferry's own settings would name it.
    pub storage: Storage,
    /// The sub-path inside the storage (the part of the rclone path that is not the bucket).
    pub prefix: Option<ObjectPath>,
    /// The credentials, from rclone.conf (never stored in git-annex).
    pub secrets: StorageSecrets,
}

impl RcloneRemote {
    /// A value, `None` when unset or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn problem(&self, problem: impl Into<String>) -> RcloneConfError {
        RcloneConfError::Remote {
            name: self.name.clone(),
            problem: problem.into(),
        }
    }

    /// Maps this remote and `path` (the rclone path inside it, as in `NAME:path`) to ferry's
    /// storage. A relative `local` path is taken from `cwd`, as rclone takes it from its
    /// working directory (git-annex runs remotes at the top of the work tree). `fsync` is
    /// ferry's own setting for directories.
    ///
    /// # Errors
    /// An unsupported type or option, a missing value, or an obscured password that does not
    /// reveal.
    pub fn resolve(
        &self,
        path: &str,
        cwd: &Path,
        fsync: bool,
    ) -> Result<Resolved, RcloneConfError> {
        match self.kind.as_str() {
            "s3" => self.resolve_s3(path),
            "webdav" => self.resolve_webdav(path),
            "drive" => self.resolve_drive(path),
            "local" => {
                let mut dir = PathBuf::from(path);
                if dir.is_relative() {
                    dir = cwd.join(dir);
                }
                Ok(Resolved {
                    storage: Storage::Directory { path: dir, fsync },
                    prefix: None,
                    secrets: StorageSecrets::default(),
                })
            }
            other => Err(RcloneConfError::UnsupportedType {
                name: self.name.clone(),
                kind: other.to_owned(),
            }),
        }
    }

    fn object_path(&self, path: &str) -> Result<Option<ObjectPath>, RcloneConfError> {
        let trimmed = path.trim_matches('/');
        if trimmed.is_empty() {
            return Ok(None);
        }
        ObjectPath::new(trimmed)
            .map(Some)
            .map_err(|e| self.problem(format!("the path {path:?} is not usable: {e}")))
    }

    /// rclone addresses S3 as `NAME:bucket/path`: the bucket is the first path element, the rest
    /// is the prefix inside it. So `target=mys3 prefix=photos/annex` is bucket `photos`,
    /// objects under `annex/`, the same objects the rclone bridges wrote.
    fn resolve_s3(&self, path: &str) -> Result<Resolved, RcloneConfError> {
        let path = path.trim_matches('/');
        let (bucket, rest) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err(self.problem(
                "ferry needs a bucket: give prefix=BUCKET or prefix=BUCKET/path (rclone addresses S3 as NAME:BUCKET/PATH)",
            ));
        }
        for unsupported in ["session_token", "role_arn", "sse_customer_key", "profile"] {
            if self.get(unsupported).is_some() {
                return Err(self.problem(format!(
                    "{unsupported} is set, which ferry does not support; use a remote with access_key_id and secret_access_key"
                )));
            }
        }
        let (host, port, protocol) = match self.get("endpoint") {
            None => (None, None, "https".to_owned()),
            Some(endpoint) => {
                let (protocol, rest) = match endpoint.split_once("://") {
                    Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
                    // rclone takes a bare host name as https.
                    None => ("https".to_owned(), endpoint),
                };
                if protocol != "http" && protocol != "https" {
                    return Err(self.problem(format!(
                        "endpoint = {endpoint}: expected an http:// or https:// URL"
                    )));
                }
                let authority = rest.trim_end_matches('/');
                if authority.contains('/') {
                    return Err(self.problem(format!(
                        "endpoint = {endpoint} has a path, which ferry does not support; give the server's URL without one"
                    )));
                }
                // An IPv6 address is bracketed ([::1]:9000); only a colon after it is a port.
                let port_sep = match authority.rfind(']') {
                    Some(close) => authority[close..].find(':').map(|i| close + i),
                    None => authority.rfind(':'),
                };
                let (host, port) = match port_sep {
                    Some(i) => {
                        let p = &authority[i + 1..];
                        let port = p.parse::<u16>().map_err(|_| {
                            self.problem(format!("endpoint = {endpoint}: {p} is not a port"))
                        })?;
                        (authority[..i].to_owned(), Some(port))
                    }
                    None => (authority.to_owned(), None),
                };
                (Some(host), port, protocol)
            }
        };
        let endpoint = host.as_ref().map(|h| match port {
            Some(p) => format!("{protocol}://{h}:{p}"),
            None => format!("{protocol}://{h}"),
        });
        // rclone's force_path_style defaults to true, except that for AWS rclone itself uses
        // virtual-host style; ferry follows rclone so that the same requests go out.
        let aws = self.get("provider").is_none_or(|p| p == "AWS") && endpoint.is_none();
        let path_style = match self.get("force_path_style") {
            Some(v) => parse_bool(v).ok_or_else(|| {
                self.problem(format!("force_path_style = {v} is not true or false"))
            })?,
            None => !aws,
        };
        let region = self
            .get("region")
            .or_else(|| self.get("location_constraint"))
            .unwrap_or("us-east-1")
            .to_owned();
        let login = match (self.get("access_key_id"), self.get("secret_access_key")) {
            (Some(id), Some(secret)) => Login {
                user: id.to_owned(),
                secret: Secret::new(secret.to_owned()),
            },
            _ => {
                // env_auth = true: rclone then reads the AWS variables, as ferry does here.
                let env_auth = self.get("env_auth").and_then(parse_bool).unwrap_or(false);
                let from_env = |k: &str| self.env.get(k).filter(|v| !v.is_empty()).cloned();
                match (
                    env_auth,
                    from_env("AWS_ACCESS_KEY_ID"),
                    from_env("AWS_SECRET_ACCESS_KEY"),
                ) {
                    (true, Some(user), Some(secret)) => Login {
                        user,
                        secret: Secret::new(secret),
                    },
                    _ => {
                        return Err(self.problem(
                            "it has no access_key_id and secret_access_key (nor env_auth = true with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set); ferry cannot use anonymous access; add the keys with `rclone config`",
                        ));
                    }
                }
            }
        };
        Ok(Resolved {
            storage: Storage::S3 {
                bucket: bucket.to_owned(),
                endpoint,
                region,
                path_style,
                host,
                port,
                protocol,
            },
            prefix: self.object_path(rest)?,
            secrets: StorageSecrets {
                login: Some(login),
                ..StorageSecrets::default()
            },
        })
    }

    fn resolve_webdav(&self, path: &str) -> Result<Resolved, RcloneConfError> {
        let url = self
            .get("url")
            .ok_or_else(|| self.problem("it has no url; add it with `rclone config`"))?;
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(self.problem(format!("url = {url} is not an http:// or https:// URL")));
        }
        if self.get("bearer_token_command").is_some() {
            return Err(self.problem(
                "bearer_token_command is set, which ferry does not run; put the token in bearer_token instead",
            ));
        }
        let password = match self.get("pass") {
            None => String::new(),
            Some(obscured) => reveal(obscured).map_err(|e| {
                self.problem(format!(
                    "pass cannot be revealed ({e}); set it again with `rclone config password {} pass PASSWORD`",
                    self.name
                ))
            })?,
        };
        let login = self.get("user").map(|user| Login {
            user: user.to_owned(),
            secret: Secret::new(password),
        });
        Ok(Resolved {
            storage: Storage::Webdav {
                url: url.to_owned(),
            },
            prefix: self.object_path(path)?,
            secrets: StorageSecrets {
                login,
                bearer_token: self.get("bearer_token").map(|t| Secret::new(t.to_owned())),
                ..StorageSecrets::default()
            },
        })
    }

    fn resolve_drive(&self, path: &str) -> Result<Resolved, RcloneConfError> {
        for unsupported in ["service_account_file", "service_account_credentials"] {
            if self.get(unsupported).is_some() {
                return Err(self.problem(format!(
                    "{unsupported} is set, which ferry does not support; use an OAuth token (`rclone config reconnect {}:`)",
                    self.name
                )));
            }
        }
        let token = self.get("token").ok_or_else(|| {
            self.problem(format!(
                "it has no token; authorize it with `rclone config reconnect {}:`",
                self.name
            ))
        })?;
        // An empty client_id is rclone's own OAuth client, whose secret ferry does not borrow:
        // the token then works until it expires and cannot be refreshed.
        let client_id = self.get("client_id").map(str::to_owned);
        if client_id.is_none() {
            tracing::warn!(
                remote = %self.name,
                "rclone remote has no client_id: its token cannot be refreshed by ferry; set your own client_id and client_secret with `rclone config`"
            );
        }
        Ok(Resolved {
            storage: Storage::Gdrive {
                root_folder_id: self.get("root_folder_id").map(str::to_owned),
                team_drive: self.get("team_drive").map(str::to_owned),
                client_id,
                endpoint: None,
            },
            prefix: self.object_path(path)?,
            secrets: StorageSecrets {
                gdrive_token: Some(Secret::new(token.to_owned())),
                gdrive_client_secret: self.get("client_secret").map(|s| Secret::new(s.to_owned())),
                ..StorageSecrets::default()
            },
        })
    }
}

/// The first `%(name)s` in `text` (goconfig's `%\(([^\)]+)\)s`), if any.
fn first_reference(text: &str) -> Option<String> {
    let mut from = 0;
    while let Some(i) = text[from..].find("%(") {
        let start = from + i;
        let after = &text[start + 2..];
        if let Some(close) = after.find(')')
            && close > 0
            && after[close + 1..].starts_with('s')
        {
            return Some(text[start..start + 2 + close + 2].to_owned());
        }
        from = start + 1;
    }
    None
}

/// One `key = value` line read as goconfig reads it: the key ends at the first `=` or `:`
/// (unless it is quoted with `"`, `"""` or a backtick); the value is trimmed and loses its
/// quotes only when they are backticks or `"""` (with at least two or six characters), the
/// closing quote being the last one on the line.
fn split_key_value(line: &str) -> Result<(String, String), &'static str> {
    let key_quote = if line.starts_with("\"\"\"") && line.len() >= 6 {
        Some("\"\"\"")
    } else if line.starts_with('"') {
        Some("\"")
    } else if line.starts_with('`') {
        Some("`")
    } else {
        None
    };
    let (key, rest) = match key_quote {
        Some(q) => {
            let close = line[q.len()..]
                .find(q)
                .ok_or("a quoted key has no closing quote")?
                + q.len();
            let sep = line[close..]
                .find(['=', ':'])
                .ok_or("no = after the quoted key")?
                + close;
            (line[q.len()..close].to_owned(), &line[sep + 1..])
        }
        None => {
            let sep = line.find(['=', ':']).ok_or("not key = value")?;
            if sep == 0 {
                return Err("no key before the =");
            }
            (line[..sep].trim().to_owned(), &line[sep + 1..])
        }
    };
    let rest = rest.trim();
    let value_quote = if rest.len() >= 2 && rest.starts_with('`') {
        Some("`")
    } else if rest.len() >= 6 && rest.starts_with("\"\"\"") {
        Some("\"\"\"")
    } else {
        None
    };
    let value = match value_quote {
        Some(q) => {
            let inner = &rest[q.len()..];
            let close = inner
                .rfind(q)
                .ok_or("a quoted value has no closing quote")?;
            inner[..close].to_owned()
        }
        None => rest.to_owned(),
    };
    Ok((key, value))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Why an obscured value does not reveal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevealError {
    /// Not base64url.
    #[error("not base64: is it obscured (rclone obscure)?")]
    NotBase64,
    /// Shorter than the 16-byte IV.
    #[error("input too short: is it obscured (rclone obscure)?")]
    TooShort,
    /// The plain text is not UTF-8.
    #[error("the revealed value is not UTF-8: is it obscured (rclone obscure)?")]
    NotUtf8,
}

/// Reveals a value obscured by rclone (`rclone obscure`): base64url without padding of a 16-byte
/// IV followed by AES-256-CTR of the text under rclone's public key.
///
/// # Errors
/// [`RevealError`]: the value is not obscured text. There is no MAC, so any well-formed string
/// reveals to something; a wrong password shows only at login.
pub fn reveal(obscured: &str) -> Result<String, RevealError> {
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(obscured)
        .map_err(|_| RevealError::NotBase64)?;
    if bytes.len() < 16 {
        return Err(RevealError::TooShort);
    }
    let mut text = bytes.split_off(16);
    let mut cipher = ctr::Ctr128BE::<Aes256>::new_from_slices(&OBSCURE_KEY, &bytes)
        .expect("the key is 32 bytes and the IV 16, the sizes AES-256-CTR takes");
    cipher.apply_keystream(&mut text);
    String::from_utf8(text).map_err(|_| RevealError::NotUtf8)
}

/// `target=` split into the remote's name and the path it may carry: `NAME`, `NAME:` or
/// `NAME:sub/path`.
///
/// # Errors
/// An empty name, or rclone's connection-string forms (`:backend:`, `NAME,option=…:`), which
/// ferry does not take.
pub fn parse_target(target: &str) -> Result<(&str, &str), RcloneConfError> {
    let bad = |problem: &str| RcloneConfError::BadTarget {
        target: target.to_owned(),
        problem: problem.to_owned(),
    };
    if target.starts_with(':') {
        return Err(bad(
            "ferry does not take rclone connection strings (:backend:); define the remote in rclone.conf and give its name",
        ));
    }
    let (name, path) = target.split_once(':').unwrap_or((target, ""));
    if name.is_empty() {
        return Err(bad("give the name of a remote in rclone.conf"));
    }
    if name.contains(',') {
        return Err(bad(
            "ferry does not take options in target= (NAME,option=value:); put them in the remote's section of rclone.conf",
        ));
    }
    Ok((name, path))
}

/// The rclone path that `target=` and `prefix=` name together: `NAME:tpath` + `prefix` is
/// `tpath/prefix`, the way the bash remote builds `target:prefix`.
pub fn join_path(target_path: &str, prefix: &str) -> String {
    match (target_path.is_empty(), prefix.is_empty()) {
        (true, _) => prefix.to_owned(),
        (false, true) => target_path.to_owned(),
        (false, false) => format!(
            "{}/{}",
            target_path.trim_end_matches('/'),
            prefix.trim_start_matches('/')
        ),
    }
}

/// Everything in one step: finds rclone.conf (`config_file` first), opens it (with the password
/// from `passcmd` or the environment if it is encrypted), reads the remote that `target` names
/// and maps it, with `prefix`, to ferry's storage.
///
/// # Errors
/// Any [`RcloneConfError`].
pub fn resolve(
    target: &str,
    prefix: &str,
    config_file: Option<&Path>,
    passcmd: Option<&str>,
    env: &Env,
    cwd: &Path,
    fsync: bool,
) -> Result<Resolved, RcloneConfError> {
    let (name, target_path) = parse_target(target)?;
    let conf = RcloneConf::load(
        locate(config_file, env).as_deref(),
        PasswordSource {
            command: passcmd,
            env,
        },
    )?;
    let remote = conf.remote(name, env)?;
    remote.resolve(&join_path(target_path, prefix), cwd, fsync)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The configuration `rclone config create` wrote for the test servers
    /// (shared/test-servers.md §5).
    const SAMPLE: &str = "\
[mys3]
type = s3
access_key_id = ferrytest
secret_access_key = ferrysecret
endpoint = http://127.0.0.1:19000
region = us-east-1
force_path_style = true
provider = Other

[mydav]
type = webdav
url = http://127.0.0.1:19080
vendor = other
user = ferry
pass = TfA2a1is2aFtw-qiagYCGm-nzEEw8TcvXQ

[mylocal]
type = local

[secure]
type = crypt
remote = mylocal:/x
";

    fn sample() -> RcloneConf {
        RcloneConf::parse(Path::new("/cfg/rclone.conf"), SAMPLE).unwrap()
    }

    #[test]
    fn reveal_matches_rclone_vectors() {
        // Made with `rclone obscure`, checked with `rclone reveal` (shared/test-servers.md §5).
        for (plain, obscured) in [
            ("ferrypass", "aQyNRPaHq_vBjPGaVmaICTvkd7yn8wOGcQ"),
            ("", "lAq0ZUBRqDYgz6VuVxVjdQ"),
            (
                "päss wörd/+=?",
                "axDFbUX23V6CGsvdzlVWFh0L_qigxhAqAs3afXYesA",
            ),
            ("ferrypass", "TfA2a1is2aFtw-qiagYCGm-nzEEw8TcvXQ"),
        ] {
            assert_eq!(reveal(obscured).as_deref(), Ok(plain), "{obscured}");
        }
    }

    #[test]
    fn reveal_rejects_what_is_not_obscured() {
        assert_eq!(reveal("lAq0ZUBRqDYgz6Vu"), Err(RevealError::TooShort));
        assert_eq!(reveal("plain text!"), Err(RevealError::NotBase64));
    }

    #[test]
    fn parses_sections_and_skips_comments() {
        let conf = RcloneConf::parse(
            Path::new("/c"),
            "# mine\n; also a comment\n\n[a]\ntype = local\nkey=  spaced value  \n[b-c]\ntype=s3\n",
        )
        .unwrap();
        assert_eq!(conf.sections.len(), 2);
        assert_eq!(conf.sections["a"]["key"], "spaced value");
        assert_eq!(conf.sections["b-c"]["type"], "s3");
        let e = RcloneConf::parse(Path::new("/c"), "[a]\nnonsense\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn encrypted_config_without_password_says_what_to_set() {
        let text = "# Encrypted rclone configuration File\n\nRCLONE_ENCRYPT_V0:\nZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFy\n";
        let e = RcloneConf::parse(Path::new("/home/u/rclone.conf"), text).unwrap_err();
        assert!(matches!(e, RcloneConfError::Encrypted { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("/home/u/rclone.conf")
                && text.contains("set RCLONE_CONFIG_PASS")
                && text.contains("rclone_passcmd="),
            "{text}"
        );
        let e = RcloneConf::parse(Path::new("/c"), "RCLONE_ENCRYPT_V1:\nabc\n").unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");
    }

    #[test]
    fn values_are_read_as_rclones_ini_reader_reads_them() {
        let conf = RcloneConf::parse(
            Path::new("/c"),
            concat!(
                "\u{feff}top = before any section\n",
                "[q]\n",
                "double = \"kept\"\n",
                "single = 'kept'\n",
                "tick = `a \"b\" c`\n",
                "triple = \"\"\"x`y\"z\"\"\"\n",
                "colon: value = with equals\n",
                "url = http://h:1/p\n",
                "`k=ey` = v\n",
                "empty =\n",
                "ticks = ``\n",
                "short = \"\"\"ab\n",
                "[ spaced ]\n",
                "type = local\n",
            ),
        )
        .unwrap();
        let q = &conf.sections["q"];
        assert_eq!(q["double"], "\"kept\"");
        assert_eq!(q["single"], "'kept'");
        assert_eq!(q["tick"], "a \"b\" c");
        assert_eq!(q["triple"], "x`y\"z");
        assert_eq!(q["colon"], "value = with equals");
        assert_eq!(q["url"], "http://h:1/p");
        assert_eq!(q["k=ey"], "v");
        assert_eq!(q["empty"], "");
        assert_eq!(q["ticks"], "");
        // Fewer than six characters: not a triple-quoted value.
        assert_eq!(q["short"], "\"\"\"ab");
        assert_eq!(conf.sections["DEFAULT"]["top"], "before any section");
        assert_eq!(conf.sections["spaced"]["type"], "local");
        for bad in ["`open = v", "k = `open", "= v", "k = \"\"\"open"] {
            let e = RcloneConf::parse(Path::new("/c"), &format!("[a]\n{bad}\n")).unwrap_err();
            assert!(e.to_string().contains("line 2"), "{bad}: {e}");
        }
    }

    #[test]
    fn dotted_remotes_inherit_and_references_unfold_as_in_rclone() {
        let conf = RcloneConf::parse(
            Path::new("/c"),
            "[DEFAULT]\nhost = h1\n[a]\ntype = webdav\nurl = http://%(host)s/%(path)s/%(nope)s\npath = p\nuser = u\n[a.b]\nuser = %(keys)s\nkey = k\n[x.y.z]\ntype = local\n",
        )
        .unwrap();
        let a = conf.remote("a", &Env::new()).unwrap();
        assert_eq!(a.get("url"), Some("http://h1/p/"));
        let ab = conf.remote("a.b", &Env::new()).unwrap();
        // Inherited from [a]; "%(keys)s" names "key" (goconfig trims trailing 's' and ')').
        assert_eq!((ab.kind.as_str(), ab.get("user")), ("webdav", Some("k")));
        assert_eq!(ab.get("url"), Some("http://h1/p/"));
        assert_eq!(conf.remote("x.y.z", &Env::new()).unwrap().kind, "local");
    }

    #[test]
    fn environment_overrides_file_and_backend_wide_variable_wins() {
        let conf = sample();
        let e = env(&[
            ("RCLONE_CONFIG_MYDAV_URL", "http://remote-specific"),
            ("RCLONE_CONFIG_MYDAV_USER", "envuser"),
        ]);
        let dav = conf.remote("mydav", &e).unwrap();
        assert_eq!(dav.get("url"), Some("http://remote-specific"));
        assert_eq!(dav.get("user"), Some("envuser"));
        let mut e2 = e.clone();
        e2.insert("RCLONE_WEBDAV_URL".into(), "http://backend-wide".into());
        assert_eq!(
            conf.remote("mydav", &e2).unwrap().get("url"),
            Some("http://backend-wide")
        );
        // Another remote's variables do not leak in.
        assert_eq!(
            conf.remote("mys3", &e2).unwrap().get("endpoint"),
            Some("http://127.0.0.1:19000")
        );
    }

    #[test]
    fn remote_can_live_in_the_environment_only_with_dashes_kept() {
        let conf = RcloneConf::default();
        let e = env(&[("RCLONE_CONFIG_MY-ENV_TYPE", "local")]);
        assert_eq!(conf.remote("my-env", &e).unwrap().kind, "local");
        assert_eq!(conf.remote("My-Env", &e).unwrap().kind, "local");
        let e = env(&[("RCLONE_CONFIG_MY_ENV_TYPE", "local")]);
        assert!(matches!(
            conf.remote("my-env", &e),
            Err(RcloneConfError::NoSuchRemote { .. })
        ));
    }

    #[test]
    fn missing_remote_lists_the_ones_there() {
        let e = sample().remote("nope", &Env::new()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("nope") && text.contains("mydav, mylocal, mys3"),
            "{text}"
        );
    }

    #[test]
    fn s3_bucket_is_the_first_path_element() {
        let r = sample()
            .remote("mys3", &Env::new())
            .unwrap()
            .resolve("ferry/p/q", Path::new("/"), true)
            .unwrap();
        assert_eq!(
            r.storage,
            Storage::S3 {
                bucket: "ferry".into(),
                endpoint: Some("http://127.0.0.1:19000".into()),
                region: "us-east-1".into(),
                path_style: true,
                host: Some("127.0.0.1".into()),
                port: Some(19000),
                protocol: "http".into(),
            }
        );
        assert_eq!(r.prefix.unwrap().as_str(), "p/q");
        let login = r.secrets.login.unwrap();
        assert_eq!(
            (login.user.as_str(), login.secret.expose().as_str()),
            ("ferrytest", "ferrysecret")
        );
        let e = sample()
            .remote("mys3", &Env::new())
            .unwrap()
            .resolve("", Path::new("/"), true)
            .unwrap_err();
        assert!(e.to_string().contains("prefix=BUCKET"), "{e}");
    }

    #[test]
    fn s3_endpoint_forms_become_protocol_host_and_port() {
        for (endpoint, protocol, host, port) in [
            ("s3.example.org", "https", "s3.example.org", None),
            ("http://minio.lan:9000/", "http", "minio.lan", Some(9000)),
            ("https://[::1]:9000", "https", "[::1]", Some(9000)),
            ("https://[::1]", "https", "[::1]", None),
        ] {
            let conf = RcloneConf::parse(
                Path::new("/c"),
                &format!("[r]\ntype = s3\nendpoint = {endpoint}\naccess_key_id = a\nsecret_access_key = b\n"),
            )
            .unwrap();
            let r = conf
                .remote("r", &Env::new())
                .unwrap()
                .resolve("b", Path::new("/"), true)
                .unwrap();
            let Storage::S3 {
                protocol: pr,
                host: h,
                port: po,
                path_style,
                ..
            } = &r.storage
            else {
                panic!("not s3: {r:?}");
            };
            assert_eq!(
                (pr.as_str(), h.as_deref(), *po),
                (protocol, Some(host), port),
                "{endpoint}"
            );
            // force_path_style defaults to true for any server but AWS.
            assert!(*path_style, "{endpoint}");
        }
        let conf = RcloneConf::parse(
            Path::new("/c"),
            "[r]\ntype = s3\nendpoint = ftp://x\naccess_key_id = a\nsecret_access_key = b\n",
        )
        .unwrap();
        let e = conf
            .remote("r", &Env::new())
            .unwrap()
            .resolve("b", Path::new("/"), true)
            .unwrap_err();
        assert!(e.to_string().contains("endpoint = ftp://x"), "{e}");
    }

    #[test]
    fn s3_on_aws_uses_virtual_host_style_and_env_auth() {
        let conf = RcloneConf::parse(
            Path::new("/c"),
            "[aws]\ntype = s3\nprovider = AWS\nenv_auth = true\nregion = eu-west-1\n",
        )
        .unwrap();
        let e = env(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "sk"),
        ]);
        let r = conf
            .remote("aws", &e)
            .unwrap()
            .resolve("b", Path::new("/"), true)
            .unwrap();
        assert!(matches!(
            &r.storage,
            Storage::S3 { endpoint: None, path_style: false, region, .. } if region == "eu-west-1"
        ));
        assert_eq!(r.prefix, None);
        assert_eq!(r.secrets.login.unwrap().user, "AKID");
        let e = conf
            .remote("aws", &Env::new())
            .unwrap()
            .resolve("b", Path::new("/"), true)
            .unwrap_err();
        assert!(e.to_string().contains("access_key_id"), "{e}");
    }

    #[test]
    fn webdav_password_is_revealed() {
        let r = sample()
            .remote("mydav", &Env::new())
            .unwrap()
            .resolve("annex/x", Path::new("/"), true)
            .unwrap();
        assert_eq!(
            r.storage,
            Storage::Webdav {
                url: "http://127.0.0.1:19080".into()
            }
        );
        assert_eq!(r.prefix.unwrap().as_str(), "annex/x");
        let login = r.secrets.login.unwrap();
        assert_eq!(login.user, "ferry");
        assert_eq!(login.secret.expose(), "ferrypass");
    }

    #[test]
    fn drive_maps_token_client_and_folders() {
        let conf = RcloneConf::parse(
            Path::new("/c"),
            "[gd]\ntype = drive\nclient_id = cid\nclient_secret = cs\nroot_folder_id = F1\nteam_drive = T1\ntoken = {\"access_token\":\"a\",\"token_type\":\"Bearer\",\"refresh_token\":\"r\",\"expiry\":\"2030-01-01T00:00:00Z\"}\n",
        )
        .unwrap();
        let r = conf
            .remote("gd", &Env::new())
            .unwrap()
            .resolve("annex", Path::new("/"), true)
            .unwrap();
        assert_eq!(
            r.storage,
            Storage::Gdrive {
                root_folder_id: Some("F1".into()),
                team_drive: Some("T1".into()),
                client_id: Some("cid".into()),
                endpoint: None
            }
        );
        assert!(r.secrets.gdrive_token.unwrap().expose().contains("\"r\""));
        assert_eq!(r.secrets.gdrive_client_secret.unwrap().expose(), "cs");
    }

    #[test]
    fn local_paths_resolve_like_rclone() {
        let local = sample().remote("mylocal", &Env::new()).unwrap();
        let abs = local
            .resolve("/mnt/annex", Path::new("/repo"), false)
            .unwrap();
        assert_eq!(
            abs.storage,
            Storage::Directory {
                path: "/mnt/annex".into(),
                fsync: false
            }
        );
        let rel = local
            .resolve("git-annex", Path::new("/repo"), true)
            .unwrap();
        assert_eq!(
            rel.storage,
            Storage::Directory {
                path: "/repo/git-annex".into(),
                fsync: true
            }
        );
    }

    #[test]
    fn unsupported_type_names_it_and_what_ferry_reads() {
        let e = sample()
            .remote("secure", &Env::new())
            .unwrap()
            .resolve("x", Path::new("/"), true)
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("type=crypt") && text.contains("s3, webdav, drive and local"),
            "{text}"
        );
    }

    #[test]
    fn target_forms() {
        assert_eq!(parse_target("mys3").unwrap(), ("mys3", ""));
        assert_eq!(parse_target("mys3:").unwrap(), ("mys3", ""));
        assert_eq!(parse_target("mys3:b/p").unwrap(), ("mys3", "b/p"));
        assert!(parse_target(":s3:b").is_err());
        assert!(parse_target("x,opt=1:").is_err());
        assert_eq!(join_path("b", "p/q"), "b/p/q");
        assert_eq!(join_path("", "/abs"), "/abs");
        assert_eq!(join_path("/mnt/", ""), "/mnt/");
    }

    #[test]
    fn locate_follows_rclones_order() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let xdg = tmp.path().join("xdg");
        std::fs::create_dir_all(home.join(".config/rclone")).unwrap();
        let e = env(&[
            ("HOME", home.to_str().unwrap()),
            ("XDG_CONFIG_HOME", xdg.to_str().unwrap()),
        ]);
        // Nothing exists: the XDG path, where rclone would create it.
        assert_eq!(locate(None, &e), Some(xdg.join("rclone/rclone.conf")));
        std::fs::write(home.join(".rclone.conf"), "").unwrap();
        assert_eq!(locate(None, &e), Some(home.join(".rclone.conf")));
        std::fs::write(home.join(".config/rclone/rclone.conf"), "").unwrap();
        assert_eq!(
            locate(None, &e),
            Some(home.join(".config/rclone/rclone.conf"))
        );
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("rclone"), "").unwrap();
        std::fs::write(bin.join("rclone.conf"), "").unwrap();
        let mut e2 = e.clone();
        e2.insert("PATH".into(), bin.to_str().unwrap().into());
        assert_eq!(locate(None, &e2), Some(bin.join("rclone.conf")));
        e2.insert("RCLONE_CONFIG".into(), "/elsewhere.conf".into());
        assert_eq!(locate(None, &e2), Some(PathBuf::from("/elsewhere.conf")));
        assert_eq!(
            locate(Some(Path::new("/given")), &e2),
            Some(PathBuf::from("/given"))
        );
        e2.insert("RCLONE_CONFIG".into(), "/dev/null".into());
        assert_eq!(locate(None, &e2), None);
    }
}

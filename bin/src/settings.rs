//! The remote's configuration: one table of known keys drives LISTCONFIGS, validation and the
//! values written back with SETCONFIG at INITREMOTE.
//!
//! Two steps, one place each: the raw `name=value` strings git-annex hands over (GETCONFIG)
//! become a typed [`Settings`], reporting every bad key at once; [`Settings::stored_values`]
//! (plus [`Settings::secret_values`]) is what INITREMOTE persists, so a remote never changes
//! meaning when a default changes.

use std::path::{Path, PathBuf};

use ferry_backends::layout::Layout;
use ferry_backends::{ObjectPath, PathError};
use ferry_crypto::{Encryption, KeyId, KeyToken, Mac, Secret};

/// One configuration key ferry understands.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// The name used in `git annex initremote NAME key=value`.
    pub name: &'static str,
    /// What it means, shown by `git annex initremote --whatelse`.
    pub description: &'static str,
}

/// Every key ferry accepts. git-annex refuses any other parameter at initremote, because ferry
/// answers LISTCONFIGS; so the aliases that the rclone bridges use must be listed too.
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "storage",
        description: "where objects go: directory (the default), s3, webdav or gdrive",
    },
    ConfigKey {
        name: "directory",
        description: "storage=directory: the directory that holds the objects (a disk, a NAS mount); must exist",
    },
    ConfigKey {
        name: "target",
        description: "the name of a remote in your rclone.conf (s3, webdav, drive or local) to use instead of storage=; its credentials stay in rclone.conf; as git-annex-remote-rclone names it",
    },
    ConfigKey {
        name: "rcloneremotename",
        description: "the same as target= (rclone gitannex's name, accepted for migration)",
    },
    ConfigKey {
        name: "rclone_config",
        description: "target=: the rclone.conf to read (default: where rclone looks: RCLONE_CONFIG, ~/.config/rclone/rclone.conf, ...)",
    },
    ConfigKey {
        name: "rclone_passcmd",
        description: "target=: a command printing the password of an encrypted rclone.conf (split into words like rclone's --password-command, run without a shell); default: RCLONE_PASSWORD_COMMAND, else RCLONE_CONFIG_PASS",
    },
    ConfigKey {
        name: "prefix",
        description: "a sub-path inside the storage under which objects are kept (default: none); with target= the rclone path inside the remote, BUCKET/path for s3 (default: git-annex)",
    },
    ConfigKey {
        name: "rcloneprefix",
        description: "the same as prefix= (rclone gitannex's name, accepted for migration)",
    },
    ConfigKey {
        name: "layout",
        description: "how objects are arranged: lower (default), directory, nodir, mixed or frankencase, as git-annex-remote-rclone names them",
    },
    ConfigKey {
        name: "rclone_layout",
        description: "the same as layout= (git-annex-remote-rclone's name, accepted for migration)",
    },
    ConfigKey {
        name: "rclonelayout",
        description: "the same as layout= (rclone gitannex's name, accepted for migration)",
    },
    ConfigKey {
        name: "bucket",
        description: "storage=s3: the bucket (it must exist); credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY at initremote",
    },
    ConfigKey {
        name: "host",
        description: "storage=s3: the server's host name (default: Amazon S3 in region=)",
    },
    ConfigKey {
        name: "port",
        description: "storage=s3: the server's port (default: 443 for https, 80 for http)",
    },
    ConfigKey {
        name: "protocol",
        description: "storage=s3: https (default) or http",
    },
    ConfigKey {
        name: "region",
        description: "storage=s3: the region requests are signed for (default us-east-1)",
    },
    ConfigKey {
        name: "requeststyle",
        description: "storage=s3: path (bucket in the URL path; the default with host=) or virtualhost",
    },
    ConfigKey {
        name: "url",
        description: "storage=webdav: the collection that holds the objects, e.g. https://nas.local/dav/annex; credentials come from WEBDAV_USERNAME and WEBDAV_PASSWORD at initremote",
    },
    ConfigKey {
        name: "root_folder_id",
        description: "storage=gdrive: the id of the Drive folder that holds the store (default: the root of My Drive); the OAuth token comes from the file named by FERRY_GDRIVE_TOKEN_FILE at initremote",
    },
    ConfigKey {
        name: "team_drive",
        description: "storage=gdrive: the id of the shared drive holding the store",
    },
    ConfigKey {
        name: "client_id",
        description: "storage=gdrive: your own OAuth client id (its secret comes from FERRY_GDRIVE_CLIENT_SECRET at initremote); needed to refresh tokens",
    },
    ConfigKey {
        name: "gdrive_endpoint",
        description: "storage=gdrive: the base URL of the Drive API (default https://www.googleapis.com; for tests)",
    },
    ConfigKey {
        name: "fsync",
        description: "storage=directory: yes (default) makes every stored object durable before git-annex is told it is stored; no is faster on small files but a power cut can lose objects git-annex counts",
    },
    ConfigKey {
        name: "ferry_encryption",
        description: "ferry's own encryption of contents and key names: none (default), aes256gcm or chacha20poly1305; set it when the remote is created, with encryption=none (not together with git-annex's encryption) and without exporttree",
    },
    ConfigKey {
        name: "ferry_mac",
        description: "ferry_encryption: the MAC that turns keys into object names, HMACSHA256 (default) or HMACSHA512; fixed once the remote is created",
    },
    ConfigKey {
        name: "ferry_passphrase",
        description: "ferry_encryption: yes wraps the generated key with a passphrase read from FERRY_PASSPHRASE_FILE or FERRY_PASSPHRASE at initremote (Argon2id), so the repository alone cannot decrypt; no (default) stores the key as it is in the git-annex branch",
    },
    ConfigKey {
        name: "ferry_key",
        description: "ferry_encryption: the master key token (ferry1:plain:… or ferry1:argon2id:…); generated at initremote; give it only to re-wrap the same key or share it with a sameas remote",
    },
    ConfigKey {
        name: "ferry_keyid",
        description: "ferry_encryption: the id of the master key (16 hex digits), set at initremote and checked at every use",
    },
];

/// The storages ferry knows of.
const STORAGES: &[&str] = &["directory", "s3", "webdav", "gdrive"];

/// Where objects are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A local directory (a disk, a NAS mount).
    Directory {
        /// The directory holding the objects.
        path: PathBuf,
        /// Whether objects are fsynced before their STORE succeeds.
        fsync: bool,
    },
    /// An S3 bucket.
    S3 {
        /// The bucket.
        bucket: String,
        /// The server's URL (`https://host:port`), `None` for Amazon S3.
        endpoint: Option<String>,
        /// The signing region.
        region: String,
        /// Path-style requests.
        path_style: bool,
        /// What the user wrote, to store back: host, port, protocol, requeststyle.
        host: Option<String>,
        /// The port as given.
        port: Option<u16>,
        /// `http` or `https`.
        protocol: String,
    },
    /// A WebDAV collection.
    Webdav {
        /// The collection's URL.
        url: String,
    },
    /// A Google Drive folder.
    Gdrive {
        /// The folder holding the store, `None` for the root of My Drive.
        root_folder_id: Option<String>,
        /// The shared drive, if any.
        team_drive: Option<String>,
        /// The user's OAuth client id.
        client_id: Option<String>,
        /// The API base URL, `None` for Google's.
        endpoint: Option<String>,
    },
}

impl Storage {
    /// The config name of this storage.
    pub fn name(&self) -> &'static str {
        match self {
            Storage::Directory { .. } => "directory",
            Storage::S3 { .. } => "s3",
            Storage::Webdav { .. } => "webdav",
            Storage::Gdrive { .. } => "gdrive",
        }
    }
}

/// A remote whose storage is an rclone remote (`target=`), kept as the user gave it: this, not
/// the storage it resolves to, is what is stored, so the credentials stay in rclone.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcloneTarget {
    /// `target=`: `NAME`, `NAME:` or `NAME:path`.
    pub target: String,
    /// `prefix=`: the rclone path inside the remote (for s3 `BUCKET/path`), defaults applied.
    pub prefix: String,
    /// `rclone_config=`, when given.
    pub config_file: Option<PathBuf>,
    /// `rclone_passcmd=`, when given and not empty: the command printing the password of an
    /// encrypted rclone.conf (git-annex-remote-rclone's key, its `--password-command`).
    pub passcmd: Option<String>,
}

/// The defaults of the bridge that created a configuration, for `target=` remotes: a value
/// missing from remote.log means the default of whoever wrote it (shared/peers.md §0.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bridge {
    /// git-annex-remote-rclone (and ferry itself): prefix `git-annex`, layout `lower`.
    Bash,
    /// `rclone gitannex`: prefix `git-annex-rclone`, layout `nodir`; it never stores defaults.
    RcloneGitannex,
}

/// The typed configuration of one remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where objects are kept (for `target=`, what the rclone remote resolved to).
    pub storage: Storage,
    /// `target=`: the rclone remote the storage comes from.
    pub rclone: Option<RcloneTarget>,
    /// The sub-path under which objects are kept, if any.
    pub prefix: Option<ObjectPath>,
    /// How keys are arranged under the prefix.
    pub layout: Layout,
    /// ferry's own encryption (`ferry_*` keys).
    pub encryption: EncryptionSettings,
}

/// ferry's own encryption settings. How the master key is made and loaded from them is
/// [`crate::encryption`]'s business; this is only what the config says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncryptionSettings {
    /// `ferry_encryption`: off, or the algorithm new objects are sealed with.
    pub encryption: Encryption,
    /// `ferry_mac`: how object names are made.
    pub mac: Mac,
    /// `ferry_key`: the key token, already checked to parse. Unset on a remote being created.
    pub key: Option<Secret<String>>,
    /// `ferry_keyid`: the id the key must have.
    pub key_id: Option<KeyId>,
    /// `ferry_passphrase`: the key is (to be) wrapped with a passphrase.
    pub passphrase: bool,
}

impl EncryptionSettings {
    /// True when ferry encrypts.
    pub fn enabled(&self) -> bool {
        self.encryption != Encryption::None
    }

    /// The parsed `ferry_key`, if set.
    ///
    /// # Errors
    /// A token that does not parse (checked when the settings were read, so only for settings
    /// built by hand).
    pub fn token(&self) -> Result<Option<KeyToken>, ferry_crypto::KeyError> {
        self.key
            .as_ref()
            .map(|k| KeyToken::parse(k.expose()))
            .transpose()
    }

    /// Reads the `ferry_*` keys, adding every problem to `errors`.
    fn from_config(
        value: &dyn Fn(&str) -> Option<String>,
        phase: Phase,
        errors: &mut Vec<String>,
    ) -> EncryptionSettings {
        let mut out = EncryptionSettings::default();
        if let Some(v) = value("ferry_encryption") {
            match v.parse() {
                Ok(e) => out.encryption = e,
                Err(e) => errors.push(format!("{e}")),
            }
        }
        if let Some(v) = value("ferry_mac") {
            match v.parse() {
                Ok(m) => out.mac = m,
                Err(e) => errors.push(format!("{e}")),
            }
        }
        if let Some(v) = value("ferry_key") {
            // The error never quotes the token.
            match KeyToken::parse(&v) {
                Ok(_) => out.key = Some(Secret::new(v)),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if let Some(v) = value("ferry_keyid") {
            match v.parse() {
                Ok(id) => out.key_id = Some(id),
                Err(e) => errors.push(format!("ferry_keyid={v}: {e}")),
            }
        }
        out.passphrase =
            value("ferry_passphrase").is_some_and(|v| parse_bool("ferry_passphrase", &v, errors));
        if !out.enabled() {
            // Turning encryption off would make every object unreadable under its name.
            if out.key.is_some() || out.key_id.is_some() {
                errors.push(
                    "ferry_encryption=none, but this remote has a ferry_key: its objects are encrypted by ferry; set ferry_encryption=aes256gcm or chacha20poly1305".to_owned(),
                );
            } else if out.passphrase {
                errors.push(
                    "ferry_passphrase=yes needs ferry_encryption=aes256gcm or chacha20poly1305"
                        .to_owned(),
                );
            }
        } else if phase == Phase::Use && out.key.is_none() {
            errors.push(format!(
                "ferry_encryption={} but the remote has no ferry_key, so nothing it stored can be read; the key is made by git annex initremote (or enableremote) with this ferry",
                out.encryption
            ));
        }
        out
    }
}

/// Every problem found in a configuration, so that the user fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl std::error::Error for ConfigErrors {}

/// When settings are read: at INITREMOTE the user's input is checked strictly (the directory must
/// exist and is made absolute); at PREPARE the stored values are used as they are, because a
/// missing directory then means an unplugged disk, which CHECKPRESENT must report as unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `git annex initremote` / `enableremote`.
    Init,
    /// Every other use.
    Use,
}

fn parse_bool(name: &str, value: &str, errors: &mut Vec<String>) -> bool {
    match value.to_ascii_lowercase().as_str() {
        "" | "yes" | "true" | "1" => true,
        "no" | "false" | "0" => false,
        _ => {
            errors.push(format!("{name}={value} is not yes or no"));
            true
        }
    }
}

/// The S3 settings, named as git-annex's own S3 remote names them.
fn s3_storage(value: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<String>) -> Option<Storage> {
    let bucket = value("bucket");
    if bucket.is_none() {
        errors.push("storage=s3 needs bucket=, the name of an existing bucket".to_owned());
    }
    let protocol = value("protocol").unwrap_or_else(|| "https".to_owned());
    if protocol != "http" && protocol != "https" {
        errors.push(format!("protocol={protocol}: expected http or https"));
    }
    let port = match value("port").map(|p| p.parse::<u16>().map_err(|_| p)) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(p)) => {
            errors.push(format!("port={p} is not a port number"));
            None
        }
    };
    let host = value("host");
    if let Some(h) = &host
        && (h.contains('/') || h.contains(' '))
    {
        errors.push(format!(
            "host={h} should be a host name like s3.example.org, without http:// or a path"
        ));
    }
    let endpoint = host.as_ref().map(|h| match port {
        Some(p) => format!("{protocol}://{h}:{p}"),
        None => format!("{protocol}://{h}"),
    });
    let path_style = match value("requeststyle").as_deref() {
        None => endpoint.is_some(),
        Some("path") => true,
        Some("virtualhost") => false,
        Some(other) => {
            errors.push(format!(
                "requeststyle={other}: expected path or virtualhost"
            ));
            true
        }
    };
    Some(Storage::S3 {
        bucket: bucket?,
        endpoint,
        region: value("region").unwrap_or_else(|| "us-east-1".to_owned()),
        path_style,
        host,
        port,
        protocol,
    })
}

impl Settings {
    /// Builds settings from config values (`get(name)` = the value, empty or `None` when unset;
    /// `externaltype` is asked for too, to tell which rclone bridge wrote a migrated config).
    /// `cwd` makes a relative `directory=` absolute at INITREMOTE. With `target=`, the storage
    /// comes from rclone.conf, found and overridden through this process's environment.
    ///
    /// # Errors
    /// Every bad or conflicting value, each naming its key and what would be valid.
    pub fn from_config(
        get: impl Fn(&str) -> Option<String>,
        phase: Phase,
        cwd: &Path,
    ) -> Result<Settings, ConfigErrors> {
        let value = |name: &str| get(name).filter(|v| !v.is_empty());
        let mut errors = Vec::new();

        // layout, under any of its three names; they must agree.
        let mut layout = None;
        for name in ["layout", "rclone_layout", "rclonelayout"] {
            let Some(v) = value(name) else { continue };
            match v.parse::<Layout>() {
                Ok(l) => match layout {
                    Some((other_name, other)) if other != l => errors.push(format!(
                        "{other_name}={} and {name}={v} disagree; give one layout",
                        Layout::as_str(other)
                    )),
                    _ => layout = Some((name, l)),
                },
                Err(e) => errors.push(format!("{name}={v}: {e}")),
            }
        }
        let layout_given = layout.map(|(_, l)| l);

        let target = agreed(&value, "target", "rcloneremotename", &mut errors);
        let prefix_given = agreed(&value, "prefix", "rcloneprefix", &mut errors);
        if let Some(target) = target {
            let bridge = if value("externaltype").as_deref() == Some("rclone-builtin")
                || ["target", "prefix", "rclone_layout"]
                    .iter()
                    .all(|n| value(n).is_none())
            {
                Bridge::RcloneGitannex
            } else {
                Bridge::Bash
            };
            return Settings::from_rclone(
                RcloneTarget {
                    target,
                    prefix: prefix_given.unwrap_or_else(|| {
                        match bridge {
                            Bridge::Bash => "git-annex",
                            Bridge::RcloneGitannex => "git-annex-rclone",
                        }
                        .to_owned()
                    }),
                    config_file: value("rclone_config").map(PathBuf::from),
                    passcmd: value("rclone_passcmd").filter(|c| !c.is_empty()),
                },
                layout_given.unwrap_or(match bridge {
                    Bridge::Bash => Layout::Lower,
                    Bridge::RcloneGitannex => Layout::Nodir,
                }),
                &value,
                phase,
                cwd,
                errors,
            );
        }
        let layout = layout_given.unwrap_or_default();

        let prefix = match prefix_given {
            None => None,
            Some(p) => {
                let trimmed = p.trim_matches('/');
                if trimmed.is_empty() {
                    None
                } else {
                    match ObjectPath::new(trimmed) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            errors.push(format!(
                                "prefix={p} is not a usable path: {}",
                                describe_path_error(&e)
                            ));
                            None
                        }
                    }
                }
            }
        };

        let fsync = value("fsync").is_none_or(|v| parse_bool("fsync", &v, &mut errors));
        let storage_name = value("storage").unwrap_or_else(|| "directory".to_owned());
        let storage = match storage_name.as_str() {
            "directory" => match value("directory") {
                None => {
                    errors.push(
                        "directory= is missing: give the directory that will hold the objects, e.g. directory=/mnt/nas/annex"
                            .to_owned(),
                    );
                    None
                }
                Some(d) => {
                    let mut path = PathBuf::from(&d);
                    if phase == Phase::Init {
                        if path.is_relative() {
                            path = cwd.join(path);
                        }
                        match std::fs::metadata(&path) {
                            Ok(m) if m.is_dir() => {}
                            Ok(_) => errors.push(format!("directory={d} is not a directory")),
                            Err(e) => errors.push(format!(
                                "directory={d} cannot be used ({e}); create it (mkdir -p) or mount the disk first"
                            )),
                        }
                    }
                    Some(Storage::Directory { path, fsync })
                }
            },
            "s3" => s3_storage(&value, &mut errors),
            "webdav" => match value("url") {
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                    Some(Storage::Webdav { url })
                }
                Some(url) => {
                    errors.push(format!("url={url} is not an http:// or https:// URL"));
                    None
                }
                None => {
                    errors.push(
                        "storage=webdav needs url=, e.g. url=https://nas.local/dav/annex"
                            .to_owned(),
                    );
                    None
                }
            },
            "gdrive" => Some(Storage::Gdrive {
                root_folder_id: value("root_folder_id"),
                team_drive: value("team_drive"),
                client_id: value("client_id"),
                endpoint: value("gdrive_endpoint"),
            }),
            other => {
                errors.push(format!(
                    "unknown storage={other}; expected one of: {}",
                    STORAGES.join(", ")
                ));
                None
            }
        };

        let encryption = EncryptionSettings::from_config(&value, phase, &mut errors);

        match (storage, errors.is_empty()) {
            (Some(storage), true) => Ok(Settings {
                storage,
                rclone: None,
                prefix,
                layout,
                encryption,
            }),
            _ => Err(ConfigErrors(errors)),
        }
    }

    /// Settings of a `target=` remote: the storage is what the rclone remote resolves to, read
    /// now (at INITREMOTE and at every PREPARE, like the bash remote), never stored.
    /// `value` gives ferry's own keys that still apply: `fsync` for a local remote, and
    /// `gdrive_endpoint` for a drive remote (tests point it at a fake Drive).
    fn from_rclone(
        rclone: RcloneTarget,
        layout: Layout,
        value: &dyn Fn(&str) -> Option<String>,
        phase: Phase,
        cwd: &Path,
        mut errors: Vec<String>,
    ) -> Result<Settings, ConfigErrors> {
        let fsync = value("fsync").is_none_or(|v| parse_bool("fsync", &v, &mut errors));
        if let Some(storage) = value("storage") {
            errors.push(format!(
                "target={} and storage={storage} both say where objects go; give one of them",
                rclone.target
            ));
        }
        let resolved = match crate::rclone_conf::resolve(
            &rclone.target,
            &rclone.prefix,
            rclone.config_file.as_deref(),
            rclone.passcmd.as_deref(),
            &crate::rclone_conf::process_env(),
            cwd,
            fsync,
        ) {
            Ok(r) => Some(r),
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        };
        if let Some(Storage::Directory { path, .. }) = resolved.as_ref().map(|r| &r.storage)
            && phase == Phase::Init
            && let Err(e) = std::fs::create_dir_all(path)
        {
            // The bash remote runs `rclone mkdir target:prefix` at initremote; so does ferry.
            errors.push(format!(
                "cannot create {} for target={} prefix={}: {e}",
                path.display(),
                rclone.target,
                rclone.prefix
            ));
        }
        let mut resolved = resolved;
        if let Some(Storage::Gdrive { endpoint, .. }) = resolved.as_mut().map(|r| &mut r.storage) {
            *endpoint = value("gdrive_endpoint");
        }
        let encryption = EncryptionSettings::from_config(value, phase, &mut errors);
        match resolved {
            Some(r) if errors.is_empty() => Ok(Settings {
                storage: r.storage,
                rclone: Some(rclone),
                prefix: r.prefix,
                layout,
                encryption,
            }),
            _ => Err(ConfigErrors(errors)),
        }
    }

    /// The `name=value` pairs in use, for SETCONFIG at INITREMOTE (an unset prefix is stored
    /// empty, so that it stays unset rather than taking a future default).
    ///
    /// Safe to show: `ferry_key` is left out, see [`Settings::secret_values`].
    pub fn stored_values(&self) -> Vec<(&'static str, String)> {
        let mut out = self.storage_values();
        let e = &self.encryption;
        out.push(("ferry_encryption", e.encryption.as_str().to_owned()));
        if e.enabled() {
            out.push(("ferry_mac", e.mac.as_str().to_owned()));
            out.push((
                "ferry_passphrase",
                if e.passphrase { "yes" } else { "no" }.to_owned(),
            ));
            if let Some(id) = e.key_id {
                out.push(("ferry_keyid", id.to_string()));
            }
        }
        out
    }

    /// Where objects go and how they are laid out, as stored values.
    fn storage_values(&self) -> Vec<(&'static str, String)> {
        if let Some(rclone) = &self.rclone {
            // Only what names the rclone remote: its settings and credentials stay in
            // rclone.conf. rclone_layout too, so that the bash remote reads the same layout if
            // the remote is ever switched back.
            let mut out = vec![
                ("target", rclone.target.clone()),
                ("prefix", rclone.prefix.clone()),
                ("layout", self.layout.as_str().to_owned()),
                ("rclone_layout", self.layout.as_str().to_owned()),
            ];
            if let Some(file) = &rclone.config_file {
                out.push(("rclone_config", file.to_string_lossy().into_owned()));
            }
            if let Some(command) = &rclone.passcmd {
                // The command, never the password it prints.
                out.push(("rclone_passcmd", command.clone()));
            }
            match &self.storage {
                Storage::Directory { fsync, .. } => {
                    out.push(("fsync", if *fsync { "yes" } else { "no" }.to_owned()));
                }
                Storage::Gdrive {
                    endpoint: Some(e), ..
                } => out.push(("gdrive_endpoint", e.clone())),
                _ => {}
            }
            return out;
        }
        let mut out = vec![("storage", self.storage.name().to_owned())];
        match &self.storage {
            Storage::Directory { path, fsync } => {
                out.push(("directory", path.to_string_lossy().into_owned()));
                out.push(("fsync", if *fsync { "yes" } else { "no" }.to_owned()));
            }
            Storage::S3 {
                bucket,
                region,
                path_style,
                host,
                port,
                protocol,
                ..
            } => {
                out.push(("bucket", bucket.clone()));
                out.push(("region", region.clone()));
                out.push(("protocol", protocol.clone()));
                out.push((
                    "requeststyle",
                    if *path_style { "path" } else { "virtualhost" }.to_owned(),
                ));
                if let Some(h) = host {
                    out.push(("host", h.clone()));
                }
                if let Some(p) = port {
                    out.push(("port", p.to_string()));
                }
            }
            Storage::Webdav { url } => out.push(("url", url.clone())),
            Storage::Gdrive {
                root_folder_id,
                team_drive,
                client_id,
                endpoint,
            } => {
                for (name, v) in [
                    ("root_folder_id", root_folder_id),
                    ("team_drive", team_drive),
                    ("client_id", client_id),
                    ("gdrive_endpoint", endpoint),
                ] {
                    if let Some(v) = v {
                        out.push((name, v.clone()));
                    }
                }
            }
        }
        out.push((
            "prefix",
            self.prefix
                .as_ref()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
        ));
        out.push(("layout", self.layout.as_str().to_owned()));
        out
    }

    /// The values in use that must never be shown (`ferry_key`), for SETCONFIG at INITREMOTE
    /// beside [`Settings::stored_values`]. A plain key token in the git-annex branch is the
    /// documented price of plain mode (README, "Encryption").
    pub fn secret_values(&self) -> Vec<(&'static str, Secret<String>)> {
        self.encryption
            .key
            .iter()
            .map(|k| ("ferry_key", k.clone()))
            .collect()
    }
}

/// A value given under either of two names (ferry's and rclone gitannex's); they must agree.
fn agreed(
    value: &dyn Fn(&str) -> Option<String>,
    name: &str,
    alias: &str,
    errors: &mut Vec<String>,
) -> Option<String> {
    match (value(name), value(alias)) {
        (Some(a), Some(b)) if a != b => {
            errors.push(format!(
                "{name}={a} and {alias}={b} disagree; give one {name}"
            ));
            Some(a)
        }
        (a, b) => a.or(b),
    }
}

fn describe_path_error(e: &PathError) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)], phase: Phase) -> Result<Settings, ConfigErrors> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_config(|k| map.get(k).cloned(), phase, Path::new("/"))
    }

    #[test]
    fn defaults_to_lower_layout_without_prefix() {
        let s = settings(&[("directory", "/tmp")], Phase::Init).unwrap();
        assert_eq!(s.layout, Layout::Lower);
        assert_eq!(s.prefix, None);
        assert_eq!(
            s.storage,
            Storage::Directory {
                path: "/tmp".into(),
                fsync: true
            }
        );
    }

    #[test]
    fn layout_aliases_are_accepted_and_must_agree() {
        let s = settings(
            &[("directory", "/tmp"), ("rclone_layout", "mixed")],
            Phase::Init,
        )
        .unwrap();
        assert_eq!(s.layout, Layout::Mixed);
        let s = settings(
            &[
                ("directory", "/tmp"),
                ("rclonelayout", "nodir"),
                ("layout", "nodir"),
            ],
            Phase::Init,
        )
        .unwrap();
        assert_eq!(s.layout, Layout::Nodir);
        let e = settings(
            &[
                ("directory", "/tmp"),
                ("rclone_layout", "nodir"),
                ("layout", "lower"),
            ],
            Phase::Init,
        )
        .unwrap_err();
        assert!(e.to_string().contains("disagree"), "{e}");
    }

    #[test]
    fn every_error_is_reported_at_once_and_names_the_valid_values() {
        let e = settings(
            &[
                ("directory", "/nonexistent/ferry/x"),
                ("layout", "lowr"),
                ("fsync", "maybe"),
            ],
            Phase::Init,
        )
        .unwrap_err();
        let text = e.to_string();
        assert_eq!(e.0.len(), 3, "{text}");
        assert!(
            text.contains("lowr") && text.contains("frankencase"),
            "{text}"
        );
        assert!(text.contains("/nonexistent/ferry/x"), "{text}");
        assert!(text.contains("fsync=maybe"), "{text}");
    }

    #[test]
    fn missing_directory_is_fine_at_use_time() {
        // An unplugged disk must not make PREPARE fail; CHECKPRESENT answers UNKNOWN instead.
        assert!(settings(&[("directory", "/nonexistent/ferry/x")], Phase::Use).is_ok());
    }

    #[test]
    fn relative_directory_becomes_absolute_at_init() {
        let tmp = std::env::temp_dir();
        let map: HashMap<&str, String> = [("directory", ".".to_owned())].into_iter().collect();
        let s = Settings::from_config(|k| map.get(k).cloned(), Phase::Init, &tmp).unwrap();
        let Storage::Directory { path, .. } = &s.storage else {
            panic!("not a directory: {s:?}");
        };
        assert!(path.is_absolute());
    }

    #[test]
    fn prefix_is_validated() {
        let s = settings(
            &[("directory", "/tmp"), ("prefix", "/annex/photos/")],
            Phase::Init,
        )
        .unwrap();
        assert_eq!(s.prefix.unwrap().as_str(), "annex/photos");
        assert!(settings(&[("directory", "/tmp"), ("prefix", "a/../b")], Phase::Init).is_err());
    }

    #[test]
    fn unknown_storages_and_missing_keys_say_what_is_needed() {
        let e = settings(&[("storage", "s3")], Phase::Init).unwrap_err();
        assert!(e.to_string().contains("bucket="), "{e}");
        let e = settings(&[("storage", "webdav")], Phase::Init).unwrap_err();
        assert!(e.to_string().contains("url="), "{e}");
        let e = settings(&[("storage", "ftp")], Phase::Init).unwrap_err();
        assert!(
            e.to_string().contains("directory, s3, webdav, gdrive"),
            "{e}"
        );
    }

    #[test]
    fn s3_settings_follow_git_annex_names() {
        let s = settings(
            &[
                ("storage", "s3"),
                ("bucket", "photos"),
                ("host", "127.0.0.1"),
                ("port", "9000"),
                ("protocol", "http"),
            ],
            Phase::Init,
        )
        .unwrap();
        let Storage::S3 {
            endpoint,
            path_style,
            region,
            ..
        } = &s.storage
        else {
            panic!("not s3: {s:?}");
        };
        assert_eq!(endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(*path_style);
        assert_eq!(region, "us-east-1");
        let map: HashMap<&str, String> = s.stored_values().into_iter().collect();
        let again =
            Settings::from_config(|k| map.get(k).cloned(), Phase::Use, Path::new("/")).unwrap();
        assert_eq!(s, again);
        let aws = settings(
            &[("storage", "s3"), ("bucket", "b"), ("region", "eu-west-1")],
            Phase::Init,
        )
        .unwrap();
        assert!(matches!(
            aws.storage,
            Storage::S3 {
                endpoint: None,
                path_style: false,
                ..
            }
        ));
        assert!(
            settings(
                &[("storage", "s3"), ("bucket", "b"), ("port", "x")],
                Phase::Init
            )
            .is_err()
        );
    }

    #[test]
    fn encryption_settings_round_trip_with_the_key_apart() {
        let token = format!("ferry1:plain:{}", "ab".repeat(32));
        let s = settings(
            &[
                ("directory", "/tmp"),
                ("ferry_encryption", "chacha20poly1305"),
                ("ferry_mac", "HMACSHA512"),
                ("ferry_key", &token),
                ("ferry_keyid", "0011223344556677"),
            ],
            Phase::Use,
        )
        .unwrap();
        assert!(s.encryption.enabled());
        assert_eq!(s.encryption.mac, Mac::HmacSha512);
        let shown = s.stored_values();
        assert!(shown.iter().all(|(_, v)| !v.contains(&token)), "{shown:?}");
        assert!(!format!("{s:?}").contains(&token));
        let mut map: HashMap<&str, String> = shown.into_iter().collect();
        for (k, v) in s.secret_values() {
            map.insert(k, v.expose().clone());
        }
        let again =
            Settings::from_config(|k| map.get(k).cloned(), Phase::Use, Path::new("/")).unwrap();
        assert_eq!(s, again);
    }

    #[test]
    fn encryption_settings_that_cannot_work_are_refused() {
        let token = format!("ferry1:plain:{}", "ab".repeat(32));
        // Encryption off while a key exists would orphan every object.
        let e = settings(&[("directory", "/tmp"), ("ferry_key", &token)], Phase::Init).unwrap_err();
        assert!(e.to_string().contains("ferry_encryption=none"), "{e}");
        // In use without a key nothing can be read.
        let e = settings(
            &[("directory", "/tmp"), ("ferry_encryption", "aes256gcm")],
            Phase::Use,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no ferry_key"), "{e}");
        // ...while at initremote the key is about to be made.
        assert!(
            settings(
                &[("directory", "/tmp"), ("ferry_encryption", "aes256gcm")],
                Phase::Init
            )
            .is_ok()
        );
        let bad_token = "ferry1:plain:secretsecret";
        let e = settings(
            &[
                ("directory", "/tmp"),
                ("ferry_encryption", "aes"),
                ("ferry_mac", "sha1"),
                ("ferry_key", bad_token),
                ("ferry_passphrase", "maybe"),
            ],
            Phase::Init,
        )
        .unwrap_err();
        let text = e.to_string();
        for named in [
            "ferry_encryption=aes",
            "ferry_mac=sha1",
            "ferry_key is not a valid key token",
            "ferry_passphrase=maybe",
        ] {
            assert!(text.contains(named), "{named} not reported: {text}");
        }
        assert!(!text.contains("secretsecret"), "{text}");
    }

    #[test]
    fn stored_values_round_trip() {
        let s = settings(
            &[
                ("directory", "/tmp"),
                ("prefix", "p"),
                ("layout", "nodir"),
                ("fsync", "no"),
            ],
            Phase::Init,
        )
        .unwrap();
        let stored = s.stored_values();
        let map: HashMap<&str, String> = stored.into_iter().collect();
        let again =
            Settings::from_config(|k| map.get(k).cloned(), Phase::Use, Path::new("/")).unwrap();
        assert_eq!(s, again);
    }

    /// An rclone.conf with a local and an s3 remote, and settings naming it with rclone_config=.
    fn with_rclone_conf(
        pairs: &[(&str, &str)],
    ) -> (tempfile::TempDir, Result<Settings, ConfigErrors>) {
        let tmp = tempfile::tempdir().unwrap();
        let conf = tmp.path().join("rclone.conf");
        std::fs::write(
            &conf,
            "[loc]\ntype = local\n\n[s3]\ntype = s3\nendpoint = http://h:9\naccess_key_id = id\nsecret_access_key = TOPSECRET\n",
        )
        .unwrap();
        let mut map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        map.insert("rclone_config".into(), conf.to_string_lossy().into_owned());
        let s = Settings::from_config(|k| map.get(k).cloned(), Phase::Init, tmp.path());
        (tmp, s)
    }

    #[test]
    fn target_defaults_follow_the_bridge_that_wrote_the_config() {
        // The bash remote's names (and ferry's own initremote): prefix git-annex, layout lower.
        let (tmp, s) = with_rclone_conf(&[("target", "loc")]);
        let s = s.unwrap();
        assert_eq!(s.layout, Layout::Lower);
        assert_eq!(s.rclone.as_ref().unwrap().prefix, "git-annex");
        // rclone mkdir at initremote: the local directory now exists.
        assert!(tmp.path().join("git-annex").is_dir());
        // Only rclone gitannex's names: prefix git-annex-rclone, layout nodir.
        let (_tmp, s) = with_rclone_conf(&[("rcloneremotename", "loc")]);
        let s = s.unwrap();
        assert_eq!(s.layout, Layout::Nodir);
        assert_eq!(s.rclone.as_ref().unwrap().prefix, "git-annex-rclone");
        // externaltype=rclone-builtin says the same, whatever names it used.
        let (_tmp, s) = with_rclone_conf(&[("target", "loc"), ("externaltype", "rclone-builtin")]);
        assert_eq!(s.unwrap().layout, Layout::Nodir);
        // A layout given wins over either default.
        let (_tmp, s) = with_rclone_conf(&[("rcloneremotename", "loc"), ("rclonelayout", "mixed")]);
        assert_eq!(s.unwrap().layout, Layout::Mixed);
    }

    #[test]
    fn target_stores_only_its_name_and_path_never_credentials() {
        let (_tmp, s) = with_rclone_conf(&[("target", "s3"), ("prefix", "bucket/in/side")]);
        let s = s.unwrap();
        let Storage::S3 {
            bucket, endpoint, ..
        } = &s.storage
        else {
            panic!("not s3: {s:?}");
        };
        assert_eq!(
            (bucket.as_str(), endpoint.as_deref()),
            ("bucket", Some("http://h:9"))
        );
        assert_eq!(s.prefix.as_ref().unwrap().as_str(), "in/side");
        let stored = s.stored_values();
        let names: Vec<&str> = stored.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "target",
                "prefix",
                "layout",
                "rclone_layout",
                "rclone_config",
                "ferry_encryption"
            ]
        );
        assert!(
            stored
                .iter()
                .all(|(_, v)| !v.contains("TOPSECRET") && !v.contains("http://h"))
        );
        // What was stored reads back to the same settings.
        let map: HashMap<&str, String> = stored.into_iter().collect();
        let again =
            Settings::from_config(|k| map.get(k).cloned(), Phase::Use, Path::new("/")).unwrap();
        assert_eq!(s, again);
    }

    #[test]
    fn target_conflicts_and_bad_remotes_are_reported() {
        let (_tmp, s) = with_rclone_conf(&[("target", "loc"), ("storage", "s3")]);
        assert!(s.unwrap_err().to_string().contains("give one of them"));
        let (_tmp, s) = with_rclone_conf(&[("target", "loc"), ("rcloneremotename", "s3")]);
        assert!(s.unwrap_err().to_string().contains("disagree"));
        let (_tmp, s) = with_rclone_conf(&[("target", "gone")]);
        let e = s.unwrap_err().to_string();
        assert!(
            e.contains("no rclone remote gone") && e.contains("loc, s3"),
            "{e}"
        );
    }
}

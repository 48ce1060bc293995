//! The remote's configuration: one table of known keys drives LISTCONFIGS, validation and the
//! values written back with SETCONFIG at INITREMOTE.
//!
//! Two steps, one place each: the raw `name=value` strings git-annex hands over (GETCONFIG)
//! become a typed [`Settings`], reporting every bad key at once; [`Settings::stored_values`]
//! is what INITREMOTE persists, so a remote never changes meaning when a default changes.

use std::path::{Path, PathBuf};

use ferry_backends::layout::Layout;
use ferry_backends::{ObjectPath, PathError};

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
        description: "where objects go: directory (the default when directory= is given)",
    },
    ConfigKey {
        name: "directory",
        description: "storage=directory: the directory that holds the objects (a disk, a NAS mount); must exist",
    },
    ConfigKey {
        name: "prefix",
        description: "a sub-path inside the storage under which objects are kept (default: none)",
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
        name: "fsync",
        description: "storage=directory: yes (default) makes every stored object durable before git-annex is told it is stored; no is faster on small files but a power cut can lose objects git-annex counts",
    },
];

/// The storages ferry knows of, and whether this build has them.
const STORAGES: &[&str] = &["directory"];

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
}

impl Storage {
    /// The config name of this storage.
    pub fn name(&self) -> &'static str {
        match self {
            Storage::Directory { .. } => "directory",
        }
    }
}

/// The typed configuration of one remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where objects are kept.
    pub storage: Storage,
    /// The sub-path under which objects are kept, if any.
    pub prefix: Option<ObjectPath>,
    /// How keys are arranged under the prefix.
    pub layout: Layout,
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

impl Settings {
    /// Builds settings from config values (`get(name)` = the value, empty or `None` when unset).
    /// `cwd` makes a relative `directory=` absolute at INITREMOTE.
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
        let layout = layout.map(|(_, l)| l).unwrap_or_default();

        let prefix = match value("prefix") {
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
            other if ["s3", "webdav", "gdrive"].contains(&other) => {
                errors.push(format!(
                    "storage={other} is not available in this build of ferry yet; available: {}",
                    STORAGES.join(", ")
                ));
                None
            }
            other => {
                errors.push(format!(
                    "unknown storage={other}; expected one of: {}",
                    STORAGES.join(", ")
                ));
                None
            }
        };

        match (storage, errors.is_empty()) {
            (Some(storage), true) => Ok(Settings {
                storage,
                prefix,
                layout,
            }),
            _ => Err(ConfigErrors(errors)),
        }
    }

    /// The `name=value` pairs in use, for SETCONFIG at INITREMOTE (an unset prefix is stored
    /// empty, so that it stays unset rather than taking a future default).
    pub fn stored_values(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("storage", self.storage.name().to_owned())];
        match &self.storage {
            Storage::Directory { path, fsync } => {
                out.push(("directory", path.to_string_lossy().into_owned()));
                out.push(("fsync", if *fsync { "yes" } else { "no" }.to_owned()));
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
        let Storage::Directory { path, .. } = &s.storage;
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
    fn unavailable_storages_say_so() {
        let e = settings(&[("storage", "s3")], Phase::Init).unwrap_err();
        assert!(e.to_string().contains("storage=s3"), "{e}");
        let e = settings(&[("storage", "ftp")], Phase::Init).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
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
}

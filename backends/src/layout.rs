//! Where a git-annex key lives on a store: the only place a [`Key`] becomes an [`ObjectPath`].
//!
//! The five layouts are those of `git-annex-remote-rclone` (`rclone_layout`) and
//! `rclone gitannex` (`rclonelayout`); ferry must put and find objects at exactly their paths,
//! pinned by `tests/data/layout-vectors.tsv`. With `F` the key's object name
//! ([`Key::file_name`], git-annex's own escaping, never containing `/`):
//!
//! | layout | path |
//! |---|---|
//! | `lower` (default) | `hashdirlower(K)` + `F`, e.g. `e7d/d01/F` |
//! | `directory` | `hashdirlower(K)` + `F/F` |
//! | `nodir` | `F` |
//! | `mixed` | `hashdirmixed(K)` + `F`, e.g. `J7/0G/F` |
//! | `frankencase` | lowercase `hashdirmixed(K)` + `F` |

use std::fmt;
use std::str::FromStr;

use remote_proto::Key;
use remote_proto::dirhash::{hashdir_lower, hashdir_mixed};

use crate::path::{ObjectPath, PathError};

/// How keys are arranged on the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Layout {
    /// `hashdirlower` directories, then the object: `e7d/d01/F`. The default, as in
    /// `git-annex-remote-rclone` and git-annex's own directory special remote.
    #[default]
    Lower,
    /// `hashdirlower` directories, then a directory named after the object: `e7d/d01/F/F`.
    Directory,
    /// Every object at the top: `F`.
    Nodir,
    /// `hashdirmixed` directories (as in `.git/annex/objects`): `J7/0G/F`.
    Mixed,
    /// `hashdirmixed` directories in lowercase: `j7/0g/F`.
    Frankencase,
}

/// Every layout, in the order they are listed to users.
pub const ALL_LAYOUTS: [Layout; 5] = [
    Layout::Lower,
    Layout::Directory,
    Layout::Nodir,
    Layout::Mixed,
    Layout::Frankencase,
];

/// A layout name that is not one of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown layout={0}; expected lower, directory, nodir, mixed or frankencase")]
pub struct UnknownLayout(pub String);

impl Layout {
    /// The name used in config (`rclone_layout=`, `rclonelayout=`, `layout=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Lower => "lower",
            Layout::Directory => "directory",
            Layout::Nodir => "nodir",
            Layout::Mixed => "mixed",
            Layout::Frankencase => "frankencase",
        }
    }

    /// The hash directories this layout puts in front of a key (`e7d/d01/`), possibly empty.
    fn hash_dirs(self, key: &Key) -> String {
        match self {
            Layout::Lower | Layout::Directory => hashdir_lower(key),
            Layout::Nodir => String::new(),
            Layout::Mixed => hashdir_mixed(key),
            Layout::Frankencase => hashdir_mixed(key).to_ascii_lowercase(),
        }
    }
}

impl FromStr for Layout {
    type Err = UnknownLayout;
    fn from_str(s: &str) -> Result<Layout, UnknownLayout> {
        ALL_LAYOUTS
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownLayout(s.to_owned()))
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where `key` is stored under `prefix` with `layout`.
///
/// # Errors
/// Only for keys whose name holds a `\`, which git-annex's escaping keeps but [`ObjectPath`]
/// refuses (a separator on Windows and some WebDAV servers). Keys cannot hold NUL, whitespace
/// or a bare `..` name (every key contains `--`), so no other key fails.
pub fn object_path(
    layout: Layout,
    prefix: Option<&ObjectPath>,
    key: &Key,
) -> Result<ObjectPath, PathError> {
    let name = key.file_name();
    let mut rel = layout.hash_dirs(key);
    rel.push_str(&name);
    if layout == Layout::Directory {
        rel.push('/');
        rel.push_str(&name);
    }
    with_prefix(prefix, &rel)
}

/// Other places where peers may have stored `key`, to try on lookup when
/// [`object_path`] finds nothing. Empty for the common keys whose name needs no escaping
/// (all three implementations agree on those).
///
/// For keys holding `/ : & %` (URL, VURL, odd WORM keys):
/// - `rclone gitannex` used the raw key as a path, so each `/` made a directory level (and
///   `//` collapsed into one): `<hash>/VURL--file:/tmp/t/srcfile.txt`, and for `directory`
///   `<hash>/<raw>/<raw>`;
/// - `git-annex-remote-rclone` with `directory` stored `<hash>/<raw>/F`.
///
/// A candidate is returned only when it is a valid [`ObjectPath`] (no `..`, no `.`, no
/// trailing `/`), so a hostile key cannot reach outside the prefix.
pub fn legacy_paths(layout: Layout, prefix: Option<&ObjectPath>, key: &Key) -> Vec<ObjectPath> {
    let name = key.file_name();
    let raw = key.as_str();
    if raw == name {
        return Vec::new();
    }
    let hash = layout.hash_dirs(key);
    let nested = collapse_slashes(raw);
    let mut candidates = vec![format!("{hash}{nested}")];
    if layout == Layout::Directory {
        candidates = vec![
            format!("{hash}{nested}/{nested}"),
            format!("{hash}{nested}/{name}"),
        ];
    }
    let primary = object_path(layout, prefix, key).ok();
    let mut out: Vec<ObjectPath> = Vec::new();
    for rel in candidates {
        if let Ok(p) = with_prefix(prefix, &rel)
            && Some(&p) != primary.as_ref()
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    out
}

/// `a//b///c` → `a/b/c`, as a filesystem (and rclone) resolves it.
fn collapse_slashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

fn with_prefix(prefix: Option<&ObjectPath>, rel: &str) -> Result<ObjectPath, PathError> {
    let rel = ObjectPath::new(rel)?;
    Ok(match prefix {
        Some(prefix) => prefix.join_path(&rel),
        None => rel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::parse(s).expect("test keys are valid")
    }

    #[test]
    fn parses_every_layout_name_and_names_them_on_error() {
        for layout in ALL_LAYOUTS {
            assert_eq!(layout.as_str().parse::<Layout>(), Ok(layout));
        }
        assert_eq!(Layout::default(), Layout::Lower);
        let err = "lowr".parse::<Layout>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unknown layout=lowr; expected lower, directory, nodir, mixed or frankencase")
        );
        assert!("Lower".parse::<Layout>().is_err());
    }

    #[test]
    fn prefix_goes_in_front() -> Result<(), PathError> {
        let k = key(
            "SHA256E-s12--a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447.txt",
        );
        let prefix = ObjectPath::new("git-annex")?;
        assert_eq!(
            object_path(Layout::Lower, Some(&prefix), &k)?.as_str(),
            "git-annex/e7d/d01/SHA256E-s12--a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447.txt"
        );
        Ok(())
    }

    #[test]
    fn chunks_share_the_parent_directory_but_keep_their_name() -> Result<(), PathError> {
        let whole = key(
            "SHA256E-s2621440--d6d34fbf5d3825c9830274cc3f994975bbff41a7445894588c698ee121b04aa4.bin",
        );
        let chunk = key(
            "SHA256E-s2621440-S1048576-C2--d6d34fbf5d3825c9830274cc3f994975bbff41a7445894588c698ee121b04aa4.bin",
        );
        let a = object_path(Layout::Lower, None, &whole)?;
        let b = object_path(Layout::Lower, None, &chunk)?;
        assert_eq!(a.parent(), b.parent());
        assert_eq!(b.file_name(), chunk.as_str());
        Ok(())
    }

    #[test]
    fn legacy_paths_of_plain_keys_are_empty() {
        let k = key(
            "SHA256E-s12--a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447.txt",
        );
        for layout in ALL_LAYOUTS {
            assert!(legacy_paths(layout, None, &k).is_empty());
        }
    }

    #[test]
    fn legacy_paths_of_url_keys_nest_like_rclone_gitannex() {
        let k = key("VURL--file:///tmp/t/srcfile.txt");
        let lower: Vec<String> = legacy_paths(Layout::Lower, None, &k)
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(lower, ["151/05c/VURL--file:/tmp/t/srcfile.txt"]);
        let dir: Vec<String> = legacy_paths(Layout::Directory, None, &k)
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            dir,
            [
                "151/05c/VURL--file:/tmp/t/srcfile.txt/VURL--file:/tmp/t/srcfile.txt",
                "151/05c/VURL--file:/tmp/t/srcfile.txt/VURL--file&c%%%tmp%t%srcfile.txt",
            ]
        );
        // Only `:` to escape: the raw name is a single segment, different from F.
        let colon = key("WORM-s0-m1795524852--100%,32,38,32a:b.txt");
        let nodir = legacy_paths(Layout::Nodir, None, &colon);
        assert_eq!(nodir.len(), 1);
        assert_eq!(
            nodir[0].as_str(),
            "WORM-s0-m1795524852--100%,32,38,32a:b.txt"
        );
    }

    #[test]
    fn legacy_paths_never_climb_out() -> Result<(), PathError> {
        let prefix = ObjectPath::new("p")?;
        for raw in [
            "URL--http://h/../../../etc/passwd",
            "URL--http://h/./x",
            "URL--http://h/x/",
            "URL--http://h/a\\b",
        ] {
            let k = key(raw);
            for layout in ALL_LAYOUTS {
                assert!(
                    legacy_paths(layout, Some(&prefix), &k).is_empty(),
                    "{raw} {layout}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn backslash_keys_are_refused_not_mangled() {
        let k = key("WORM-s1-m1--a\\b");
        assert!(object_path(Layout::Lower, None, &k).is_err());
    }
}

//! [`ObjectPath`]: where an object lives inside a store, in a form that cannot escape the store.
//!
//! Storages join an `ObjectPath` onto their root (a directory, a bucket prefix, a WebDAV URL)
//! without further checks, so every rule that keeps a path inside the root is enforced here, at
//! construction, and nowhere else.

use std::fmt;
use std::str::FromStr;

/// A `/`-separated path relative to a store's root.
///
/// It is never empty and holds no leading `/`, no empty segment (so no `//` and no trailing
/// `/`), no `.` or `..` segment, no NUL and no `\` (a separator on Windows and some WebDAV
/// servers). Joined onto a root, it always names something under that root.
///
/// ```
/// use ferry_backends::ObjectPath;
/// let p = ObjectPath::new("e7d/d01/SHA256E-s12--a948.txt").unwrap();
/// assert_eq!(p.parent().unwrap().as_str(), "e7d/d01");
/// assert_eq!(p.file_name(), "SHA256E-s12--a948.txt");
/// assert!(ObjectPath::new("a/../../etc/passwd").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectPath(String);

/// Why a string is not a valid [`ObjectPath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path was empty.
    #[error("empty object path")]
    Empty,
    /// The path started with `/`.
    #[error("object path {0:?} starts with `/`; object paths are relative to the store")]
    Absolute(String),
    /// The path held an empty segment (`a//b`, a trailing `/`).
    #[error("object path {0:?} has an empty segment")]
    EmptySegment(String),
    /// The path held a `.` or `..` segment.
    #[error("object path {0:?} has a `.` or `..` segment")]
    DotSegment(String),
    /// The path held a NUL byte or a backslash.
    #[error("object path {0:?} contains a NUL byte or a backslash")]
    BadChar(String),
    /// A segment given to [`ObjectPath::join`] held a `/`.
    #[error("path segment {0:?} contains `/`; a join adds exactly one level")]
    NotOneSegment(String),
}

impl ObjectPath {
    /// Checks `path` and wraps it.
    ///
    /// # Errors
    /// [`PathError`] names the rule `path` breaks.
    pub fn new(path: &str) -> Result<ObjectPath, PathError> {
        if path.is_empty() {
            return Err(PathError::Empty);
        }
        if path.starts_with('/') {
            return Err(PathError::Absolute(path.to_owned()));
        }
        if path.contains(['\0', '\\']) {
            return Err(PathError::BadChar(path.to_owned()));
        }
        for segment in path.split('/') {
            check_segment(segment).map_err(|e| match e {
                SegmentProblem::Empty => PathError::EmptySegment(path.to_owned()),
                SegmentProblem::Dot => PathError::DotSegment(path.to_owned()),
            })?;
        }
        Ok(ObjectPath(path.to_owned()))
    }

    /// This path with one more segment appended.
    ///
    /// # Errors
    /// `segment` is empty, `.` or `..`, or holds `/`, `\` or NUL.
    pub fn join(&self, segment: &str) -> Result<ObjectPath, PathError> {
        if segment.contains('/') {
            // A join adds exactly one level; a multi-level join would be an easy way to
            // smuggle in a path built from untrusted parts.
            return Err(PathError::NotOneSegment(segment.to_owned()));
        }
        ObjectPath::new(&format!("{}/{segment}", self.0))
    }

    /// This path followed by all of `rest` (`a/b` + `c/d` = `a/b/c/d`). Both are valid, so the
    /// result is too.
    pub fn join_path(&self, rest: &ObjectPath) -> ObjectPath {
        ObjectPath(format!("{}/{}", self.0, rest.0))
    }

    /// The path without its last segment, or `None` for a one-segment path.
    pub fn parent(&self) -> Option<ObjectPath> {
        self.0
            .rsplit_once('/')
            .map(|(parent, _)| ObjectPath(parent.to_owned()))
    }

    /// The last segment.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The segments, first to last.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// True when `self` is `other` or lies below it (`a/b/c` starts with `a/b`, not with `a/bc`).
    pub fn starts_with(&self, other: &ObjectPath) -> bool {
        match self.0.strip_prefix(&other.0) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    /// The `/`-separated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

enum SegmentProblem {
    Empty,
    Dot,
}

fn check_segment(segment: &str) -> Result<(), SegmentProblem> {
    match segment {
        "" => Err(SegmentProblem::Empty),
        "." | ".." => Err(SegmentProblem::Dot),
        _ => Ok(()),
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ObjectPath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<ObjectPath, PathError> {
        ObjectPath::new(s)
    }
}

impl AsRef<str> for ObjectPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Component, Path};

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for ok in [
            "a",
            "e7d/d01/SHA256E-s12--a948.txt",
            "..a/b..",
            ".hidden",
            "a b/ünï ç/100%&:x",
            "URL--http&c%%example.com%file.txt",
        ] {
            assert_eq!(
                ObjectPath::new(ok).map(|p| p.to_string()),
                Ok(ok.to_owned())
            );
        }
    }

    #[test]
    fn rejects_paths_that_could_escape_or_confuse() {
        let cases = [
            ("", PathError::Empty),
            ("/etc/passwd", PathError::Absolute("/etc/passwd".into())),
            ("a//b", PathError::EmptySegment("a//b".into())),
            ("a/", PathError::EmptySegment("a/".into())),
            ("..", PathError::DotSegment("..".into())),
            ("a/../b", PathError::DotSegment("a/../b".into())),
            ("./a", PathError::DotSegment("./a".into())),
            ("a\\..\\b", PathError::BadChar("a\\..\\b".into())),
            ("a\0b", PathError::BadChar("a\0b".into())),
        ];
        for (input, err) in cases {
            assert_eq!(ObjectPath::new(input), Err(err), "{input:?}");
        }
    }

    #[test]
    fn join_adds_exactly_one_segment() -> Result<(), PathError> {
        let base = ObjectPath::new("a/b")?;
        assert_eq!(base.join("c")?.as_str(), "a/b/c");
        assert!(base.join("..").is_err());
        assert!(base.join("c/d").is_err());
        assert!(base.join("").is_err());
        assert_eq!(base.join_path(&ObjectPath::new("c/d")?).as_str(), "a/b/c/d");
        Ok(())
    }

    #[test]
    fn parent_file_name_and_segments() -> Result<(), PathError> {
        let p = ObjectPath::new("e7d/d01/K")?;
        assert_eq!(p.parent(), Some(ObjectPath::new("e7d/d01")?));
        assert_eq!(p.file_name(), "K");
        assert_eq!(p.segments().collect::<Vec<_>>(), ["e7d", "d01", "K"]);
        assert_eq!(ObjectPath::new("K")?.parent(), None);
        assert_eq!(ObjectPath::new("K")?.file_name(), "K");
        Ok(())
    }

    #[test]
    fn starts_with_respects_segment_boundaries() -> Result<(), PathError> {
        let p = ObjectPath::new("a/bc/d")?;
        assert!(p.starts_with(&ObjectPath::new("a")?));
        assert!(p.starts_with(&ObjectPath::new("a/bc")?));
        assert!(p.starts_with(&p));
        assert!(!p.starts_with(&ObjectPath::new("a/b")?));
        Ok(())
    }

    /// Strings built mostly from the characters that make paths dangerous.
    fn hostile_path() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("/".to_owned()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("\\".to_owned()),
            Just("\0".to_owned()),
            Just("~".to_owned()),
            "[a-zA-Z0-9 %&:ü]{0,3}",
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn no_accepted_path_escapes_the_root(s in hostile_path()) {
            if let Ok(p) = ObjectPath::new(&s) {
                // Every component the OS sees is a plain name: no root, no `.`, no `..`.
                let root = Path::new("/store/root");
                let joined = root.join(p.as_str());
                prop_assert!(joined.starts_with(root));
                let rel = Path::new(p.as_str());
                prop_assert!(rel.components().all(|c| matches!(c, Component::Normal(_))));
                prop_assert_eq!(rel.components().count(), p.segments().count());
                prop_assert!(!p.as_str().contains(['\0', '\\']));
            }
        }

        #[test]
        fn any_string_never_panics_and_round_trips(s in any::<String>()) {
            if let Ok(p) = ObjectPath::new(&s) {
                prop_assert_eq!(p.as_str(), s.as_str());
                prop_assert_eq!(p.segments().collect::<Vec<_>>().join("/"), s);
                if let Some(parent) = p.parent() {
                    prop_assert!(p.starts_with(&parent));
                    prop_assert_eq!(parent.join(p.file_name()), Ok(p.clone()));
                }
            }
        }
    }
}

//! [`BackendError`]: what failed, where, on which store, why, and what to do about it.
//!
//! Every storage classifies its native errors once, in its own `map_error`, into an
//! [`ErrorKind`] the engine can act on. The engine's CHECKPRESENT, for instance, may answer
//! "absent" only from `Ok(None)`; every `BackendError`, whatever its kind, becomes UNKNOWN.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::Path;

/// A boxed error from below (an `io::Error`, an HTTP client error…).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What kind of failure happened, as far as a caller can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The object (or directory) is not there. The store answered; nothing is broken.
    NotFound,
    /// The store refused access: file permissions, credentials, a read-only store.
    PermissionDenied,
    /// The store could not be reached or is not there at all: an unmounted disk, a missing
    /// root directory, a network failure, a timeout, a server error. Worth retrying later.
    Unreachable,
    /// The remote's configuration is wrong (bad value, root is not a directory…).
    Config,
    /// The storage cannot do this operation at all (see [`crate::Capabilities`]).
    Unsupported,
    /// A local file handed over by git-annex could not be read or written. Not the store's
    /// fault: the store may be perfectly fine.
    Local,
    /// The object is there but failed its integrity check: a ferry-encrypted object that was
    /// modified, truncated, swapped with another, or written under another key
    /// ([`crate::sealed`]). Retrying the same store will fail the same way; the cause says what
    /// was wrong.
    Damaged,
    /// Anything else: a full disk, an I/O error, an object that changed while being read.
    Other,
}

impl ErrorKind {
    /// A short lowercase phrase for messages (`permission denied`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Unreachable => "store unreachable",
            ErrorKind::Config => "misconfigured",
            ErrorKind::Unsupported => "not supported by this storage",
            ErrorKind::Local => "local file error",
            ErrorKind::Damaged => "integrity check failed",
            ErrorKind::Other => "failed",
        }
    }

    /// What the user can do about an error of this kind, when a storage gives no better hint.
    fn default_hint(self) -> Option<&'static str> {
        match self {
            ErrorKind::NotFound => None,
            ErrorKind::PermissionDenied => {
                Some("check that the user running git-annex may read and write there")
            }
            ErrorKind::Unreachable => {
                Some("check that the store is mounted or online, then try again")
            }
            ErrorKind::Config => Some("fix the remote's configuration with git annex enableremote"),
            ErrorKind::Unsupported => None,
            ErrorKind::Local => Some("check the local file and the free space on this disk"),
            // The cause (a ferry_crypto::Error) already says what was wrong and what to do.
            ErrorKind::Damaged => None,
            ErrorKind::Other => None,
        }
    }

    /// Classifies an `io::Error` by its portable kind, for errors that carry no storage-specific
    /// meaning (stream errors, local files). Storages refine this in their own `map_error`.
    ///
    /// A format error of ferry's encryption carried in an `io::Error` (what the decrypting
    /// streams of [`crate::sealed`] yield) is [`ErrorKind::Damaged`], whatever its io kind.
    pub fn from_io(err: &io::Error) -> ErrorKind {
        use io::ErrorKind as K;
        if ferry_crypto::Error::from_io(err).is_some() {
            return ErrorKind::Damaged;
        }
        match err.kind() {
            K::NotFound => ErrorKind::NotFound,
            K::PermissionDenied | K::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
            K::TimedOut
            | K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::BrokenPipe
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::StaleNetworkFileHandle
            | K::Interrupted => ErrorKind::Unreachable,
            K::Unsupported => ErrorKind::Unsupported,
            _ => ErrorKind::Other,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation on a store (or on a local file) failed.
///
/// `Display` gives one complete line meant for git-annex (which shows only one message):
/// `cannot store e7d/d01/K in directory /mnt/nas/annex: permission denied (Permission denied
/// (os error 13)); check that the user running git-annex may read and write there`.
///
/// Departure from style.md §4: the underlying cause is part of the `Display` text and is *not*
/// returned by [`std::error::Error::source`], because the engine sends `to_string()` to
/// git-annex as the whole story and `anyhow`'s `{:#}` would otherwise print the cause twice.
/// [`BackendError::cause`] still gives it to code that wants to inspect it.
#[derive(Debug)]
pub struct BackendError {
    /// What kind of failure this is; the engine decides on it.
    pub kind: ErrorKind,
    op: &'static str,
    location: String,
    storage: String,
    hint: Option<Cow<'static, str>>,
    cause: Option<BoxError>,
}

impl BackendError {
    /// A new error: `op` is a verb phrase (`store`, `read`, `look up`, `delete`), `location` the
    /// object path (or empty for the whole store), `storage` the store as described to users
    /// (`directory /mnt/nas/annex`).
    pub fn new(
        kind: ErrorKind,
        op: &'static str,
        location: impl Into<String>,
        storage: impl Into<String>,
    ) -> BackendError {
        BackendError {
            kind,
            op,
            location: location.into(),
            storage: storage.into(),
            hint: None,
            cause: None,
        }
    }

    /// A local file given by git-annex could not be read or written (kind [`ErrorKind::Local`]).
    pub fn local(op: &'static str, path: &Path, err: io::Error) -> BackendError {
        BackendError::new(
            ErrorKind::Local,
            op,
            format!("local file {}", path.display()),
            "",
        )
        .with_cause(err)
    }

    /// The storage cannot do `op` at all (kind [`ErrorKind::Unsupported`]).
    pub fn unsupported(op: &'static str, storage: impl Into<String>) -> BackendError {
        BackendError::new(ErrorKind::Unsupported, op, "", storage)
    }

    /// There is no object at `location` (kind [`ErrorKind::NotFound`]).
    pub fn not_found(
        op: &'static str,
        location: impl Into<String>,
        storage: impl Into<String>,
    ) -> BackendError {
        BackendError::new(ErrorKind::NotFound, op, location, storage)
    }

    /// Attaches the underlying error.
    pub fn with_cause(mut self, cause: impl Into<BoxError>) -> BackendError {
        self.cause = Some(cause.into());
        self
    }

    /// Replaces the kind's generic advice with a storage-specific one
    /// (`check that the disk holding /mnt/usb is mounted`).
    pub fn with_hint(mut self, hint: impl Into<Cow<'static, str>>) -> BackendError {
        self.hint = Some(hint.into());
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The operation that failed (`store`, `look up`…).
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// The object path (or local file) concerned; empty when the whole store is.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The store, as described to users; empty for local-file errors.
    pub fn storage(&self) -> &str {
        &self.storage
    }

    /// The underlying error, if any (also shown in the `Display` text).
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.cause.as_deref()
    }

    /// True when trying the same operation again later may succeed (the store was
    /// unreachable); false when the same request will fail the same way.
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Unreachable
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {}", self.op)?;
        if !self.location.is_empty() {
            write!(f, " {}", self.location)?;
        }
        if !self.storage.is_empty() {
            write!(f, " in {}", self.storage)?;
        }
        write!(f, ": {}", self.kind)?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause})")?;
        }
        let hint = self.hint.as_deref().or(self.kind.default_hint());
        if let Some(hint) = hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BackendError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_says_what_where_and_what_to_do() {
        let err = BackendError::new(
            ErrorKind::PermissionDenied,
            "store",
            "e7d/d01/SHA256E-s5--x.jpg",
            "directory /mnt/nas/annex",
        )
        .with_cause(io::Error::from(io::ErrorKind::PermissionDenied));
        let text = err.to_string();
        assert!(
            text.starts_with(
                "cannot store e7d/d01/SHA256E-s5--x.jpg in directory /mnt/nas/annex: permission denied ("
            ),
            "{text}"
        );
        assert!(
            text.ends_with("; check that the user running git-annex may read and write there"),
            "{text}"
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn local_error_names_the_file_and_no_store() {
        let err = BackendError::local(
            "read",
            Path::new("/tmp/a b.txt"),
            io::Error::from(io::ErrorKind::NotFound),
        );
        assert_eq!(err.kind(), ErrorKind::Local);
        assert!(
            err.to_string()
                .starts_with("cannot read local file /tmp/a b.txt: local file error ("),
            "{err}"
        );
        assert!(err.cause().is_some());
        assert!(!err.is_retryable());
    }

    #[test]
    fn custom_hint_replaces_the_default_one() {
        let err = BackendError::new(ErrorKind::Unreachable, "look up", "a", "directory /mnt/x")
            .with_hint("check that the disk holding /mnt/x is mounted");
        assert_eq!(
            err.to_string(),
            "cannot look up a in directory /mnt/x: store unreachable; check that the disk holding /mnt/x is mounted"
        );
        assert!(err.is_retryable());
    }

    #[test]
    fn io_kinds_classify_network_trouble_as_unreachable() {
        let kinds = [
            (io::ErrorKind::NotFound, ErrorKind::NotFound),
            (io::ErrorKind::PermissionDenied, ErrorKind::PermissionDenied),
            (io::ErrorKind::TimedOut, ErrorKind::Unreachable),
            (io::ErrorKind::ConnectionReset, ErrorKind::Unreachable),
            (io::ErrorKind::StorageFull, ErrorKind::Other),
        ];
        for (io_kind, kind) in kinds {
            assert_eq!(
                ErrorKind::from_io(&io::Error::from(io_kind)),
                kind,
                "{io_kind:?}"
            );
        }
    }

    #[test]
    fn io_errors_carrying_a_crypto_failure_are_damaged() {
        // A truncated object surfaces as UnexpectedEof, yet it is the object that is bad.
        let truncated: io::Error = ferry_crypto::Error::Truncated { len: 60 }.into();
        assert_eq!(truncated.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(ErrorKind::from_io(&truncated), ErrorKind::Damaged);
        let forged: io::Error = ferry_crypto::Error::AuthenticationFailed { segment: 3 }.into();
        assert_eq!(ErrorKind::from_io(&forged), ErrorKind::Damaged);
        assert_eq!(
            ErrorKind::from_io(&io::Error::from(io::ErrorKind::UnexpectedEof)),
            ErrorKind::Other
        );
    }
}

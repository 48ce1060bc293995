//! ferry's storages behind one async [`Backend`] trait.
//!
//! The engine (in `bin/`) turns a git-annex key into an [`ObjectPath`] with [`layout`], then
//! asks a `Backend` to store, fetch, stat or delete the object there. Every storage (directory,
//! S3, WebDAV, Google Drive, the in-memory one used by tests) implements the same trait and
//! passes the same behavior suite (`tests/behavior/`).
//!
//! Modules: [`path`] ([`ObjectPath`], a store-relative path that cannot escape), [`layout`]
//! (key → path, the only place), [`error`] ([`BackendError`], [`ErrorKind`]), and the storages:
//! [`directory`] (std fs), [`s3`] and [`webdav`] (OpenDAL, with a streaming WebDAV upload of
//! our own; shared timeouts and retries in [`http_common`]), [`gdrive`] (our own Drive v3
//! client on reqwest) and [`memory`] (for tests). [`sealed`] wraps any of them in ferry's own
//! encryption (`ferry_encryption=`).
//!
//! Two promises every implementation keeps, because git-annex's safety rests on them:
//! - **Atomic put**: nothing is visible at a path until every byte of it is stored.
//! - **Three-valued presence**: [`Backend::stat`] returns `Ok(None)` only when the store
//!   answered "not there"; anything it could not check is an `Err` ([`ErrorKind`] says why),
//!   which the engine turns into `CHECKPRESENT-UNKNOWN`, never `-FAILURE`.

pub mod directory;
pub mod error;
pub mod gdrive;
pub mod http_common;
pub mod layout;
pub mod memory;
pub mod path;
pub mod s3;
pub mod sealed;
pub mod webdav;

use std::fmt::Debug;
use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;
use futures::stream::BoxStream;

pub use error::{BackendError, ErrorKind};
pub use path::{ObjectPath, PathError};

/// A stream of object bytes, as read from a store or a local file.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Called with the cumulative number of bytes moved so far (for git-annex's `PROGRESS`).
/// Implementations call it often enough for stall detection (at least every few MiB) and
/// cheaply (it must not block).
pub type Progress<'a> = &'a (dyn Fn(u64) + Send + Sync);

/// What a store knows about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Length in bytes.
    pub len: u64,
    /// Last modification, when the store reports one.
    pub modified: Option<SystemTime>,
}

/// One object found by [`Backend::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Where the object is.
    pub path: ObjectPath,
    /// Its length and time.
    pub meta: ObjectMeta,
}

/// What a storage can do, as plain data (never discovered by probing the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// [`Backend::rename`] is supported (needed by export's RENAMEEXPORT).
    pub rename: bool,
    /// [`Backend::list`] is supported (needed by import and by `ferry` inspection commands).
    pub list: bool,
    /// The store lives on this machine (git-annex `GETAVAILABILITY` answers `LOCAL`).
    pub local: bool,
}

/// A human description of a store for `git annex info` and error messages. Never holds secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// The storage kind as named in config: `directory`, `s3`, `webdav`, `gdrive`, `memory`.
    pub storage: &'static str,
    /// Where the objects live, e.g. `/mnt/nas/annex` or `s3://bucket/prefix at host`.
    pub location: String,
}

impl std::fmt::Display for Description {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.storage, self.location)
    }
}

/// One storage service. See the crate docs for the two promises every implementation keeps.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + Debug {
    /// What this storage supports.
    fn capabilities(&self) -> Capabilities;

    /// The storage kind and location, for `git annex info` and messages.
    fn describe(&self) -> Description;

    /// Checks that the store is usable now (its root exists and is a directory, the bucket
    /// answers, the credentials work). Used at INITREMOTE and by `ferry` diagnostics.
    ///
    /// # Errors
    /// The reason the store cannot be used, classified like every other error.
    async fn check(&self) -> Result<(), BackendError>;

    /// Makes a new store ready, or adopts an existing one, at INITREMOTE (which also runs at
    /// `enableremote` and autoenable, so it is idempotent and never touches objects). The
    /// directory storage writes its store marker here; see [`directory`].
    ///
    /// # Errors
    /// The store cannot be used (missing root, no permission, bad credentials).
    async fn initialize(&self) -> Result<(), BackendError> {
        self.check().await
    }

    /// Deletes what interrupted uploads left behind (temporary files of a killed STORE,
    /// unfinished multipart uploads), never touching an upload that is still running. Returns
    /// how many were removed. The engine calls it at PREPARE.
    ///
    /// # Errors
    /// The store could not be cleaned now; nothing is lost, a later call tries again.
    async fn clean_stale_uploads(&self) -> Result<usize, BackendError> {
        Ok(0)
    }

    /// Looks up an object. `Ok(None)` only when the store definitely answered "not there".
    ///
    /// # Errors
    /// Anything that prevented a definite answer: permission denied, missing store root
    /// (an unmounted disk), network failure, timeout.
    async fn stat(&self, path: &ObjectPath) -> Result<Option<ObjectMeta>, BackendError>;

    /// Stores `len` bytes from `body` at `path`, replacing any object there. Atomic: readers see
    /// either the old object (or none) or all of the new one, never a part.
    ///
    /// # Errors
    /// The put failed; nothing new is visible at `path`.
    async fn put(
        &self,
        path: &ObjectPath,
        body: ByteStream,
        len: u64,
        progress: Progress<'_>,
    ) -> Result<(), BackendError>;

    /// Stores the local file `source` at `path`, with [`Backend::put`]'s atomicity. The default
    /// streams the file into `put`; a storage may do better (the directory storage copies in the
    /// kernel).
    ///
    /// # Errors
    /// As for `put`, plus a source file that cannot be read (kind [`ErrorKind::Local`]).
    async fn put_file(
        &self,
        path: &ObjectPath,
        source: &Path,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        let file = tokio::fs::File::open(source)
            .await
            .map_err(|e| BackendError::local("open", source, e))?;
        let len = file
            .metadata()
            .await
            .map_err(|e| BackendError::local("stat", source, e))?
            .len();
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
        self.put(path, Box::pin(stream), len, progress).await
    }

    /// Reads the object at `path` from byte `offset` to its end.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] when there is no such object; otherwise why it could not be read.
    async fn get(&self, path: &ObjectPath, offset: u64) -> Result<ByteStream, BackendError>;

    /// Fetches the object at `path` into the local file `dest`, resuming when `dest` already
    /// holds a prefix of it: a shorter `dest` is appended to, a complete one is left alone and a
    /// longer one is rewritten. Writes in order, without holes, calling `progress` with the
    /// total length of `dest` so far.
    ///
    /// # Errors
    /// As for `get`, plus a `dest` that cannot be written (kind [`ErrorKind::Local`]).
    async fn get_to_file(
        &self,
        path: &ObjectPath,
        dest: &Path,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        stream_to_file::get_to_file(self, path, dest, progress).await
    }

    /// Deletes the object at `path`. Deleting an absent object succeeds.
    ///
    /// # Errors
    /// The object may still be there.
    async fn delete(&self, path: &ObjectPath) -> Result<(), BackendError>;

    /// Lists every object under the directory `prefix` (the whole store for `None`), recursively,
    /// leaving out the storage's own temporary files.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] unless `capabilities().list`; otherwise why listing failed.
    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ListEntry>, BackendError>;

    /// Moves the object at `from` to `to`, replacing `to`.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] unless `capabilities().rename`; [`ErrorKind::NotFound`] when
    /// `from` is absent.
    async fn rename(&self, from: &ObjectPath, to: &ObjectPath) -> Result<(), BackendError>;

    /// Removes the directory `dir` if it holds no objects any more (export's
    /// REMOVEEXPORTDIRECTORY). An absent directory is success. Never deletes objects.
    ///
    /// # Errors
    /// The directory is still there and empty.
    async fn remove_empty_dir(&self, dir: &ObjectPath) -> Result<(), BackendError>;
}

mod stream_to_file;

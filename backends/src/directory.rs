//! The directory storage: objects are files under a local (or locally mounted) directory.
//!
//! Built on `std::fs` (run on tokio's blocking pool) rather than OpenDAL's `fs` service,
//! because data safety here rests on details a generic layer hides:
//! - **"absent" vs "store gone"**: OpenDAL maps `ENOENT` anywhere in the path to `NotFound`, so
//!   an unmounted disk would read as "every object absent" and git-annex would rewrite its
//!   location log. Here an `ENOENT` on an object is only believed after checking that the store
//!   root itself exists ([`DirectoryBackend`] never creates the root, so data cannot silently
//!   land on the empty mount point either).
//! - **the write protocol**: temp file in `.ferry-tmp/`, held under an exclusive lock while
//!   written (so a crashed writer's leftovers can be told from a live one's), `fsync`, `rename`,
//!   `fsync` of the directory, each step under our control and switchable ([`DirectoryOptions`]).
//! - **speed**: `put_file`/`get_to_file` copy with `copy_file_range` (what `std::io::copy`
//!   does between two files on Linux) in 8 MiB steps, so the bytes never pass through user space
//!   and memory stays flat whatever the file size, with progress after every step.
//! - **per-request cost**: on a disk of this machine, a `stat` or a small copy takes a few
//!   microseconds, while a trip to tokio's blocking pool (wake a thread, wake the event loop
//!   back) costs tens; git-annex sends tens of thousands of such requests in a `fsck` or a
//!   `copy` of small files. So on local filesystems metadata calls and copies up to
//!   [`INLINE_COPY_MAX`] run on the calling task ([`FsCalls`]); network filesystems, where one
//!   call may wait on a server, keep every call on the pool so that ASYNC jobs never wait on
//!   each other.
//!
//! Unix only: stale-temp detection reads the link count of an open file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::{
    Backend, BackendError, ByteStream, Capabilities, Description, ErrorKind, ListEntry, ObjectMeta,
    ObjectPath, Progress,
};

/// The directory (under the prefix) holding files being written; never listed as objects.
pub const TEMP_DIR: &str = ".ferry-tmp";

/// The file (under the prefix) that marks a directory as a ferry store, written at INITREMOTE.
///
/// Why: when the configured directory is itself a mount point, an unmounted disk leaves an
/// empty directory behind, and "no such object" would then be believed for every key. So an
/// object is only reported absent, and a STORE only writes, where this marker is present; a
/// missing marker is "store unreachable" (CHECKPRESENT-UNKNOWN). This also keeps a STORE from
/// filling the empty mount point on the system disk.
pub const STORE_MARKER: &str = ".ferry-store";

/// What the marker says to a person who finds it.
const STORE_MARKER_TEXT: &str = "This directory is a ferry store: git-annex keeps copies of files here.\n\
Do not delete this file: ferry checks for it to tell an unplugged disk from an empty store.\n";

/// How much is copied between two progress reports and cancellation checks.
const COPY_STEP: u64 = 8 * 1024 * 1024;

/// How many bytes a streamed `put` writes before it asks the kernel to start writing them to
/// disk (see [`start_writeback`]).
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// Read size of the streams returned by [`Backend::get`].
const READ_CHUNK: usize = 256 * 1024;

/// Copies up to this size run on the calling task when calls are inline ([`FsCalls`]): in the
/// page cache that is a few hundred microseconds at most, less than the pool round trip it saves
/// for the many small files (and 1 MiB chunks) git-annex moves.
pub const INLINE_COPY_MAX: u64 = 1024 * 1024;

/// Tunables of the directory storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryOptions {
    /// Flush each object to disk before making it visible, and its directory after: an object
    /// that CHECKPRESENT reports survives a power cut. Costs a disk flush per object.
    pub fsync: bool,
    /// Where filesystem calls run.
    pub calls: FsCalls,
}

impl Default for DirectoryOptions {
    fn default() -> DirectoryOptions {
        DirectoryOptions {
            fsync: true,
            calls: FsCalls::Auto,
        }
    }
}

/// Where the storage's filesystem calls run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsCalls {
    /// Inline when the store's filesystem is a known local one (ext4, xfs, btrfs, tmpfs, zfs,
    /// …), on the pool otherwise (NFS, SMB, FUSE mounts such as sshfs or rclone mount, and
    /// anything not recognised). Decided at the first call that finds the store's root.
    Auto,
    /// Metadata calls and copies up to [`INLINE_COPY_MAX`] on the calling task; longer copies
    /// and listings still go to the pool.
    Inline,
    /// Every call on tokio's blocking pool.
    BlockingPool,
}

/// A store in a local directory: the object at `p` is the file `root/prefix/p`.
#[derive(Debug, Clone)]
pub struct DirectoryBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The configured directory; must exist (it is never created).
    root: PathBuf,
    /// `root/prefix`: where object paths start; created on demand.
    base: PathBuf,
    options: DirectoryOptions,
    /// `directory <base>`, for messages.
    storage: String,
    /// Makes temp names unique within this process.
    counter: AtomicU64,
    /// Whether calls run inline, once [`FsCalls::Auto`] has looked at the filesystem.
    inline: OnceLock<bool>,
}

impl DirectoryBackend {
    /// A store whose objects live under `root/prefix`. Nothing is touched on disk until the
    /// first operation; `root` must then exist, `root/prefix` is created when needed.
    pub fn new(
        root: PathBuf,
        prefix: Option<ObjectPath>,
        options: DirectoryOptions,
    ) -> DirectoryBackend {
        let base = match &prefix {
            Some(prefix) => root.join(prefix.as_str()),
            None => root.clone(),
        };
        let storage = format!("directory {}", base.display());
        DirectoryBackend {
            inner: Arc::new(Inner {
                root,
                base,
                options,
                storage,
                counter: AtomicU64::new(0),
                inline: OnceLock::new(),
            }),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &DirectoryOptions {
        &self.inner.options
    }

    /// Deletes temp files left by writers that died (a STORE killed with `kill -9`), and
    /// returns how many were removed. A file whose writer is alive is locked by it and left
    /// alone, so this is safe to run at any time, also while other processes store objects.
    ///
    /// # Errors
    /// The temp directory exists but cannot be read.
    pub async fn cleanup_stale_temps(&self) -> Result<usize, BackendError> {
        let inner = self.inner.clone();
        run_blocking(move || inner.cleanup_stale_temps()).await
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Inner) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<T, BackendError> {
        let inner = self.inner.clone();
        run_blocking(move || job(&inner)).await
    }

    /// Runs a short filesystem call (no data copied): inline when calls are, else on the pool.
    async fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Inner) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<T, BackendError> {
        if self.inner.inline() {
            job(&self.inner)
        } else {
            self.run(job).await
        }
    }
}

/// Classifies an I/O error from the directory store; the one place that does.
pub fn map_error(err: &io::Error) -> ErrorKind {
    match err.kind() {
        // A file where a directory should be: the configured path (or the
        // tree under it) is wrong, and retrying will not fix it.
        io::ErrorKind::NotADirectory => ErrorKind::Config,
        _ => ErrorKind::from_io(err),
    }
}

/// Advice for errors whose kind alone does not say what to do.
fn hint_for(err: &io::Error) -> Option<&'static str> {
    match err.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            Some("free some space on the store")
        }
        io::ErrorKind::NotADirectory => {
            Some("a file is in the way of a directory; check the directory setting")
        }
        _ => None,
    }
}

impl Inner {
    fn err(&self, op: &'static str, location: &str, err: io::Error) -> BackendError {
        let hint = hint_for(&err);
        let out =
            BackendError::new(map_error(&err), op, location, self.storage.clone()).with_cause(err);
        match hint {
            Some(hint) => out.with_hint(hint),
            None => out,
        }
    }

    fn fail(&self, kind: ErrorKind, op: &'static str, location: &str, why: String) -> BackendError {
        BackendError::new(kind, op, location, self.storage.clone()).with_cause(why)
    }

    /// Whether short calls run on the calling task (see [`FsCalls`]).
    fn inline(&self) -> bool {
        match self.options.calls {
            FsCalls::Inline => true,
            FsCalls::BlockingPool => false,
            FsCalls::Auto => {
                if let Some(inline) = self.inline.get() {
                    return *inline;
                }
                // Until the root can be examined (a disk not mounted yet) use the pool, and
                // look again next time.
                match local_filesystem(&self.root) {
                    Some(local) => *self.inline.get_or_init(|| local),
                    None => false,
                }
            }
        }
    }

    /// The file for `path`, refusing paths inside our temp directory (an object put there
    /// would look like a stale temp file and be deleted by cleanup).
    fn resolve(&self, op: &'static str, path: &ObjectPath) -> Result<PathBuf, BackendError> {
        let first = path.segments().next();
        if first == Some(TEMP_DIR) || first == Some(STORE_MARKER) {
            return Err(BackendError::new(
                ErrorKind::Unsupported,
                op,
                path.as_str(),
                self.storage.clone(),
            )
            .with_cause(format!(
                "{TEMP_DIR} and {STORE_MARKER} are reserved for ferry's own files"
            )));
        }
        Ok(self.base.join(path.as_str()))
    }

    /// Succeeds when the store root exists and is a directory. Called only after something
    /// was not found, to decide whether "not found" is a true answer or a missing store
    /// (an unmounted disk, a typo in the configured directory).
    fn require_root(&self, op: &'static str, location: &str) -> Result<(), BackendError> {
        match fs::metadata(&self.root) {
            Ok(meta) if meta.is_dir() => self.require_marker(op, location),
            Ok(_) => {
                Err(
                    BackendError::new(ErrorKind::Unreachable, op, location, self.storage.clone())
                        .with_cause(format!("{} is not a directory", self.root.display()))
                        .with_hint("check the remote's directory setting"),
                )
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(
                    BackendError::new(ErrorKind::Unreachable, op, location, self.storage.clone())
                        .with_cause(format!("{} does not exist", self.root.display()))
                        .with_hint(format!(
                            "check that the disk holding {} is mounted",
                            self.root.display()
                        )),
                )
            }
            Err(e) => Err(self.err(op, location, e)),
        }
    }

    fn stat(&self, path: &ObjectPath) -> Result<Option<ObjectMeta>, BackendError> {
        const OP: &str = "look up";
        let file = self.resolve(OP, path)?;
        match fs::metadata(&file) {
            Ok(meta) if meta.is_file() => Ok(Some(object_meta(&meta))),
            Ok(_) => Err(self.fail(
                ErrorKind::Other,
                OP,
                path.as_str(),
                "a directory or special file is where the object should be".into(),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A dangling symlink is not "absent": its target may be on a disk that is not
                // mounted now.
                if fs::symlink_metadata(&file).is_ok() {
                    return Err(self.fail(
                        ErrorKind::Unreachable,
                        OP,
                        path.as_str(),
                        "the object is a symlink to something missing".into(),
                    ));
                }
                self.require_root(OP, path.as_str())?;
                Ok(None)
            }
            Err(e) => Err(self.err(OP, path.as_str(), e)),
        }
    }

    /// Succeeds when the store marker is in place (see [`STORE_MARKER`]).
    fn require_marker(&self, op: &'static str, location: &str) -> Result<(), BackendError> {
        match fs::metadata(self.base.join(STORE_MARKER)) {
            Ok(meta) if meta.is_file() => Ok(()),
            Ok(_) => Err(self.fail(
                ErrorKind::Config,
                op,
                location,
                format!("{STORE_MARKER} in {} is not a file", self.base.display()),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BackendError::new(
                ErrorKind::Unreachable,
                op,
                location,
                self.storage.clone(),
            )
            .with_cause(format!(
                "{} is not marked as a ferry store ({STORE_MARKER} is missing)",
                self.base.display()
            ))
            .with_hint(
                "if the disk is not mounted, mount it; if this really is the store (one made by another tool), run `git annex enableremote` on the remote to adopt it",
            )),
            Err(e) => Err(self.err(op, location, e)),
        }
    }

    /// Creates the directories under the root that lead to the store and writes the store
    /// marker, durably. Never creates the root: that is the disk the user named.
    fn initialize(&self) -> Result<(), BackendError> {
        const OP: &str = "initialize";
        match fs::metadata(&self.root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(self.fail(
                    ErrorKind::Unreachable,
                    OP,
                    "",
                    format!("{} is not a directory", self.root.display()),
                ));
            }
            Err(e) => return Err(self.err(OP, "", e)),
        }
        let marker = self.base.join(STORE_MARKER);
        if fs::metadata(&marker).map(|m| m.is_file()).unwrap_or(false) {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut cur = self.base.as_path();
        while cur != self.root && fs::symlink_metadata(cur).is_err() {
            missing.push(cur.to_path_buf());
            match cur.parent() {
                Some(parent) => cur = parent,
                None => break,
            }
        }
        for dir in missing.iter().rev() {
            match fs::create_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(self.err(OP, "", e)),
            }
        }
        let temp = self
            .base
            .join(format!("{STORE_MARKER}.{}.tmp", std::process::id()));
        let write = || -> io::Result<()> {
            let mut f = File::create(&temp)?;
            io::Write::write_all(&mut f, STORE_MARKER_TEXT.as_bytes())?;
            f.sync_all()?;
            fs::rename(&temp, &marker)?;
            File::open(&self.base)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&temp);
            self.err(OP, STORE_MARKER, e)
        })
    }

    /// Creates `dir` and its missing parents below the root (never the root itself), and
    /// with `fsync` makes the new entries durable.
    fn create_dirs(
        &self,
        op: &'static str,
        location: &str,
        dir: &Path,
    ) -> Result<(), BackendError> {
        self.require_root(op, location)?;
        let mut missing = Vec::new();
        let mut cur = dir;
        while cur != self.root && fs::symlink_metadata(cur).is_err() {
            missing.push(cur.to_owned());
            match cur.parent() {
                Some(parent) => cur = parent,
                None => break,
            }
        }
        fs::create_dir_all(dir).map_err(|e| self.err(op, location, e))?;
        if self.options.fsync {
            for created in &missing {
                if let Some(parent) = created.parent() {
                    sync_dir(parent).map_err(|e| self.err(op, location, e))?;
                }
            }
        }
        Ok(())
    }

    /// A new, locked, empty temp file in `base/.ferry-tmp/`.
    fn open_temp(&self, op: &'static str, location: &str) -> Result<TempFile, BackendError> {
        let dir = self.base.join(TEMP_DIR);
        let mut created_dir = false;
        // A few attempts: the first may find no temp dir, a later one may lose a race with
        // cleanup (see below); anything more is a real failure.
        for _ in 0..4 {
            let name = format!(
                "{}-{}-{:016x}.tmp",
                std::process::id(),
                self.counter.fetch_add(1, Ordering::Relaxed),
                rand::random::<u64>()
            );
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    file.lock().map_err(|e| self.err(op, location, e))?;
                    // Between create and lock, a cleanup in another process may have seen an
                    // unlocked file, taken it for a dead writer's and deleted it. Then our file
                    // has no name any more: start over with a new one.
                    let nlink = file
                        .metadata()
                        .map_err(|e| self.err(op, location, e))?
                        .nlink();
                    if nlink == 0 {
                        continue;
                    }
                    return Ok(TempFile {
                        path,
                        file,
                        committed: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && !created_dir => {
                    self.create_dirs(op, location, &dir)?;
                    created_dir = true;
                }
                Err(e) => return Err(self.err(op, location, e)),
            }
        }
        Err(self.fail(
            ErrorKind::Other,
            op,
            location,
            format!("could not create a temporary file in {}", dir.display()),
        ))
    }

    /// Makes a fully written temp file the object at `path`: flush, rename, flush directory.
    fn commit(&self, mut temp: TempFile, path: &ObjectPath) -> Result<(), BackendError> {
        const OP: &str = "store";
        let target = self.resolve(OP, path)?;
        if self.options.fsync {
            temp.file
                .sync_data()
                .map_err(|e| self.err(OP, path.as_str(), e))?;
        }
        let parent = target.parent().unwrap_or(&self.base).to_owned();
        if let Err(e) = fs::rename(&temp.path, &target) {
            if e.kind() != io::ErrorKind::NotFound {
                return Err(self.err(OP, path.as_str(), e));
            }
            self.create_dirs(OP, path.as_str(), &parent)?;
            fs::rename(&temp.path, &target).map_err(|e| self.err(OP, path.as_str(), e))?;
        }
        temp.committed = true;
        if self.options.fsync {
            sync_dir(&parent).map_err(|e| self.err(OP, path.as_str(), e))?;
        }
        Ok(())
    }

    /// Opens the object for reading; `NotFound` only when the store root is there.
    fn open_object(
        &self,
        op: &'static str,
        path: &ObjectPath,
    ) -> Result<(File, u64), BackendError> {
        let file_path = self.resolve(op, path)?;
        match File::open(&file_path) {
            Ok(file) => {
                let meta = file
                    .metadata()
                    .map_err(|e| self.err(op, path.as_str(), e))?;
                if !meta.is_file() {
                    return Err(self.fail(
                        ErrorKind::Other,
                        op,
                        path.as_str(),
                        "a directory or special file is where the object should be".into(),
                    ));
                }
                Ok((file, meta.len()))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.require_root(op, path.as_str())?;
                Err(self.err(op, path.as_str(), e))
            }
            Err(e) => Err(self.err(op, path.as_str(), e)),
        }
    }

    /// Opens the file to store and says how long it is.
    fn open_source(source: &Path) -> Result<(File, u64), BackendError> {
        let src = File::open(source).map_err(|e| BackendError::local("open", source, e))?;
        let len = src
            .metadata()
            .map_err(|e| BackendError::local("stat", source, e))?
            .len();
        Ok((src, len))
    }

    fn put_file(
        &self,
        path: &ObjectPath,
        source: &Path,
        (src, len): (File, u64),
        report: &dyn Fn(u64),
        cancel: &AtomicBool,
    ) -> Result<(), BackendError> {
        const OP: &str = "store";
        self.resolve(OP, path)?;
        let temp = self.open_temp(OP, path.as_str())?;
        let writeback = self.options.fsync;
        copy_whole(&src, len, &temp.file, writeback, report, cancel).map_err(|e| match e {
            CopyError::Read(e) => BackendError::local("read", source, e),
            CopyError::Write(e) => self.err(OP, path.as_str(), e),
            CopyError::Cancelled => {
                self.fail(ErrorKind::Other, OP, path.as_str(), "cancelled".into())
            }
        })?;
        if cancel.load(Ordering::Relaxed) {
            return Err(self.fail(ErrorKind::Other, OP, path.as_str(), "cancelled".into()));
        }
        self.commit(temp, path)
    }

    /// Copies the opened object `src` of `len` bytes into `dest`, resuming a prefix there.
    fn get_to_file(
        &self,
        path: &ObjectPath,
        (src, len): (File, u64),
        dest: &Path,
        report: &dyn Fn(u64),
        cancel: &AtomicBool,
    ) -> Result<(), BackendError> {
        const OP: &str = "retrieve";
        let out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(dest)
            .map_err(|e| BackendError::local("open", dest, e))?;
        let have = out
            .metadata()
            .map_err(|e| BackendError::local("stat", dest, e))?
            .len();
        if have == len {
            report(len);
            return Ok(());
        }
        let start = if have > len {
            // Longer than the object: not a prefix of it, so start over.
            out.set_len(0)
                .map_err(|e| BackendError::local("truncate", dest, e))?;
            0
        } else {
            have
        };
        report(start);
        let end =
            copy_to_end(&src, start, &out, start, false, report, cancel).map_err(|e| match e {
                CopyError::Read(e) => self.err(OP, path.as_str(), e),
                CopyError::Write(e) => BackendError::local("write", dest, e),
                CopyError::Cancelled => {
                    self.fail(ErrorKind::Other, OP, path.as_str(), "cancelled".into())
                }
            })?;
        if end != len {
            return Err(self.fail(
                ErrorKind::Other,
                OP,
                path.as_str(),
                format!("the object changed while being read ({end} bytes, expected {len})"),
            ));
        }
        Ok(())
    }

    fn delete(&self, path: &ObjectPath) -> Result<(), BackendError> {
        const OP: &str = "delete";
        let file = self.resolve(OP, path)?;
        match fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // "Already gone" is only true when the store is there to say so: claiming a
                // successful drop from an unmounted disk would lose track of a copy.
                return self.require_root(OP, path.as_str());
            }
            Err(e) => return Err(self.err(OP, path.as_str(), e)),
        }
        // The `directory` layout keeps each object in a directory of its own name (`K/K`), as
        // git-annex's directory remote does; remove it with the object. Other directories
        // (the hash levels) are shared and may stay.
        if let (Some(parent), Some(dir)) = (path.parent(), file.parent())
            && parent.file_name() == path.file_name()
        {
            match fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::NotFound
                    ) => {}
                Err(e) => return Err(self.err(OP, parent.as_str(), e)),
            }
        }
        if self.options.fsync
            && let Some(dir) = file.parent()
            && let Err(e) = sync_dir(dir)
            && e.kind() != io::ErrorKind::NotFound
        {
            return Err(self.err(OP, path.as_str(), e));
        }
        Ok(())
    }

    fn list(&self, under: Option<&ObjectPath>) -> Result<Vec<ListEntry>, BackendError> {
        const OP: &str = "list";
        let location = under.map(ObjectPath::as_str).unwrap_or("");
        let start = match under {
            Some(p) => self.resolve(OP, p)?,
            None => self.base.clone(),
        };
        let mut out = Vec::new();
        let mut pending: Vec<(PathBuf, Option<ObjectPath>)> = vec![(start, under.cloned())];
        let mut first = true;
        while let Some((dir, rel)) = pending.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if first && e.kind() == io::ErrorKind::NotFound => {
                    self.require_root(OP, location)?;
                    return Ok(out);
                }
                Err(e) if first && e.kind() == io::ErrorKind::NotADirectory => return Ok(out),
                // Removed while we walked (a concurrent delete of a `K/` dir): nothing to list.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.err(OP, location, e)),
            };
            first = false;
            for entry in entries {
                let entry = entry.map_err(|e| self.err(OP, location, e))?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    tracing::warn!(path = %entry.path().display(), "skipping a name that is not UTF-8");
                    continue;
                };
                if rel.is_none() && (name == TEMP_DIR || name == STORE_MARKER) {
                    continue;
                }
                let child = match &rel {
                    Some(rel) => rel.join(&name),
                    None => ObjectPath::new(&name),
                };
                let Ok(child) = child else {
                    tracing::warn!(path = %entry.path().display(), "skipping a name that is not a valid object path");
                    continue;
                };
                let file_type = entry
                    .file_type()
                    .map_err(|e| self.err(OP, child.as_str(), e))?;
                if file_type.is_dir() {
                    pending.push((entry.path(), Some(child)));
                    continue;
                }
                // Symlinks count when they point at a file; we never descend into symlinked
                // directories (loops).
                let meta = match fs::metadata(entry.path()) {
                    Ok(meta) => meta,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(self.err(OP, child.as_str(), e)),
                };
                if meta.is_file() {
                    out.push(ListEntry {
                        path: child,
                        meta: object_meta(&meta),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn rename(&self, from: &ObjectPath, to: &ObjectPath) -> Result<(), BackendError> {
        const OP: &str = "rename";
        let src = self.resolve(OP, from)?;
        let dst = self.resolve(OP, to)?;
        match fs::metadata(&src) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                return Err(self.fail(
                    ErrorKind::Other,
                    OP,
                    from.as_str(),
                    "not an object but a directory or special file".into(),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.require_root(OP, from.as_str())?;
                return Err(self.err(OP, from.as_str(), e));
            }
            Err(e) => return Err(self.err(OP, from.as_str(), e)),
        }
        let parent = dst.parent().unwrap_or(&self.base).to_owned();
        if let Err(e) = fs::rename(&src, &dst) {
            if e.kind() != io::ErrorKind::NotFound {
                return Err(self.err(OP, to.as_str(), e));
            }
            self.create_dirs(OP, to.as_str(), &parent)?;
            fs::rename(&src, &dst).map_err(|e| self.err(OP, to.as_str(), e))?;
        }
        if self.options.fsync {
            sync_dir(&parent).map_err(|e| self.err(OP, to.as_str(), e))?;
            if let Some(src_parent) = src.parent()
                && src_parent != parent
            {
                sync_dir(src_parent).map_err(|e| self.err(OP, from.as_str(), e))?;
            }
        }
        Ok(())
    }

    fn remove_empty_dir(&self, dir: &ObjectPath) -> Result<(), BackendError> {
        const OP: &str = "remove directory";
        let path = self.resolve(OP, dir)?;
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            // Not a directory (an object, a symlink): nothing of ours to remove.
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return self.require_root(OP, dir.as_str());
            }
            Err(e) => return Err(self.err(OP, dir.as_str(), e)),
        }
        prune_empty_dirs(&path).map_err(|e| self.err(OP, dir.as_str(), e))?;
        Ok(())
    }

    fn check(&self) -> Result<(), BackendError> {
        const OP: &str = "use";
        self.require_root(OP, "")?;
        // Proves that we can create the temp dir and write in it; the file goes away on drop.
        let temp = self.open_temp(OP, "")?;
        drop(temp);
        Ok(())
    }

    fn cleanup_stale_temps(&self) -> Result<usize, BackendError> {
        const OP: &str = "clean up temporary files";
        let dir = self.base.join(TEMP_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(self.err(OP, TEMP_DIR, e)),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| self.err(OP, TEMP_DIR, e))?;
            let path = entry.path();
            let Ok(file) = File::open(&path) else {
                continue;
            };
            // A live writer holds an exclusive lock on its temp file until it is renamed into
            // place; the kernel drops the lock when the writer dies. So a lock we can take
            // belongs to nobody.
            match file.try_lock() {
                Ok(()) => match fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(self.err(OP, TEMP_DIR, e)),
                },
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot lock a temp file");
                }
            }
        }
        Ok(removed)
    }
}

/// A temp file being written; deleted on drop unless it was renamed into place. It stays
/// locked for as long as it exists under its temp name.
struct TempFile {
    path: PathBuf,
    file: File,
    committed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: a leftover is found again by cleanup_stale_temps.
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn object_meta(meta: &fs::Metadata) -> ObjectMeta {
    ObjectMeta {
        len: meta.len(),
        modified: meta.modified().ok(),
    }
}

/// Whether `path` is on a filesystem of this machine's own disks (or memory), where a call
/// never waits on a network; `None` when it cannot be told now (the path is missing).
#[cfg(target_os = "linux")]
fn local_filesystem(path: &Path) -> Option<bool> {
    // Magic numbers from linux/magic.h. Only filesystems known to be local count: anything else
    // (NFS, SMB/CIFS, FUSE, 9p, Ceph, AFS, or something new) keeps its calls on the pool.
    const LOCAL: &[u64] = &[
        0xEF53,      // ext2, ext3, ext4
        0x5846_5342, // xfs
        0x9123_683E, // btrfs
        0x0102_1994, // tmpfs
        0x8584_58F6, // ramfs
        0x2FC1_2FC1, // zfs
        0xF2F5_2010, // f2fs
        0xCA45_1A4E, // bcachefs
        0x794C_7630, // overlayfs
        0x4D44,      // vfat
        0x2011_BAB0, // exfat
        0x7366_746E, // ntfs3
        0x482B,      // hfsplus
        0x3153_464A, // jfs
        0x5265_4973, // reiserfs
        0x3434,      // nilfs2
    ];
    let stat = rustix::fs::statfs(path).ok()?;
    // `f_type` is signed on some targets; the magic numbers are 32-bit patterns.
    let magic = (stat.f_type as u64) & 0xFFFF_FFFF;
    Some(LOCAL.contains(&magic))
}

/// Elsewhere the filesystem type is not examined: every call goes to the pool.
#[cfg(not(target_os = "linux"))]
fn local_filesystem(_path: &Path) -> Option<bool> {
    Some(false)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes every empty directory under and including `dir`, keeping any that hold files.
/// Returns whether `dir` itself is gone.
fn prune_empty_dirs(dir: &Path) -> io::Result<bool> {
    let mut keep = false;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            keep |= !prune_empty_dirs(&entry.path())?;
        } else {
            keep = true;
        }
    }
    if keep {
        return Ok(false);
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        // Something arrived meanwhile: it stays.
        Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(false),
        Err(e) => Err(e),
    }
}

/// Asks the kernel to start writing `len` bytes of `file` from `offset` to disk now, without
/// waiting: the disk then works while the rest of the object is copied, sealed or received,
/// and the `fsync` in
/// [`Inner::commit`] (still the only durability point) then waits for the last steps only,
/// instead of the whole object. Advice only: a failure changes nothing but the speed.
///
/// `POSIX_FADV_DONTNEED` starts writeback of the range's dirty pages and drops its clean ones
/// (pages still being written stay cached); the safe `rustix` has no `sync_file_range`.
fn start_writeback(file: &File, offset: u64, len: u64) {
    let len = std::num::NonZeroU64::new(len);
    if let Err(e) = rustix::fs::fadvise(file, offset, len, rustix::fs::Advice::DontNeed) {
        tracing::trace!("fadvise(DONTNEED) on a temp file: {e}");
    }
}

/// Which side of a copy failed, so that the error names the right culprit (the store or
/// git-annex's local file).
enum CopyError {
    Read(io::Error),
    Write(io::Error),
    Cancelled,
}

/// Copies `src` from `src_at` to its end into `dst` at `dst_at`, in the kernel, `COPY_STEP`
/// bytes at a time, reporting the position in `dst` after each step. Returns the end position.
/// With `writeback` (a store that will be fsynced), each step is handed to the disk at once
/// ([`start_writeback`]), so the final fsync waits for the last step, not the whole file.
fn copy_to_end(
    src: &File,
    src_at: u64,
    dst: &File,
    dst_at: u64,
    writeback: bool,
    report: &dyn Fn(u64),
    cancel: &AtomicBool,
) -> Result<u64, CopyError> {
    let mut reader = src;
    let mut writer = dst;
    reader
        .seek(SeekFrom::Start(src_at))
        .map_err(CopyError::Read)?;
    writer
        .seek(SeekFrom::Start(dst_at))
        .map_err(CopyError::Write)?;
    let mut done = 0u64;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(CopyError::Cancelled);
        }
        // `io::copy` between two files uses copy_file_range (or sendfile) on Linux, also
        // through `Take`: no user-space buffer at all.
        let n = match io::copy(&mut reader.take(COPY_STEP), &mut writer) {
            Ok(n) => n,
            Err(e) => return Err(blame(src, src_at + done, e)),
        };
        if n == 0 {
            return Ok(dst_at + done);
        }
        if writeback {
            start_writeback(dst, dst_at + done, n);
        }
        done += n;
        report(dst_at + done);
    }
}

/// Files up to this size are copied with one read and one write into a buffer instead of
/// [`copy_to_end`]'s kernel copy: git-annex stores many small files (small keys, chunks), and
/// for them `io::copy`'s copy_file_range probing (a seek and two stats per step, a last empty
/// copy, a sendfile) is more system calls than the data is worth.
const SMALL_COPY: usize = 64 * 1024;

/// Copies all of `src`, measured at `len` bytes, into the empty `dst`; returns the length
/// copied.
fn copy_whole(
    src: &File,
    len: u64,
    dst: &File,
    writeback: bool,
    report: &dyn Fn(u64),
    cancel: &AtomicBool,
) -> Result<u64, CopyError> {
    if len > SMALL_COPY as u64 {
        // All in the kernel from offset 0, so that a filesystem that can share extents
        // (copy_file_range on btrfs, XFS) shares the whole file.
        return copy_to_end(src, 0, dst, 0, writeback, report, cancel);
    }
    // One byte more than a small file holds: filling it means the file is not small (or grew
    // since it was measured), and the kernel copy takes over from there.
    let mut buf = vec![0u8; SMALL_COPY + 1];
    let mut got = 0;
    while got < buf.len() {
        match src.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CopyError::Read(e)),
        }
    }
    dst.write_all_at(&buf[..got], 0).map_err(CopyError::Write)?;
    report(got as u64);
    if got <= SMALL_COPY {
        return Ok(got as u64);
    }
    copy_to_end(src, got as u64, dst, got as u64, writeback, report, cancel)
}

/// `io::copy` does not say which side failed. Errors that only writing produces are the
/// destination's; otherwise a fresh read of the source at the failed position decides.
fn blame(src: &File, at: u64, err: io::Error) -> CopyError {
    use io::ErrorKind as K;
    if matches!(
        err.kind(),
        K::StorageFull | K::QuotaExceeded | K::FileTooLarge | K::ReadOnlyFilesystem
    ) {
        return CopyError::Write(err);
    }
    let mut probe = [0u8; 512];
    match src.read_at(&mut probe, at) {
        Err(_) => CopyError::Read(err),
        Ok(_) => CopyError::Write(err),
    }
}

/// Runs blocking filesystem work on tokio's blocking pool.
async fn run_blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, BackendError> + Send + 'static,
) -> Result<T, BackendError> {
    tokio::task::spawn_blocking(job).await.map_err(join_error)?
}

fn join_error(err: tokio::task::JoinError) -> BackendError {
    BackendError::new(ErrorKind::Other, "finish", "", "directory store").with_cause(err.to_string())
}

/// Sets the flag when dropped unless disarmed: tells a blocking copy that its caller is gone.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs a blocking copy on tokio's blocking pool while forwarding its progress reports to
/// `progress` on this task (the callback is borrowed and cannot travel to another thread).
/// Dropping the returned future asks the copy to stop at its next step.
async fn with_progress<T: Send + 'static>(
    progress: Progress<'_>,
    job: impl FnOnce(&dyn Fn(u64), &AtomicBool) -> Result<T, BackendError> + Send + 'static,
) -> Result<T, BackendError> {
    // Every report reaches `progress` (an unbounded queue of u64s, one per step of
    // READ_CHUNK bytes, so a few KiB for a GiB): a watch channel would keep only the latest
    // value and a busy event loop could then skip many steps at once.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let mut handle = tokio::task::spawn_blocking(move || {
        let report = move |n: u64| {
            // The receiver only goes away when this future is dropped, and then the job is
            // being cancelled anyway.
            let _ = tx.send(n);
        };
        job(&report, &cancel)
    });
    let result = loop {
        tokio::select! {
            result = &mut handle => break result,
            Some(n) = rx.recv() => progress(n),
        }
    };
    // Reports sent just before the job finished are still queued.
    while let Ok(n) = rx.try_recv() {
        progress(n);
    }
    result.map_err(join_error)?
}

#[async_trait::async_trait]
impl Backend for DirectoryBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rename: true,
            list: true,
            local: true,
        }
    }

    fn describe(&self) -> Description {
        Description {
            storage: "directory",
            location: self.inner.base.display().to_string(),
        }
    }

    async fn clean_stale_uploads(&self) -> Result<usize, BackendError> {
        self.cleanup_stale_temps().await
    }

    async fn initialize(&self) -> Result<(), BackendError> {
        self.run(|inner| inner.initialize()).await?;
        self.check().await
    }

    async fn check(&self) -> Result<(), BackendError> {
        self.call(|inner| inner.check()).await
    }

    async fn stat(&self, path: &ObjectPath) -> Result<Option<ObjectMeta>, BackendError> {
        if self.inner.inline() {
            return self.inner.stat(path);
        }
        let path = path.clone();
        self.run(move |inner| inner.stat(&path)).await
    }

    async fn put(
        &self,
        path: &ObjectPath,
        mut body: ByteStream,
        len: u64,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        const OP: &str = "store";
        let inner = &self.inner;
        inner.resolve(OP, path)?;
        let location = path.to_string();
        let temp = self
            .call(move |inner| inner.open_temp(OP, &location))
            .await?;
        // Inline, chunks are written straight to the temp file; on the pool, through a second
        // handle for tokio's async writes (the lock belongs to the open file description, which
        // both share, so it holds until the temp file is gone).
        let mut pooled = if inner.inline() {
            None
        } else {
            let clone = temp
                .file
                .try_clone()
                .map_err(|e| inner.err(OP, path.as_str(), e))?;
            Some(tokio::fs::File::from_std(clone))
        };
        let mut written = 0u64;
        let mut flushed = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                BackendError::new(ErrorKind::Local, OP, path.as_str(), inner.storage.clone())
                    .with_cause(e)
                    .with_hint("the data to store could not be read")
            })?;
            written += chunk.len() as u64;
            if written > len {
                return Err(inner.fail(
                    ErrorKind::Local,
                    OP,
                    path.as_str(),
                    format!("the data to store is longer than the announced {len} bytes"),
                ));
            }
            match &mut pooled {
                Some(out) => out.write_all(&chunk).await,
                None => (&temp.file).write_all(&chunk),
            }
            .map_err(|e| inner.err(OP, path.as_str(), e))?;
            if inner.options.fsync && pooled.is_none() && written - flushed >= WRITEBACK_STEP {
                start_writeback(&temp.file, flushed, written - flushed);
                flushed = written;
            }
            progress(written);
        }
        if let Some(mut out) = pooled {
            out.flush()
                .await
                .map_err(|e| inner.err(OP, path.as_str(), e))?;
        }
        if written != len {
            return Err(inner.fail(
                ErrorKind::Local,
                OP,
                path.as_str(),
                format!("the data to store ended after {written} of {len} bytes"),
            ));
        }
        let path = path.clone();
        self.call(move |inner| inner.commit(temp, &path)).await
    }

    async fn put_file(
        &self,
        path: &ObjectPath,
        source: &Path,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        let inner = self.inner.clone();
        let path = path.clone();
        let source = source.to_owned();
        if inner.inline() {
            let (src, len) = Inner::open_source(&source)?;
            if len <= INLINE_COPY_MAX {
                return inner.put_file(
                    &path,
                    &source,
                    (src, len),
                    progress,
                    &AtomicBool::new(false),
                );
            }
            return with_progress(progress, move |report, cancel| {
                inner.put_file(&path, &source, (src, len), report, cancel)
            })
            .await;
        }
        with_progress(progress, move |report, cancel| {
            let opened = Inner::open_source(&source)?;
            inner.put_file(&path, &source, opened, report, cancel)
        })
        .await
    }

    async fn get(&self, path: &ObjectPath, offset: u64) -> Result<ByteStream, BackendError> {
        let path = path.clone();
        let file = self
            .call(move |inner| {
                let (mut file, _) = inner.open_object("retrieve", &path)?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| inner.err("retrieve", path.as_str(), e))?;
                Ok(file)
            })
            .await?;
        let stream = tokio_util::io::ReaderStream::with_capacity(
            tokio::fs::File::from_std(file),
            READ_CHUNK,
        );
        Ok(Box::pin(stream))
    }

    async fn get_to_file(
        &self,
        path: &ObjectPath,
        dest: &Path,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        const OP: &str = "retrieve";
        let inner = self.inner.clone();
        let path = path.clone();
        let dest = dest.to_owned();
        if inner.inline() {
            let object = inner.open_object(OP, &path)?;
            if object.1 <= INLINE_COPY_MAX {
                return inner.get_to_file(&path, object, &dest, progress, &AtomicBool::new(false));
            }
            return with_progress(progress, move |report, cancel| {
                inner.get_to_file(&path, object, &dest, report, cancel)
            })
            .await;
        }
        with_progress(progress, move |report, cancel| {
            let object = inner.open_object(OP, &path)?;
            inner.get_to_file(&path, object, &dest, report, cancel)
        })
        .await
    }

    async fn delete(&self, path: &ObjectPath) -> Result<(), BackendError> {
        if self.inner.inline() {
            return self.inner.delete(path);
        }
        let path = path.clone();
        self.run(move |inner| inner.delete(&path)).await
    }

    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ListEntry>, BackendError> {
        let prefix = prefix.cloned();
        self.run(move |inner| inner.list(prefix.as_ref())).await
    }

    async fn rename(&self, from: &ObjectPath, to: &ObjectPath) -> Result<(), BackendError> {
        let (from, to) = (from.clone(), to.clone());
        self.call(move |inner| inner.rename(&from, &to)).await
    }

    async fn remove_empty_dir(&self, dir: &ObjectPath) -> Result<(), BackendError> {
        let dir = dir.clone();
        self.call(move |inner| inner.remove_empty_dir(&dir)).await
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::local_filesystem;
    use std::path::Path;

    #[test]
    fn a_checkout_on_disk_counts_as_local() {
        assert_eq!(
            local_filesystem(Path::new(env!("CARGO_MANIFEST_DIR"))),
            Some(true)
        );
    }

    #[test]
    fn filesystems_not_known_to_be_local_keep_the_pool() {
        // procfs is no disk filesystem: it stands here for any type not on the list (NFS, FUSE).
        assert_eq!(local_filesystem(Path::new("/proc")), Some(false));
    }

    #[test]
    fn a_missing_root_is_decided_later() {
        assert_eq!(
            local_filesystem(Path::new("/nonexistent/ferry-store-root")),
            None
        );
    }
}

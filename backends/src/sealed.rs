//! [`SealedBackend`]: ferry's own encryption (`ferry_encryption=`), as a [`Backend`] that wraps
//! any other one.
//!
//! Every object is stored sealed in format v1 of `shared/crypto-format.md` (a 52-byte header,
//! then 64 KiB segments, each authenticated). The object is bound to its storage name: the last
//! component of its path ([`ObjectPath::file_name`]), which the engine makes the HMAC name of the
//! git-annex key (`FERRYHMACSHA256--…`) in every layout. So an object moved to another name, or
//! a name pointed at another object, fails to open.
//!
//! What callers see is plaintext: lengths ([`Backend::stat`], [`Backend::list`]), offsets
//! ([`Backend::get`]) and progress are in plaintext bytes, so the engine's size checks against
//! the key work unchanged. Memory stays bounded by a few segments whatever the object's size.
//!
//! Failure rules (§6.4 of the format):
//! - a modified, truncated, extended, reordered or swapped object, or one written under another
//!   master key, fails with [`ErrorKind::Damaged`], whose cause (a [`ferry_crypto::Error`]) says
//!   which of these it was; [`Backend::get_to_file`] then leaves no plaintext at its
//!   destination;
//! - an object whose stored length no plaintext can have is reported absent by
//!   [`Backend::stat`] (with a warning): it is definitely not a good copy, and a new STORE
//!   replaces it;
//! - renaming is refused: the name is part of the object's key.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ferry_crypto::{
    Algorithm, HEADER_LEN, Header, KeyId, Layout, MasterKey, Opener, RangeOpener, Sealer, TAG_LEN,
    Transform, WRITE_SEGMENT_LOG2,
};
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::{
    Backend, BackendError, ByteStream, Capabilities, Description, ErrorKind, ListEntry, ObjectMeta,
    ObjectPath, Progress,
};

/// What [`header_sidecar`] appends to a destination file's name.
pub const HEADER_SIDECAR_SUFFIX: &str = ".ferry-header";

/// How much plaintext `put_file` reads, seals and hands to the inner store at a time: fewer,
/// larger writes (each write of a local store is a trip to tokio's blocking pool), and enough
/// segments (64) per chunk to split the sealing over the cores with a quarter of the thread
/// starts of 1 MiB chunks (the two sizes timed the same within noise on a 1 GiB store).
const SEALED_CHUNK: usize = 4 * 1024 * 1024;

/// How many sealed chunks may wait for the inner store, and enough slack that sealing never
/// waits on one slow write. With the chunk being read and the one being sealed, `put_file`
/// holds at most `(PIPELINE_DEPTH + 2) × SEALED_CHUNK` (24 MiB) whatever the file's size.
const PIPELINE_DEPTH: usize = 4;

/// Where [`SealedBackend::get_to_file`](Backend::get_to_file) keeps the header of the object
/// being fetched into `dest`, while `dest` holds a partial plaintext: `<dest>.ferry-header`.
///
/// A later fetch resumes only when the object's header is still byte-identical to this one
/// (§7): otherwise the partial plaintext may belong to another upload of the same name, and
/// splicing the two would pass every segment check. The file is removed when the fetch ends,
/// successfully or with a damaged object.
pub fn header_sidecar(dest: &Path) -> PathBuf {
    let mut name = OsString::from(dest.as_os_str());
    name.push(HEADER_SIDECAR_SUFFIX);
    PathBuf::from(name)
}

/// A [`Backend`] that encrypts everything it stores in another backend and decrypts and
/// verifies everything it reads back (see the module docs).
#[derive(Debug)]
pub struct SealedBackend {
    inner: Arc<dyn Backend>,
    master: MasterKey,
    algorithm: Algorithm,
}

/// Where an interrupted [`Backend::get_to_file`] can continue.
struct Resume {
    /// The object's header, identical to the one kept beside the partial file.
    header: [u8; HEADER_LEN],
    /// The object's stored length.
    cipher_len: u64,
    /// The plaintext offset to continue from: a segment boundary at most the partial length.
    from: u64,
}

/// The first [`HEADER_LEN`] bytes of a stream, kept until they are complete.
#[derive(Default)]
struct HeaderCapture {
    bytes: Vec<u8>,
    saved: bool,
}

impl HeaderCapture {
    fn feed(&mut self, chunk: &[u8]) {
        let take = (HEADER_LEN - self.bytes.len()).min(chunk.len());
        self.bytes.extend_from_slice(&chunk[..take]);
    }

    fn complete(&self) -> bool {
        self.bytes.len() == HEADER_LEN
    }
}

impl SealedBackend {
    /// Seals new objects with `algorithm` under `master` and stores them in `inner`.
    ///
    /// Objects are read whatever algorithm they record (both are always supported), so the
    /// algorithm may change during a remote's life; `master` may not.
    pub fn new(inner: Arc<dyn Backend>, master: MasterKey, algorithm: Algorithm) -> SealedBackend {
        SealedBackend {
            inner,
            master,
            algorithm,
        }
    }

    /// The storage that holds the sealed objects.
    pub fn inner(&self) -> &Arc<dyn Backend> {
        &self.inner
    }

    /// The algorithm new objects are sealed with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The id of the master key (recorded in every object's header; not secret).
    pub fn key_id(&self) -> KeyId {
        self.master.key_id()
    }

    fn storage(&self) -> String {
        self.inner.describe().to_string()
    }

    /// Hands a sealed stream to the inner store; a sealing failure inside the stream (the
    /// source changed length, say) is reported as itself, not as the store's failed body.
    async fn put_sealed(
        &self,
        path: &ObjectPath,
        sealed: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
        sealed_len: u64,
        len: u64,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        let failure: Arc<Mutex<Option<ferry_crypto::Error>>> = Arc::default();
        let seen = Arc::clone(&failure);
        let sealed = sealed.inspect_err(move |e| {
            if let Some(err) = ferry_crypto::Error::from_io(e) {
                *seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(err.clone());
            }
        });
        let result = self
            .inner
            .put(path, Box::pin(sealed), sealed_len, &|n| {
                progress(plain_progress(n, len))
            })
            .await;
        let failure = failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match (result, failure) {
            (Err(_), Some(err)) => Err(self.crypto_error("store", path, err)),
            (result, _) => result,
        }
    }

    /// A sealing or opening failure of the object at `path`, classified.
    fn crypto_error(
        &self,
        op: &'static str,
        path: &ObjectPath,
        err: ferry_crypto::Error,
    ) -> BackendError {
        use ferry_crypto::Error as E;
        let kind = match err {
            // The file git-annex handed over changed while it was read: not the store's fault.
            E::LengthMismatch { .. } => ErrorKind::Local,
            E::Random(_) | E::Finished(_) | E::InvalidRange { .. } => ErrorKind::Other,
            E::TooLarge { .. } => ErrorKind::Config,
            _ => ErrorKind::Damaged,
        };
        let mut error =
            BackendError::new(kind, op, path.as_str(), self.storage()).with_cause(err.clone());
        if kind == ErrorKind::Config {
            // The generic "fix the configuration" would not say which setting.
            error = error
                .with_hint("set chunk= on this remote (git annex enableremote NAME chunk=1GiB)");
        }
        error
    }

    /// A failed read of the object's bytes from the inner store (not a format error).
    fn stream_error(&self, path: &ObjectPath, err: std::io::Error) -> BackendError {
        BackendError::new(
            ErrorKind::from_io(&err),
            "retrieve",
            path.as_str(),
            self.storage(),
        )
        .with_cause(err)
    }

    /// The object's first [`HEADER_LEN`] bytes, or `None` when it is shorter than that.
    async fn read_header(
        &self,
        path: &ObjectPath,
    ) -> Result<Option<[u8; HEADER_LEN]>, BackendError> {
        let mut stream = self.inner.get(path, 0).await?;
        let mut capture = HeaderCapture::default();
        while !capture.complete() {
            match stream.next().await {
                Some(chunk) => capture.feed(&chunk.map_err(|e| self.stream_error(path, e))?),
                None => return Ok(None),
            }
        }
        // Dropping the stream abandons the rest of the object (one request, never read).
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&capture.bytes);
        Ok(Some(header))
    }

    /// Whether and where a fetch into `dest` can continue (§7): `dest` holds a partial
    /// plaintext, the header beside it is the object's current header, and the object's length
    /// is consistent with both. `None` means "start from 0".
    async fn resume_point(
        &self,
        path: &ObjectPath,
        dest: &Path,
        sidecar: &Path,
    ) -> Result<Option<Resume>, BackendError> {
        let have = match tokio::fs::metadata(dest).await {
            Ok(meta) if meta.len() > 0 => meta.len(),
            _ => return Ok(None),
        };
        let Ok(saved) = tokio::fs::read(sidecar).await else {
            return Ok(None);
        };
        let Ok(header) = Header::parse(&saved) else {
            return Ok(None);
        };
        if saved.len() != HEADER_LEN {
            return Ok(None);
        }
        let Some(meta) = self.inner.stat(path).await? else {
            return Err(BackendError::not_found(
                "retrieve",
                path.as_str(),
                self.storage(),
            ));
        };
        let layout = header.layout();
        // An impossible length: a fetch from 0 reports it properly.
        let Ok(plain_len) = layout.plain_len(meta.len) else {
            return Ok(None);
        };
        let Some(current) = self.read_header(path).await? else {
            return Ok(None);
        };
        if current[..] != saved[..] {
            tracing::debug!(%path, "the object was replaced since the partial fetch; starting over");
            return Ok(None);
        }
        if have > plain_len {
            return Ok(None);
        }
        // Back to a segment boundary (the partial end may hold part of a segment only if it
        // was written by something else), and never past the start of the final segment, which
        // must be verified in this fetch to prove the object's end.
        let s = layout.segment_size();
        let last_start = (layout.segment_count(plain_len) - 1) * s;
        let from = (have / s * s).min(last_start);
        if from == 0 {
            return Ok(None);
        }
        Ok(Some(Resume {
            header: current,
            cipher_len: meta.len,
            from,
        }))
    }

    /// Fetches into `dest` (resuming when [`SealedBackend::resume_point`] allows), writing
    /// plaintext only after its segment verified.
    async fn fetch_into(
        &self,
        path: &ObjectPath,
        dest: &Path,
        sidecar: &Path,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        let name = path.file_name();
        let resume = self.resume_point(path, dest, sidecar).await?;
        let (stream, opener, from, capture): (ByteStream, Box<dyn Transform + Send>, u64, _) =
            match resume {
                Some(resume) => {
                    let opener = RangeOpener::new(
                        &self.master,
                        name,
                        &resume.header,
                        resume.cipher_len,
                        resume.from..u64::MAX,
                    )
                    .map_err(|e| self.crypto_error("retrieve", path, e))?;
                    let stream = self
                        .inner
                        .get(path, opener.plan().cipher_range.start)
                        .await?;
                    tracing::debug!(%path, from = resume.from, "resuming a partial fetch");
                    (stream, Box::new(opener), resume.from, None)
                }
                None => {
                    // Asked before touching `dest`, so an absent object leaves it as it was.
                    let stream = self.inner.get(path, 0).await?;
                    remove_if_present(sidecar)
                        .await
                        .map_err(|e| BackendError::local("remove", sidecar, e))?;
                    (
                        stream,
                        Box::new(Opener::new(&self.master, name)),
                        0,
                        Some(HeaderCapture::default()),
                    )
                }
            };

        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(dest)
            .await
            .map_err(|e| BackendError::local("open", dest, e))?;
        file.set_len(from)
            .await
            .map_err(|e| BackendError::local("truncate", dest, e))?;
        file.seek(std::io::SeekFrom::Start(from))
            .await
            .map_err(|e| BackendError::local("seek in", dest, e))?;
        progress(from);
        let result = self
            .drain(
                path, stream, opener, capture, &mut file, dest, sidecar, from, progress,
            )
            .await;
        // tokio's File finishes writes in the background, even after a failure; wait for the
        // last one, so that a full disk is reported here and a partial file is whole (a resume
        // measures it) before anyone looks at it.
        let flushed = file
            .flush()
            .await
            .map_err(|e| BackendError::local("write", dest, e));
        result.and(flushed)
    }

    /// Feeds `stream` through `opener` into `file` from plaintext offset `written`. With a
    /// `capture`, the object's header is saved to `sidecar` before the first plaintext byte
    /// reaches `file`, so that an interruption can be resumed.
    #[allow(clippy::too_many_arguments)]
    async fn drain(
        &self,
        path: &ObjectPath,
        mut stream: ByteStream,
        mut opener: Box<dyn Transform + Send>,
        mut capture: Option<HeaderCapture>,
        file: &mut tokio::fs::File,
        dest: &Path,
        sidecar: &Path,
        mut written: u64,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        let mut out = Vec::new();
        loop {
            out.clear();
            let end = match stream.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| self.stream_error(path, e))?;
                    if let Some(capture) = capture.as_mut() {
                        capture.feed(&chunk);
                    }
                    opener
                        .push(&chunk, &mut out)
                        .map_err(|e| self.crypto_error("retrieve", path, e))?;
                    false
                }
                None => {
                    opener
                        .finish(&mut out)
                        .map_err(|e| self.crypto_error("retrieve", path, e))?;
                    true
                }
            };
            if let Some(capture) = capture.as_mut().filter(|c| c.complete() && !c.saved) {
                tokio::fs::write(sidecar, &capture.bytes)
                    .await
                    .map_err(|e| BackendError::local("write", sidecar, e))?;
                capture.saved = true;
            }
            if !out.is_empty() {
                file.write_all(&out)
                    .await
                    .map_err(|e| BackendError::local("write", dest, e))?;
                written += out.len() as u64;
                progress(written);
            }
            if end {
                return Ok(());
            }
        }
    }
}

/// Plaintext bytes sealed into the first `cipher` bytes of an object of `plain_len` plaintext
/// bytes: a monotone map from the inner store's progress to git-annex's, ending at `plain_len`.
fn plain_progress(cipher: u64, plain_len: u64) -> u64 {
    let layout = Layout::WRITE;
    let body = cipher.saturating_sub(HEADER_LEN as u64);
    let full = layout.sealed_segment_size();
    let s = layout.segment_size();
    (body / full * s + (body % full).min(s)).min(plain_len)
}

/// `stream` without its first `skip` bytes.
fn skip_bytes<S>(stream: S, mut skip: u64) -> ByteStream
where
    S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    Box::pin(
        stream
            .map_ok(move |chunk| {
                let n = usize::try_from(skip).unwrap_or(usize::MAX).min(chunk.len());
                skip -= n as u64;
                chunk.slice(n..)
            })
            .try_filter(|chunk| futures::future::ready(!chunk.is_empty())),
    )
}

async fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[async_trait::async_trait]
impl Backend for SealedBackend {
    /// The inner storage's, without rename: an object's name is part of its key.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rename: false,
            ..self.inner.capabilities()
        }
    }

    fn describe(&self) -> Description {
        self.inner.describe()
    }

    async fn check(&self) -> Result<(), BackendError> {
        self.inner.check().await
    }

    async fn initialize(&self) -> Result<(), BackendError> {
        self.inner.initialize().await
    }

    async fn clean_stale_uploads(&self) -> Result<usize, BackendError> {
        self.inner.clean_stale_uploads().await
    }

    /// The plaintext length. An object whose stored length no plaintext can have is reported
    /// absent (and logged): it is certainly not a good copy.
    ///
    /// Lengths are computed for the 64 KiB segments every v1 writer uses, without reading the
    /// header; an object with other segments (no ferry writes one) fails to open on retrieval.
    async fn stat(&self, path: &ObjectPath) -> Result<Option<ObjectMeta>, BackendError> {
        let Some(meta) = self.inner.stat(path).await? else {
            return Ok(None);
        };
        match ferry_crypto::plain_len(meta.len) {
            Ok(len) => Ok(Some(ObjectMeta {
                len,
                modified: meta.modified,
            })),
            Err(e) => {
                tracing::warn!(
                    %path,
                    stored_len = meta.len,
                    "reporting a damaged encrypted object as absent: {e}"
                );
                Ok(None)
            }
        }
    }

    /// Seals `body` while it streams into the inner store, which is told the sealed length up
    /// front. Progress counts plaintext bytes the inner store has taken.
    async fn put(
        &self,
        path: &ObjectPath,
        body: ByteStream,
        len: u64,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        const OP: &str = "store";
        let mut sealer = Sealer::new(&self.master, path.file_name(), self.algorithm)
            .map_err(|e| self.crypto_error(OP, path, e))?;
        let sealed_len = sealer
            .expect_plain_len(len)
            .map_err(|e| self.crypto_error(OP, path, e))?;
        self.put_sealed(path, sealer.stream(body), sealed_len, len, progress)
            .await
    }

    /// Reads a local file, seals it on a blocking thread and hands the sealed chunks to the
    /// inner store as they are ready, so that reading and sealing overlap with the store's
    /// writes (with the plain `put`, all three took turns on one thread).
    async fn put_file(
        &self,
        path: &ObjectPath,
        source: &Path,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        const OP: &str = "store";
        let file =
            std::fs::File::open(source).map_err(|e| BackendError::local("open", source, e))?;
        let len = file
            .metadata()
            .map_err(|e| BackendError::local("stat", source, e))?
            .len();
        let mut sealer = Sealer::new(&self.master, path.file_name(), self.algorithm)
            .map_err(|e| self.crypto_error(OP, path, e))?
            .with_threads(seal_threads());
        let sealed_len = sealer
            .expect_plain_len(len)
            .map_err(|e| self.crypto_error(OP, path, e))?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(PIPELINE_DEPTH);
        // Detached: when the put ends early its receiver is gone, and the thread stops at its
        // next chunk.
        drop(tokio::task::spawn_blocking(move || {
            seal_file(file, len, sealer, |item| tx.blocking_send(item).is_ok())
        }));
        let body = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        self.put_sealed(path, body, sealed_len, len, progress).await
    }
    /// Reads plaintext from `offset`. From 0 the whole object is verified as it streams (the
    /// stream fails, and ends, at the first bad segment); from elsewhere only the segments from
    /// the one holding `offset` to the final one are fetched and verified.
    async fn get(&self, path: &ObjectPath, offset: u64) -> Result<ByteStream, BackendError> {
        let name = path.file_name();
        if offset > 0 {
            let Some(meta) = self.inner.stat(path).await? else {
                return Err(BackendError::not_found(
                    "retrieve",
                    path.as_str(),
                    self.storage(),
                ));
            };
            let header = self.read_header(path).await?.ok_or_else(|| {
                self.crypto_error(
                    "retrieve",
                    path,
                    ferry_crypto::Error::Truncated { len: meta.len },
                )
            })?;
            let layout = Header::parse(&header)
                .map_err(|e| self.crypto_error("retrieve", path, e))?
                .layout();
            let plain_len = layout
                .plain_len(meta.len)
                .map_err(|e| self.crypto_error("retrieve", path, e))?;
            let s = layout.segment_size();
            let last_start = (layout.segment_count(plain_len) - 1) * s;
            let offset = offset.min(plain_len);
            // From a segment boundary, and never after the final segment's start: reading the
            // final segment is what proves where the object ends.
            let start = (offset / s * s).min(last_start);
            if start > 0 {
                let opener =
                    RangeOpener::new(&self.master, name, &header, meta.len, start..u64::MAX)
                        .map_err(|e| self.crypto_error("retrieve", path, e))?;
                let stream = self
                    .inner
                    .get(path, opener.plan().cipher_range.start)
                    .await?;
                return Ok(skip_bytes(opener.stream(stream), offset - start));
            }
            let stream = self.inner.get(path, 0).await?;
            return Ok(skip_bytes(
                Opener::new(&self.master, name).stream(stream),
                offset,
            ));
        }
        let stream = self.inner.get(path, 0).await?;
        Ok(Box::pin(Opener::new(&self.master, name).stream(stream)))
    }

    /// Fetches and verifies into `dest`, with plaintext progress. Resumes a partial `dest` only
    /// when the object's header kept beside it ([`header_sidecar`]) is still the object's
    /// header, from the last segment boundary within it; otherwise starts over. A damaged
    /// object leaves neither `dest` nor the sidecar behind; any other failure keeps both (the
    /// partial plaintext is verified) for the next attempt to resume.
    async fn get_to_file(
        &self,
        path: &ObjectPath,
        dest: &Path,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        let sidecar = header_sidecar(dest);
        let result = self.fetch_into(path, dest, &sidecar, progress).await;
        match &result {
            Ok(()) => {
                if let Err(e) = remove_if_present(&sidecar).await {
                    tracing::warn!("cannot remove {}: {e}", sidecar.display());
                }
            }
            Err(e) if e.kind() == ErrorKind::Damaged => {
                for file in [dest, sidecar.as_path()] {
                    if let Err(e) = remove_if_present(file).await {
                        tracing::error!(
                            "cannot remove {} after a failed integrity check: {e}",
                            file.display()
                        );
                    }
                }
            }
            Err(_) => {}
        }
        result
    }

    async fn delete(&self, path: &ObjectPath) -> Result<(), BackendError> {
        self.inner.delete(path).await
    }

    /// Plaintext lengths. An object whose stored length no plaintext can have keeps that raw
    /// length here (and is logged): a listing shows what is on the store, damaged objects
    /// included, while [`Backend::stat`] of the same path answers `None`. Callers that must
    /// tell them apart stat the entry.
    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ListEntry>, BackendError> {
        let mut entries = self.inner.list(prefix).await?;
        for entry in &mut entries {
            match ferry_crypto::plain_len(entry.meta.len) {
                Ok(len) => entry.meta.len = len,
                Err(e) => tracing::warn!(
                    path = %entry.path,
                    stored_len = entry.meta.len,
                    "listing a damaged encrypted object with its stored length: {e}"
                ),
            }
        }
        Ok(entries)
    }

    /// Refused: the name is bound into the object, which would not open under another one.
    async fn rename(&self, _from: &ObjectPath, _to: &ObjectPath) -> Result<(), BackendError> {
        Err(BackendError::unsupported("rename", self.storage())
            .with_hint("ferry-encrypted objects are bound to their names and cannot be renamed"))
    }

    async fn remove_empty_dir(&self, dir: &ObjectPath) -> Result<(), BackendError> {
        self.inner.remove_empty_dir(dir).await
    }
}

/// A sealed chunk on its way to the store; its buffer goes back to the reader when the store
/// drops it.
struct PooledChunk {
    buf: Vec<u8>,
    pool: std::sync::mpsc::Sender<Vec<u8>>,
}

impl AsRef<[u8]> for PooledChunk {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PooledChunk {
    fn drop(&mut self) {
        // The reader may have finished; the buffer is then simply freed.
        let _ = self.pool.send(std::mem::take(&mut self.buf));
    }
}

/// How many threads seal one file's chunks: sealing is the slowest stage of an encrypted store
/// (AES-GCM runs at ~2 GB/s on one core, the disk takes more), so it gets every core, up to 4;
/// the reading and writing threads mostly wait on the kernel.
fn seal_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Reads `file` (`len` bytes) to its end, seals it, and hands the sealed object to `send`: the
/// header, then chunks of up to [`CHUNK_SEGMENTS`] segments; stops when `send` returns `false`
/// (the receiver is gone) or after sending an error.
///
/// Reading runs on a thread of its own ([`read_slots`]), one chunk ahead, so that the kernel's
/// copy out of the page cache overlaps with sealing. The reader puts each segment's plaintext
/// straight where its sealed form goes (in front of room for its tag), so sealing happens in
/// place ([`Sealer::seal_in_place`]) with no copy in between; the buffers circulate between
/// reader, sealer and store, so no fresh memory is touched per chunk (new pages cost a fault and
/// a clear each).
fn seal_file(
    file: std::fs::File,
    len: u64,
    mut sealer: Sealer,
    send: impl Fn(std::io::Result<Bytes>) -> bool,
) {
    let (pool_tx, pool_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<std::io::Result<(Vec<u8>, bool)>>(1);
    // The reader stops when this function returns (its channel closes).
    std::thread::spawn(move || read_slots(file, len, &pool_rx, &full_tx));
    loop {
        let (mut buf, last) = match full_rx.recv() {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) => {
                send(Err(e));
                return;
            }
            Err(_) => {
                send(Err(std::io::Error::other("the reading thread ended early")));
                return;
            }
        };
        match sealer.seal_in_place(&mut buf, last) {
            Ok(header) => {
                if let Some(header) = header
                    && !send(Ok(Bytes::copy_from_slice(&header)))
                {
                    return;
                }
            }
            Err(e) => {
                send(Err(e.into()));
                return;
            }
        }
        let chunk = Bytes::from_owner(PooledChunk {
            buf,
            pool: pool_tx.clone(),
        });
        if !send(Ok(chunk)) || last {
            return;
        }
    }
}

/// Segments per chunk of [`seal_file`]: 64 of 64 KiB, 4 MiB of plaintext.
const CHUNK_SEGMENTS: usize = SEALED_CHUNK >> WRITE_SEGMENT_LOG2;

/// Most buffers of one [`seal_file`]: one being read, one being sealed, the rest with the store.
const MAX_BUFFERS: usize = PIPELINE_DEPTH + 2;

/// Reads `file`, `len` bytes, into sealing slots ([`Sealer::seal_in_place`]'s layout), a chunk
/// of [`CHUNK_SEGMENTS`] at a time, in buffers that come back on `pool` (or new ones, up to
/// [`MAX_BUFFERS`]), and passes them on to `full` with whether the chunk is the last. A file
/// that turns out shorter or longer than `len` (changed while being stored) is an error.
fn read_slots(
    mut file: std::fs::File,
    len: u64,
    pool: &std::sync::mpsc::Receiver<Vec<u8>>,
    full: &std::sync::mpsc::SyncSender<std::io::Result<(Vec<u8>, bool)>>,
) {
    let segment = Layout::WRITE.segment_size();
    let sealed_segment = Layout::WRITE.sealed_segment_size() as usize;
    // An empty file is one empty final segment.
    let segments = len.div_ceil(segment).max(1);
    let mut allocated = 0;
    let mut next = 0u64;
    while next < segments {
        let mut buf = if allocated < MAX_BUFFERS {
            allocated += 1;
            Vec::new()
        } else {
            match pool.recv() {
                Ok(buf) => buf,
                Err(_) => return,
            }
        };
        let end = (next + CHUNK_SEGMENTS as u64).min(segments);
        let last = end == segments;
        let plain_len = (end * segment).min(len) - next * segment;
        let count = (end - next) as usize;
        buf.resize(plain_len as usize + count * TAG_LEN, 0);
        let item = fill_slots(&mut file, &mut buf, sealed_segment, last).map(|()| (buf, last));
        let failed = item.is_err();
        if full.send(item).is_err() || failed {
            return;
        }
        next = end;
    }
}

/// Fills the plaintext part of each slot of `buf` from `file`; with `last`, also checks that
/// the file ends there.
fn fill_slots(
    file: &mut std::fs::File,
    buf: &mut [u8],
    sealed_segment: usize,
    last: bool,
) -> std::io::Result<()> {
    for slot in buf.chunks_mut(sealed_segment) {
        let room = slot.len() - TAG_LEN;
        if read_full(file, &mut slot[..room])? < room {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file to store got shorter while it was being read",
            ));
        }
    }
    if last && read_full(file, &mut [0u8; 1])? > 0 {
        return Err(std::io::Error::other(
            "the file to store got longer while it was being read",
        ));
    }
    Ok(())
}

/// Reads until `buf` is full or the reader ends; returns how much was read.
fn read_full(reader: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(m) => n += m,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_maps_sealed_bytes_to_plaintext_bytes() {
        let s = Layout::WRITE.segment_size();
        let full = Layout::WRITE.sealed_segment_size();
        let len = 2 * s + 5;
        let total = ferry_crypto::sealed_len(len).expect("a small length");
        assert_eq!(plain_progress(0, len), 0);
        assert_eq!(plain_progress(HEADER_LEN as u64, len), 0);
        assert_eq!(plain_progress(HEADER_LEN as u64 + 10, len), 10);
        // Tag bytes of a segment add nothing.
        assert_eq!(plain_progress(HEADER_LEN as u64 + s + 8, len), s);
        assert_eq!(plain_progress(HEADER_LEN as u64 + full, len), s);
        assert_eq!(plain_progress(total, len), len);
        let mut last = 0;
        for c in (0..=total).step_by(997) {
            let p = plain_progress(c, len);
            assert!(p >= last, "progress went down at {c}");
            last = p;
        }
        assert_eq!(plain_progress(ferry_crypto::EMPTY_OBJECT_LEN, 0), 0);
    }

    /// What `seal_file` sends for a file holding `actual` bytes announced as `announced`.
    fn seal_file_items(actual: usize, announced: u64) -> Vec<std::io::Result<Bytes>> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let source = dir.path().join("source");
        std::fs::write(&source, vec![7u8; actual]).expect("write the source");
        let master = MasterKey::from_bytes(&[1u8; 32]);
        let sealer = Sealer::new(&master, "name", Algorithm::Aes256Gcm).expect("a sealer");
        let items = std::sync::Mutex::new(Vec::new());
        let file = std::fs::File::open(&source).expect("open the source");
        seal_file(file, announced, sealer, |item| {
            items.lock().expect("not poisoned").push(item);
            true
        });
        items.into_inner().expect("not poisoned")
    }

    /// A file that changes length between its stat and its end is an error, never an object
    /// of the wrong length; one that keeps its length is sealed whole.
    #[test]
    fn a_file_changing_length_while_sealed_is_an_error() {
        let s = Layout::WRITE.segment_size() as usize;
        for (actual, announced) in [(3 * s + 5, 3 * s as u64 + 9), (3 * s + 5, s as u64 + 1)] {
            let items = seal_file_items(actual, announced);
            let last = items.last().expect("something was sent");
            assert!(
                last.is_err(),
                "{actual} bytes announced as {announced}: no error"
            );
        }
        for len in [0, 1, s, CHUNK_SEGMENTS * s, CHUNK_SEGMENTS * s + 1] {
            let items = seal_file_items(len, len as u64);
            let sealed: usize = items
                .iter()
                .map(|i| i.as_ref().expect("no error").len())
                .sum();
            assert_eq!(
                sealed as u64,
                ferry_crypto::sealed_len(len as u64).expect("small"),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn sidecar_sits_beside_the_destination() {
        assert_eq!(
            header_sidecar(Path::new("/r/.git/annex/tmp/SHA256E-s1--x.txt")),
            Path::new("/r/.git/annex/tmp/SHA256E-s1--x.txt.ferry-header")
        );
    }
}

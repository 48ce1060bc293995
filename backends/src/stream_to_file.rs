//! The default [`Backend::get_to_file`]: fetch an object into a local file, resuming a partial
//! download, for storages that can only hand out a byte stream.
//!
//! git-annex may hand RETRIEVE a file that already holds the start of the object (a download
//! that was interrupted and retried in a new process). Appending from its length resumes it;
//! git-annex verifies the whole content afterwards, so a wrong prefix is caught there, not here.

use std::io::{IoSlice, Write};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncSeekExt;
use tokio::task::JoinHandle;

use crate::{Backend, BackendError, ErrorKind, ObjectPath, Progress};

/// How much downloaded data is gathered before it is written to the destination file.
const WRITE_SIZE: usize = 1024 * 1024;
/// The most pieces one write takes (Linux's limit for one `writev`).
const WRITE_PIECES: usize = 1024;

/// Fetches `path` from `backend` into `dest` with the resume rules of
/// [`Backend::get_to_file`]: a shorter `dest` is appended to, a complete one left alone, a
/// longer one rewritten from the start. Memory stays bounded by the stream's chunk size.
pub(crate) async fn get_to_file<B: Backend + ?Sized>(
    backend: &B,
    path: &ObjectPath,
    dest: &Path,
    progress: Progress<'_>,
) -> Result<(), BackendError> {
    let storage = backend.describe().to_string();
    let meta = backend
        .stat(path)
        .await?
        .ok_or_else(|| BackendError::not_found("retrieve", path.as_str(), storage.clone()))?;
    fetch_into(storage, path, dest, progress, meta.len, |start| {
        backend.get(path, start)
    })
    .await
}

/// The second half of [`get_to_file`], for a storage that already knows the object's length
/// (`len`) from its own lookup: `open(start)` streams the object from byte `start`.
pub(crate) async fn fetch_into<F, Fut>(
    storage: String,
    path: &ObjectPath,
    dest: &Path,
    progress: Progress<'_>,
    len: u64,
    open: F,
) -> Result<(), BackendError>
where
    F: FnOnce(u64) -> Fut,
    Fut: std::future::Future<Output = Result<crate::ByteStream, BackendError>>,
{
    let mut file = tokio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dest)
        .await
        .map_err(|e| BackendError::local("open", dest, e))?;
    let have = file
        .metadata()
        .await
        .map_err(|e| BackendError::local("stat", dest, e))?
        .len();

    let start = match have.cmp(&len) {
        std::cmp::Ordering::Equal => {
            progress(have);
            return Ok(());
        }
        std::cmp::Ordering::Less => have,
        std::cmp::Ordering::Greater => {
            // Longer than the object: not a prefix of it, so start over.
            file.set_len(0)
                .await
                .map_err(|e| BackendError::local("truncate", dest, e))?;
            0
        }
    };
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| BackendError::local("seek in", dest, e))?;
    progress(start);

    let mut stream = open(start).await?;
    let mut written = start;
    let file = file.into_std().await;
    let mut out = PieceWriter::new(file);
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                // Keep what did arrive, and let the last write land before reporting: a retry
                // (in this process or the next) resumes from the file's length, which must not
                // grow behind its back.
                let _ = out.finish().await;
                return Err(BackendError::new(
                    ErrorKind::from_io(&e),
                    "retrieve",
                    path.as_str(),
                    storage.clone(),
                )
                .with_cause(e));
            }
        };
        written += chunk.len() as u64;
        out.push(chunk)
            .await
            .map_err(|e| BackendError::local("write", dest, e))?;
        progress(written);
    }
    // Writes what is still gathered and waits for the last write: errors (a full disk) are
    // reported here and the caller sees the whole file.
    out.finish()
        .await
        .map_err(|e| BackendError::local("write", dest, e))?;
    if written != len {
        return Err(
            BackendError::new(ErrorKind::Other, "retrieve", path.as_str(), storage)
                .with_cause(format!(
                    "got {written} bytes where the object has {len}; it changed while being read"
                ))
                .with_hint("try again"),
        );
    }
    Ok(())
}

/// Writes the pieces of a download to a file without copying them: they are gathered by
/// reference (about [`WRITE_SIZE`] at a time) and written with one vectored write on tokio's
/// blocking pool, while the next batch gathers. Network reads arrive in pieces of a few KiB to
/// 32 KiB; writing each through tokio's `File` was a thread hand-off per piece, and gathering
/// them with a `BufWriter` copied every byte twice more in this process (into the
/// `BufWriter`, then into tokio's own buffer), a fifth of a fast download's CPU time.
struct PieceWriter {
    file: Arc<std::fs::File>,
    batch: Vec<Bytes>,
    batched: usize,
    in_flight: Option<JoinHandle<std::io::Result<()>>>,
}

impl PieceWriter {
    fn new(file: std::fs::File) -> PieceWriter {
        PieceWriter {
            file: Arc::new(file),
            batch: Vec::new(),
            batched: 0,
            in_flight: None,
        }
    }

    /// Adds `piece`; writes the batch once it is big enough.
    async fn push(&mut self, piece: Bytes) -> std::io::Result<()> {
        if piece.is_empty() {
            return Ok(());
        }
        self.batched += piece.len();
        self.batch.push(piece);
        if self.batched >= WRITE_SIZE || self.batch.len() >= WRITE_PIECES {
            self.submit().await?;
        }
        Ok(())
    }

    /// Waits for the write in flight, then starts writing the gathered batch.
    async fn submit(&mut self) -> std::io::Result<()> {
        self.wait().await?;
        let batch = std::mem::take(&mut self.batch);
        self.batched = 0;
        let file = Arc::clone(&self.file);
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            write_all_pieces(&file, &batch)
        }));
        Ok(())
    }

    /// Waits for the write in flight, if any.
    async fn wait(&mut self) -> std::io::Result<()> {
        match self.in_flight.take() {
            Some(write) => write.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }

    /// Writes what is gathered and waits until every byte pushed is in the file.
    async fn finish(&mut self) -> std::io::Result<()> {
        if !self.batch.is_empty() {
            self.submit().await?;
        }
        self.wait().await
    }
}

/// Writes all of `pieces`, in order, at `file`'s position.
fn write_all_pieces(mut file: &std::fs::File, pieces: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

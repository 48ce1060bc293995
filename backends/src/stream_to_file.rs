//! The default [`Backend::get_to_file`]: fetch an object into a local file, resuming a partial
//! download, for storages that can only hand out a byte stream.
//!
//! git-annex may hand RETRIEVE a file that already holds the start of the object (a download
//! that was interrupted and retried in a new process). Appending from its length resumes it;
//! git-annex verifies the whole content afterwards, so a wrong prefix is caught there, not here.

use std::path::Path;

use futures::StreamExt;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::{Backend, BackendError, ErrorKind, ObjectPath, Progress};

/// How much downloaded data is gathered before it is written to the destination file.
const WRITE_SIZE: usize = 1024 * 1024;

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
    // Network reads arrive in pieces of a few KiB to 32 KiB; each write through tokio's File is
    // a trip to the blocking pool. Gathering them into 1 MiB writes cut a 1 GiB download from
    // ~30 000 writes (and as many thread hand-offs) to ~1 000.
    let mut file = tokio::io::BufWriter::with_capacity(WRITE_SIZE, file);
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                // Keep what did arrive, and let the last write land before reporting: a retry
                // (in this process or the next) resumes from the file's length, which must not
                // grow behind its back.
                let _ = file.flush().await;
                return Err(BackendError::new(
                    ErrorKind::from_io(&e),
                    "retrieve",
                    path.as_str(),
                    storage.clone(),
                )
                .with_cause(e));
            }
        };
        file.write_all(&chunk)
            .await
            .map_err(|e| BackendError::local("write", dest, e))?;
        written += chunk.len() as u64;
        progress(written);
    }
    // Writes what is still gathered, then waits for tokio's File, which finishes its last
    // write in the background: errors (a full disk) are reported here and the caller sees the
    // whole file.
    file.flush()
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

//! Uploads: small objects in one multipart request, larger ones through a resumable session.
//!
//! Either way a Drive file only comes into being when its last byte has arrived, so nothing is
//! visible at the name while an upload runs and no temporary name is needed (see
//! [`super`] for how an upload replaces an older object).
//!
//! Resumable protocol (Drive's documented one):
//! 1. `POST /upload/drive/v3/files?uploadType=resumable` with the metadata; the answer's
//!    `Location` is the session URI (a capability: never logged).
//! 2. `PUT <session>` with `Content-Range: bytes a-b/total`, one chunk at a time (a multiple of
//!    256 KiB except the last). `308` plus `Range: bytes=0-n` says how much Drive has kept; the
//!    last chunk's answer is the new file's metadata.
//! 3. After a failed chunk (dropped connection, 5xx), `PUT <session>` with
//!    `Content-Range: bytes */total` asks how much Drive kept, and the upload goes on from
//!    there. The current chunk stays in memory until Drive confirms it, so any point inside it
//!    can be resumed; memory is bounded by the chunk size whatever the object's size.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http_body::{Frame, SizeHint};
use md5::{Digest, Md5};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use reqwest::{Body, Method, Response, StatusCode, Url};
use tokio::sync::watch;

use super::client::{DriveClient, DriveFile, Failure, Retry, read_json};
use crate::{ByteStream, Progress};

/// Drive's unit for chunk sizes: every chunk but the last is a multiple of it.
pub(crate) const CHUNK_QUANTUM: usize = 256 * 1024;

/// Largest piece handed to the HTTP connection at once, so progress moves in small steps even
/// when the caller's stream yields big buffers.
const PIECE: usize = 256 * 1024;

/// Slowest transfer rate a chunk upload is given time for, on top of the call timeout.
const MIN_TRANSFER_RATE: u64 = 32 * 1024;

/// What went wrong with the data handed to `put` (not Drive's fault).
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The stream failed.
    Read(io::Error),
    /// It ended after `got` of `len` bytes.
    Short { got: u64, len: u64 },
    /// It held more than `len` bytes.
    Long { len: u64 },
}

/// An upload failed: the data, or Drive.
#[derive(Debug)]
pub(crate) enum UploadError {
    Body(BodyError),
    Drive(Failure),
}

impl From<Failure> for UploadError {
    fn from(failure: Failure) -> UploadError {
        UploadError::Drive(failure)
    }
}

impl From<BodyError> for UploadError {
    fn from(err: BodyError) -> UploadError {
        UploadError::Body(err)
    }
}

/// A stored file and the MD5 of the bytes ferry sent, to compare with Drive's `md5Checksum`.
#[derive(Debug)]
pub(crate) struct Uploaded {
    pub(crate) file: DriveFile,
    pub(crate) md5: String,
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Passes progress on, never going back (a resumed chunk is sent twice but counted once).
pub(crate) struct Reporter<'a> {
    progress: Progress<'a>,
    last: u64,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(progress: Progress<'a>) -> Reporter<'a> {
        Reporter { progress, last: 0 }
    }

    pub(crate) fn report(&mut self, moved: u64) {
        if moved > self.last {
            self.last = moved;
            (self.progress)(moved);
        }
    }
}

/// Reads all of a small body (`len` bytes) into memory, with its MD5.
pub(crate) async fn read_small(
    body: &mut ByteStream,
    len: u64,
    reporter: &mut Reporter<'_>,
) -> Result<(Bytes, String), BodyError> {
    let capacity = usize::try_from(len).map_err(|_| BodyError::Long { len })?;
    let mut data = BytesMut::with_capacity(capacity);
    let mut hasher = Md5::new();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(BodyError::Read)?;
        if (data.len() + piece.len()) as u64 > len {
            return Err(BodyError::Long { len });
        }
        hasher.update(&piece);
        data.extend_from_slice(&piece);
        reporter.report(data.len() as u64);
    }
    if (data.len() as u64) < len {
        return Err(BodyError::Short {
            got: data.len() as u64,
            len,
        });
    }
    Ok((data.freeze(), hex(&hasher.finalize())))
}

/// Waits for the end of a body that has delivered all its announced bytes: anything more
/// makes it too long.
async fn expect_end(body: &mut ByteStream, len: u64) -> Result<(), BodyError> {
    while let Some(piece) = body.next().await {
        if !piece.map_err(BodyError::Read)?.is_empty() {
            return Err(BodyError::Long { len });
        }
    }
    Ok(())
}

/// A request body made of buffered pieces, of known length (so it goes out with a
/// `Content-Length`), that tells a watcher how far it has been sent.
struct ChunkBody {
    pieces: VecDeque<Bytes>,
    remaining: u64,
    sent: u64,
    progress: Option<watch::Sender<u64>>,
}

impl ChunkBody {
    /// `pieces` sent in order; `start` is the object offset of the first byte (for progress).
    fn new(pieces: VecDeque<Bytes>, start: u64, progress: Option<watch::Sender<u64>>) -> ChunkBody {
        let remaining = pieces.iter().map(|p| p.len() as u64).sum();
        ChunkBody {
            pieces,
            remaining,
            sent: start,
            progress,
        }
    }
}

impl http_body::Body for ChunkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let Some(piece) = self.pieces.pop_front() else {
            return Poll::Ready(None);
        };
        let len = piece.len() as u64;
        self.remaining -= len;
        self.sent += len;
        let sent = self.sent;
        if let Some(progress) = &self.progress {
            progress.send_replace(sent);
        }
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// The first `len` bytes of `pending`, as pieces of at most [`PIECE`] bytes (no copying).
fn front(pending: &VecDeque<Bytes>, len: u64) -> VecDeque<Bytes> {
    let mut out = VecDeque::new();
    let mut left = len as usize;
    for buffer in pending {
        if left == 0 {
            break;
        }
        let take = buffer.len().min(left);
        let mut at = 0;
        while at < take {
            let end = (at + PIECE).min(take);
            out.push_back(buffer.slice(at..end));
            at = end;
        }
        left -= take;
    }
    out
}

/// Drops the first `len` bytes of `pending` (Drive has them).
fn drop_front(pending: &mut VecDeque<Bytes>, mut len: u64) {
    while len > 0 {
        let Some(first) = pending.front_mut() else {
            return;
        };
        if first.len() as u64 <= len {
            len -= first.len() as u64;
            pending.pop_front();
        } else {
            *first = first.slice(len as usize..);
            len = 0;
        }
    }
}

/// An open resumable upload. Its URI is a capability, so it has no `Debug` showing it.
pub(crate) struct Session {
    uri: Url,
    len: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Where a session stands after a chunk.
enum Standing {
    /// Drive holds the first `n` bytes.
    Kept(u64),
    /// The file exists.
    Complete(DriveFile),
}

/// Drive's `Range: bytes=0-n` on a 308: `n + 1` bytes kept; no header: none.
fn kept(response: &Response) -> Result<u64, Failure> {
    let Some(range) = response.headers().get("range") else {
        return Ok(0);
    };
    range
        .to_str()
        .ok()
        .and_then(|r| r.strip_prefix("bytes=0-"))
        .and_then(|last| last.trim().parse::<u64>().ok())
        .map(|last| last + 1)
        .ok_or_else(|| Failure::Protocol("unreadable Range on an upload session".into()))
}

impl DriveClient {
    fn transfer_timeout(&self, bytes: u64) -> Duration {
        self.timeout + Duration::from_secs(bytes / MIN_TRANSFER_RATE)
    }

    /// Stores `data` as a new file `name` in `parent` in one `multipart/related` request.
    /// Retried as a whole when that is safe; a retry after a lost answer can leave a duplicate,
    /// which the caller's clean-up removes like any older copy.
    pub(crate) async fn upload_multipart(
        &self,
        parent: &str,
        name: &str,
        data: Bytes,
    ) -> Result<DriveFile, Failure> {
        let url = self.upload_url("multipart");
        // Random, so that it cannot occur in the data by more than astronomical chance.
        let boundary = format!("ferry-{:032x}", rand::random::<u128>());
        let metadata = serde_json::json!({ "name": name, "parents": [parent] });
        let head = Bytes::from(format!(
            "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n\
             --{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
        ));
        let tail = Bytes::from(format!("\r\n--{boundary}--\r\n"));
        let content_type = format!("multipart/related; boundary={boundary}");
        let len = data.len() as u64;
        let response = self
            .send(true, || {
                let parts = VecDeque::from([head.clone(), data.clone(), tail.clone()]);
                self.http
                    .post(url.clone())
                    .timeout(self.transfer_timeout(len))
                    .header(CONTENT_TYPE, content_type.as_str())
                    .body(Body::wrap(ChunkBody::new(parts, 0, None)))
            })
            .await?;
        read_json(response).await
    }

    /// Opens a resumable upload of `len` bytes as a new file `name` in `parent`.
    pub(crate) async fn start_upload(
        &self,
        parent: &str,
        name: &str,
        len: u64,
    ) -> Result<Session, Failure> {
        let url = self.upload_url("resumable");
        let metadata = serde_json::json!({ "name": name, "parents": [parent] }).to_string();
        // A session holds nothing until data arrives, so opening one twice does no harm.
        let response = self
            .send(true, || {
                self.call(Method::POST, &url)
                    .header(CONTENT_TYPE, "application/json; charset=UTF-8")
                    .header("X-Upload-Content-Type", "application/octet-stream")
                    .header("X-Upload-Content-Length", len)
                    .body(metadata.clone())
            })
            .await?;
        let uri = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Url::parse(v).ok())
            .ok_or_else(|| Failure::Protocol("no session URI for a resumable upload".into()))?;
        Ok(Session { uri, len })
    }

    /// Ends a session that will not be completed, so Drive can drop what it holds. Best effort:
    /// an abandoned session expires anyway.
    pub(crate) async fn cancel_upload(&self, session: &Session) {
        let result = self
            .http
            .delete(session.uri.clone())
            .timeout(self.timeout)
            .send()
            .await;
        if let Err(e) = result {
            tracing::debug!(error = %e.without_url(), "could not cancel a Drive upload session");
        }
    }

    /// Sends the whole `body` into `session`, `chunk_size` bytes per request, resuming after
    /// failures from what Drive says it kept.
    pub(crate) async fn upload(
        &self,
        session: &Session,
        body: &mut ByteStream,
        chunk_size: usize,
        reporter: &mut Reporter<'_>,
    ) -> Result<Uploaded, UploadError> {
        let len = session.len;
        let chunk = chunk_size as u64;
        let mut hasher = Md5::new();
        // Bytes read but not yet confirmed by Drive; they start at object offset `kept`.
        let mut pending: VecDeque<Bytes> = VecDeque::new();
        let mut pending_len = 0u64;
        let mut kept = 0u64;
        let mut read = 0u64;
        let mut ended = false;
        // Failures since Drive last confirmed new bytes: a link that keeps dropping but makes
        // progress is given all the time it needs; one that makes none runs out of retries.
        let mut failures = 0u32;
        loop {
            while pending_len < chunk && !ended {
                match body.next().await {
                    Some(Ok(piece)) if piece.is_empty() => {}
                    Some(Ok(piece)) => {
                        read += piece.len() as u64;
                        if read > len {
                            return Err(BodyError::Long { len }.into());
                        }
                        hasher.update(&piece);
                        pending_len += piece.len() as u64;
                        pending.push_back(piece);
                    }
                    Some(Err(e)) => return Err(BodyError::Read(e).into()),
                    None => ended = true,
                }
            }
            if ended && read < len {
                return Err(BodyError::Short { got: read, len }.into());
            }
            let last = read == len && pending_len <= chunk;
            if last && !ended {
                // The request that completes the file goes only once the body proved to end
                // where announced: a longer body must not leave a truncated object behind.
                expect_end(body, len).await?;
                ended = true;
            }
            let send = if last {
                pending_len
            } else {
                pending_len.min(chunk) / CHUNK_QUANTUM as u64 * CHUNK_QUANTUM as u64
            };
            let standing = self
                .put_chunk(
                    session,
                    kept,
                    front(&pending, send),
                    &mut failures,
                    reporter,
                )
                .await?;
            match standing {
                Standing::Complete(file) => {
                    if !(last && kept + send == len) {
                        return Err(Failure::Protocol(format!(
                            "Drive completed the upload after {} of {len} bytes",
                            kept + send
                        ))
                        .into());
                    }
                    reporter.report(len);
                    return Ok(Uploaded {
                        file,
                        md5: hex(&hasher.finalize()),
                    });
                }
                Standing::Kept(now) => {
                    if now < kept || now > kept + send {
                        return Err(Failure::Protocol(format!(
                            "Drive says it holds {now} bytes of an upload at {kept}..{}",
                            kept + send
                        ))
                        .into());
                    }
                    if now > kept {
                        failures = 0;
                    }
                    drop_front(&mut pending, now - kept);
                    pending_len -= now - kept;
                    kept = now;
                }
            }
        }
    }

    /// Sends one chunk starting at object offset `start`. After a failure, waits, asks Drive
    /// where the session stands and returns that, so the caller goes on from there.
    async fn put_chunk(
        &self,
        session: &Session,
        start: u64,
        pieces: VecDeque<Bytes>,
        failures: &mut u32,
        reporter: &mut Reporter<'_>,
    ) -> Result<Standing, Failure> {
        let (tx, mut rx) = watch::channel(start);
        let body = ChunkBody::new(pieces, start, Some(tx));
        let size = body.remaining;
        let range = if size == 0 {
            format!("bytes */{}", session.len)
        } else {
            format!("bytes {start}-{}/{}", start + size - 1, session.len)
        };
        let request = self
            .http
            .put(session.uri.clone())
            .timeout(self.transfer_timeout(size))
            .header(CONTENT_RANGE, range)
            .body(Body::wrap(body))
            .send();
        tokio::pin!(request);
        let result = loop {
            tokio::select! {
                result = &mut request => break result,
                changed = rx.changed() => {
                    if changed.is_err() {
                        // The body is all handed over; only the answer is missing.
                        break (&mut request).await;
                    }
                    let sent = *rx.borrow_and_update();
                    reporter.report(sent);
                }
            }
        };
        let failure = match result {
            Ok(response) => match self.standing(response).await {
                Ok(standing) => return Ok(standing),
                Err(failure) => failure,
            },
            Err(e) => Failure::Transport(e.without_url()),
        };
        self.pause_after(failure, failures).await?;
        self.query_session(session, failures).await
    }

    /// Asks Drive how much of the session it holds (`Content-Range: bytes */total`).
    async fn query_session(
        &self,
        session: &Session,
        failures: &mut u32,
    ) -> Result<Standing, Failure> {
        loop {
            let result = self
                .http
                .put(session.uri.clone())
                .timeout(self.timeout)
                .header(CONTENT_RANGE, format!("bytes */{}", session.len))
                .header(CONTENT_LENGTH, 0)
                .send()
                .await;
            let failure = match result {
                Ok(response) => match self.standing(response).await {
                    Ok(standing) => return Ok(standing),
                    Err(failure) => failure,
                },
                Err(e) => Failure::Transport(e.without_url()),
            };
            self.pause_after(failure, failures).await?;
        }
    }

    /// Reads a session's answer: complete, partly kept, or a failure.
    async fn standing(&self, response: Response) -> Result<Standing, Failure> {
        match response.status() {
            StatusCode::OK | StatusCode::CREATED => {
                Ok(Standing::Complete(read_json(response).await?))
            }
            StatusCode::PERMANENT_REDIRECT => Ok(Standing::Kept(kept(&response)?)),
            StatusCode::NOT_FOUND | StatusCode::GONE => Err(Failure::UploadLost),
            _ => Err(Failure::from_response(response).await),
        }
    }

    /// Waits before the next try of a session call, or gives up with `failure`. Session calls
    /// are safe to repeat (they name their byte range), so every transient failure counts.
    async fn pause_after(&self, failure: Failure, failures: &mut u32) -> Result<(), Failure> {
        if failure.retry() == Retry::Never || *failures + 1 >= self.retry.attempts {
            return Err(failure);
        }
        let delay = self.retry.delay(*failures, None);
        tracing::debug!(failures = *failures, ?delay, error = %failure, "Drive upload chunk failed; resuming");
        tokio::time::sleep(delay).await;
        *failures += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffers(sizes: &[usize]) -> VecDeque<Bytes> {
        let mut next = 0u8;
        sizes
            .iter()
            .map(|&n| {
                Bytes::from(
                    (0..n)
                        .map(|_| {
                            next = next.wrapping_add(1);
                            next
                        })
                        .collect::<Vec<u8>>(),
                )
            })
            .collect()
    }

    fn flat(pieces: &VecDeque<Bytes>) -> Vec<u8> {
        pieces.iter().flat_map(|p| p.iter().copied()).collect()
    }

    #[test]
    fn front_takes_a_prefix_in_small_pieces() {
        let pending = buffers(&[10, PIECE * 2 + 5, 7]);
        let all = flat(&pending);
        for len in [0, 3, 10, 11, PIECE as u64 + 10, all.len() as u64] {
            let taken = front(&pending, len);
            assert_eq!(flat(&taken), all[..len as usize]);
            assert!(taken.iter().all(|p| p.len() <= PIECE && !p.is_empty()));
        }
    }

    #[test]
    fn drop_front_removes_exactly_a_prefix() {
        let all = flat(&buffers(&[10, 20, 30]));
        for len in [0, 5, 10, 29, 30, 59, 60] {
            let mut pending = buffers(&[10, 20, 30]);
            drop_front(&mut pending, len);
            assert_eq!(flat(&pending), all[len as usize..], "{len}");
        }
    }

    #[tokio::test]
    async fn read_small_checks_the_length() {
        let stream = |parts: Vec<&'static [u8]>| -> ByteStream {
            Box::pin(futures::stream::iter(
                parts.into_iter().map(|p| Ok(Bytes::from_static(p))),
            ))
        };
        let mut reporter = Reporter::new(&|_| {});
        let (data, md5) = read_small(&mut stream(vec![b"ab", b"c"]), 3, &mut reporter)
            .await
            .unwrap();
        assert_eq!(&data[..], b"abc");
        assert_eq!(md5, "900150983cd24fb0d6963f7d28e17f72");
        assert!(matches!(
            read_small(&mut stream(vec![b"ab"]), 3, &mut reporter).await,
            Err(BodyError::Short { got: 2, len: 3 })
        ));
        assert!(matches!(
            read_small(&mut stream(vec![b"ab", b"cd"]), 3, &mut reporter).await,
            Err(BodyError::Long { len: 3 })
        ));
    }
}

//! What the HTTP storages ([`crate::s3`], [`crate::webdav`]) share: timeouts and retries
//! ([`HttpOptions`]), the one HTTP client and OpenDAL operator per storage, the status-code
//! table, the classification of OpenDAL errors, and the length-checked upload body.
//!
//! **One connection pool per storage, so per process**: a storage builds one
//! [`reqwest::Client`] and one OpenDAL `Operator` on it when it is constructed; every call
//! (all of git-annex's ASYNC jobs included) clones the operator, which is a reference count,
//! so connections are kept alive and reused across requests. WebDAV's own streaming PUT goes
//! through the same client, hence the same pool.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::{Buffer, HttpBody, HttpTransport, HttpTransporter, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;

use crate::{ByteStream, ErrorKind};

/// Timeouts and retries of an HTTP storage. Every request has a deadline: a control request
/// ([`HttpOptions::timeout`]) or a stall limit on data transfers ([`HttpOptions::io_timeout`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// How long to wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Deadline of one control request (look up, delete, list page, copy, move…).
    pub timeout: Duration,
    /// Longest time a transfer may go without moving a byte before it is given up. Also bounds
    /// each multipart part of an S3 upload (one part, [`crate::s3::PART_SIZE`] bytes or more,
    /// must go through within this time) and the wait for a server's answer to a finished
    /// upload.
    pub io_timeout: Duration,
    /// How often an idempotent request that failed on a network error, a timeout or a 5xx
    /// answer is tried again (0: never). Uploads are retried only when their bytes can be sent
    /// again: an S3 part (held in memory), a whole `put_file` (the file is reopened).
    pub retries: usize,
    /// The first wait before a retry; it doubles each time (with jitter), up to 30 s.
    pub retry_delay: Duration,
}

impl Default for HttpOptions {
    fn default() -> HttpOptions {
        HttpOptions {
            connect_timeout: Duration::from_secs(30),
            timeout: Duration::from_secs(60),
            // Generous: a part of an S3 multipart upload (8 MiB) must get through within it,
            // which takes 64 s at 1 Mbit/s.
            io_timeout: Duration::from_secs(120),
            retries: 3,
            retry_delay: Duration::from_secs(1),
        }
    }
}

/// Downloads with at least this many bytes left go as [`READ_STREAMS`] ranged GETs at once.
/// One HTTP stream is often capped well below the link (by the server, a proxy, or TCP over a
/// long path): `rclone serve webdav` sends ~450 MB/s on one connection here and ~1 GB/s on
/// four, which is why rclone splits downloads over 256 MiB the same way. Smaller objects (and
/// every chunk of a chunked remote up to this size) keep the single stream, which costs one
/// request.
pub(crate) const PARALLEL_READ_MIN: u64 = 64 * 1024 * 1024;
/// How many ranged GETs of one download are in flight at once.
pub(crate) const READ_STREAMS: usize = 4;
/// The size of each ranged GET. Each is held in memory until the bytes before it are written,
/// so one download holds at most about `READ_STREAMS × READ_PIECE` (16 MiB); a failed piece is
/// fetched again by the retry layer as a whole, which a single long stream could not be.
pub(crate) const READ_PIECE: usize = 4 * 1024 * 1024;

/// Opens `key` for reading `remaining` bytes: in ranged pieces fetched [`READ_STREAMS`] at a
/// time when that is at least [`PARALLEL_READ_MIN`], else as one stream. Either way the reader
/// hands out the bytes in order, so a download cut short still leaves a prefix of the object
/// to resume from.
pub(crate) async fn open_reader(
    op: &Operator,
    key: &str,
    remaining: u64,
) -> opendal::Result<opendal::Reader> {
    let reader = op.reader_with(key);
    if remaining >= PARALLEL_READ_MIN {
        reader.concurrent(READ_STREAMS).chunk(READ_PIECE).await
    } else {
        reader.await
    }
}

/// A download of `range` as pieces of [`READ_PIECE`] bytes, [`READ_STREAMS`] of them fetched at
/// once by `fetch` (one ranged request each, collected whole), handed out in order: for a
/// storage whose client has no concurrent reader of its own (Drive). Memory stays at about
/// `READ_STREAMS × READ_PIECE`; the first failed piece ends the stream with its error, after
/// every byte before it.
pub(crate) fn ranged_in_order<F, Fut>(range: std::ops::Range<u64>, fetch: F) -> ByteStream
where
    F: FnMut(std::ops::Range<u64>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = std::io::Result<Vec<bytes::Bytes>>> + Send + 'static,
{
    use futures::{StreamExt, TryStreamExt};
    let end = range.end;
    let pieces = range
        .step_by(READ_PIECE)
        .map(move |start| start..(start + READ_PIECE as u64).min(end));
    Box::pin(
        futures::stream::iter(pieces)
            .map(fetch)
            .buffered(READ_STREAMS)
            .map_ok(|piece| futures::stream::iter(piece.into_iter().map(Ok)))
            .try_flatten(),
    )
}

/// The longest wait between two retries.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Installs ring as rustls's crypto provider for this process, once, before any HTTP client
/// is built (reqwest is built without a provider of its own, see Cargo.toml).
pub(crate) fn install_tls_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Err only when a provider is already installed (by an embedding program): keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The HTTP client of one storage: its pool is shared by OpenDAL and by our own requests.
///
/// `read_timeout` (rather than a total timeout, which would cap the size of a transfer) makes
/// a stalled response fail after `io_timeout` of silence.
pub(crate) fn http_client(options: &HttpOptions) -> Result<reqwest::Client, reqwest::Error> {
    install_tls_provider();
    reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.io_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_keepalive(Duration::from_secs(30))
        .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Puts `client` under `op` and adds the timeout and retry layers, in the order OpenDAL
/// documents as safe: the timeout bounds each attempt, the retry wraps the attempts.
pub(crate) fn finish_operator(
    op: Operator,
    client: reqwest::Client,
    options: &HttpOptions,
) -> Operator {
    let transport = HttpTransporter::new(StatusTransport {
        inner: ReqwestTransport::new(client),
    });
    let context = op.base_context().with_http_transport(transport);
    let mut retry = RetryLayer::new()
        .with_max_times(options.retries)
        .with_factor(2.0)
        .with_jitter()
        .with_max_delay(MAX_RETRY_DELAY.max(options.retry_delay));
    if !options.retry_delay.is_zero() {
        retry = retry.with_min_delay(options.retry_delay);
    }
    op.with_context(context)
        .layer(
            TimeoutLayer::new()
                .with_timeout(options.timeout)
                .with_io_timeout(options.io_timeout),
        )
        .layer(retry.with_notify(log_retry))
}

/// Logs a retry at debug level. OpenDAL's default notifier logs the whole error, whose
/// context holds response headers; ours keeps it to one cleaned line.
fn log_retry(event: opendal::layers::RetryEvent<'_>) {
    tracing::debug!(
        operation = ?event.op,
        attempt = event.attempt,
        after_ms = event.retry_after.as_millis() as u64,
        error = %one_line(event.err),
        "retrying"
    );
}

/// OpenDAL's reqwest transport with one correction: a 401 answer becomes
/// `PermissionDenied`.
///
/// Why here: OpenDAL's WebDAV service classifies 401 as a permanent `Unexpected` error and
/// its error keeps the status only inside a formatted context string. The transport is the
/// one place that still sees the status as a number, so a rejected login is recognized here,
/// once, for every storage, instead of by matching message text. No S3 or WebDAV request of
/// ours expects a 401 as part of a normal exchange.
struct StatusTransport {
    inner: ReqwestTransport,
}

impl HttpTransport for StatusTransport {
    async fn fetch(&self, req: http::Request<Buffer>) -> opendal::Result<http::Response<HttpBody>> {
        let resp = self.inner.fetch(req).await?;
        if resp.status() == http::StatusCode::UNAUTHORIZED {
            return Err(opendal::Error::new(
                opendal::ErrorKind::PermissionDenied,
                "the server answered 401 Unauthorized: it rejected the credentials",
            ));
        }
        Ok(resp)
    }
}

/// The kind of a failed HTTP answer, for requests we send ourselves (WebDAV's streaming PUT).
pub(crate) fn kind_for_status(status: http::StatusCode) -> ErrorKind {
    match status.as_u16() {
        404 | 410 => ErrorKind::NotFound,
        401 | 403 => ErrorKind::PermissionDenied,
        // A full store: retrying soon will not help.
        507 => ErrorKind::Other,
        // Timeouts, rate limits, client disconnect as reported by some proxies, server errors.
        408 | 429 | 499 | 500..=599 => ErrorKind::Unreachable,
        _ => ErrorKind::Other,
    }
}

/// Classifies an OpenDAL error; each storage's `map_error` starts from this.
///
/// Only OpenDAL's `NotFound` (a 404 answer) is "not found". Errors OpenDAL marks temporary
/// (network failures, timeouts, 5xx, 429), and those that stayed so through every retry
/// ("persistent"), are [`ErrorKind::Unreachable`]: trying again later may work.
pub(crate) fn classify(err: &opendal::Error) -> ErrorKind {
    use opendal::ErrorKind as K;
    match err.kind() {
        K::NotFound => ErrorKind::NotFound,
        K::PermissionDenied => ErrorKind::PermissionDenied,
        K::ConfigInvalid => ErrorKind::Config,
        K::Unsupported => ErrorKind::Unsupported,
        K::RateLimited => ErrorKind::Unreachable,
        _ if err.is_temporary() || err.is_persistent() => ErrorKind::Unreachable,
        _ => ErrorKind::Other,
    }
}

/// An OpenDAL error as one line of at most a few hundred characters: its text may carry a
/// server's HTML error page and formatted response headers, and git-annex shows one line.
/// It never holds a secret: OpenDAL does not put request headers (where credentials travel)
/// into errors, and endpoints with credentials in them are refused by the storages' configs.
pub(crate) fn one_line(err: &opendal::Error) -> String {
    const MAX: usize = 400;
    let mut text = String::new();
    for word in err.to_string().split_whitespace() {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(word);
        if text.len() > MAX {
            let mut cut = MAX;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
            break;
        }
    }
    text
}

/// The io kind that [`ErrorKind::from_io`] turns back into `kind`, for errors that must travel
/// inside the `io::Error`s of a [`ByteStream`].
pub(crate) fn io_kind_for(kind: ErrorKind) -> std::io::ErrorKind {
    match kind {
        ErrorKind::NotFound => std::io::ErrorKind::NotFound,
        ErrorKind::PermissionDenied => std::io::ErrorKind::PermissionDenied,
        ErrorKind::Unreachable => std::io::ErrorKind::TimedOut,
        ErrorKind::Unsupported => std::io::ErrorKind::Unsupported,
        // Damaged comes only from decrypting (sealed.rs), never from an HTTP response.
        ErrorKind::Config | ErrorKind::Local | ErrorKind::Damaged | ErrorKind::Other => {
            std::io::ErrorKind::Other
        }
    }
}

/// A modification time from OpenDAL metadata.
pub(crate) fn modified(meta: &opendal::Metadata) -> Option<SystemTime> {
    meta.last_modified().map(SystemTime::from)
}

/// Why an upload body stopped short: the caller's data, not the store, is at fault.
#[derive(Debug, Clone)]
pub(crate) enum BodyFault {
    /// The source stream failed.
    Source(Arc<std::io::Error>),
    /// It ended after this many of the announced bytes.
    Short(u64),
    /// It gave more than the announced length.
    Long,
}

impl BodyFault {
    /// The cause, for an error message.
    pub(crate) fn describe(&self, len: u64) -> String {
        match self {
            BodyFault::Source(e) => format!("the data to store could not be read: {e}"),
            BodyFault::Short(n) => format!("the data to store ended after {n} of {len} bytes"),
            BodyFault::Long => {
                format!("the data to store is longer than the announced {len} bytes")
            }
        }
    }
}

/// Shared slot where a [`CheckedBody`] records why it failed, so that the uploader can tell
/// a local fault from a network one after the HTTP client reports "body error".
pub(crate) type FaultSlot = Arc<Mutex<Option<BodyFault>>>;

/// An upload body: `body`, checked to be exactly `len` bytes long. It calls `sent` with the
/// running total after each chunk is handed on. On a fault it records why in its [`FaultSlot`]
/// and ends with an error, so that an upload built on it fails instead of storing a truncated
/// object. It holds one chunk at a time: memory does not grow with the object.
pub(crate) struct CheckedBody<F> {
    body: ByteStream,
    len: u64,
    total: u64,
    done: bool,
    fault: FaultSlot,
    sent: F,
}

impl<F: Fn(u64) + Send + Unpin> CheckedBody<F> {
    /// Checks `body` against `len`; see the type's docs.
    pub(crate) fn new(body: ByteStream, len: u64, fault: FaultSlot, sent: F) -> CheckedBody<F> {
        CheckedBody {
            body,
            len,
            total: 0,
            done: false,
            fault,
            sent,
        }
    }

    fn fail(&mut self, fault: BodyFault) -> std::io::Error {
        self.done = true;
        let err = std::io::Error::other(fault.describe(self.len));
        if let Ok(mut slot) = self.fault.lock() {
            *slot = Some(fault);
        }
        err
    }
}

impl<F: Fn(u64) + Send + Unpin> Stream for CheckedBody<F> {
    type Item = std::io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let item = match this.body.poll_next_unpin(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        Poll::Ready(match item {
            Some(Ok(chunk)) => {
                this.total += chunk.len() as u64;
                if this.total > this.len {
                    Some(Err(this.fail(BodyFault::Long)))
                } else {
                    (this.sent)(this.total);
                    Some(Ok(chunk))
                }
            }
            Some(Err(e)) => Some(Err(this.fail(BodyFault::Source(Arc::new(e))))),
            None if this.total < this.len => {
                let total = this.total;
                Some(Err(this.fail(BodyFault::Short(total))))
            }
            None => {
                this.done = true;
                None
            }
        })
    }
}

/// The recorded fault of a body, if it failed.
pub(crate) fn take_fault(slot: &FaultSlot) -> Option<BodyFault> {
    slot.lock().ok().and_then(|mut f| f.take())
}

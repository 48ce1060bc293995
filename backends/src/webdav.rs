//! The WebDAV storage: objects are files under a collection of a WebDAV server (Nextcloud,
//! ownCloud, Apache mod_dav, rclone serve webdav…), on OpenDAL plus one request of our own.
//!
//! - **Atomic put**: the bytes go to a temporary name in the `.ferry-tmp/` collection at the
//!   store root, then one `MOVE` (with `Overwrite: T`) puts them in place, so a cut upload is
//!   never visible at the object's path. `MOVE` within one server is a rename on every server
//!   we know of. Temps of killed uploads are removed by [`Backend::clean_stale_uploads`] once
//!   older than [`STALE_AFTER`]: over HTTP there is no lock to tell a live upload from a dead
//!   one, so age is the only safe sign.
//! - **Streaming upload with bounded memory**: OpenDAL's WebDAV writer sends an object in one
//!   request from one in-memory buffer, which would hold a whole 1 GiB object in RAM. So the
//!   `PUT` to the temporary name is ours: a `reqwest` request with `Content-Length` and a
//!   streamed body ([`reqwest::Body::wrap_stream`]) that pulls the caller's chunks one at a
//!   time (256 KiB from a file), so memory stays at a few chunks whatever the size. It goes
//!   through the same client, hence the same connection pool, as OpenDAL's requests.
//!   A watchdog fails it when no byte moved for `io_timeout`.
//! - **Everything else** (PROPFIND, GET with ranges, MKCOL of parent collections, MOVE,
//!   DELETE) is OpenDAL's, with its timeout and retry layers.
//! - **Errors**: [`map_error`] classifies, including the 401 that OpenDAL leaves unmapped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_crypto::Secret;
use futures::TryStreamExt;
use opendal::Operator;

use crate::http_common::{self, CheckedBody, HttpOptions};
use crate::{
    Backend, BackendError, ByteStream, Capabilities, Description, ErrorKind, ListEntry, ObjectMeta,
    ObjectPath, Progress,
};

/// The collection (at the store root) holding uploads in progress; never listed as objects.
pub const TEMP_DIR: &str = ".ferry-tmp";

/// A temporary upload older than this is taken for the leftover of a killed process.
pub const STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Read size of the local file in [`Backend::put_file`].
const FILE_CHUNK: usize = 256 * 1024;

/// Where and how to reach a WebDAV collection.
#[derive(Debug, Clone)]
pub struct WebdavConfig {
    /// The collection holding the store, e.g. `https://cloud.example.com/remote.php/dav/files/me/annex`.
    /// Created (with its parents) at [`Backend::initialize`] when missing.
    pub url: String,
    /// The user name for basic authentication.
    pub user: Option<String>,
    /// The password for basic authentication (never printed).
    pub password: Option<Secret<String>>,
    /// A bearer token, instead of user and password (never printed).
    pub bearer_token: Option<Secret<String>>,
    /// Timeouts and retries.
    pub http: HttpOptions,
}

/// A WebDAV collection as a store.
#[derive(Debug, Clone)]
pub struct WebdavBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The one operator of this store; cloned into every call.
    op: Operator,
    /// The same client (and pool) as the operator's, for the streaming PUT.
    client: reqwest::Client,
    /// The store URL without a trailing slash, for messages.
    endpoint: String,
    /// `scheme://host[:port]` of the store URL.
    origin: String,
    /// The store collection's path on the server, decoded, `/` at both ends.
    root: String,
    /// The `Authorization` header value, if any (marked sensitive: never logged).
    auth: Option<Secret<http::HeaderValue>>,
    options: HttpOptions,
    /// `webdav <url>`, for messages.
    storage: String,
    /// `.ferry-tmp/` is known to exist.
    temp_dir_ready: AtomicBool,
    /// The store collection answered once in this process, so a 404 on an object means the
    /// object is absent, not the store.
    root_confirmed: AtomicBool,
    /// Makes temp names unique within this process.
    counter: AtomicU64,
}

/// A failure from one of the two HTTP paths of this storage.
#[derive(Debug)]
pub enum WebdavFailure<'a> {
    /// From OpenDAL (every request but the upload).
    Opendal(&'a opendal::Error),
    /// The upload request could not be sent or its answer not read.
    Http(&'a reqwest::Error),
    /// The upload got this (unsuccessful) answer.
    Status(http::StatusCode),
}

/// Classifies a WebDAV failure; the one place that does.
///
/// - OpenDAL's errors as for every HTTP storage (404 → not found; network, timeout, 5xx →
///   unreachable). OpenDAL's WebDAV service would report a 401 (wrong password) as a permanent
///   `Unexpected`; the shared transport turns it into `PermissionDenied` before that (see
///   `http_common`), because it is the only place that still sees the status code.
/// - The upload's own answers by status: 401/403 permission, 5xx/408/429 unreachable; 409
///   (a parent collection vanished) and the rest are "other".
/// - The upload's client errors (connect, timeout, reset mid-body) are unreachable.
pub fn map_error(failure: WebdavFailure<'_>) -> ErrorKind {
    match failure {
        WebdavFailure::Opendal(err) => http_common::classify(err),
        WebdavFailure::Status(status) => http_common::kind_for_status(status),
        WebdavFailure::Http(err) if err.is_builder() => ErrorKind::Config,
        WebdavFailure::Http(_) => ErrorKind::Unreachable,
    }
}

fn opendal_kind(err: &opendal::Error) -> ErrorKind {
    map_error(WebdavFailure::Opendal(err))
}

impl WebdavBackend {
    /// A store in the collection at `config.url`. Nothing is sent until the first operation.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an unusable setting: a URL that is not http(s) or holds
    /// credentials, both a bearer token and a user, a password without a user.
    pub fn new(config: WebdavConfig) -> Result<WebdavBackend, BackendError> {
        let fail = |why: String| {
            BackendError::new(ErrorKind::Config, "configure", "", "webdav").with_cause(why)
        };
        if !config.url.contains("://") {
            return Err(fail(format!("url {:?} is not an http(s) URL", config.url))
                .with_hint("set url= to the collection, e.g. https://host/dav/annex"));
        }
        let endpoint =
            crate::s3::endpoint_url(&config.url).map_err(|why| fail(why).with_hint("fix url="))?;
        // OpenDAL's root, not its endpoint, carries the collection's path: it creates missing
        // parent collections only below the server's top, walking up through the root. The
        // root is a plain path (OpenDAL encodes it), so the URL's encoding is undone first.
        let (origin, root) = split_url(&endpoint);
        let mut builder = opendal::services::Webdav::default()
            .endpoint(origin)
            .root(&root);
        let auth = match (&config.user, &config.password, &config.bearer_token) {
            (Some(_), _, Some(_)) => {
                return Err(fail(
                    "both a user and a bearer token are set; use one".into(),
                ));
            }
            (None, Some(_), _) => return Err(fail("a password is set but no user".into())),
            (Some(user), password, None) => {
                let password = password.as_ref().map(|p| p.expose().as_str()).unwrap_or("");
                builder = builder.username(user).password(password);
                Some(
                    opendal::raw::format_authorization_by_basic(user, password)
                        .map_err(|e| fail(http_common::one_line(&e)))?,
                )
            }
            (None, None, Some(token)) => {
                builder = builder.token(token.expose());
                Some(
                    opendal::raw::format_authorization_by_bearer(token.expose())
                        .map_err(|e| fail(http_common::one_line(&e)))?,
                )
            }
            (None, None, None) => None,
        };
        let auth = match auth {
            Some(value) => {
                let mut value = http::HeaderValue::from_str(&value).map_err(|_| {
                    fail("the credentials hold characters HTTP cannot carry".into())
                })?;
                value.set_sensitive(true);
                Some(Secret::new(value))
            }
            None => None,
        };
        let op = Operator::new(builder).map_err(|e| fail(http_common::one_line(&e)))?;
        let client = http_common::http_client(&config.http)
            .map_err(|e| fail(format!("cannot set up HTTP: {e}")))?;
        let op = http_common::finish_operator(op, client.clone(), &config.http);
        Ok(WebdavBackend {
            inner: Arc::new(Inner {
                op,
                client,
                storage: format!("webdav {endpoint}"),
                origin: origin.to_owned(),
                root,
                endpoint,
                auth,
                options: config.http,
                temp_dir_ready: AtomicBool::new(false),
                root_confirmed: AtomicBool::new(false),
                counter: AtomicU64::new(0),
            }),
        })
    }
}

impl Inner {
    fn err(&self, op: &'static str, location: &str, err: opendal::Error) -> BackendError {
        let kind = opendal_kind(&err);
        let out = BackendError::new(kind, op, location, self.storage.clone())
            .with_cause(http_common::one_line(&err));
        match kind {
            ErrorKind::PermissionDenied => out
                .with_hint("check the user and password (or token) and that they may write there"),
            _ => out,
        }
    }

    fn fail(&self, kind: ErrorKind, op: &'static str, location: &str, why: String) -> BackendError {
        BackendError::new(kind, op, location, self.storage.clone()).with_cause(why)
    }

    /// Refuses paths inside our temp collection: an object there would be deleted as a stale
    /// upload.
    fn resolve<'p>(&self, op: &'static str, path: &'p ObjectPath) -> Result<&'p str, BackendError> {
        if path.segments().next() == Some(TEMP_DIR) {
            return Err(self.fail(
                ErrorKind::Unsupported,
                op,
                path.as_str(),
                format!("{TEMP_DIR} is reserved for ferry's temporary uploads"),
            ));
        }
        Ok(path.as_str())
    }

    /// Succeeds when the store collection exists and lets us in; an error otherwise, never
    /// "absent" (a missing store is not "every object absent").
    ///
    /// A PROPFIND of our own: OpenDAL answers a stat of its root without asking the server.
    async fn check_root(&self, op: &'static str, location: &str) -> Result<(), BackendError> {
        const PROPFIND: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
            <D:propfind xmlns:D=\"DAV:\"><D:prop><D:resourcetype/></D:prop></D:propfind>";
        let url = format!(
            "{}{}",
            self.origin,
            opendal::raw::percent_encode_path(&self.root)
        );
        let method = http::Method::from_bytes(b"PROPFIND").expect("PROPFIND is a valid method");
        let mut request = self
            .client
            .request(method, &url)
            .header("Depth", "0")
            .header(http::header::CONTENT_TYPE, "application/xml")
            .timeout(self.options.timeout)
            .body(PROPFIND);
        if let Some(auth) = &self.auth {
            request = request.header(http::header::AUTHORIZATION, auth.expose().clone());
        }
        let response = request.send().await.map_err(|e| {
            let kind = map_error(WebdavFailure::Http(&e));
            self.fail(
                kind,
                op,
                location,
                format!("cannot reach the server: {}", e.without_url()),
            )
        })?;
        let status = response.status();
        match status {
            http::StatusCode::MULTI_STATUS => {}
            http::StatusCode::NOT_FOUND => {
                return Err(self
                    .fail(
                        ErrorKind::Unreachable,
                        op,
                        location,
                        "the store's collection does not exist".into(),
                    )
                    .with_hint("check url=; `git annex enableremote` creates the collection"));
            }
            _ => {
                let kind = map_error(WebdavFailure::Status(status));
                let err = self.fail(kind, op, location, format!("the server answered {status}"));
                return Err(match kind {
                    ErrorKind::PermissionDenied => err.with_hint(
                        "check the user and password (or token) and that they may write there",
                    ),
                    _ => err,
                });
            }
        }
        // The answer is small (one resource, one property). A file instead of a collection
        // has an empty resourcetype; every server writes `collection` in it for a collection.
        let body = response.text().await.map_err(|e| {
            self.fail(
                ErrorKind::Unreachable,
                op,
                location,
                format!("cannot read the server's answer: {}", e.without_url()),
            )
        })?;
        if !body.contains("collection") {
            return Err(self.fail(
                ErrorKind::Config,
                op,
                location,
                "the store URL names a file, not a collection".into(),
            ));
        }
        self.root_confirmed.store(true, Ordering::Relaxed);
        Ok(())
    }

    async fn stat(&self, path: &ObjectPath) -> Result<Option<ObjectMeta>, BackendError> {
        const OP: &str = "look up";
        let key = self.resolve(OP, path)?;
        match self.op.stat(key).await {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectMeta {
                len: meta.content_length(),
                modified: http_common::modified(&meta),
            })),
            Ok(_) => Err(self.fail(
                ErrorKind::Other,
                OP,
                key,
                "a collection is where the object should be".into(),
            )),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => {
                if !self.root_confirmed.load(Ordering::Relaxed) {
                    self.check_root(OP, key).await?;
                }
                Ok(None)
            }
            Err(e) => Err(self.err(OP, key, e)),
        }
    }

    async fn ensure_temp_dir(&self, op: &'static str, location: &str) -> Result<(), BackendError> {
        if self.temp_dir_ready.load(Ordering::Relaxed) {
            return Ok(());
        }
        // MKCOL of every missing collection on the way; an existing one is fine (201 or 405).
        self.op
            .create_dir(&format!("{TEMP_DIR}/"))
            .await
            .map_err(|e| self.err(op, location, e))?;
        self.temp_dir_ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn temp_name(&self) -> String {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!(
            "{TEMP_DIR}/{secs}-{}-{}-{:016x}.tmp",
            std::process::id(),
            self.counter.fetch_add(1, Ordering::Relaxed),
            rand::random::<u64>()
        )
    }

    async fn put(
        &self,
        path: &ObjectPath,
        body: ByteStream,
        len: u64,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        const OP: &str = "store";
        let key = self.resolve(OP, path)?;
        self.ensure_temp_dir(OP, key).await?;
        let temp = self.temp_name();
        let shared = Arc::new(std::sync::Mutex::new(body));
        let mut tries = 0;
        let uploaded = loop {
            let touched = Arc::new(AtomicBool::new(false));
            let lent = Box::pin(LentBody {
                stream: shared.clone(),
                touched: touched.clone(),
            });
            match self.upload(&temp, key, lent, len, progress).await {
                // The request failed before the connection took a byte of the body: typically
                // a pooled keep-alive connection that the server closed just then. The body is
                // intact, so this one failure is retried at once, even for a stream.
                Err(e) if e.is_retryable() && !touched.load(Ordering::Relaxed) && tries == 0 => {
                    tracing::debug!(path = %path, error = %e, "upload failed before sending; retrying");
                    tries += 1;
                }
                result => break result,
            }
        };
        let result = match uploaded {
            // MOVE with Overwrite: T; OpenDAL creates the parent collections first.
            Ok(()) => self
                .op
                .rename(&temp, key)
                .await
                .map_err(|e| self.err(OP, key, e)),
            Err(e) => Err(e),
        };
        if result.is_err() {
            // Best effort: a leftover is found again by clean_stale_uploads.
            if let Err(e) = self.op.delete(&temp).await {
                tracing::debug!(temp, error = %http_common::one_line(&e), "cannot delete a temporary upload");
            }
        }
        result
    }

    /// PUTs `body` to `temp` as one streamed request (see the module docs), calling
    /// `progress` as the body is taken by the connection.
    async fn upload(
        &self,
        temp: &str,
        key: &str,
        body: ByteStream,
        len: u64,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        const OP: &str = "store";
        // Encoded exactly as OpenDAL encodes the same path, so that its MOVE finds the file.
        let url = format!(
            "{}{}",
            self.origin,
            opendal::raw::percent_encode_path(&format!("{}{temp}", self.root))
        );
        let fault = http_common::FaultSlot::default();
        let (sent_tx, mut sent_rx) = tokio::sync::watch::channel(0u64);
        let body = CheckedBody::new(body, len, fault.clone(), move |n| {
            sent_tx.send_replace(n);
        });
        let mut request = self
            .client
            .put(&url)
            .header(http::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(body));
        if let Some(auth) = &self.auth {
            request = request.header(http::header::AUTHORIZATION, auth.expose().clone());
        }
        let stall = self.options.io_timeout;
        let timed_out = |what: &str| {
            self.fail(
                ErrorKind::Unreachable,
                OP,
                key,
                format!("{what} for {} s", stall.as_secs_f32()),
            )
        };
        let send = request.send();
        tokio::pin!(send);
        let mut reported = 0u64;
        // The watchdog: every wait is for the next byte to be taken, or for the answer; the
        // deadline restarts whenever a byte moves, so a slow but moving upload never times out.
        let answer = loop {
            tokio::select! {
                answer = &mut send => break answer,
                changed = tokio::time::timeout(stall, sent_rx.changed()) => match changed {
                    Ok(Ok(())) => {
                        let n = *sent_rx.borrow_and_update();
                        if n > reported {
                            reported = n;
                            progress(n);
                        }
                    }
                    // The body is gone (sent, or failed): only the answer is left to wait for.
                    Ok(Err(_)) => match tokio::time::timeout(stall, &mut send).await {
                        Ok(answer) => break answer,
                        Err(_) => return Err(timed_out("the server did not answer the upload")),
                    },
                    Err(_) => return Err(timed_out("the upload did not move")),
                },
            }
        };
        let last = *sent_rx.borrow();
        if let Some(fault) = http_common::take_fault(&fault) {
            return Err(self
                .fail(ErrorKind::Local, OP, key, fault.describe(len))
                .with_hint("the data to store could not be read in full"));
        }
        let response = answer.map_err(|e| {
            let kind = map_error(WebdavFailure::Http(&e));
            self.fail(kind, OP, key, format!("upload failed: {}", e.without_url()))
        })?;
        let status = response.status();
        if !status.is_success() {
            if status == http::StatusCode::CONFLICT {
                // The temp collection vanished (someone deleted it): make it again next time.
                self.temp_dir_ready.store(false, Ordering::Relaxed);
            }
            let kind = map_error(WebdavFailure::Status(status));
            return Err(self.fail(
                kind,
                OP,
                key,
                format!("the server answered {status} to the upload"),
            ));
        }
        if last > reported {
            progress(last);
        }
        Ok(())
    }

    async fn get(&self, path: &ObjectPath, offset: u64) -> Result<ByteStream, BackendError> {
        const OP: &str = "retrieve";
        let key = self.resolve(OP, path)?;
        // The length first: a range from the end would be answered 416, and a 404 should come
        // from `get` itself rather than from the first poll of the stream.
        let meta = self.op.stat(key).await.map_err(|e| self.err(OP, key, e))?;
        if !meta.is_file() {
            return Err(self.fail(
                ErrorKind::Other,
                OP,
                key,
                "a collection is where the object should be".into(),
            ));
        }
        let len = meta.content_length();
        if offset >= len {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let reader = crate::http_common::open_reader(&self.op, key, len - offset)
            .await
            .map_err(|e| self.err(OP, key, e))?;
        let stream = reader
            .into_bytes_stream(offset..len)
            .await
            .map_err(|e| self.err(OP, key, e))?;
        Ok(Box::pin(
            stream.map_err(|e| crate::s3::reclassify(e, opendal_kind)),
        ))
    }

    /// Every file and collection under `dir` (a path ending in `/`, or `/` for the store),
    /// recursively, paths relative to the store.
    async fn walk(
        &self,
        op: &'static str,
        dir: &str,
    ) -> Result<(Vec<opendal::Entry>, Vec<String>), BackendError> {
        let mut lister = self
            .op
            .lister_with(dir)
            .recursive(true)
            .await
            .map_err(|e| self.err(op, dir, e))?;
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        while let Some(entry) = lister.try_next().await.map_err(|e| self.err(op, dir, e))? {
            if entry.metadata().is_file() {
                files.push(entry);
            } else {
                dirs.push(entry.path().to_owned());
            }
        }
        Ok((files, dirs))
    }

    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ListEntry>, BackendError> {
        const OP: &str = "list";
        let dir = match prefix {
            Some(prefix) => format!("{}/", self.resolve(OP, prefix)?),
            None => "/".to_owned(),
        };
        let (files, _) = self.walk(OP, &dir).await?;
        let mut out = Vec::new();
        for entry in files {
            let path = entry.path().trim_start_matches('/');
            if path.starts_with(&format!("{TEMP_DIR}/")) {
                continue;
            }
            // A name that is no valid object path was not stored by ferry.
            let Ok(path) = ObjectPath::new(path) else {
                continue;
            };
            out.push(ListEntry {
                path,
                meta: ObjectMeta {
                    len: entry.metadata().content_length(),
                    modified: http_common::modified(entry.metadata()),
                },
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Deletes the collections under (and including) `dir` that hold no file, keeping every
    /// collection on the way to a file.
    ///
    /// WebDAV has no "remove if empty": DELETE of a collection removes its contents too. So
    /// the tree is listed first and only collections seen without files are deleted; a file
    /// stored into one of them between the listing and the DELETE (by another process) would
    /// be lost with it. git-annex asks for this only for directories it has emptied itself.
    async fn remove_empty_dir(&self, dir: &ObjectPath) -> Result<(), BackendError> {
        const OP: &str = "remove directory";
        let key = self.resolve(OP, dir)?;
        let base = format!("{key}/");
        let (files, dirs) = self.walk(OP, &base).await?;
        let files: Vec<String> = files
            .iter()
            .map(|e| e.path().trim_start_matches('/').to_owned())
            .collect();
        let holds_files = |d: &str| files.iter().any(|f| f.starts_with(d));
        let mut doomed = Vec::new();
        if !holds_files(&base) {
            doomed.push(base.clone());
        } else {
            for d in &dirs {
                let d = d.trim_start_matches('/');
                if d == base || holds_files(d) {
                    continue;
                }
                // Only the topmost empty collection: its DELETE takes the ones below.
                let parent = parent_dir(d);
                if parent.is_none_or(|p| p == base || holds_files(p)) {
                    doomed.push(d.to_owned());
                }
            }
        }
        for d in doomed {
            match self.op.delete(&d).await {
                Ok(()) => {}
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => {}
                Err(e) => return Err(self.err(OP, key, e)),
            }
        }
        Ok(())
    }

    async fn clean_stale_uploads(&self) -> Result<usize, BackendError> {
        const OP: &str = "clean up temporary uploads";
        let dir = format!("{TEMP_DIR}/");
        let mut lister = match self.op.lister(&dir).await {
            Ok(lister) => lister,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(self.err(OP, TEMP_DIR, e)),
        };
        let now = SystemTime::now();
        let mut removed = 0;
        while let Some(entry) = lister
            .try_next()
            .await
            .map_err(|e| self.err(OP, TEMP_DIR, e))?
        {
            if !entry.metadata().is_file() {
                continue;
            }
            // The newer of the name's start time and the server's modification time: an
            // upload still writing keeps its temp "young".
            let started = temp_started(entry.name());
            let touched = http_common::modified(entry.metadata());
            let Some(newest) = started.into_iter().chain(touched).max() else {
                continue;
            };
            if now.duration_since(newest).unwrap_or_default() < STALE_AFTER {
                continue;
            }
            match self.op.delete(entry.path()).await {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => {}
                Err(e) => return Err(self.err(OP, TEMP_DIR, e)),
            }
        }
        Ok(removed)
    }
}

/// The caller's body, lent to one upload attempt: records whether the attempt took anything
/// from it, so that an attempt that failed before sending can hand it to the next one.
struct LentBody {
    stream: Arc<std::sync::Mutex<ByteStream>>,
    touched: Arc<AtomicBool>,
}

impl futures::Stream for LentBody {
    type Item = std::io::Result<bytes::Bytes>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.touched.store(true, Ordering::Relaxed);
        match self.stream.lock() {
            Ok(mut stream) => stream.as_mut().poll_next(cx),
            Err(_) => std::task::Poll::Ready(Some(Err(std::io::Error::other(
                "the data to store was dropped by a failed upload",
            )))),
        }
    }
}

/// Splits a store URL into its origin (`scheme://host:port`) and its path as OpenDAL's root:
/// percent-decoded, with `/` at both ends.
fn split_url(url: &str) -> (&str, String) {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    let (origin, path) = match url[after_scheme..].find('/') {
        Some(i) => url.split_at(after_scheme + i),
        None => (url, ""),
    };
    let path = opendal::raw::percent_decode_path(path.trim_matches('/'));
    let root = if path.is_empty() {
        "/".to_owned()
    } else {
        format!("/{path}/")
    };
    (origin, root)
}

/// The parent of a collection path `a/b/` (`a/`), `None` at the top.
fn parent_dir(dir: &str) -> Option<&str> {
    let trimmed = dir.trim_end_matches('/');
    trimmed.rfind('/').map(|i| &dir[..=i])
}

/// When the upload named `name` started, from the seconds at the start of temp names.
fn temp_started(name: &str) -> Option<SystemTime> {
    let secs: u64 = name.split('-').next()?.parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Progress that never goes down: a retried upload starts again from 0, but what git-annex
/// was told stays the high-water mark.
struct Monotonic<'a> {
    inner: Progress<'a>,
    high: AtomicU64,
    started: AtomicBool,
}

impl Monotonic<'_> {
    fn report(&self, n: u64) {
        let before = self.high.fetch_max(n, Ordering::Relaxed);
        if n > before || !self.started.swap(true, Ordering::Relaxed) {
            (self.inner)(n);
        }
    }
}

#[async_trait::async_trait]
impl Backend for WebdavBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rename: true,
            list: true,
            local: false,
        }
    }

    fn describe(&self) -> Description {
        Description {
            storage: "webdav",
            location: self.inner.endpoint.clone(),
        }
    }

    /// Creates the store collection (and its parents) and `.ferry-tmp/` when missing, then
    /// checks that the store answers.
    async fn initialize(&self) -> Result<(), BackendError> {
        self.inner.ensure_temp_dir("initialize", "").await?;
        self.check().await
    }

    async fn check(&self) -> Result<(), BackendError> {
        self.inner.check_root("use", "").await
    }

    async fn clean_stale_uploads(&self) -> Result<usize, BackendError> {
        self.inner.clean_stale_uploads().await
    }

    async fn stat(&self, path: &ObjectPath) -> Result<Option<ObjectMeta>, BackendError> {
        self.inner.stat(path).await
    }

    async fn put(
        &self,
        path: &ObjectPath,
        body: ByteStream,
        len: u64,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        self.inner.put(path, body, len, progress).await
    }

    /// Like `put`, but the file can be read again: an upload that failed on a network error
    /// or a timeout is restarted from the beginning, up to `retries` times with backoff.
    async fn put_file(
        &self,
        path: &ObjectPath,
        source: &std::path::Path,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        let progress = Monotonic {
            inner: progress,
            high: AtomicU64::new(0),
            started: AtomicBool::new(false),
        };
        let report = |n| progress.report(n);
        let mut attempt = 0;
        loop {
            let file = tokio::fs::File::open(source)
                .await
                .map_err(|e| BackendError::local("open", source, e))?;
            let len = file
                .metadata()
                .await
                .map_err(|e| BackendError::local("stat", source, e))?
                .len();
            let body = tokio_util::io::ReaderStream::with_capacity(file, FILE_CHUNK);
            match self.inner.put(path, Box::pin(body), len, &report).await {
                Err(e) if e.is_retryable() && attempt < self.inner.options.retries => {
                    let wait = self.inner.options.retry_delay * 2u32.saturating_pow(attempt as u32);
                    tracing::debug!(path = %path, attempt, error = %e, "retrying an upload");
                    tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn get(&self, path: &ObjectPath, offset: u64) -> Result<ByteStream, BackendError> {
        self.inner.get(path, offset).await
    }

    async fn delete(&self, path: &ObjectPath) -> Result<(), BackendError> {
        const OP: &str = "delete";
        let key = self.inner.resolve(OP, path)?;
        match self.inner.op.delete(key).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.inner.err(OP, key, e)),
        }
    }

    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ListEntry>, BackendError> {
        self.inner.list(prefix).await
    }

    async fn rename(&self, from: &ObjectPath, to: &ObjectPath) -> Result<(), BackendError> {
        const OP: &str = "rename";
        let inner = &self.inner;
        let (src, dst) = (inner.resolve(OP, from)?, inner.resolve(OP, to)?);
        // OpenDAL looks the source up first (an absent one is NotFound and nothing is made),
        // creates the target's parent collections, then MOVEs with Overwrite: T.
        inner
            .op
            .rename(src, dst)
            .await
            .map_err(|e| inner.err(OP, src, e))
    }

    async fn remove_empty_dir(&self, dir: &ObjectPath) -> Result<(), BackendError> {
        self.inner.remove_empty_dir(dir).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_carry_their_start_time() {
        let name = "1700000000-42-7-00000000deadbeef.tmp";
        assert_eq!(
            temp_started(name),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(temp_started("junk.tmp"), None);
    }

    #[test]
    fn store_url_splits_into_origin_and_decoded_root() {
        assert_eq!(
            split_url("https://h:8080/remote.php/dav/my%20files"),
            ("https://h:8080", "/remote.php/dav/my files/".to_owned())
        );
        assert_eq!(split_url("http://h"), ("http://h", "/".to_owned()));
    }

    #[test]
    fn parent_of_a_collection() {
        assert_eq!(parent_dir("a/b/"), Some("a/"));
        assert_eq!(parent_dir("a/"), None);
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let backend = WebdavBackend::new(WebdavConfig {
            url: "http://127.0.0.1:1/dav".into(),
            user: Some("me".into()),
            password: Some(Secret::new("hunter2-secret".into())),
            bearer_token: None,
            http: HttpOptions::default(),
        })
        .expect("a valid config");
        let text = format!("{backend:?}");
        assert!(!text.contains("hunter2-secret"), "{text}");
        // Basic auth is base64("me:hunter2-secret").
        assert!(!text.contains("bWU6aHVudGVyMi1zZWNyZXQ"), "{text}");
    }

    #[test]
    fn config_refuses_credentials_in_the_url_and_two_logins() {
        let config = |url: &str, token: bool| WebdavConfig {
            url: url.into(),
            user: Some("me".into()),
            password: None,
            bearer_token: token.then(|| Secret::new("t".into())),
            http: HttpOptions::default(),
        };
        let err = WebdavBackend::new(config("http://me:pw@host/dav", false))
            .expect_err("credentials in the URL");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(!err.to_string().contains("pw@"), "{err}");
        let err = WebdavBackend::new(config("http://host/dav", true)).expect_err("two logins");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(
            WebdavBackend::new(config("host/dav", false))
                .expect_err("no scheme")
                .kind(),
            ErrorKind::Config
        );
    }

    #[test]
    fn upload_statuses_are_classified() {
        use http::StatusCode as S;
        let kind = |s| map_error(WebdavFailure::Status(s));
        assert_eq!(kind(S::UNAUTHORIZED), ErrorKind::PermissionDenied);
        assert_eq!(kind(S::FORBIDDEN), ErrorKind::PermissionDenied);
        assert_eq!(kind(S::SERVICE_UNAVAILABLE), ErrorKind::Unreachable);
        assert_eq!(kind(S::CONFLICT), ErrorKind::Other);
        assert_eq!(kind(S::INSUFFICIENT_STORAGE), ErrorKind::Other);
    }
}

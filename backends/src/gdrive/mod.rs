//! The Google Drive storage: objects are files in a Drive folder tree, reached through ferry's
//! own Drive v3 client on `reqwest`.
//!
//! Why not OpenDAL's `gdrive` service: its API endpoint is hard-coded (no local fake for
//! tests), it has no root folder id and no shared drives, uploads an object in one request held
//! in memory, moves deleted files to the trash, and reads no `md5Checksum`. ferry needs all of
//! those (test-servers.md §3).
//!
//! Module map: `client` (HTTP, retries, the endpoints), `auth` (OAuth tokens, rclone's token
//! JSON, one refresh at a time), `folders` (path → folder id cache), `upload` (multipart and
//! resumable uploads), `time` (RFC 3339). This file holds the config, the constructor, the
//! `Backend` implementation and the one `map_error`.
//!
//! How Drive's peculiarities are handled:
//! - **Atomic put.** A Drive file exists only once its upload completed, so no temporary name
//!   is needed. An overwrite uploads the new file *next to* the old one (Drive allows several
//!   files of one name in a folder), checks its MD5, then deletes the older copies: the name is
//!   never empty and never shows partial content.
//! - **Duplicate names** (left by Drive itself, by other tools, or by concurrent puts): an
//!   object is present if any complete copy is; reads use the newest (by `createdTime`, then
//!   id); delete removes every copy. After its upload, each put deletes the copies older than
//!   its own and, if it finds a newer one, its own: concurrent puts to one name end with exactly
//!   one copy, the newest.
//! - **Absent or unknown.** `stat` answers `Ok(None)` only when Drive answered: the name is not
//!   in its folder, or a folder on the way is missing *and* the root folder was confirmed to
//!   exist. Everything else (network, 5xx, rate limits after retries, a missing root) is an
//!   error, so git-annex says CHECKPRESENT-UNKNOWN rather than "absent".
//! - **Rate limits.** 403 `rateLimitExceeded`/`userRateLimitExceeded` and 429 are retried with
//!   exponential backoff and jitter, 5xx too for calls that can be repeated. Users should bring
//!   their own OAuth client id: quotas are counted per client.
//! - **500 000 items per folder.** Drive refuses more entries in one folder. ferry refuses
//!   nothing itself; keeping folders small is the layout's job (`lower`, the default, spreads
//!   objects over 4096 × 4096 folders; `nodir` puts every object in one folder and hits the
//!   limit at half a million objects). Listing pages through folders of any size. A store into
//!   a full folder (403 `numChildrenInNonRootLimitExceeded`) fails at once, saying so.
//! - **No stale uploads.** An unfinished resumable session leaves no file behind and Drive
//!   forgets it after a week, so `clean_stale_uploads` has nothing to do; a failed put cancels
//!   its session right away.
//! - **Deletes are permanent** (`DELETE`, not the trash), so dropped content stops counting
//!   against the quota. Empty folders, however, go to the trash: Drive deletes a folder's
//!   contents with it, and an object uploaded into it in the meantime would be lost for good.

mod auth;
mod client;
mod folders;
mod time;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use reqwest::{StatusCode, Url};

pub use auth::{Credentials, OAuthClient, Token, TokenFileError};
pub use client::{Endpoints, RetryPolicy};

use client::{DriveClient, DriveFile, Failure, q_children, q_named};
use folders::Folders;
use upload::{BodyError, Reporter, UploadError, Uploaded};

use crate::http_common::{PARALLEL_READ_MIN, io_kind_for, ranged_in_order};
use crate::{
    Backend, BackendError, ByteStream, Capabilities, Description, ErrorKind, ListEntry, ObjectMeta,
    ObjectPath, Progress,
};

/// The storage kind, as named in config and messages.
const STORAGE: &str = "gdrive";

/// Tunables of the Drive storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdriveOptions {
    /// Limit for one API call (a chunk upload gets extra time for its bytes). Downloads have no
    /// overall limit; they fail when no byte arrives for this long.
    pub request_timeout: Duration,
    /// Limit for opening a connection.
    pub connect_timeout: Duration,
    /// Bytes per resumable-upload request; a multiple of 256 KiB. Also the memory one upload
    /// holds: a chunk stays in memory until Drive confirms it, so that it can be resumed.
    pub chunk_size: usize,
    /// Objects up to this size go up in one multipart request (held in memory); larger ones
    /// through a resumable session.
    pub multipart_max: u64,
    /// Retries of failed calls.
    pub retry: RetryPolicy,
}

impl Default for GdriveOptions {
    fn default() -> GdriveOptions {
        GdriveOptions {
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(20),
            chunk_size: 8 * 1024 * 1024,
            // Google's advice: multipart for what can be sent again whole, about 5 MB.
            multipart_max: 5 * 1024 * 1024,
            retry: RetryPolicy::default(),
        }
    }
}

/// Where and how a Drive store lives (rclone's `drive` remote has the same settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdriveConfig {
    /// Tokens and the user's OAuth client.
    pub credentials: Credentials,
    /// The folder the store lives in (rclone's `root_folder_id`); `None` is the root of My
    /// Drive, or of the shared drive when `team_drive` is set.
    pub root_folder_id: Option<String>,
    /// The shared drive's id (rclone's `team_drive`), if the store is on one.
    pub team_drive: Option<String>,
    /// Folder path under the root where objects start; created by `initialize`.
    pub prefix: Option<ObjectPath>,
    /// Google's URLs, or a test server's.
    pub endpoints: Endpoints,
    /// Timeouts, chunk sizes, retries.
    pub options: GdriveOptions,
    /// The file the token came from (rclone's token JSON), if any: each refresh writes the new
    /// token back to it (atomically, mode 0600), as rclone saves a refreshed token in its
    /// config, so that the next process does not refresh again and a rotated refresh token is
    /// kept.
    pub token_file: Option<std::path::PathBuf>,
}

impl GdriveConfig {
    /// A store at `prefix` in My Drive, with Google's endpoints and default options.
    pub fn new(credentials: Credentials, prefix: Option<ObjectPath>) -> GdriveConfig {
        GdriveConfig {
            credentials,
            root_folder_id: None,
            team_drive: None,
            prefix,
            endpoints: Endpoints::default(),
            options: GdriveOptions::default(),
            token_file: None,
        }
    }
}

/// A store in Google Drive. Cloning shares the connection pool, token and folder cache.
#[derive(Debug, Clone)]
pub struct GdriveBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: DriveClient,
    folders: Folders,
    /// The prefix's segments, put in front of every object path.
    prefix: Vec<String>,
    options: GdriveOptions,
    description: Description,
    /// `description` as text, for messages.
    storage: String,
}

/// An object's folder and the copies of it found there.
struct Copies {
    parent: String,
    files: Vec<DriveFile>,
}

impl Copies {
    fn newest(&self) -> Option<&DriveFile> {
        self.files.iter().max_by(DriveFile::age_order)
    }
}

fn parse_url(key: &'static str, text: &str) -> Result<Url, BackendError> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err(
            BackendError::new(ErrorKind::Config, "set up", "", STORAGE).with_hint(format!(
                "{key} must be an http(s) URL such as https://www.googleapis.com, not {text:?}"
            )),
        ),
    }
}

/// How an error of Drive is classified, once for every operation.
fn classify(failure: &Failure) -> ErrorKind {
    match failure {
        Failure::Status { status, reason, .. } => match *status {
            StatusCode::NOT_FOUND => ErrorKind::NotFound,
            StatusCode::UNAUTHORIZED => ErrorKind::PermissionDenied,
            StatusCode::FORBIDDEN if failure.is_rate_limit() => ErrorKind::Unreachable,
            // The day's quota: nothing is wrong with the store, it only has to wait.
            StatusCode::FORBIDDEN if reason.as_deref() == Some("dailyLimitExceeded") => {
                ErrorKind::Unreachable
            }
            StatusCode::FORBIDDEN
                if matches!(
                    reason.as_deref(),
                    Some("storageQuotaExceeded" | "numChildrenInNonRootLimitExceeded")
                ) =>
            {
                ErrorKind::Other
            }
            StatusCode::FORBIDDEN => ErrorKind::PermissionDenied,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => ErrorKind::Unreachable,
            s if s.is_server_error() => ErrorKind::Unreachable,
            _ => ErrorKind::Other,
        },
        Failure::Transport(e) if e.is_builder() => ErrorKind::Config,
        Failure::Transport(_) => ErrorKind::Unreachable,
        Failure::TokenRefused { status, .. } if status.is_server_error() => ErrorKind::Unreachable,
        Failure::TokenRefused { .. } | Failure::NoRefreshToken => ErrorKind::PermissionDenied,
        Failure::UploadLost => ErrorKind::Unreachable,
        Failure::Protocol(_) => ErrorKind::Other,
    }
}

/// What a user can do about a Drive failure, when there is more to say than the kind's advice.
fn hint(failure: &Failure) -> Option<&'static str> {
    match failure {
        Failure::Status { status, .. } if failure.is_rate_limit() || *status == 429 => Some(
            "Drive kept answering \"rate limit exceeded\" through every retry; try again later, \
             and use your own OAuth client id (quotas are counted per client)",
        ),
        Failure::Status { reason, .. } if reason.as_deref() == Some("storageQuotaExceeded") => {
            Some("the Drive is full; free space or buy more")
        }
        Failure::Status { reason, .. }
            if reason.as_deref() == Some("numChildrenInNonRootLimitExceeded") =>
        {
            Some(
                "the Drive folder holds 500 000 items, Drive's limit; use a layout with hash directories (lower, the default, or mixed) rather than nodir",
            )
        }
        Failure::Status { status, .. } if *status == StatusCode::UNAUTHORIZED => Some(
            "the Drive token is no longer accepted; get a new one (e.g. rclone config reconnect) and update the remote's token",
        ),
        Failure::Status { status, .. } if *status == StatusCode::FORBIDDEN => {
            Some("check that this Google account may read and write the folder")
        }
        Failure::TokenRefused { .. } | Failure::NoRefreshToken => Some(
            "the Drive token cannot be refreshed; get a new one (e.g. rclone config reconnect) and update the remote's token",
        ),
        Failure::UploadLost => Some("the upload session expired; store the object again"),
        _ => None,
    }
}

fn body_error(op: &'static str, path: &ObjectPath, storage: &str, err: BodyError) -> BackendError {
    let error = BackendError::new(ErrorKind::Local, op, path.as_str(), storage);
    match err {
        BodyError::Read(e) => error
            .with_cause(e)
            .with_hint("the data to store could not be read"),
        BodyError::Short { got, len } => error.with_hint(format!(
            "the data to store ended after {got} of the announced {len} bytes"
        )),
        BodyError::Long { len } => error.with_hint(format!(
            "the data to store is longer than the announced {len} bytes"
        )),
    }
}

/// Reads a download, checking that exactly `expected` bytes arrive after skipping `skip` (when
/// Drive ignored the `Range` and sent everything).
fn download_stream(response: reqwest::Response, skip: u64, expected: u64) -> ByteStream {
    struct State {
        inner: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
        skip: u64,
        remaining: u64,
        done: bool,
    }
    let state = State {
        inner: Box::pin(response.bytes_stream()),
        skip,
        remaining: expected,
        done: false,
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        loop {
            match state.inner.next().await {
                Some(Ok(mut piece)) => {
                    if state.skip > 0 {
                        let skip = state.skip.min(piece.len() as u64);
                        piece = piece.slice(skip as usize..);
                        state.skip -= skip;
                    }
                    if piece.is_empty() {
                        continue;
                    }
                    if piece.len() as u64 > state.remaining {
                        state.done = true;
                        let err =
                            std::io::Error::other("Drive sent more bytes than the object has");
                        return Some((Err(err), state));
                    }
                    state.remaining -= piece.len() as u64;
                    return Some((Ok(piece), state));
                }
                Some(Err(e)) => {
                    state.done = true;
                    let kind = if e.is_timeout() {
                        std::io::ErrorKind::TimedOut
                    } else {
                        std::io::ErrorKind::ConnectionReset
                    };
                    let err = std::io::Error::new(kind, Failure::Transport(e.without_url()));
                    return Some((Err(err), state));
                }
                None if state.remaining > 0 => {
                    state.done = true;
                    let err = std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        format!(
                            "the download from Drive ended {} bytes early",
                            state.remaining
                        ),
                    );
                    return Some((Err(err), state));
                }
                None => return None,
            }
        }
    });
    Box::pin(stream)
}

impl GdriveBackend {
    /// A store as `config` describes it. Nothing is sent to Drive until the first operation.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an endpoint that is not an http(s) URL, a chunk size that is not
    /// a positive multiple of 256 KiB, an empty folder or drive id, or an HTTP client that
    /// cannot be built.
    pub fn new(config: GdriveConfig) -> Result<GdriveBackend, BackendError> {
        let config_error = |hint: String| {
            BackendError::new(ErrorKind::Config, "set up", "", STORAGE).with_hint(hint)
        };
        let options = config.options;
        if options.chunk_size == 0 || !options.chunk_size.is_multiple_of(upload::CHUNK_QUANTUM) {
            return Err(config_error(format!(
                "the Drive chunk size must be a positive multiple of 256 KiB, not {}",
                options.chunk_size
            )));
        }
        if options.retry.attempts == 0 {
            return Err(config_error(
                "Drive retries need at least one attempt".into(),
            ));
        }
        for (key, value) in [
            ("root_folder_id", &config.root_folder_id),
            ("team_drive", &config.team_drive),
        ] {
            if value.as_deref() == Some("") {
                return Err(config_error(format!("{key} is set but empty")));
            }
        }
        let api_base = parse_url("the Drive API URL", &config.endpoints.api_base)?;
        let upload_base = parse_url("the Drive upload URL", &config.endpoints.upload_base)?;
        let token_url = parse_url("the OAuth token URL", &config.endpoints.token_url)?;
        crate::http_common::install_tls_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.request_timeout)
            // Resumable uploads answer 308 without a Location: a status, not a redirect.
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.status() == StatusCode::PERMANENT_REDIRECT
                    || attempt.previous().len() >= 5
                {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| config_error(format!("cannot build the HTTP client: {e}")))?;

        let root = config
            .root_folder_id
            .clone()
            .or_else(|| config.team_drive.clone())
            .unwrap_or_else(|| "root".to_owned());
        let prefix: Vec<String> = config
            .prefix
            .as_ref()
            .map(|p| p.segments().map(str::to_owned).collect())
            .unwrap_or_default();
        let mut location = match (&config.team_drive, &config.root_folder_id) {
            (Some(drive), Some(folder)) => format!("shared drive {drive}, folder {folder}"),
            (Some(drive), None) => format!("shared drive {drive}"),
            (None, Some(folder)) => format!("folder {folder}"),
            (None, None) => "My Drive".to_owned(),
        };
        if let Some(prefix) = &config.prefix {
            location.push_str(&format!(": {prefix}"));
        }
        let description = Description {
            storage: STORAGE,
            location,
        };
        let auth = auth::TokenSource::new(
            config.credentials,
            token_url,
            http.clone(),
            options.retry,
            options.request_timeout,
            config.token_file,
        );
        let client = DriveClient::new(
            http,
            api_base,
            upload_base,
            auth,
            options.retry,
            options.request_timeout,
            config.team_drive,
        );
        Ok(GdriveBackend {
            inner: Arc::new(Inner {
                client,
                folders: Folders::new(root),
                prefix,
                options,
                storage: description.to_string(),
                description,
            }),
        })
    }

    /// The current token, which a refresh may have replaced: save it (e.g. with
    /// [`Token::to_json`]) to spare the next run a refresh.
    pub fn token(&self) -> Token {
        self.inner.client.auth.snapshot()
    }
}

impl Inner {
    /// Turns a Drive failure into the error callers see. The one place Drive errors are
    /// classified (`classify` and `hint` above are its halves).
    fn map_error(&self, op: &'static str, location: &str, failure: Failure) -> BackendError {
        let mut error = BackendError::new(classify(&failure), op, location, self.storage.clone());
        if let Some(hint) = hint(&failure) {
            error = error.with_hint(hint);
        }
        error.with_cause(failure)
    }

    /// The folder segments and the file name of an object.
    fn split<'a>(&'a self, path: &'a ObjectPath) -> (Vec<&'a str>, &'a str) {
        let mut segments: Vec<&str> = self.prefix.iter().map(String::as_str).collect();
        segments.extend(path.segments());
        let name = segments
            .pop()
            .expect("an object path has at least one segment");
        (segments, name)
    }

    /// The folder segments of a directory path (`None`: the prefix itself).
    fn dir_segments<'a>(&'a self, dir: Option<&'a ObjectPath>) -> Vec<&'a str> {
        let mut segments: Vec<&str> = self.prefix.iter().map(String::as_str).collect();
        if let Some(dir) = dir {
            segments.extend(dir.segments());
        }
        segments
    }

    /// Succeeds when the root folder exists, is a folder and is not in the trash: only then
    /// does a missing folder below it mean "absent". Anything else fails with `kind`.
    async fn confirm_root(
        &self,
        op: &'static str,
        location: &str,
        kind: ErrorKind,
    ) -> Result<(), BackendError> {
        let root = self.folders.root();
        let gone = || {
            BackendError::new(kind, op, location, self.storage.clone()).with_hint(format!(
                "the Drive folder {root} is gone, in the trash or not shared with this account; check root_folder_id and team_drive"
            ))
        };
        match self.client.get_file(root).await {
            Ok(file) if file.is_folder() && file.trashed != Some(true) => Ok(()),
            Ok(_) => Err(gone()),
            Err(f) if f.status() == Some(StatusCode::NOT_FOUND) => Err(gone().with_cause(f)),
            Err(f) => Err(self.map_error(op, location, f)),
        }
    }

    /// The copies of the object at `path`; `None` when its folder is missing (and the root was
    /// confirmed).
    async fn copies(
        &self,
        op: &'static str,
        path: &ObjectPath,
    ) -> Result<Option<Copies>, BackendError> {
        let (dirs, name) = self.split(path);
        let err = |f| self.map_error(op, path.as_str(), f);
        let mut refreshed = false;
        loop {
            let Some(parent) = self.folders.find(&self.client, &dirs).await.map_err(err)? else {
                self.confirm_root(op, path.as_str(), ErrorKind::Unreachable)
                    .await?;
                return Ok(None);
            };
            match self.client.search(&q_named(&parent, name, false)).await {
                Ok(found) => {
                    let files = found
                        .into_iter()
                        // Google Docs have no size and no bytes to download: not ferry's.
                        .filter(|f| f.name == name && f.size.is_some() && !f.is_folder())
                        .collect();
                    return Ok(Some(Copies { parent, files }));
                }
                // A cached folder id Drive no longer knows: find the folder again, once.
                Err(f) if f.status() == Some(StatusCode::NOT_FOUND) && !refreshed => {
                    self.folders.forget(&dirs);
                    refreshed = true;
                }
                Err(f) => return Err(err(f)),
            }
        }
    }

    /// The newest copy of the object at `path`; NotFound when there is none.
    async fn newest(&self, op: &'static str, path: &ObjectPath) -> Result<DriveFile, BackendError> {
        let copies = self.copies(op, path).await?;
        copies
            .as_ref()
            .and_then(Copies::newest)
            .cloned()
            .ok_or_else(|| BackendError::not_found(op, path.as_str(), self.storage.clone()))
    }

    /// Streams the content of `file` (the object at `path`) from `offset`.
    async fn open(
        self: &Arc<Self>,
        path: &ObjectPath,
        file: &DriveFile,
        offset: u64,
    ) -> Result<ByteStream, BackendError> {
        const OP: &str = "retrieve";
        let size = file.size.unwrap_or(0);
        if offset >= size {
            // Nothing left to read; a Range past the end would be answered 416.
            return Ok(Box::pin(futures::stream::empty()));
        }
        if size - offset >= PARALLEL_READ_MIN {
            // Several ranged requests at once: one Drive download stream is often far slower
            // than the link. A piece's failure (after the client's retries) ends the stream.
            let inner = Arc::clone(self);
            let id = file.id.clone();
            return Ok(ranged_in_order(offset..size, move |range| {
                let inner = Arc::clone(&inner);
                let id = id.clone();
                async move { inner.piece(&id, range).await }
            }));
        }
        let response = self
            .client
            .download(&file.id, offset)
            .await
            .map_err(|f| self.map_error(OP, path.as_str(), f))?;
        // 200 instead of 206: Drive sent the whole object; skip to the offset.
        let skip = if response.status() == StatusCode::PARTIAL_CONTENT {
            0
        } else {
            offset
        };
        Ok(download_stream(response, skip, size - offset))
    }

    /// The bytes `range` of the file `id`, whole, for [`ranged_in_order`].
    async fn piece(&self, id: &str, range: std::ops::Range<u64>) -> std::io::Result<Vec<Bytes>> {
        let response = self
            .client
            .download_range(id, range.clone())
            .await
            .map_err(|f| std::io::Error::new(io_kind_for(classify(&f)), f))?;
        if response.status() != StatusCode::PARTIAL_CONTENT {
            return Err(std::io::Error::other(format!(
                "Drive answered {} to a request for bytes {}..{} of a file, not 206 Partial Content",
                response.status(),
                range.start,
                range.end
            )));
        }
        download_stream(response, 0, range.end - range.start)
            .try_collect()
            .await
    }

    /// Deletes the files `ids`, all of them even if one fails (the first failure is returned).
    async fn delete_all(
        &self,
        op: &'static str,
        path: &ObjectPath,
        ids: &[&str],
    ) -> Result<(), BackendError> {
        let mut first_error = None;
        for id in ids {
            if let Err(f) = self.client.delete(id).await
                && first_error.is_none()
            {
                first_error = Some(self.map_error(op, path.as_str(), f));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// After a put: deletes the copies older than `mine`, and `mine` itself if a newer copy
    /// arrived meanwhile (a concurrent put won). Best effort: leftover duplicates are harmless,
    /// since every reader picks the newest.
    async fn settle(&self, parent: &str, name: &str, mine: &DriveFile) {
        let copies = match self.client.search(&q_named(parent, name, false)).await {
            Ok(found) => found,
            Err(f) => {
                tracing::warn!(error = %f, "cannot list older copies after a Drive upload; they stay until the next put or delete");
                return;
            }
        };
        let mut doomed: Vec<&str> = Vec::new();
        let mut newer_exists = false;
        for copy in copies
            .iter()
            .filter(|c| c.name == name && c.id != mine.id && !c.is_folder())
        {
            match DriveFile::age_order(&copy, &mine) {
                std::cmp::Ordering::Less => doomed.push(&copy.id),
                _ => newer_exists = true,
            }
        }
        if newer_exists {
            doomed.push(&mine.id);
        }
        for id in doomed {
            if let Err(f) = self.client.delete(id).await {
                tracing::warn!(error = %f, "cannot delete an older copy after a Drive upload");
            }
        }
    }

    /// The folder id of `dirs`, created if missing.
    async fn ensure_dirs(
        &self,
        op: &'static str,
        path: &ObjectPath,
        dirs: &[&str],
    ) -> Result<String, BackendError> {
        self.folders
            .ensure(&self.client, dirs)
            .await
            .map_err(|f| self.map_error(op, path.as_str(), f))
    }

    /// Uploads `body` as a new file `name` under `dirs`, retrying once with freshly looked-up
    /// folders when Drive no longer knows the cached parent.
    async fn upload(
        &self,
        path: &ObjectPath,
        dirs: &[&str],
        name: &str,
        mut body: ByteStream,
        len: u64,
        reporter: &mut Reporter<'_>,
    ) -> Result<(String, Uploaded), BackendError> {
        const OP: &str = "store";
        let err = |f| self.map_error(OP, path.as_str(), f);
        let parent_gone = |f: &Failure| f.status() == Some(StatusCode::NOT_FOUND);
        let mut parent = self.ensure_dirs(OP, path, dirs).await?;
        if len <= self.options.multipart_max {
            let (data, md5) = upload::read_small(&mut body, len, reporter)
                .await
                .map_err(|e| body_error(OP, path, &self.storage, e))?;
            let file = match self
                .client
                .upload_multipart(&parent, name, data.clone())
                .await
            {
                Err(f) if parent_gone(&f) => {
                    self.folders.forget(dirs);
                    parent = self.ensure_dirs(OP, path, dirs).await?;
                    self.client.upload_multipart(&parent, name, data).await
                }
                other => other,
            }
            .map_err(err)?;
            reporter.report(len);
            return Ok((parent, Uploaded { file, md5 }));
        }
        let session = match self.client.start_upload(&parent, name, len).await {
            Err(f) if parent_gone(&f) => {
                self.folders.forget(dirs);
                parent = self.ensure_dirs(OP, path, dirs).await?;
                self.client.start_upload(&parent, name, len).await
            }
            other => other,
        }
        .map_err(err)?;
        match self
            .client
            .upload(&session, &mut body, self.options.chunk_size, reporter)
            .await
        {
            Ok(uploaded) => Ok((parent, uploaded)),
            Err(e) => {
                self.client.cancel_upload(&session).await;
                Err(match e {
                    UploadError::Body(e) => body_error(OP, path, &self.storage, e),
                    UploadError::Drive(f) => err(f),
                })
            }
        }
    }

    /// Removes the folder `id` (at `segments`) if nothing but empty folders is below it.
    /// Returns whether it is gone.
    fn prune<'a>(
        &'a self,
        id: String,
        segments: Vec<String>,
    ) -> BoxFuture<'a, Result<bool, Failure>> {
        Box::pin(async move {
            let mut keep = false;
            for child in self.client.search(&q_children(&id)).await? {
                if child.is_folder() {
                    let mut below = segments.clone();
                    below.push(child.name.clone());
                    keep |= !self.prune(child.id, below).await?;
                } else {
                    keep = true;
                }
            }
            if keep {
                return Ok(false);
            }
            let path: Vec<&str> = segments.iter().map(String::as_str).collect();
            self.folders.forget(&path);
            self.client.trash(&id).await?;
            Ok(true)
        })
    }
}

#[async_trait::async_trait]
impl Backend for GdriveBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rename: true,
            list: true,
            local: false,
        }
    }

    fn describe(&self) -> Description {
        self.inner.description.clone()
    }

    async fn check(&self) -> Result<(), BackendError> {
        self.inner.confirm_root("use", "", ErrorKind::Config).await
    }

    async fn initialize(&self) -> Result<(), BackendError> {
        const OP: &str = "create the store folder";
        self.check().await?;
        let inner = &self.inner;
        let segments = inner.dir_segments(None);
        inner
            .folders
            .ensure(&inner.client, &segments)
            .await
            .map_err(|f| inner.map_error(OP, &segments.join("/"), f))?;
        Ok(())
    }

    async fn stat(&self, path: &ObjectPath) -> Result<Option<ObjectMeta>, BackendError> {
        let copies = self.inner.copies("look up", path).await?;
        Ok(copies
            .as_ref()
            .and_then(Copies::newest)
            .map(|file| ObjectMeta {
                len: file.size.unwrap_or(0),
                modified: file.modified_time,
            }))
    }

    async fn put(
        &self,
        path: &ObjectPath,
        body: ByteStream,
        len: u64,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        const OP: &str = "store";
        let inner = &self.inner;
        let (dirs, name) = inner.split(path);
        let mut reporter = Reporter::new(progress);
        let (parent, uploaded) = inner
            .upload(path, &dirs, name, body, len, &mut reporter)
            .await?;
        let file = &uploaded.file;
        let drive_md5 = file.md5_checksum.as_deref().map(str::to_ascii_lowercase);
        let damaged =
            file.size != Some(len) || drive_md5.as_deref().is_some_and(|m| m != uploaded.md5);
        if damaged {
            // The bad copy must not stand for the object: delete it, keep any older one.
            if let Err(f) = inner.client.delete(&file.id).await {
                tracing::warn!(error = %f, "cannot delete a damaged upload");
            }
            return Err(BackendError::new(ErrorKind::Other, OP, path.as_str(), inner.storage.clone())
                .with_hint(format!(
                    "Drive stored {} bytes with MD5 {} but ferry sent {len} bytes with MD5 {}; the data was damaged on the way, store it again",
                    file.size.map_or("?".into(), |s| s.to_string()),
                    drive_md5.as_deref().unwrap_or("?"),
                    uploaded.md5
                )));
        }
        if drive_md5.is_none() {
            tracing::debug!(path = %path, "Drive returned no md5Checksum; only the size was checked");
        }
        inner.settle(&parent, name, file).await;
        Ok(())
    }

    async fn get(&self, path: &ObjectPath, offset: u64) -> Result<ByteStream, BackendError> {
        let file = self.inner.newest("retrieve", path).await?;
        self.inner.open(path, &file, offset).await
    }

    /// One search finds the copy to read and its size, which the default (a `stat`, then a
    /// `get` that searches again) would take two for: RETRIEVE of a small chunk is mostly
    /// lookups.
    async fn get_to_file(
        &self,
        path: &ObjectPath,
        dest: &std::path::Path,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        let inner = &self.inner;
        let file = inner.newest("retrieve", path).await?;
        let len = file.size.unwrap_or(0);
        crate::stream_to_file::fetch_into(
            inner.storage.clone(),
            path,
            dest,
            progress,
            len,
            |start| inner.open(path, &file, start),
        )
        .await
    }

    async fn delete(&self, path: &ObjectPath) -> Result<(), BackendError> {
        const OP: &str = "delete";
        let inner = &self.inner;
        let Some(copies) = inner.copies(OP, path).await? else {
            return Ok(());
        };
        let ids: Vec<&str> = copies.files.iter().map(|f| f.id.as_str()).collect();
        inner.delete_all(OP, path, &ids).await
    }

    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ListEntry>, BackendError> {
        const OP: &str = "list";
        let inner = &self.inner;
        let location = prefix.map(ObjectPath::as_str).unwrap_or("");
        let err = |f| inner.map_error(OP, location, f);
        let segments = inner.dir_segments(prefix);
        let Some(top) = inner
            .folders
            .find(&inner.client, &segments)
            .await
            .map_err(err)?
        else {
            inner
                .confirm_root(OP, location, ErrorKind::Unreachable)
                .await?;
            return Ok(Vec::new());
        };
        let mut newest: std::collections::BTreeMap<ObjectPath, DriveFile> = Default::default();
        let mut folders: Vec<(String, Option<ObjectPath>)> = vec![(top, prefix.cloned())];
        while let Some((id, at)) = folders.pop() {
            for child in inner.client.search(&q_children(&id)).await.map_err(err)? {
                let path = match &at {
                    Some(at) => at.join(&child.name),
                    None => ObjectPath::new(&child.name),
                };
                let Ok(path) = path else {
                    // A name no object path can have (made by another tool): not ferry's.
                    tracing::debug!(name = %child.name, "skipping a Drive entry with an unusable name");
                    continue;
                };
                if child.is_folder() {
                    folders.push((child.id, Some(path)));
                } else if child.size.is_some() {
                    match newest.get(&path) {
                        Some(seen) if DriveFile::age_order(&seen, &&child).is_ge() => {}
                        _ => {
                            newest.insert(path, child);
                        }
                    }
                }
            }
        }
        Ok(newest
            .into_iter()
            .map(|(path, file)| ListEntry {
                path,
                meta: ObjectMeta {
                    len: file.size.unwrap_or(0),
                    modified: file.modified_time,
                },
            })
            .collect())
    }

    async fn rename(&self, from: &ObjectPath, to: &ObjectPath) -> Result<(), BackendError> {
        const OP: &str = "rename";
        let inner = &self.inner;
        if from == to {
            return match inner.copies(OP, from).await? {
                Some(c) if !c.files.is_empty() => Ok(()),
                _ => Err(BackendError::not_found(
                    OP,
                    from.as_str(),
                    inner.storage.clone(),
                )),
            };
        }
        let copies = inner.copies(OP, from).await?;
        let Some((source_parent, source, others)) = copies.as_ref().and_then(|c| {
            let newest = c.newest()?;
            let others: Vec<&str> = c
                .files
                .iter()
                .filter(|f| f.id != newest.id)
                .map(|f| f.id.as_str())
                .collect();
            Some((c.parent.as_str(), newest, others))
        }) else {
            return Err(BackendError::not_found(
                OP,
                from.as_str(),
                inner.storage.clone(),
            ));
        };
        let (to_dirs, to_name) = inner.split(to);
        let target_parent = inner.ensure_dirs(OP, to, &to_dirs).await?;
        let replaced = inner.copies(OP, to).await?;
        inner
            .client
            .rename(&source.id, to_name, source_parent, &target_parent)
            .await
            .map_err(|f| inner.map_error(OP, from.as_str(), f))?;
        // Only now do the replaced object and duplicates of the source go: `to` was never empty.
        let replaced_ids: Vec<&str> = replaced
            .as_ref()
            .map(|c| {
                c.files
                    .iter()
                    .filter(|f| f.id != source.id)
                    .map(|f| f.id.as_str())
                    .collect()
            })
            .unwrap_or_default();
        inner.delete_all(OP, to, &replaced_ids).await?;
        inner.delete_all(OP, from, &others).await
    }

    async fn remove_empty_dir(&self, dir: &ObjectPath) -> Result<(), BackendError> {
        const OP: &str = "remove directory";
        let inner = &self.inner;
        let segments = inner.dir_segments(Some(dir));
        let err = |f| inner.map_error(OP, dir.as_str(), f);
        let Some(id) = inner
            .folders
            .find(&inner.client, &segments)
            .await
            .map_err(err)?
        else {
            return inner
                .confirm_root(OP, dir.as_str(), ErrorKind::Unreachable)
                .await;
        };
        let owned: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
        inner.prune(id, owned).await.map_err(err)?;
        Ok(())
    }
}

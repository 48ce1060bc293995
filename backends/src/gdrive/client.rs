//! ferry's Drive v3 client: one `reqwest::Client` (one connection pool) per storage, the
//! bearer token on every call, retries with backoff and jitter, and the endpoints ferry calls.
//!
//! Calls made (all with `supportsAllDrives=true`, so that shared drives work):
//! - `GET  /drive/v3/files?q=…&fields=…&pageToken=…` — search, one page at a time;
//! - `GET  /drive/v3/files/{id}?fields=…` — metadata; `?alt=media` + `Range` — content;
//! - `POST /drive/v3/files` — create a folder; `PATCH /drive/v3/files/{id}` — rename, move, trash;
//! - `DELETE /drive/v3/files/{id}` — delete for good (not to the trash);
//! - uploads: see [`super::upload`].

use std::fmt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, RANGE, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::{Deserialize, Deserializer};

use super::auth::TokenSource;
use super::time::parse_rfc3339;

/// The MIME type Drive gives folders.
pub(crate) const FOLDER_MIME: &str = "application/vnd.google-apps.folder";

/// The fields ferry reads from a file; requested explicitly because Drive v3 returns only
/// `id`, `name` and `mimeType` by default.
pub(crate) const FILE_FIELDS: &str =
    "id,name,mimeType,size,md5Checksum,createdTime,modifiedTime,trashed";

/// The fields of one page of search results.
const LIST_FIELDS: &str = "nextPageToken,incompleteSearch,files(id,name,mimeType,size,md5Checksum,createdTime,modifiedTime)";

/// Drive's largest page.
const PAGE_SIZE: &str = "1000";

/// Where the Drive API lives. The defaults are Google's; tests point all three at a local fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Base of `/drive/v3/…` (default `https://www.googleapis.com`).
    pub api_base: String,
    /// Base of `/upload/drive/v3/…` (default `https://www.googleapis.com`).
    pub upload_base: String,
    /// The OAuth token endpoint (default `https://oauth2.googleapis.com/token`).
    pub token_url: String,
}

impl Default for Endpoints {
    fn default() -> Endpoints {
        Endpoints {
            api_base: "https://www.googleapis.com".into(),
            upload_base: "https://www.googleapis.com".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
        }
    }
}

/// How often and how patiently a failed call is tried again (rate limits, server errors,
/// dropped connections). Delays double from `first_delay` up to `max_delay`, with jitter so
/// that concurrent jobs hit by one rate limit do not come back in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least 1).
    pub attempts: u32,
    /// The delay before the first retry.
    pub first_delay: Duration,
    /// The longest delay between two tries.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Ten tries over about a minute and a half, as Google advises for rate limits
    /// (exponential backoff up to about 32 s).
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 10,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(32),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `attempt + 1`: exponential, capped, jittered in its upper
    /// half, and no shorter than a server's `Retry-After`.
    pub(crate) fn delay(&self, attempt: u32, server_hint: Option<Duration>) -> Duration {
        let exponential = self.first_delay.saturating_mul(1u32 << attempt.min(20));
        let capped = exponential.min(self.max_delay);
        let jittered = capped / 2 + capped.mul_f64(rand::random::<f64>() / 2.0);
        match server_hint {
            Some(hint) if hint <= self.max_delay.max(Duration::from_secs(60)) => jittered.max(hint),
            _ => jittered,
        }
    }
}

/// Whether a failed call may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// The same call will fail the same way.
    Never,
    /// The server may have carried it out before failing (a 5xx, a timeout): only calls that do
    /// no harm when repeated may go again.
    IfIdempotent,
    /// The server certainly did nothing (rate limit, connection refused).
    Always,
}

/// Why a Drive call failed, before classification (that happens once, in the storage's
/// `map_error`).
#[derive(Debug)]
pub(crate) enum Failure {
    /// Drive answered with an error status.
    Status {
        status: StatusCode,
        /// The first `errors[].reason` of Drive's error body (`userRateLimitExceeded`,
        /// `notFound`, `storageQuotaExceeded`…).
        reason: Option<String>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, timeout. Holds no URL (upload session URLs are
    /// capabilities).
    Transport(reqwest::Error),
    /// The token endpoint refused the refresh token or the client.
    TokenRefused {
        status: StatusCode,
        error: String,
        description: String,
    },
    /// Drive rejected the access token and there is nothing to refresh it with.
    NoRefreshToken,
    /// Drive no longer knows an upload session (expired after a week, or cancelled).
    UploadLost,
    /// Drive's answer made no sense to ferry.
    Protocol(String),
}

impl Failure {
    /// Whether the call may go again (see [`Retry`]).
    pub(crate) fn retry(&self) -> Retry {
        match self {
            Failure::Status { status, .. } if *status == StatusCode::TOO_MANY_REQUESTS => {
                Retry::Always
            }
            Failure::Status { .. } if self.is_rate_limit() => Retry::Always,
            Failure::Status { status, .. }
                if status.is_server_error() || *status == StatusCode::REQUEST_TIMEOUT =>
            {
                Retry::IfIdempotent
            }
            Failure::Status { .. } => Retry::Never,
            Failure::Transport(e) if e.is_connect() => Retry::Always,
            Failure::Transport(e) if e.is_builder() => Retry::Never,
            Failure::Transport(_) => Retry::IfIdempotent,
            Failure::TokenRefused { .. }
            | Failure::NoRefreshToken
            | Failure::UploadLost
            | Failure::Protocol(_) => Retry::Never,
        }
    }

    /// A 403 that only means "slow down" (Drive's per-user and per-project rate limits).
    pub(crate) fn is_rate_limit(&self) -> bool {
        matches!(self, Failure::Status { status, reason: Some(reason), .. }
            if *status == StatusCode::FORBIDDEN
                && matches!(reason.as_str(), "rateLimitExceeded" | "userRateLimitExceeded"))
    }

    /// The HTTP status Drive answered with, if it answered.
    pub(crate) fn status(&self) -> Option<StatusCode> {
        match self {
            Failure::Status { status, .. } | Failure::TokenRefused { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Reads an error answer: Drive's `{"error":{"code":…,"message":…,"errors":[{"reason":…}]}}`.
    pub(crate) async fn from_response(response: Response) -> Failure {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.unwrap_or_default();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let error = &value["error"];
        let reason = error["errors"][0]["reason"]
            .as_str()
            .or_else(|| error["status"].as_str())
            .map(str::to_owned);
        let message = error["message"]
            .as_str()
            .map(|m| m.chars().take(300).collect())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
        Failure::Status {
            status,
            reason,
            message,
            retry_after,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status {
                status,
                reason,
                message,
                ..
            } => {
                write!(f, "Drive answered {status}")?;
                if let Some(reason) = reason {
                    write!(f, " {reason}")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            Failure::Transport(e) => {
                // reqwest's own text is only "error sending request"; the causes say what
                // happened (connection refused, timed out…).
                write!(f, "{e}")?;
                let mut source = std::error::Error::source(e);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            Failure::TokenRefused {
                status,
                error,
                description,
            } => write!(
                f,
                "the token endpoint refused to refresh the access token ({status} {error}: {description})"
            ),
            Failure::NoRefreshToken => f.write_str(
                "Drive rejected the access token and there is no refresh token and client id to get a new one",
            ),
            Failure::UploadLost => f.write_str("Drive no longer knows the upload session"),
            Failure::Protocol(what) => write!(f, "unexpected answer from Drive: {what}"),
        }
    }
}

impl std::error::Error for Failure {}

/// One Drive file or folder, as far as ferry reads it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DriveFile {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) mime_type: String,
    /// Absent for folders and Google Docs; Drive sends int64 values as JSON strings.
    #[serde(default, deserialize_with = "int64")]
    pub(crate) size: Option<u64>,
    #[serde(default)]
    pub(crate) md5_checksum: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub(crate) created_time: Option<SystemTime>,
    #[serde(default, deserialize_with = "timestamp")]
    pub(crate) modified_time: Option<SystemTime>,
    #[serde(default)]
    pub(crate) trashed: Option<bool>,
}

impl DriveFile {
    pub(crate) fn is_folder(&self) -> bool {
        self.mime_type == FOLDER_MIME
    }

    /// A total order in which later-created copies come later; Drive's ids break ties. Every
    /// job ranks duplicates the same way, which is what lets concurrent puts agree on a winner.
    pub(crate) fn age_order(a: &&DriveFile, b: &&DriveFile) -> std::cmp::Ordering {
        (a.created_time, &a.id).cmp(&(b.created_time, &b.id))
    }
}

fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int64 {
        Text(String),
        Number(u64),
    }
    Ok(match Option::<Int64>::deserialize(d)? {
        None => None,
        Some(Int64::Number(n)) => Some(n),
        Some(Int64::Text(text)) => Some(text.parse().map_err(serde::de::Error::custom)?),
    })
}

fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.and_then(|t| parse_rfc3339(&t)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileList {
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    incomplete_search: bool,
    #[serde(default)]
    files: Vec<DriveFile>,
}

/// Quotes `value` for a Drive search: inside `'…'`, a backslash and a single quote are escaped
/// with a backslash.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if matches!(c, '\\' | '\'') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// The search for the entries called `name` in the folder `parent`: folders only, or
/// everything but folders.
pub(crate) fn q_named(parent: &str, name: &str, folders: bool) -> String {
    let op = if folders { "=" } else { "!=" };
    format!(
        "name = {} and {} in parents and mimeType {op} '{FOLDER_MIME}' and trashed = false",
        quote(name),
        quote(parent)
    )
}

/// The search for everything in the folder `parent`.
pub(crate) fn q_children(parent: &str) -> String {
    format!("{} in parents and trashed = false", quote(parent))
}

/// The Drive v3 API of one storage.
pub(crate) struct DriveClient {
    pub(crate) http: reqwest::Client,
    api_base: Url,
    upload_base: Url,
    pub(crate) auth: TokenSource,
    pub(crate) retry: RetryPolicy,
    /// Limit for one metadata call (a chunk upload gets more, see `transfer_timeout`).
    pub(crate) timeout: Duration,
    /// The shared drive searched (`corpora=drive`), if any.
    team_drive: Option<String>,
}

impl fmt::Debug for DriveClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriveClient")
            .field("api_base", &self.api_base.as_str())
            .field("upload_base", &self.upload_base.as_str())
            .field("auth", &self.auth)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("team_drive", &self.team_drive)
            .finish()
    }
}

/// Drive's answer as JSON of type `T`.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    response: Response,
) -> Result<T, Failure> {
    let body: Bytes = response
        .bytes()
        .await
        .map_err(|e| Failure::Transport(e.without_url()))?;
    serde_json::from_slice(&body).map_err(|e| Failure::Protocol(format!("bad JSON: {e}")))
}

impl DriveClient {
    pub(crate) fn new(
        http: reqwest::Client,
        api_base: Url,
        upload_base: Url,
        auth: TokenSource,
        retry: RetryPolicy,
        timeout: Duration,
        team_drive: Option<String>,
    ) -> DriveClient {
        DriveClient {
            http,
            api_base,
            upload_base,
            auth,
            retry,
            timeout,
            team_drive,
        }
    }

    /// `base` + `segments`, with `supportsAllDrives=true`.
    fn url(&self, base: &Url, segments: &[&str]) -> Url {
        let mut url = base.clone();
        url.path_segments_mut()
            .expect("Drive base URLs are checked to be http(s) URLs when the storage is made")
            .pop_if_empty()
            .extend(segments);
        url.query_pairs_mut()
            .append_pair("supportsAllDrives", "true");
        url
    }

    /// `…/drive/v3/files[/id]`.
    pub(crate) fn files_url(&self, id: Option<&str>) -> Url {
        match id {
            Some(id) => self.url(&self.api_base, &["drive", "v3", "files", id]),
            None => self.url(&self.api_base, &["drive", "v3", "files"]),
        }
    }

    /// `…/upload/drive/v3/files?uploadType=…`.
    pub(crate) fn upload_url(&self, upload_type: &str) -> Url {
        let mut url = self.url(&self.upload_base, &["upload", "drive", "v3", "files"]);
        url.query_pairs_mut()
            .append_pair("uploadType", upload_type)
            .append_pair("fields", FILE_FIELDS);
        url
    }

    /// A metadata call, with the per-call timeout.
    pub(crate) fn call(&self, method: Method, url: &Url) -> RequestBuilder {
        self.http.request(method, url.clone()).timeout(self.timeout)
    }

    /// Sends the request `make` builds, with the current token, until it succeeds (2xx) or
    /// fails for good: a 401 refreshes the token once, rate limits and unanswered connections
    /// are retried, server errors and timeouts only when `idempotent`.
    pub(crate) async fn send<F>(&self, idempotent: bool, make: F) -> Result<Response, Failure>
    where
        F: Fn() -> RequestBuilder + Send + Sync,
    {
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            let bearer = self.auth.bearer().await?;
            let result = make().bearer_auth(bearer.value.expose()).send().await;
            let failure = match result {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => Failure::from_response(response).await,
                Err(e) => Failure::Transport(e.without_url()),
            };
            if failure.status() == Some(StatusCode::UNAUTHORIZED) && !refreshed {
                refreshed = true;
                self.auth.refresh(&bearer).await?;
                continue;
            }
            let again = match failure.retry() {
                Retry::Always => true,
                Retry::IfIdempotent => idempotent,
                Retry::Never => false,
            };
            if !again || attempt + 1 >= self.retry.attempts {
                return Err(failure);
            }
            let delay = self.retry.delay(attempt, failure.retry_after());
            tracing::debug!(attempt, ?delay, error = %failure, "Drive call failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// The metadata of one file or folder.
    pub(crate) async fn get_file(&self, id: &str) -> Result<DriveFile, Failure> {
        let mut url = self.files_url(Some(id));
        url.query_pairs_mut().append_pair("fields", FILE_FIELDS);
        let response = self.send(true, || self.call(Method::GET, &url)).await?;
        read_json(response).await
    }

    /// Every result of the search `q`, all pages. On a shared drive the search covers that
    /// drive (`corpora=drive`).
    ///
    /// # Errors
    /// Besides call failures, a search Drive marks incomplete: its "nothing found" would not be
    /// definite.
    pub(crate) async fn search(&self, q: &str) -> Result<Vec<DriveFile>, Failure> {
        let mut found = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut url = self.files_url(None);
            {
                let mut query = url.query_pairs_mut();
                query
                    .append_pair("q", q)
                    .append_pair("pageSize", PAGE_SIZE)
                    .append_pair("fields", LIST_FIELDS);
                if let Some(drive) = &self.team_drive {
                    query
                        .append_pair("includeItemsFromAllDrives", "true")
                        .append_pair("corpora", "drive")
                        .append_pair("driveId", drive);
                }
                if let Some(token) = &page_token {
                    query.append_pair("pageToken", token);
                }
            }
            let response = self.send(true, || self.call(Method::GET, &url)).await?;
            let page: FileList = read_json(response).await?;
            if page.incomplete_search {
                return Err(Failure::Protocol(
                    "Drive marked the search incomplete, so its result cannot be trusted".into(),
                ));
            }
            found.extend(page.files);
            match page.next_page_token {
                Some(token) if !token.is_empty() => page_token = Some(token),
                _ => return Ok(found),
            }
        }
    }

    /// Creates the folder `name` in `parent`. Sent once: a retry after a lost answer could make
    /// a second folder, so the caller looks the folder up before trying again.
    pub(crate) async fn create_folder(
        &self,
        parent: &str,
        name: &str,
    ) -> Result<DriveFile, Failure> {
        let mut url = self.files_url(None);
        url.query_pairs_mut().append_pair("fields", FILE_FIELDS);
        let body =
            serde_json::json!({ "name": name, "mimeType": FOLDER_MIME, "parents": [parent] })
                .to_string();
        let response = self
            .send(false, || {
                self.call(Method::POST, &url)
                    .header(CONTENT_TYPE, "application/json; charset=UTF-8")
                    .body(body.clone())
            })
            .await?;
        read_json(response).await
    }

    /// Renames `id` to `name` and moves it from `from_parent` to `to_parent` (when they differ).
    pub(crate) async fn rename(
        &self,
        id: &str,
        name: &str,
        from_parent: &str,
        to_parent: &str,
    ) -> Result<(), Failure> {
        let mut url = self.files_url(Some(id));
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("fields", "id");
            if from_parent != to_parent {
                query
                    .append_pair("addParents", to_parent)
                    .append_pair("removeParents", from_parent);
            }
        }
        self.patch_metadata(&url, serde_json::json!({ "name": name }))
            .await
    }

    /// Moves `id` to the trash (with everything inside, for a folder).
    pub(crate) async fn trash(&self, id: &str) -> Result<(), Failure> {
        let mut url = self.files_url(Some(id));
        url.query_pairs_mut().append_pair("fields", "id");
        self.patch_metadata(&url, serde_json::json!({ "trashed": true }))
            .await
    }

    /// PATCHes a file's metadata with `fields`. Repeating it leads to the same state, so it is
    /// safe to retry.
    async fn patch_metadata(&self, url: &Url, fields: serde_json::Value) -> Result<(), Failure> {
        let body = fields.to_string();
        self.send(true, || {
            self.call(Method::PATCH, url)
                .header(CONTENT_TYPE, "application/json; charset=UTF-8")
                .body(body.clone())
        })
        .await?;
        Ok(())
    }

    /// Deletes `id` for good (Drive's trash would keep using the user's quota). An id that is
    /// already gone counts as deleted, also when a retried call finds its first try succeeded.
    pub(crate) async fn delete(&self, id: &str) -> Result<(), Failure> {
        let url = self.files_url(Some(id));
        match self.send(true, || self.call(Method::DELETE, &url)).await {
            Ok(_) => Ok(()),
            Err(f) if f.status() == Some(StatusCode::NOT_FOUND) => Ok(()),
            Err(f) => Err(f),
        }
    }

    /// Starts reading the content of `id` from `offset`. No overall timeout: a large object
    /// takes as long as it takes; the client's read timeout catches a stalled connection.
    pub(crate) async fn download(&self, id: &str, offset: u64) -> Result<Response, Failure> {
        let range = (offset > 0).then(|| format!("bytes={offset}-"));
        self.download_with(id, range).await
    }

    /// Downloads the bytes `range` of the file `id` (a `Range` request; Drive answers 206).
    pub(crate) async fn download_range(
        &self,
        id: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Response, Failure> {
        // HTTP ranges name the last byte, not the one after it.
        let header = format!("bytes={}-{}", range.start, range.end.saturating_sub(1));
        self.download_with(id, Some(header)).await
    }

    async fn download_with(&self, id: &str, range: Option<String>) -> Result<Response, Failure> {
        let mut url = self.files_url(Some(id));
        url.query_pairs_mut().append_pair("alt", "media");
        self.send(true, || {
            let request = self.http.get(url.clone());
            match &range {
                Some(range) => request.header(RANGE, range.as_str()),
                None => request,
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_backslash_and_single_quote() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote(r"it's a\b"), r"'it\'s a\\b'");
        assert_eq!(quote(r"\'"), r"'\\\''");
    }

    #[test]
    fn searches_have_the_documented_shape() {
        assert_eq!(
            q_named("P1", "a'b", false),
            "name = 'a\\'b' and 'P1' in parents and mimeType != 'application/vnd.google-apps.folder' and trashed = false"
        );
        assert_eq!(q_children("P1"), "'P1' in parents and trashed = false");
    }

    #[test]
    fn delays_grow_are_capped_and_respect_retry_after() {
        let policy = RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for attempt in 0..30 {
            let delay = policy.delay(attempt, None);
            let full = Duration::from_millis(100)
                .saturating_mul(1 << attempt.min(20))
                .min(Duration::from_secs(1));
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
        assert!(policy.delay(0, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
    }

    #[test]
    fn file_metadata_reads_string_sizes_and_times() {
        let file: DriveFile = serde_json::from_str(
            r#"{"id":"x","name":"n","mimeType":"application/octet-stream","size":"12345","md5Checksum":"abc","createdTime":"2024-02-29T12:00:00.000Z"}"#,
        )
        .unwrap();
        assert_eq!(file.size, Some(12345));
        assert!(file.created_time.is_some());
        assert!(file.modified_time.is_none());
        assert!(!file.is_folder());
    }

    #[test]
    fn only_drive_rate_limits_are_retried_always() {
        let status = |code: u16, reason: &str| Failure::Status {
            status: StatusCode::from_u16(code).unwrap(),
            reason: Some(reason.into()),
            message: String::new(),
            retry_after: None,
        };
        assert_eq!(status(403, "userRateLimitExceeded").retry(), Retry::Always);
        assert_eq!(status(403, "rateLimitExceeded").retry(), Retry::Always);
        assert_eq!(status(429, "").retry(), Retry::Always);
        assert_eq!(
            status(403, "insufficientFilePermissions").retry(),
            Retry::Never
        );
        assert_eq!(status(503, "backendError").retry(), Retry::IfIdempotent);
        assert_eq!(status(404, "notFound").retry(), Retry::Never);
    }
}

//! Unfinished multipart uploads: found with ListMultipartUploads and ListParts, removed with
//! AbortMultipartUpload. OpenDAL has none of the three calls, so they are sent here, signed
//! with the SigV4 signer OpenDAL itself uses (reqsign), over the storage's own HTTP client.
//!
//! A STORE killed mid-upload leaves an upload whose parts are billed until it is aborted, yet
//! never show as an object. Only uploads under this store's prefix are considered, and one is
//! aborted only when it is stale: started more than [`STALE_UPLOAD_AGE`] ago **and** no part
//! of it was sent within that time. A live upload sends a part every few seconds (8 MiB parts),
//! so however large and slow it is, it is never taken for a dead one; and an upload another
//! tool started under the same prefix is treated the same way.

use std::time::{Duration, SystemTime};

use reqsign_aws_v4::{Credential, RequestSigner};
use reqsign_core::{Context, SignRequest};
use serde::Deserialize;

use crate::http_common;
use crate::{BackendError, ErrorKind};

/// How long an upload must have been started, and silent, before it is aborted: one day, the
/// value S3's own `AbortIncompleteMultipartUpload` examples use. Shorter risks a paused
/// upload of another process on a slow link; longer only costs storage of dead parts.
pub const STALE_UPLOAD_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// SHA-256 of an empty body: these requests have none.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What the cleanup needs to sign and send its own requests.
pub(super) struct Multipart {
    pub(super) client: reqwest::Client,
    /// `https://host/bucket` (path style) or `https://bucket.host` (virtual host): object keys
    /// follow after a `/`.
    pub(super) bucket_url: String,
    /// The store's key prefix in the bucket (`annex/`), or empty for the whole bucket.
    pub(super) key_prefix: String,
    pub(super) region: String,
    pub(super) credential: Credential,
    /// For messages.
    pub(super) storage: String,
}

impl std::fmt::Debug for Multipart {
    // The credential is left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multipart")
            .field("bucket_url", &self.bucket_url)
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

/// One unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The object key it will create (with the store's prefix).
    pub key: String,
    /// S3's id of the upload.
    pub upload_id: String,
    /// When it was started, per the server.
    pub initiated: Option<SystemTime>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ListUploadsResult {
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_upload_id_marker: Option<String>,
    #[serde(rename = "Upload")]
    uploads: Vec<UploadItem>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct UploadItem {
    key: String,
    upload_id: String,
    initiated: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ListPartsResult {
    is_truncated: bool,
    next_part_number_marker: Option<String>,
    #[serde(rename = "Part")]
    parts: Vec<PartItem>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PartItem {
    last_modified: Option<String>,
}

/// The `<Code>` of an S3 error answer, empty when there is none.
fn error_code(text: &str) -> &str {
    text.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map_or("", |(code, _)| code)
}

/// S3's timestamps (`2026-12-06T04:50:00.000Z`).
fn parse_time(text: &str) -> Option<SystemTime> {
    let ts: jiff::Timestamp = text.trim().parse().ok()?;
    Some(SystemTime::from(ts))
}

/// Percent-encodes as SigV4 wants: unreserved characters stay, `/` too when `keep_slash`
/// (object keys in the path), every other byte becomes `%XX`.
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k, false), encode(v, false)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Multipart {
    fn fail(&self, kind: ErrorKind, op: &'static str, location: &str, why: String) -> BackendError {
        BackendError::new(kind, op, location, self.storage.clone()).with_cause(why)
    }

    /// Sends one signed request without a body; the answer's status and text.
    async fn send(
        &self,
        op: &'static str,
        method: http::Method,
        key: &str,
        query: &str,
    ) -> Result<(http::StatusCode, String), BackendError> {
        let url = format!("{}/{}?{query}", self.bucket_url, encode(key, true));
        let request = http::Request::builder()
            .method(method)
            .uri(&url)
            .header("x-amz-content-sha256", EMPTY_SHA256)
            .body(())
            .map_err(|e| self.fail(ErrorKind::Config, op, key, format!("bad request URL: {e}")))?;
        let (mut parts, ()) = request.into_parts();
        RequestSigner::new("s3", &self.region)
            .sign_request(&Context::new(), &mut parts, Some(&self.credential), None)
            .await
            .map_err(|e| self.fail(ErrorKind::Config, op, key, format!("cannot sign: {e}")))?;
        let request =
            reqwest::Request::try_from(http::Request::from_parts(parts, Vec::<u8>::new()))
                .map_err(|e| self.fail(ErrorKind::Config, op, key, format!("bad request: {e}")))?;
        let response = self.client.execute(request).await.map_err(|e| {
            self.fail(
                ErrorKind::Unreachable,
                op,
                key,
                format!("request failed: {e}"),
            )
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| {
            self.fail(
                ErrorKind::Unreachable,
                op,
                key,
                format!("reading the answer: {e}"),
            )
        })?;
        Ok((status, text))
    }

    fn status_error(
        &self,
        op: &'static str,
        key: &str,
        status: http::StatusCode,
        text: &str,
    ) -> BackendError {
        let code = text
            .split_once("<Code>")
            .and_then(|(_, rest)| rest.split_once("</Code>"))
            .map_or("", |(code, _)| code);
        self.fail(
            http_common::kind_for_status(status),
            op,
            key,
            format!("the server answered {status} {code}"),
        )
    }

    /// Every unfinished upload under the store's prefix.
    pub(super) async fn list_uploads(&self) -> Result<Vec<Upload>, BackendError> {
        const OP: &str = "list unfinished uploads";
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut pairs = vec![("uploads", ""), ("prefix", self.key_prefix.as_str())];
            if let Some((key, id)) = &markers {
                pairs.push(("key-marker", key));
                pairs.push(("upload-id-marker", id));
            }
            let (status, text) = self.send(OP, http::Method::GET, "", &query(&pairs)).await?;
            // `rclone serve s3` (gofakes3) answers NoSuchUpload for a bucket that never had
            // an upload; that is an empty listing. A missing bucket is NoSuchBucket.
            if status == http::StatusCode::NOT_FOUND && error_code(&text) == "NoSuchUpload" {
                return Ok(out);
            }
            if !status.is_success() {
                return Err(self.status_error(OP, &self.key_prefix, status, &text));
            }
            let page: ListUploadsResult = self.read_xml(OP, &self.key_prefix, &text)?;
            out.extend(page.uploads.into_iter().map(|u| Upload {
                initiated: u.initiated.as_deref().and_then(parse_time),
                key: u.key,
                upload_id: u.upload_id,
            }));
            match (
                page.is_truncated,
                page.next_key_marker,
                page.next_upload_id_marker,
            ) {
                (true, Some(key), Some(id))
                    if markers.as_ref() != Some(&(key.clone(), id.clone())) =>
                {
                    markers = Some((key, id));
                }
                _ => return Ok(out),
            }
        }
    }

    /// Parses an XML answer of S3 to `op` about `at`.
    fn read_xml<T: serde::de::DeserializeOwned>(
        &self,
        op: &'static str,
        at: &str,
        text: &str,
    ) -> Result<T, BackendError> {
        quick_xml::de::from_str(text)
            .map_err(|e| self.fail(ErrorKind::Other, op, at, format!("unreadable answer: {e}")))
    }

    /// When the last part of `upload` was sent, `None` when it has no parts.
    async fn last_part_time(&self, upload: &Upload) -> Result<Option<SystemTime>, BackendError> {
        const OP: &str = "list the parts of an unfinished upload";
        let mut latest = None;
        let mut marker = String::new();
        loop {
            let mut pairs = vec![("uploadId", upload.upload_id.as_str())];
            if !marker.is_empty() {
                pairs.push(("part-number-marker", &marker));
            }
            let (status, text) = self
                .send(OP, http::Method::GET, &upload.key, &query(&pairs))
                .await?;
            if !status.is_success() {
                return Err(self.status_error(OP, &upload.key, status, &text));
            }
            let page: ListPartsResult = self.read_xml(OP, &upload.key, &text)?;
            for part in &page.parts {
                let t = part.last_modified.as_deref().and_then(parse_time);
                latest = latest.max(t);
            }
            match page.next_part_number_marker {
                Some(next) if page.is_truncated && next != marker => marker = next,
                _ => return Ok(latest),
            }
        }
    }

    /// Aborts `upload`; one already gone (completed or aborted by someone else) counts as done.
    pub(super) async fn abort(&self, upload: &Upload) -> Result<(), BackendError> {
        const OP: &str = "abort an unfinished upload";
        let (status, text) = self
            .send(
                OP,
                http::Method::DELETE,
                &upload.key,
                &query(&[("uploadId", &upload.upload_id)]),
            )
            .await?;
        if status.is_success() || status == http::StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(self.status_error(OP, &upload.key, status, &text))
    }

    /// Whether `upload` is stale at `now`: started at least `age` ago and no part sent within
    /// `age`. An upload whose start time the server did not give is left alone.
    pub(super) async fn is_stale(
        &self,
        upload: &Upload,
        now: SystemTime,
        age: Duration,
    ) -> Result<bool, BackendError> {
        let old = |t: SystemTime| now.duration_since(t).is_ok_and(|d| d >= age);
        match upload.initiated {
            Some(t) if old(t) => {}
            _ => return Ok(false),
        }
        Ok(self.last_part_time(upload).await?.is_none_or(old))
    }

    /// Aborts the stale uploads under the prefix (see the module doc); how many.
    pub(super) async fn abort_stale(&self, age: Duration) -> Result<usize, BackendError> {
        let now = SystemTime::now();
        let mut aborted = 0;
        for upload in self.list_uploads().await? {
            // The prefix was asked for; a server that ignores it must not make us touch
            // anything outside the store.
            if !upload.key.starts_with(&self.key_prefix) {
                continue;
            }
            if self.is_stale(&upload, now, age).await? {
                self.abort(&upload).await?;
                tracing::info!(key = %upload.key, "aborted a stale unfinished multipart upload");
                aborted += 1;
            }
        }
        Ok(aborted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_queries_are_encoded_for_sigv4() {
        assert_eq!(encode("annex/a b/K&c%", true), "annex/a%20b/K%26c%25");
        assert_eq!(encode("annex/", false), "annex%2F");
        assert_eq!(
            query(&[("uploads", ""), ("prefix", "a/")]),
            "uploads=&prefix=a%2F"
        );
    }

    #[test]
    fn list_answers_parse() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>p/k2</NextKeyMarker><NextUploadIdMarker>id2</NextUploadIdMarker>
  <MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>p/k1</Key><UploadId>id1</UploadId><Initiated>2026-12-01T10:00:00.000Z</Initiated></Upload>
  <Upload><Key>p/k2</Key><UploadId>id2</UploadId><Initiated>2026-12-02T10:00:00Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;
        let page: ListUploadsResult = quick_xml::de::from_str(xml).unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(page.uploads[1].upload_id, "id2");
        assert_eq!(page.next_key_marker.as_deref(), Some("p/k2"));
        let t = parse_time(page.uploads[0].initiated.as_deref().unwrap()).unwrap();
        let t2 = parse_time(page.uploads[1].initiated.as_deref().unwrap()).unwrap();
        assert_eq!(t2.duration_since(t).unwrap(), Duration::from_secs(86_400));
        let empty: ListUploadsResult = quick_xml::de::from_str(
            "<ListMultipartUploadsResult><Bucket>b</Bucket></ListMultipartUploadsResult>",
        )
        .unwrap();
        assert!(empty.uploads.is_empty() && !empty.is_truncated);
    }
}

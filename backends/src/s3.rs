//! The S3 storage: objects are keys in a bucket (AWS or any S3-compatible server), on OpenDAL.
//!
//! - **Atomic put without temp names**: S3 makes an object visible only when its single PUT or
//!   its multipart upload's "complete" succeeds, so a failed or cut upload shows nothing at
//!   the key. A failed upload is aborted; one killed with its process stays invisible until
//!   [`Backend::clean_stale_uploads`] aborts it a day later (module `multipart`).
//! - **Bounded memory**: objects up to [`PART_SIZE`] go in one PUT; larger ones in a multipart
//!   upload of `PART_SIZE` parts, at most [`UPLOAD_CONCURRENCY`] in flight, so a put holds
//!   about `(UPLOAD_CONCURRENCY + 1) × PART_SIZE` bytes whatever the object size.
//! - **Errors**: [`map_error`] classifies; only a 404 is "not found", and the first "not found"
//!   of a process is believed only after the bucket itself answered (a typo in `bucket=` or a
//!   deleted bucket must not read as "every object absent").
//! - **Retries**: OpenDAL's retry layer repeats failed requests (an upload part is held in
//!   memory, so it can be sent again); every request has a deadline ([`HttpOptions`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ferry_crypto::Secret;
use futures::{StreamExt, TryStreamExt};
use opendal::Operator;

use crate::http_common::{self, BodyFault, CheckedBody, HttpOptions};

mod multipart;
use crate::{
    Backend, BackendError, ByteStream, Capabilities, Description, ErrorKind, ListEntry, ObjectMeta,
    ObjectPath, Progress,
};
pub use multipart::STALE_UPLOAD_AGE;

/// Size of one part of a multipart upload (S3's minimum is 5 MiB). Objects up to this size go
/// in a single PUT.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// How many parts of one upload are sent at once. One, for memory: measured with a 1 GiB
/// `put_file` (tests/large.rs), peak RSS was 30 MiB with one part in flight and 47 MiB with
/// two, and the remote as a whole must stay under 64 MiB. OpenDAL still fills the next part
/// while one is being sent.
pub const UPLOAD_CONCURRENCY: usize = 1;

/// S3 allows 10,000 parts per upload; past `PART_SIZE × PARTS_LIMIT` bytes the part size
/// grows (leaving headroom below the hard limit).
const PARTS_LIMIT: u64 = 9_000;

/// Where and how to reach a bucket. Field names follow git-annex's S3 special remote where it
/// has one (`bucket`, `host`→`endpoint`, `requeststyle=path`→`path_style`).
#[derive(Debug, Clone)]
pub struct S3Config {
    /// The bucket; it must exist (ferry does not create buckets).
    pub bucket: String,
    /// The server: a host (`s3.example.com:9000`, HTTPS is assumed) or a URL
    /// (`http://127.0.0.1:9000`). `None` means AWS, at the regional endpoint of `region`.
    pub endpoint: Option<String>,
    /// The region requests are signed for (`us-east-1` for most non-AWS servers).
    pub region: String,
    /// Path-style addressing (`https://host/bucket/key`) instead of virtual-host style
    /// (`https://bucket.host/key`); git-annex's `requeststyle=path`. See
    /// [`S3Config::default_path_style`].
    pub path_style: bool,
    /// Where objects live inside the bucket (`annex/` → keys `annex/<path>`); `None` for the
    /// bucket's top.
    pub prefix: Option<ObjectPath>,
    /// The access key ID.
    pub access_key_id: String,
    /// The secret access key (never printed: `Debug` shows `***`).
    pub secret_access_key: Secret<String>,
    /// Timeouts and retries.
    pub http: HttpOptions,
}

impl S3Config {
    /// The default of [`S3Config::path_style`]: path style for a custom endpoint (S3-compatible
    /// servers — MinIO, Ceph, rclone, Garage — rarely have per-bucket host names), virtual-host
    /// style for AWS, which is deprecating path style.
    pub fn default_path_style(endpoint: Option<&str>) -> bool {
        endpoint.is_some_and(|e| !e.trim().is_empty())
    }
}

/// An S3 bucket (or a prefix in one) as a store.
#[derive(Debug, Clone)]
pub struct S3Backend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The one operator (and connection pool) of this store; cloned into every call.
    op: Operator,
    /// `s3://bucket/prefix at endpoint`, for messages.
    storage: String,
    location: String,
    bucket: String,
    /// The bucket answered a listing once in this process, so a 404 on a key means the key
    /// is absent, not the bucket.
    bucket_confirmed: AtomicBool,
    /// Finding and aborting unfinished multipart uploads (requests OpenDAL does not make).
    multipart: multipart::Multipart,
}

/// Classifies an OpenDAL error from the S3 service; the one place that does.
///
/// OpenDAL already maps the S3 answers: 404 → `NotFound`, 403 → `PermissionDenied`,
/// 429 → `RateLimited`, 5xx and network failures → temporary. A 401 (some S3-compatible
/// servers send it for a bad signature) is turned into `PermissionDenied` by the transport
/// (see `http_common`).
pub fn map_error(err: &opendal::Error) -> ErrorKind {
    http_common::classify(err)
}

/// `endpoint` as a URL: HTTPS when no scheme is given. Refuses credentials in the URL (they
/// would end up in messages) and anything but http(s).
pub(crate) fn endpoint_url(endpoint: &str) -> Result<String, String> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    let url = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("https://{endpoint}")
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("endpoint {endpoint:?} is not a host or URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(format!(
                "endpoint {endpoint:?} must be an http:// or https:// URL"
            ));
        }
    }
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("endpoint {endpoint:?} has no host"));
    }
    if authority.contains('@') {
        return Err(
            "the endpoint URL holds credentials; give them in their own settings instead".into(),
        );
    }
    Ok(url)
}

impl S3Backend {
    /// A store in `config.bucket` under `config.prefix`. Nothing is sent until the first
    /// operation; [`Backend::check`] proves the bucket and credentials work.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an unusable setting (empty bucket, bad endpoint).
    pub fn new(config: S3Config) -> Result<S3Backend, BackendError> {
        let fail = |why: String| {
            BackendError::new(ErrorKind::Config, "configure", "", "s3").with_cause(why)
        };
        if config.bucket.trim().is_empty() {
            return Err(
                fail("bucket is empty".into()).with_hint("set bucket= to an existing bucket")
            );
        }
        let endpoint = match config.endpoint.as_deref().filter(|e| !e.trim().is_empty()) {
            Some(e) => Some(endpoint_url(e).map_err(|why| fail(why).with_hint("fix endpoint="))?),
            None => None,
        };
        let region = if config.region.trim().is_empty() {
            "us-east-1"
        } else {
            config.region.trim()
        };
        let root = match &config.prefix {
            Some(prefix) => format!("/{}/", prefix.as_str()),
            None => "/".to_owned(),
        };
        let mut builder = opendal::services::S3::default()
            .bucket(&config.bucket)
            .region(region)
            .root(&root)
            .access_key_id(&config.access_key_id)
            .secret_access_key(config.secret_access_key.expose())
            // Only the credentials given here: never ~/.aws/config, environment variables or
            // the EC2 metadata service, which would make a remote's meaning depend on the
            // machine it runs on.
            .disable_config_load()
            .disable_ec2_metadata();
        if let Some(endpoint) = &endpoint {
            builder = builder.endpoint(endpoint);
        }
        if !config.path_style {
            builder = builder.enable_virtual_host_style();
        }
        let op = Operator::new(builder).map_err(|e| fail(http_common::one_line(&e)))?;
        let client = http_common::http_client(&config.http)
            .map_err(|e| fail(format!("cannot set up HTTP: {e}")))?;
        // The bucket's URL as OpenDAL builds it, for the requests it does not make.
        let base = endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let base = base.trim_end_matches('/');
        let bucket_url = if config.path_style {
            format!("{base}/{}", config.bucket)
        } else {
            base.replacen("//", &format!("//{}.", config.bucket), 1)
        };
        let multipart_client = client.clone();
        let op = http_common::finish_operator(op, client, &config.http);
        let host = endpoint.unwrap_or_else(|| format!("AWS {region}"));
        let location = match &config.prefix {
            Some(prefix) => format!("s3://{}/{} at {host}", config.bucket, prefix.as_str()),
            None => format!("s3://{} at {host}", config.bucket),
        };
        Ok(S3Backend {
            inner: Arc::new(Inner {
                op,
                multipart: multipart::Multipart {
                    client: multipart_client,
                    bucket_url,
                    key_prefix: match &config.prefix {
                        Some(prefix) => format!("{}/", prefix.as_str()),
                        None => String::new(),
                    },
                    region: region.to_owned(),
                    credential: reqsign_aws_v4::Credential {
                        access_key_id: config.access_key_id.clone(),
                        secret_access_key: config.secret_access_key.expose().clone(),
                        session_token: None,
                        expires_in: None,
                    },
                    storage: format!("s3 {location}"),
                },
                storage: format!("s3 {location}"),
                location,
                bucket: config.bucket,
                bucket_confirmed: AtomicBool::new(false),
            }),
        })
    }
}

impl S3Backend {
    /// Aborts the unfinished multipart uploads under this store's prefix that were started at
    /// least `age` ago and had no part sent within `age`; returns how many.
    /// [`Backend::clean_stale_uploads`] uses [`STALE_UPLOAD_AGE`]; tests give shorter ages.
    ///
    /// # Errors
    /// The uploads cannot be listed or one cannot be aborted (nothing is lost; a later call
    /// tries again).
    pub async fn abort_stale_uploads(
        &self,
        age: std::time::Duration,
    ) -> Result<usize, BackendError> {
        self.inner.multipart.abort_stale(age).await
    }

    /// The unfinished multipart uploads under this store's prefix, as `(key, upload id)`.
    ///
    /// # Errors
    /// The server did not answer the listing.
    pub async fn unfinished_uploads(&self) -> Result<Vec<(String, String)>, BackendError> {
        Ok(self
            .inner
            .multipart
            .list_uploads()
            .await?
            .into_iter()
            .map(|u| (u.key, u.upload_id))
            .collect())
    }
}

impl Inner {
    fn err(&self, op: &'static str, location: &str, err: opendal::Error) -> BackendError {
        let kind = map_error(&err);
        let out = BackendError::new(kind, op, location, self.storage.clone())
            .with_cause(http_common::one_line(&err));
        match kind {
            ErrorKind::PermissionDenied => {
                out.with_hint("check the access key and secret, and that they may use this bucket")
            }
            _ => out,
        }
    }

    fn fail(&self, kind: ErrorKind, op: &'static str, location: &str, why: String) -> BackendError {
        BackendError::new(kind, op, location, self.storage.clone()).with_cause(why)
    }

    /// Lists at most one key: proves that the bucket exists and the credentials may read it.
    async fn check_bucket(&self, op: &'static str, location: &str) -> Result<(), BackendError> {
        let lister = self.op.lister_with("").recursive(true).limit(1).await;
        let first = match lister {
            Ok(mut lister) => lister.try_next().await.map(|_| ()),
            Err(e) => Err(e),
        };
        match first {
            Ok(()) => {
                self.bucket_confirmed.store(true, Ordering::Relaxed);
                Ok(())
            }
            // A 404 on a bucket listing: the bucket is missing. Not "absent objects": a
            // wrong setting or a deleted bucket, which must not read as "nothing stored".
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => {
                Err(
                    BackendError::new(ErrorKind::Config, op, location, self.storage.clone())
                        .with_cause(format!("bucket {} does not exist", self.bucket))
                        .with_hint("check bucket= and endpoint=; ferry does not create buckets"),
                )
            }
            Err(e) => Err(self.err(op, location, e)),
        }
    }

    async fn stat(&self, path: &ObjectPath) -> Result<Option<ObjectMeta>, BackendError> {
        const OP: &str = "look up";
        match self.op.stat(path.as_str()).await {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectMeta {
                len: meta.content_length(),
                modified: http_common::modified(&meta),
            })),
            Ok(_) => Err(self.fail(
                ErrorKind::Other,
                OP,
                path.as_str(),
                "a directory marker is where the object should be".into(),
            )),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => {
                if !self.bucket_confirmed.load(Ordering::Relaxed) {
                    self.check_bucket(OP, path.as_str()).await?;
                }
                Ok(None)
            }
            Err(e) => Err(self.err(OP, path.as_str(), e)),
        }
    }

    async fn put(
        &self,
        path: &ObjectPath,
        body: ByteStream,
        len: u64,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        const OP: &str = "store";
        let part = part_size(len);
        let mut writer = self
            .op
            .writer_with(path.as_str())
            .chunk(part)
            .concurrent(UPLOAD_CONCURRENCY)
            .await
            .map_err(|e| self.err(OP, path.as_str(), e))?;
        let fault = http_common::FaultSlot::default();
        let mut body = CheckedBody::new(body, len, fault.clone(), |_| {});
        let mut written = 0u64;
        let outcome: Result<(), BackendError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(_) => break,
                };
                written += chunk.len() as u64;
                writer
                    .write(chunk)
                    .await
                    .map_err(|e| self.err(OP, path.as_str(), e))?;
                progress(written);
            }
            Ok(())
        }
        .await;
        let outcome = match (outcome, http_common::take_fault(&fault)) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(fault)) => Err(self.body_error(OP, path, &fault, len)),
            (Ok(()), None) => {
                // The last part and the "complete" go out here; only now is the object visible.
                return writer
                    .close()
                    .await
                    .map(|_| ())
                    .map_err(|e| self.err(OP, path.as_str(), e));
            }
        };
        // Nothing may become visible: abort the multipart upload (a no-op when none was
        // started). If even that fails, the upload stays invisible until cleaned up.
        if let Err(e) = writer.abort().await {
            tracing::warn!(path = %path, error = %http_common::one_line(&e), "cannot abort an upload");
        }
        outcome
    }

    fn body_error(
        &self,
        op: &'static str,
        path: &ObjectPath,
        fault: &BodyFault,
        len: u64,
    ) -> BackendError {
        BackendError::new(ErrorKind::Local, op, path.as_str(), self.storage.clone())
            .with_cause(fault.describe(len))
            .with_hint("the data to store could not be read in full")
    }

    async fn get(&self, path: &ObjectPath, offset: u64) -> Result<ByteStream, BackendError> {
        const OP: &str = "retrieve";
        // The length first: a ranged read from the end would be answered 416, and a 404 should
        // come from `get` itself rather than from the first poll of the stream.
        let meta = self
            .op
            .stat(path.as_str())
            .await
            .map_err(|e| self.err(OP, path.as_str(), e))?;
        let len = meta.content_length();
        if offset >= len {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let reader = crate::http_common::open_reader(&self.op, path.as_str(), len - offset)
            .await
            .map_err(|e| self.err(OP, path.as_str(), e))?;
        let stream = reader
            .into_bytes_stream(offset..len)
            .await
            .map_err(|e| self.err(OP, path.as_str(), e))?;
        Ok(Box::pin(stream.map_err(|e| reclassify(e, map_error))))
    }

    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ListEntry>, BackendError> {
        const OP: &str = "list";
        let dir = match prefix {
            Some(prefix) => format!("{}/", prefix.as_str()),
            None => String::new(),
        };
        let location = prefix.map(|p| p.as_str()).unwrap_or_default();
        let mut lister = self
            .op
            .lister_with(&dir)
            .recursive(true)
            .await
            .map_err(|e| self.err(OP, location, e))?;
        let mut out = Vec::new();
        while let Some(entry) = lister
            .try_next()
            .await
            .map_err(|e| self.err(OP, location, e))?
        {
            if !entry.metadata().is_file() {
                continue;
            }
            // A key that is no valid object path (`a//b`, `../x`) was not stored by ferry.
            let Ok(path) = ObjectPath::new(entry.path()) else {
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
}

/// The part size for an upload of `len` bytes: [`PART_SIZE`], or more (a whole number of MiB)
/// when the object would need more than [`PARTS_LIMIT`] parts.
fn part_size(len: u64) -> usize {
    const MIB: u64 = 1024 * 1024;
    let needed = len.div_ceil(PARTS_LIMIT).div_ceil(MIB) * MIB;
    usize::try_from(needed.max(PART_SIZE as u64)).unwrap_or(usize::MAX)
}

/// An error from an object stream, with its kind recomputed by `map` so that the engine sees
/// network trouble as "unreachable" rather than as a generic I/O error.
pub(crate) fn reclassify(
    err: std::io::Error,
    map: fn(&opendal::Error) -> ErrorKind,
) -> std::io::Error {
    match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<opendal::Error>())
    {
        Some(inner) => std::io::Error::new(
            http_common::io_kind_for(map(inner)),
            http_common::one_line(inner),
        ),
        None => err,
    }
}

#[async_trait::async_trait]
impl Backend for S3Backend {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // Rename is a server-side copy and a delete: not atomic (for a moment both names
            // exist), which export's RENAMEEXPORT tolerates; a failed rename leaves the
            // source in place.
            rename: true,
            list: true,
            local: false,
        }
    }

    fn describe(&self) -> Description {
        Description {
            storage: "s3",
            location: self.inner.location.clone(),
        }
    }

    async fn check(&self) -> Result<(), BackendError> {
        self.inner.check_bucket("use", "").await
    }

    /// Aborts the multipart uploads under this store's prefix that a killed process left:
    /// started more than [`STALE_UPLOAD_AGE`] ago and without a part sent since (so a live
    /// upload, ours or another process's, is never touched). Their parts are billed while
    /// they exist, yet never become objects. Uploads that fail while ferry runs are aborted
    /// on the spot; this finds the rest, at PREPARE and in `ferry doctor`.
    async fn clean_stale_uploads(&self) -> Result<usize, BackendError> {
        self.abort_stale_uploads(STALE_UPLOAD_AGE).await
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

    async fn get(&self, path: &ObjectPath, offset: u64) -> Result<ByteStream, BackendError> {
        self.inner.get(path, offset).await
    }

    async fn delete(&self, path: &ObjectPath) -> Result<(), BackendError> {
        // S3 answers 204 for an absent key too.
        self.inner
            .op
            .delete(path.as_str())
            .await
            .map_err(|e| self.inner.err("delete", path.as_str(), e))
    }

    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ListEntry>, BackendError> {
        self.inner.list(prefix).await
    }

    async fn rename(&self, from: &ObjectPath, to: &ObjectPath) -> Result<(), BackendError> {
        const OP: &str = "rename";
        let inner = &self.inner;
        // OpenDAL's copy is CopyObject (multipart copy for objects over 5 GiB): the bytes stay
        // on the server. An absent source is a 404, so `to` is never created then.
        inner
            .op
            .copy(from.as_str(), to.as_str())
            .await
            .map_err(|e| inner.err(OP, from.as_str(), e))?;
        inner
            .op
            .delete(from.as_str())
            .await
            .map_err(|e| inner.err(OP, from.as_str(), e))
    }

    /// S3 has no directories: a "directory" is a key prefix and vanishes with its last
    /// object, so there is never anything to remove.
    async fn remove_empty_dir(&self, _dir: &ObjectPath) -> Result<(), BackendError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_stays_at_eight_mib_until_parts_run_out() {
        assert_eq!(part_size(0), PART_SIZE);
        assert_eq!(part_size(70 * 1024 * 1024 * 1024), PART_SIZE);
        let huge = 200 * 1024 * 1024 * 1024u64;
        let part = part_size(huge) as u64;
        assert!(huge.div_ceil(part) <= PARTS_LIMIT);
        assert_eq!(part % (1024 * 1024), 0);
    }

    #[test]
    fn endpoint_gets_https_and_refuses_credentials() {
        assert_eq!(
            endpoint_url("s3.example.com:9000").as_deref(),
            Ok("https://s3.example.com:9000")
        );
        assert_eq!(
            endpoint_url("http://127.0.0.1:9000/").as_deref(),
            Ok("http://127.0.0.1:9000")
        );
        assert!(endpoint_url("http://key:secret@host").is_err());
        assert!(endpoint_url("ftp://host").is_err());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let config = S3Config {
            bucket: "b".into(),
            endpoint: Some("http://127.0.0.1:1".into()),
            region: "us-east-1".into(),
            path_style: true,
            prefix: None,
            access_key_id: "AKID".into(),
            secret_access_key: Secret::new("very-secret-value".into()),
            http: HttpOptions::default(),
        };
        let text = format!("{config:?}");
        assert!(!text.contains("very-secret-value"), "{text}");
        let backend = S3Backend::new(config).expect("a valid config");
        let text = format!("{backend:?}");
        assert!(!text.contains("very-secret-value"), "{text}");
    }

    #[test]
    fn path_style_is_the_default_for_custom_endpoints_only() {
        assert!(S3Config::default_path_style(Some("http://127.0.0.1:9000")));
        assert!(!S3Config::default_path_style(None));
        assert!(!S3Config::default_path_style(Some(" ")));
    }
}

//! The S3 and WebDAV test servers (`scripts/test-servers`), as seen from the tests: their
//! addresses and credentials come from `FERRY_TEST_*` variables, and a missing variable fails
//! the test with instructions instead of skipping it (a skipped storage would pass silently).

use std::path::PathBuf;
use std::time::Duration;

use ferry_backends::ObjectPath;
use ferry_backends::http_common::HttpOptions;
use ferry_backends::s3::{S3Backend, S3Config};
use ferry_backends::webdav::{WebdavBackend, WebdavConfig};
use ferry_crypto::Secret;

fn var(name: &str, server: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{server} test server not running ({name} is not set): run scripts/test \
             (or scripts/test-servers start and source its env file)"
        ),
    }
}

/// The running `rclone serve s3`.
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    pub key: String,
    pub secret: String,
    /// The bucket's directory on disk: object `k` under prefix `p` is the file `data/p/k`.
    pub data: PathBuf,
}

pub fn s3_server() -> S3Server {
    const S3: &str = "S3";
    S3Server {
        endpoint: var("FERRY_TEST_S3_ENDPOINT", S3),
        bucket: var("FERRY_TEST_S3_BUCKET", S3),
        key: var("FERRY_TEST_S3_ACCESS_KEY_ID", S3),
        secret: var("FERRY_TEST_S3_SECRET_ACCESS_KEY", S3),
        data: PathBuf::from(var("FERRY_TEST_S3_DATA", S3)),
    }
}

/// The running `rclone serve webdav`.
pub struct WebdavServer {
    pub url: String,
    pub user: String,
    pub password: String,
    /// The served directory on disk.
    pub data: PathBuf,
}

pub fn webdav_server() -> WebdavServer {
    const DAV: &str = "WebDAV";
    WebdavServer {
        url: var("FERRY_TEST_WEBDAV_URL", DAV),
        user: var("FERRY_TEST_WEBDAV_USER", DAV),
        password: var("FERRY_TEST_WEBDAV_PASSWORD", DAV),
        data: PathBuf::from(var("FERRY_TEST_WEBDAV_DATA", DAV)),
    }
}

/// Timeouts for tests: short retry waits, so that a check of a failing server ends quickly,
/// and a stall limit well above what a loaded test machine needs for an 8 MiB part.
pub fn test_http() -> HttpOptions {
    HttpOptions {
        connect_timeout: Duration::from_secs(10),
        timeout: Duration::from_secs(30),
        io_timeout: Duration::from_secs(30),
        retries: 3,
        retry_delay: Duration::from_millis(20),
    }
}

/// A fresh random store prefix (`ferry-test-…`), so that tests never share objects.
pub fn fresh_prefix() -> String {
    format!("ferry-test-{:016x}", rand::random::<u64>())
}

impl S3Server {
    /// A store under `prefix` in the test bucket, reached at `endpoint` (the server itself, or
    /// a fault proxy in front of it).
    pub fn config(&self, endpoint: &str, prefix: &str, http: HttpOptions) -> S3Config {
        S3Config {
            bucket: self.bucket.clone(),
            endpoint: Some(endpoint.to_owned()),
            region: "us-east-1".into(),
            path_style: true,
            prefix: Some(ObjectPath::new(prefix).expect("test prefixes are valid")),
            access_key_id: self.key.clone(),
            secret_access_key: Secret::new(self.secret.clone()),
            http,
        }
    }

    pub fn backend(&self, endpoint: &str, prefix: &str, http: HttpOptions) -> S3Backend {
        S3Backend::new(self.config(endpoint, prefix, http)).expect("a valid S3 test config")
    }
}

impl WebdavServer {
    /// A store in the collection `prefix` at `base` (the server itself, or a fault proxy).
    pub fn config(&self, base: &str, prefix: &str, http: HttpOptions) -> WebdavConfig {
        WebdavConfig {
            url: format!("{}/{prefix}", base.trim_end_matches('/')),
            user: Some(self.user.clone()),
            password: Some(Secret::new(self.password.clone())),
            bearer_token: None,
            http,
        }
    }

    pub fn backend(&self, base: &str, prefix: &str, http: HttpOptions) -> WebdavBackend {
        WebdavBackend::new(self.config(base, prefix, http)).expect("a valid WebDAV test config")
    }
}

//! Opens the storage that [`Settings`] name, as a shared [`Backend`], with its credentials.
//!
//! Credentials live where git-annex users expect them: given once in the environment at
//! initremote (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `WEBDAV_USERNAME`/`WEBDAV_PASSWORD`,
//! `FERRY_GDRIVE_TOKEN_FILE`), then kept by git-annex's creds store (SETCREDS): in
//! `.git/annex/creds/` of this repository, or in the repository itself with `embedcreds=yes`.
//! The environment still works at any later time and wins over stored values.
//!
//! A `target=` remote is the exception: its credentials stay in the user's rclone.conf, as with
//! git-annex-remote-rclone, and are read from there each time ([`rclone_secrets`]).

use std::sync::Arc;

use ferry_backends::directory::{DirectoryBackend, DirectoryOptions, FsCalls};
use ferry_backends::gdrive::{self, GdriveBackend, GdriveConfig};
use ferry_backends::http_common::HttpOptions;
use ferry_backends::s3::{S3Backend, S3Config};
use ferry_backends::webdav::{WebdavBackend, WebdavConfig};
use ferry_backends::{Backend, BackendError};
use ferry_crypto::Secret;

use crate::settings::{Settings, Storage};

/// A user name (or key id) and its secret.
#[derive(Debug, Clone)]
pub struct Login {
    /// The user name, access key id or client id.
    pub user: String,
    /// The password, secret key or client secret (never printed).
    pub secret: Secret<String>,
}

/// The secrets a storage needs, gathered by the engine before opening it.
#[derive(Debug, Clone, Default)]
pub struct StorageSecrets {
    /// S3 access key id and secret, or WebDAV user and password.
    pub login: Option<Login>,
    /// A WebDAV bearer token.
    pub bearer_token: Option<Secret<String>>,
    /// The Drive OAuth token, as rclone's token JSON.
    pub gdrive_token: Option<Secret<String>>,
    /// The file `gdrive_token` was read from (`FERRY_GDRIVE_TOKEN_FILE`), where a refreshed
    /// token is written back. `None` for tokens from git-annex's creds store or rclone.conf.
    pub gdrive_token_file: Option<std::path::PathBuf>,
    /// The Drive OAuth client secret (its id is in the settings).
    pub gdrive_client_secret: Option<Secret<String>>,
}

/// The name of each secret in git-annex's creds store (SETCREDS/GETCREDS).
pub mod creds_names {
    /// S3 access key id / secret access key.
    pub const S3: &str = "s3creds";
    /// WebDAV user / password.
    pub const WEBDAV: &str = "webdavcreds";
    /// Drive token (user `token`, the token JSON as the password).
    pub const GDRIVE_TOKEN: &str = "gdrivetoken";
    /// Drive OAuth client (id / secret).
    pub const GDRIVE_CLIENT: &str = "gdriveclient";
}

/// The credentials of a `target=` remote, read from rclone.conf (with this process's
/// environment) the same way its storage was.
///
/// # Errors
/// The rclone remote cannot be read or mapped; the message says what to do.
pub fn rclone_secrets(
    rclone: &crate::settings::RcloneTarget,
    cwd: &std::path::Path,
) -> Result<StorageSecrets, String> {
    crate::rclone_conf::resolve(
        &rclone.target,
        &rclone.prefix,
        rclone.config_file.as_deref(),
        rclone.passcmd.as_deref(),
        &crate::rclone_conf::process_env(),
        cwd,
        true,
    )
    .map(|r| r.secrets)
    .map_err(|e| e.to_string())
}

/// Why a storage could not be opened: missing credentials or a configuration its client
/// refuses. The message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A credential the storage needs is not there.
    #[error("{0}")]
    MissingCredentials(String),
    /// The storage's client refused the configuration.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A stored token does not parse.
    #[error(
        "the stored Google Drive token is unusable ({0}); run `git annex enableremote` again with FERRY_GDRIVE_TOKEN_FILE set"
    )]
    BadToken(String),
}

/// The backend for `settings`. Opening makes no request (a store that is away opens fine; each
/// operation then reports it unreachable).
///
/// # Errors
/// [`OpenError`]: missing credentials, or a configuration the storage's client refuses.
pub fn open(settings: &Settings, secrets: &StorageSecrets) -> Result<Arc<dyn Backend>, OpenError> {
    Ok(match &settings.storage {
        Storage::Directory { path, fsync } => Arc::new(DirectoryBackend::new(
            path.clone(),
            settings.prefix.clone(),
            DirectoryOptions {
                fsync: *fsync,
                calls: FsCalls::Auto,
            },
        )),
        Storage::S3 {
            bucket,
            endpoint,
            region,
            path_style,
            ..
        } => {
            let login = secrets.login.clone().ok_or_else(|| {
                OpenError::MissingCredentials(
                    "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment (once: `git annex enableremote NAME` stores them)".to_owned(),
                )
            })?;
            Arc::new(S3Backend::new(S3Config {
                bucket: bucket.clone(),
                endpoint: endpoint.clone(),
                region: region.clone(),
                path_style: *path_style,
                prefix: settings.prefix.clone(),
                access_key_id: login.user,
                secret_access_key: login.secret,
                http: HttpOptions::default(),
            })?)
        }
        Storage::Webdav { url } => {
            let mut url = url.clone();
            if let Some(prefix) = &settings.prefix {
                url = format!("{}/{}", url.trim_end_matches('/'), prefix);
            }
            Arc::new(WebdavBackend::new(WebdavConfig {
                url,
                user: secrets.login.as_ref().map(|l| l.user.clone()),
                password: secrets.login.as_ref().map(|l| l.secret.clone()),
                bearer_token: secrets.bearer_token.clone(),
                http: HttpOptions::default(),
            })?)
        }
        Storage::Gdrive {
            root_folder_id,
            team_drive,
            client_id,
            endpoint,
        } => {
            let token_json = secrets.gdrive_token.as_ref().ok_or_else(|| {
                OpenError::MissingCredentials(
                    "no Google Drive token: set FERRY_GDRIVE_TOKEN_FILE to a file holding your OAuth token (rclone's token JSON) and run `git annex enableremote NAME`".to_owned(),
                )
            })?;
            let token = gdrive::Token::from_json(token_json.expose())
                .map_err(|e| OpenError::BadToken(e.to_string()))?;
            let client = match (client_id, &secrets.gdrive_client_secret) {
                (Some(id), Some(secret)) => Some(gdrive::OAuthClient {
                    client_id: id.clone(),
                    client_secret: secret.clone(),
                }),
                _ => None,
            };
            let mut config = GdriveConfig::new(
                gdrive::Credentials { client, token },
                settings.prefix.clone(),
            );
            config.root_folder_id = root_folder_id.clone();
            config.team_drive = team_drive.clone();
            config.token_file = secrets.gdrive_token_file.clone();
            if let Some(base) = endpoint {
                let base = base.trim_end_matches('/').to_owned();
                config.endpoints = gdrive::Endpoints {
                    api_base: base.clone(),
                    upload_base: base.clone(),
                    token_url: format!("{base}/token"),
                };
            }
            Arc::new(GdriveBackend::new(config)?)
        }
    })
}

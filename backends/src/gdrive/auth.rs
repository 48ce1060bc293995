//! OAuth for Drive: the user's own client id and secret, the access and refresh tokens, rclone's
//! token JSON, and the token source that every concurrent job shares.
//!
//! Secrets (client secret, both tokens) only ever live in [`Secret`], whose `Debug` and
//! `Display` print `***`, and no error built here quotes a server answer that could echo one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use ferry_crypto::Secret;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;

use super::client::{Failure, Retry, RetryPolicy};
use super::time::{format_rfc3339, parse_rfc3339};

/// A token is renewed this long before its stated expiry, so that it never runs out between
/// being handed to a request and the request reaching Drive.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// The user's own OAuth client (from the Google Cloud console), needed to refresh tokens.
///
/// Users bring their own client because Drive's rate limits are counted per client: a client id
/// shared by many users (rclone's built-in one) runs out of quota and answers 403
/// `rateLimitExceeded` to everybody (git-annex-remote-rclone#70).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// The client id (`….apps.googleusercontent.com`); not secret, but tied to an account.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Secret<String>,
}

/// An OAuth token: what rclone stores as `token = {…}` in a `drive` remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The bearer token sent with every request. May be empty when only a refresh token is
    /// known; ferry then refreshes before the first request.
    pub access_token: Secret<String>,
    /// Lets ferry get a new access token when the current one expires (needs an
    /// [`OAuthClient`]).
    pub refresh_token: Option<Secret<String>>,
    /// When the access token stops working; `None` when unknown (it is then used until Drive
    /// rejects it).
    pub expiry: Option<SystemTime>,
}

/// Everything ferry needs to talk to Drive as the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The OAuth client the token was issued to; without it a token cannot be refreshed.
    pub client: Option<OAuthClient>,
    /// The current token.
    pub token: Token,
}

/// Why a token file (rclone's `token = {…}` JSON) could not be read. Never quotes the text:
/// it holds secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFileError {
    /// Not JSON, or JSON of the wrong shape.
    #[error(
        "the Drive token is not a JSON object like rclone's token = {{\"access_token\":…}} (line {line}, column {column})"
    )]
    Json {
        /// Line of the first problem (1-based).
        line: usize,
        /// Column of the first problem (1-based).
        column: usize,
    },
    /// Neither an access token nor a refresh token.
    #[error("the Drive token holds neither an access_token nor a refresh_token")]
    Empty,
    /// `expiry` is present but not an RFC 3339 time.
    #[error("the Drive token's expiry is not an RFC 3339 time such as 2024-05-01T12:00:00Z")]
    BadExpiry,
}

/// rclone's token JSON (Go's `oauth2.Token`). Unknown keys (`expires_in`) are ignored.
#[derive(Deserialize)]
struct TokenJson {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expiry: Option<String>,
}

impl Token {
    /// A bare access token, without refresh (it works until Drive rejects it).
    pub fn access_only(access_token: impl Into<String>) -> Token {
        Token {
            access_token: Secret::new(access_token.into()),
            refresh_token: None,
            expiry: None,
        }
    }

    /// Parses rclone's token JSON, e.g. the value of `token =` in a `drive` section of
    /// rclone.conf: `{"access_token":"ya29…","token_type":"Bearer","refresh_token":"1//…",
    /// "expiry":"2024-05-01T12:34:56.789+02:00"}`. Go's zero time (`0001-01-01T00:00:00Z`) means
    /// "no expiry".
    ///
    /// # Errors
    /// [`TokenFileError`] says what is wrong without quoting the text.
    pub fn from_json(text: &str) -> Result<Token, TokenFileError> {
        let raw: TokenJson = serde_json::from_str(text).map_err(|e| TokenFileError::Json {
            line: e.line(),
            column: e.column(),
        })?;
        let refresh_token = raw.refresh_token.filter(|t| !t.is_empty());
        if raw.access_token.is_empty() && refresh_token.is_none() {
            return Err(TokenFileError::Empty);
        }
        let expiry = match raw.expiry.as_deref() {
            None | Some("") => None,
            Some(text) if text.starts_with("0001-01-01") => None,
            Some(text) => Some(parse_rfc3339(text).ok_or(TokenFileError::BadExpiry)?),
        };
        Ok(Token {
            access_token: Secret::new(raw.access_token),
            refresh_token: refresh_token.map(Secret::new),
            expiry,
        })
    }

    /// The token as rclone's JSON, to write back after a refresh (rclone reads it).
    pub fn to_json(&self) -> Secret<String> {
        let expiry = self
            .expiry
            .map(format_rfc3339)
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_owned());
        let mut object = serde_json::Map::new();
        object.insert(
            "access_token".into(),
            self.access_token.expose().clone().into(),
        );
        object.insert("token_type".into(), "Bearer".into());
        if let Some(refresh) = &self.refresh_token {
            object.insert("refresh_token".into(), refresh.expose().clone().into());
        }
        object.insert("expiry".into(), expiry.into());
        Secret::new(serde_json::Value::Object(object).to_string())
    }
}

/// A bearer token handed to one request, with the generation it belongs to (so that a 401 on
/// it refreshes only if nobody has refreshed since).
#[derive(Clone)]
pub(crate) struct Bearer {
    pub(crate) value: Arc<Secret<String>>,
    generation: u64,
}

struct State {
    access: Arc<Secret<String>>,
    refresh: Option<Secret<String>>,
    expiry: Option<SystemTime>,
    /// Bumped by every refresh.
    generation: u64,
}

/// The current access token of one storage, shared by all its concurrent jobs, refreshed by one
/// of them at a time: when it is about to expire, or when Drive rejected it (401).
pub(crate) struct TokenSource {
    client: Option<OAuthClient>,
    token_url: reqwest::Url,
    http: reqwest::Client,
    retry: RetryPolicy,
    timeout: Duration,
    state: Mutex<State>,
    /// Where a refreshed token is written back for the next process (the token file it came
    /// from), if anywhere.
    token_file: Option<PathBuf>,
    /// Held while refreshing; whoever waited on it finds the new token and does not refresh
    /// again.
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("client", &self.client)
            .field("token_url", &self.token_url.as_str())
            .finish_non_exhaustive()
    }
}

/// The token endpoint's answer to a refresh.
#[derive(Deserialize)]
struct Refreshed {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    /// Google may rotate the refresh token; the new one then replaces the old.
    #[serde(default)]
    refresh_token: Option<String>,
}

impl TokenSource {
    pub(crate) fn new(
        credentials: Credentials,
        token_url: reqwest::Url,
        http: reqwest::Client,
        retry: RetryPolicy,
        timeout: Duration,
        token_file: Option<PathBuf>,
    ) -> TokenSource {
        let token = credentials.token;
        TokenSource {
            client: credentials.client,
            token_url,
            http,
            retry,
            timeout,
            state: Mutex::new(State {
                access: Arc::new(token.access_token),
                refresh: token.refresh_token,
                expiry: token.expiry,
                generation: 0,
            }),
            token_file,
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is replaced as a whole under the lock, so a panic elsewhere cannot leave it
        // half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token as it stands now (to save it after a refresh).
    pub(crate) fn snapshot(&self) -> Token {
        let state = self.state();
        Token {
            access_token: (*state.access).clone(),
            refresh_token: state.refresh.clone(),
            expiry: state.expiry,
        }
    }

    fn can_refresh(state: &State, client: &Option<OAuthClient>) -> bool {
        client.is_some() && state.refresh.is_some()
    }

    /// A token to send now, refreshed first when it is empty or about to expire (and can be
    /// refreshed).
    pub(crate) async fn bearer(&self) -> Result<Bearer, Failure> {
        let (bearer, stale, still_valid) = {
            let state = self.state();
            let now = SystemTime::now();
            let still_valid =
                !state.access.expose().is_empty() && state.expiry.is_none_or(|at| at > now);
            let stale = !still_valid || state.expiry.is_some_and(|at| at <= now + EXPIRY_MARGIN);
            let bearer = Bearer {
                value: state.access.clone(),
                generation: state.generation,
            };
            (
                bearer,
                stale && Self::can_refresh(&state, &self.client),
                still_valid,
            )
        };
        if !stale {
            return Ok(bearer);
        }
        match self.refresh(&bearer).await {
            Ok(fresh) => Ok(fresh),
            // An early refresh that failed costs nothing while the old token still works.
            Err(failure) if still_valid => {
                tracing::debug!(error = %failure, "early token refresh failed; using the current token");
                Ok(bearer)
            }
            Err(failure) => Err(failure),
        }
    }

    /// Replaces `rejected` by a fresh token, unless another job already did.
    ///
    /// # Errors
    /// No refresh token or client ([`Failure::NoRefreshToken`]), the token endpoint refused
    /// ([`Failure::TokenRefused`]), or it could not be reached.
    pub(crate) async fn refresh(&self, rejected: &Bearer) -> Result<Bearer, Failure> {
        let _one_at_a_time = self.refreshing.lock().await;
        let refresh_token = {
            let state = self.state();
            if state.generation != rejected.generation {
                return Ok(Bearer {
                    value: state.access.clone(),
                    generation: state.generation,
                });
            }
            state.refresh.clone()
        };
        let (Some(client), Some(refresh_token)) = (&self.client, refresh_token) else {
            return Err(Failure::NoRefreshToken);
        };
        let refreshed = self.request(client, &refresh_token).await?;
        let bearer = {
            let mut state = self.state();
            state.access = Arc::new(Secret::new(refreshed.access_token));
            state.expiry = refreshed
                .expires_in
                .map(|secs| SystemTime::now() + Duration::from_secs(secs));
            if let Some(new_refresh) = refreshed.refresh_token.filter(|t| !t.is_empty()) {
                state.refresh = Some(Secret::new(new_refresh));
            }
            state.generation += 1;
            tracing::debug!(
                generation = state.generation,
                "refreshed the Drive access token"
            );
            Bearer {
                value: state.access.clone(),
                generation: state.generation,
            }
        };
        // Still under `refreshing`: one write-back at a time from this process, in the order
        // the tokens were issued.
        if let Some(path) = &self.token_file {
            let token = self.snapshot();
            let path = path.clone();
            let saved = tokio::task::spawn_blocking(move || save_token_file(&path, &token)).await;
            match saved {
                Ok(Ok(true)) => tracing::debug!("wrote the refreshed Drive token back to its file"),
                Ok(Ok(false)) => {}
                // The new token works in memory; only the next process pays a refresh.
                Ok(Err(e)) => tracing::warn!(
                    error = %e,
                    "cannot write the refreshed Drive token back to its file; the next run refreshes again"
                ),
                Err(e) => tracing::warn!(error = %e, "the Drive token write-back failed"),
            }
        }
        Ok(bearer)
    }

    /// One `grant_type=refresh_token` exchange, retried on server errors and network trouble.
    async fn request(
        &self,
        client: &OAuthClient,
        refresh_token: &Secret<String>,
    ) -> Result<Refreshed, Failure> {
        // In the body, not the URL: URLs end up in logs and proxies.
        let form = Secret::new(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", refresh_token.expose())
                .append_pair("client_id", &client.client_id)
                .append_pair("client_secret", client.client_secret.expose())
                .finish(),
        );
        let mut attempt = 0;
        loop {
            let result = self
                .http
                .post(self.token_url.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.expose().clone())
                .timeout(self.timeout)
                .send()
                .await;
            let failure = match result {
                Ok(response) if response.status() == StatusCode::OK => {
                    let body = response
                        .bytes()
                        .await
                        .map_err(|e| Failure::Transport(e.without_url()))?;
                    // serde_json's messages may quote values, so only the position is kept.
                    return serde_json::from_slice::<Refreshed>(&body).map_err(|e| {
                        Failure::Protocol(format!(
                            "the token endpoint's answer is not the expected JSON (line {}, column {})",
                            e.line(),
                            e.column()
                        ))
                    });
                }
                Ok(response) => token_refusal(response).await,
                Err(e) => Failure::Transport(e.without_url()),
            };
            // Refreshing changes nothing on the server side, so any transient failure may be
            // retried.
            if failure.retry() == Retry::Never || attempt + 1 >= self.retry.attempts {
                return Err(failure);
            }
            let delay = self.retry.delay(attempt, None);
            tracing::debug!(attempt, ?delay, error = %failure, "token refresh failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// Writes `token` into the token file at `path` (rclone's JSON), for the next process: so that
/// it need not refresh again, and so that a refresh token the endpoint rotated is not lost.
/// Returns whether the file was written.
///
/// - **Atomic**: a temporary file in the same directory, mode 0600 from its creation, synced,
///   then renamed over `path` (and the directory synced): a crash leaves the old or the new
///   token, never a torn file.
/// - **Only when it changed**: a file that already holds this token is left alone.
/// - **Concurrent processes** take an exclusive lock on `.NAME.lock` beside the file while they
///   read, compare and replace it, and the token that expires last wins: it comes from the
///   latest refresh, so it also carries the latest refresh token if they rotate. (The file
///   itself cannot be the lock: renaming replaces it.)
///
/// # Errors
/// The directory cannot be written, the lock cannot be taken.
pub(crate) fn save_token_file(path: &Path, token: &Token) -> std::io::Result<bool> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the token file path names no file"))?
        .to_string_lossy()
        .into_owned();
    let lock = private_file(&dir.join(format!(".{name}.lock")), false)?;
    lock.lock()?;
    let current = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| Token::from_json(&text).ok());
    if let Some(current) = &current {
        let later =
            matches!((current.expiry, token.expiry), (Some(theirs), Some(ours)) if theirs > ours);
        if current == token || later {
            // Already saved, or a later refresh (of another process) is there.
            return Ok(false);
        }
    }
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = private_file(&temp, true)?;
        file.write_all(token.to_json().expose().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    // The rename is durable once the directory is; a failure here only risks the old token.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(true)
}

/// Opens `path` for writing, created with mode 0600 (a secret never sits in a file others can
/// read, not even for a moment). `fresh` truncates it: a temporary file left by a crashed
/// process of the same pid is overwritten.
fn private_file(path: &Path, fresh: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true);
    if fresh {
        options.truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    if fresh {
        // A leftover temporary file keeps the mode it was created with; make sure.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Reads the token endpoint's refusal: `{"error":"invalid_grant","error_description":"…"}`.
/// Only these two fields are kept; OAuth error texts hold no secrets.
async fn token_refusal(response: reqwest::Response) -> Failure {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let field = |name: &str| {
        value
            .get(name)
            .and_then(|v| v.as_str())
            .map(|s| s.chars().take(200).collect::<String>())
            .unwrap_or_default()
    };
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        // Not a verdict on the token: the endpoint is in trouble.
        return Failure::Status {
            status,
            reason: None,
            message: format!("token endpoint: {}", field("error")),
            retry_after: None,
        };
    }
    Failure::TokenRefused {
        status,
        error: field("error"),
        description: field("error_description"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn reads_rclone_token_json() {
        let token = Token::from_json(
            r#"{"access_token":"ya29.a0","token_type":"Bearer","refresh_token":"1//0g","expiry":"2024-02-29T14:00:00.5+02:00","expires_in":3599}"#,
        )
        .unwrap();
        assert_eq!(token.access_token.expose(), "ya29.a0");
        assert_eq!(
            token.refresh_token.as_ref().map(|t| t.expose().as_str()),
            Some("1//0g")
        );
        assert_eq!(
            token.expiry,
            Some(UNIX_EPOCH + Duration::new(1_709_208_000, 500_000_000))
        );
    }

    #[test]
    fn go_zero_expiry_means_none_and_round_trips() {
        let token =
            Token::from_json(r#"{"access_token":"a","expiry":"0001-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(token.expiry, None);
        assert_eq!(token.refresh_token, None);
        let again = Token::from_json(token.to_json().expose()).unwrap();
        assert_eq!(again, token);
        let full = Token {
            access_token: Secret::new("x".into()),
            refresh_token: Some(Secret::new("y".into())),
            expiry: Some(UNIX_EPOCH + Duration::new(1_709_208_000, 500_000_000)),
        };
        assert_eq!(Token::from_json(full.to_json().expose()).unwrap(), full);
    }

    #[test]
    fn bad_token_errors_never_quote_the_text() {
        let cases = [
            (r#"{"access_token": 12345678}"#, "12345678"),
            (r#"{"access_token":"sekrit-token","#, "sekrit-token"),
            (r#"{"refresh_token":"sekrit","expiry":"soon"}"#, "sekrit"),
            (r#"{"token_type":"Bearer"}"#, "Bearer"),
        ];
        for (text, secret) in cases {
            let err = Token::from_json(text).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(
            Token::from_json(r#"{"refresh_token":"x","expiry":"soon"}"#),
            Err(TokenFileError::BadExpiry)
        );
        assert_eq!(Token::from_json("{}"), Err(TokenFileError::Empty));
    }

    #[test]
    fn debug_of_credentials_shows_no_secret() {
        let credentials = Credentials {
            client: Some(OAuthClient {
                client_id: "id.apps.googleusercontent.com".into(),
                client_secret: Secret::new("client-sekrit".into()),
            }),
            token: Token {
                access_token: Secret::new("access-sekrit".into()),
                refresh_token: Some(Secret::new("refresh-sekrit".into())),
                expiry: None,
            },
        };
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("sekrit"), "{shown}");
        assert!(shown.contains("id.apps.googleusercontent.com"));
    }
}

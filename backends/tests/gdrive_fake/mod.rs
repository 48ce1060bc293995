//! A fake Google Drive v3 server for ferry's tests: a real HTTP server on 127.0.0.1, in this
//! process, with files in memory (their bytes in a temporary directory, so a 1 GiB object does
//! not sit in RAM).
//!
//! It answers the calls ferry makes the way Drive does (ids, parents, duplicate names, int64
//! sizes as strings, `fields` selections, pages, resumable sessions with 308 + `Range`,
//! `md5Checksum`, shared drives that need `supportsAllDrives`), and it is strict: an unknown
//! query parameter, a search or field selection it does not understand, a missing or expired
//! token, a chunk that is not a multiple of 256 KiB all get an error, so a client mistake shows
//! up as a failed test rather than as a fake that happens to work.
//!
//! Fault switches (see [`FakeDrive`]): rate limits (403 `userRateLimitExceeded` /
//! `rateLimitExceeded`, 429), server errors, a dropped connection in the middle of an upload,
//! corrupted uploads, stalled answers, expired tokens, and stopping the server.

// Handlers bail out early with a ready error `Response` as their `Err`; it is large, but this is
// test code answering one request at a time, and the early returns keep each handler readable.
#![allow(clippy::result_large_err)]

mod query;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferry_backends::gdrive::{
    Credentials, Endpoints, GdriveConfig, GdriveOptions, OAuthClient, RetryPolicy, Token,
};
use ferry_crypto::Secret;
use futures::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use hyper::{Method, Request, Response, StatusCode};
use md5::{Digest, Md5};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::task::AbortHandle;

use query::{Clause, file_fields, list_fields, parse_q};

const FOLDER_MIME: &str = "application/vnd.google-apps.folder";
/// The fake's OAuth client and refresh token.
pub const CLIENT_ID: &str = "fake-client.apps.googleusercontent.com";
pub const CLIENT_SECRET: &str = "fake-client-secret";
pub const REFRESH_TOKEN: &str = "fake-refresh-token";
const QUANTUM: u64 = 256 * 1024;
/// Largest multipart or JSON body accepted (Drive's multipart limit is 5 MB; some slack).
const SMALL_BODY_LIMIT: usize = 64 * 1024 * 1024;

type Body = BoxBody<Bytes, std::io::Error>;

/// Which rate limit to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// 403 with reason `userRateLimitExceeded`.
    User403,
    /// 403 with reason `rateLimitExceeded`.
    Project403,
    /// 429 Too Many Requests.
    TooMany429,
}

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Largest page `files.list` returns, whatever the client asks for (small values exercise
    /// paging).
    pub max_page_size: usize,
    /// A shared drive with this id exists (its root folder has the same id).
    pub shared_drive: Option<String>,
    /// How long an access token works.
    pub token_lifetime: Duration,
    /// Each refresh answers with a new refresh token and revokes the one it was given (OAuth
    /// refresh-token rotation), so a client that loses the new one is locked out.
    pub rotate_refresh_tokens: bool,
    /// Items a folder may hold (Drive's limit is 500 000): one more is refused with 403
    /// `numChildrenInNonRootLimitExceeded`.
    pub max_children: usize,
}

impl Default for FakeOptions {
    fn default() -> FakeOptions {
        FakeOptions {
            max_page_size: 100,
            shared_drive: None,
            token_lifetime: Duration::from_secs(3600),
            rotate_refresh_tokens: false,
            max_children: 500_000,
        }
    }
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub content_range: Option<String>,
    /// The `Range` header of a download.
    pub range: Option<String>,
}

impl Logged {
    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A file or folder as tests see it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub id: String,
    pub name: String,
    pub is_folder: bool,
    pub size: u64,
    pub md5: String,
}

struct Node {
    id: String,
    name: String,
    parents: Vec<String>,
    mime: String,
    size: u64,
    md5: String,
    created: SystemTime,
    modified: SystemTime,
    trashed: bool,
    drive: Option<String>,
    /// Bytes on disk; `None` for folders.
    content: Option<PathBuf>,
    /// Creation order, for stable listings.
    seq: u64,
}

struct Session {
    parent: String,
    name: String,
    total: u64,
    received: u64,
    file: PathBuf,
    /// `file`, open for appending.
    out: std::fs::File,
    hasher: Md5,
    fields: BTreeSet<String>,
    drive: Option<String>,
    /// The file made when the last byte arrived.
    done: Option<String>,
}

#[derive(Default)]
struct Faults {
    rate_limited: u32,
    rate_limit: Option<RateLimit>,
    failing: u32,
    fail_status: u16,
    stalled: u32,
    /// (chunk requests to let through first, bytes after which to cut the next one)
    drop_upload: Option<(u32, u64)>,
    corrupt_uploads: u32,
}

struct State {
    nodes: HashMap<String, Node>,
    /// parent id → name → ids of its children of that name: `'X' in parents` queries (with a
    /// name: nearly all of ferry's) and folder deletes look up children here instead of
    /// scanning every node or every child (a full testremote leaves tens of
    /// thousands of folders behind).
    children: HashMap<String, HashMap<String, HashSet<String>>>,
    sessions: HashMap<String, Arc<tokio::sync::Mutex<Session>>>,
    tokens: HashMap<String, Instant>,
    /// Refresh tokens the token endpoint accepts.
    refresh_tokens: HashSet<String>,
    faults: Faults,
    log: Vec<Logged>,
    refreshes: u64,
    next_seq: u64,
    last_time: SystemTime,
}

struct Shared {
    state: Mutex<State>,
    options: FakeOptions,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    tasks: Mutex<Vec<AbortHandle>>,
    issued: AtomicU64,
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

/// A running fake. Dropping the handle leaves the server running until its runtime ends.
#[derive(Clone)]
pub struct FakeDrive {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3339 in UTC with milliseconds, as Drive writes times.
fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, in_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01, counting years from March.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60,
        since.subsec_millis()
    )
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        "application/json; charset=UTF-8"
            .parse()
            .expect("valid header"),
    );
    response
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|e: Infallible| match e {}).boxed()
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// Drive's error body.
fn drive_error(status: u16, reason: &str, message: &str) -> Response<Body> {
    let status = StatusCode::from_u16(status).expect("a valid status");
    json_response(
        status,
        &json!({"error": {"code": status.as_u16(), "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}]}}),
    )
}

fn bad_request(message: impl AsRef<str>) -> Response<Body> {
    drive_error(400, "badRequest", message.as_ref())
}

fn not_found(id: &str) -> Response<Body> {
    drive_error(404, "notFound", &format!("File not found: {id}."))
}

type Query = Vec<(String, String)>;

fn param<'a>(query: &'a Query, name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Refuses parameters the endpoint does not take (or ferry should not send).
fn allow(query: &Query, allowed: &[&str]) -> Result<(), Response<Body>> {
    for (key, _) in query {
        if !allowed.contains(&key.as_str()) {
            return Err(bad_request(format!("Invalid parameter: {key}")));
        }
    }
    Ok(())
}

impl State {
    fn next_time(&mut self) -> SystemTime {
        // Strictly increasing, in whole milliseconds like Drive's timestamps, so that
        // createdTime orders files.
        let now = SystemTime::now();
        let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        let next = ms(now).max(ms(self.last_time) + 1);
        self.last_time = UNIX_EPOCH + Duration::from_millis(next as u64);
        self.last_time
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// The node `id` if the request may see it: shared-drive items need `supportsAllDrives`.
    fn visible(&self, id: &str, query: &Query) -> Option<&Node> {
        let node = self.nodes.get(id)?;
        if node.drive.is_some() && param(query, "supportsAllDrives") != Some("true") {
            return None;
        }
        Some(node)
    }

    /// Whether `id` or one of its ancestors is trashed.
    fn in_trash(&self, id: &str) -> bool {
        let mut at = id;
        for _ in 0..64 {
            let Some(node) = self.nodes.get(at) else {
                return false;
            };
            if node.trashed {
                return true;
            }
            match node.parents.first() {
                Some(parent) => at = parent,
                None => return false,
            }
        }
        false
    }

    fn descendants(&self, id: &str) -> Vec<String> {
        let mut out = vec![id.to_owned()];
        let mut i = 0;
        while i < out.len() {
            if let Some(children) = self.children.get(&out[i]) {
                out.extend(children.values().flatten().cloned());
            }
            i += 1;
        }
        out
    }

    fn insert_node(&mut self, node: Node) {
        self.link(&node.id, &node.parents, &node.name);
        self.nodes.insert(node.id.clone(), node);
    }

    fn remove_node(&mut self, id: &str) -> Option<Node> {
        let node = self.nodes.remove(id)?;
        self.unlink(id, &node.parents, &node.name);
        self.children.remove(id);
        Some(node)
    }

    /// Files `id` as a child called `name` of `parents`.
    fn link(&mut self, id: &str, parents: &[String], name: &str) {
        for parent in parents {
            self.children
                .entry(parent.clone())
                .or_default()
                .entry(name.to_owned())
                .or_default()
                .insert(id.to_owned());
        }
    }

    /// Takes `id` (called `name`) out of the children of `parents`.
    fn unlink(&mut self, id: &str, parents: &[String], name: &str) {
        for parent in parents {
            if let Some(names) = self.children.get_mut(parent)
                && let Some(set) = names.get_mut(name)
            {
                set.remove(id);
                if set.is_empty() {
                    names.remove(name);
                }
            }
        }
    }

    /// Gives `id` new parents and a new name.
    fn relink(&mut self, id: &str, parents: Vec<String>, name: String) {
        let Some(node) = self.nodes.get(id) else {
            return;
        };
        let (old_parents, old_name) = (node.parents.clone(), node.name.clone());
        self.unlink(id, &old_parents, &old_name);
        self.link(id, &parents, &name);
        if let Some(node) = self.nodes.get_mut(id) {
            node.parents = parents;
            node.name = name;
        }
    }

    fn node_json(&self, node: &Node, fields: &BTreeSet<String>) -> Value {
        let mut out = serde_json::Map::new();
        let folder = node.mime == FOLDER_MIME;
        for field in fields {
            let value = match field.as_str() {
                "kind" => json!("drive#file"),
                "id" => json!(node.id),
                "name" => json!(node.name),
                "mimeType" => json!(node.mime),
                "parents" => json!(node.parents),
                // Drive sends int64 values as strings, and no size or checksum for folders.
                "size" if !folder => json!(node.size.to_string()),
                "md5Checksum" if !folder => json!(node.md5),
                "createdTime" => json!(rfc3339(node.created)),
                "modifiedTime" => json!(rfc3339(node.modified)),
                "trashed" => json!(self.in_trash(&node.id)),
                "driveId" => match &node.drive {
                    Some(drive) => json!(drive),
                    None => continue,
                },
                _ => continue,
            };
            out.insert(field.clone(), value);
        }
        Value::Object(out)
    }

    fn info(&self, node: &Node) -> NodeInfo {
        NodeInfo {
            id: node.id.clone(),
            name: node.name.clone(),
            is_folder: node.mime == FOLDER_MIME,
            size: node.size,
            md5: node.md5.clone(),
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn new_id(&self) -> String {
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        format!("1F{n:06}{:08x}", rand::random::<u32>())
    }

    fn issue_token(&self) -> String {
        let token = format!("fake-access-{}", self.new_id());
        self.state().tokens.insert(token.clone(), Instant::now());
        token
    }

    /// Adds a node; `content` is `None` for a folder.
    fn insert(
        &self,
        parent: &str,
        name: &str,
        mime: &str,
        content: Option<(PathBuf, u64, String)>,
    ) -> String {
        let id = self.new_id();
        let mut state = self.state();
        let drive = state.nodes.get(parent).and_then(|p| p.drive.clone());
        let created = state.next_time();
        let seq = state.next_seq();
        let (content, size, md5) = match content {
            Some((path, size, md5)) => (Some(path), size, md5),
            None => (None, 0, String::new()),
        };
        state.insert_node(Node {
            id: id.clone(),
            name: name.to_owned(),
            parents: vec![parent.to_owned()],
            mime: mime.to_owned(),
            size,
            md5,
            created,
            modified: created,
            trashed: false,
            drive,
            content,
            seq,
        });
        id
    }

    /// Checks that `parent` has room for one more item.
    fn check_room(&self, parent: &str) -> Result<(), Response<Body>> {
        let state = self.state();
        let count: usize = state
            .children
            .get(parent)
            .map_or(0, |names| names.values().map(HashSet::len).sum());
        if count >= self.options.max_children {
            return Err(drive_error(
                403,
                "numChildrenInNonRootLimitExceeded",
                "The limit for this folder's number of children (files and folders) has been exceeded.",
            ));
        }
        Ok(())
    }

    /// Checks that `parent` is a live folder the request may see.
    fn check_parent(&self, parent: &str, query: &Query) -> Result<(), Response<Body>> {
        let state = self.state();
        match state.visible(parent, query) {
            Some(node) if node.mime == FOLDER_MIME && !state.in_trash(parent) => Ok(()),
            _ => Err(not_found(parent)),
        }
    }
}

impl FakeDrive {
    /// Starts a fake with default options on 127.0.0.1, port chosen by the system. Must be
    /// called inside a tokio runtime; the server runs until that runtime ends or
    /// [`FakeDrive::stop`].
    pub fn start() -> FakeDrive {
        FakeDrive::start_with(FakeOptions::default())
    }

    /// Starts a fake set up by `options`.
    pub fn start_with(options: FakeOptions) -> FakeDrive {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("listener address");
        let listener = tokio::net::TcpListener::from_std(listener).expect("inside a tokio runtime");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                nodes: HashMap::new(),
                children: HashMap::new(),
                sessions: HashMap::new(),
                tokens: HashMap::new(),
                refresh_tokens: HashSet::from([REFRESH_TOKEN.to_owned()]),
                faults: Faults::default(),
                log: Vec::new(),
                refreshes: 0,
                next_seq: 0,
                last_time: UNIX_EPOCH,
            }),
            options,
            addr,
            dir: tempfile::tempdir().expect("a temp dir for the fake's file contents"),
            tasks: Mutex::new(Vec::new()),
            issued: AtomicU64::new(0),
        });
        {
            let mut state = shared.state();
            let created = state.next_time();
            let mut roots = vec![("root".to_owned(), None)];
            if let Some(drive) = &shared.options.shared_drive {
                roots.push((drive.clone(), Some(drive.clone())));
            }
            for (id, drive) in roots {
                let seq = state.next_seq();
                state.insert_node(Node {
                    id,
                    name: "My Drive".into(),
                    parents: Vec::new(),
                    mime: FOLDER_MIME.into(),
                    size: 0,
                    md5: String::new(),
                    created,
                    modified: created,
                    trashed: false,
                    drive,
                    content: None,
                    seq,
                });
            }
        }
        let server = shared.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                // As Google's front ends: an answer's header and body are not held back by
                // Nagle's algorithm (with the client's delayed ACKs that cost up to 40 ms a
                // streamed answer).
                let _ = stream.set_nodelay(true);
                let conn_shared = server.clone();
                let connection = tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = conn_shared.clone();
                        async move { handle(shared, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
                lock(&server.tasks).push(connection.abort_handle());
            }
        });
        lock(&shared.tasks).push(accept.abort_handle());
        FakeDrive { shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// Endpoints pointing at this fake.
    pub fn endpoints(&self) -> Endpoints {
        Endpoints {
            api_base: self.url(),
            upload_base: self.url(),
            token_url: format!("{}/token", self.url()),
        }
    }

    /// Credentials with a fresh valid access token, the refresh token and the client.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            client: Some(OAuthClient {
                client_id: CLIENT_ID.into(),
                client_secret: Secret::new(CLIENT_SECRET.into()),
            }),
            token: Token {
                access_token: Secret::new(self.shared.issue_token()),
                refresh_token: Some(Secret::new(REFRESH_TOKEN.into())),
                expiry: Some(SystemTime::now() + self.shared.options.token_lifetime),
            },
        }
    }

    /// A config for a store in the folder `root_folder_id` of this fake, with fast retries.
    pub fn config(&self, root_folder_id: Option<String>) -> GdriveConfig {
        GdriveConfig {
            credentials: self.credentials(),
            root_folder_id,
            team_drive: None,
            prefix: None,
            endpoints: self.endpoints(),
            options: GdriveOptions {
                request_timeout: Duration::from_secs(20),
                retry: RetryPolicy {
                    attempts: 8,
                    first_delay: Duration::from_millis(2),
                    max_delay: Duration::from_millis(40),
                },
                ..GdriveOptions::default()
            },
            token_file: None,
        }
    }

    /// Creates a folder (without a request).
    pub fn add_folder(&self, parent: &str, name: &str) -> String {
        self.shared.insert(parent, name, FOLDER_MIME, None)
    }

    /// Creates a file (without a request); duplicates of a name are allowed, as on Drive.
    pub fn add_file(&self, parent: &str, name: &str, content: &[u8]) -> String {
        let path = self
            .shared
            .dir
            .path()
            .join(format!("seed-{}", self.shared.new_id()));
        std::fs::write(&path, content).expect("write fake content");
        let md5 = hex(&Md5::digest(content));
        self.shared.insert(
            parent,
            name,
            "application/octet-stream",
            Some((path, content.len() as u64, md5)),
        )
    }

    /// The untrashed entries of a folder, oldest first.
    pub fn children(&self, parent: &str) -> Vec<NodeInfo> {
        let state = self.shared.state();
        let mut nodes: Vec<&Node> = state
            .children
            .get(parent)
            .into_iter()
            .flat_map(|names| names.values().flatten())
            .filter_map(|id| state.nodes.get(id))
            .filter(|n| !state.in_trash(&n.id))
            .collect();
        nodes.sort_by_key(|n| n.seq);
        nodes.into_iter().map(|n| state.info(n)).collect()
    }

    /// The untrashed entries at `path` (`a/b/c`) below `from`, following every same-named
    /// folder on the way.
    pub fn at_path(&self, from: &str, path: &str) -> Vec<NodeInfo> {
        let mut level = vec![from.to_owned()];
        let segments: Vec<&str> = path.split('/').collect();
        for (i, segment) in segments.iter().enumerate() {
            let found: Vec<NodeInfo> = level
                .iter()
                .flat_map(|id| self.children(id))
                .filter(|n| n.name == *segment)
                .collect();
            if i + 1 == segments.len() {
                return found;
            }
            level = found
                .into_iter()
                .filter(|n| n.is_folder)
                .map(|n| n.id)
                .collect();
        }
        Vec::new()
    }

    /// Whether `id` still exists at all (in the trash or not): a deleted file is gone.
    pub fn exists(&self, id: &str) -> bool {
        self.shared.state().nodes.contains_key(id)
    }

    /// The bytes of file `id`.
    pub fn content(&self, id: &str) -> Vec<u8> {
        let path = self.shared.state().nodes[id]
            .content
            .clone()
            .expect("a file, not a folder");
        std::fs::read(path).expect("read fake content")
    }

    /// The next `n` API and upload requests are answered with `kind`.
    pub fn rate_limit_next(&self, n: u32, kind: RateLimit) {
        let mut state = self.shared.state();
        state.faults.rate_limited = n;
        state.faults.rate_limit = Some(kind);
    }

    /// The next `n` API and upload requests are answered with `status` (a 5xx).
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut state = self.shared.state();
        state.faults.failing = n;
        state.faults.fail_status = status;
    }

    /// The next `n` API requests never get an answer.
    pub fn stall_next(&self, n: u32) {
        self.shared.state().faults.stalled = n;
    }

    /// The next upload chunk request is cut off after `bytes` of its body: the fake keeps those
    /// bytes and closes the connection without answering.
    pub fn drop_upload_after(&self, bytes: u64) {
        self.drop_upload(0, bytes);
    }

    /// Like [`FakeDrive::drop_upload_after`], for the chunk request after the next `skip` ones.
    pub fn drop_upload(&self, skip: u32, bytes: u64) {
        self.shared.state().faults.drop_upload = Some((skip, bytes));
    }

    /// The next `n` uploads are stored with one byte flipped (and Drive's MD5 of that).
    pub fn corrupt_next_uploads(&self, n: u32) {
        self.shared.state().faults.corrupt_uploads = n;
    }

    /// Every access token issued so far stops working.
    pub fn expire_tokens(&self) {
        self.shared.state().tokens.clear();
    }

    /// How many times a token was refreshed.
    pub fn refreshes(&self) -> u64 {
        self.shared.state().refreshes
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.shared.state().log.clone()
    }

    /// Stops the server: the port closes and open connections are cut.
    pub fn stop(&self) {
        for task in lock(&self.shared.tasks).drain(..) {
            task.abort();
        }
    }
}

/// Answers one request (or drops the connection on purpose).
async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query: Query = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let content_range = req
        .headers()
        .get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let range = req
        .headers()
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    shared.state().log.push(Logged {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_range: content_range.clone(),
        range,
    });

    if method == Method::POST && path == "/token" {
        return Ok(token(&shared, req).await);
    }
    // Faults, in a fixed order.
    let fault = {
        let mut state = shared.state();
        let faults = &mut state.faults;
        if faults.stalled > 0 {
            faults.stalled -= 1;
            Some(None)
        } else if faults.rate_limited > 0 {
            faults.rate_limited -= 1;
            Some(Some(match faults.rate_limit {
                Some(RateLimit::Project403) => {
                    drive_error(403, "rateLimitExceeded", "Rate Limit Exceeded")
                }
                Some(RateLimit::TooMany429) => {
                    drive_error(429, "rateLimitExceeded", "Too Many Requests")
                }
                _ => drive_error(403, "userRateLimitExceeded", "User Rate Limit Exceeded"),
            }))
        } else if faults.failing > 0 {
            faults.failing -= 1;
            Some(Some(drive_error(
                faults.fail_status,
                "backendError",
                "Backend Error",
            )))
        } else {
            None
        }
    };
    match fault {
        Some(None) => std::future::pending::<()>().await,
        Some(Some(response)) => return Ok(response),
        None => {}
    }

    let upload_path = "/upload/drive/v3/files";
    if path == upload_path && param(&query, "upload_id").is_some() {
        // Session URIs carry their own authority; no token needed.
        return match method {
            Method::PUT => session_put(&shared, req, &query).await,
            Method::DELETE => Ok(session_cancel(&shared, &query)),
            _ => Ok(empty(StatusCode::METHOD_NOT_ALLOWED)),
        };
    }
    if let Err(response) = authorized(&shared, &req) {
        return Ok(response);
    }
    let files = "/drive/v3/files";
    let id = path.strip_prefix("/drive/v3/files/").map(str::to_owned);
    let response = match (&method, path.as_str(), id) {
        (&Method::GET, p, _) if p == files => list(&shared, &query),
        (&Method::POST, p, _) if p == files => create(&shared, req, &query).await,
        (&Method::POST, p, _) if p == upload_path => upload_start(&shared, req, &query).await,
        (&Method::GET, _, Some(id)) => get(&shared, &id, &req, &query).await,
        (&Method::PATCH, _, Some(id)) => update(&shared, &id, req, &query).await,
        (&Method::DELETE, _, Some(id)) => delete(&shared, &id, &query),
        _ => drive_error(404, "notFound", "Not Found"),
    };
    Ok(response)
}

fn authorized(shared: &Shared, req: &Request<Incoming>) -> Result<(), Response<Body>> {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let state = shared.state();
    let valid = token
        .and_then(|t| state.tokens.get(t))
        .is_some_and(|issued| issued.elapsed() < shared.options.token_lifetime);
    if valid {
        Ok(())
    } else {
        Err(drive_error(
            401,
            "authError",
            "Request had invalid authentication credentials.",
        ))
    }
}

async fn small_body(req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
    Limited::new(req.into_body(), SMALL_BODY_LIMIT)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|_| bad_request("body too large or broken"))
}

async fn token(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    let form_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !req.uri().query().unwrap_or("").is_empty() || !form_type {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request", "error_description": "form body expected"}),
        );
    }
    let body = match small_body(req).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.get(k).map(String::as_str);
    if get("client_id") != Some(CLIENT_ID) || get("client_secret") != Some(CLIENT_SECRET) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_client", "error_description": "Unauthorized"}),
        );
    }
    let known = get("refresh_token").is_some_and(|t| shared.state().refresh_tokens.contains(t));
    if get("grant_type") != Some("refresh_token") || !known {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
        );
    }
    let access = shared.issue_token();
    let mut answer = json!({"access_token": access, "expires_in": shared.options.token_lifetime.as_secs(),
        "token_type": "Bearer", "scope": "https://www.googleapis.com/auth/drive"});
    let mut state = shared.state();
    state.refreshes += 1;
    if shared.options.rotate_refresh_tokens {
        let rotated = format!("fake-refresh-{}", shared.new_id());
        state
            .refresh_tokens
            .remove(get("refresh_token").unwrap_or_default());
        state.refresh_tokens.insert(rotated.clone());
        answer["refresh_token"] = json!(rotated);
    }
    json_response(StatusCode::OK, &answer)
}

fn list(shared: &Shared, query: &Query) -> Response<Body> {
    if let Err(r) = allow(
        query,
        &[
            "q",
            "pageSize",
            "pageToken",
            "fields",
            "supportsAllDrives",
            "includeItemsFromAllDrives",
            "corpora",
            "driveId",
        ],
    ) {
        return r;
    }
    let clauses = match parse_q(param(query, "q").unwrap_or("")) {
        Ok(c) => c,
        Err(e) => return drive_error(400, "invalid", &format!("Invalid Value: q ({e})")),
    };
    let fields = match list_fields(param(query, "fields")) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let drive = match param(query, "corpora") {
        None | Some("user") => None,
        Some("drive") => {
            if param(query, "includeItemsFromAllDrives") != Some("true")
                || param(query, "supportsAllDrives") != Some("true")
            {
                return drive_error(
                    403,
                    "teamDrivesSupportNotEnabled",
                    "includeItemsFromAllDrives and supportsAllDrives must be true with corpora=drive",
                );
            }
            match param(query, "driveId") {
                Some(d) if shared.options.shared_drive.as_deref() == Some(d) => Some(d.to_owned()),
                Some(d) => return not_found(d),
                None => return bad_request("driveId is required with corpora=drive"),
            }
        }
        Some(other) => return bad_request(format!("unsupported corpora {other}")),
    };
    let page_size = match param(query, "pageSize").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        _ => return bad_request("Invalid pageSize"),
    }
    .min(shared.options.max_page_size);
    let start = match param(query, "pageToken") {
        None => 0,
        Some(t) => match t
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => n,
            None => return bad_request("Invalid pageToken"),
        },
    };
    let state = shared.state();
    let in_parent = clauses.iter().find_map(|c| match c {
        Clause::InParents(p) => Some(p),
        _ => None,
    });
    let named = clauses.iter().find_map(|c| match c {
        Clause::Name(name) => Some(name),
        _ => None,
    });
    let children = in_parent.and_then(|p| state.children.get(p));
    let ids = |set: &'_ HashSet<String>| -> Vec<&Node> {
        set.iter().filter_map(|id| state.nodes.get(id)).collect()
    };
    // Only a narrowing of the candidates: every clause is still checked below.
    let candidates: Vec<&Node> = match (in_parent, children, named) {
        (Some(_), None, _) => Vec::new(),
        (Some(_), Some(names), Some(name)) => names.get(name).map(ids).unwrap_or_default(),
        (Some(_), Some(names), None) => names.values().flat_map(ids).collect(),
        (None, _, _) => state.nodes.values().collect(),
    };
    let mut matches: Vec<&Node> = candidates
        .into_iter()
        .filter(|n| n.drive == drive && !n.parents.is_empty())
        .filter(|n| {
            clauses.iter().all(|c| match c {
                Clause::Name(name) => n.name == *name,
                Clause::InParents(p) => n.parents.contains(p),
                Clause::Mime(m, eq) => (n.mime == *m) == *eq,
                Clause::Trashed(t) => state.in_trash(&n.id) == *t,
            })
        })
        .collect();
    matches.sort_by_key(|n| n.seq);
    let page: Vec<Value> = matches
        .iter()
        .skip(start)
        .take(page_size)
        .map(|n| state.node_json(n, &fields.files))
        .collect();
    let mut out = serde_json::Map::new();
    if fields.top.contains("kind") {
        out.insert("kind".into(), json!("drive#fileList"));
    }
    if fields.top.contains("incompleteSearch") {
        out.insert("incompleteSearch".into(), json!(false));
    }
    if fields.top.contains("nextPageToken") && start + page_size < matches.len() {
        out.insert(
            "nextPageToken".into(),
            json!(format!("page-{}", start + page_size)),
        );
    }
    if fields.top.contains("files") {
        out.insert("files".into(), Value::Array(page));
    }
    json_response(StatusCode::OK, &Value::Object(out))
}

/// Name and parent from create metadata (`{"name", "parents": [one id], "mimeType"?}`).
fn metadata(body: &[u8]) -> Result<(String, String, Option<String>), Response<Body>> {
    let value: Value = serde_json::from_slice(body).map_err(|e| bad_request(e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| bad_request("metadata must be an object"))?;
    for key in object.keys() {
        if !matches!(key.as_str(), "name" | "parents" | "mimeType") {
            return Err(bad_request(format!("unexpected metadata field {key}")));
        }
    }
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_request("name required"))?;
    let parents: Vec<&str> = match object.get("parents") {
        None => vec!["root"],
        Some(p) => p
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .ok_or_else(|| bad_request("parents must be a list"))?,
    };
    if parents.len() != 1 {
        return Err(drive_error(
            403,
            "cannotAddParent",
            "A file must have exactly one parent",
        ));
    }
    let mime = object
        .get("mimeType")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((name.to_owned(), parents[0].to_owned(), mime))
}

async fn create(shared: &Shared, req: Request<Incoming>, query: &Query) -> Response<Body> {
    if let Err(r) = allow(query, &["fields", "supportsAllDrives"]) {
        return r;
    }
    let fields = match file_fields(param(query, "fields")) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let body = match small_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (name, parent, mime) = match metadata(&body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if mime.as_deref() != Some(FOLDER_MIME) {
        return bad_request("the fake only creates folders through files.create");
    }
    if let Err(r) = shared
        .check_parent(&parent, query)
        .and_then(|()| shared.check_room(&parent))
    {
        return r;
    }
    let id = shared.insert(&parent, &name, FOLDER_MIME, None);
    let state = shared.state();
    json_response(StatusCode::OK, &state.node_json(&state.nodes[&id], &fields))
}

/// `bytes=a-` or `bytes=a-b`.
fn parse_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.parse().ok()?;
    let end = if b.is_empty() {
        size.checked_sub(1)?
    } else {
        b.parse::<u64>().ok()?.min(size.checked_sub(1)?)
    };
    (start <= end).then_some((start, end))
}

async fn get(shared: &Shared, id: &str, req: &Request<Incoming>, query: &Query) -> Response<Body> {
    if let Err(r) = allow(query, &["fields", "alt", "supportsAllDrives"]) {
        return r;
    }
    let (content, size, json) = {
        let state = shared.state();
        let Some(node) = state.visible(id, query) else {
            return not_found(id);
        };
        let fields = match file_fields(param(query, "fields")) {
            Ok(f) => f,
            Err(e) => return bad_request(e),
        };
        (
            node.content.clone(),
            node.size,
            state.node_json(node, &fields),
        )
    };
    match param(query, "alt") {
        None | Some("json") => return json_response(StatusCode::OK, &json),
        Some("media") => {}
        Some(other) => return bad_request(format!("unsupported alt={other}")),
    }
    let Some(content) = content else {
        return drive_error(
            403,
            "fileNotDownloadable",
            "Only files with binary content can be downloaded",
        );
    };
    let range = req.headers().get(RANGE).and_then(|v| v.to_str().ok());
    let (status, start, len, content_range) = match range {
        None => (StatusCode::OK, 0, size, None),
        Some(header) => match parse_range(header, size) {
            Some((start, end)) => (
                StatusCode::PARTIAL_CONTENT,
                start,
                end - start + 1,
                Some(format!("bytes {start}-{end}/{size}")),
            ),
            None => {
                return drive_error(
                    416,
                    "requestedRangeNotSatisfiable",
                    "Request range not satisfiable",
                );
            }
        },
    };
    let mut file = match tokio::fs::File::open(&content).await {
        Ok(f) => f,
        Err(e) => return drive_error(500, "backendError", &e.to_string()),
    };
    if let Err(e) = file.seek(std::io::SeekFrom::Start(start)).await {
        return drive_error(500, "backendError", &e.to_string());
    }
    let stream =
        tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024).map_ok(Frame::data);
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_LENGTH, len.into());
    headers.insert(
        CONTENT_TYPE,
        "application/octet-stream".parse().expect("valid header"),
    );
    if let Some(content_range) = content_range {
        headers.insert(CONTENT_RANGE, content_range.parse().expect("valid header"));
    }
    response
}

async fn update(
    shared: &Shared,
    id: &str,
    req: Request<Incoming>,
    query: &Query,
) -> Response<Body> {
    if let Err(r) = allow(
        query,
        &["fields", "addParents", "removeParents", "supportsAllDrives"],
    ) {
        return r;
    }
    let fields = match file_fields(param(query, "fields")) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let body = match small_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(e.to_string()),
    };
    let Some(object) = value.as_object() else {
        return bad_request("metadata must be an object");
    };
    if let Some(key) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "name" | "trashed"))
    {
        return bad_request(format!("the fake does not update {key}"));
    }
    let split = |name: &str| -> Vec<String> {
        param(query, name)
            .map(|v| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let (add, remove) = (split("addParents"), split("removeParents"));
    for parent in &add {
        if let Err(r) = shared
            .check_parent(parent, query)
            .and_then(|()| shared.check_room(parent))
        {
            return r;
        }
    }
    let mut state = shared.state();
    if state.visible(id, query).is_none() {
        return not_found(id);
    }
    let modified = state.next_time();
    let node = state.nodes.get_mut(id).expect("checked above");
    if let Some(missing) = remove.iter().find(|p| !node.parents.contains(p)) {
        return bad_request(format!("{missing} is not a parent of {id}"));
    }
    let mut parents: Vec<String> = node
        .parents
        .iter()
        .filter(|p| !remove.contains(p))
        .cloned()
        .collect();
    parents.extend(add);
    if parents.len() != 1 {
        return drive_error(
            403,
            "cannotAddParent",
            "A file must have exactly one parent",
        );
    }
    let (name, trashed) = (
        object.get("name").and_then(Value::as_str),
        object.get("trashed").and_then(Value::as_bool),
    );
    let name = name.map_or_else(|| state.nodes[id].name.clone(), str::to_owned);
    state.relink(id, parents, name);
    let node = state.nodes.get_mut(id).expect("checked above");
    if let Some(trashed) = trashed {
        node.trashed = trashed;
    }
    node.modified = modified;
    let json = state.node_json(&state.nodes[id], &fields);
    json_response(StatusCode::OK, &json)
}

fn delete(shared: &Shared, id: &str, query: &Query) -> Response<Body> {
    if let Err(r) = allow(query, &["supportsAllDrives"]) {
        return r;
    }
    let mut state = shared.state();
    if state.visible(id, query).is_none() || state.nodes[id].parents.is_empty() {
        return not_found(id);
    }
    // Permanent, with everything inside (as Drive deletes a folder).
    for gone in state.descendants(id) {
        if let Some(node) = state.remove_node(&gone)
            && let Some(content) = node.content
        {
            let _ = std::fs::remove_file(content);
        }
    }
    empty(StatusCode::NO_CONTENT)
}

/// A stored upload: the node, with the fake's corruption applied if asked for.
fn finish_upload(
    shared: &Shared,
    parent: &str,
    name: &str,
    file: PathBuf,
    size: u64,
    md5: String,
) -> String {
    let corrupt = {
        let mut state = shared.state();
        let corrupt = state.faults.corrupt_uploads > 0 && size > 0;
        if corrupt {
            state.faults.corrupt_uploads -= 1;
        }
        corrupt
    };
    let md5 = if corrupt {
        let mut data = std::fs::read(&file).expect("read upload");
        data[0] ^= 0xff;
        std::fs::write(&file, &data).expect("write upload");
        hex(&Md5::digest(&data))
    } else {
        md5
    };
    shared.insert(
        parent,
        name,
        "application/octet-stream",
        Some((file, size, md5)),
    )
}

/// The parts of a `multipart/related` body: headers and content of each.
fn multipart_parts<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<&'a [u8]>> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut parts = Vec::new();
    let mut at = find(body, delimiter, 0)? + delimiter.len();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Some(parts);
        }
        let start = at + 2; // CRLF after the delimiter
        let next = find(body, delimiter, start)?;
        // The CRLF before the next delimiter belongs to it.
        let part = body.get(start..next.checked_sub(2)?)?;
        let split = find(part, b"\r\n\r\n", 0)?;
        parts.push(&part[split + 4..]);
        at = next + delimiter.len();
    }
}

async fn upload_start(shared: &Shared, req: Request<Incoming>, query: &Query) -> Response<Body> {
    if let Err(r) = allow(query, &["uploadType", "fields", "supportsAllDrives"]) {
        return r;
    }
    let fields = match file_fields(param(query, "fields")) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    match param(query, "uploadType") {
        Some("multipart") => {
            let Some(boundary) = content_type
                .strip_prefix("multipart/related; boundary=")
                .map(str::to_owned)
            else {
                return bad_request("Content-Type must be multipart/related");
            };
            let body = match small_body(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let Some(parts) = multipart_parts(&body, &boundary) else {
                return bad_request("malformed multipart body");
            };
            let [meta, media] = parts[..] else {
                return bad_request("expected metadata and media parts");
            };
            let (name, parent, _) = match metadata(meta) {
                Ok(m) => m,
                Err(r) => return r,
            };
            if let Err(r) = shared
                .check_parent(&parent, query)
                .and_then(|()| shared.check_room(&parent))
            {
                return r;
            }
            let path = shared
                .dir
                .path()
                .join(format!("upload-{}", shared.new_id()));
            std::fs::write(&path, media).expect("write fake content");
            let md5 = hex(&Md5::digest(media));
            let id = finish_upload(shared, &parent, &name, path, media.len() as u64, md5);
            let state = shared.state();
            json_response(StatusCode::OK, &state.node_json(&state.nodes[&id], &fields))
        }
        Some("resumable") => {
            let total = req
                .headers()
                .get("x-upload-content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let Some(total) = total else {
                return bad_request("X-Upload-Content-Length expected");
            };
            if !content_type.starts_with("application/json") {
                return bad_request("metadata must be JSON");
            }
            let body = match small_body(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let (name, parent, _) = match metadata(&body) {
                Ok(m) => m,
                Err(r) => return r,
            };
            if let Err(r) = shared
                .check_parent(&parent, query)
                .and_then(|()| shared.check_room(&parent))
            {
                return r;
            }
            let upload_id = shared.new_id();
            let file = shared.dir.path().join(format!("session-{upload_id}"));
            let out = std::fs::File::create(&file).expect("create session file");
            let drive = shared.state().nodes[&parent].drive.clone();
            shared.state().sessions.insert(
                upload_id.clone(),
                Arc::new(tokio::sync::Mutex::new(Session {
                    parent,
                    name,
                    total,
                    received: 0,
                    file,
                    out,
                    hasher: Md5::new(),
                    fields,
                    drive,
                    done: None,
                })),
            );
            let mut response = empty(StatusCode::OK);
            let location = format!(
                "{}/upload/drive/v3/files?uploadType=resumable&upload_id={upload_id}",
                format_args!("http://{}", shared.addr)
            );
            response
                .headers_mut()
                .insert(LOCATION, location.parse().expect("valid header"));
            response
        }
        _ => bad_request("uploadType must be multipart or resumable"),
    }
}

fn session_answer(shared: &Shared, session: &Session) -> Response<Body> {
    if let Some(id) = &session.done {
        let state = shared.state();
        return match state.nodes.get(id) {
            Some(node) => json_response(StatusCode::OK, &state.node_json(node, &session.fields)),
            None => not_found(id),
        };
    }
    let mut response = empty(StatusCode::PERMANENT_REDIRECT);
    if session.received > 0 {
        let range = format!("bytes=0-{}", session.received - 1);
        response
            .headers_mut()
            .insert(RANGE, range.parse().expect("valid header"));
    }
    response
}

fn append(session: &mut Session, data: &[u8]) {
    use std::io::Write;
    session.out.write_all(data).expect("append to session file");
    session.hasher.update(data);
    session.received += data.len() as u64;
}

async fn session_put(
    shared: &Shared,
    req: Request<Incoming>,
    query: &Query,
) -> Result<Response<Body>, Dropped> {
    if let Err(r) = allow(query, &["uploadType", "upload_id"]) {
        return Ok(r);
    }
    let upload_id = param(query, "upload_id").unwrap_or("");
    let Some(session) = shared.state().sessions.get(upload_id).cloned() else {
        return Ok(drive_error(404, "notFound", "No such upload session"));
    };
    let mut session = session.lock().await;
    let Some(range) = req
        .headers()
        .get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes "))
        .map(str::to_owned)
    else {
        return Ok(bad_request("Content-Range expected"));
    };
    let Some((span, total)) = range.split_once('/') else {
        return Ok(bad_request("bad Content-Range"));
    };
    if total.parse::<u64>().ok() != Some(session.total) {
        return Ok(bad_request(
            "Content-Range total differs from the session's",
        ));
    }
    if session.done.is_some() || span == "*" {
        return Ok(session_answer(shared, &session));
    }
    let Some((start, end)) = span
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
    else {
        return Ok(bad_request("bad Content-Range"));
    };
    let len = end + 1 - start;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if end < start || end >= session.total || declared != Some(len) {
        return Ok(bad_request("Content-Range and Content-Length disagree"));
    }
    if start > session.received {
        return Ok(bad_request("chunk starts after the bytes received"));
    }
    if end + 1 < session.total && len % QUANTUM != 0 {
        return Ok(bad_request("chunk size must be a multiple of 256 KiB"));
    }
    let drop_after = {
        let mut state = shared.state();
        match state.faults.drop_upload {
            Some((0, bytes)) => {
                state.faults.drop_upload = None;
                Some(bytes)
            }
            Some((skip, bytes)) => {
                state.faults.drop_upload = Some((skip - 1, bytes));
                None
            }
            None => None,
        }
    };
    let mut body = req.into_body();
    let mut at = start;
    let mut seen = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            // The client went away: keep what arrived, as Drive does.
            return Err(Dropped);
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let mut data = &data[..];
        if let Some(limit) = drop_after
            && seen + data.len() as u64 >= limit
        {
            data = &data[..(limit - seen) as usize];
            let skip = (session.received - at.min(session.received)).min(data.len() as u64);
            let rest = &data[skip as usize..];
            append(&mut session, rest);
            return Err(Dropped);
        }
        seen += data.len() as u64;
        // Bytes below `received` were sent before; Drive keeps the first copy.
        let skip = (session.received.saturating_sub(at)).min(data.len() as u64);
        let fresh = &data[skip as usize..];
        at += data.len() as u64;
        append(&mut session, fresh);
    }
    if at != end + 1 {
        return Ok(bad_request("body shorter than Content-Range"));
    }
    if session.received == session.total {
        let md5 = hex(&session.hasher.clone().finalize());
        let id = finish_upload(
            shared,
            &session.parent.clone(),
            &session.name.clone(),
            session.file.clone(),
            session.total,
            md5,
        );
        if let Some(node) = shared.state().nodes.get_mut(&id) {
            node.drive = session.drive.clone();
        }
        session.done = Some(id);
    }
    Ok(session_answer(shared, &session))
}

fn session_cancel(shared: &Shared, query: &Query) -> Response<Body> {
    let upload_id = param(query, "upload_id").unwrap_or("");
    match shared.state().sessions.remove(upload_id) {
        Some(_) => empty(StatusCode::from_u16(499).expect("a valid status")),
        None => drive_error(404, "notFound", "No such upload session"),
    }
}

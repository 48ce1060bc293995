//! Fault tests of the HTTP storages: a [`FaultProxy`] between the storage and the real test
//! server answers 503, resets connections, stalls, or is not there at all. They assert what
//! must never happen: a failed look-up read as "absent" (git-annex would drop its record of a
//! copy), or a cut upload visible at the object's path.
//!
//! Each check is a plain function over a [`Target`]; [`fault_suite!`] runs them all against
//! S3 and WebDAV.

use std::time::{Duration, Instant};

use bytes::Bytes;
use ferry_backends::http_common::HttpOptions;
use ferry_backends::{Backend, ErrorKind, ObjectPath};

use crate::behavior::{put_bytes, random_bytes, read_all};
use crate::fault_proxy::{Fault, FaultProxy, refused_url};
use crate::servers;

const MIB: usize = 1024 * 1024;

/// Builds a storage at a base URL (the server or a proxy) in a store prefix.
pub type MakeBackend = Box<dyn Fn(&str, &str, HttpOptions) -> Box<dyn Backend>>;

/// Builds a storage with a wrong password at a base URL in a store prefix.
pub type MakeWrongLogin = Box<dyn Fn(&str, &str) -> Box<dyn Backend>>;

/// One storage kind under fault: how to build it on any base URL.
pub struct Target {
    /// The real server's base URL.
    pub direct: String,
    /// Where the server keeps the files of a store: `data/<prefix>/<path>`.
    pub data: std::path::PathBuf,
    /// A storage at `base` in the store `prefix`.
    pub make: MakeBackend,
    /// The same storage with a wrong password (or secret).
    pub make_wrong_login: MakeWrongLogin,
}

pub fn s3() -> Target {
    let server = servers::s3_server();
    let direct = server.endpoint.clone();
    let data = server.data.clone();
    let server = std::sync::Arc::new(server);
    let wrong = server.clone();
    Target {
        direct,
        data,
        make: Box::new(move |base, prefix, http| Box::new(server.backend(base, prefix, http))),
        make_wrong_login: Box::new(move |base, prefix| {
            let mut config = wrong.config(base, prefix, fault_http());
            config.secret_access_key = ferry_crypto::Secret::new("not-the-secret".into());
            Box::new(ferry_backends::s3::S3Backend::new(config).expect("a valid config"))
        }),
    }
}

pub fn webdav() -> Target {
    let server = servers::webdav_server();
    let direct = server.url.clone();
    let data = server.data.clone();
    let server = std::sync::Arc::new(server);
    let wrong = server.clone();
    Target {
        direct,
        data,
        make: Box::new(move |base, prefix, http| Box::new(server.backend(base, prefix, http))),
        make_wrong_login: Box::new(move |base, prefix| {
            let mut config = wrong.config(base, prefix, fault_http());
            config.password = Some(ferry_crypto::Secret::new("not-the-password".into()));
            Box::new(ferry_backends::webdav::WebdavBackend::new(config).expect("a valid config"))
        }),
    }
}

/// Short deadlines and quick retries: a fault shows within seconds.
fn fault_http() -> HttpOptions {
    HttpOptions {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
        io_timeout: Duration::from_secs(2),
        retries: 2,
        retry_delay: Duration::from_millis(10),
    }
}

fn path(rel: &str) -> ObjectPath {
    ObjectPath::new(rel).expect("test paths are valid")
}

/// A direct storage (initialized) and one behind a fresh proxy, in the same new store.
async fn setup(t: &Target) -> anyhow::Result<(Box<dyn Backend>, Box<dyn Backend>, FaultProxy)> {
    setup_in(t, &format!("{}/store", servers::fresh_prefix())).await
}

async fn setup_in(
    t: &Target,
    prefix: &str,
) -> anyhow::Result<(Box<dyn Backend>, Box<dyn Backend>, FaultProxy)> {
    let direct = (t.make)(&t.direct, prefix, servers::test_http());
    direct.initialize().await?;
    let proxy = FaultProxy::start(&t.direct).await;
    let proxied = (t.make)(&proxy.url(), prefix, fault_http());
    Ok((direct, proxied, proxy))
}

/// `result` must be an error of `kind`; above all never `Ok(None)`.
fn expect_kind<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, ferry_backends::BackendError>,
    kind: ErrorKind,
) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == kind => Ok(()),
        Err(e) => anyhow::bail!("{what}: expected {kind:?}, got {:?}: {e}", e.kind()),
        Ok(v) => anyhow::bail!("{what}: expected {kind:?}, got Ok({v:?})"),
    }
}

pub async fn stat_through_503_is_unreachable_never_absent(t: &Target) -> anyhow::Result<()> {
    let (direct, proxied, proxy) = setup(t).await?;
    put_bytes(&*direct, &path("present"), &random_bytes(100)).await?;
    proxy.set(Fault::Status503);
    for name in ["present", "absent", "a/b/absent"] {
        expect_kind(
            name,
            proxied.stat(&path(name)).await,
            ErrorKind::Unreachable,
        )?;
    }
    proxy.set(Fault::Pass);
    anyhow::ensure!(proxied.stat(&path("present")).await?.is_some());
    anyhow::ensure!(proxied.stat(&path("absent")).await?.is_none());
    direct.delete(&path("present")).await?;
    Ok(())
}

pub async fn stat_through_reset_is_unreachable(t: &Target) -> anyhow::Result<()> {
    let (direct, proxied, proxy) = setup(t).await?;
    put_bytes(&*direct, &path("present"), &random_bytes(100)).await?;
    // Cut before any answer, and in the middle of the status line and headers.
    for cut in [0, 20] {
        proxy.set(Fault::ResetResponseAfter(cut));
        for name in ["present", "absent"] {
            expect_kind(
                &format!("{name}, reset after {cut} bytes"),
                proxied.stat(&path(name)).await,
                ErrorKind::Unreachable,
            )?;
        }
    }
    direct.delete(&path("present")).await?;
    Ok(())
}

pub async fn stat_when_refused_is_unreachable(t: &Target) -> anyhow::Result<()> {
    let nowhere = refused_url().await;
    let b = (t.make)(&nowhere, "store", fault_http());
    expect_kind("stat", b.stat(&path("x")).await, ErrorKind::Unreachable)?;
    expect_kind("check", b.check().await, ErrorKind::Unreachable)?;
    expect_kind(
        "get",
        b.get(&path("x"), 0).await.map(|_| ()),
        ErrorKind::Unreachable,
    )?;
    expect_kind("delete", b.delete(&path("x")).await, ErrorKind::Unreachable)?;
    Ok(())
}

pub async fn stall_hits_the_timeout(t: &Target) -> anyhow::Result<()> {
    let (direct, proxied, proxy) = setup(t).await?;
    // One upload in good times, so that WebDAV's temp collection exists and the stalled
    // upload below is the PUT itself.
    put_bytes(&*proxied, &path("warm-up"), &random_bytes(10)).await?;
    proxy.set(Fault::Stall);
    let started = Instant::now();
    expect_kind(
        "stat",
        proxied.stat(&path("x")).await,
        ErrorKind::Unreachable,
    )?;
    let data = random_bytes(3 * MIB);
    let put = proxied
        .put(
            &path("stalled"),
            crate::behavior::body(&data, 65536),
            data.len() as u64,
            &|_| {},
        )
        .await;
    expect_kind("put", put, ErrorKind::Unreachable)?;
    // Three attempts of 2 s each per operation, plus backoff: far below a minute.
    let elapsed = started.elapsed();
    anyhow::ensure!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    anyhow::ensure!(direct.stat(&path("stalled")).await?.is_none());
    direct.delete(&path("warm-up")).await?;
    Ok(())
}

pub async fn latency_only_slows_things_down(t: &Target) -> anyhow::Result<()> {
    let (direct, proxied, proxy) = setup(t).await?;
    proxy.set(Fault::Latency(Duration::from_millis(30)));
    let data = random_bytes(MIB + 5);
    put_bytes(&*proxied, &path("slow"), &data).await?;
    anyhow::ensure!(read_all(&*proxied, &path("slow"), 7).await? == data[7..]);
    anyhow::ensure!(proxied.stat(&path("slow")).await?.map(|m| m.len) == Some(data.len() as u64));
    direct.delete(&path("slow")).await?;
    Ok(())
}

/// A put cut mid-body shows nothing new at its path, keeps an old object intact, and works
/// once the network does.
pub async fn cut_put_shows_nothing_then_succeeds(t: &Target) -> anyhow::Result<()> {
    let prefix = format!("{}/store", servers::fresh_prefix());
    let (direct, proxied, proxy) = setup_in(t, &prefix).await?;
    let old = random_bytes(1000);
    put_bytes(&*direct, &path("kept"), &old).await?;
    // 20 MiB: one streamed PUT on WebDAV, a multipart upload of three parts on S3.
    let data = random_bytes(20 * MIB + 3);
    proxy.set(Fault::ResetRequestAfter(MIB));
    for name in ["new", "kept"] {
        let put = proxied
            .put(
                &path(name),
                crate::behavior::body(&data, 256 * 1024),
                data.len() as u64,
                &|_| {},
            )
            .await;
        expect_kind(name, put, ErrorKind::Unreachable)?;
    }
    anyhow::ensure!(
        direct.stat(&path("new")).await?.is_none(),
        "a cut upload is visible"
    );
    anyhow::ensure!(
        read_all(&*direct, &path("kept"), 0).await? == old,
        "a cut upload damaged the old object"
    );
    anyhow::ensure!(
        direct.list(None).await?.len() == 1,
        "a cut upload is listed"
    );
    // Not on the server's disk either (the servers store objects as plain files).
    anyhow::ensure!(
        !t.data.join(&prefix).join("new").exists(),
        "a cut upload is on the server's disk"
    );
    // put_file can be retried whole; it fails the same way while the fault lasts.
    let local = tempfile::tempdir()?;
    let source = local.path().join("source");
    std::fs::write(&source, &data)?;
    expect_kind(
        "put_file",
        proxied.put_file(&path("new"), &source, &|_| {}).await,
        ErrorKind::Unreachable,
    )?;
    anyhow::ensure!(direct.stat(&path("new")).await?.is_none());

    proxy.set(Fault::Pass);
    put_once_settled(&*proxied, &path("new"), &data).await?;
    proxied.put_file(&path("kept"), &source, &|_| {}).await?;
    let want: Bytes = data.clone();
    anyhow::ensure!(read_all(&*direct, &path("new"), 0).await? == want);
    anyhow::ensure!(read_all(&*direct, &path("kept"), 0).await? == want);
    direct.delete(&path("new")).await?;
    direct.delete(&path("kept")).await?;
    Ok(())
}

/// `put` of `data` right after a fault cleared. The proxy closes its connections when the
/// fault changes, and the client may not have noticed yet for a pooled one: a put whose first
/// attempt fails on that (a stream body cannot be sent again once taken) is tried once more,
/// as the engine would on the next STORE.
async fn put_once_settled(b: &dyn Backend, at: &ObjectPath, data: &Bytes) -> anyhow::Result<()> {
    let attempt = || {
        b.put(
            at,
            crate::behavior::body(data, 256 * 1024),
            data.len() as u64,
            &|_| {},
        )
    };
    match attempt().await {
        Err(e) if e.kind() == ErrorKind::Unreachable => Ok(attempt().await?),
        other => Ok(other?),
    }
}

/// A download cut mid-answer, with the server gone after it, is an error (unreachable), never
/// a short file taken as whole; the partial file is resumed later.
pub async fn cut_get_fails_as_unreachable(t: &Target) -> anyhow::Result<()> {
    let (direct, proxied, proxy) = setup(t).await?;
    let data = random_bytes(8 * MIB);
    put_bytes(&*direct, &path("obj"), &data).await?;
    let local = tempfile::tempdir()?;
    let dest = local.path().join("dest");
    // Once 1 MiB arrived: drop the connection and answer 503 from then on. (A cut alone would
    // not do: OpenDAL's retry resumes a read where it stopped, on a new connection.) The
    // proxy forwards slowly until then, so that the rest of the object is not already waiting
    // in the client's socket buffer when the connection drops.
    proxy.set(Fault::Latency(Duration::from_millis(5)));
    let cut = std::sync::atomic::AtomicBool::new(false);
    let result = proxied
        .get_to_file(&path("obj"), &dest, &|n| {
            if n >= MIB as u64 && !cut.swap(true, std::sync::atomic::Ordering::Relaxed) {
                proxy.set(Fault::Status503);
            }
        })
        .await;
    expect_kind("get_to_file", result, ErrorKind::Unreachable)?;
    let partial = std::fs::metadata(&dest)?.len();
    anyhow::ensure!(partial < data.len() as u64, "{partial} bytes after a cut");
    proxy.set(Fault::Pass);
    proxied.get_to_file(&path("obj"), &dest, &|_| {}).await?;
    anyhow::ensure!(std::fs::read(&dest)? == data);
    direct.delete(&path("obj")).await?;
    Ok(())
}

/// A read cut by resets is resumed by the retries on new connections, as long as each
/// attempt moves some bytes.
pub async fn reset_reads_are_resumed(t: &Target) -> anyhow::Result<()> {
    let (direct, proxied, proxy) = setup(t).await?;
    let data = random_bytes(3 * MIB);
    put_bytes(&*direct, &path("obj"), &data).await?;
    proxy.set(Fault::ResetResponseAfter(MIB));
    anyhow::ensure!(read_all(&*proxied, &path("obj"), 5).await? == data[5..]);
    direct.delete(&path("obj")).await?;
    Ok(())
}

pub async fn wrong_login_is_permission_denied(t: &Target) -> anyhow::Result<()> {
    let prefix = format!("{}/store", servers::fresh_prefix());
    let b = (t.make_wrong_login)(&t.direct, &prefix);
    expect_kind("check", b.check().await, ErrorKind::PermissionDenied)?;
    expect_kind(
        "stat",
        b.stat(&path("x")).await,
        ErrorKind::PermissionDenied,
    )?;
    let data = random_bytes(10);
    expect_kind(
        "put",
        b.put(&path("x"), crate::behavior::body(&data, 10), 10, &|_| {})
            .await,
        ErrorKind::PermissionDenied,
    )?;
    Ok(())
}

macro_rules! fault_suite {
    ($storage:ident => $target:expr; $($check:ident),* $(,)?) => {
        mod $storage {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() -> anyhow::Result<()> {
                    let target = $target;
                    super::$check(&target).await
                }
            )*
        }
    };
}

fault_suite!(s3 => super::s3();
    stat_through_503_is_unreachable_never_absent,
    stat_through_reset_is_unreachable,
    stat_when_refused_is_unreachable,
    stall_hits_the_timeout,
    latency_only_slows_things_down,
    cut_put_shows_nothing_then_succeeds,
    cut_get_fails_as_unreachable,
    reset_reads_are_resumed,
    wrong_login_is_permission_denied,
);

fault_suite!(webdav => super::webdav();
    stat_through_503_is_unreachable_never_absent,
    stat_through_reset_is_unreachable,
    stat_when_refused_is_unreachable,
    stall_hits_the_timeout,
    latency_only_slows_things_down,
    cut_put_shows_nothing_then_succeeds,
    cut_get_fails_as_unreachable,
    reset_reads_are_resumed,
    wrong_login_is_permission_denied,
);

/// Temporary uploads older than a day are removed; younger ones (maybe still being written by
/// another process) stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_stale_temps_are_cleaned() -> anyhow::Result<()> {
    use std::time::{SystemTime, UNIX_EPOCH};
    let server = servers::webdav_server();
    let prefix = format!("{}/store", servers::fresh_prefix());
    let b = server.backend(&server.url, &prefix, servers::test_http());
    b.initialize().await?;
    let temps = server
        .data
        .join(&prefix)
        .join(ferry_backends::webdav::TEMP_DIR);
    let now = SystemTime::now();
    let two_days_ago = now - Duration::from_secs(2 * 24 * 3600);
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let stale = temps.join(format!("{}-1-1-0000000000000001.tmp", secs(two_days_ago)));
    let live = temps.join(format!("{}-1-2-0000000000000002.tmp", secs(now)));
    let touched = temps.join(format!("{}-1-3-0000000000000003.tmp", secs(two_days_ago)));
    for file in [&stale, &live, &touched] {
        std::fs::write(file, b"partial")?;
    }
    // `stale` started and was last written two days ago; `live` was started just now;
    // `touched` started two days ago but is still being written (its time is now).
    std::fs::File::options()
        .write(true)
        .open(&stale)?
        .set_modified(two_days_ago)?;
    std::fs::File::options()
        .write(true)
        .open(&live)?
        .set_modified(two_days_ago)?;
    anyhow::ensure!(b.clean_stale_uploads().await? == 1);
    anyhow::ensure!(!stale.exists() && live.exists() && touched.exists());
    b.remove_empty_dir(&path("nothing")).await?;
    Ok(())
}

/// A missing bucket (a typo in `bucket=`, a deleted bucket) answers 404 for every key: that
/// must not read as "every object absent".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_missing_bucket_is_never_absent() -> anyhow::Result<()> {
    let server = servers::s3_server();
    let mut config = server.config(&server.endpoint, "store", servers::test_http());
    config.bucket = format!("no-such-bucket-{:08x}", rand::random::<u32>());
    let b = ferry_backends::s3::S3Backend::new(config)?;
    expect_kind("stat", b.stat(&path("x")).await, ErrorKind::Config)?;
    expect_kind("check", b.check().await, ErrorKind::Config)?;
    Ok(())
}

/// A store collection that is not there (never initialized, or removed) is not "every object
/// absent" either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_missing_collection_is_never_absent() -> anyhow::Result<()> {
    let server = servers::webdav_server();
    let prefix = format!("{}/store", servers::fresh_prefix());
    let b = server.backend(&server.url, &prefix, servers::test_http());
    expect_kind("stat", b.stat(&path("x")).await, ErrorKind::Unreachable)?;
    expect_kind("check", b.check().await, ErrorKind::Unreachable)?;
    b.initialize().await?;
    anyhow::ensure!(b.stat(&path("x")).await?.is_none());
    Ok(())
}

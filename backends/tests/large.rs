//! 1 GiB through S3 and WebDAV with peak memory measured, only with `FERRY_TEST_LARGE=1`
//! (it moves 4 GiB and takes a minute or more).
//!
//! Each transfer runs in a child process (this test binary again, running only [`child`]), so
//! that its peak RSS (`VmHWM`) is its own and not that of the other tests in this process.
//! The numbers are printed; the remote-level limit (64 MiB) is asserted in bin/tests/large.rs.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use ferry_backends::{Backend, ObjectPath};

use crate::servers;

const GIB: u64 = 1024 * 1024 * 1024;

fn backend(storage: &str, prefix: &str) -> Box<dyn Backend> {
    match storage {
        "s3" => {
            let s = servers::s3_server();
            Box::new(s.backend(&s.endpoint, prefix, servers::test_http()))
        }
        "webdav" => {
            let s = servers::webdav_server();
            Box::new(s.backend(&s.url, prefix, servers::test_http()))
        }
        other => panic!("unknown storage {other}"),
    }
}

/// Peak resident memory of this process so far, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The transfer half, run in a child process by [`one_gib_keeps_memory_flat`]; does nothing
/// in a normal test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child() -> anyhow::Result<()> {
    let Ok(role) = std::env::var("FERRY_LARGE_ROLE") else {
        return Ok(());
    };
    let storage = std::env::var("FERRY_LARGE_STORAGE")?;
    let prefix = std::env::var("FERRY_LARGE_PREFIX")?;
    let file = std::path::PathBuf::from(std::env::var("FERRY_LARGE_FILE")?);
    let b = backend(&storage, &prefix);
    b.initialize().await?;
    let before = peak_rss_kib();
    let path = ObjectPath::new("large")?;
    let started = std::time::Instant::now();
    match role.as_str() {
        "put" => b.put_file(&path, &file, &|_| {}).await?,
        "get" => b.get_to_file(&path, &file, &|_| {}).await?,
        "delete" => b.delete(&path).await?,
        other => anyhow::bail!("unknown role {other}"),
    }
    let after = peak_rss_kib();
    // One line for the parent to parse: stderr, since stdout is the test harness's.
    eprintln!(
        "FERRY_LARGE_RESULT peak_kib={after} before_kib={before} secs={:.1}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_child(role: &str, storage: &str, prefix: &str, file: &Path) -> anyhow::Result<String> {
    let out = Command::new(std::env::current_exe()?)
        .args(["large::child", "--exact", "--nocapture", "--test-threads=1"])
        .env("FERRY_LARGE_ROLE", role)
        .env("FERRY_LARGE_STORAGE", storage)
        .env("FERRY_LARGE_PREFIX", prefix)
        .env("FERRY_LARGE_FILE", file)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        out.status.success(),
        "{role} on {storage} failed:\n{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("FERRY_LARGE_RESULT "))
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no result from the {role} child: {stderr}"))
}

fn same_content(a: &Path, b: &Path) -> anyhow::Result<bool> {
    let (mut a, mut b) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let mut x = vec![0u8; 8 << 20];
    let mut y = vec![0u8; 8 << 20];
    loop {
        let n = a.read(&mut x)?;
        if n == 0 {
            return Ok(b.read(&mut y)? == 0);
        }
        b.read_exact(&mut y[..n])?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
    }
}

#[test]
fn one_gib_keeps_memory_flat() -> anyhow::Result<()> {
    if std::env::var_os("FERRY_TEST_LARGE").is_none() {
        eprintln!("skipped: set FERRY_TEST_LARGE=1 for the 1 GiB S3/WebDAV memory test");
        return Ok(());
    }
    let local = tempfile::tempdir()?;
    let source = local.path().join("source");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&source)?);
        let mut chunk = vec![0u8; 8 << 20];
        for _ in 0..(GIB / (8 << 20)) {
            rand::fill(&mut chunk[..]);
            f.write_all(&chunk)?;
        }
        f.flush()?;
    }
    for storage in ["s3", "webdav"] {
        let prefix = format!("{}/store", servers::fresh_prefix());
        let dest = local.path().join(format!("dest-{storage}"));
        let put = run_child("put", storage, &prefix, &source)?;
        let get = run_child("get", storage, &prefix, &dest)?;
        eprintln!("1 GiB {storage} put_file: {put}");
        eprintln!("1 GiB {storage} get_to_file: {get}");
        anyhow::ensure!(same_content(&source, &dest)?, "{storage}: content differs");
        run_child("delete", storage, &prefix, &dest)?;
        std::fs::remove_file(&dest)?;
    }
    Ok(())
}

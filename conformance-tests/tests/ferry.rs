//! The real remote passes the whole suite.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::run_suite;

/// `git-annex-remote-ferry` from this workspace's target directory. Cargo only provides
/// CARGO_BIN_EXE for the crate's own binaries, so when it is missing it is built here.
fn ferry_binary() -> PathBuf {
    // <target>/debug/deps/main-<hash> → <target>/debug
    let exe = std::env::current_exe().expect("the test knows its path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests live in <target>/<profile>/deps")
        .to_path_buf();
    let bin = profile_dir.join("git-annex-remote-ferry");
    if !bin.exists() {
        let target_dir = profile_dir
            .parent()
            .expect("the profile directory is inside the target directory");
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "ferry", "--bin", "git-annex-remote-ferry"])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p ferry failed");
    }
    assert!(bin.exists(), "{} was not built", bin.display());
    bin
}

#[test]
fn ferry_passes_every_test() {
    let run = run_suite(&ferry_binary(), &[], &[]);
    assert!(run.failed().is_empty(), "{}\n{}", run.stdout, run.stderr);
    for (test, (status, detail)) in &run.rows {
        assert_eq!(status, "PASS", "{test}: {detail}");
    }
    assert_eq!(run.code, 0);
    assert!(
        run.stdout
            .lines()
            .last()
            .unwrap_or_default()
            .ends_with(" passed, 0 failed")
    );
}

/// ferry with its own encryption (`ferry_encryption=aes256gcm`): the same protocol behaviour,
/// with every object sealed and named by its HMAC. Without the export group: ferry refuses
/// exports on such a remote (git-annex would have refused `exporttree=yes` at initremote).
#[test]
fn ferry_with_its_own_encryption_passes_every_test() {
    let run = run_suite(
        &ferry_binary(),
        &[],
        &["-c", "ferry_encryption=aes256gcm", "--skip-group", "export"],
    );
    assert_all_passed(&run, None);
}

/// A variable the README's test command sets once the local S3 and WebDAV servers run.
fn server_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: start the test servers first \
             (scripts/test-servers start && source \"$(scripts/test-servers env)\"), \
             or run scripts/test, which does"
        )
    })
}

/// A prefix no other run uses, so that runs sharing a server never see each other's objects.
fn unique_prefix(storage: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("conformance-{storage}-{}-{nanos}", std::process::id())
}

/// More than 50 tests ran and every one passed, except those skipped with a detail holding
/// `skip_reason`; the suite exited 0.
fn assert_all_passed(run: &crate::harness::Run, skip_reason: Option<&str>) {
    assert!(run.failed().is_empty(), "{}\n{}", run.stdout, run.stderr);
    for (test, (status, detail)) in &run.rows {
        if status == "SKIP" && skip_reason.is_some_and(|reason| detail.contains(reason)) {
            continue;
        }
        assert_eq!(status, "PASS", "{test}: {detail}\n{}", run.stdout);
    }
    assert!(
        run.rows.len() > 50,
        "only {} tests ran:\n{}",
        run.rows.len(),
        run.stdout
    );
    assert_eq!(run.code, 0);
}

/// Every test passed except the ones that need `--break` (not given: the servers are shared by
/// tests running at once, so none may be taken away; the HTTP storages' unreachable cases are
/// covered by ferry-backends' fault tests through a proxy), and the kill test really cut a
/// STORE.
fn assert_passed_without_break(run: &crate::harness::Run, big: &str) {
    assert_all_passed(run, Some("no --break given"));
    let killed = format!("safety/store_killed_midway_{big}");
    let detail = run.detail(&killed);
    assert!(
        detail.contains("killed"),
        "{killed} did not cut a STORE: {detail}"
    );
}

/// ferry on the local S3 server. The largest object (24 MiB) is three of ferry's 8 MiB multipart
/// parts, and the kill test waits for PROGRESS past 20 MiB (with one part in flight and one
/// being read, the first has been uploaded), so it cuts a multipart upload between parts; then
/// CHECKPRESENT, from a fresh process, must not report the half-uploaded object.
#[test]
fn ferry_on_s3_passes_every_test() {
    let endpoint = server_var("FERRY_TEST_S3_ENDPOINT");
    let port = endpoint
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/');
    let mut cmd = crate::harness::suite_command(&ferry_binary(), &[]);
    cmd.args(["--quick", "--big-mib", "24"])
        .args([
            "-c",
            "storage=s3",
            "-c",
            "host=127.0.0.1",
            "-c",
            "protocol=http",
        ])
        .args(["-c", &format!("port={port}")])
        .args([
            "-c",
            &format!("bucket={}", server_var("FERRY_TEST_S3_BUCKET")),
        ])
        .args(["-c", &format!("prefix={}", unique_prefix("s3"))])
        .env(
            "AWS_ACCESS_KEY_ID",
            server_var("FERRY_TEST_S3_ACCESS_KEY_ID"),
        )
        .env(
            "AWS_SECRET_ACCESS_KEY",
            server_var("FERRY_TEST_S3_SECRET_ACCESS_KEY"),
        );
    let run = crate::harness::run(cmd);
    assert_passed_without_break(&run, "24MiB");
}

/// ferry on the local WebDAV server: uploads go to a temporary name and are moved into place,
/// so a killed STORE must leave only the temporary file, which CHECKPRESENT never reports.
#[test]
fn ferry_on_webdav_passes_every_test() {
    let url = format!(
        "{}/{}",
        server_var("FERRY_TEST_WEBDAV_URL").trim_end_matches('/'),
        unique_prefix("webdav")
    );
    let mut cmd = crate::harness::suite_command(&ferry_binary(), &[]);
    cmd.args(["--quick", "--big-mib", "24"])
        .args(["-c", "storage=webdav", "-c", &format!("url={url}")])
        .env("WEBDAV_USERNAME", server_var("FERRY_TEST_WEBDAV_USER"))
        .env("WEBDAV_PASSWORD", server_var("FERRY_TEST_WEBDAV_PASSWORD"));
    let run = crate::harness::run(cmd);
    assert_passed_without_break(&run, "24MiB");
}

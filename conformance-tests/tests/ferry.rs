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
    assert!(run.failed().is_empty(), "{}\n{}", run.stdout, run.stderr);
    for (test, (status, detail)) in &run.rows {
        assert_eq!(status, "PASS", "{test}: {detail}");
    }
    assert!(
        run.rows.len() > 50,
        "only {} tests ran:\n{}",
        run.rows.len(),
        run.stdout
    );
    assert_eq!(run.code, 0);
}

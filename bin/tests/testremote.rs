//! git-annex's own `testremote` against ferry's directory storage: every layout, chunking, and
//! git-annex's encryption on top.

use crate::support::{Repo, testremote_passes};

/// A full testremote on a store with `layout`. Always `fsync=no`: testremote moves ~40 000
/// small chunks, and the cost of flushing them is the disk's, not ferry's; the fsync path
/// (the default) is exercised by the workflow and crash tests.
fn full_testremote_with_layout(layout: &str) {
    let repo = Repo::new();
    repo.init_ferry("r", &[&format!("layout={layout}"), "fsync=no"]);
    testremote_passes(&repo, "r", false);
}

#[test]
fn testremote_full_passes_with_lower_layout() {
    full_testremote_with_layout("lower");
}

#[test]
fn testremote_full_passes_with_directory_layout() {
    full_testremote_with_layout("directory");
}

#[test]
fn testremote_full_passes_with_nodir_layout() {
    full_testremote_with_layout("nodir");
}

#[test]
fn testremote_full_passes_with_mixed_layout() {
    full_testremote_with_layout("mixed");
}

#[test]
fn testremote_full_passes_with_frankencase_layout() {
    full_testremote_with_layout("frankencase");
}

#[test]
fn testremote_full_passes_with_chunk_1mib() {
    let repo = Repo::new();
    repo.init_ferry("r", &["chunk=1MiB", "fsync=no"]);
    testremote_passes(&repo, "r", false);
}

#[test]
fn testremote_fast_passes_with_git_annex_shared_encryption() {
    let repo = Repo::new();
    repo.init_ferry("r", &["encryption=shared", "mac=HMACSHA512"]);
    testremote_passes(&repo, "r", true);
    // testremote's encrypted variant really sent encrypted keys: the store holds GPGHMAC names
    // only while it runs and cleans up after, so check the log of requests instead.
    assert!(
        repo.log_text().contains("GPGHMACSHA512--"),
        "no GPGHMACSHA512 key reached the remote"
    );
}

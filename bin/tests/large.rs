//! One 1 GiB key stored and retrieved through the remote on each network storage (S3, WebDAV,
//! the Drive fake), with the remote process's peak memory asserted: streaming must keep it
//! bounded whatever the file size. The protocol is driven directly (no git-annex), so that the
//! time goes into the transfer and not into hashing a gigabyte twice.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use crate::cloud::{gdrive_fake, need, start_drive_fake};
use crate::support::proto::RemoteProcess;
use crate::support::pseudo_random;

const GIB: u64 = 1024 * 1024 * 1024;

/// The limit from issue 6: the remote's peak RSS while moving 1 GiB.
const MAX_RSS_KIB: u64 = 64 * 1024;

/// A 1 GiB file made of a 1 MiB random block repeated with a per-block counter, so that a
/// misplaced or repeated block shows up in the comparison.
fn write_big_file(path: &Path) {
    let block = pseudo_random(99, 1024 * 1024);
    let mut out = BufWriter::new(File::create(path).expect("create the big file"));
    for i in 0..(GIB / block.len() as u64) {
        out.write_all(&i.to_le_bytes()).expect("write");
        out.write_all(&block[8..]).expect("write");
    }
    out.flush().expect("flush");
}

fn same_content(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = (
        File::open(a).expect("open a"),
        File::open(b).expect("open b"),
    );
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = read_full(&mut fa, &mut ba);
        let nb = read_full(&mut fb, &mut bb);
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]).expect("read") {
            0 => break,
            m => n += m,
        }
    }
    n
}

/// The peak resident set (`VmHWM`) of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

/// STORE, CHECKPRESENT and RETRIEVE of one 1 GiB key; asserts the content came back and the
/// remote stayed under [`MAX_RSS_KIB`].
fn round_trip_1gib(config: &[(&str, &str)], env: &[(&str, &str)], what: &str) {
    // On disk (target/tmp), not in TMPDIR: scripts/test points TMPDIR at memory, and three of
    // these tests, 2 GiB each, may run at once.
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let source = tmp.path().join("source");
    let dest = tmp.path().join("dest");
    write_big_file(&source);
    let key = format!("SHA256E-s{GIB}--{:064x}.bin", 0x1e55u64);

    let mut remote = RemoteProcess::start_env(config, tmp.path(), env);
    remote.request("EXTENSIONS ASYNC INFO");
    remote.init_remote();
    remote.prepare();
    let stored = remote.request(&format!("TRANSFER STORE {key} {}", source.display()));
    assert_eq!(stored, format!("TRANSFER-SUCCESS STORE {key}"), "{what}");
    let present = remote.request(&format!("CHECKPRESENT {key}"));
    assert_eq!(present, format!("CHECKPRESENT-SUCCESS {key}"), "{what}");
    let got = remote.request(&format!("TRANSFER RETRIEVE {key} {}", dest.display()));
    assert_eq!(got, format!("TRANSFER-SUCCESS RETRIEVE {key}"), "{what}");
    let rss = peak_rss_kib(remote.pid());
    let removed = remote.request(&format!("REMOVE {key}"));
    assert_eq!(removed, format!("REMOVE-SUCCESS {key}"), "{what}");
    assert!(
        remote.finish(),
        "{what}: the remote did not exit at end of input"
    );

    assert!(
        same_content(&source, &dest),
        "{what}: retrieved bytes differ"
    );
    eprintln!("{what}: peak RSS of the remote {} MiB", rss / 1024);
    assert!(
        rss <= MAX_RSS_KIB,
        "{what}: the remote's peak RSS was {rss} KiB, over the {MAX_RSS_KIB} KiB limit"
    );
}

#[test]
fn s3_moves_1gib_with_bounded_memory() {
    let endpoint = need("FERRY_TEST_S3_ENDPOINT");
    let port = endpoint.rsplit(':').next().expect("endpoint has a port");
    let (id, secret) = (
        need("FERRY_TEST_S3_ACCESS_KEY_ID"),
        need("FERRY_TEST_S3_SECRET_ACCESS_KEY"),
    );
    round_trip_1gib(
        &[
            ("storage", "s3"),
            ("bucket", "ferry"),
            ("host", "127.0.0.1"),
            ("port", port),
            ("protocol", "http"),
            ("prefix", "large-1gib"),
        ],
        &[
            ("AWS_ACCESS_KEY_ID", &id),
            ("AWS_SECRET_ACCESS_KEY", &secret),
        ],
        "s3",
    );
}

#[test]
fn webdav_moves_1gib_with_bounded_memory() {
    let url = format!("{}/large-1gib", need("FERRY_TEST_WEBDAV_URL"));
    let (user, password) = (
        need("FERRY_TEST_WEBDAV_USER"),
        need("FERRY_TEST_WEBDAV_PASSWORD"),
    );
    round_trip_1gib(
        &[("storage", "webdav"), ("url", &url)],
        &[("WEBDAV_USERNAME", &user), ("WEBDAV_PASSWORD", &password)],
        "webdav",
    );
}

#[test]
fn gdrive_fake_moves_1gib_with_bounded_memory() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let drive = start_drive_fake(tmp.path());
    let endpoint = drive.fake.url();
    let token_path = drive.token_file.to_string_lossy().into_owned();
    round_trip_1gib(
        &[
            ("storage", "gdrive"),
            ("root_folder_id", &drive.root),
            ("client_id", gdrive_fake::CLIENT_ID),
            ("gdrive_endpoint", &endpoint),
        ],
        &[
            ("FERRY_GDRIVE_TOKEN_FILE", &token_path),
            ("FERRY_GDRIVE_CLIENT_SECRET", gdrive_fake::CLIENT_SECRET),
        ],
        "gdrive (fake)",
    );
}

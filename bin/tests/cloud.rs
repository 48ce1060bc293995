//! git-annex against ferry's network storages: S3 and WebDAV on the local test servers that
//! `scripts/test` starts (rclone serve s3/webdav), and Google Drive on a local fake of the
//! Drive v3 API (the real service cannot be reached from the test machines).

use crate::support::{Repo, all_output, pseudo_random, testremote_passes};

#[path = "../../backends/tests/gdrive_fake/mod.rs"]
#[allow(dead_code, unused_imports)]
pub(crate) mod gdrive_fake;

pub(crate) fn need(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: the S3/WebDAV test servers are not running; run scripts/test (or scripts/test-servers start and source its env file)")
    })
}

/// initremote of an S3 remote on the test server, in its own prefix.
fn init_s3(repo: &Repo, name: &str, extra: &[&str]) {
    let endpoint = need("FERRY_TEST_S3_ENDPOINT");
    let port = endpoint
        .rsplit(':')
        .next()
        .expect("endpoint has a port")
        .to_owned();
    let prefix = format!(
        "prefix=it-{}",
        repo.tmp
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x")
    );
    let mut args = vec![
        "initremote",
        name,
        "type=external",
        "externaltype=ferry",
        "storage=s3",
        "bucket=ferry",
        "host=127.0.0.1",
        "protocol=http",
    ];
    let port_arg = format!("port={port}");
    args.push(&port_arg);
    args.push(&prefix);
    if !extra.iter().any(|p| p.starts_with("encryption=")) {
        args.push("encryption=none");
    }
    args.extend_from_slice(extra);
    let mut cmd = repo.command("git-annex", &args);
    cmd.env("AWS_ACCESS_KEY_ID", need("FERRY_TEST_S3_ACCESS_KEY_ID"))
        .env(
            "AWS_SECRET_ACCESS_KEY",
            need("FERRY_TEST_S3_SECRET_ACCESS_KEY"),
        );
    crate::support::run_ok(cmd);
}

fn init_webdav(repo: &Repo, name: &str) {
    let url = format!(
        "url={}/it-{}",
        need("FERRY_TEST_WEBDAV_URL"),
        repo.tmp
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x")
    );
    let mut cmd = repo.command(
        "git-annex",
        &[
            "initremote",
            name,
            "type=external",
            "externaltype=ferry",
            "storage=webdav",
            &url,
            "encryption=none",
        ],
    );
    cmd.env("WEBDAV_USERNAME", need("FERRY_TEST_WEBDAV_USER"))
        .env("WEBDAV_PASSWORD", need("FERRY_TEST_WEBDAV_PASSWORD"));
    crate::support::run_ok(cmd);
}

#[test]
fn s3_testremote_full_passes_and_credentials_stay_out_of_the_repository() {
    let repo = Repo::new();
    init_s3(&repo, "s3", &[]);
    testremote_passes(&repo, "s3", false);
    let log =
        String::from_utf8_lossy(&repo.git(&["show", "git-annex:remote.log"]).stdout).into_owned();
    let secret = need("FERRY_TEST_S3_SECRET_ACCESS_KEY");
    assert!(!log.contains(&secret), "secret in remote.log: {log}");
    assert!(!repo.log_text().contains(&secret), "secret in the log");
}

#[test]
fn s3_testremote_full_passes_with_chunk_1mib() {
    let repo = Repo::new();
    init_s3(&repo, "s3", &["chunk=1MiB"]);
    testremote_passes(&repo, "s3", false);
}

#[test]
fn s3_testremote_fast_passes_with_git_annex_shared_encryption() {
    let repo = Repo::new();
    init_s3(&repo, "s3", &["encryption=shared", "mac=HMACSHA512"]);
    testremote_passes(&repo, "s3", true);
}

#[test]
fn webdav_testremote_full_passes() {
    let repo = Repo::new();
    init_webdav(&repo, "dav");
    testremote_passes(&repo, "dav", false);
}

#[test]
fn s3_copy_get_with_8_jobs_and_missing_credentials_are_explained() {
    let repo = Repo::new();
    init_s3(&repo, "s3", &[]);
    for i in 0..20 {
        repo.write(
            &format!("f {i}.bin"),
            &pseudo_random(i, 50_000 + i as usize),
        );
    }
    repo.add_all();
    repo.annex(&["copy", "-J8", "--to", "s3", "."]);
    repo.annex(&["drop", "-J8", "."]);
    repo.annex(&["get", "-J8", "."]);
    repo.annex(&["fsck", "--from", "s3", "--fast", "."]);
    // Credentials gone (a clone that never got them): every use says how to provide them,
    // and presence is unknown, never "absent".
    let creds = repo.dir.join(".git/annex/creds");
    std::fs::remove_dir_all(&creds).expect("remove stored creds");
    let out = repo.annex_status(&["fsck", "--from", "s3", "--fast", "f 1.bin"]);
    let text = all_output(&out);
    assert!(!out.status.success());
    assert!(text.contains("AWS_ACCESS_KEY_ID"), "{text}");
    let whereis = all_output(&repo.annex(&["whereis", "f 1.bin"]));
    assert!(whereis.contains("[s3]"), "location log changed: {whereis}");
}

/// A running Drive fake with a root folder for the objects, and a token file for it.
pub(crate) struct DriveFake {
    pub fake: gdrive_fake::FakeDrive,
    pub root: String,
    pub token_file: std::path::PathBuf,
    // Serves the fake; dropped last.
    _runtime: tokio::runtime::Runtime,
}

/// Starts the Drive fake, makes the folder `annex` and writes a token file into `dir`.
pub(crate) fn start_drive_fake(dir: &std::path::Path) -> DriveFake {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the fake");
    let fake = runtime.block_on(async { gdrive_fake::FakeDrive::start() });
    let root = fake.add_folder("root", "annex");
    let token_file = dir.join("token.json");
    std::fs::write(&token_file, fake.credentials().token.to_json().expose()).expect("token file");
    DriveFake {
        fake,
        root,
        token_file,
        _runtime: runtime,
    }
}

/// `git annex initremote drive …` for a remote in `root` of the Drive fake.
fn drive_initremote(fake: &gdrive_fake::FakeDrive, root: &str) -> Vec<String> {
    vec![
        "initremote".into(),
        "drive".into(),
        "type=external".into(),
        "externaltype=ferry".into(),
        "storage=gdrive".into(),
        format!("root_folder_id={root}"),
        format!("client_id={}", gdrive_fake::CLIENT_ID),
        format!("gdrive_endpoint={}", fake.url()),
        "encryption=none".into(),
    ]
}

/// The full testremote, as for S3 and WebDAV: ~213 000 protocol requests, ~159 000 calls to
/// the fake. It took 5 minutes on a busy 2-core machine (load 6, 2026-12-06), down from 22
/// once the fake answered without Nagle delays and searched folders by name through an index,
/// and a RETRIEVE made one search instead of three. `FERRY_TEST_FAST_DRIVE=1` runs `--fast`
/// instead (seconds), for quick iterations.
#[test]
fn gdrive_fake_testremote_passes() {
    let repo = Repo::new();
    let DriveFake {
        fake,
        root,
        token_file,
        _runtime,
    } = start_drive_fake(repo.tmp.path());
    let init = drive_initremote(&fake, &root);
    let init: Vec<&str> = init.iter().map(String::as_str).collect();
    let mut cmd = repo.command("git-annex", &init);
    cmd.env("FERRY_GDRIVE_TOKEN_FILE", &token_file)
        .env("FERRY_GDRIVE_CLIENT_SECRET", gdrive_fake::CLIENT_SECRET);
    crate::support::run_ok(cmd);
    let fast = std::env::var("FERRY_TEST_FAST_DRIVE").is_ok_and(|v| v == "1");
    testremote_passes(&repo, "drive", fast);
    // The objects are in Drive folders laid out like the lower layout.
    repo.write("photo.jpg", &pseudo_random(7, 300_000));
    repo.add_all();
    repo.annex(&["copy", "--to", "drive", "photo.jpg"]);
    let key = repo.key_of("photo.jpg");
    let hashed = String::from_utf8_lossy(
        &repo
            .annex(&["examinekey", "--format=${hashdirlower}${key}", &key])
            .stdout,
    )
    .into_owned();
    assert_eq!(fake.at_path(&root, &hashed).len(), 1, "object at {hashed}");
}

/// `FERRY_GDRIVE_TOKEN_FILE` at use time: a refresh is written back to the file, so the next
/// git-annex run starts with the new token instead of refreshing again.
#[test]
fn gdrive_refreshed_token_is_written_back_to_the_token_file() {
    let repo = Repo::new();
    let DriveFake {
        fake,
        root,
        token_file,
        _runtime,
    } = start_drive_fake(repo.tmp.path());
    let with_token = |args: &[&str]| {
        let mut cmd = repo.command("git-annex", args);
        cmd.env("FERRY_GDRIVE_TOKEN_FILE", &token_file)
            .env("FERRY_GDRIVE_CLIENT_SECRET", gdrive_fake::CLIENT_SECRET);
        crate::support::run_ok(cmd)
    };
    let init = drive_initremote(&fake, &root);
    with_token(&init.iter().map(String::as_str).collect::<Vec<_>>());
    repo.write("a.txt", b"hello");
    repo.add_all();
    let before = std::fs::read_to_string(&token_file).expect("token file");
    fake.expire_tokens();
    with_token(&["copy", "--to", "drive", "a.txt"]);
    assert_eq!(fake.refreshes(), 1);
    let after = std::fs::read_to_string(&token_file).expect("token file");
    assert_ne!(after, before, "the refreshed token was not written back");
    // The next run uses the saved token as it is.
    with_token(&["fsck", "--from", "drive", "--fast", "a.txt"]);
    assert_eq!(fake.refreshes(), 1, "the next run refreshed again");
    assert!(
        !repo.log_text().contains("fake-access-"),
        "a token in the log"
    );
}

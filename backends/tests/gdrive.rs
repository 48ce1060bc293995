//! The Drive storage's own cases, against the fake Drive (`gdrive_fake`): duplicate names,
//! rate limits, server errors, token expiry, folder races, resumed uploads, MD5 checks, an
//! unreachable or missing store, shared drives, and a 1 GiB round trip (`FERRY_TEST_LARGE=1`).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use ferry_backends::gdrive::{GdriveBackend, GdriveConfig, Token};
use ferry_backends::{Backend, ByteStream, ErrorKind, ObjectPath};
use futures::StreamExt;
use futures::future::join_all;
use md5::{Digest, Md5};

use crate::behavior::{assert_kind, put_bytes, random_bytes, read_all};
use crate::gdrive_fake::{CLIENT_SECRET, FakeDrive, FakeOptions, REFRESH_TOKEN, RateLimit};

const MIB: usize = 1024 * 1024;

/// A fake, a store in a fresh folder `store` of it (prefix `annex`), initialized.
struct Setup {
    fake: FakeDrive,
    backend: GdriveBackend,
    /// The id of the store's root folder.
    root: String,
}

async fn setup_with(options: FakeOptions, tweak: impl FnOnce(&mut GdriveConfig)) -> Setup {
    let fake = FakeDrive::start_with(options);
    let root = fake.add_folder("root", "store");
    let mut config = fake.config(Some(root.clone()));
    config.prefix = Some(path("annex"));
    tweak(&mut config);
    let backend = GdriveBackend::new(config).expect("a valid config");
    backend.initialize().await.expect("initialize");
    Setup {
        fake,
        backend,
        root,
    }
}

async fn setup() -> Setup {
    setup_with(FakeOptions::default(), |_| {}).await
}

fn path(p: &str) -> ObjectPath {
    ObjectPath::new(p).expect("a valid test path")
}

fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_names_count_as_present_and_delete_removes_all() -> anyhow::Result<()> {
    let s = setup().await;
    let obj = path("d/obj");
    put_bytes(&s.backend, &obj, &random_bytes(100)).await?;
    let folder = &s.fake.at_path(&s.root, "annex/d")[0];
    // Another tool added a newer copy of the same name.
    let newer = random_bytes(333);
    s.fake.add_file(&folder.id, "obj", &newer);
    let sizes: Vec<u64> = s
        .fake
        .at_path(&s.root, "annex/d/obj")
        .iter()
        .map(|n| n.size)
        .collect();
    assert_eq!(sizes, [100, 333]);
    let meta = s.backend.stat(&obj).await?.expect("present");
    assert_eq!(meta.len, 333, "the newest copy counts");
    assert_eq!(read_all(&s.backend, &obj, 0).await?, newer);
    // Copies nobody stored through ferry are present too.
    let only_dups = path("d/dup");
    s.fake.add_file(&folder.id, "dup", b"one");
    s.fake.add_file(&folder.id, "dup", b"two");
    assert!(s.backend.stat(&only_dups).await?.is_some());

    let ids: Vec<String> = ["annex/d/obj", "annex/d/dup"]
        .iter()
        .flat_map(|p| s.fake.at_path(&s.root, p))
        .map(|n| n.id)
        .collect();
    assert_eq!(ids.len(), 4);
    s.backend.delete(&obj).await?;
    s.backend.delete(&only_dups).await?;
    for id in &ids {
        assert!(
            !s.fake.exists(id),
            "{id} went to the trash, not deleted for good"
        );
    }
    assert!(s.fake.at_path(&s.root, "annex/d/obj").is_empty());
    assert!(s.fake.at_path(&s.root, "annex/d/dup").is_empty());
    assert!(s.backend.stat(&obj).await?.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_leaves_exactly_one_copy() -> anyhow::Result<()> {
    let s = setup_with(FakeOptions::default(), |c| {
        c.options.chunk_size = 256 * 1024;
        c.options.multipart_max = 1000;
    })
    .await;
    let obj = path("obj");
    for len in [10, 5000, MIB, 3] {
        let data = random_bytes(len);
        put_bytes(&s.backend, &obj, &data).await?;
        let copies = s.fake.at_path(&s.root, "annex/obj");
        assert_eq!(copies.len(), 1, "after a put of {len}");
        assert_eq!(s.fake.content(&copies[0].id), data);
    }
    // Concurrent puts agree on one winner, and delete the others.
    let versions: Vec<Bytes> = (0..6).map(|i| random_bytes(2000 + i)).collect();
    for result in join_all(versions.iter().map(|v| put_bytes(&s.backend, &obj, v))).await {
        result?;
    }
    let copies = s.fake.at_path(&s.root, "annex/obj");
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(versions.iter().any(|v| *v == s.fake.content(&copies[0].id)));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_storms_are_retried() -> anyhow::Result<()> {
    let s = setup_with(FakeOptions::default(), |c| {
        c.options.chunk_size = 256 * 1024;
        c.options.multipart_max = 1000;
    })
    .await;
    for (i, kind) in [
        RateLimit::User403,
        RateLimit::Project403,
        RateLimit::TooMany429,
    ]
    .into_iter()
    .enumerate()
    {
        let small = path(&format!("rl{i}/small"));
        let large = path(&format!("rl{i}/large"));
        let (a, b) = (random_bytes(100), random_bytes(MIB + 7));
        s.fake.rate_limit_next(5, kind);
        put_bytes(&s.backend, &small, &a).await?;
        s.fake.rate_limit_next(5, kind);
        put_bytes(&s.backend, &large, &b).await?;
        s.fake.rate_limit_next(5, kind);
        assert_eq!(read_all(&s.backend, &small, 0).await?, a);
        assert_eq!(read_all(&s.backend, &large, 10).await?, b[10..]);
        s.fake.rate_limit_next(5, kind);
        s.backend.delete(&small).await?;
        assert!(s.backend.stat(&small).await?.is_none());
    }
    // A storm that outlasts every retry is "unknown", never "absent".
    s.fake.rate_limit_next(1000, RateLimit::User403);
    let err = s
        .backend
        .stat(&path("rl0/large"))
        .await
        .expect_err("still limited");
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
    assert!(err.to_string().contains("rate limit"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried() -> anyhow::Result<()> {
    let s = setup_with(FakeOptions::default(), |c| {
        c.options.chunk_size = 256 * 1024;
        c.options.multipart_max = 1000;
    })
    .await;
    for (i, status) in [500, 502, 503].into_iter().enumerate() {
        let small = path(&format!("e{i}/small"));
        let large = path(&format!("e{i}/large"));
        let (a, b) = (random_bytes(100), random_bytes(MIB + 7));
        s.fake.fail_next(3, status);
        put_bytes(&s.backend, &small, &a).await?;
        s.fake.fail_next(3, status);
        put_bytes(&s.backend, &large, &b).await?;
        s.fake.fail_next(3, status);
        assert_eq!(read_all(&s.backend, &large, 0).await?, b);
        s.fake.fail_next(3, status);
        assert_eq!(s.backend.stat(&small).await?.map(|m| m.len), Some(100));
    }
    // Failing for good: an error that git-annex reads as "unknown".
    s.fake.fail_next(1000, 503);
    assert_kind(
        s.backend.stat(&path("e0/small")).await,
        ErrorKind::Unreachable,
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_refreshed_once_for_concurrent_jobs() -> anyhow::Result<()> {
    let s = setup().await;
    let paths: Vec<ObjectPath> = (0..8).map(|i| path(&format!("t/obj{i}"))).collect();
    for p in &paths {
        put_bytes(&s.backend, p, &random_bytes(10)).await?;
    }
    let before = s.backend.token();
    s.fake.expire_tokens();
    for result in join_all(paths.iter().map(|p| s.backend.stat(p))).await {
        assert!(result?.is_some());
    }
    assert_eq!(s.fake.refreshes(), 1, "one refresh for all jobs");
    let after = s.backend.token();
    assert_ne!(after.access_token, before.access_token);
    // The refreshed token can be saved and read back in rclone's format.
    assert_eq!(Token::from_json(after.to_json().expose())?, after);
    Ok(())
}

/// A store whose token came from `file`, on a fake that rotates refresh tokens.
fn with_token_file(fake: &FakeDrive, file: &std::path::Path) -> anyhow::Result<GdriveBackend> {
    let root = fake.add_folder("root", "store");
    let mut config = fake.config(Some(root));
    std::fs::write(file, config.credentials.token.to_json().expose())?;
    config.token_file = Some(file.to_path_buf());
    Ok(GdriveBackend::new(config)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshed_token_is_written_back_to_its_file_privately_and_atomically() -> anyhow::Result<()>
{
    let fake = FakeDrive::start_with(FakeOptions {
        rotate_refresh_tokens: true,
        ..Default::default()
    });
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("token.json");
    let backend = with_token_file(&fake, &file)?;
    let before = std::fs::read_to_string(&file)?;
    // No refresh, no write.
    backend.check().await?;
    assert_eq!(std::fs::read_to_string(&file)?, before);
    fake.expire_tokens();
    backend.check().await?;
    assert_eq!(fake.refreshes(), 1);
    let saved = Token::from_json(&std::fs::read_to_string(&file)?)?;
    assert_eq!(saved, backend.token(), "the file holds the token in use");
    let rotated = saved.refresh_token.as_ref().expect("a refresh token");
    assert_ne!(
        rotated.expose(),
        REFRESH_TOKEN,
        "the rotated refresh token is kept"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
    // Replaced by a rename, no temporary file left behind; only the lock file stays.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    assert_eq!(names, [".token.json.lock", "token.json"]);
    // A second process starting from the file works without a refresh, and can refresh with
    // the rotated refresh token (the original one is revoked).
    let mut config = fake.config(None);
    config.credentials.token = saved;
    config.token_file = Some(file.clone());
    let next = GdriveBackend::new(config)?;
    next.check().await?;
    assert_eq!(fake.refreshes(), 1, "the saved access token is used as is");
    fake.expire_tokens();
    next.check().await?;
    assert_eq!(fake.refreshes(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_processes_leave_the_newest_token_in_the_file() -> anyhow::Result<()> {
    let fake = FakeDrive::start();
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("token.json");
    // Eight stores (as eight git-annex processes) refreshing at once, all writing back.
    let backends: Vec<GdriveBackend> = (0..8)
        .map(|_| with_token_file(&fake, &file))
        .collect::<anyhow::Result<_>>()?;
    fake.expire_tokens();
    for result in join_all(backends.iter().map(|b| b.check())).await {
        result?;
    }
    assert_eq!(fake.refreshes(), 8);
    let saved = Token::from_json(&std::fs::read_to_string(&file)?)?;
    let newest = backends
        .iter()
        .map(GdriveBackend::token)
        .max_by_key(|t| t.expiry)
        .expect("eight tokens");
    assert_eq!(
        saved.expiry, newest.expiry,
        "the token that expires last wins"
    );
    // Whatever order the writes came in, the file is a whole, working token.
    let mut config = fake.config(None);
    config.credentials.token = saved;
    GdriveBackend::new(config)?.check().await?;
    assert_eq!(fake.refreshes(), 8);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_about_to_expire_is_refreshed_before_use() -> anyhow::Result<()> {
    let fake = FakeDrive::start();
    let root = fake.add_folder("root", "store");
    let mut config = fake.config(Some(root));
    config.credentials.token.expiry = Some(SystemTime::now() + Duration::from_secs(5));
    let backend = GdriveBackend::new(config)?;
    backend.check().await?;
    let requests = fake.requests();
    assert_eq!(requests[0].path, "/token", "{requests:?}");
    assert_eq!(fake.refreshes(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_early_refresh_keeps_using_a_still_valid_token() -> anyhow::Result<()> {
    let fake = FakeDrive::start();
    let root = fake.add_folder("root", "store");
    let mut config = fake.config(Some(root));
    config.credentials.token.expiry = Some(SystemTime::now() + Duration::from_secs(5));
    if let Some(client) = &mut config.credentials.client {
        client.client_secret = ferry_crypto::Secret::new("wrong-secret".into());
    }
    let backend = GdriveBackend::new(config)?;
    backend.check().await?;
    assert_eq!(fake.refreshes(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_refresh_is_permission_denied_without_secrets() -> anyhow::Result<()> {
    let fake = FakeDrive::start();
    let root = fake.add_folder("root", "store");
    let mut config = fake.config(Some(root));
    config.credentials.token.refresh_token =
        Some(ferry_crypto::Secret::new("revoked-refresh-token".into()));
    let access = config.credentials.token.access_token.expose().clone();
    let backend = GdriveBackend::new(config)?;
    fake.expire_tokens();
    let err = backend.stat(&path("x")).await.expect_err("token refused");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let shown = format!("{err} {err:?} {backend:?}");
    for secret in [
        "revoked-refresh-token",
        CLIENT_SECRET,
        REFRESH_TOKEN,
        access.as_str(),
    ] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    assert!(shown.contains("invalid_grant"), "{shown}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_folder_creation_makes_one_folder() -> anyhow::Result<()> {
    let s = setup().await;
    let objects: Vec<(ObjectPath, Bytes)> = (0..16)
        .map(|i| (path(&format!("a/b/c/obj{i}")), random_bytes(10 + i)))
        .collect();
    for result in join_all(objects.iter().map(|(p, d)| put_bytes(&s.backend, p, d))).await {
        result?;
    }
    for folder in ["annex/a", "annex/a/b", "annex/a/b/c"] {
        assert_eq!(s.fake.at_path(&s.root, folder).len(), 1, "{folder}");
    }
    assert_eq!(s.fake.at_path(&s.root, "annex").len(), 1);
    let c = &s.fake.at_path(&s.root, "annex/a/b/c")[0];
    assert_eq!(s.fake.children(&c.id).len(), 16);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumable_upload_survives_a_dropped_connection() -> anyhow::Result<()> {
    let s = setup_with(FakeOptions::default(), |c| {
        c.options.chunk_size = MIB;
        c.options.multipart_max = 0;
    })
    .await;
    let obj = path("big");
    let data = random_bytes(5 * MIB + 123);
    // Cut off in the middle of the first chunk, at no 256 KiB boundary.
    s.fake.drop_upload_after(700_001);
    put_bytes(&s.backend, &obj, &data).await?;
    let requests = s.fake.requests();
    let queries = requests
        .iter()
        .filter(|r| {
            r.content_range
                .as_deref()
                .is_some_and(|c| c.starts_with("bytes */"))
        })
        .count();
    assert!(queries >= 1, "no status query after the drop");
    assert!(
        requests.iter().any(|r| r
            .content_range
            .as_deref()
            .is_some_and(|c| c.starts_with("bytes 700001-"))),
        "not resumed from the kept offset"
    );
    let copies = s.fake.at_path(&s.root, "annex/big");
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].md5, md5_hex(&data));
    assert_eq!(read_all(&s.backend, &obj, 0).await?, data);

    // A drop in the third chunk, after two confirmed ones, and one before any byte.
    s.fake.drop_upload(2, 100_000);
    let other = random_bytes(3 * MIB);
    put_bytes(&s.backend, &path("big2"), &other).await?;
    assert!(s.fake.requests().iter().any(|r| {
        r.content_range
            .as_deref()
            .is_some_and(|c| c.starts_with(&format!("bytes {}-", 2 * MIB + 100_000)))
    }));
    assert_eq!(read_all(&s.backend, &path("big2"), 0).await?, other);
    s.fake.drop_upload_after(0);
    put_bytes(&s.backend, &path("big3"), &other).await?;
    assert_eq!(read_all(&s.backend, &path("big3"), 0).await?, other);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_folder_is_a_clear_error_not_retried_and_keeps_its_objects() -> anyhow::Result<()> {
    let s = setup_with(
        FakeOptions {
            max_children: 3,
            ..Default::default()
        },
        |c| c.options.multipart_max = 1000,
    )
    .await;
    for i in 0..3 {
        put_bytes(&s.backend, &path(&format!("f/o{i}")), &random_bytes(10)).await?;
    }
    let before = s.fake.requests().len();
    // Both upload kinds: multipart and resumable.
    for len in [10, 2000] {
        let data = random_bytes(len);
        let result = s
            .backend
            .put(
                &path("f/o3"),
                crate::behavior::body(&data, 997),
                len as u64,
                &|_| {},
            )
            .await;
        let shown = result.as_ref().err().map(ToString::to_string);
        let shown = shown.unwrap_or_default();
        assert!(shown.contains("500 000"), "{shown}");
        assert_kind(result, ErrorKind::Other)?;
    }
    assert!(
        s.fake.requests().len() - before <= 6,
        "a full folder was retried"
    );
    let folder = &s.fake.at_path(&s.root, "annex/f")[0];
    assert_eq!(s.fake.children(&folder.id).len(), 3);
    for i in 0..3 {
        assert!(s.backend.stat(&path(&format!("f/o{i}"))).await?.is_some());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md5_mismatch_fails_and_leaves_no_file() -> anyhow::Result<()> {
    let s = setup_with(FakeOptions::default(), |c| {
        c.options.chunk_size = 256 * 1024;
        c.options.multipart_max = 1000;
    })
    .await;
    for (name, len) in [("small", 500), ("large", MIB + 1)] {
        let obj = path(name);
        s.fake.corrupt_next_uploads(1);
        let err = put_bytes(&s.backend, &obj, &random_bytes(len))
            .await
            .expect_err("a damaged upload must fail");
        let err = err.downcast::<ferry_backends::BackendError>()?;
        assert_eq!(err.kind(), ErrorKind::Other, "{err}");
        assert!(err.to_string().contains("MD5"), "{err}");
        assert!(s.backend.stat(&obj).await?.is_none(), "{name}");
        assert!(s.fake.at_path(&s.root, &format!("annex/{name}")).is_empty());
    }
    // With an older version in place, that one stays.
    let obj = path("kept");
    let old = random_bytes(2000);
    put_bytes(&s.backend, &obj, &old).await?;
    s.fake.corrupt_next_uploads(1);
    assert!(
        put_bytes(&s.backend, &obj, &random_bytes(3000))
            .await
            .is_err()
    );
    assert_eq!(read_all(&s.backend, &obj, 0).await?, old);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_when_drive_is_down_is_unreachable() -> anyhow::Result<()> {
    let s = setup_with(FakeOptions::default(), |c| {
        c.options.retry.attempts = 3;
    })
    .await;
    let obj = path("d/obj");
    put_bytes(&s.backend, &obj, &random_bytes(10)).await?;
    s.fake.stop();
    for p in [obj.clone(), path("d/absent"), path("never/was")] {
        assert_kind(s.backend.stat(&p).await, ErrorKind::Unreachable)?;
    }
    assert_kind(s.backend.list(None).await, ErrorKind::Unreachable)?;
    assert_kind(s.backend.delete(&obj).await, ErrorKind::Unreachable)?;
    assert_kind(s.backend.check().await, ErrorKind::Unreachable)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_answers_time_out_as_unreachable() -> anyhow::Result<()> {
    let s = setup_with(FakeOptions::default(), |c| {
        c.options.request_timeout = Duration::from_millis(300);
        c.options.retry.attempts = 2;
    })
    .await;
    s.fake.stall_next(100);
    assert_kind(s.backend.stat(&path("x/y")).await, ErrorKind::Unreachable)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_trashed_root_is_an_error_not_absence() -> anyhow::Result<()> {
    let fake = FakeDrive::start();
    let backend = GdriveBackend::new(fake.config(Some("no-such-folder".into())))?;
    assert_kind(
        backend.stat(&path("e7d/d01/obj")).await,
        ErrorKind::Unreachable,
    )?;
    assert_kind(backend.check().await, ErrorKind::Config)?;
    assert_kind(backend.initialize().await, ErrorKind::Config)?;

    // A root in the trash: its folders vanish from searches, but nothing is "absent".
    let s = setup().await;
    put_bytes(&s.backend, &path("d/obj"), &random_bytes(5)).await?;
    let parent = s.fake.add_folder("root", "parent");
    let trashed = s.fake.add_folder(&parent, "trashed-root");
    let backend = GdriveBackend::new(s.fake.config(Some(trashed.clone())))?;
    backend.initialize().await?;
    // Trash the root through the API, as a user would in the web UI.
    let client = reqwest::Client::new();
    let token = s.fake.credentials().token.access_token.expose().clone();
    let answer = client
        .patch(format!(
            "{}/drive/v3/files/{trashed}?supportsAllDrives=true",
            s.fake.url()
        ))
        .bearer_auth(token)
        .body(r#"{"trashed":true}"#)
        .send()
        .await?;
    assert!(answer.status().is_success());
    let fresh = GdriveBackend::new(s.fake.config(Some(trashed)))?;
    assert_kind(fresh.stat(&path("d/obj")).await, ErrorKind::Unreachable)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_drive_parameters_are_sent() -> anyhow::Result<()> {
    let drive = "0AFakeSharedDrive";
    let fake = FakeDrive::start_with(FakeOptions {
        shared_drive: Some(drive.into()),
        max_page_size: 2,
        ..Default::default()
    });
    let mut config = fake.config(None);
    config.team_drive = Some(drive.into());
    config.prefix = Some(path("annex"));
    config.options.chunk_size = 256 * 1024;
    config.options.multipart_max = 1000;
    let backend = GdriveBackend::new(config)?;
    backend.initialize().await?;
    let (small, large) = (random_bytes(10), random_bytes(MIB));
    put_bytes(&backend, &path("a/small"), &small).await?;
    put_bytes(&backend, &path("a/large"), &large).await?;
    assert_eq!(read_all(&backend, &path("a/large"), 5).await?, large[5..]);
    assert_eq!(backend.list(None).await?.len(), 2);
    backend.rename(&path("a/small"), &path("b/small")).await?;
    assert_eq!(read_all(&backend, &path("b/small"), 0).await?, small);
    backend.delete(&path("a/large")).await?;
    backend.remove_empty_dir(&path("a")).await?;
    assert!(backend.stat(&path("a/large")).await?.is_none());
    // The store lives in the shared drive, not in My Drive.
    assert_eq!(fake.at_path(drive, "annex/b/small").len(), 1);
    assert!(fake.children("root").is_empty());

    let requests = fake.requests();
    let api: Vec<_> = requests
        .iter()
        .filter(|r| {
            r.path.starts_with("/drive/")
                || (r.path.starts_with("/upload/") && r.param("upload_id").is_none())
        })
        .collect();
    assert!(!api.is_empty());
    for r in &api {
        assert_eq!(r.param("supportsAllDrives"), Some("true"), "{r:?}");
    }
    let searches: Vec<_> = api
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/drive/v3/files")
        .collect();
    assert!(!searches.is_empty());
    for r in searches {
        assert_eq!(r.param("corpora"), Some("drive"), "{r:?}");
        assert_eq!(r.param("driveId"), Some(drive), "{r:?}");
        assert_eq!(r.param("includeItemsFromAllDrives"), Some("true"), "{r:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_look_like_search_syntax_stay_names() -> anyhow::Result<()> {
    let s = setup_with(
        FakeOptions {
            max_page_size: 2,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let names = [
        "it's",
        "x' or name != 'y",
        "a' in parents and trashed = true and 'b",
        "' and '",
    ];
    let mut stored = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let obj = path(&format!("q/{name}"));
        let data = random_bytes(i + 1);
        put_bytes(&s.backend, &obj, &data).await?;
        stored.push((obj, data));
    }
    for (obj, data) in &stored {
        assert_eq!(read_all(&s.backend, obj, 0).await?, *data, "{obj}");
    }
    let mut listed: Vec<_> = s
        .backend
        .list(Some(&path("q")))
        .await?
        .into_iter()
        .map(|e| e.path)
        .collect();
    listed.sort();
    let mut expected: Vec<_> = stored.iter().map(|(p, _)| p.clone()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(s.backend.stat(&path("q/it")).await?.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_debug_hold_no_secrets() -> anyhow::Result<()> {
    let s = setup().await;
    let token = s.backend.token();
    let shown = format!("{} {:?} {:?}", s.backend.describe(), s.backend, token);
    assert!(
        !shown.contains(token.access_token.expose().as_str()),
        "{shown}"
    );
    assert!(!shown.contains(REFRESH_TOKEN), "{shown}");
    assert!(!shown.contains(CLIENT_SECRET), "{shown}");
    assert!(
        s.backend
            .describe()
            .to_string()
            .starts_with("gdrive folder ")
    );
    Ok(())
}

/// A deterministic pseudo-random stream of `len` bytes, made piece by piece (never held whole).
fn generated(len: u64, seed: u64) -> ByteStream {
    const PIECE: u64 = MIB as u64;
    Box::pin(futures::stream::unfold(
        (0u64, seed | 1),
        move |(at, mut x)| async move {
            if at >= len {
                return None;
            }
            let n = PIECE.min(len - at) as usize;
            let mut piece = Vec::with_capacity(n + 8);
            while piece.len() < n {
                // xorshift64
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                piece.extend_from_slice(&x.to_le_bytes());
            }
            piece.truncate(n);
            Some((Ok(Bytes::from(piece)), (at + n as u64, x)))
        },
    ))
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_round_trip_with_bounded_memory_when_asked() -> anyhow::Result<()> {
    if std::env::var_os("FERRY_TEST_LARGE").is_none() {
        eprintln!("skipped: set FERRY_TEST_LARGE=1 for the 1 GiB Drive round trip");
        return Ok(());
    }
    const LEN: u64 = 1 << 30;
    let s = setup().await;
    let obj = path("huge");
    let mut expected = Md5::new();
    let mut source = generated(LEN, 42);
    while let Some(piece) = source.next().await {
        expected.update(&piece?);
    }
    let expected: String = expected
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let started = std::time::Instant::now();
    s.backend
        .put(&obj, generated(LEN, 42), LEN, &|_| {})
        .await?;
    let put_time = started.elapsed();
    let copies = s.fake.at_path(&s.root, "annex/huge");
    assert_eq!(copies[0].md5, expected);

    let started = std::time::Instant::now();
    let mut stream = s.backend.get(&obj, 0).await?;
    let mut got = Md5::new();
    let mut len = 0u64;
    while let Some(piece) = stream.next().await {
        let piece = piece?;
        len += piece.len() as u64;
        got.update(&piece);
    }
    let got: String = got.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!((len, got), (LEN, expected));
    let peak = peak_rss_kib();
    eprintln!(
        "1 GiB through the fake Drive: put {put_time:?}, get {:?}, peak RSS of the test process {} MiB",
        started.elapsed(),
        peak.map_or("?".into(), |k| (k / 1024).to_string())
    );
    if let Some(peak) = peak {
        // Holding the object would take 1 GiB; the upload holds one 8 MiB chunk.
        assert!(peak < 768 * 1024, "peak RSS {peak} KiB");
    }
    Ok(())
}

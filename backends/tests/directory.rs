//! The directory storage's own failure cases: a missing or broken store root must never read
//! as "absent", temp files must never be visible, stale ones must go and live ones stay.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use ferry_backends::directory::{DirectoryBackend, DirectoryOptions, TEMP_DIR};
use ferry_backends::layout::{Layout, object_path};
use ferry_backends::{Backend, ErrorKind, ObjectPath};
use remote_proto::Key;

use crate::behavior::{ProgressLog, assert_kind, body, put_bytes, random_bytes, read_all};

fn path(s: &str) -> ObjectPath {
    ObjectPath::new(s).expect("test paths are valid")
}

fn store(root: &Path, prefix: Option<&str>) -> DirectoryBackend {
    DirectoryBackend::new(
        root.to_owned(),
        prefix.map(path),
        DirectoryOptions::default(),
    )
}

/// A store as INITREMOTE leaves it: root present, marker written.
async fn ready_store(root: &Path, prefix: Option<&str>) -> anyhow::Result<DirectoryBackend> {
    let b = store(root, prefix);
    b.initialize().await?;
    Ok(b)
}

const KEY: &str =
    "SHA256E-s12--a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447.txt";

#[tokio::test]
async fn objects_land_at_the_layout_path() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = ready_store(dir.path(), Some("git-annex")).await?;
    let key = Key::parse(KEY)?;
    let obj = object_path(Layout::Lower, None, &key)?;
    put_bytes(&b, &obj, &Bytes::from_static(b"hello world\n")).await?;
    let on_disk = dir.path().join("git-annex/e7d/d01").join(KEY);
    assert_eq!(fs::read(on_disk)?, b"hello world\n");
    Ok(())
}

#[tokio::test]
async fn stat_when_root_missing_is_unreachable_not_absent() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = store(&dir.path().join("unmounted"), None);
    assert_kind(b.stat(&path("e7d/d01/K")).await, ErrorKind::Unreachable)?;
    assert_kind(b.stat(&path("K")).await, ErrorKind::Unreachable)?;
    assert_kind(b.check().await, ErrorKind::Unreachable)?;
    Ok(())
}

#[tokio::test]
async fn stat_in_an_unmarked_store_is_unreachable_not_absent() -> anyhow::Result<()> {
    // The configured directory is a mount point and the disk is not mounted: the empty
    // directory must not make every object read as absent, nor receive stores.
    let dir = tempfile::tempdir()?;
    let b = store(dir.path(), None);
    assert_kind(b.stat(&path("e7d/d01/K")).await, ErrorKind::Unreachable)?;
    let err = put_bytes(&b, &path("e7d/d01/K"), &Bytes::from_static(b"x"))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a store into an unmarked directory must fail"))?;
    assert!(err.to_string().contains(".ferry-store"), "{err}");
    assert!(
        fs::read_dir(dir.path())?.next().is_none(),
        "nothing written"
    );
    Ok(())
}

#[tokio::test]
async fn initialize_creates_the_prefix_and_marker_and_is_idempotent() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = ready_store(dir.path(), Some("not/yet")).await?;
    assert_eq!(b.stat(&path("e7d/d01/K")).await?, None);
    let marker = dir.path().join("not/yet/.ferry-store");
    let text = fs::read_to_string(&marker)?;
    b.initialize().await?;
    assert_eq!(fs::read_to_string(&marker)?, text);
    // The marker is not an object, and cannot be overwritten as one.
    assert!(b.list(None).await?.is_empty());
    assert_kind(b.stat(&path(".ferry-store")).await, ErrorKind::Unsupported)?;
    // initialize never creates the root itself (the disk the user named).
    let gone = store(&dir.path().join("unmounted"), None);
    assert!(gone.initialize().await.is_err());
    assert!(!dir.path().join("unmounted").exists());
    Ok(())
}

#[tokio::test]
async fn stat_when_root_is_a_file_is_an_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("file");
    fs::write(&root, b"not a directory")?;
    let b = store(&root, None);
    // ENOTDIR on the way to the object: an error, never "absent".
    assert!(b.stat(&path("e7d/d01/K")).await.is_err());
    assert!(b.delete(&path("e7d/d01/K")).await.is_err());
    assert!(b.check().await.is_err());
    Ok(())
}

#[tokio::test]
async fn stat_when_a_hash_dir_is_a_file_is_an_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    fs::write(dir.path().join("e7d"), b"in the way")?;
    let b = store(dir.path(), None);
    assert_kind(b.stat(&path("e7d/d01/K")).await, ErrorKind::Config)?;
    Ok(())
}

#[tokio::test]
async fn stat_when_root_is_a_symlink_loop_is_an_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("loop");
    std::os::unix::fs::symlink(&root, &root)?;
    let b = store(&root, None);
    assert!(b.stat(&path("K")).await.is_err());
    Ok(())
}

#[tokio::test]
async fn stat_of_a_dangling_symlink_is_an_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::os::unix::fs::symlink("/nonexistent/other-disk/K", dir.path().join("K"))?;
    let b = store(dir.path(), None);
    assert_kind(b.stat(&path("K")).await, ErrorKind::Unreachable)?;
    Ok(())
}

#[tokio::test]
async fn delete_when_root_missing_is_an_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = store(&dir.path().join("unmounted"), Some("annex"));
    assert_kind(b.delete(&path("e7d/d01/K")).await, ErrorKind::Unreachable)?;
    assert_kind(
        b.remove_empty_dir(&path("e7d")).await,
        ErrorKind::Unreachable,
    )?;
    assert_kind(b.list(None).await, ErrorKind::Unreachable)?;
    Ok(())
}

#[tokio::test]
async fn put_when_root_missing_fails_and_never_creates_the_root() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("unmounted");
    let b = store(&root, Some("annex"));
    let data = random_bytes(10);
    assert_kind(
        b.put(&path("e7d/d01/K"), body(&data, 3), 10, &|_| {}).await,
        ErrorKind::Unreachable,
    )?;
    let source = dir.path().join("source");
    fs::write(&source, &data)?;
    assert_kind(
        b.put_file(&path("K"), &source, &|_| {}).await,
        ErrorKind::Unreachable,
    )?;
    // Creating it would put data on the empty mount point instead of the disk.
    assert!(!root.exists());
    Ok(())
}

#[tokio::test]
async fn get_when_root_missing_is_unreachable() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = store(&dir.path().join("unmounted"), None);
    assert_kind(
        b.get(&path("K"), 0).await.map(|_| ()),
        ErrorKind::Unreachable,
    )?;
    let dest = dir.path().join("dest");
    assert_kind(
        b.get_to_file(&path("K"), &dest, &|_| {}).await,
        ErrorKind::Unreachable,
    )?;
    Ok(())
}

/// Whether this process ignores file permissions (root): then chmod 000 blocks nothing.
fn permissions_are_bypassed(probe_dir: &Path) -> anyhow::Result<bool> {
    let probe = probe_dir.join("probe");
    fs::create_dir(&probe)?;
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o000))?;
    let bypassed = fs::read_dir(&probe).is_ok();
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o755))?;
    fs::remove_dir(&probe)?;
    Ok(bypassed)
}

/// Root ignores chmod 000, so as root this test runs its check in a copy of this test binary
/// started as user `nobody` (65534) through `CommandExt::uid`; as any other user it runs the
/// check directly. Either way a store root that cannot be searched must give PermissionDenied.
#[tokio::test]
async fn stat_when_root_unreadable_is_permission_denied() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
    let root = dir.path().join("locked");
    fs::create_dir(&root)?;
    fs::write(root.join("K"), b"present")?;
    fs::set_permissions(&root, fs::Permissions::from_mode(0o000))?;
    if !permissions_are_bypassed(dir.path())? {
        return unreadable_root_check(&root).await;
    }
    use std::os::unix::process::CommandExt;
    let exe = dir.path().join("test-binary");
    fs::copy(std::env::current_exe()?, &exe)?;
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755))?;
    let out = std::process::Command::new(&exe)
        .args([
            "directory::unreadable_root_check_as_other_user",
            "--exact",
            "--nocapture",
        ])
        .env("FERRY_UNREADABLE_ROOT", &root)
        .current_dir(dir.path())
        .uid(65534)
        .gid(65534)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "as nobody: {stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the check did not run as nobody: {stdout}\n{stderr}"
    );
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// The half of the test above that runs as `nobody`; does nothing unless started by it.
#[tokio::test]
async fn unreadable_root_check_as_other_user() -> anyhow::Result<()> {
    let Some(root) = std::env::var_os("FERRY_UNREADABLE_ROOT") else {
        return Ok(());
    };
    unreadable_root_check(&PathBuf::from(root)).await
}

async fn unreadable_root_check(root: &Path) -> anyhow::Result<()> {
    let b = store(root, None);
    assert_kind(b.stat(&path("K")).await, ErrorKind::PermissionDenied)?;
    assert_kind(
        b.stat(&path("e7d/d01/absent")).await,
        ErrorKind::PermissionDenied,
    )?;
    assert_kind(b.delete(&path("K")).await, ErrorKind::PermissionDenied)?;
    assert!(b.check().await.is_err());
    Ok(())
}

#[tokio::test]
async fn dead_writers_temp_files_are_cleaned_and_live_ones_kept() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = store(dir.path(), Some("p"));
    let tmp = dir.path().join("p").join(TEMP_DIR);
    fs::create_dir_all(&tmp)?;
    // A writer killed with -9 leaves its file behind and the kernel drops its lock.
    fs::write(tmp.join("1-0-dead.tmp"), b"half an object")?;
    // A live writer (in another process, as far as the lock is concerned: flock locks belong
    // to the open file, not the process) holds the lock.
    let live = File::create(tmp.join("2-0-live.tmp"))?;
    live.lock()?;
    assert_eq!(b.cleanup_stale_temps().await?, 1);
    assert!(!tmp.join("1-0-dead.tmp").exists());
    assert!(tmp.join("2-0-live.tmp").exists());
    drop(live);
    assert_eq!(b.cleanup_stale_temps().await?, 1);
    assert!(!tmp.join("2-0-live.tmp").exists());
    // Nothing there at all is fine.
    assert_eq!(
        store(dir.path(), Some("empty"))
            .cleanup_stale_temps()
            .await?,
        0
    );
    Ok(())
}

#[tokio::test]
async fn temp_files_never_show_as_objects() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = ready_store(dir.path(), None).await?;
    put_bytes(&b, &path("K"), &random_bytes(3)).await?;
    fs::write(dir.path().join(TEMP_DIR).join("9-9-x.tmp"), b"partial")?;
    let listed: Vec<_> = b.list(None).await?.into_iter().map(|e| e.path).collect();
    assert_eq!(listed, [path("K")]);
    // The temp dir is not an object path at all.
    assert_kind(
        b.stat(&path(&format!("{TEMP_DIR}/9-9-x.tmp"))).await,
        ErrorKind::Unsupported,
    )?;
    assert_kind(
        b.put(
            &path(&format!("{TEMP_DIR}/x")),
            body(&Bytes::new(), 1),
            0,
            &|_| {},
        )
        .await,
        ErrorKind::Unsupported,
    )?;
    Ok(())
}

#[tokio::test]
async fn a_dropped_put_leaves_no_temp_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = ready_store(dir.path(), None).await?;
    let (mut tx, rx) = futures::channel::mpsc::channel::<std::io::Result<Bytes>>(0);
    {
        let k = path("K");
        let put = b.put(&k, Box::pin(rx), 100, &|_| {});
        tokio::pin!(put);
        let feed = async {
            futures::SinkExt::send(&mut tx, Ok(Bytes::from_static(b"first"))).await?;
            // Taken by the put: it is writing its temp file now.
            futures::SinkExt::send(&mut tx, Ok(Bytes::from_static(b"second"))).await?;
            anyhow::Ok(())
        };
        tokio::select! {
            _ = &mut put => anyhow::bail!("the put finished without its data"),
            fed = feed => fed?,
        }
        let temps = fs::read_dir(dir.path().join(TEMP_DIR))?.count();
        assert_eq!(temps, 1, "the put should be writing a temp file");
    }
    // The put future is gone (a cancelled request): its temp file too.
    assert_eq!(fs::read_dir(dir.path().join(TEMP_DIR))?.count(), 0);
    assert_eq!(b.stat(&path("K")).await?, None);
    Ok(())
}

#[tokio::test]
async fn put_file_reports_progress_at_least_every_8_mib() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = ready_store(dir.path(), Some("p")).await?;
    let source = dir.path().join("source");
    let data = random_bytes(20 * 1024 * 1024 + 5);
    fs::write(&source, &data)?;
    let log = ProgressLog::default();
    b.put_file(&path("big"), &source, &|n| log.record(n))
        .await?;
    log.assert_grows_to(data.len() as u64)?;
    assert!(log.max_step() <= 8 * 1024 * 1024, "step {}", log.max_step());
    let dest = dir.path().join("dest");
    let log = ProgressLog::default();
    b.get_to_file(&path("big"), &dest, &|n| log.record(n))
        .await?;
    log.assert_grows_to(data.len() as u64)?;
    assert!(log.max_step() <= 8 * 1024 * 1024, "step {}", log.max_step());
    assert!(fs::read(&dest)? == data);
    Ok(())
}

#[tokio::test]
async fn deleting_in_directory_layout_removes_the_key_dir() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = ready_store(dir.path(), None).await?;
    let key = Key::parse(KEY)?;
    let obj = object_path(Layout::Directory, None, &key)?;
    put_bytes(&b, &obj, &random_bytes(12)).await?;
    assert!(dir.path().join("e7d/d01").join(KEY).is_dir());
    b.delete(&obj).await?;
    assert!(!dir.path().join("e7d/d01").join(KEY).exists());
    assert!(
        dir.path().join("e7d/d01").is_dir(),
        "shared hash dirs may stay"
    );
    Ok(())
}

#[tokio::test]
async fn check_needs_a_writable_root() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    ready_store(dir.path(), Some("new/prefix"))
        .await?
        .check()
        .await?;
    // check leaves no temp file behind.
    assert_eq!(
        fs::read_dir(dir.path().join("new/prefix").join(TEMP_DIR))?.count(),
        0
    );
    Ok(())
}

#[tokio::test]
async fn error_messages_name_the_store_and_the_remedy() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("unmounted");
    let b = store(&root, None);
    let err = b
        .stat(&path("e7d/d01/K"))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("no error"))?;
    let text = err.to_string();
    assert!(
        text.starts_with("cannot look up e7d/d01/K in directory "),
        "{text}"
    );
    assert!(text.contains("does not exist"), "{text}");
    assert!(text.contains("is mounted"), "{text}");
    assert!(err.is_retryable());
    Ok(())
}

#[tokio::test]
async fn get_reads_what_put_file_stored() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = ready_store(dir.path(), None).await?;
    let source = dir.path().join("src");
    // Small files are copied through a buffer, larger ones in the kernel: both sides of the
    // 64 KiB boundary, and empty.
    for len in [0, 1, 65_535, 65_536, 65_537, 300_000] {
        let data = random_bytes(len);
        fs::write(&source, &data)?;
        let name = path(&format!("a/b{len}"));
        b.put_file(&name, &source, &|_| {}).await?;
        let got = read_all(&b, &name, 0).await?;
        assert!(got == data, "{len} bytes stored, {} read back", got.len());
    }
    Ok(())
}

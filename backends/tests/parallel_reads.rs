//! Large downloads from the HTTP storages go as several ranged requests at once (objects with
//! at least `http_common::PARALLEL_READ_MIN`, 64 MiB, left to read); the bytes must still come
//! out whole and in order from any offset, and a partial file must still be completed by
//! `get_to_file`. 72 MiB and 3 bytes: pieces of 4 MiB, the last one short, and an offset that
//! is not on a piece boundary.

use ferry_backends::Backend;

use crate::behavior::{self, cleanup, put_bytes, random_bytes, read_all, scratch, under};

const MIB: usize = 1024 * 1024;
const LEN: usize = 72 * MIB + 3;

async fn large_reads_are_whole_and_in_order(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let path = under(&prefix, "large");
    let data = random_bytes(LEN);
    put_bytes(b, &path, &data).await?;
    // From 0 and from 4 MiB + 1 more than 64 MiB remain (ranged pieces); from 9 MiB less do
    // (one stream).
    for offset in [0, 4 * MIB + 1, 9 * MIB] {
        let got = read_all(b, &path, offset as u64).await?;
        anyhow::ensure!(
            got.len() == LEN - offset && got == data[offset..],
            "reading from {offset}: got {} bytes, {} wanted, or different content",
            got.len(),
            LEN - offset
        );
    }
    // A download cut after 3 MiB + 5 bytes resumes from there.
    let local = tempfile::tempdir()?;
    let dest = local.path().join("partial");
    std::fs::write(&dest, &data[..3 * MIB + 5])?;
    b.get_to_file(&path, &dest, &|_| {}).await?;
    anyhow::ensure!(std::fs::read(&dest)? == data, "the resumed file differs");
    cleanup(b, &prefix, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_large_reads_are_whole_and_in_order() -> anyhow::Result<()> {
    let fixture = behavior::s3();
    fixture.backend.initialize().await?;
    large_reads_are_whole_and_in_order(&*fixture.backend).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_large_reads_are_whole_and_in_order() -> anyhow::Result<()> {
    let fixture = behavior::webdav();
    fixture.backend.initialize().await?;
    large_reads_are_whole_and_in_order(&*fixture.backend).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdrive_large_reads_are_whole_and_in_order() -> anyhow::Result<()> {
    let fake = crate::gdrive_fake::FakeDrive::start();
    let root = fake.add_folder("root", "ferry-parallel-reads");
    let mut config = fake.config(Some(root));
    config.prefix = Some(ferry_backends::ObjectPath::new("annex")?);
    let backend = ferry_backends::gdrive::GdriveBackend::new(config)?;
    backend.initialize().await?;
    large_reads_are_whole_and_in_order(&backend).await?;
    // The download really went in pieces: ranged GETs with an end, 19 for the whole object.
    let ranged = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.param("alt") == Some("media"))
        .filter(|r| r.range.as_deref().is_some_and(|v| !v.ends_with('-')))
        .count();
    anyhow::ensure!(ranged >= 19, "only {ranged} ranged downloads");
    Ok(())
}

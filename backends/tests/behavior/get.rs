//! `get` and `get_to_file`: offsets, resume, absent objects.

use ferry_backends::{Backend, ErrorKind};

use super::{ProgressLog, assert_kind, cleanup, put_bytes, random_bytes, read_all, scratch, under};

const MIB: usize = 1024 * 1024;

pub async fn get_from_offsets(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let path = under(&prefix, "obj");
    let data = random_bytes(MIB + 1);
    put_bytes(b, &path, &data).await?;
    let len = data.len();
    for offset in [0, 1, 4096, len - 1, len] {
        let got = read_all(b, &path, offset as u64).await?;
        anyhow::ensure!(got == data[offset..], "offset {offset}");
    }
    cleanup(b, &prefix, &[]).await
}

pub async fn get_of_absent_is_not_found(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    assert_kind(
        b.get(&under(&prefix, "absent"), 0).await.map(|_| ()),
        ErrorKind::NotFound,
    )
}

pub async fn get_to_file_into_new_file(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let path = under(&prefix, "obj");
    let data = random_bytes(3 * MIB + 7);
    put_bytes(b, &path, &data).await?;
    let local = tempfile::tempdir()?;
    let dest = local.path().join("new file");
    let log = ProgressLog::default();
    b.get_to_file(&path, &dest, &|n| log.record(n)).await?;
    anyhow::ensure!(std::fs::read(&dest)? == data);
    log.assert_grows_to(data.len() as u64)?;
    cleanup(b, &prefix, &[]).await
}

pub async fn get_to_file_resumes_a_partial_file(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let path = under(&prefix, "obj");
    let data = random_bytes(MIB + 3);
    put_bytes(b, &path, &data).await?;
    let local = tempfile::tempdir()?;
    let dest = local.path().join("partial");
    // A marker in the kept part proves the prefix was appended to, not fetched again.
    let mut partial = data[..1000].to_vec();
    partial[10] ^= 0xff;
    std::fs::write(&dest, &partial)?;
    let log = ProgressLog::default();
    b.get_to_file(&path, &dest, &|n| log.record(n)).await?;
    let mut expected = data.to_vec();
    expected[10] ^= 0xff;
    anyhow::ensure!(
        std::fs::read(&dest)? == expected,
        "not appended from the partial length"
    );
    log.assert_grows_to(data.len() as u64)?;
    cleanup(b, &prefix, &[]).await
}

pub async fn get_to_file_leaves_a_complete_file_alone(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let path = under(&prefix, "obj");
    let data = random_bytes(5000);
    put_bytes(b, &path, &data).await?;
    let local = tempfile::tempdir()?;
    let dest = local.path().join("complete");
    std::fs::write(&dest, &data)?;
    let log = ProgressLog::default();
    b.get_to_file(&path, &dest, &|n| log.record(n)).await?;
    anyhow::ensure!(std::fs::read(&dest)? == data);
    log.assert_grows_to(data.len() as u64)?;
    cleanup(b, &prefix, &[]).await
}

pub async fn get_to_file_rewrites_a_longer_file(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let path = under(&prefix, "obj");
    let data = random_bytes(5000);
    put_bytes(b, &path, &data).await?;
    let local = tempfile::tempdir()?;
    let dest = local.path().join("longer");
    std::fs::write(&dest, random_bytes(9000))?;
    let log = ProgressLog::default();
    b.get_to_file(&path, &dest, &|n| log.record(n)).await?;
    anyhow::ensure!(std::fs::read(&dest)? == data);
    log.assert_grows_to(data.len() as u64)?;
    cleanup(b, &prefix, &[]).await
}

pub async fn get_to_file_of_absent_is_not_found(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let local = tempfile::tempdir()?;
    let dest = local.path().join("dest");
    assert_kind(
        b.get_to_file(&under(&prefix, "absent"), &dest, &|_| {})
            .await,
        ErrorKind::NotFound,
    )
}

pub async fn get_to_file_of_empty_object(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let path = under(&prefix, "empty");
    put_bytes(b, &path, &bytes::Bytes::new()).await?;
    let local = tempfile::tempdir()?;
    let dest = local.path().join("dest");
    b.get_to_file(&path, &dest, &|_| {}).await?;
    anyhow::ensure!(std::fs::metadata(&dest)?.len() == 0);
    cleanup(b, &prefix, &[]).await
}

//! `rename` and `remove_empty_dir` (export's RENAMEEXPORT and REMOVEEXPORTDIRECTORY).

use ferry_backends::{Backend, ErrorKind};

use super::{assert_kind, cleanup, put_bytes, random_bytes, read_all, scratch, under};

pub async fn rename_moves_the_object(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let from = under(&prefix, "old name");
    let to = under(&prefix, "new dir/deeper/new name");
    let data = random_bytes(4321);
    put_bytes(b, &from, &data).await?;
    b.rename(&from, &to).await?;
    anyhow::ensure!(b.stat(&from).await?.is_none());
    anyhow::ensure!(read_all(b, &to, 0).await? == data);
    cleanup(b, &prefix, &[]).await
}

pub async fn rename_replaces_the_target(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let from = under(&prefix, "a");
    let to = under(&prefix, "b");
    let data = random_bytes(10);
    put_bytes(b, &from, &data).await?;
    put_bytes(b, &to, &random_bytes(1000)).await?;
    b.rename(&from, &to).await?;
    anyhow::ensure!(read_all(b, &to, 0).await? == data);
    anyhow::ensure!(b.stat(&from).await?.is_none());
    cleanup(b, &prefix, &[]).await
}

pub async fn rename_of_absent_is_not_found(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    assert_kind(
        b.rename(&under(&prefix, "absent"), &under(&prefix, "b"))
            .await,
        ErrorKind::NotFound,
    )?;
    anyhow::ensure!(b.stat(&under(&prefix, "b")).await?.is_none());
    Ok(())
}

pub async fn remove_empty_dir_keeps_objects(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let kept = under(&prefix, "dir/kept");
    let gone = under(&prefix, "dir/sub/gone");
    put_bytes(b, &kept, &random_bytes(3)).await?;
    put_bytes(b, &gone, &random_bytes(3)).await?;
    b.delete(&gone).await?;
    b.remove_empty_dir(&under(&prefix, "dir")).await?;
    anyhow::ensure!(
        b.stat(&kept).await?.is_some(),
        "remove_empty_dir deleted an object"
    );
    b.delete(&kept).await?;
    b.remove_empty_dir(&under(&prefix, "dir")).await?;
    b.remove_empty_dir(&under(&prefix, "never/was")).await?;
    if b.capabilities().list {
        anyhow::ensure!(b.list(Some(&prefix)).await?.is_empty());
    }
    cleanup(b, &prefix, &[]).await
}

//! `delete`: absent is success; only the named object goes.

use ferry_backends::Backend;

use super::{cleanup, put_bytes, random_bytes, read_all, scratch, under};

pub async fn delete_of_absent_succeeds(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    b.delete(&under(&prefix, "absent")).await?;
    b.delete(&under(&prefix, "e7d/d01/absent")).await?;
    Ok(())
}

pub async fn delete_removes_only_that_object(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let gone = under(&prefix, "dir/gone");
    let kept = under(&prefix, "dir/kept");
    let data = random_bytes(100);
    put_bytes(b, &gone, &data).await?;
    put_bytes(b, &kept, &data).await?;
    b.delete(&gone).await?;
    anyhow::ensure!(b.stat(&gone).await?.is_none());
    anyhow::ensure!(read_all(b, &kept, 0).await? == data);
    // Twice is fine too (git-annex removes every chunk key it ever knew).
    b.delete(&gone).await?;
    cleanup(b, &prefix, &[]).await
}

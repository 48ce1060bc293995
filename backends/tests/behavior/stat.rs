//! `stat`: `Ok(None)` for absent objects, length and time for present ones.

use std::time::{Duration, SystemTime};

use ferry_backends::Backend;

use super::{cleanup, put_bytes, random_bytes, scratch, under};

pub async fn stat_of_absent_is_none(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    anyhow::ensure!(b.stat(&under(&prefix, "absent")).await?.is_none());
    anyhow::ensure!(b.stat(&under(&prefix, "e7d/d01/absent")).await?.is_none());
    Ok(())
}

pub async fn stat_gives_length_and_time(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let path = under(&prefix, "e7d/d01/obj");
    let before = SystemTime::now() - Duration::from_secs(60);
    put_bytes(b, &path, &random_bytes(12345)).await?;
    let meta = b
        .stat(&path)
        .await?
        .ok_or_else(|| anyhow::anyhow!("stored object absent"))?;
    anyhow::ensure!(meta.len == 12345);
    if let Some(modified) = meta.modified {
        anyhow::ensure!(
            modified >= before,
            "modification time {modified:?} is in the past"
        );
    }
    // A directory on the way to objects is not an object.
    anyhow::ensure!(!matches!(b.stat(&under(&prefix, "e7d")).await, Ok(Some(_))));
    cleanup(b, &prefix, &[]).await
}

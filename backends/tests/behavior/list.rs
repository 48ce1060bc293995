//! `list`: every object below a prefix, recursively, with its length.

use ferry_backends::Backend;

use super::{cleanup, put_bytes, random_bytes, scratch, under};

pub async fn list_finds_objects_below_a_prefix(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    let other = scratch();
    let mut expected = Vec::new();
    for (i, rel) in ["a", "e7d/d01/K", "e7d/d01/L", "x/y/z/deep", "ab"]
        .iter()
        .enumerate()
    {
        let path = under(&prefix, rel);
        put_bytes(b, &path, &random_bytes(i * 3)).await?;
        expected.push((path, (i * 3) as u64));
    }
    put_bytes(b, &under(&other, "elsewhere"), &random_bytes(1)).await?;
    expected.sort();
    let mut listed: Vec<_> = b
        .list(Some(&prefix))
        .await?
        .into_iter()
        .map(|e| (e.path, e.meta.len))
        .collect();
    listed.sort();
    anyhow::ensure!(listed == expected, "listed {listed:?}");
    let sub: Vec<_> = b
        .list(Some(&under(&prefix, "e7d")))
        .await?
        .into_iter()
        .map(|e| e.path)
        .collect();
    anyhow::ensure!(sub.len() == 2, "listed below e7d: {sub:?}");
    let whole = b.list(None).await?;
    anyhow::ensure!(whole.iter().any(|e| e.path == under(&other, "elsewhere")));
    anyhow::ensure!(
        whole
            .iter()
            .all(|e| !e.path.as_str().contains(".ferry-tmp"))
    );
    cleanup(b, &prefix, &[]).await?;
    cleanup(b, &other, &[]).await
}

pub async fn list_of_absent_prefix_is_empty(b: &dyn Backend) -> anyhow::Result<()> {
    let prefix = scratch();
    anyhow::ensure!(b.list(Some(&prefix)).await?.is_empty());
    Ok(())
}

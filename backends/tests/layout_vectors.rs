//! Every row of `layout-vectors.tsv` (31 keys × 5 layouts): the key must land at exactly the
//! path git-annex-remote-rclone and rclone gitannex use.

use std::path::PathBuf;

use ferry_backends::layout::{Layout, object_path};
use remote_proto::Key;

/// The copy checked into this repository; the test must pass from a clean clone.
fn in_repo_copy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/layout-vectors.tsv")
}

/// The shared original, when this checkout sits next to it.
fn shared_original() -> Option<PathBuf> {
    let path = match std::env::var_os("FERRY_SHARED") {
        Some(dir) => PathBuf::from(dir).join("layout-vectors.tsv"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/layout-vectors.tsv"),
    };
    path.exists().then_some(path)
}

#[test]
fn every_layout_vector_matches_byte_for_byte() -> anyhow::Result<()> {
    let text = std::fs::read_to_string(in_repo_copy())?;
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("key\tlayout\tpath\tnote"));
    let mut rows = 0;
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [key, layout, path, note] = fields[..] else {
            anyhow::bail!("row {}: expected 4 tab-separated fields: {line:?}", n + 2);
        };
        let key = Key::parse(key).map_err(|e| anyhow::anyhow!("row {}: {e}", n + 2))?;
        let layout: Layout = layout.parse()?;
        let got = object_path(layout, None, &key)?;
        assert_eq!(got.as_str(), path, "row {}: {key} {layout}", n + 2);
        // `escaped` marks exactly the rows whose object name is not the raw key.
        assert_eq!(
            note == "escaped",
            key.file_name() != key.as_str(),
            "row {}: note {note:?}",
            n + 2
        );
        rows += 1;
    }
    assert_eq!(rows, 155);
    Ok(())
}

#[test]
fn in_repo_vectors_are_the_shared_ones() -> anyhow::Result<()> {
    let Some(shared) = shared_original() else {
        eprintln!("note: ../shared/layout-vectors.tsv not found; checked the in-repo copy only");
        return Ok(());
    };
    assert!(
        std::fs::read(shared)? == std::fs::read(in_repo_copy())?,
        "backends/tests/data/layout-vectors.tsv differs from the shared file; copy it again"
    );
    Ok(())
}

//! Unfinished multipart uploads on S3 (against `rclone serve s3`, which implements
//! ListMultipartUploads, ListParts and AbortMultipartUpload): a STORE killed mid-upload leaves
//! one, which ferry finds under its own prefix and aborts once it is stale, and never before.
//! The upload is started with curl, so that the server holds a real unfinished upload that
//! ferry's own code did not make.

use std::time::Duration;

use ferry_backends::s3::STALE_UPLOAD_AGE;
use ferry_backends::{Backend, ObjectPath};

use crate::servers;

/// Leaves an unfinished multipart upload at `name` in the store, as a client killed after
/// CreateMultipartUpload leaves it: the request is sent by curl (SigV4), independently of
/// the code under test.
fn unfinished_upload(server: &servers::S3Server, prefix: &str, name: &str) {
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "-X",
            "POST",
            "--aws-sigv4",
            "aws:amz:us-east-1:s3",
            "--user",
        ])
        .arg(format!("{}:{}", server.key, server.secret))
        .arg(format!(
            "{}/{}/{prefix}/{name}?uploads=",
            server.endpoint, server.bucket
        ))
        .output()
        .expect("run curl");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("<UploadId>"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_store_is_aborted_once_stale_and_other_prefixes_are_left_alone() {
    let server = servers::s3_server();
    let prefix = servers::fresh_prefix();
    let ours = server.backend(&server.endpoint, &prefix, servers::test_http());
    let other_prefix = servers::fresh_prefix();
    let theirs = server.backend(&server.endpoint, &other_prefix, servers::test_http());
    unfinished_upload(&server, &prefix, "killed");
    unfinished_upload(&server, &other_prefix, "elsewhere");

    let left = ours.unfinished_uploads().await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].0, format!("{prefix}/killed"));
    // Nothing is visible at the object's path.
    assert!(
        ours.stat(&ObjectPath::new("killed").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // Started (and last written) seconds ago: far from STALE_UPLOAD_AGE, so it could be live.
    assert_eq!(STALE_UPLOAD_AGE, Duration::from_secs(86_400));
    assert_eq!(ours.clean_stale_uploads().await.unwrap(), 0);
    assert_eq!(ours.unfinished_uploads().await.unwrap(), left);

    // The same check with a zero age takes every upload as stale: ours is aborted...
    assert_eq!(ours.abort_stale_uploads(Duration::ZERO).await.unwrap(), 1);
    assert!(ours.unfinished_uploads().await.unwrap().is_empty());
    assert_eq!(ours.abort_stale_uploads(Duration::ZERO).await.unwrap(), 0);
    // ...and the one under another prefix is not.
    let elsewhere = theirs.unfinished_uploads().await.unwrap();
    assert_eq!(elsewhere.len(), 1, "{elsewhere:?}");
    assert_eq!(theirs.abort_stale_uploads(Duration::ZERO).await.unwrap(), 1);
}

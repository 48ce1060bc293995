//! Whole sessions without ASYNC, as git-annex 10.20261026 runs them (protocol.md §2.1, §14.2).

use std::sync::Arc;

use remote_proto::Extension;

use crate::harness::{Annexd, MemRemote, PROGRESS_STEPS, key};

const K: &str = "SHA256E-s6--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.txt";
const OFFER: &str = "EXTENSIONS INFO GETGITREMOTENAME UNAVAILABLERESPONSE TRANSFER-RETRIEVE-URL CHECKPRESENT-URL IMPORTKEY DELEGATE ASYNC";

#[tokio::test]
async fn full_sequential_session_like_git_annex_copy() {
    let remote = Arc::new(MemRemote::with_extensions(vec![
        Extension::Info,
        Extension::GetGitRemoteName,
    ]));
    let mut a = Annexd::start(remote.clone()).await;
    a.ask(OFFER, "EXTENSIONS INFO GETGITREMOTENAME").await;

    a.send("PREPARE").await;
    a.expect("GETCONFIG directory").await;
    a.send("VALUE /tmp/store/store one").await;
    a.expect("GETCREDS mycreds").await;
    a.send("CREDS alice s3cr3t and more").await;
    a.expect("PREPARE-SUCCESS").await;

    a.ask("GETCOST", "UNSUPPORTED-REQUEST").await;
    a.ask(
        &format!("CHECKPRESENT {K}"),
        &format!("CHECKPRESENT-FAILURE {K}"),
    )
    .await;
    a.ask(&format!("REMOVE {K}"), &format!("REMOVE-SUCCESS {K}"))
        .await;

    let file = format!(".git/annex/objects/mK/4w/{K}/{K}");
    a.send(&format!("TRANSFER STORE {K} {file}")).await;
    a.expect(&format!("DIRHASH {K}")).await;
    a.send("VALUE mK/4w/").await;
    // Two PROGRESS calls in a row without yielding are coalesced into the newest one.
    a.expect("PROGRESS 6").await;
    a.expect(&format!("TRANSFER-SUCCESS STORE {K}")).await;

    a.ask(
        &format!("CHECKPRESENT {K}"),
        &format!("CHECKPRESENT-SUCCESS {K}"),
    )
    .await;
    a.ask(
        &format!("TRANSFER RETRIEVE {K} ../.git/annex/tmp/{K}"),
        &format!("TRANSFER-SUCCESS RETRIEVE {K}"),
    )
    .await;
    a.ask(&format!("REMOVE {K}"), &format!("REMOVE-SUCCESS {K}"))
        .await;
    a.ask(
        &format!("TRANSFER RETRIEVE {K} .git/annex/tmp/{K}"),
        &format!("TRANSFER-FAILURE RETRIEVE {K} {K} is not stored here"),
    )
    .await;
    a.finish().await.unwrap();

    let log = remote.log.lock().unwrap().clone();
    assert_eq!(
        log,
        vec![
            "prepare dir=/tmp/store/store one user=alice password=s3cr3t and more".to_owned(),
            format!("retrieve {K} into ../.git/annex/tmp/{K}"),
        ]
    );
}

#[tokio::test]
async fn no_extensions_line_means_no_extensions() {
    let remote = Arc::new(MemRemote::with_extensions(vec![Extension::Async]));
    let mut a = Annexd::start(remote).await;
    // Old git-annex never sends EXTENSIONS: requests come untagged straight away.
    a.send("PREPARE").await;
    a.expect("GETCONFIG directory").await;
    a.send("VALUE").await;
    a.expect("GETCREDS mycreds").await;
    a.send("CREDS  ").await;
    a.expect("PREPARE-SUCCESS").await;
    a.finish().await.unwrap();
}

#[tokio::test]
async fn refused_query_is_a_failed_query_not_the_end() {
    let remote = Arc::new(MemRemote::default());
    let mut a = Annexd::start(remote.clone()).await;
    a.ask("EXTENSIONS INFO ASYNC", "EXTENSIONS").await;
    a.send("LISTCONFIGS").await;
    a.expect("GETUUID").await;
    a.send("ERROR cannot send GETUUID here").await;
    a.expect("CONFIG directory where to store the objects")
        .await;
    a.expect("CONFIGEND").await;
    a.ask("INITREMOTE", "SETCONFIG setbyinit yes").await;
    a.expect("INITREMOTE-SUCCESS").await;
    a.finish().await.unwrap();
    let log = remote.log.lock().unwrap().clone();
    assert_eq!(
        log,
        vec![
            "listconfigs uuid=Err(Refused { query: \"GETUUID\", message: \"cannot send GETUUID here\" })"
                .to_owned()
        ]
    );
}

#[tokio::test]
async fn multi_line_answers_and_url_lists() {
    let mut a = Annexd::start(Arc::new(MemRemote::default())).await;
    a.send("GETINFO").await;
    a.expect("INFOFIELD store directory").await;
    a.expect("INFOVALUE /tmp/store").await;
    a.expect("INFOEND").await;
    a.send(&format!("WHEREIS {K}")).await;
    a.expect(&format!("GETURLS {K} ")).await;
    a.send("VALUE http://a/1").await;
    a.send("VALUE http://a/2 with space").await;
    a.send("VALUE ").await;
    a.expect("WHEREIS-SUCCESS http://a/1 http://a/2 with space")
        .await;
    // Unimplemented optional requests fall back to UNSUPPORTED-REQUEST.
    a.ask("GETAVAILABILITY", "UNSUPPORTED-REQUEST").await;
    a.ask("IMPORTSUPPORTED", "UNSUPPORTED-REQUEST").await;
    a.ask("LISTIMPORTABLECONTENTS", "UNSUPPORTED-REQUEST").await;
    a.finish().await.unwrap();
}

#[tokio::test]
async fn export_flow_with_rename_through_temp_name() {
    let remote = Arc::new(MemRemote::default());
    let mut a = Annexd::start(remote.clone()).await;
    a.ask("EXPORTSUPPORTED", "EXPORTSUPPORTED-SUCCESS").await;
    a.send("EXPORT dir one/file a.txt").await;
    a.ask(
        &format!("CHECKPRESENTEXPORT {K}"),
        &format!("CHECKPRESENT-FAILURE {K}"),
    )
    .await;
    a.send("EXPORT dir one/file a.txt").await;
    a.ask(
        &format!("TRANSFEREXPORT STORE {K} .git/annex/objects/x7/01/{K}/{K}"),
        &format!("TRANSFER-SUCCESS STORE {K}"),
    )
    .await;
    a.send("EXPORT dir one/file a.txt").await;
    let tmp = format!(".git-annex-tmp-content-{K}");
    a.ask(
        &format!("RENAMEEXPORT {K} {tmp}"),
        &format!("RENAMEEXPORT-SUCCESS {K}"),
    )
    .await;
    a.send(&format!("EXPORT {tmp}")).await;
    a.ask(
        &format!("RENAMEEXPORT {K} c  d.txt"),
        &format!("RENAMEEXPORT-SUCCESS {K}"),
    )
    .await;
    // The name stays in force until replaced.
    a.ask(
        &format!("CHECKPRESENTEXPORT {K}"),
        &format!("CHECKPRESENT-FAILURE {K}"),
    )
    .await;
    a.send("EXPORT c  d.txt").await;
    a.ask(
        &format!("CHECKPRESENTEXPORT {K}"),
        &format!("CHECKPRESENT-SUCCESS {K}"),
    )
    .await;
    a.finish().await.unwrap();
    let ex = remote.exports.lock().unwrap().clone();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex.get("c  d.txt").map(String::as_str), Some(K));
}

#[tokio::test]
async fn export_request_without_export_name_fails_cleanly() {
    let mut a = Annexd::start(Arc::new(MemRemote::default())).await;
    a.ask(
        &format!("CHECKPRESENTEXPORT {K}"),
        &format!(
            "CHECKPRESENT-UNKNOWN {K} CHECKPRESENTEXPORT arrived without a preceding EXPORT naming its location"
        ),
    )
    .await;
    a.finish().await.unwrap();
}

#[tokio::test]
async fn checkpresent_error_is_unknown_never_failure() {
    let mut a = Annexd::start(Arc::new(MemRemote::default())).await;
    let k = "SHA256E-s1--unreachable.txt";
    a.ask(
        &format!("CHECKPRESENT {k}"),
        &format!("CHECKPRESENT-UNKNOWN {k} cannot reach the store"),
    )
    .await;
    a.finish().await.unwrap();
}

#[tokio::test]
async fn panicking_handler_gets_a_failure_reply_and_the_session_goes_on() {
    let mut a = Annexd::start(Arc::new(MemRemote::default())).await;
    let k = "SHA256E-s1--panic.txt";
    a.send(&format!("TRANSFER STORE {k} f")).await;
    let line = a.recv().await;
    assert!(
        line.starts_with(&format!(
            "TRANSFER-FAILURE STORE {k} internal error: boom while storing"
        )),
        "{line}"
    );
    a.ask(
        &format!("CHECKPRESENT {k}"),
        &format!("CHECKPRESENT-FAILURE {k}"),
    )
    .await;
    a.finish().await.unwrap();
}

#[tokio::test]
async fn eof_cancels_running_handlers_and_returns_promptly() {
    let remote = Arc::new(MemRemote::default());
    let mut a = Annexd::start(remote).await;
    a.send("TRANSFER STORE SHA256E-s1--block.txt f").await;
    // The handler blocks forever; git-annex closes stdin. `finish` fails the test if run
    // does not return within its patience.
    a.finish().await.unwrap();
}

#[tokio::test]
async fn eof_answers_a_waiting_query_with_closed() {
    let remote = Arc::new(MemRemote::default());
    let mut a = Annexd::start(remote.clone()).await;
    a.send("PREPARE").await;
    a.expect("GETCONFIG directory").await;
    a.finish().await.unwrap();
    assert!(remote.log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn requests_queue_in_order_without_async() {
    let remote = Arc::new(MemRemote::default());
    let mut a = Annexd::start(remote).await;
    // A peer that does not wait for replies still gets them in request order.
    let k1 = key("SHA256E-s1--one.txt");
    let k2 = key("SHA256E-s2--two.txt");
    a.send(&format!("TRANSFER STORE {k1} f1")).await;
    a.send(&format!("CHECKPRESENT {k2}")).await;
    a.expect(&format!("DIRHASH {k1}")).await;
    a.send(&format!(
        "VALUE {}",
        remote_proto::dirhash::hashdir_mixed(&k1)
    ))
    .await;
    a.expect("PROGRESS 1").await;
    a.expect(&format!("TRANSFER-SUCCESS STORE {k1}")).await;
    a.expect(&format!("CHECKPRESENT-FAILURE {k2}")).await;
    a.finish().await.unwrap();
}

#[tokio::test]
async fn progress_is_coalesced_when_the_reader_is_slow() {
    let remote = Arc::new(MemRemote::default());
    // A pipe of 256 bytes: the writer blocks after a few lines while nobody reads.
    let mut a = Annexd::start_with_pipe_size(remote.clone(), 256).await;
    let k = "SHA256E-s10000--progress.bin";
    a.send(&format!("TRANSFER STORE {k} f")).await;
    // Read nothing until the handler has reported all its progress: it must not block on
    // the stuck writer, and the values it reported meanwhile must not pile up.
    tokio::time::timeout(crate::harness::PATIENCE, remote.progress_sent.notified())
        .await
        .expect("progress() blocked");
    // Without the INFO extension, info() falls back to DEBUG.
    a.expect("DEBUG sending lots of progress").await;
    let mut values = Vec::new();
    loop {
        let line = a.recv().await;
        if let Some(n) = line.strip_prefix("PROGRESS ") {
            values.push(n.parse::<u64>().unwrap());
            continue;
        }
        assert_eq!(line, format!("TRANSFER-SUCCESS STORE {k}"));
        break;
    }
    assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
    assert_eq!(values.last(), Some(&PROGRESS_STEPS));
    assert!(
        values.len() < 100,
        "{} PROGRESS lines were queued",
        values.len()
    );
    a.finish().await.unwrap();
}

//! ASYNC sessions: many jobs in one process, `J n` framing, answers routed per job.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use remote_proto::dirhash::hashdir_mixed;
use remote_proto::message::Outgoing;
use remote_proto::{Extension, Framed, Message, Reply};
use tokio::sync::Barrier;

use crate::harness::{Annexd, MemRemote, key};

const JOBS: u32 = 32;

fn async_remote() -> MemRemote {
    MemRemote::with_extensions(vec![Extension::Async, Extension::Info])
}

/// Captures `tracing` output so a test can read the driver's debug log.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn thirty_two_jobs_overlap_and_get_their_own_answers() {
    let log = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    // The test runtime is single-threaded, so a thread-local default sees every task.
    let _guard = tracing::subscriber::set_default(subscriber);

    thirty_two_overlapping_stores().await;

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let max_in_flight = text
        .lines()
        .filter(|l| l.contains("request started"))
        .filter_map(|l| l.split("in_flight=").nth(1))
        .filter_map(|n| n.split_whitespace().next()?.parse::<usize>().ok())
        .max();
    assert_eq!(max_in_flight, Some(JOBS as usize), "driver log:\n{text}");
}

#[tokio::test]
async fn export_names_are_kept_per_job() {
    let remote = Arc::new(async_remote());
    let mut a = Annexd::start(remote.clone()).await;
    a.ask("EXTENSIONS ASYNC", "EXTENSIONS ASYNC").await;
    let k1 = key("SHA256E-s1--one.txt");
    let k2 = key("SHA256E-s2--two.txt");
    a.send("J 1 EXPORT more.txt").await;
    a.send("J 2 EXPORT sub/deeper/s  t.txt").await;
    a.ask(
        &format!("J 2 TRANSFEREXPORT STORE {k2} /tmp/export73c7-3-2433811"),
        &format!("J 2 TRANSFER-SUCCESS STORE {k2}"),
    )
    .await;
    a.ask(
        &format!("J 1 TRANSFEREXPORT STORE {k1} .git/annex/objects/a/b"),
        &format!("J 1 TRANSFER-SUCCESS STORE {k1}"),
    )
    .await;
    a.ask(
        &format!("J 2 CHECKPRESENTEXPORT {k2}"),
        &format!("J 2 CHECKPRESENT-SUCCESS {k2}"),
    )
    .await;
    a.ask(
        &format!("J 1 CHECKPRESENTEXPORT {k2}"),
        &format!("J 1 CHECKPRESENT-FAILURE {k2}"),
    )
    .await;
    a.finish().await.unwrap();
    let ex = remote.exports.lock().unwrap().clone();
    assert_eq!(ex.get("more.txt"), Some(&k1.to_string()));
    assert_eq!(ex.get("sub/deeper/s  t.txt"), Some(&k2.to_string()));
}

#[tokio::test]
async fn untagged_error_answers_the_waiting_job() {
    let remote = Arc::new(async_remote());
    let mut a = Annexd::start(remote.clone()).await;
    a.ask("EXTENSIONS ASYNC", "EXTENSIONS ASYNC").await;
    a.send("J 1 LISTCONFIGS").await;
    a.expect("J 1 GETUUID").await;
    // git-annex never tags its ERROR, even when it answers a job's query.
    a.send("ERROR cannot send GETUUID here").await;
    a.expect("J 1 CONFIG directory where to store the objects")
        .await;
    a.expect("J 1 CONFIGEND").await;
    a.finish().await.unwrap();
}

#[tokio::test]
async fn untagged_request_while_async_is_answered_untagged() {
    let mut a = Annexd::start(Arc::new(async_remote())).await;
    a.ask("EXTENSIONS ASYNC", "EXTENSIONS ASYNC").await;
    let k = key("SHA256E-s1--x.txt");
    a.ask(
        &format!("CHECKPRESENT {k}"),
        &format!("CHECKPRESENT-FAILURE {k}"),
    )
    .await;
    a.ask(
        &format!("J 2 CHECKPRESENT {k}"),
        &format!("J 2 CHECKPRESENT-FAILURE {k}"),
    )
    .await;
    a.finish().await.unwrap();
}

#[tokio::test]
async fn stray_value_is_ignored_and_jobs_go_on() {
    let mut a = Annexd::start(Arc::new(async_remote())).await;
    a.ask("EXTENSIONS ASYNC", "EXTENSIONS ASYNC").await;
    a.send("J 3 VALUE nobody asked").await;
    a.send("VALUE nobody asked either").await;
    let k = key("SHA256E-s1--x.txt");
    a.ask(
        &format!("J 3 CHECKPRESENT {k}"),
        &format!("J 3 CHECKPRESENT-FAILURE {k}"),
    )
    .await;
    a.finish().await.unwrap();
}

#[tokio::test]
async fn unknown_and_malformed_tagged_requests_answer_their_job() {
    let mut a = Annexd::start(Arc::new(async_remote())).await;
    a.ask("EXTENSIONS ASYNC", "EXTENSIONS ASYNC").await;
    a.ask("J 4 FROBNICATE now", "J 4 UNSUPPORTED-REQUEST").await;
    a.ask(
        "J 5 TRANSFER STORE",
        "J 5 ERROR TRANSFER needs a direction, a key and a file",
    )
    .await;
    a.finish().await.unwrap();
}

/// 32 jobs each STORE a key, all in flight at once, each asking DIRHASH; the answers come back
/// in reverse order. Asserts every reply and PROGRESS went to the right job.
async fn thirty_two_overlapping_stores() {
    let remote = Arc::new(MemRemote {
        // Every STORE waits until all 32 are in flight: if the driver ran them one at a
        // time, this would never complete and the harness would time out.
        store_barrier: Some(Barrier::new(JOBS as usize)),
        ..async_remote()
    });
    let mut a = Annexd::start(remote.clone()).await;
    a.ask(
        "EXTENSIONS INFO GETGITREMOTENAME ASYNC",
        "EXTENSIONS ASYNC INFO",
    )
    .await;
    a.send("J 1 PREPARE").await;
    a.expect("J 1 GETCONFIG directory").await;
    a.send("J 1 VALUE /tmp/store").await;
    a.expect("J 1 GETCREDS mycreds").await;
    a.send("J 1 CREDS u p").await;
    a.expect("J 1 PREPARE-SUCCESS").await;

    let keys: HashMap<u32, remote_proto::Key> = (1..=JOBS)
        .map(|n| (n, key(&format!("SHA256E-s{}--file{n}.bin", 1000 + n))))
        .collect();
    for n in 1..=JOBS {
        a.send(&format!(
            "J {n} TRANSFER STORE {} .git/annex/objects/{n}",
            keys[&n]
        ))
        .await;
    }

    // Play git-annex: answer each job's DIRHASH, in reverse order of arrival, and collect the
    // final replies.
    let mut asked: Vec<(u32, remote_proto::Key)> = Vec::new();
    let mut done: HashSet<u32> = HashSet::new();
    let mut progress_seen: HashMap<u32, u64> = HashMap::new();
    while done.len() < JOBS as usize {
        let line = a.recv().await;
        let framed = Framed::parse(&line).unwrap();
        let job = framed.job.expect("every line is tagged under ASYNC");
        match Outgoing::parse(&framed.line).unwrap() {
            Outgoing::Message(Message::DirHash(k)) => {
                assert_eq!(k, keys[&job], "job {job} asked about another job's key");
                asked.push((job, k));
                if asked.len() == JOBS as usize {
                    for (j, k) in asked.drain(..).rev() {
                        a.send(&format!("J {j} VALUE {}", hashdir_mixed(&k))).await;
                    }
                }
            }
            Outgoing::Message(Message::Progress(n)) => {
                let last = progress_seen.insert(job, n).unwrap_or(0);
                assert!(n >= last, "progress of job {job} went backwards");
                assert!(
                    !done.contains(&job),
                    "PROGRESS after the final reply of job {job}"
                );
            }
            Outgoing::Reply(Reply::TransferSuccess { key: k, .. }) => {
                assert_eq!(k, keys[&job], "job {job} got another job's reply");
                assert!(done.insert(job), "job {job} answered twice");
            }
            other => panic!("unexpected line {line}: {other:?}"),
        }
    }
    assert_eq!(remote.max_in_store.load(Ordering::SeqCst), JOBS as usize);
    assert_eq!(remote.objects.lock().unwrap().len(), JOBS as usize);
    for n in 1..=JOBS {
        assert_eq!(progress_seen.get(&n), keys[&n].size().as_ref(), "job {n}");
    }

    // Jobs are reused for later requests, for other keys.
    a.ask(
        &format!("J 7 CHECKPRESENT {}", keys[&3]),
        &format!("J 7 CHECKPRESENT-SUCCESS {}", keys[&3]),
    )
    .await;
    a.finish().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_jobs_on_a_multi_threaded_runtime() {
    for _ in 0..5 {
        thirty_two_overlapping_stores().await;
    }
}

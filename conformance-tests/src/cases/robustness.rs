//! robustness: lines git-annex would never send (empty, truncated, huge, binary, unknown or
//! lower-case verbs) and the awkward answers it does send (`ERROR cannot send GETUUID here`,
//! empty values). The remote may refuse, but must not crash, hang or go silent; afterwards it
//! must still answer a plain CHECKPRESENT.

use std::time::{Duration, Instant};

use remote_proto::async_jobs;
use remote_proto::{Direction, Reply, Request};

use super::{Test, absent_key, retrieve_of_absent_fails, still_answers};
use crate::annex::QueryPolicy;
use crate::ctx::Ctx;
use crate::remote::{Event, transfer};
use crate::verdict::{Fail, TestResult, Verdict};

const G: &str = "robustness";

/// The tests of this group.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(G, "empty_line", empty_line),
        Test::new(G, "missing_fields", missing_fields),
        Test::with(G, "huge_line_64KiB", |ctx| huge_line(ctx, 64 << 10)),
        Test::with(G, "huge_line_1MiB", |ctx| huge_line(ctx, 1 << 20)),
        Test::new(G, "binary_line", binary_line),
        Test::new(G, "unknown_verbs", unknown_verbs),
        Test::new(G, "lowercase_verbs", lowercase_verbs),
        Test::new(G, "error_reply_to_queries", error_reply_to_queries),
        Test::new(G, "empty_value_replies", empty_values),
        Test::new(G, "works_after_a_failed_request", after_failure),
        Test::new(G, "exits_on_stdin_eof", exits_on_eof),
    ]
}

/// How a junk line must be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Anything that is not a crash: ERROR (even followed by an exit), UNSUPPORTED-REQUEST, a
    /// failure reply, or silence.
    Lenient,
    /// It is a request git-annex might add one day: UNSUPPORTED-REQUEST, and go on.
    Unsupported,
}

/// A junk line: text (tagged `J 1` in ASYNC mode, as git-annex would send it) or raw bytes.
enum Junk {
    Text(String),
    Raw(Vec<u8>, String),
}

/// Sends one junk line to a fresh remote, then a CHECKPRESENT that must be answered correctly.
fn junk(ctx: &mut Ctx, junk: Junk, want: Answer) -> Result<String, Fail> {
    let mut r = ctx.start()?;
    r.lenient_untagged = true;
    let tag = if r.is_async() { Some(1) } else { None };
    let shown = match junk {
        Junk::Text(line) => {
            let framed = async_jobs::frame(tag, &line);
            r.send_line(&framed);
            framed
        }
        Junk::Raw(bytes, shown) => {
            r.send_raw(bytes, &shown);
            shown
        }
    };
    let mut answers: Vec<String> = Vec::new();
    // First let the remote answer the junk on its own: git-annex never sends a request before
    // the previous one is answered, and a remote that took the junk for a request may be asking
    // a query whose answer must not be confused with the next request. Silence is allowed.
    let grace = GRACE.min(ctx.opts.timeout);
    loop {
        match r.next_event_within(grace, &shown)? {
            None => break,
            Some(Event::Message { .. }) => {}
            Some(Event::Reply { reply, line, .. }) => {
                check_junk_answer(want, &reply, &line, &shown)?;
                answers.push(line);
                if reply.is_final() {
                    break;
                }
            }
            Some(Event::Eof) => return exited(&mut r, want, &answers, &shown, ""),
        }
    }
    let key = absent_key(ctx, "after-junk");
    let check = async_jobs::frame(tag, Request::CheckPresent(key.clone()));
    r.send_line(&check);
    loop {
        match r.next_event(&check)? {
            Event::Message { .. } => {}
            Event::Reply { reply, line, .. } => {
                if reply_key_is(&reply, key.as_str()) {
                    if !matches!(reply, Reply::CheckPresentFailure(_)) {
                        return Err(Fail::exchange(
                            "after the junk line, CHECKPRESENT got a wrong answer",
                            &check,
                            format!("CHECKPRESENT-FAILURE {key}"),
                            line,
                        ));
                    }
                    break;
                }
                // A late or second answer to the junk.
                check_junk_answer(want, &reply, &line, &shown)?;
                answers.push(line);
            }
            Event::Eof => return exited(&mut r, want, &answers, &shown, &check),
        }
    }
    if want == Answer::Unsupported && answers.is_empty() {
        return Err(Fail::exchange(
            "an unknown request got no reply at all",
            &shown,
            "UNSUPPORTED-REQUEST",
            "<nothing before the next reply>",
        ));
    }
    Ok(if answers.is_empty() {
        "ignored".to_owned()
    } else {
        format!("answered `{}`", answers.join(" / "))
    })
}

/// How long a junk line may go unanswered before the suite moves on (silence is allowed).
const GRACE: Duration = Duration::from_secs(3);

fn check_junk_answer(want: Answer, reply: &Reply, line: &str, shown: &str) -> Result<(), Fail> {
    if want == Answer::Unsupported && !matches!(reply, Reply::UnsupportedRequest) {
        return Err(Fail::exchange(
            "an unknown request must get UNSUPPORTED-REQUEST",
            shown,
            "UNSUPPORTED-REQUEST",
            line,
        ));
    }
    Ok(())
}

/// The verdict when the remote exited after a junk line: fine after an ERROR (lenient only).
fn exited(
    r: &mut crate::remote::Remote,
    want: Answer,
    answers: &[String],
    shown: &str,
    check: &str,
) -> Result<String, Fail> {
    let status = r.exit_text();
    let said_error = answers.iter().any(|a| a.starts_with("ERROR"));
    if want == Answer::Lenient && said_error {
        return Ok(format!("answered `{}` and exited", answers.join(" / ")));
    }
    Err(Fail::exchange(
        format!("the remote exited ({status}) instead of answering"),
        if check.is_empty() {
            shown.to_owned()
        } else {
            format!("{shown} / {check}")
        },
        match want {
            Answer::Lenient => {
                "ERROR <msg> (or UNSUPPORTED-REQUEST), then an answer to CHECKPRESENT"
            }
            Answer::Unsupported => "UNSUPPORTED-REQUEST, then CHECKPRESENT-FAILURE",
        },
        if answers.is_empty() {
            "<EOF>".to_owned()
        } else {
            format!("{} / <EOF>", answers.join(" / "))
        },
    ))
}

fn reply_key_is(reply: &Reply, key: &str) -> bool {
    match reply {
        Reply::CheckPresentSuccess(k)
        | Reply::CheckPresentFailure(k)
        | Reply::CheckPresentUnknown { key: k, .. } => k.as_str() == key,
        _ => false,
    }
}

fn several(ctx: &mut Ctx, lines: Vec<Junk>, want: Answer) -> TestResult {
    let mut notes = Vec::new();
    for j in lines {
        notes.push(junk(ctx, j, want)?);
    }
    notes.dedup();
    Ok(Verdict::Pass(notes.join("; ")))
}

fn empty_line(ctx: &mut Ctx) -> TestResult {
    several(
        ctx,
        vec![Junk::Raw(b"\n".to_vec(), String::new())],
        Answer::Lenient,
    )
}

fn missing_fields(ctx: &mut Ctx) -> TestResult {
    let key = absent_key(ctx, "k");
    several(
        ctx,
        vec![
            Junk::Text("TRANSFER".to_owned()),
            Junk::Text("TRANSFER STORE".to_owned()),
            Junk::Text(format!("TRANSFER RETRIEVE {key}")),
            Junk::Text("CHECKPRESENT".to_owned()),
            Junk::Text("REMOVE".to_owned()),
        ],
        Answer::Lenient,
    )
}

/// A CHECKPRESENT whose key is `len` bytes long: more than any fixed line buffer holds.
fn huge_line(ctx: &mut Ctx, len: usize) -> TestResult {
    let line = format!("CHECKPRESENT MD5E-s1--{}", "a".repeat(len));
    several(ctx, vec![Junk::Text(line)], Answer::Lenient)
}

fn binary_line(ctx: &mut Ctx) -> TestResult {
    let bytes = b"\x00\x01\xff\xfe CHECKPRESENT \x80\x9f\x00\n".to_vec();
    several(
        ctx,
        vec![Junk::Raw(
            bytes,
            "<binary: 00 01 ff fe … 80 9f 00>".to_owned(),
        )],
        Answer::Lenient,
    )
}

fn unknown_verbs(ctx: &mut Ctx) -> TestResult {
    several(
        ctx,
        vec![
            Junk::Text("FROBNICATE".to_owned()),
            Junk::Text("GETSOMETHINGNEW a b  c".to_owned()),
            Junk::Text("TRANSFERX STORE MD5E-s1--x .git/annex/tmp/x".to_owned()),
        ],
        Answer::Unsupported,
    )
}

/// Commands are case-sensitive, so a lower-case verb is not a request git-annex would send;
/// refusing it or (leniently) serving it are both fine, crashing is not.
fn lowercase_verbs(ctx: &mut Ctx) -> TestResult {
    let key = absent_key(ctx, "k");
    several(
        ctx,
        vec![
            Junk::Text(format!("checkpresent {key}")),
            Junk::Text("prepare".to_owned()),
        ],
        Answer::Lenient,
    )
}

/// Runs PREPARE and a small data cycle with queries answered per `policy`; every request must
/// get a valid reply (success or failure), and the remote must not die or hang.
fn with_policy(ctx: &mut Ctx, policy: QueryPolicy, watched: &[&str]) -> TestResult {
    let mut r = ctx.connect()?;
    r.policy = policy;
    let mut asked: Vec<String> = Vec::new();
    let prep = r.request(&Request::Prepare)?;
    asked.extend(prep.notes.iter().cloned());
    let prepared = matches!(prep.reply(), Some(Reply::PrepareSuccess));
    if prepared {
        let (key, data) = ctx.content("object", 1000);
        let src = ctx.source(&key, &data)?;
        let dest = ctx.fresh_dest(&key);
        for req in [
            transfer(Direction::Store, &key, &src),
            Request::CheckPresent(key.clone()),
            transfer(Direction::Retrieve, &key, &dest),
            Request::Remove(key.clone()),
        ] {
            let ex = r.request(&req)?;
            asked.extend(ex.notes.iter().cloned());
        }
    }
    r.close_stdin();
    let hits: Vec<&String> = asked
        .iter()
        .filter(|n| watched.iter().any(|w| n.starts_with(w)))
        .collect();
    let outcome = if prepared {
        "PREPARE-SUCCESS"
    } else {
        "PREPARE-FAILURE"
    };
    Ok(Verdict::Pass(if hits.is_empty() {
        format!("{outcome}; the remote never asked {}", watched.join("/"))
    } else {
        format!(
            "{outcome}; coped with {} answered that way",
            hits.iter()
                .map(|s| s.split(' ').next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }))
}

fn error_reply_to_queries(ctx: &mut Ctx) -> TestResult {
    with_policy(
        ctx,
        QueryPolicy::RefuseIdentity,
        &["GETUUID", "GETCREDS", "GETSTATE", "GETGITREMOTENAME"],
    )
}

fn empty_values(ctx: &mut Ctx) -> TestResult {
    with_policy(
        ctx,
        QueryPolicy::EmptyValues,
        &[
            "GETCONFIG",
            "GETUUID",
            "GETSTATE",
            "GETWANTED",
            "GETGITREMOTENAME",
        ],
    )
}

/// A failed request is answered with its failure reply, and the next one is served normally
/// (`rclone gitannex` answers the next request with ERROR and exits).
fn after_failure(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.start()?;
    retrieve_of_absent_fails(ctx, &mut r)?;
    still_answers(ctx, &mut r)?;
    Ok(Verdict::Pass(String::new()))
}

/// git-annex closes stdin when done and waits for the remote to exit; a lingering remote slows
/// every command down.
fn exits_on_eof(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.start()?;
    let t = Instant::now();
    r.close_stdin();
    match r.wait_exit(ctx.opts.timeout) {
        Some(status) => {
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            ctx.metric("exit after EOF", ms, "ms");
            Ok(Verdict::Pass(format!(
                "{} after {ms:.0} ms",
                crate::remote::describe_status(status)
            )))
        }
        None => Err(Fail::new(format!(
            "still running {} s after its stdin was closed (git-annex waits for it)",
            ctx.opts.timeout.as_secs()
        ))),
    }
}

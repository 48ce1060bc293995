//! async: with ASYNC, many jobs share one process. 32 requests go out before any reply is
//! read; every reply and every query must carry its own job's tag, and the content must end up
//! under the right key.

use remote_proto::{Direction, Extension, Key, Reply, Request};

use super::Test;
use crate::ctx::Ctx;
use crate::remote::{Exchange, transfer};
use crate::verdict::{Fail, TestResult, Verdict};

const G: &str = "async";
const JOBS: usize = 32;

/// The tests of this group.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(G, "jobs_32_in_flight", jobs_in_flight),
        Test::new(G, "jobs_reused_for_many_requests", jobs_reused),
    ]
}

/// N/A unless the remote negotiates ASYNC.
pub fn needs_async(ctx: &mut Ctx) -> Result<Option<Verdict>, Fail> {
    let probe = ctx.probe()?;
    Ok(if probe.extensions.contains(&Extension::Async) {
        None
    } else {
        Some(Verdict::NotApplicable(
            "the remote does not use ASYNC".to_owned(),
        ))
    })
}

fn expect_all(exs: &[Exchange], ok: fn(&Reply) -> bool, expected: &str) -> Result<(), Fail> {
    for ex in exs {
        if !ex.reply().is_some_and(ok) {
            return Err(Fail::exchange(
                format!("job {:?} got the wrong reply", ex.job),
                &ex.sent,
                expected,
                ex.received(),
            ));
        }
    }
    Ok(())
}

/// How many replies arrived in a different order than their requests were sent.
fn out_of_order(exs: &[Exchange]) -> usize {
    exs.iter()
        .enumerate()
        .filter(|(i, ex)| ex.completed != *i)
        .count()
}

fn jobs_in_flight(ctx: &mut Ctx) -> TestResult {
    if let Some(na) = needs_async(ctx)? {
        return Ok(na);
    }
    let mut items: Vec<(Key, Vec<u8>, String, String)> = Vec::new();
    for i in 0..JOBS {
        let (key, data) = ctx.content(&format!("job{i}"), 1000 + 4099 * i as u64);
        let src = ctx.source(&key, &data)?;
        let dest = ctx.fresh_dest(&key);
        items.push((key, data, src, dest));
    }
    let mut r = ctx.start()?;
    let stores: Vec<Request> = items
        .iter()
        .map(|(k, _, s, _)| transfer(Direction::Store, k, s))
        .collect();
    let exs = r.run_jobs(&stores, JOBS)?;
    expect_all(
        &exs,
        |rep| matches!(rep, Reply::TransferSuccess { .. }),
        "TRANSFER-SUCCESS STORE <its key>",
    )?;
    let shuffled = out_of_order(&exs);
    let present: Vec<Request> = items
        .iter()
        .map(|(k, ..)| Request::CheckPresent(k.clone()))
        .collect();
    let exs = r.run_jobs(&present, JOBS)?;
    expect_all(
        &exs,
        |rep| matches!(rep, Reply::CheckPresentSuccess(_)),
        "CHECKPRESENT-SUCCESS <its key>",
    )?;
    let retrieves: Vec<Request> = items
        .iter()
        .map(|(k, _, _, d)| transfer(Direction::Retrieve, k, d))
        .collect();
    let exs = r.run_jobs(&retrieves, JOBS)?;
    expect_all(
        &exs,
        |rep| matches!(rep, Reply::TransferSuccess { .. }),
        "TRANSFER-SUCCESS RETRIEVE <its key>",
    )?;
    for ((_, data, _, dest), ex) in items.iter().zip(&exs) {
        ctx.check_retrieved(ex, dest, data)?;
    }
    let removes: Vec<Request> = items
        .iter()
        .map(|(k, ..)| Request::Remove(k.clone()))
        .collect();
    let exs = r.run_jobs(&removes, JOBS)?;
    expect_all(
        &exs,
        |rep| matches!(rep, Reply::RemoveSuccess(_)),
        "REMOVE-SUCCESS <its key>",
    )?;
    let exs = r.run_jobs(&present, JOBS)?;
    expect_all(
        &exs,
        |rep| matches!(rep, Reply::CheckPresentFailure(_)),
        "CHECKPRESENT-FAILURE <its key>",
    )?;
    Ok(Verdict::Pass(format!(
        "{shuffled} of {JOBS} STORE replies came out of request order"
    )))
}

/// A job number stands for a worker and is reused for a series of requests, for different keys.
fn jobs_reused(ctx: &mut Ctx) -> TestResult {
    if let Some(na) = needs_async(ctx)? {
        return Ok(na);
    }
    let mut reqs = Vec::new();
    let mut keys = Vec::new();
    for i in 0..16 {
        let (key, data) = ctx.content(&format!("k{i}"), 100 + i);
        let src = ctx.source(&key, &data)?;
        reqs.push(Request::CheckPresent(key.clone()));
        reqs.push(transfer(Direction::Store, &key, &src));
        reqs.push(Request::CheckPresent(key.clone()));
        keys.push(key);
    }
    let mut r = ctx.start()?;
    // Three requests per key with four jobs: each job serves several keys in turn, and the
    // checks of one key may run on another job than its STORE, so the last round re-checks.
    let exs = r.run_jobs(&reqs, 4)?;
    for ex in &exs {
        if matches!(ex.request, Request::Transfer { .. })
            && !matches!(ex.reply(), Some(Reply::TransferSuccess { .. }))
        {
            return Err(Fail::exchange(
                "STORE failed",
                &ex.sent,
                "TRANSFER-SUCCESS STORE",
                ex.received(),
            ));
        }
    }
    let checks: Vec<Request> = keys
        .iter()
        .map(|k| Request::CheckPresent(k.clone()))
        .collect();
    let exs = r.run_jobs(&checks, 4)?;
    expect_all(
        &exs,
        |rep| matches!(rep, Reply::CheckPresentSuccess(_)),
        "CHECKPRESENT-SUCCESS <its key>",
    )?;
    let removes: Vec<Request> = keys.iter().map(|k| Request::Remove(k.clone())).collect();
    r.run_jobs(&removes, 4)?;
    Ok(Verdict::Pass(String::new()))
}

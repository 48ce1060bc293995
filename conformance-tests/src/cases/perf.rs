//! perf: operations per second for the requests git-annex sends most (CHECKPRESENT, STORE and
//! REMOVE of small files), in one process, with and without ASYNC. Speed never fails a test;
//! wrong replies do.

use std::time::Instant;

use remote_proto::{Direction, Reply, Request};

use super::async_jobs::needs_async;
use super::{Test, absent_key, rate};
use crate::ctx::{Ctx, Options};
use crate::remote::{Exchange, transfer};
use crate::verdict::{Fail, TestResult, Verdict};

const G: &str = "perf";

/// The tests of this group.
pub fn tests(opts: &Options) -> Vec<Test> {
    let n = opts.perf_count;
    let jobs = opts.perf_jobs;
    vec![
        Test::with(G, format!("checkpresent_x{n}"), move |ctx| {
            checkpresent(ctx, n, 1)
        }),
        Test::with(G, format!("store_remove_4KiB_x{n}"), move |ctx| {
            store_remove(ctx, n, 1)
        }),
        Test::with(G, format!("checkpresent_x{n}_async"), move |ctx| {
            checkpresent(ctx, n, jobs)
        }),
        Test::with(G, format!("store_remove_4KiB_x{n}_async"), move |ctx| {
            store_remove(ctx, n, jobs)
        }),
    ]
}

fn all_match(exs: &[Exchange], ok: impl Fn(&Exchange) -> bool, expected: &str) -> Result<(), Fail> {
    match exs.iter().find(|ex| !ok(ex)) {
        None => Ok(()),
        Some(ex) => Err(Fail::exchange(
            "wrong reply during the run",
            &ex.sent,
            expected,
            ex.received(),
        )),
    }
}

fn checkpresent(ctx: &mut Ctx, n: usize, jobs: usize) -> TestResult {
    if jobs > 1
        && let Some(na) = needs_async(ctx)?
    {
        return Ok(na);
    }
    let (key, data) = ctx.content("present", 4096);
    let src = ctx.source(&key, &data)?;
    let absent = absent_key(ctx, "absent");
    let mut r = ctx.start()?;
    r.store(&key, &src)?;
    let reqs: Vec<Request> = (0..n)
        .map(|i| {
            Request::CheckPresent(if i % 2 == 0 {
                key.clone()
            } else {
                absent.clone()
            })
        })
        .collect();
    let t = Instant::now();
    let exs = r.run_jobs(&reqs, jobs)?;
    let secs = t.elapsed().as_secs_f64();
    all_match(
        &exs,
        |ex| match &ex.request {
            Request::CheckPresent(k) if *k == key => {
                matches!(ex.reply(), Some(Reply::CheckPresentSuccess(_)))
            }
            _ => matches!(ex.reply(), Some(Reply::CheckPresentFailure(_))),
        },
        "CHECKPRESENT-SUCCESS for the stored key, CHECKPRESENT-FAILURE for the other",
    )?;
    r.remove(&key)?;
    let ops = rate(n as f64, secs);
    ctx.metric("checkpresent", ops, "ops/s");
    Ok(Verdict::Pass(format!(
        "{ops:.0} ops/s ({n} in {secs:.2} s, {jobs} job{})",
        if jobs == 1 { "" } else { "s" }
    )))
}

fn store_remove(ctx: &mut Ctx, n: usize, jobs: usize) -> TestResult {
    if jobs > 1
        && let Some(na) = needs_async(ctx)?
    {
        return Ok(na);
    }
    let mut stores = Vec::with_capacity(n);
    let mut removes = Vec::with_capacity(n);
    for i in 0..n {
        let (key, data) = ctx.content(&format!("small{i}"), 4096);
        let src = ctx.source(&key, &data)?;
        stores.push(transfer(Direction::Store, &key, &src));
        removes.push(Request::Remove(key));
    }
    let mut r = ctx.start()?;
    let t = Instant::now();
    let exs = r.run_jobs(&stores, jobs)?;
    let store_secs = t.elapsed().as_secs_f64();
    all_match(
        &exs,
        |ex| matches!(ex.reply(), Some(Reply::TransferSuccess { .. })),
        "TRANSFER-SUCCESS STORE",
    )?;
    let t = Instant::now();
    let exs = r.run_jobs(&removes, jobs)?;
    let remove_secs = t.elapsed().as_secs_f64();
    all_match(
        &exs,
        |ex| matches!(ex.reply(), Some(Reply::RemoveSuccess(_))),
        "REMOVE-SUCCESS",
    )?;
    for req in &stores {
        if let Request::Transfer { file, .. } = req {
            let _ = std::fs::remove_file(ctx.sandbox.abs(file));
        }
    }
    let (s, d) = (rate(n as f64, store_secs), rate(n as f64, remove_secs));
    ctx.metric("store 4KiB", s, "ops/s");
    ctx.metric("remove", d, "ops/s");
    Ok(Verdict::Pass(format!(
        "store {s:.0} ops/s, remove {d:.0} ops/s ({n} each, {jobs} job{})",
        if jobs == 1 { "" } else { "s" }
    )))
}

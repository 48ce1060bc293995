//! data: STORE / CHECKPRESENT / RETRIEVE / REMOVE at the sizes where off-by-one and buffering
//! bugs live, and RETRIEVE into destinations git-annex leaves behind (resume).

use std::fs;
use std::time::Instant;

use remote_proto::{Direction, Reply, Request};

use super::{Test, absent_key, rate, retrieve_of_absent_fails};
use crate::content::size_label;
use crate::ctx::{Ctx, Options, same_bytes};
use crate::remote::transfer;
use crate::verdict::{TestResult, Verdict};

const G: &str = "data";
const MIB: u64 = 1 << 20;

/// The tests of this group.
pub fn tests(opts: &Options) -> Vec<Test> {
    let mut t = vec![
        Test::new(G, "remove_absent", remove_absent),
        Test::new(G, "checkpresent_absent", checkpresent_absent),
        Test::new(G, "retrieve_absent", retrieve_absent),
    ];
    for size in [0, 1, MIB - 1, MIB, MIB + 1, opts.big] {
        t.push(Test::with(
            G,
            format!("roundtrip_{}", size_label(size)),
            move |ctx| roundtrip(ctx, size),
        ));
    }
    for (name, dest) in [
        ("retrieve_resume_from_third", Dest::Third),
        ("retrieve_into_empty_dest", Dest::Empty),
        ("retrieve_into_complete_dest", Dest::Complete),
        ("retrieve_into_longer_dest", Dest::Longer),
    ] {
        t.push(Test::with(G, name, move |ctx| retrieve_into(ctx, dest)));
    }
    t
}

/// testremote checks this, and every chunked REMOVE targets chunks that never existed.
fn remove_absent(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.start()?;
    r.remove(&absent_key(ctx, "never-stored"))?;
    Ok(Verdict::Pass(String::new()))
}

fn checkpresent_absent(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.start()?;
    r.expect_absent(&absent_key(ctx, "never-stored"))?;
    Ok(Verdict::Pass(String::new()))
}

fn retrieve_absent(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.start()?;
    retrieve_of_absent_fails(ctx, &mut r)?;
    Ok(Verdict::Pass(String::new()))
}

/// The sequence `git annex testremote` runs per key, plus a check that the STORE source is left
/// untouched.
fn roundtrip(ctx: &mut Ctx, size: u64) -> TestResult {
    let (key, data) = ctx.content("object", size);
    let src = ctx.source(&key, &data)?;
    let mut r = ctx.start()?;
    r.remove(&key)
        .map_err(|f| f.context("removeKey when not present"))?;
    r.expect_absent(&key)?;
    let t = Instant::now();
    r.store(&key, &src)?;
    let store_secs = t.elapsed().as_secs_f64();
    r.expect_present(&key)?;
    r.store(&key, &src)
        .map_err(|f| f.context("storeKey when already present"))?;
    r.expect_present(&key)?;
    let dest = ctx.fresh_dest(&key);
    let t = Instant::now();
    let ex = r.retrieve(&key, &dest)?;
    let retrieve_secs = t.elapsed().as_secs_f64();
    ctx.check_retrieved(&ex, &dest, &data)?;
    same_bytes("the STORE source afterwards", &ctx.read(&src), &data)?;
    r.remove(&key)?;
    r.expect_absent(&key)
        .map_err(|f| f.context("after REMOVE"))?;
    let _ = fs::remove_file(ctx.sandbox.abs(&dest));
    if size >= MIB {
        let mb = size as f64 / 1e6;
        let (s, g) = (rate(mb, store_secs), rate(mb, retrieve_secs));
        ctx.metric("store", s, "MB/s");
        ctx.metric("retrieve", g, "MB/s");
        Ok(Verdict::Pass(format!(
            "store {s:.0} MB/s, retrieve {g:.0} MB/s"
        )))
    } else {
        Ok(Verdict::Pass(String::new()))
    }
}

/// What the RETRIEVE destination holds beforehand.
#[derive(Debug, Clone, Copy)]
enum Dest {
    /// The first third of the content (an interrupted earlier RETRIEVE).
    Third,
    /// An empty file.
    Empty,
    /// The whole content already.
    Complete,
    /// The content followed by stale bytes.
    Longer,
}

/// git-annex hands RETRIEVE a File that may already hold data; the result must be exactly the
/// content (testremote's "resume from 0/33%/end"; appending to a complete file corrupts it).
fn retrieve_into(ctx: &mut Ctx, dest_kind: Dest) -> TestResult {
    let (key, data) = ctx.content("object", MIB + 1);
    let src = ctx.source(&key, &data)?;
    let mut r = ctx.start()?;
    r.store(&key, &src)?;
    let dest = ctx.fresh_dest(&key);
    let before: Vec<u8> = match dest_kind {
        Dest::Third => data[..data.len() / 3].to_vec(),
        Dest::Empty => Vec::new(),
        Dest::Complete => data.clone(),
        Dest::Longer => {
            let mut v = data.clone();
            v.extend_from_slice(&[0xAA; 4096]);
            v
        }
    };
    fs::write(ctx.sandbox.abs(&dest), &before)?;
    let ex = r.request(&transfer(Direction::Retrieve, &key, &dest))?;
    let ex = ex.expect(
        |rep| matches!(rep, Reply::TransferSuccess { .. }),
        &format!("TRANSFER-SUCCESS RETRIEVE {key}"),
        "RETRIEVE into an existing destination failed",
    )?;
    let got = ctx.read(&dest);
    same_bytes(
        &format!("RETRIEVE into a destination holding {} bytes", before.len()),
        &got,
        &data,
    )
    .map_err(|mut f| {
        f.sent = Some(ex.sent.clone());
        f.expected = Some(format!("{} bytes, exactly the stored content", data.len()));
        f.received = Some(format!("{} bytes ({})", got.len(), ex.received()));
        f
    })?;
    let _ = r.request(&Request::Remove(key));
    Ok(Verdict::Pass(String::new()))
}

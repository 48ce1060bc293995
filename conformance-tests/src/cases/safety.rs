//! safety: the two lies that lose data. CHECKPRESENT-FAILURE while the storage is unreachable
//! (git-annex then forgets a copy that exists) and a partial object that CHECKPRESENT reports
//! present after a crash (git-annex then drops the last good copy elsewhere).

use std::time::Instant;

use remote_proto::async_jobs;
use remote_proto::{Direction, Key, Message, Reply, Request};

use super::{Test, absent_key};
use crate::content::size_label;
use crate::ctx::{Ctx, Options, same_bytes};
use crate::remote::{Event, Remote, transfer};
use crate::verdict::{Fail, TestResult, Verdict};

const G: &str = "safety";

/// The tests of this group.
pub fn tests(opts: &Options) -> Vec<Test> {
    let big = opts.big;
    vec![
        Test::new(
            G,
            "checkpresent_unreachable_is_unknown",
            checkpresent_unreachable,
        ),
        Test::new(G, "store_while_unreachable_fails", store_unreachable),
        Test::with(
            G,
            format!("store_killed_midway_{}", size_label(big)),
            move |ctx| killed_midway(ctx, big),
        ),
    ]
}

/// The `--break` and `--heal` commands, or the verdict when they were not given.
fn break_heal(ctx: &Ctx) -> Result<(String, String), Verdict> {
    match (&ctx.opts.break_cmd, &ctx.opts.heal_cmd) {
        (Some(b), Some(h)) => Ok((b.clone(), h.clone())),
        (None, _) => Err(Verdict::Skip("skipped: no --break given".to_owned())),
        (Some(_), None) => Err(Verdict::Skip(
            "skipped: --break needs a --heal to undo it".to_owned(),
        )),
    }
}

/// Runs `body` with the storage broken, healing it afterwards whatever happened.
fn while_broken<T>(
    ctx: &mut Ctx,
    cmds: &(String, String),
    body: impl FnOnce(&mut Ctx) -> Result<T, Fail>,
) -> Result<T, Fail> {
    ctx.shell("--break", &cmds.0)?;
    let result = body(ctx);
    let healed = ctx.shell("--heal", &cmds.1);
    let value = result?;
    healed?;
    Ok(value)
}

/// Checks one CHECKPRESENT while unreachable: UNKNOWN (or an ERROR, which git-annex also treats
/// as "cannot tell") passes; SUCCESS or FAILURE fails.
fn unknown_or_error(r: &mut Remote, key: &Key, what: &str) -> Result<String, Fail> {
    let ex = r.request(&Request::CheckPresent(key.clone()))?;
    match ex.reply() {
        Some(Reply::CheckPresentUnknown { .. }) => Ok("UNKNOWN".to_owned()),
        Some(Reply::Error(_)) => Ok("ERROR (git-annex treats it as unknown)".to_owned()),
        Some(Reply::CheckPresentFailure(_)) => Err(Fail::exchange(
            format!(
                "CHECKPRESENT-FAILURE for {what} while the storage is unreachable: git-annex takes it as verified absent (fsck --from then forgets the copy)"
            ),
            &ex.sent,
            format!("CHECKPRESENT-UNKNOWN {key} <why>"),
            ex.received(),
        )),
        _ => Err(Fail::exchange(
            format!("wrong answer for {what} while the storage is unreachable"),
            &ex.sent,
            format!("CHECKPRESENT-UNKNOWN {key} <why>"),
            ex.received(),
        )),
    }
}

fn checkpresent_unreachable(ctx: &mut Ctx) -> TestResult {
    let cmds = match break_heal(ctx) {
        Ok(c) => c,
        Err(v) => return Ok(v),
    };
    let (key, data) = ctx.content("stored", 1000);
    let src = ctx.source(&key, &data)?;
    let absent = absent_key(ctx, "never-stored");
    let mut early = ctx.start()?;
    early.store(&key, &src)?;
    let notes = while_broken(ctx, &cmds, |ctx| {
        let mut notes = Vec::new();
        // A process prepared while the storage was there (the disk goes away mid-command).
        notes.push(format!(
            "same process: present key {}",
            unknown_or_error(&mut early, &key, "a stored key (process started before)")?
        ));
        // A process started while it is away.
        let mut r = ctx.connect()?;
        let prep = r.request(&Request::Prepare)?;
        if let Some(Reply::PrepareFailure(msg)) = prep.reply() {
            notes.push(format!("new process: PREPARE-FAILURE ({msg})"));
            return Ok(notes);
        }
        notes.push(format!(
            "new process: present key {}",
            unknown_or_error(&mut r, &key, "a stored key")?
        ));
        notes.push(format!(
            "absent key {}",
            unknown_or_error(&mut r, &absent, "a key that was never stored")?
        ));
        Ok(notes)
    })?;
    drop(early);
    let mut r = ctx.start()?;
    r.expect_present(&key)
        .map_err(|f| f.context("after --heal the stored key must be present again"))?;
    r.remove(&key)?;
    Ok(Verdict::Pass(notes.join("; ")))
}

/// A STORE while the storage is away must fail, not recreate the store somewhere (a directory
/// remote that `mkdir -p`s its root writes into the empty mount point).
fn store_unreachable(ctx: &mut Ctx) -> TestResult {
    let cmds = match break_heal(ctx) {
        Ok(c) => c,
        Err(v) => return Ok(v),
    };
    let (canary, cdata) = ctx.content("before", 500);
    let csrc = ctx.source(&canary, &cdata)?;
    let (key, data) = ctx.content("during", 700);
    let src = ctx.source(&key, &data)?;
    ctx.start()?.store(&canary, &csrc)?;
    let note = while_broken(ctx, &cmds, |ctx| {
        let mut r = ctx.connect()?;
        let prep = r.request(&Request::Prepare)?;
        if let Some(Reply::PrepareFailure(msg)) = prep.reply() {
            return Ok(format!("PREPARE-FAILURE ({msg})"));
        }
        let ex = r.request(&transfer(Direction::Store, &key, &src))?;
        match ex.reply() {
            Some(Reply::TransferFailure { msg, .. }) => Ok(format!("TRANSFER-FAILURE ({msg})")),
            Some(Reply::Error(msg)) => Ok(format!("ERROR ({msg})")),
            _ => Err(Fail::exchange(
                "STORE succeeded while the storage was unreachable: where did the bytes go?",
                &ex.sent,
                format!("TRANSFER-FAILURE STORE {key} <why>"),
                ex.received(),
            )),
        }
    })?;
    let mut r = ctx.start()?;
    r.expect_present(&canary).map_err(|f| {
        f.context("after --heal, CHECKPRESENT of a key stored before --break (if it is gone: was the store recreated while it was away?)")
    })?;
    let ex = r.request(&Request::CheckPresent(key.clone()))?;
    if matches!(ex.reply(), Some(Reply::CheckPresentSuccess(_))) {
        return Err(Fail::exchange(
            "a STORE that failed while the storage was away left the key present",
            &ex.sent,
            format!("CHECKPRESENT-FAILURE {key}"),
            ex.received(),
        ));
    }
    r.remove(&canary)?;
    let _ = r.request(&Request::Remove(key));
    Ok(Verdict::Pass(note))
}

/// How many STOREs the kill test starts before it gives up on killing one midway.
const KILL_ATTEMPTS: u32 = 3;

/// `kill -9` during a STORE (of the remote and its children), then CHECKPRESENT in a fresh
/// process must not say present unless the whole object is there.
fn killed_midway(ctx: &mut Ctx, size: u64) -> TestResult {
    let (probe_key, probe_data) = ctx.content("timing", size);
    let probe_src = ctx.source(&probe_key, &probe_data)?;
    let (key, data) = ctx.content("killed", size);
    let src = ctx.source(&key, &data)?;
    // How long a whole STORE takes: the fallback kill time when no PROGRESS comes.
    let mut r = ctx.start()?;
    let t = Instant::now();
    r.store(&probe_key, &probe_src)?;
    let mut full = t.elapsed();
    r.remove(&probe_key)?;
    drop(r);

    // A busy machine can make the timing STORE slow and the real one fast (a warm page
    // cache), so that the real one ends before any PROGRESS; try again with the time the
    // finished attempt took, and skip only when every attempt outran the kill.
    let mut attempt = 0;
    let how = loop {
        attempt += 1;
        let mut r = ctx.start()?;
        let tag = if r.is_async() { Some(1) } else { None };
        let sent = async_jobs::frame(tag, transfer(Direction::Store, &key, &src));
        r.send_line(&sent);
        let started = Instant::now();
        let deadline = started + full / 2;
        let mut progressed = false;
        let outcome = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() && !progressed {
                r.kill();
                break Some(format!(
                    "killed after {:.0} ms without PROGRESS (half of a whole STORE)",
                    (full / 2).as_secs_f64() * 1000.0
                ));
            }
            // Once PROGRESS comes, the kill waits for --kill-at-mib rather than the clock.
            let wait = if progressed { ctx.opts.timeout } else { left };
            match r.next_event_within(wait, &sent)? {
                None if progressed => {
                    r.kill();
                    break Some(format!(
                        "killed after PROGRESS stopped for {:.0} s",
                        wait.as_secs_f64()
                    ));
                }
                None => continue,
                Some(Event::Message {
                    msg: Message::Progress(n),
                    ..
                }) if n > 0 && n < size => {
                    progressed = true;
                    if n < ctx.opts.kill_at {
                        continue;
                    }
                    r.kill();
                    break Some(format!("killed at PROGRESS {n} of {size}"));
                }
                Some(Event::Message { .. }) => continue,
                Some(Event::Reply { line, .. }) => {
                    let _ = r.request(&Request::Remove(key.clone()));
                    if attempt >= KILL_ATTEMPTS {
                        return Ok(Verdict::Skip(format!(
                            "skipped: the STORE finished ({line}) before it could be killed, {KILL_ATTEMPTS} times; a whole STORE takes {:.0} ms",
                            full.as_secs_f64() * 1000.0
                        )));
                    }
                    full = started.elapsed();
                    break None;
                }
                Some(Event::Eof) => {
                    return Err(Fail::exchange(
                        "the remote exited during the STORE",
                        &sent,
                        "PROGRESS … TRANSFER-SUCCESS",
                        "<EOF>",
                    ));
                }
            }
        };
        drop(r);
        if let Some(how) = outcome {
            break how;
        }
    };

    let mut r = ctx.start().map_err(|f| f.context("after the kill"))?;
    let ex = r.request(&Request::CheckPresent(key.clone()))?;
    let note = match ex.reply() {
        Some(Reply::CheckPresentFailure(_)) => format!("{how}; then CHECKPRESENT-FAILURE"),
        Some(Reply::CheckPresentUnknown { .. }) => format!("{how}; then CHECKPRESENT-UNKNOWN"),
        Some(Reply::CheckPresentSuccess(_)) => {
            // Present is only true if the whole object made it before the kill.
            let dest = ctx.fresh_dest(&key);
            let got = r
                .retrieve(&key, &dest)
                .map(|_| ctx.read(&dest))
                .unwrap_or_default();
            if got != data {
                return Err(Fail::exchange(
                    format!(
                        "{how}; afterwards CHECKPRESENT says present, but the object holds {} of {} bytes: a partial upload is visible (not atomic)",
                        got.len(),
                        data.len()
                    ),
                    &ex.sent,
                    format!("CHECKPRESENT-FAILURE {key}"),
                    ex.received(),
                ));
            }
            format!("{how}; the whole object had been stored before the kill took effect")
        }
        _ => {
            return Err(Fail::exchange(
                "wrong answer after the kill",
                &ex.sent,
                format!("CHECKPRESENT-FAILURE {key}"),
                ex.received(),
            ));
        }
    };
    // And it recovers: the same key stores and retrieves whole.
    r.remove(&key)
        .map_err(|f| f.context("REMOVE after the kill"))?;
    r.store(&key, &src)
        .map_err(|f| f.context("STORE again after the kill"))?;
    let dest = ctx.fresh_dest(&key);
    r.retrieve(&key, &dest)?;
    same_bytes("RETRIEVE after storing again", &ctx.read(&dest), &data)?;
    let _ = std::fs::remove_file(ctx.sandbox.abs(&dest));
    r.remove(&key)?;
    Ok(Verdict::Pass(note))
}

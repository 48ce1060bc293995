//! progress: PROGRESS values are cumulative byte counts, so they only grow and never exceed
//! the size (git-annex uses them for its meter and for stall detection).

use super::Test;
use crate::content::size_label;
use crate::ctx::{Ctx, Options};
use crate::remote::Exchange;
use crate::verdict::{Fail, TestResult, Verdict};

const G: &str = "progress";

/// The tests of this group.
pub fn tests(opts: &Options) -> Vec<Test> {
    let big = opts.big;
    vec![
        Test::with(G, format!("store_{}", size_label(big)), move |ctx| {
            progress(ctx, big, true)
        }),
        Test::with(G, format!("retrieve_{}", size_label(big)), move |ctx| {
            progress(ctx, big, false)
        }),
    ]
}

fn progress(ctx: &mut Ctx, size: u64, store: bool) -> TestResult {
    let (key, data) = ctx.content("object", size);
    let src = ctx.source(&key, &data)?;
    let mut r = ctx.start()?;
    let ex = r.store(&key, &src)?;
    let checked = if store {
        ex
    } else {
        let dest = ctx.fresh_dest(&key);
        let ex = r.retrieve(&key, &dest)?;
        let _ = std::fs::remove_file(ctx.sandbox.abs(&dest));
        ex
    };
    let _ = r.remove(&key);
    Ok(Verdict::Pass(check(&checked, size)?))
}

/// Checks an exchange's PROGRESS values; returns a summary for the report.
///
/// # Errors
/// When a value goes down or beyond `size`.
pub fn check(ex: &Exchange, size: u64) -> Result<String, Fail> {
    let p = &ex.progress;
    if p.is_empty() {
        return Ok(
            "no PROGRESS sent (allowed; git-annex's stall detection then cannot see the transfer)"
                .to_owned(),
        );
    }
    for pair in p.windows(2) {
        if pair[1] < pair[0] {
            return Err(Fail::exchange(
                format!("PROGRESS went down from {} to {}", pair[0], pair[1]),
                &ex.sent,
                "PROGRESS values that only grow",
                format!("PROGRESS {}", pair[1]),
            ));
        }
    }
    if let Some(&over) = p.iter().find(|&&n| n > size) {
        return Err(Fail::exchange(
            format!("PROGRESS {over} is beyond the size {size}"),
            &ex.sent,
            format!("PROGRESS values up to {size}"),
            format!("PROGRESS {over}"),
        ));
    }
    Ok(format!(
        "{} PROGRESS lines, last {}",
        p.len(),
        p.last().copied().unwrap_or_default()
    ))
}

//! `ferry-conformance`: a conformance suite for git-annex external special remotes.
//!
//! It starts any remote program and plays git-annex's side of the protocol itself, with no
//! git-annex and no repository: a sandbox directory stands in for the repository
//! ([`sandbox`]), an in-memory map for its configuration and state ([`annex`]), and every line
//! in both directions is parsed and printed by `remote-proto`.
//!
//! Layout:
//! - [`remote`]: one running remote (spawn, pipes with timeouts, ASYNC jobs, transcript);
//! - [`annex`]: the answers to the remote's queries (GETCONFIG, SETCONFIG, DIRHASH, …);
//! - [`check`]: which replies may answer which request;
//! - [`cases`]: the tests, one module per group; [`ctx`]: what they share;
//! - [`report`]: rows, table, JSON; [`output`]: the only code that prints to stdout.
//!
//! Each test returns a [`verdict::TestResult`]; one test's failure never stops the run, and
//! most tests start fresh remote processes so that one broken state does not spill over.

pub mod annex;
pub mod cases;
pub mod check;
pub mod content;
pub mod ctx;
pub mod output;
pub mod remote;
pub mod report;
pub mod sandbox;
pub mod verdict;

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use ctx::{Ctx, Options};
use report::{Report, Row, Status};
use sandbox::Sandbox;
use verdict::{Fail, Verdict};

/// Which tests to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Run only these groups (all when empty).
    pub groups: Vec<String>,
    /// Leave these groups out.
    pub skip_groups: Vec<String>,
    /// Run only tests whose `group/name` contains one of these (all when empty).
    pub only: Vec<String>,
}

impl Selection {
    fn wants(&self, group: &str, name: &str) -> bool {
        // The others depend on what INITREMOTE stores.
        if group == "handshake" && name == "initremote" {
            return true;
        }
        let label = format!("{group}/{name}");
        (self.groups.is_empty() || self.groups.iter().any(|g| g == group))
            && !self.skip_groups.iter().any(|g| g == group)
            && (self.only.is_empty() || self.only.iter().any(|o| label.contains(o.as_str())))
    }
}

/// How many transcript lines a failure shows.
const TRANSCRIPT_TAIL: usize = 20;
/// How many stderr lines a failure shows.
const STDERR_TAIL: usize = 15;

/// Lists the tests that `sel` picks, as `group/name`.
pub fn list(opts: &Options, sel: &Selection) -> Vec<String> {
    cases::all(opts)
        .into_iter()
        .filter(|t| sel.wants(t.group, &t.name))
        .map(|t| format!("{}/{}", t.group, t.name))
        .collect()
}

/// Runs the selected tests against the remote, calling `on_row` as each one finishes.
///
/// # Errors
/// When the sandbox cannot be created.
pub fn run(
    opts: Options,
    sel: &Selection,
    keep: bool,
    mut on_row: impl FnMut(&Row),
) -> anyhow::Result<(Report, std::path::PathBuf)> {
    let sandbox = Sandbox::new(keep)?;
    let root = sandbox.root().to_path_buf();
    // `{store}` and `{sandbox}` name directories of this run's sandbox.
    let mut opts = opts;
    for (_, v) in &mut opts.params {
        *v = sandbox.expand(v);
    }
    opts.break_cmd = opts.break_cmd.map(|c| sandbox.expand(&c));
    opts.heal_cmd = opts.heal_cmd.map(|c| sandbox.expand(&c));
    let tests = cases::all(&opts);
    let mut report = Report {
        remote: std::iter::once(opts.program.path.clone())
            .chain(opts.program.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" "),
        params: opts.params.clone(),
        rows: Vec::new(),
    };
    let mut ctx = Ctx::new(opts, sandbox);
    for test in tests.iter().filter(|t| sel.wants(t.group, &t.name)) {
        ctx.begin(test.group, &test.name);
        let start = Instant::now();
        let result =
            catch_unwind(AssertUnwindSafe(|| (test.run)(&mut ctx))).unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                Err(Fail::new(format!("the suite itself panicked: {what}")))
            });
        let seconds = start.elapsed().as_secs_f64();
        let (status, detail, fail) = match result {
            Ok(Verdict::Pass(d)) => (Status::Pass, d, None),
            Ok(Verdict::Skip(d)) => (Status::Skip, d, None),
            Ok(Verdict::NotApplicable(d)) => (Status::NotApplicable, d, None),
            Err(f) => (Status::Fail, f.summary.clone(), Some(f)),
        };
        let (transcript, stderr) = if fail.is_some() {
            (
                ctx.transcript.borrow().tail(TRANSCRIPT_TAIL),
                stderr_tail(&ctx.log),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let row = Row {
            group: test.group.to_owned(),
            name: test.name.clone(),
            status,
            detail,
            seconds,
            metrics: ctx.metrics.clone(),
            fail,
            transcript,
            stderr,
        };
        on_row(&row);
        report.rows.push(row);
    }
    Ok((report, root))
}

fn stderr_tail(path: &std::path::Path) -> Vec<String> {
    let text = fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    // The suite's own separators alone say nothing.
    if lines.iter().all(|l| l.starts_with("--- process p")) {
        return Vec::new();
    }
    let skip = lines.len().saturating_sub(STDERR_TAIL);
    lines[skip..].iter().map(|l| (*l).to_owned()).collect()
}

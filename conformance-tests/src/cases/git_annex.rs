//! git-annex: the real `git annex testremote` against the same remote, in a throwaway
//! repository, folded in as one row (`--git-annex`, or `--git-annex-fast` for `--fast`).

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Test;
use crate::ctx::{Ctx, Options, TestRemoteMode};
use crate::remote::which;
use crate::verdict::{Fail, TestResult, Verdict};

const G: &str = "git-annex";

/// The tests of this group (none unless asked for).
pub fn tests(opts: &Options) -> Vec<Test> {
    match opts.git_annex {
        None => Vec::new(),
        Some(TestRemoteMode::Full) => vec![Test::with(G, "testremote", |ctx| {
            testremote(ctx, TestRemoteMode::Full)
        })],
        Some(TestRemoteMode::Fast) => vec![Test::with(G, "testremote_fast", |ctx| {
            testremote(ctx, TestRemoteMode::Fast)
        })],
    }
}

/// The counts in tasty's summary line: `All 573 tests passed (31.05s)` or
/// `3 out of 573 tests failed (31.05s)`.
pub fn parse_summary(output: &str) -> Option<(u64, u64)> {
    for line in output.lines().rev() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["All", n, "tests", "passed", ..] = words.as_slice() {
            return Some((n.parse().ok()?, 0));
        }
        if let [failed, "out", "of", total, "tests", "failed", ..] = words.as_slice() {
            let (failed, total): (u64, u64) = (failed.parse().ok()?, total.parse().ok()?);
            return Some((total.saturating_sub(failed), failed));
        }
    }
    None
}

/// Runs a command in `dir`, with `limit`, appending its output to the test's log and transcript.
fn run(
    ctx: &Ctx,
    dir: &Path,
    path_env: &str,
    args: &[&str],
    limit: Duration,
) -> Result<(bool, String), Fail> {
    ctx.transcript
        .borrow_mut()
        .push(format!("$ {}", args.join(" ")));
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .current_dir(dir)
        .env("PATH", path_env)
        .env("GIT_AUTHOR_NAME", "ferry-conformance")
        .env("GIT_AUTHOR_EMAIL", "conformance@example.invalid")
        .env("GIT_COMMITTER_NAME", "ferry-conformance")
        .env("GIT_COMMITTER_EMAIL", "conformance@example.invalid")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Fail::new(format!("cannot run {}: {e}", args[0])))?;
    // Read both pipes on threads so a chatty child never blocks on a full pipe.
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut pipe| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    })
    .collect();
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut output = String::new();
    for r in readers {
        output.push_str(&String::from_utf8_lossy(&r.join().unwrap_or_default()));
    }
    let mut log = fs::read_to_string(&ctx.log).unwrap_or_default();
    log.push_str(&format!("$ {}\n{output}\n", args.join(" ")));
    let _ = fs::write(&ctx.log, log);
    for line in output
        .lines()
        .rev()
        .take(15)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        ctx.transcript.borrow_mut().push(format!("  {line}"));
    }
    match status {
        Some(s) => Ok((s.success(), output)),
        None => Err(Fail::new(format!(
            "`{}` did not finish within {} s",
            args.join(" "),
            limit.as_secs()
        ))),
    }
}

fn testremote(ctx: &mut Ctx, mode: TestRemoteMode) -> TestResult {
    let program = &ctx.opts.program;
    if !program.args.is_empty() {
        return Ok(Verdict::NotApplicable(
            "git-annex starts remotes without arguments; this one needs some".to_owned(),
        ));
    }
    let Some(path) = which(&program.path) else {
        return Err(Fail::new(format!("{} is not on PATH", program.path)));
    };
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(name) = file.strip_prefix("git-annex-remote-") else {
        return Ok(Verdict::NotApplicable(format!(
            "the program is not named git-annex-remote-NAME ({file}), so git-annex cannot find it"
        )));
    };
    let name = name.to_owned();
    let dir = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let abs_dir = fs::canonicalize(&dir).unwrap_or(dir);
    let old_path = std::env::var("PATH").unwrap_or_default();
    let path_env = format!("{}:{old_path}", abs_dir.display());
    if which("git-annex").is_none() {
        return Err(Fail::new("git-annex is not on PATH"));
    }
    let repo = ctx.sandbox.root().join("testremote-repo");
    fs::create_dir_all(&repo)?;
    let short = Duration::from_secs(300);
    let step = |ok: bool, what: &str, out: &str| -> Result<(), Fail> {
        if ok {
            Ok(())
        } else {
            Err(Fail::new(format!(
                "{what} failed: {}",
                out.lines().rev().take(3).collect::<Vec<_>>().join(" / ")
            )))
        }
    };
    let (ok, out) = run(ctx, &repo, &path_env, &["git", "init", "-q"], short)?;
    step(ok, "git init", &out)?;
    let (ok, out) = run(
        ctx,
        &repo,
        &path_env,
        &["git", "annex", "init", "-q", "conformance"],
        short,
    )?;
    step(ok, "git annex init", &out)?;
    let mut init: Vec<String> = [
        "git",
        "annex",
        "initremote",
        "t",
        "type=external",
        &format!("externaltype={name}"),
        "encryption=none",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A `prefix`-like value must not collide with what the suite's own tests stored.
    for (k, v) in &ctx.opts.params {
        init.push(format!("{k}={v}"));
    }
    let init_ref: Vec<&str> = init.iter().map(String::as_str).collect();
    let (ok, out) = run(ctx, &repo, &path_env, &init_ref, short)?;
    step(ok, "git annex initremote", &out)?;
    let mut args = vec!["git", "annex", "testremote", "t"];
    if mode == TestRemoteMode::Fast {
        args.push("--fast");
    }
    let t = Instant::now();
    let (ok, out) = run(ctx, &repo, &path_env, &args, Duration::from_secs(3 * 3600))?;
    let secs = t.elapsed().as_secs_f64();
    let Some((passed, failed)) = parse_summary(&out) else {
        return Err(Fail::new(format!(
            "git annex testremote printed no summary (exit {}): {}",
            if ok { "0" } else { "non-zero" },
            out.lines().rev().take(3).collect::<Vec<_>>().join(" / ")
        )));
    };
    ctx.metric("testremote passed", passed as f64, "tests");
    ctx.metric("testremote failed", failed as f64, "tests");
    let summary = format!("{passed} tests passed, {failed} failed, in {secs:.0} s");
    if ok && failed == 0 {
        Ok(Verdict::Pass(summary))
    } else {
        let failing: Vec<&str> = out
            .lines()
            .filter(|l| l.trim_end().ends_with("FAIL"))
            .take(10)
            .collect();
        Err(Fail::new(format!(
            "git annex testremote: {summary}; failing: {}",
            failing.join(" | ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tasty_summaries() {
        assert_eq!(
            parse_summary("x\nAll 573 tests passed (31.05s)\n"),
            Some((573, 0))
        );
        assert_eq!(
            parse_summary("3 out of 125 tests failed (0.50s)"),
            Some((122, 3))
        );
        assert_eq!(parse_summary("nothing here"), None);
    }
}

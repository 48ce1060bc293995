//! `ferry-conformance`: runs the conformance suite against any git-annex external special
//! remote program, playing git-annex's side of the protocol.
//!
//! ```text
//! ferry-conformance --remote git-annex-remote-ferry -c directory={store} \
//!     --break 'mv {store} {store}.away' --heal 'mv {store}.away {store}'
//! ferry-conformance --remote git-annex-remote-rclone -c target=local -c prefix={store} --json
//! ```
//! Exit status: 0 when nothing failed, 1 when a test failed, 2 on a usage or setup error.

use std::time::Duration;

use clap::Parser;
use ferry_conformance::ctx::{Options, TestRemoteMode};
use ferry_conformance::output::{self, Mode};
use ferry_conformance::remote::Program;
use ferry_conformance::{Selection, cases};

/// Conformance suite for git-annex external special remotes: starts REMOTE and plays
/// git-annex's side of the protocol (no git-annex, no repository needed).
///
/// `{store}` in -c values and in --break/--heal stands for an empty directory the suite creates
/// deep inside its sandbox; with it, the odd-keys group can prove that nothing is written
/// outside the store. `{sandbox}` stands for the sandbox root.
#[derive(Debug, Parser)]
#[command(name = "ferry-conformance", version, after_help = AFTER_HELP)]
struct Cli {
    /// The remote program (`git-annex-remote-NAME`, on PATH or a path).
    #[arg(long, value_name = "PROGRAM")]
    remote: String,
    /// An argument for the remote program (repeatable; git-annex itself passes none).
    #[arg(long = "remote-arg", value_name = "ARG", allow_hyphen_values = true)]
    remote_args: Vec<String>,
    /// A configuration value the remote reads with GETCONFIG, as given to initremote.
    #[arg(short = 'c', long = "config", value_name = "NAME=VALUE")]
    config: Vec<String>,
    /// Seconds to wait for any line from the remote before calling it a hang.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    timeout: u64,
    /// Shell command that makes the storage unreachable (for the safety group).
    #[arg(long = "break", value_name = "CMD")]
    break_cmd: Option<String>,
    /// Shell command that undoes --break.
    #[arg(long = "heal", value_name = "CMD")]
    heal_cmd: Option<String>,
    /// Smaller sizes and counts: 4 MiB instead of 64 MiB, 100 perf operations instead of 1000.
    #[arg(long)]
    quick: bool,
    /// Size of the largest object of the data and safety groups, in MiB (default 64, or 4 with
    /// --quick). A storage that uploads large objects in parts (S3 multipart: 8 MiB parts in
    /// ferry) needs one above its part size for the kill test to cut a multipart upload.
    #[arg(long, value_name = "MIB")]
    big_mib: Option<u64>,
    /// Kill the kill test's STORE at the first PROGRESS of at least this many MiB (default: at
    /// the first PROGRESS). Above a storage's part size, it cuts an upload between parts.
    #[arg(long, value_name = "MIB")]
    kill_at_mib: Option<u64>,
    /// Operations per perf test (default 1000, or 100 with --quick).
    #[arg(long, value_name = "N")]
    perf_count: Option<usize>,
    /// Jobs in flight for the ASYNC perf tests.
    #[arg(long, default_value_t = 8, value_name = "N")]
    perf_jobs: usize,
    /// Also run the real `git annex testremote` (full) in a temporary repository.
    #[arg(long = "git-annex")]
    git_annex: bool,
    /// Like --git-annex, with `testremote --fast`.
    #[arg(long = "git-annex-fast", conflicts_with = "git_annex")]
    git_annex_fast: bool,
    /// The externaltype git-annex would use (default: NAME from git-annex-remote-NAME).
    #[arg(long, value_name = "NAME")]
    externaltype: Option<String>,
    /// Run only these groups (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "GROUP")]
    group: Vec<String>,
    /// Leave these groups out.
    #[arg(long, value_delimiter = ',', value_name = "GROUP")]
    skip_group: Vec<String>,
    /// Run only tests whose group/name contains this text (repeatable).
    #[arg(long, value_name = "TEXT")]
    only: Vec<String>,
    /// Print the report as JSON on stdout (the table then goes to stderr).
    #[arg(long)]
    json: bool,
    /// Keep the sandbox (repository, store, logs) after the run and print its path.
    #[arg(long)]
    keep: bool,
    /// List the selected tests and exit.
    #[arg(long)]
    list: bool,
}

const AFTER_HELP: &str = "Groups: handshake, data, odd-keys, progress, async, export, robustness, safety, perf, git-annex.
The last line of output is `N passed, N failed` (and `, N skipped`); the exit status is 1 if a test failed.";

fn main() {
    let cli = Cli::parse();
    std::process::exit(match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ferry-conformance: {e:#}");
            2
        }
    });
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    for g in cli.group.iter().chain(&cli.skip_group) {
        if !cases::GROUPS.contains(&g.as_str()) {
            anyhow::bail!(
                "unknown group {g}; the groups are {}",
                cases::GROUPS.join(", ")
            );
        }
    }
    let mut params = Vec::new();
    for c in &cli.config {
        let Some((k, v)) = c.split_once('=') else {
            anyhow::bail!("-c {c}: expected NAME=VALUE");
        };
        params.push((k.to_owned(), v.to_owned()));
    }
    let externaltype = cli.externaltype.clone().unwrap_or_else(|| {
        let file = std::path::Path::new(&cli.remote)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        file.strip_prefix("git-annex-remote-")
            .map(str::to_owned)
            .unwrap_or(file)
    });
    // The remote runs in the sandbox's repository, so a relative path must be made absolute;
    // symlinks are kept, since programs such as rclone dispatch on the name they were run as.
    let program_path = if cli.remote.contains('/') {
        std::path::absolute(&cli.remote)
            .map_err(|e| anyhow::anyhow!("--remote {}: {e}", cli.remote))?
            .to_string_lossy()
            .into_owned()
    } else {
        cli.remote.clone()
    };
    let opts = Options {
        program: Program {
            path: program_path,
            args: cli.remote_args.clone(),
        },
        params,
        timeout: Duration::from_secs(cli.timeout.max(1)),
        break_cmd: cli.break_cmd.clone(),
        heal_cmd: cli.heal_cmd.clone(),
        kill_at: cli.kill_at_mib.map_or(1, |mib| (mib << 20).max(1)),
        big: cli.big_mib.unwrap_or(if cli.quick { 4 } else { 64 }).max(1) << 20,
        perf_count: cli.perf_count.unwrap_or(if cli.quick { 100 } else { 1000 }),
        perf_jobs: cli.perf_jobs.max(1),
        git_annex: if cli.git_annex {
            Some(TestRemoteMode::Full)
        } else if cli.git_annex_fast {
            Some(TestRemoteMode::Fast)
        } else {
            None
        },
        externaltype,
    };
    let sel = Selection {
        groups: cli.group.clone(),
        skip_groups: cli.skip_group.clone(),
        only: cli.only.clone(),
    };
    if cli.list {
        output::list(&ferry_conformance::list(&opts, &sel));
        return Ok(0);
    }
    let mode = if cli.json { Mode::Json } else { Mode::Table };
    output::header(mode, &cli.remote);
    let (report, root) =
        ferry_conformance::run(opts, &sel, cli.keep, |row| output::row(mode, row))?;
    let note = cli
        .keep
        .then(|| format!("sandbox kept at {}", root.display()));
    output::finish(mode, &report, note.as_deref());
    Ok(if report.counts().failed > 0 { 1 } else { 0 })
}

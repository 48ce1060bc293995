//! `ferry`: the command line for people: inspect, check and locate ferry stores, with or
//! without git-annex on the machine.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ferry::cli;
use ferry::settings::{Phase, Settings};
use ferry_backends::layout::Layout;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "ferry: a git-annex special remote engine; tools to inspect and check its stores"
)]
struct Cli {
    /// The git-annex repository whose remotes to use (default: the current directory).
    #[arg(long, global = true, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a remote's configuration and store, and say how to fix each problem.
    Doctor {
        /// The remote's name (as in `git annex info`) or UUID.
        remote: String,
    },
    /// List the objects in a remote's store and the git-annex key each one holds.
    Ls {
        /// The remote's name (as in `git annex info`) or UUID.
        remote: String,
    },
    /// Print where git-annex keys are stored under each layout (or one).
    Locate {
        /// Only this layout: lower, directory, nodir, mixed or frankencase.
        #[arg(long)]
        layout: Option<Layout>,
        /// The remote's prefix= value.
        #[arg(long)]
        prefix: Option<String>,
        /// git-annex keys, as `git annex lookupkey FILE` prints them.
        #[arg(required = true)]
        keys: Vec<String>,
    },
}

fn main() {
    ferry::logging::init("warn");
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("ferry: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Runs the command; the exit code is 1 when a check found a problem.
fn run(cli: Cli) -> anyhow::Result<i32> {
    let repo = match cli.repo {
        Some(r) => r,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Doctor { remote } => {
            let config = cli::repo::find_remote(&repo, &remote)?;
            let findings = runtime.block_on(cli::doctor::doctor(&repo, &config));
            let bad = findings.iter().any(|f| !f.ok);
            if cli.json {
                cli::print_json(&findings)?;
            } else {
                let lines: Vec<String> = findings
                    .iter()
                    .map(|f| {
                        format!(
                            "{} {}: {}",
                            if f.ok { "ok     " } else { "PROBLEM" },
                            f.check,
                            f.detail
                        )
                    })
                    .collect();
                cli::print_lines(&lines)?;
            }
            Ok(i32::from(bad))
        }
        Command::Ls { remote } => {
            let config = cli::repo::find_remote(&repo, &remote)?;
            let settings =
                Settings::from_config(|k| config.get(k).map(str::to_owned), Phase::Use, &repo)
                    .map_err(|e| anyhow::anyhow!("remote {remote} is misconfigured: {e}"))?;
            let secrets = cli::repo::secrets_for(&repo, &config, &settings);
            let backend = ferry::storage::open(&settings, &secrets)?;
            let listed = runtime.block_on(cli::ls::ls(backend.as_ref()))?;
            if cli.json {
                cli::print_json(&listed)?;
            } else {
                let lines: Vec<String> = listed
                    .iter()
                    .map(|l| format!("{:>12}  {}", l.size, l.path))
                    .collect();
                cli::print_lines(&lines)?;
            }
            Ok(0)
        }
        Command::Locate {
            layout,
            prefix,
            keys,
        } => {
            let lines = cli::locate::locate(&keys, layout, prefix.as_deref())?;
            cli::print_lines(&lines)?;
            Ok(0)
        }
    }
}

//! Running the suite binary and reading its table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The suite binary.
pub fn suite() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferry-conformance"))
}

/// The fake remote binary.
pub fn fake() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fake-remote"))
}

/// What one run printed.
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
    /// Status (`PASS`, `FAIL`, `SKIP`, `N-A`) and detail of each test, by `group/name`.
    pub rows: BTreeMap<String, (String, String)>,
}

impl Run {
    /// The status of one test; panics with the output when it did not run.
    pub fn status(&self, test: &str) -> &str {
        match self.rows.get(test) {
            Some((s, _)) => s,
            None => panic!("{test} did not run:\n{}\n{}", self.stdout, self.stderr),
        }
    }

    /// The detail of one test.
    pub fn detail(&self, test: &str) -> &str {
        self.rows.get(test).map(|(_, d)| d.as_str()).unwrap_or("")
    }

    /// Asserts that `test` has `status`, showing the output otherwise.
    pub fn assert_status(&self, test: &str, status: &str) {
        assert_eq!(
            self.status(test),
            status,
            "{test}:\n{}\n{}",
            self.stdout,
            self.stderr
        );
    }

    /// The tests with status FAIL.
    pub fn failed(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|(_, (s, _))| s == "FAIL")
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

/// Parses the table lines (`group name STATUS time detail`) of stdout, or of stderr with --json.
fn parse_rows(text: &str) -> BTreeMap<String, (String, String)> {
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [group, name, status, time, rest @ ..] = words.as_slice()
            && matches!(*status, "PASS" | "FAIL" | "SKIP" | "N-A")
            && time.ends_with('s')
        {
            rows.insert(
                format!("{group}/{name}"),
                ((*status).to_owned(), rest.join(" ")),
            );
        }
    }
    rows
}

/// Runs the suite against `remote` (with `remote_args`) storing in `{store}`, with `--quick`
/// and the usual `--break`/`--heal` pair, plus `extra` arguments.
pub fn run_suite(remote: &Path, remote_args: &[&str], extra: &[&str]) -> Run {
    let mut cmd = suite_command(remote, remote_args);
    cmd.args([
        "-c",
        "directory={store}",
        "--quick",
        "--break",
        "mv {store} {store}.away",
        "--heal",
        "mv {store}.away {store}",
    ]);
    cmd.args(extra);
    run(cmd)
}

/// The suite's command line for `remote`, before any storage configuration.
pub fn suite_command(remote: &Path, remote_args: &[&str]) -> Command {
    let mut cmd = Command::new(suite());
    cmd.arg("--remote").arg(remote);
    for a in remote_args {
        cmd.arg(format!("--remote-arg={a}"));
    }
    cmd
}

/// Runs the suite as `cmd` says and reads its table.
pub fn run(mut cmd: Command) -> Run {
    let out = cmd.output().expect("the suite runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut rows = parse_rows(&stdout);
    rows.extend(parse_rows(&stderr));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
        rows,
    }
}

//! The only code that writes to stdout: the table, the failure details, JSON and the closing
//! line. With `--json`, stdout holds only the JSON document and everything else goes to stderr,
//! so that `ferry-conformance --json | jq` works.

// stdout is this program's output (a report, not a protocol stream): printing is the point.
#![allow(clippy::print_stdout)]

use crate::report::{Report, Row};

/// Where the human-readable parts go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Table and closing line on stdout.
    Table,
    /// JSON on stdout; table and closing line on stderr.
    Json,
}

fn human(mode: Mode, text: &str) {
    match mode {
        Mode::Table => println!("{text}"),
        Mode::Json => eprintln!("{text}"),
    }
}

/// Prints the table header.
pub fn header(mode: Mode, remote: &str) {
    human(mode, &format!("ferry-conformance: {remote}"));
    human(mode, &Report::header());
}

/// Prints one row as its test finishes.
pub fn row(mode: Mode, row: &Row) {
    human(mode, &Report::line(row));
}

/// Prints failure details, the JSON document if asked for, and the closing line last.
pub fn finish(mode: Mode, report: &Report, sandbox_note: Option<&str>) {
    let failures = report.failures();
    if !failures.is_empty() {
        human(mode, failures.trim_end());
    }
    if let Some(note) = sandbox_note {
        human(mode, note);
    }
    if mode == Mode::Json {
        println!("{}", report.to_json());
    }
    human(mode, &report.closing_line());
}

/// Prints a list of test names.
pub fn list(names: &[String]) {
    for n in names {
        println!("{n}");
    }
}

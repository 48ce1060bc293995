//! The `ferry` command for people: each subcommand in its own module; output goes through
//! [`print_lines`] and [`print_json`], the only places that write to stdout.

pub mod annex_branch;
pub mod checksum;
pub mod decrypt;
pub mod doctor;
pub mod export_key;
pub mod get;
pub mod keygen;
pub mod keys;
pub mod locate;
pub mod ls;
pub mod outfile;
pub mod progress;
pub mod repo;
pub mod store;
pub mod unlock;
pub mod verify;

use std::io::Write;

/// Writes lines to stdout.
///
/// # Errors
/// stdout is closed (e.g. the reader of a pipe went away).
#[allow(clippy::print_stdout)]
pub fn print_lines(lines: &[String]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// Writes a value as pretty JSON to stdout, for scripts (`--json`).
///
/// # Errors
/// stdout is closed, or the value cannot be serialized.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    print_lines(&[text])?;
    Ok(())
}

//! The `ferry` command for people.

pub mod locate;

use std::io::Write;

/// Writes lines to stdout: the one place the `ferry` command prints results.
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

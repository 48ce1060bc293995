//! The ASYNC extension's `J <n> ` framing.
//!
//! With ASYNC negotiated, every line in both directions is prefixed `J <n> `, where `n` names
//! one of git-annex's workers (a *job*; it is reused for a series of requests). git-annex
//! never tags `VERSION`, `EXTENSIONS` and its own `ERROR`. A remote's `ERROR` may be sent
//! either way: untagged it fails every job, tagged `J n ERROR msg` it fails only job n
//! (git-annex's `Remote/External/AsyncExtension.hs` relays a tagged line of any kind to its
//! job, and the job reads `ERROR` as an error).

use std::fmt;

use crate::wire::{self, ParseError};

/// Which job a line belongs to: `Some(n)` for a `J n`-tagged line, `None` for an untagged one
/// (the only job of a session without ASYNC).
pub type JobId = Option<u32>;

/// A line split into its job tag and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed {
    /// The job number, when the line was tagged.
    pub job: JobId,
    /// The message itself, without the tag.
    pub line: String,
}

impl Framed {
    /// Splits an incoming line into its tag and message.
    ///
    /// # Errors
    /// [`ParseError::BadJob`] when the line starts with the word `J` but no valid job number
    /// and message follow (`J x CHECKPRESENT k`, `J 1`).
    pub fn parse(line: &str) -> Result<Framed, ParseError> {
        let (job, rest) = split(line)?;
        Ok(Framed {
            job,
            line: rest.to_owned(),
        })
    }

    /// Builds the line to send for `job`. Tags it unless `job` is `None` or the message is
    /// `VERSION` or `EXTENSIONS`, which are session-wide and never tagged.
    pub fn new(job: JobId, line: impl Into<String>) -> Framed {
        let line = line.into();
        let job = if is_never_tagged(&line) { None } else { job };
        Framed { job, line }
    }
}

impl fmt::Display for Framed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.job {
            Some(n) => write!(f, "J {n} {}", self.line),
            None => f.write_str(&self.line),
        }
    }
}

/// Splits an incoming line into its job tag and the message, without copying.
///
/// # Errors
/// As [`Framed::parse`].
pub fn split(line: &str) -> Result<(JobId, &str), ParseError> {
    let (first, rest) = wire::split_word(line);
    if first != "J" {
        return Ok((None, line));
    }
    let (number, message) = wire::split_word(rest);
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadJob(format!(
            "`J` must be followed by a job number, got `{number}`"
        )));
    }
    let n: u32 = number
        .parse()
        .map_err(|_| ParseError::BadJob(format!("job number `{number}` is too large")))?;
    if message.is_empty() {
        return Err(ParseError::BadJob(format!("`J {n}` carries no message")));
    }
    Ok((Some(n), message))
}

/// Formats `line` for `job` (see [`Framed::new`]).
pub fn frame(job: JobId, line: impl fmt::Display) -> String {
    Framed::new(job, line.to_string()).to_string()
}

/// Best effort: the job tag at the start of a line that could not be read whole (too long,
/// not UTF-8), so that the error about it can go to the job that is waiting.
pub fn job_of_prefix(prefix: &str) -> JobId {
    let (first, rest) = wire::split_word(prefix);
    if first != "J" {
        return None;
    }
    let (number, message) = wire::split_word(rest);
    if message.is_empty() {
        return None;
    }
    number.parse().ok()
}

fn is_never_tagged(line: &str) -> bool {
    matches!(wire::split_word(line).0, "VERSION" | "EXTENSIONS")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tagged_and_untagged_lines() {
        assert_eq!(
            Framed::parse("J 12 CHECKPRESENT K").unwrap(),
            Framed {
                job: Some(12),
                line: "CHECKPRESENT K".into()
            }
        );
        assert_eq!(
            Framed::parse("J 1 EXPORT a  b").unwrap().line,
            "EXPORT a  b",
            "the message is kept verbatim"
        );
        assert_eq!(Framed::parse("PREPARE").unwrap().job, None);
        assert_eq!(Framed::parse("JUNK 1").unwrap().job, None);
    }

    #[test]
    fn rejects_bad_tags() {
        for bad in [
            "J x CHECKPRESENT k",
            "J",
            "J 1",
            "J 1 ",
            "J -1 PREPARE",
            "J 99999999999 PREPARE",
        ] {
            assert!(
                matches!(Framed::parse(bad), Err(ParseError::BadJob(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn version_and_extensions_are_never_tagged() {
        assert_eq!(frame(Some(3), "VERSION 2"), "VERSION 2");
        assert_eq!(frame(Some(3), "EXTENSIONS ASYNC"), "EXTENSIONS ASYNC");
        assert_eq!(frame(Some(3), "ERROR boom"), "J 3 ERROR boom");
        assert_eq!(frame(None, "ERROR boom"), "ERROR boom");
        assert_eq!(frame(Some(3), "PROGRESS 10"), "J 3 PROGRESS 10");
    }

    #[test]
    fn finds_the_job_of_a_truncated_line() {
        assert_eq!(job_of_prefix("J 7 TRANSFER STORE xxxx"), Some(7));
        assert_eq!(job_of_prefix("TRANSFER STORE"), None);
        assert_eq!(job_of_prefix("J x y"), None);
    }
}

//! Line-level grammar shared by every message family, and [`ParseError`].
//!
//! git-annex (`Utility/SimpleProtocol.hs`) splits a line at its first whitespace character into
//! a command word and the rest, and each further parameter is split off the same way, dropping
//! exactly one separator character. The last parameter is whatever remains, verbatim: it may
//! hold spaces, runs of spaces and tabs, or be empty. Nothing is quoted or escaped. We mirror
//! that exactly so that names such as `EXPORT a  b.txt` survive byte for byte.

use std::fmt;

use crate::key::{Key, KeyError};

/// Why a protocol line could not be understood. Its `Display` is the text that goes into the
/// `ERROR …` line a remote sends back, so it says exactly what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line was empty (git-annex never sends one; a stray empty line is a peer's bug).
    #[error("empty line")]
    Empty,
    /// The text held a `\n`: one protocol line cannot carry two.
    #[error("line contains a newline")]
    Newline,
    /// A verb came without the parameters it needs.
    #[error("{verb} needs {needs}")]
    Missing {
        /// The command word.
        verb: &'static str,
        /// What it needs, as prose (`a direction, a key and a file`).
        needs: &'static str,
    },
    /// A verb that takes no parameters came with some.
    #[error("{verb} takes no parameters, got `{extra}`")]
    Unexpected {
        /// The command word.
        verb: &'static str,
        /// The text after it.
        extra: String,
    },
    /// A key parameter is not a valid git-annex key.
    #[error("bad key in {verb}: {source}")]
    BadKey {
        /// The command word.
        verb: &'static str,
        /// What is wrong with the key.
        source: KeyError,
    },
    /// A parameter is not one of the words allowed there (a direction, a number, …).
    #[error("bad {what} in {verb}: `{got}`; expected {expected}")]
    BadParam {
        /// The command word.
        verb: &'static str,
        /// Which parameter (`direction`, `size`, …).
        what: &'static str,
        /// The text that was found.
        got: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The command word is not one of this message family's. Requests never give this (they
    /// have [`crate::Request::Unknown`]); the other families do.
    #[error("unknown command `{0}`")]
    UnknownVerb(String),
    /// An ASYNC `J <n> …` prefix whose job number is not a number, or that carries no message.
    #[error("bad job framing: {0}")]
    BadJob(String),
}

/// Splits at the first whitespace character, dropping that one character, like git-annex's
/// `splitWord`. With no whitespace the whole text is the word and the rest is empty.
pub(crate) fn split_word(s: &str) -> (&str, &str) {
    match s.char_indices().find(|(_, c)| c.is_whitespace()) {
        Some((i, c)) => (&s[..i], &s[i + c.len_utf8()..]),
        None => (s, ""),
    }
}

/// A cursor over the parameters after a command word.
pub(crate) struct Params<'a> {
    verb: &'static str,
    needs: &'static str,
    rest: &'a str,
}

impl<'a> Params<'a> {
    pub(crate) fn new(verb: &'static str, needs: &'static str, rest: &'a str) -> Params<'a> {
        Params { verb, needs, rest }
    }

    fn missing(&self) -> ParseError {
        ParseError::Missing {
            verb: self.verb,
            needs: self.needs,
        }
    }

    /// A parameter that cannot contain whitespace and must be present.
    pub(crate) fn word(&mut self) -> Result<&'a str, ParseError> {
        if self.rest.is_empty() {
            return Err(self.missing());
        }
        let (w, rest) = split_word(self.rest);
        self.rest = rest;
        Ok(w)
    }

    /// A parameter that cannot contain whitespace; absent means empty (git-annex's reading).
    pub(crate) fn word_or_empty(&mut self) -> &'a str {
        let (w, rest) = split_word(self.rest);
        self.rest = rest;
        w
    }

    /// A key parameter that is followed by more parameters.
    pub(crate) fn key(&mut self) -> Result<Key, ParseError> {
        let w = self.word()?;
        self.parse_key(w)
    }

    /// A key that is the last parameter: the whole rest must be the key, so a trailing space
    /// or `\r` makes it invalid instead of being silently dropped.
    pub(crate) fn last_key(self) -> Result<Key, ParseError> {
        if self.rest.is_empty() {
            return Err(self.missing());
        }
        self.parse_key(self.rest)
    }

    fn parse_key(&self, s: &str) -> Result<Key, ParseError> {
        Key::parse(s).map_err(|source| ParseError::BadKey {
            verb: self.verb,
            source,
        })
    }

    /// An unsigned number parameter followed by more parameters.
    pub(crate) fn number(&mut self, what: &'static str) -> Result<u64, ParseError> {
        let w = self.word()?;
        parse_number(self.verb, what, w)
    }

    /// The verb these parameters belong to.
    pub(crate) fn verb(&self) -> &'static str {
        self.verb
    }

    /// The rest of the line, verbatim, which may be empty.
    pub(crate) fn rest(self) -> &'a str {
        self.rest
    }

    /// The rest of the line, verbatim, which must not be empty.
    pub(crate) fn nonempty_rest(self) -> Result<&'a str, ParseError> {
        if self.rest.is_empty() {
            return Err(self.missing());
        }
        Ok(self.rest)
    }

    /// A bad-parameter error for this verb.
    pub(crate) fn bad(&self, what: &'static str, got: &str, expected: &'static str) -> ParseError {
        ParseError::BadParam {
            verb: self.verb,
            what,
            got: got.to_owned(),
            expected,
        }
    }
}

/// Parses a decimal `u64` the strict way: ASCII digits only (no sign, no spaces).
pub(crate) fn parse_number(
    verb: &'static str,
    what: &'static str,
    s: &str,
) -> Result<u64, ParseError> {
    let bad = || ParseError::BadParam {
        verb,
        what,
        got: s.to_owned(),
        expected: "a decimal number",
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    s.parse().map_err(|_| bad())
}

/// Checks a verb that takes no parameters.
pub(crate) fn no_params(verb: &'static str, rest: &str) -> Result<(), ParseError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(ParseError::Unexpected {
            verb,
            extra: rest.to_owned(),
        })
    }
}

/// Splits the command word off a whole line, after the checks every family shares.
pub(crate) fn command(line: &str) -> Result<(&str, &str), ParseError> {
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    if line.contains('\n') {
        return Err(ParseError::Newline);
    }
    Ok(split_word(line))
}

/// Writes free text so that it stays on one line: `\n` and `\r` become spaces. git-annex reads
/// lines with `hGetLine`, so an embedded newline would split a reply in two and a `\r` would
/// become part of the text; neither is ever what the sender meant.
pub(crate) struct OneLine<'a>(pub(crate) &'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['\n', '\r']) {
            f.write_str(&rest[..i])?;
            f.write_str(" ")?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// Replaces `\n` and `\r` with spaces, for constructors that sanitize up front.
pub(crate) fn one_line(s: impl Into<String>) -> String {
    let s = s.into();
    if s.contains(['\n', '\r']) {
        s.replace(['\n', '\r'], " ")
    } else {
        s
    }
}

/// Writes ` text` when the text is not empty. Used for optional trailing messages, whose
/// absence git-annex accepts (`TRANSFER-FAILURE STORE K` is shown as "failed with no reason
/// given"); omitting the separator avoids a trailing space after a key.
pub(crate) fn opt_msg(f: &mut fmt::Formatter<'_>, msg: &str) -> fmt::Result {
    if msg.is_empty() {
        Ok(())
    } else {
        write!(f, " {}", OneLine(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_word_drops_exactly_one_separator() {
        assert_eq!(split_word("a b"), ("a", "b"));
        assert_eq!(split_word("a  b"), ("a", " b"));
        assert_eq!(split_word("a\tb c"), ("a", "b c"));
        assert_eq!(split_word("a"), ("a", ""));
        assert_eq!(split_word("a "), ("a", ""));
        assert_eq!(split_word(""), ("", ""));
    }

    #[test]
    fn one_line_replaces_newlines_and_carriage_returns() {
        assert_eq!(OneLine("a\nb\r\nc").to_string(), "a b  c");
        assert_eq!(one_line("x\ry"), "x y");
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn numbers_are_strict() {
        assert_eq!(parse_number("COST", "cost", "150"), Ok(150));
        assert!(parse_number("COST", "cost", "+1").is_err());
        assert!(parse_number("COST", "cost", "").is_err());
        assert!(parse_number("COST", "cost", "99999999999999999999999").is_err());
    }
}

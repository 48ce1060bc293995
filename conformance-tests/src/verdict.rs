//! What one test concludes: a [`Verdict`] when it did not fail, a [`Fail`] with the exchange
//! that went wrong when it did.

use std::fmt;

/// A test that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Passed; the text adds detail worth reading (timings, notes), and may be empty.
    Pass(String),
    /// Not run, for a reason the caller can fix (`no --break given`).
    Skip(String),
    /// Does not apply to this remote (it does not offer ASYNC, export, …).
    NotApplicable(String),
}

/// A failed test: what went wrong and, when one exchange shows it, what the suite sent, what
/// it expected and what it received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fail {
    /// One sentence: what is wrong.
    pub summary: String,
    /// The line the suite sent.
    pub sent: Option<String>,
    /// What a conforming remote answers.
    pub expected: Option<String>,
    /// What this remote answered (or `<EOF>`, `<nothing within 30 s>`).
    pub received: Option<String>,
}

/// The result of one test.
pub type TestResult = Result<Verdict, Fail>;

impl Fail {
    /// A failure described by one sentence.
    pub fn new(summary: impl Into<String>) -> Fail {
        Fail {
            summary: summary.into(),
            ..Fail::default()
        }
    }

    /// A failure of one request: sent, expected, received.
    pub fn exchange(
        summary: impl Into<String>,
        sent: impl Into<String>,
        expected: impl Into<String>,
        received: impl Into<String>,
    ) -> Fail {
        Fail {
            summary: summary.into(),
            sent: Some(sent.into()),
            expected: Some(expected.into()),
            received: Some(received.into()),
        }
    }

    /// Adds context in front of the summary (`after the kill: …`).
    pub fn context(mut self, what: impl fmt::Display) -> Fail {
        self.summary = format!("{what}: {}", self.summary);
        self
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Fail {
        Fail::new(format!("the suite could not prepare the test: {e}"))
    }
}

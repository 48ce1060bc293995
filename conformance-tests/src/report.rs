//! The results of a run: one row per test, rendered as a table, failure details, JSON and
//! the closing `N passed, N failed` line.

use std::fmt::Write as _;

use crate::ctx::Metric;
use crate::verdict::Fail;

/// A test's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Passed.
    Pass,
    /// Failed.
    Fail,
    /// Not run (something the caller can supply is missing).
    Skip,
    /// Does not apply to this remote.
    NotApplicable,
}

impl Status {
    /// The word in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::NotApplicable => "N-A",
        }
    }
}

/// One test's row.
#[derive(Debug, Clone)]
pub struct Row {
    /// The group.
    pub group: String,
    /// The test name.
    pub name: String,
    /// The outcome.
    pub status: Status,
    /// Detail: pass notes, skip reasons, the failure summary.
    pub detail: String,
    /// How long the test took.
    pub seconds: f64,
    /// Measurements.
    pub metrics: Vec<Metric>,
    /// For failures: what went wrong.
    pub fail: Option<Fail>,
    /// For failures: the end of the exchange.
    pub transcript: Vec<String>,
    /// For failures: the end of the remote's stderr.
    pub stderr: Vec<String>,
}

/// All rows of a run, plus what identifies the run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The remote program.
    pub remote: String,
    /// The `-c` parameters.
    pub params: Vec<(String, String)>,
    /// The rows, in run order.
    pub rows: Vec<Row>,
}

/// Test counts: passed, failed, skipped (SKIP and N-A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Passed tests.
    pub passed: usize,
    /// Failed tests.
    pub failed: usize,
    /// Skipped or not applicable tests.
    pub skipped: usize,
}

impl Report {
    /// The counts.
    pub fn counts(&self) -> Counts {
        let n = |s: Status| self.rows.iter().filter(|r| r.status == s).count();
        Counts {
            passed: n(Status::Pass),
            failed: n(Status::Fail),
            skipped: n(Status::Skip) + n(Status::NotApplicable),
        }
    }

    /// The table header.
    pub fn header() -> String {
        format!(
            "{:<11} {:<38} {:<5} {:>8}  {}",
            "GROUP", "TEST", "", "TIME", "DETAIL"
        )
    }

    /// One table line.
    pub fn line(row: &Row) -> String {
        let mut detail = visible(&row.detail.replace('\n', " "));
        if detail.chars().count() > 140 {
            detail = detail.chars().take(139).collect::<String>() + "…";
        }
        format!(
            "{:<11} {:<38} {:<5} {:>7.2}s  {}",
            row.group,
            row.name,
            row.status.as_str(),
            row.seconds,
            detail
        )
    }

    /// The details of every failure: summary, the exchange, the transcript's end, stderr.
    pub fn failures(&self) -> String {
        let mut out = String::new();
        for row in self.rows.iter().filter(|r| r.status == Status::Fail) {
            let _ = writeln!(out, "\n=== FAIL {}/{}", row.group, row.name);
            if let Some(f) = &row.fail {
                let _ = writeln!(out, "{}", f.summary);
                if let Some(s) = &f.sent {
                    let _ = writeln!(out, "  sent:     {}", cut(s));
                }
                if let Some(s) = &f.expected {
                    let _ = writeln!(out, "  expected: {}", cut(s));
                }
                if let Some(s) = &f.received {
                    let _ = writeln!(out, "  received: {}", cut(s));
                }
            }
            if !row.transcript.is_empty() {
                let _ = writeln!(
                    out,
                    "  transcript (last {} lines; >> to the remote, << from it):",
                    row.transcript.len()
                );
                for l in &row.transcript {
                    let _ = writeln!(out, "    {l}");
                }
            }
            if !row.stderr.is_empty() {
                let _ = writeln!(
                    out,
                    "  stderr of the remote (last {} lines):",
                    row.stderr.len()
                );
                for l in &row.stderr {
                    let _ = writeln!(out, "    {l}");
                }
            }
        }
        out
    }

    /// The closing line: `N passed, N failed` and `, N skipped` when any were.
    pub fn closing_line(&self) -> String {
        let c = self.counts();
        if c.skipped > 0 {
            format!(
                "{} passed, {} failed, {} skipped",
                c.passed, c.failed, c.skipped
            )
        } else {
            format!("{} passed, {} failed", c.passed, c.failed)
        }
    }

    /// The whole report as JSON.
    pub fn to_json(&self) -> String {
        let c = self.counts();
        let params = self
            .params
            .iter()
            .map(|(k, v)| format!("{}:{}", json_str(k), json_str(v)))
            .collect::<Vec<_>>()
            .join(",");
        let rows = self
            .rows
            .iter()
            .map(row_json)
            .collect::<Vec<_>>()
            .join(",\n  ");
        format!(
            "{{\"remote\":{},\"params\":{{{params}}},\"summary\":{{\"passed\":{},\"failed\":{},\"skipped\":{}}},\"tests\":[\n  {rows}\n]}}",
            json_str(&self.remote),
            c.passed,
            c.failed,
            c.skipped
        )
    }
}

/// `s` with control characters (other than tab) shown as `\xNN`, so that junk a remote sent
/// cannot garble a terminal or make the report look binary.
pub fn visible(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() && c != '\t') {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                format!("\\x{:02x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn cut(s: &str) -> String {
    let s = &visible(s);
    if s.chars().count() > 400 {
        format!(
            "{}… ({} bytes)",
            s.chars().take(400).collect::<String>(),
            s.len()
        )
    } else {
        s.to_owned()
    }
}

fn row_json(r: &Row) -> String {
    let metrics = r
        .metrics
        .iter()
        .map(|m| {
            format!(
                "{{\"name\":{},\"value\":{},\"unit\":{}}}",
                json_str(&m.name),
                json_num(m.value),
                json_str(m.unit)
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let fail = match &r.fail {
        None => "null".to_owned(),
        Some(f) => format!(
            "{{\"summary\":{},\"sent\":{},\"expected\":{},\"received\":{},\"transcript\":[{}],\"stderr\":[{}]}}",
            json_str(&f.summary),
            json_opt(f.sent.as_deref()),
            json_opt(f.expected.as_deref()),
            json_opt(f.received.as_deref().map(cut).as_deref()),
            r.transcript
                .iter()
                .map(|l| json_str(l))
                .collect::<Vec<_>>()
                .join(","),
            r.stderr
                .iter()
                .map(|l| json_str(l))
                .collect::<Vec<_>>()
                .join(","),
        ),
    };
    format!(
        "{{\"group\":{},\"name\":{},\"status\":{},\"seconds\":{},\"detail\":{},\"metrics\":[{metrics}],\"failure\":{fail}}}",
        json_str(&r.group),
        json_str(&r.name),
        json_str(r.status.as_str()),
        json_num(r.seconds),
        json_str(&r.detail),
    )
}

fn json_opt(s: Option<&str>) -> String {
    s.map(json_str).unwrap_or_else(|| "null".to_owned())
}

fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "null".to_owned()
    }
}

/// A JSON string literal (RFC 8259 escaping).
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: Status) -> Row {
        Row {
            group: "g".into(),
            name: "n".into(),
            status,
            detail: String::new(),
            seconds: 0.5,
            metrics: vec![],
            fail: None,
            transcript: vec![],
            stderr: vec![],
        }
    }

    #[test]
    fn closing_line_counts() {
        let mut r = Report {
            rows: vec![row(Status::Pass), row(Status::Fail), row(Status::Pass)],
            ..Report::default()
        };
        assert_eq!(r.closing_line(), "2 passed, 1 failed");
        r.rows.push(row(Status::NotApplicable));
        assert_eq!(r.closing_line(), "2 passed, 1 failed, 1 skipped");
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }
}

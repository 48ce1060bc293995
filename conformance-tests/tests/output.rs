//! The report's shapes: the failure details, --json, skipped safety tests.

use crate::harness::{fake, run_suite};

#[test]
fn failures_show_the_exchange_and_transcript() {
    let run = run_suite(
        &fake(),
        &["--flaw", "unreachable-failure"],
        &["--only", "safety/checkpresent_unreachable"],
    );
    let text = &run.stdout;
    assert!(
        text.contains("=== FAIL safety/checkpresent_unreachable_is_unknown"),
        "{text}"
    );
    assert!(text.contains("  sent:     J 1 CHECKPRESENT "), "{text}");
    assert!(text.contains("  expected: CHECKPRESENT-UNKNOWN "), "{text}");
    assert!(text.contains("  received: CHECKPRESENT-FAILURE "), "{text}");
    assert!(text.contains("transcript (last"), "{text}");
    let last = text.lines().last().unwrap_or_default();
    assert_eq!(last, "1 passed, 1 failed");
}

#[test]
fn json_goes_to_stdout_and_the_table_to_stderr() {
    let run = run_suite(
        &fake(),
        &["--flaw", "corrupt-retrieve"],
        &["--only", "data/roundtrip_1MiB+1", "--json"],
    );
    let json = run.stdout.trim();
    assert!(json.starts_with("{\"remote\":"), "{json}");
    assert!(json.ends_with("]}"), "{json}");
    assert!(
        json.contains("\"summary\":{\"passed\":1,\"failed\":1,\"skipped\":0}"),
        "{json}"
    );
    assert!(json.contains("\"status\":\"FAIL\""), "{json}");
    assert!(json.contains("\"transcript\":[\"p1 "), "{json}");
    assert_eq!(
        run.stderr.lines().last().unwrap_or_default(),
        "1 passed, 1 failed"
    );
    assert_eq!(run.code, 1);
}

#[test]
fn safety_is_skipped_without_break() {
    let out = std::process::Command::new(crate::harness::suite())
        .arg("--remote")
        .arg(fake())
        .args(["-c", "directory={store}", "--quick", "--group", "safety"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("SKIP") && text.contains("skipped: no --break given"),
        "{text}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap_or_default()
            .ends_with(" skipped"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(0));
}

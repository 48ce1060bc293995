//! Each flaw of the fake remote is caught by the test meant for it, and the correct fake
//! passes that same test.

use crate::harness::{fake, run_suite};

/// Runs the tests `only` against the flawed fake (each of `failing` must FAIL) and against the
/// correct fake (all must PASS).
fn caught(flaw: &str, only: &[&str], failing: &[&str], extra: &[&str]) {
    let mut args: Vec<&str> = Vec::new();
    for o in only {
        args.push("--only");
        args.push(o);
    }
    args.extend_from_slice(extra);
    let flawed = run_suite(&fake(), &["--flaw", flaw], &args);
    for test in failing {
        flawed.assert_status(test, "FAIL");
    }
    assert_eq!(flawed.code, 1, "a failed test makes the exit status 1");
    let good = run_suite(&fake(), &[], &args);
    for test in failing {
        good.assert_status(test, "PASS");
    }
    assert!(
        good.failed().is_empty(),
        "baseline failed {:?}",
        good.failed()
    );
    assert_eq!(good.code, 0);
}

#[test]
fn baseline_fake_passes_every_test() {
    let run = run_suite(&fake(), &[], &[]);
    assert!(run.failed().is_empty(), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.rows.values().all(|(s, _)| s == "PASS"),
        "the baseline supports ASYNC and export, so nothing is skipped:\n{}",
        run.stdout
    );
    assert!(run.rows.len() > 60, "{}", run.stdout);
    assert_eq!(run.code, 0);
    let last = run.stdout.lines().last().unwrap_or_default();
    assert_eq!(last, format!("{} passed, 0 failed", run.rows.len()));
}

#[test]
fn failure_while_unreachable_is_caught_by_safety() {
    caught(
        "unreachable-failure",
        &["safety/checkpresent_unreachable"],
        &["safety/checkpresent_unreachable_is_unknown"],
        &[],
    );
}

#[test]
fn non_atomic_store_is_caught_by_the_kill_test() {
    caught(
        "non-atomic",
        &["safety/store_killed_midway"],
        &["safety/store_killed_midway_4MiB"],
        &[],
    );
}

#[test]
fn corrupt_retrieve_is_caught_by_data() {
    caught(
        "corrupt-retrieve",
        &["data/roundtrip"],
        &[
            "data/roundtrip_1",
            "data/roundtrip_1MiB",
            "data/roundtrip_4MiB",
        ],
        &[],
    );
}

#[test]
fn appending_retrieve_is_caught_by_the_resume_tests() {
    caught(
        "append-retrieve",
        &["data/retrieve_"],
        &[
            "data/retrieve_resume_from_third",
            "data/retrieve_into_complete_dest",
            "data/retrieve_into_longer_dest",
        ],
        &[],
    );
}

#[test]
fn hang_is_reported_as_a_hang() {
    caught(
        "hang-checkpresent",
        &["data/checkpresent_absent", "data/remove_absent"],
        &["data/checkpresent_absent"],
        &["--timeout", "2"],
    );
    let run = run_suite(
        &fake(),
        &["--flaw", "hang-checkpresent"],
        &["--only", "data/checkpresent_absent", "--timeout", "2"],
    );
    assert!(
        run.detail("data/checkpresent_absent").contains("hangs"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("<nothing within 2 s>"),
        "{}",
        run.stdout
    );
}

#[test]
fn exiting_on_unknown_requests_is_caught() {
    caught(
        "exit-on-unknown",
        &["handshake/unknown_request", "robustness/unknown_verbs"],
        &["handshake/unknown_request", "robustness/unknown_verbs"],
        &[],
    );
}

#[test]
fn progress_beyond_the_size_is_caught() {
    caught(
        "progress-overflow",
        &["progress/store"],
        &["progress/store_4MiB"],
        &[],
    );
}

#[test]
fn replies_for_the_wrong_job_are_caught() {
    caught(
        "async-wrong-job",
        &["async/jobs_32"],
        &["async/jobs_32_in_flight"],
        &[],
    );
}

#[test]
fn writing_outside_the_store_is_caught() {
    caught(
        "escape-store",
        &["odd-keys/escape"],
        &["odd-keys/escape_url_dotdot", "odd-keys/escape_url_deep"],
        &[],
    );
}

#[test]
fn dying_on_an_error_reply_is_caught() {
    caught(
        "exit-on-error-reply",
        &["robustness/error_reply_to_queries"],
        &["robustness/error_reply_to_queries"],
        &[],
    );
}

#[test]
fn asking_for_an_unoffered_extension_is_caught() {
    caught(
        "extra-extension",
        &["handshake/extensions"],
        &["handshake/extensions"],
        &[],
    );
}

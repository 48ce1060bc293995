//! remote-proto's integration tests: the driver over in-memory pipes, with the test playing
//! git-annex, and property tests of every parser.

// The harness's helpers (not `#[test]` fns themselves) unwrap: a failure there is a failed test.
#![allow(clippy::unwrap_used)]

mod concurrent;
mod harness;
mod malformed;
mod roundtrip;
mod sequential;

//! Integration tests of ferry-crypto: the §12 vectors, round trips, every §6.5 attack, ranged
//! reads, streaming adapters and property tests. One binary (style guide §5).

// Helpers outside #[test] functions unwrap too; clippy.toml's allow-unwrap-in-tests only covers
// the test functions themselves. A failed unwrap here is a failed test.
#![allow(clippy::unwrap_used)]

mod attacks;
mod common;
mod model;
mod props;
mod ranged;
mod roundtrip;
mod streaming;
mod tokens;
mod vectors;

//! ferry-conformance's own tests: the suite must pass a correct remote and catch each flaw of
//! the deliberately broken fakes with the test meant for it, and it must pass the real
//! `git-annex-remote-ferry`.

mod fakes;
mod ferry;
mod harness;
mod output;

//! Integration tests of the ferry binaries with real git-annex (installed by `scripts/test`).

mod support;

mod cli;
mod cloud;
mod crash;
mod encryption;
mod keys;
mod large;
mod protocol_lines;
mod rclone_target;
mod sealed;
mod testremote;
mod unavailable;
mod workflows;

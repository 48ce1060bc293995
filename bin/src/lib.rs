//! ferry's engine and command line.
//!
//! - [`remote`]: the engine git-annex runs (`git-annex-remote-ferry`): answers the external
//!   special remote protocol (through `remote-proto`) with a storage `Backend`.
//! - [`settings`]: the remote's configuration, from initremote parameters to typed settings.
//! - [`encryption`]: ferry's own encryption: the master key made at INITREMOTE, loaded at
//!   PREPARE (key cache, passphrase, key-id pinning).
//! - [`storage`]: opens the storage the settings name.
//! - [`rclone_conf`]: `target=`: an rclone remote from the user's rclone.conf as ferry storage.
//! - [`logging`]: `tracing` to stderr or `FERRY_LOG_FILE`, never stdout.
//! - [`cli`]: the `ferry` command for people.

pub mod cli;
pub mod encryption;
pub mod logging;
pub mod naming;
pub mod rclone_conf;
pub mod remote;
pub mod settings;
pub mod storage;

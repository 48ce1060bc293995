//! git-annex's external special remote protocol, complete, as a sans-IO library plus one thin
//! tokio driver.
//!
//! The protocol in ten lines:
//!
//! 1. git-annex starts `git-annex-remote-NAME` and talks to it over stdin/stdout, one line per
//!    message, parameters separated by one space; only the last parameter may hold spaces.
//! 2. The remote speaks first: `VERSION 2`. git-annex offers `EXTENSIONS …`; the remote
//!    answers with the subset it uses.
//! 3. Then git-annex sends requests ([`Request`]: `PREPARE`, `TRANSFER STORE Key File`,
//!    `CHECKPRESENT Key`, …) and waits for each one's [`Reply`]
//!    (`TRANSFER-SUCCESS STORE Key`, `CHECKPRESENT-UNKNOWN Key why`, …).
//! 4. While handling a request the remote may send [`Message`]s: queries (`GETCONFIG`,
//!    `GETCREDS`, `DIRHASH`) answered by git-annex ([`Answer`]: `VALUE …`, `CREDS …`,
//!    `ERROR …`), and notices (`PROGRESS n`, `DEBUG msg`, `SETSTATE …`).
//! 5. Unknown requests get `UNSUPPORTED-REQUEST`; the session goes on.
//! 6. With the ASYNC extension, every line carries `J <n> ` ([`async_jobs`]) and many jobs run
//!    concurrently in one process.
//! 7. When git-annex is done it closes stdin and waits for the process to exit.
//!
//! Layers: [`request`], [`reply`], [`message`] parse and print single lines (both
//! directions, so a test harness can play git-annex); [`session::Session`] is the protocol
//! state machine, without I/O; [`SpecialRemote`] is the trait a remote implements, with
//! [`Annex`] as its handle to git-annex; [`driver::run`] is the only code that does I/O.
//!
//! ```no_run
//! use std::path::Path;
//! use std::sync::Arc;
//! use remote_proto::{Annex, Failure, Key, Presence, Retrieved, SpecialRemote};
//!
//! struct Nowhere;
//!
//! #[async_trait::async_trait]
//! impl SpecialRemote for Nowhere {
//!     async fn init_remote(&self, _: &Annex) -> Result<(), Failure> { Ok(()) }
//!     async fn prepare(&self, _: &Annex) -> Result<(), Failure> { Ok(()) }
//!     async fn store(&self, _: &Key, _: &Path, _: &Annex) -> Result<(), Failure> {
//!         Err("read-only".into())
//!     }
//!     async fn retrieve(&self, _: &Key, _: &Path, _: &Annex) -> Result<Retrieved, Failure> {
//!         Err("nothing stored".into())
//!     }
//!     async fn check_present(&self, _: &Key, _: &Annex) -> Result<Presence, Failure> {
//!         Ok(Presence::Absent)
//!     }
//!     async fn remove(&self, _: &Key, _: &Annex) -> Result<(), Failure> { Ok(()) }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     remote_proto::driver::run_stdio(Arc::new(Nowhere)).await
//! }
//! ```

pub mod annex;
pub mod async_jobs;
pub mod dirhash;
pub mod driver;
pub mod extension;
pub mod handler;
pub mod key;
pub mod message;
pub mod reply;
pub mod request;
pub mod session;
pub mod wire;

pub use annex::Annex;
pub use async_jobs::{Framed, JobId};
pub use extension::Extension;
pub use handler::{
    ConfigOption, Failure, ImportSupport, Importable, InfoField, Presence, Retrieved,
    SpecialRemote, UrlCheck,
};
pub use key::{Chunk, Key, KeyError};
pub use message::{Answer, Message, Outgoing, QueryKind};
pub use reply::{Availability, Reply, UrlEntry};
pub use request::{Direction, Incoming, Request};
pub use session::{QueryError, Session};
pub use wire::ParseError;

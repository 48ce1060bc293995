//! Logging for both binaries: `tracing` to stderr, or appended to `FERRY_LOG_FILE`, filtered by
//! `FERRY_LOG` (e.g. `ferry=debug,remote_proto=debug`; default `warn`). Never to stdout, which
//! belongs to the protocol.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Writes each log line prefixed with `pid=N `, in one `write` call, so that lines from several
/// remote processes appending to one file stay whole and can be told apart.
#[derive(Clone)]
struct PidFile {
    file: Arc<File>,
    prefix: Arc<str>,
}

impl Write for &PidFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut line = Vec::with_capacity(self.prefix.len() + buf.len());
        line.extend_from_slice(self.prefix.as_bytes());
        line.extend_from_slice(buf);
        (&*self.file).write_all(&line)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for PidFile {
    type Writer = &'a PidFile;
    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// Installs the global subscriber. Logging problems never stop the program: an unopenable
/// `FERRY_LOG_FILE` falls back to stderr with a warning.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    let file = std::env::var_os("FERRY_LOG_FILE").filter(|p| !p.is_empty());
    let opened = file
        .as_ref()
        .map(|path| OpenOptions::new().create(true).append(true).open(path));
    match opened {
        Some(Ok(file)) => {
            let writer = PidFile {
                file: Arc::new(file),
                prefix: format!("pid={} ", std::process::id()).into(),
            };
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(writer)
                .with_ansi(false)
                .try_init();
        }
        other => {
            // Colours only for a person at a terminal, not in git-annex's or CI's captures.
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(io::stderr)
                .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
                .try_init();
            if let Some(Err(e)) = other {
                tracing::warn!("cannot open FERRY_LOG_FILE ({e}); logging to stderr");
            }
        }
    }
}

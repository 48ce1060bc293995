//! The test context: options, the sandbox, the emulated repository, and helpers that every
//! test uses to start remotes and make content.

use std::cell::RefCell;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use remote_proto::{Extension, Key, Reply, Request};

use crate::annex::Annex;
use crate::content;
use crate::remote::{Exchange, GIT_ANNEX_EXTENSIONS, Program, Remote, Setup, SharedTranscript};
use crate::sandbox::Sandbox;
use crate::verdict::Fail;

/// How `--git-annex` runs `git annex testremote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestRemoteMode {
    /// The full run (573 tests with git-annex 10.20261026).
    Full,
    /// `--fast` (125 tests).
    Fast,
}

/// Everything the command line decides.
#[derive(Debug, Clone)]
pub struct Options {
    /// The remote program and its arguments.
    pub program: Program,
    /// `-c name=value`, placeholders expanded.
    pub params: Vec<(String, String)>,
    /// The inactivity timeout of every step.
    pub timeout: Duration,
    /// `--break`: makes the storage unreachable (placeholders expanded).
    pub break_cmd: Option<String>,
    /// `--heal`: makes it reachable again.
    pub heal_cmd: Option<String>,
    /// The size of the big transfer (64 MiB; smaller with `--quick`).
    pub big: u64,
    /// The kill test kills the STORE at the first PROGRESS of at least this many bytes
    /// (`--kill-at-mib`; 1 by default: the first PROGRESS).
    pub kill_at: u64,
    /// How many operations each perf test runs.
    pub perf_count: usize,
    /// Jobs in flight for the ASYNC perf tests.
    pub perf_jobs: usize,
    /// Run `git annex testremote` too.
    pub git_annex: Option<TestRemoteMode>,
    /// The `externaltype` (NAME of `git-annex-remote-NAME`).
    pub externaltype: String,
}

/// The probed capabilities of the remote (one short process, asked once per run).
#[derive(Debug, Clone)]
pub struct Probe {
    /// What the remote asked for in EXTENSIONS.
    pub extensions: Vec<Extension>,
    /// Whether it answered EXPORTSUPPORTED-SUCCESS.
    pub export: bool,
}

/// A measurement reported with a test (`ops/s`, `MB/s`).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// What was measured.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
}

/// Shared state of a run, reset in parts between tests.
pub struct Ctx {
    /// The options.
    pub opts: Options,
    /// The sandbox.
    pub sandbox: Sandbox,
    /// The emulated repository state.
    pub annex: Rc<RefCell<Annex>>,
    /// The current test's transcript.
    pub transcript: SharedTranscript,
    /// The current test's stderr log.
    pub log: PathBuf,
    /// The current test's `group/name`, mixed into content seeds.
    pub label: String,
    /// Measurements of the current test.
    pub metrics: Vec<Metric>,
    nonce: String,
    processes: usize,
    probe: Option<Result<Probe, Fail>>,
}

impl Ctx {
    /// A context for a run.
    pub fn new(opts: Options, sandbox: Sandbox) -> Ctx {
        let annex = Annex::new(&opts.params, &opts.externaltype);
        let nonce = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let log = sandbox.logs().join("setup.log");
        Ctx {
            opts,
            sandbox,
            annex: Rc::new(RefCell::new(annex)),
            transcript: SharedTranscript::default(),
            log,
            label: String::new(),
            metrics: Vec::new(),
            nonce,
            processes: 0,
            probe: None,
        }
    }

    /// Prepares for the next test: a fresh transcript, log file and metrics.
    pub fn begin(&mut self, group: &str, name: &str) {
        self.transcript.borrow_mut().clear();
        self.label = format!("{group}/{name}");
        self.log = self
            .sandbox
            .logs()
            .join(format!("{group}-{name}.stderr").replace('/', "_"));
        self.metrics.clear();
        self.processes = 0;
    }

    fn setup(&mut self) -> Setup {
        self.processes += 1;
        Setup {
            program: self.opts.program.clone(),
            cwd: self.sandbox.repo().to_path_buf(),
            stderr_log: self.log.clone(),
            timeout: self.opts.timeout,
            annex: Rc::clone(&self.annex),
            transcript: Rc::clone(&self.transcript),
            number: self.processes,
        }
    }

    /// Starts a remote and reads its VERSION.
    ///
    /// # Errors
    /// When it cannot start or does not begin with VERSION.
    pub fn spawn(&mut self) -> Result<Remote, Fail> {
        let setup = self.setup();
        let mut r = Remote::spawn(&setup)?;
        r.read_version()?;
        Ok(r)
    }

    /// Starts a remote and negotiates extensions with git-annex's offer.
    ///
    /// # Errors
    /// As [`Ctx::spawn`], and on a bad EXTENSIONS reply.
    pub fn connect(&mut self) -> Result<Remote, Fail> {
        let mut r = self.spawn()?;
        r.negotiate(&GIT_ANNEX_EXTENSIONS)?;
        Ok(r)
    }

    /// Starts a remote ready for requests: VERSION, EXTENSIONS, PREPARE.
    ///
    /// # Errors
    /// As [`Ctx::connect`], and when PREPARE fails.
    pub fn start(&mut self) -> Result<Remote, Fail> {
        let mut r = self.connect()?;
        r.prepare()?;
        Ok(r)
    }

    /// The remote's capabilities, asked once per run.
    ///
    /// # Errors
    /// When the probe process fails.
    pub fn probe(&mut self) -> Result<Probe, Fail> {
        if let Some(p) = &self.probe {
            return p.clone();
        }
        let result = (|| {
            let mut r = self.connect()?;
            let ex = r.request(&Request::ExportSupported)?;
            Ok(Probe {
                extensions: r.extensions.clone(),
                export: matches!(ex.reply(), Some(Reply::ExportSupportedSuccess)),
            })
        })();
        self.probe = Some(result.clone());
        result
    }

    /// Reproducible content of `size` bytes for this test and `label`, with its MD5E key.
    pub fn content(&self, label: &str, size: u64) -> (Key, Vec<u8>) {
        let seed = format!("{}/{}/{label}", self.nonce, self.label);
        let data = content::bytes(&seed, usize::try_from(size).unwrap_or(usize::MAX));
        (content::md5e_key(&data, ".bin"), data)
    }

    /// Content for `key` (any key), reproducible from the key and this run.
    pub fn content_for(&self, key: &Key, size: u64) -> Vec<u8> {
        let seed = format!("{}/{}", self.nonce, key.as_str());
        content::bytes(&seed, usize::try_from(size).unwrap_or(usize::MAX))
    }

    /// A per-run unique word, for names that must not collide with earlier runs.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Writes `data` as `key`'s annex object and returns the STORE path.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn source(&self, key: &Key, data: &[u8]) -> Result<String, Fail> {
        Ok(self.sandbox.object_file(key, data)?)
    }

    /// The RETRIEVE destination for `key`, with any old file there removed.
    pub fn fresh_dest(&self, key: &Key) -> String {
        let rel = self.sandbox.tmp_path(key);
        let _ = fs::remove_file(self.sandbox.abs(&rel));
        rel
    }

    /// Reads a file relative to the repository (empty when missing).
    pub fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.sandbox.abs(rel)).unwrap_or_default()
    }

    /// Checks that a RETRIEVE (`ex`) wrote exactly `want` to `dest`; a failure shows the
    /// exchange.
    ///
    /// # Errors
    /// When the bytes differ.
    pub fn check_retrieved(&self, ex: &Exchange, dest: &str, want: &[u8]) -> Result<(), Fail> {
        let got = self.read(dest);
        same_bytes("RETRIEVE", &got, want).map_err(|mut f| {
            f.sent = Some(ex.sent.clone());
            f.expected = Some(format!(
                "{} and exactly the stored {} bytes in the file",
                ex.received(),
                want.len()
            ));
            f.received = Some(format!("{} bytes in the file", got.len()));
            f
        })
    }

    /// Records a measurement.
    pub fn metric(&mut self, name: impl Into<String>, value: f64, unit: &'static str) {
        self.metrics.push(Metric {
            name: name.into(),
            value,
            unit,
        });
    }

    /// Runs a `--break`/`--heal` command with `sh -c`.
    ///
    /// # Errors
    /// When it cannot run or exits non-zero.
    pub fn shell(&self, what: &str, cmd: &str) -> Result<(), Fail> {
        self.transcript
            .borrow_mut()
            .push(format!("!! {what}: sh -c {cmd:?}"));
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(self.sandbox.root())
            .output()
            .map_err(|e| Fail::new(format!("cannot run the {what} command: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Fail::new(format!(
                "the {what} command `{cmd}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

/// Compares retrieved bytes with the expected ones, describing the first difference.
///
/// # Errors
/// A [`Fail`] naming the first differing offset and the lengths.
pub fn same_bytes(what: &str, got: &[u8], want: &[u8]) -> Result<(), Fail> {
    if got == want {
        return Ok(());
    }
    let first = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let how = if got.len() == want.len() {
        format!(
            "the length is right ({}), but byte {first} differs",
            got.len()
        )
    } else {
        format!(
            "{} bytes instead of {}, first difference at offset {first}",
            got.len(),
            want.len()
        )
    };
    Err(Fail::new(format!(
        "{what}: not the bytes that were stored: {how}"
    )))
}

//! One running remote program, with the suite playing git-annex on the other end of its pipes.
//!
//! Threads, not async: a reader thread turns the remote's stdout into lines on a channel, so
//! that every wait has a timeout ([`std::sync::mpsc::Receiver::recv_timeout`]); a writer thread
//! owns its stdin, so that a remote that stops reading (a hang, a huge line) can never block the
//! suite. Every line parsed or printed goes through remote-proto. The remote runs in its own
//! process group, so that a kill also reaches the children it started (rclone, ssh), and git's
//! environment is set up as git-annex sets it (`GIT_DIR=.git`, cwd = the repository).

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use remote_proto::async_jobs::{self, JobId};
use remote_proto::{Answer, Direction, Extension, Key, Message, Outgoing, Reply, Request};

use crate::annex::{Annex, ProcessConfig, QueryPolicy};
use crate::check;
use crate::verdict::Fail;

/// What git-annex 10.20261026 offers in its `EXTENSIONS` line, in its order.
pub const GIT_ANNEX_EXTENSIONS: [&str; 8] = [
    "INFO",
    "GETGITREMOTENAME",
    "UNAVAILABLERESPONSE",
    "TRANSFER-RETRIEVE-URL",
    "CHECKPRESENT-URL",
    "IMPORTKEY",
    "DELEGATE",
    "ASYNC",
];

/// How long a transcript line may get before it is cut (a junk test sends a 1 MiB line).
const TRANSCRIPT_LINE_MAX: usize = 300;
/// How many transcript lines a test keeps.
const TRANSCRIPT_KEEP: usize = 400;

/// The lines exchanged during one test, across all the processes it started.
#[derive(Debug, Default)]
pub struct Transcript {
    lines: VecDeque<String>,
}

/// A transcript shared by the remotes of one test.
pub type SharedTranscript = Rc<RefCell<Transcript>>;

impl Transcript {
    /// Appends a line, cut to a readable length.
    pub fn push(&mut self, line: String) {
        let line = crate::report::visible(&line);
        let line = if line.len() > TRANSCRIPT_LINE_MAX {
            let mut cut = TRANSCRIPT_LINE_MAX;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}… ({} bytes)", &line[..cut], line.len())
        } else {
            line
        };
        self.lines.push_back(line);
        if self.lines.len() > TRANSCRIPT_KEEP {
            self.lines.pop_front();
        }
    }

    /// The last `n` lines.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let skip = self.lines.len().saturating_sub(n);
        self.lines.iter().skip(skip).cloned().collect()
    }

    /// Forgets everything (a new test starts).
    pub fn clear(&mut self) {
        self.lines.clear();
    }
}

/// How to start the remote program.
#[derive(Debug, Clone)]
pub struct Program {
    /// The program, found on PATH unless it contains a `/`.
    pub path: String,
    /// Arguments (git-annex passes none; the fakes take `--flaw`).
    pub args: Vec<String>,
}

/// Everything a remote needs from the suite when it starts.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The program.
    pub program: Program,
    /// Its working directory, the fake repository.
    pub cwd: PathBuf,
    /// The file its stderr is appended to.
    pub stderr_log: PathBuf,
    /// How long to wait for any line before declaring a hang.
    pub timeout: Duration,
    /// The repository state that answers its queries.
    pub annex: Rc<RefCell<Annex>>,
    /// Where the exchange is recorded.
    pub transcript: SharedTranscript,
    /// A number for this process within its test, shown in the transcript (`p2>`).
    pub number: usize,
}

enum FromRemote {
    Line(Vec<u8>),
    Eof,
}

enum Recv {
    Line(String),
    Eof,
    TimedOut,
}

/// Something the remote sent, after the suite answered it if it was a query.
#[derive(Debug, Clone)]
pub enum Event {
    /// A reply to a request.
    Reply {
        /// Its job tag (ASYNC), if any.
        job: JobId,
        /// The reply.
        reply: Reply,
        /// The line as received, without its job tag.
        line: String,
    },
    /// A message (query or notice); queries have been answered.
    Message {
        /// Its job tag (ASYNC), if any.
        job: JobId,
        /// The message.
        msg: Message,
    },
    /// The remote closed its stdout (it exited).
    Eof,
}

/// One request and everything the remote sent while handling it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request.
    pub request: Request,
    /// The line that was sent (with its job tag).
    pub sent: String,
    /// The job it ran on.
    pub job: JobId,
    /// The replies (several for LISTCONFIGS and GETINFO; none for EXPORT).
    pub replies: Vec<Reply>,
    /// The reply lines as received.
    pub lines: Vec<String>,
    /// PROGRESS values, in order.
    pub progress: Vec<u64>,
    /// DEBUG, INFO and other notices.
    pub notes: Vec<String>,
    /// From sending the request to its final reply.
    pub elapsed: Duration,
    /// In which order this request completed among those run together (0 first).
    pub completed: usize,
}

impl Exchange {
    /// The final reply, if any.
    pub fn reply(&self) -> Option<&Reply> {
        self.replies.last()
    }

    /// The final reply line, or a marker when there is none.
    pub fn received(&self) -> String {
        self.lines
            .last()
            .cloned()
            .unwrap_or_else(|| "<no reply>".to_owned())
    }

    /// Checks the final reply with `ok`; otherwise fails with `summary`, showing the exchange.
    ///
    /// # Errors
    /// A [`Fail`] showing sent, expected and received.
    pub fn expect(
        self,
        ok: impl Fn(&Reply) -> bool,
        expected: &str,
        summary: &str,
    ) -> Result<Exchange, Fail> {
        if self.reply().is_some_and(&ok) {
            Ok(self)
        } else {
            Err(Fail::exchange(
                summary,
                &self.sent,
                expected,
                self.received(),
            ))
        }
    }
}

/// A running remote.
pub struct Remote {
    child: Child,
    to_remote: Option<mpsc::Sender<Vec<u8>>>,
    from_remote: mpsc::Receiver<FromRemote>,
    annex: Rc<RefCell<Annex>>,
    process: ProcessConfig,
    transcript: SharedTranscript,
    number: usize,
    /// How long to wait for any line before declaring a hang.
    pub timeout: Duration,
    /// How queries are answered.
    pub policy: QueryPolicy,
    /// The protocol version the remote announced.
    pub version: u32,
    /// The extensions the remote asked for (after EXTENSIONS).
    pub extensions: Vec<Extension>,
    async_mode: bool,
    in_init: bool,
    eof: bool,
    dead: bool,
    /// Accept untagged replies in ASYNC mode (answers to junk lines, which carry no tag).
    pub lenient_untagged: bool,
}

impl Remote {
    /// Starts the program. Nothing is read yet; see [`Remote::read_version`].
    ///
    /// # Errors
    /// When the program cannot be started.
    pub fn spawn(setup: &Setup) -> Result<Remote, Fail> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&setup.stderr_log)
            .map_err(|e| {
                Fail::new(format!(
                    "cannot open the log {}: {e}",
                    setup.stderr_log.display()
                ))
            })?;
        let _ = writeln!(&log, "--- process p{} ---", setup.number);
        let mut child = Command::new(&setup.program.path)
            .args(&setup.program.args)
            .current_dir(&setup.cwd)
            // git-annex runs remotes with a relative GIT_DIR.
            .env("GIT_DIR", ".git")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .process_group(0)
            .spawn()
            .map_err(|e| {
                Fail::new(format!(
                    "cannot start {}: {e} (is it installed and on PATH?)",
                    setup.program.path
                ))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Fail::new("the remote's pipes were not set up"));
        };
        let (to_remote, outbox) = mpsc::channel::<Vec<u8>>();
        thread::spawn(move || {
            let mut stdin = stdin;
            for buf in outbox {
                if stdin.write_all(&buf).and_then(|()| stdin.flush()).is_err() {
                    break;
                }
            }
            // Dropping stdin closes it: the remote sees EOF.
        });
        let (inbox, from_remote) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::with_capacity(1 << 16, stdout);
            loop {
                let mut buf = Vec::new();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = inbox.send(FromRemote::Eof);
                        break;
                    }
                    Ok(_) => {
                        if inbox.send(FromRemote::Line(buf)).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        setup
            .transcript
            .borrow_mut()
            .push(format!("p{} started: {}", setup.number, setup.program.path));
        Ok(Remote {
            child,
            to_remote: Some(to_remote),
            from_remote,
            annex: Rc::clone(&setup.annex),
            process: ProcessConfig::default(),
            transcript: Rc::clone(&setup.transcript),
            number: setup.number,
            timeout: setup.timeout,
            policy: QueryPolicy::Normal,
            version: 0,
            extensions: Vec::new(),
            async_mode: false,
            in_init: false,
            eof: false,
            dead: false,
            lenient_untagged: false,
        })
    }

    /// Sets configuration that only this process sees (as if git-annex had it in this remote's
    /// config, e.g. `exporttree=yes`).
    pub fn set_process_config(&mut self, name: &str, value: &str) {
        self.process
            .overlay
            .insert(name.to_owned(), value.to_owned());
    }

    /// True when ASYNC was negotiated.
    pub fn is_async(&self) -> bool {
        self.async_mode
    }

    /// True when the remote asked for `ext`.
    pub fn has(&self, ext: &Extension) -> bool {
        self.extensions.contains(ext)
    }

    fn note(&self, line: String) {
        self.transcript
            .borrow_mut()
            .push(format!("p{} {line}", self.number));
    }

    /// Sends raw bytes; `shown` is what the transcript records.
    pub fn send_raw(&mut self, bytes: Vec<u8>, shown: &str) {
        self.note(format!(">> {shown}"));
        if let Some(tx) = &self.to_remote {
            let _ = tx.send(bytes);
        }
    }

    /// Sends one line (a `\n` is added).
    pub fn send_line(&mut self, line: &str) {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        self.send_raw(bytes, line);
    }

    /// Closes the remote's stdin, as git-annex does when it is done.
    pub fn close_stdin(&mut self) {
        if self.to_remote.take().is_some() {
            self.note("!! stdin closed".to_owned());
        }
    }

    /// Waits up to `grace` for the remote to exit on its own.
    pub fn wait_exit(&mut self, grace: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if start.elapsed() < grace => thread::sleep(Duration::from_millis(5)),
                _ => return None,
            }
        }
    }

    /// `kill -9` of the remote and every process it started.
    pub fn kill(&mut self) {
        let pgid = self.child.id();
        // The remote leads its own process group: a negative pid reaches all of it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dead = true;
        self.to_remote = None;
        self.note("!! killed (SIGKILL to its process group)".to_owned());
    }

    /// How the process ended, for messages (`exited with status 1`, `killed by signal 11`).
    pub fn exit_text(&mut self) -> String {
        match self.wait_exit(Duration::from_millis(500)) {
            Some(status) => describe_status(status),
            None => "still running".to_owned(),
        }
    }

    /// Waits up to `limit` for a line.
    fn recv(&mut self, limit: Duration) -> Result<Recv, Fail> {
        if self.eof {
            return Ok(Recv::Eof);
        }
        match self.from_remote.recv_timeout(limit) {
            Ok(FromRemote::Line(mut bytes)) => {
                if bytes.last() == Some(&b'\n') {
                    bytes.pop();
                }
                // git-annex reads bytes; a stray invalid byte (a remote echoing junk back in an
                // ERROR) is shown, not fatal. Keys with it would not match anyway.
                let line = String::from_utf8_lossy(&bytes).into_owned();
                if std::str::from_utf8(&bytes).is_err() {
                    self.note("!! the next line is not valid UTF-8".to_owned());
                }
                self.note(format!("<< {line}"));
                Ok(Recv::Line(line))
            }
            Ok(FromRemote::Eof) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.eof = true;
                self.note("<< <EOF>".to_owned());
                Ok(Recv::Eof)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(Recv::TimedOut),
        }
    }

    /// Reads one line, waiting at most the timeout; a timeout is a hang: the remote is killed.
    /// `Ok(None)` is EOF.
    fn read_line(&mut self, waiting_for: &str) -> Result<Option<String>, Fail> {
        match self.recv(self.timeout)? {
            Recv::Line(line) => Ok(Some(line)),
            Recv::Eof => Ok(None),
            Recv::TimedOut => {
                let secs = self.timeout.as_secs_f64();
                self.note(format!("!! nothing for {secs:.0} s: hang"));
                self.kill();
                Err(Fail::exchange(
                    format!("the remote hangs: nothing within {secs:.0} s"),
                    waiting_for,
                    "a reply",
                    format!("<nothing within {secs:.0} s>"),
                ))
            }
        }
    }

    /// Reads the next thing the remote sends, answering it first if it is a query.
    ///
    /// # Errors
    /// On a hang, a line that does not parse, or (ASYNC) a line without a job tag.
    pub fn next_event(&mut self, waiting_for: &str) -> Result<Event, Fail> {
        match self.read_line(waiting_for)? {
            Some(line) => self.parse_event(line, waiting_for),
            None => Ok(Event::Eof),
        }
    }

    /// As [`Remote::next_event`], but gives up quietly after `limit` (`Ok(None)`), leaving the
    /// remote running.
    ///
    /// # Errors
    /// As [`Remote::next_event`], except for the hang.
    pub fn next_event_within(
        &mut self,
        limit: Duration,
        waiting_for: &str,
    ) -> Result<Option<Event>, Fail> {
        match self.recv(limit)? {
            Recv::Line(line) => self.parse_event(line, waiting_for).map(Some),
            Recv::Eof => Ok(Some(Event::Eof)),
            Recv::TimedOut => Ok(None),
        }
    }

    fn parse_event(&mut self, line: String, waiting_for: &str) -> Result<Event, Fail> {
        let (job, text) = if self.async_mode {
            match async_jobs::split(&line) {
                Ok((job, text)) => (job, text.to_owned()),
                Err(e) => {
                    return Err(Fail::exchange(
                        format!("protocol error: {e}"),
                        waiting_for,
                        "a `J n` line",
                        line,
                    ));
                }
            }
        } else {
            (None, line.clone())
        };
        let parsed = Outgoing::parse(&text).map_err(|e| {
            Fail::exchange(
                format!("protocol error: the remote sent a line git-annex cannot parse ({e})"),
                waiting_for,
                "a reply or a message",
                &line,
            )
        })?;
        let untagged_ok = matches!(parsed, Outgoing::Reply(Reply::Error(_)))
            || (self.lenient_untagged && matches!(parsed, Outgoing::Reply(_)));
        if self.async_mode && job.is_none() && !untagged_ok {
            return Err(Fail::exchange(
                "protocol error: an untagged line in ASYNC mode (git-annex: unexpected non-async message)",
                waiting_for,
                "a `J n` line",
                &line,
            ));
        }
        match parsed {
            Outgoing::Reply(reply) => Ok(Event::Reply {
                job,
                reply,
                line: text,
            }),
            Outgoing::Message(Message::Version(n)) if self.version == 0 => {
                // The greeting; any later VERSION gets git-annex's "too late" ERROR below.
                self.version = n;
                Ok(Event::Message {
                    job,
                    msg: Message::Version(n),
                })
            }
            Outgoing::Message(msg) => {
                let answers = self.annex.borrow_mut().answer(
                    &msg,
                    self.policy,
                    &mut self.process,
                    self.in_init,
                );
                for answer in answers {
                    let framed = frame_answer(job, &answer);
                    self.send_line(&framed);
                }
                Ok(Event::Message { job, msg })
            }
        }
    }

    /// Reads `VERSION n`, the first line of every session.
    ///
    /// # Errors
    /// When the first line is anything else.
    pub fn read_version(&mut self) -> Result<u32, Fail> {
        let waiting = "(nothing: the remote speaks first)";
        match self.next_event(waiting)? {
            Event::Message {
                msg: Message::Version(n),
                ..
            } => {
                self.version = n;
                if n == 1 || n == 2 {
                    Ok(n)
                } else {
                    Err(Fail::exchange(
                        format!("VERSION {n} is not supported by git-annex"),
                        waiting,
                        "VERSION 2 (or 1)",
                        format!("VERSION {n}"),
                    ))
                }
            }
            Event::Eof => Err(Fail::exchange(
                format!("the remote exited before VERSION ({})", self.exit_text()),
                waiting,
                "VERSION 2",
                "<EOF>",
            )),
            other => Err(Fail::exchange(
                "the first line must be VERSION",
                waiting,
                "VERSION 2",
                event_text(&other),
            )),
        }
    }

    /// Sends `EXTENSIONS offer` and reads the answer; the remote may only ask for offered
    /// extensions. Sets ASYNC framing when it asked for ASYNC.
    ///
    /// # Errors
    /// On a reply that is neither `EXTENSIONS …` nor `UNSUPPORTED-REQUEST`, or that names an
    /// extension that was not offered.
    pub fn negotiate(&mut self, offer: &[&str]) -> Result<Vec<Extension>, Fail> {
        let sent = if offer.is_empty() {
            "EXTENSIONS".to_owned()
        } else {
            format!("EXTENSIONS {}", offer.join(" "))
        };
        self.send_line(&sent);
        let expected = "EXTENSIONS <a subset of the offer> or UNSUPPORTED-REQUEST";
        loop {
            match self.next_event(&sent)? {
                Event::Message { .. } => continue,
                Event::Reply {
                    reply: Reply::Extensions(list),
                    line,
                    ..
                } => {
                    let unknown: Vec<&str> = list
                        .iter()
                        .map(|e| e.as_str())
                        .filter(|e| !offer.contains(e))
                        .collect();
                    if !unknown.is_empty() {
                        return Err(Fail::exchange(
                            format!(
                                "the remote asked for extensions git-annex did not offer: {} (git-annex: requested extensions that this version of git-annex does not support)",
                                unknown.join(" ")
                            ),
                            &sent,
                            expected,
                            line,
                        ));
                    }
                    self.async_mode = list.contains(&Extension::Async);
                    self.extensions = list.clone();
                    return Ok(list);
                }
                Event::Reply {
                    reply: Reply::UnsupportedRequest,
                    ..
                } => {
                    self.extensions.clear();
                    return Ok(Vec::new());
                }
                Event::Reply { line, .. } => {
                    return Err(Fail::exchange(
                        "wrong reply to EXTENSIONS",
                        &sent,
                        expected,
                        line,
                    ));
                }
                Event::Eof => {
                    let status = self.exit_text();
                    return Err(Fail::exchange(
                        format!("the remote exited after EXTENSIONS ({status})"),
                        &sent,
                        expected,
                        "<EOF>",
                    ));
                }
            }
        }
    }

    /// Sends one request and reads everything up to its final reply.
    ///
    /// # Errors
    /// On a hang, an exit, a protocol error or a reply that does not answer the request.
    pub fn request(&mut self, req: &Request) -> Result<Exchange, Fail> {
        let mut all = self.run_jobs(std::slice::from_ref(req), 1)?;
        all.pop()
            .ok_or_else(|| Fail::new("internal: no exchange recorded"))
    }

    /// Runs `requests` on up to `window` concurrent jobs (ASYNC; without it, one at a time).
    /// The first `window` requests are all sent before anything is read; then each job gets the
    /// next request as soon as its previous one is answered. `EXPORT` (no reply) is followed at
    /// once by the next request on the same job, so `[EXPORT a, TRANSFEREXPORT …]` pairs up.
    ///
    /// # Errors
    /// As [`Remote::request`]; also a line for a job that has nothing in flight.
    pub fn run_jobs(&mut self, requests: &[Request], window: usize) -> Result<Vec<Exchange>, Fail> {
        let window = if self.async_mode { window.max(1) } else { 1 };
        let mut queue: VecDeque<usize> = (0..requests.len()).collect();
        let mut done: Vec<Option<Exchange>> = vec![None; requests.len()];
        let mut inflight: BTreeMap<u32, (usize, Exchange, Instant)> = BTreeMap::new();
        let mut completed = 0usize;
        for job in 1..=window as u32 {
            self.dispatch(
                job,
                requests,
                &mut queue,
                &mut inflight,
                &mut done,
                &mut completed,
            );
        }
        while !inflight.is_empty() {
            let waiting: String = inflight
                .values()
                .map(|(_, ex, _)| ex.sent.clone())
                .collect::<Vec<_>>()
                .join(" | ");
            let event = self.next_event(&waiting)?;
            match event {
                Event::Eof => {
                    let status = self.exit_text();
                    let (_, ex, _) = inflight
                        .values()
                        .next()
                        .ok_or_else(|| Fail::new("internal: nothing in flight"))?;
                    return Err(Fail::exchange(
                        format!(
                            "the remote exited while handling {} ({status})",
                            ex.request.verb()
                        ),
                        &ex.sent,
                        "a reply",
                        "<EOF>",
                    ));
                }
                Event::Message { job, msg } => {
                    let slot = self.job_slot(job, &inflight, &waiting, &msg.to_string())?;
                    if let Some((_, ex, _)) = inflight.get_mut(&slot) {
                        match msg {
                            Message::Progress(n) => ex.progress.push(n),
                            // The report shows notes; a stored password must not be in it.
                            Message::SetCreds { setting, user, .. } => ex
                                .notes
                                .push(format!("SETCREDS {setting} {user} <password hidden>")),
                            other => ex.notes.push(other.to_string()),
                        }
                    }
                }
                Event::Reply {
                    job: None,
                    reply: Reply::Error(text),
                    line,
                } if self.async_mode => {
                    // An untagged ERROR goes to every job.
                    for (_, (i, mut ex, started)) in std::mem::take(&mut inflight) {
                        ex.replies.push(Reply::Error(text.clone()));
                        ex.lines.push(line.clone());
                        ex.elapsed = started.elapsed();
                        ex.completed = completed;
                        completed += 1;
                        done[i] = Some(ex);
                    }
                }
                Event::Reply { job, reply, line } => {
                    let slot = self.job_slot(job, &inflight, &waiting, &line)?;
                    let Some((i, mut ex, started)) = inflight.remove(&slot) else {
                        return Err(Fail::new("internal: job vanished"));
                    };
                    if let Err(why) = check::fits(&ex.request, &reply, &self.extensions) {
                        return Err(Fail::exchange(
                            format!("protocol error: {why}"),
                            &ex.sent,
                            expected_for(&ex.request),
                            line,
                        ));
                    }
                    let last = reply.is_final();
                    ex.replies.push(reply);
                    ex.lines.push(line);
                    if !last {
                        inflight.insert(slot, (i, ex, started));
                        continue;
                    }
                    ex.elapsed = started.elapsed();
                    ex.completed = completed;
                    completed += 1;
                    if matches!(ex.request, Request::InitRemote) {
                        self.in_init = false;
                        if matches!(ex.reply(), Some(Reply::InitRemoteSuccess)) {
                            self.annex.borrow_mut().persist(&self.process);
                        }
                        self.process.during_init.clear();
                    }
                    done[i] = Some(ex);
                    self.dispatch(
                        slot,
                        requests,
                        &mut queue,
                        &mut inflight,
                        &mut done,
                        &mut completed,
                    );
                }
            }
        }
        done.into_iter()
            .map(|ex| ex.ok_or_else(|| Fail::new("internal: a request was never answered")))
            .collect()
    }

    /// Which in-flight job a line belongs to.
    fn job_slot(
        &self,
        job: JobId,
        inflight: &BTreeMap<u32, (usize, Exchange, Instant)>,
        waiting: &str,
        line: &str,
    ) -> Result<u32, Fail> {
        if !self.async_mode {
            return inflight
                .keys()
                .next()
                .copied()
                .ok_or_else(|| Fail::new("internal: nothing in flight"));
        }
        match job {
            Some(j) if inflight.contains_key(&j) => Ok(j),
            Some(j) => Err(Fail::exchange(
                format!(
                    "protocol error: a line for job {j}, which has no request in flight (git-annex: unknown job number)"
                ),
                waiting,
                "lines tagged with the job of their request",
                line,
            )),
            None => Err(Fail::exchange(
                "protocol error: an untagged line in ASYNC mode",
                waiting,
                "a `J n` line",
                line,
            )),
        }
    }

    /// Sends the next queued requests on `job` until one that expects a reply is in flight.
    fn dispatch(
        &mut self,
        job: u32,
        requests: &[Request],
        queue: &mut VecDeque<usize>,
        inflight: &mut BTreeMap<u32, (usize, Exchange, Instant)>,
        done: &mut [Option<Exchange>],
        completed: &mut usize,
    ) {
        while let Some(i) = queue.pop_front() {
            let req = &requests[i];
            let tag = if self.async_mode { Some(job) } else { None };
            let sent = async_jobs::frame(tag, req);
            self.send_line(&sent);
            let ex = Exchange {
                request: req.clone(),
                sent,
                job: tag,
                replies: Vec::new(),
                lines: Vec::new(),
                progress: Vec::new(),
                notes: Vec::new(),
                elapsed: Duration::ZERO,
                completed: 0,
            };
            if matches!(req, Request::Export(_) | Request::Import(_)) {
                let mut ex = ex;
                ex.completed = *completed;
                *completed += 1;
                done[i] = Some(ex);
                continue;
            }
            if matches!(req, Request::InitRemote) {
                self.in_init = true;
            }
            inflight.insert(job, (i, ex, Instant::now()));
            return;
        }
    }

    /// `PREPARE`, expecting `PREPARE-SUCCESS`.
    ///
    /// # Errors
    /// On any other reply.
    pub fn prepare(&mut self) -> Result<Exchange, Fail> {
        self.request(&Request::Prepare)?.expect(
            |r| matches!(r, Reply::PrepareSuccess),
            "PREPARE-SUCCESS",
            "PREPARE failed",
        )
    }

    /// `TRANSFER STORE key file`, expecting success.
    ///
    /// # Errors
    /// On any other reply.
    pub fn store(&mut self, key: &Key, file: &str) -> Result<Exchange, Fail> {
        self.request(&transfer(Direction::Store, key, file))?
            .expect(
                |r| matches!(r, Reply::TransferSuccess { .. }),
                &format!("TRANSFER-SUCCESS STORE {key}"),
                "STORE failed",
            )
    }

    /// `TRANSFER RETRIEVE key file`, expecting success.
    ///
    /// # Errors
    /// On any other reply.
    pub fn retrieve(&mut self, key: &Key, file: &str) -> Result<Exchange, Fail> {
        self.request(&transfer(Direction::Retrieve, key, file))?
            .expect(
                |r| matches!(r, Reply::TransferSuccess { .. }),
                &format!("TRANSFER-SUCCESS RETRIEVE {key}"),
                "RETRIEVE failed",
            )
    }

    /// `CHECKPRESENT key`, expecting `CHECKPRESENT-SUCCESS`.
    ///
    /// # Errors
    /// On any other reply.
    pub fn expect_present(&mut self, key: &Key) -> Result<Exchange, Fail> {
        self.request(&Request::CheckPresent(key.clone()))?.expect(
            |r| matches!(r, Reply::CheckPresentSuccess(_)),
            &format!("CHECKPRESENT-SUCCESS {key}"),
            "the key should be present",
        )
    }

    /// `CHECKPRESENT key`, expecting `CHECKPRESENT-FAILURE` (verified absent).
    ///
    /// # Errors
    /// On any other reply.
    pub fn expect_absent(&mut self, key: &Key) -> Result<Exchange, Fail> {
        self.request(&Request::CheckPresent(key.clone()))?.expect(
            |r| matches!(r, Reply::CheckPresentFailure(_)),
            &format!("CHECKPRESENT-FAILURE {key}"),
            "the key should be absent",
        )
    }

    /// `REMOVE key`, expecting `REMOVE-SUCCESS`.
    ///
    /// # Errors
    /// On any other reply.
    pub fn remove(&mut self, key: &Key) -> Result<Exchange, Fail> {
        self.request(&Request::Remove(key.clone()))?.expect(
            |r| matches!(r, Reply::RemoveSuccess(_)),
            &format!("REMOVE-SUCCESS {key}"),
            "REMOVE failed",
        )
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if self.dead {
            return;
        }
        self.close_stdin();
        // git-annex waits for the remote after closing stdin; a remote that lingers is cut off
        // here rather than leaking into the next test.
        if self.wait_exit(Duration::from_secs(5)).is_none() {
            self.kill();
        }
    }
}

/// `TRANSFER dir key file`.
pub fn transfer(dir: Direction, key: &Key, file: &str) -> Request {
    Request::Transfer {
        dir,
        key: key.clone(),
        file: file.to_owned(),
    }
}

fn frame_answer(job: JobId, answer: &Answer) -> String {
    // git-annex tags every answer, its `ERROR cannot send … here` included, with the job of the
    // query: the answer belongs to that job's request.
    async_jobs::frame(job, answer)
}

fn event_text(ev: &Event) -> String {
    match ev {
        Event::Reply { line, .. } => line.clone(),
        Event::Message { msg, .. } => msg.to_string(),
        Event::Eof => "<EOF>".to_owned(),
    }
}

/// Describes an exit status for people.
pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "ended".to_owned(),
    }
}

/// The replies a conforming remote may send to `req`, for messages.
pub fn expected_for(req: &Request) -> String {
    match req {
        Request::Transfer { dir, key, .. } | Request::TransferExport { dir, key, .. } => format!(
            "TRANSFER-SUCCESS {d} {key} or TRANSFER-FAILURE {d} {key} <msg>",
            d = dir.as_str()
        ),
        Request::CheckPresent(k) | Request::CheckPresentExport(k) => {
            format!("CHECKPRESENT-SUCCESS|FAILURE {k} or CHECKPRESENT-UNKNOWN {k} <msg>")
        }
        Request::Remove(k) | Request::RemoveExport(k) => {
            format!("REMOVE-SUCCESS {k} or REMOVE-FAILURE {k} <msg>")
        }
        other => format!("a reply to {}", other.verb()),
    }
}

/// Resolves a program name to a path the way the shell would (for messages and for
/// `--git-annex`, which needs the directory to put on PATH).
pub fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

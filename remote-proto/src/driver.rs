//! The tokio driver: the only code here that does I/O.
//!
//! * One reader (the task calling [`run`]) reads git-annex's lines, caps their length, and
//!   feeds them to the [`Session`].
//! * One writer task owns the output and writes whole lines, flushing whenever its queue runs
//!   empty, so no line is ever left in a buffer while git-annex waits for it.
//! * Each request runs in its own tokio task; with ASYNC, jobs run concurrently, and each job
//!   handles its requests one at a time, in order (without ASYNC there is one job).
//! * A panicking handler is caught and its request answered with the failure reply.
//! * On EOF git-annex is gone (it waits for us to exit): running handlers are cancelled and
//!   `run` returns promptly.

use std::any::Any;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use crate::annex::{Annex, Link, lock};
use crate::async_jobs::frame;
use crate::handler::{SpecialRemote, handle_request};
use crate::reply::Reply;
use crate::session::{Dispatch, Event, Session};

/// The longest line accepted from git-annex. Real lines are a key plus a path; a longer one
/// is hostile or broken, and is answered `ERROR line too long` instead of being buffered.
pub const MAX_LINE: usize = 1 << 20;

/// How many lines may wait for the writer before senders wait in turn.
const QUEUE: usize = 1024;

/// How long `run` waits, after EOF, for the writer to flush what is already queued.
const FLUSH_GRACE: Duration = Duration::from_secs(2);

const TARGET: &str = "remote_proto::driver";

/// Runs a remote over stdin/stdout until git-annex closes stdin.
///
/// When it returns, end the process (return from `main` with a runtime that does not wait,
/// or `std::process::exit`): if it returned because stdout broke, tokio's stdin thread may
/// still be blocked reading, and a runtime shutdown would wait for it.
///
/// # Errors
/// As [`run`].
pub async fn run_stdio<R: SpecialRemote>(remote: Arc<R>) -> io::Result<()> {
    // git-annex talks to us over pipes. Reading and writing them through the runtime's own
    // event loop (non-blocking pipe fds) saves two thread hand-offs per request compared with
    // tokio's stdin/stdout, which do blocking reads and writes on the blocking pool; that is
    // most of a CHECKPRESENT's latency. Anything else (a terminal, a file) uses tokio's.
    let input: Pin<Box<dyn AsyncRead + Send>> = match stdin_pipe() {
        Ok(pipe) => Box::pin(pipe),
        Err(_) => Box::pin(tokio::io::stdin()),
    };
    let output: Pin<Box<dyn AsyncWrite + Send>> = match stdout_pipe() {
        Ok(pipe) => Box::pin(pipe),
        Err(_) => Box::pin(tokio::io::stdout()),
    };
    run(remote, input, output).await
}

/// stdin as a non-blocking pipe registered with the runtime, when it is a pipe.
fn stdin_pipe() -> io::Result<tokio::net::unix::pipe::Receiver> {
    use std::os::fd::AsFd;
    let fd = io::stdin().as_fd().try_clone_to_owned()?;
    tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
}

/// stdout as a non-blocking pipe registered with the runtime, when it is a pipe.
fn stdout_pipe() -> io::Result<tokio::net::unix::pipe::Sender> {
    use std::os::fd::AsFd;
    let fd = io::stdout().as_fd().try_clone_to_owned()?;
    tokio::net::unix::pipe::Sender::from_owned_fd(fd)
}

/// Runs a remote over `input` (git-annex's requests) and `output` (our replies) until
/// `input` reaches EOF. Nothing but protocol lines is ever written to `output`.
///
/// # Errors
/// An I/O error reading `input` or writing `output`. A malformed line is not an error: it is
/// answered `ERROR …` and the session goes on.
pub async fn run<R: SpecialRemote>(
    remote: Arc<R>,
    input: impl AsyncRead + Send + Unpin,
    output: impl AsyncWrite + Send + Unpin + 'static,
) -> io::Result<()> {
    let session = Session::new(remote.extensions());
    let greeting = session.greeting();
    let (tx, rx) = mpsc::channel(QUEUE);
    let link = Link::new(session, tx);
    let (stop_tx, stop_rx) = oneshot::channel();
    let mut writer = tokio::spawn(write_lines(output, rx, link.clone(), stop_rx));
    let ctx = Arc::new(Ctx {
        remote,
        link: link.clone(),
        in_flight: AtomicUsize::new(0),
    });

    let mut jobs: JoinSet<()> = JoinSet::new();
    let mut result = match link.send(greeting).await {
        Ok(()) => Ok(()),
        Err(()) => Err(io::Error::new(io::ErrorKind::BrokenPipe, "writer stopped")),
    };
    let mut input = BufReader::new(input);
    let mut buf = Vec::new();
    let mut writer_result = None;
    while result.is_ok() {
        let read = tokio::select! {
            r = read_line(&mut input, &mut buf, MAX_LINE) => r,
            w = &mut writer => {
                writer_result = Some(w);
                break;
            }
        };
        // Reap finished jobs so the set does not grow over a long session.
        while jobs.try_join_next().is_some() {}
        let events = match read {
            Err(e) => {
                result = Err(e);
                break;
            }
            Ok(Read::Eof) => break,
            Ok(Read::TooLong) => {
                let prefix = String::from_utf8_lossy(&buf).into_owned();
                tracing::warn!(target: TARGET, "line longer than {MAX_LINE} bytes skipped");
                lock(&link.shared).session.reject_line(
                    &prefix,
                    &format!("line too long (more than {MAX_LINE} bytes)"),
                )
            }
            Ok(Read::Line) => match std::str::from_utf8(&buf) {
                Ok(line) => {
                    tracing::trace!(target: TARGET, line = %loggable(line), "received");
                    lock(&link.shared).session.handle_line(line)
                }
                Err(e) => {
                    let prefix = String::from_utf8_lossy(&buf[..e.valid_up_to()]).into_owned();
                    lock(&link.shared)
                        .session
                        .reject_line(&prefix, &format!("line is not valid UTF-8 ({e})"))
                }
            },
        };
        for event in events {
            match event {
                Event::Send(line) => {
                    if link.send(line).await.is_err() {
                        result = Err(io::Error::new(io::ErrorKind::BrokenPipe, "writer stopped"));
                    }
                }
                Event::Dispatch(d) => {
                    jobs.spawn(run_job(ctx.clone(), d));
                }
                Event::Deliver { job, answers } => {
                    let waiter = lock(&link.shared).waiters.remove(&job);
                    if let Some(w) = waiter {
                        // The asker may have given up (cancelled); nothing else to do then.
                        let _ = w.send(answers);
                    }
                }
                Event::Ignored { reason } => {
                    tracing::warn!(target: TARGET, "ignored a line from git-annex: {reason}");
                }
            }
        }
    }

    // git-annex is gone or the output is broken: nobody will read a late reply, and
    // git-annex waits for us to exit. Cancel everything.
    {
        let mut shared = lock(&link.shared);
        shared.session.close();
        shared.waiters.clear();
    }
    jobs.shutdown().await;
    let _ = stop_tx.send(());
    let w = match writer_result {
        Some(w) => Some(w),
        None => match tokio::time::timeout(FLUSH_GRACE, &mut writer).await {
            Ok(w) => Some(w),
            Err(_) => {
                tracing::warn!(target: TARGET, "output did not drain in time; giving up on it");
                writer.abort();
                None
            }
        },
    };
    match w {
        Some(Ok(Err(e))) if result.is_ok() => result = Err(e),
        Some(Err(e)) if result.is_ok() && e.is_panic() => {
            result = Err(io::Error::other("the writer task panicked"));
        }
        _ => {}
    }
    result
}

struct Ctx<R> {
    remote: Arc<R>,
    link: Arc<Link>,
    in_flight: AtomicUsize,
}

/// Aborts the inner handler task when the job task is cancelled (on EOF).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Runs a job's requests, one after another, until its queue is empty.
async fn run_job<R: SpecialRemote>(ctx: Arc<Ctx<R>>, first: Dispatch) {
    let mut next = Some(first);
    while let Some(d) = next {
        let job = d.job;
        let verb = d.request.verb().to_owned();
        let in_flight = ctx.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::debug!(target: TARGET, job = ?job, request = %verb, in_flight, "request started");
        let annex = Annex::new(job, ctx.link.clone());
        let request = d.request.clone();
        // The handler runs in its own task so that a panic in it surfaces here as a
        // JoinError instead of unwinding through the job.
        let span = tracing::debug_span!(
            target: TARGET,
            "request",
            job = ?job,
            verb = %verb,
            key = d.request.key().map(|k| k.as_str()),
        );
        let mut inner = {
            let remote = ctx.remote.clone();
            let annex = annex.clone();
            AbortOnDrop(tokio::spawn(
                async move { handle_request(&*remote, &d, &annex).await }.instrument(span),
            ))
        };
        let replies = match (&mut inner).await {
            Ok(replies) => replies,
            Err(e) => {
                let why = if e.is_panic() {
                    panic_message(e.into_panic())
                } else {
                    "handler cancelled".to_owned()
                };
                tracing::error!(target: TARGET, job = ?job, request = %verb, "handler failed: {why}");
                vec![Reply::failure_for(
                    &request,
                    format!("internal error: {why}"),
                )]
            }
        };
        drop(inner);
        let mut lines = Vec::with_capacity(replies.len() + 1);
        lines.extend(annex.finish());
        lines.extend(replies.iter().map(|r| frame(job, r)));
        for line in lines {
            if ctx.link.send(line).await.is_err() {
                return;
            }
        }
        ctx.in_flight.fetch_sub(1, Ordering::SeqCst);
        tracing::debug!(target: TARGET, job = ?job, request = %verb, "request answered");
        let mut shared = lock(&ctx.link.shared);
        shared.waiters.remove(&job);
        next = shared.session.finish(job);
    }
}

/// A line as it may appear in a log: values that can be secrets (credentials, and `VALUE`s,
/// which answer `GETCONFIG cipher` with the encryption cipher) are replaced by `***`.
fn loggable(line: &str) -> String {
    let (job, msg) = match crate::async_jobs::split(line) {
        Ok(split) => split,
        Err(_) => return line.to_owned(),
    };
    let (verb, rest) = crate::wire::split_word(msg);
    let shown = match verb {
        "VALUE" | "CREDS" => format!("{verb} ***"),
        "SETCREDS" | "SETCONFIG" => {
            let (name, _) = crate::wire::split_word(rest);
            format!("{verb} {name} ***")
        }
        _ => return line.to_owned(),
    };
    frame(job, shown)
}

fn panic_message(p: Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}

enum Read {
    Line,
    TooLong,
    Eof,
}

/// Reads one line into `buf` without its `\n` (a `\r` is kept: git-annex's `hGetLine` keeps
/// it too). A line longer than `cap` is consumed but not kept (only its first bytes, to
/// find its job tag). A last line without `\n` before EOF still counts.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<Read> {
    const KEEP_OF_LONG_LINE: usize = 64;
    buf.clear();
    let mut too_long = false;
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(if too_long {
                Read::TooLong
            } else if buf.is_empty() {
                Read::Eof
            } else {
                Read::Line
            });
        }
        let (chunk, consumed, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], i + 1, true),
            None => (avail, avail.len(), false),
        };
        if !too_long {
            if buf.len() + chunk.len() > cap {
                too_long = true;
                let room = KEEP_OF_LONG_LINE.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..room.min(chunk.len())]);
                buf.truncate(KEEP_OF_LONG_LINE);
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        r.consume(consumed);
        if done {
            return Ok(if too_long { Read::TooLong } else { Read::Line });
        }
    }
}

/// The writer task: owns the output, writes whole lines, flushes when the queue is empty.
async fn write_lines(
    output: impl AsyncWrite + Unpin,
    mut rx: mpsc::Receiver<String>,
    link: Arc<Link>,
    mut stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    let mut out = BufWriter::new(output);
    let mut dirty = false;
    loop {
        // Coalesced PROGRESS first: a job's own lines take its pending PROGRESS with them,
        // so whatever is left here is older than anything the job queues from now on.
        let mut wrote = false;
        for line in link.take_progress() {
            write_line(&mut out, &line).await?;
            wrote = true;
        }
        while let Ok(line) = rx.try_recv() {
            write_line(&mut out, &line).await?;
            wrote = true;
        }
        if wrote {
            dirty = true;
            continue;
        }
        if dirty {
            out.flush().await?;
            dirty = false;
        }
        tokio::select! {
            biased;
            line = rx.recv() => match line {
                Some(line) => {
                    write_line(&mut out, &line).await?;
                    dirty = true;
                }
                None => break,
            },
            _ = link.progress_ready.notified() => {}
            _ = &mut stop => {
                while let Ok(line) = rx.try_recv() {
                    write_line(&mut out, &line).await?;
                }
                break;
            }
        }
    }
    out.flush().await
}

async fn write_line(out: &mut (impl AsyncWrite + Unpin), line: &str) -> io::Result<()> {
    tracing::trace!(target: TARGET, line = %loggable(line), "sending");
    out.write_all(line.as_bytes()).await?;
    out.write_all(b"\n").await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], cap: usize) -> Vec<(String, &'static str)> {
        let mut r = BufReader::with_capacity(7, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line(&mut r, &mut buf, cap).await.unwrap() {
                Read::Eof => return out,
                Read::Line => out.push((String::from_utf8_lossy(&buf).into_owned(), "line")),
                Read::TooLong => out.push((String::from_utf8_lossy(&buf).into_owned(), "long")),
            }
        }
    }

    #[tokio::test]
    async fn reads_lines_keeping_carriage_returns_and_a_last_partial_line() {
        let got = lines(b"PREPARE\nCHECKPRESENT K\r\n\nlast", 100).await;
        let want = vec![
            ("PREPARE".to_owned(), "line"),
            ("CHECKPRESENT K\r".to_owned(), "line"),
            (String::new(), "line"),
            ("last".to_owned(), "line"),
        ];
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn over_long_lines_are_skipped_whole_keeping_only_their_start() {
        let mut input = b"J 3 ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 200));
        input.extend_from_slice(b"\nNEXT\n");
        let got = lines(&input, 100).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, "long");
        assert!(got[0].0.starts_with("J 3 xxx") && got[0].0.len() <= 64);
        assert_eq!(got[1], ("NEXT".to_owned(), "line"));
        // exactly at the cap is fine
        let got = lines(b"abcd\n", 4).await;
        assert_eq!(got, vec![("abcd".to_owned(), "line")]);
    }

    #[test]
    fn secrets_stay_out_of_logs() {
        assert_eq!(loggable("J 2 CREDS alice s3cr3t"), "J 2 CREDS ***");
        assert_eq!(loggable("VALUE c2VjcmV0"), "VALUE ***");
        assert_eq!(
            loggable("SETCREDS mycreds alice s3cr3t"),
            "SETCREDS mycreds ***"
        );
        assert_eq!(loggable("CHECKPRESENT K"), "CHECKPRESENT K");
    }

    #[test]
    fn panic_messages_are_recovered() {
        assert_eq!(panic_message(Box::new("static")), "static");
        assert_eq!(panic_message(Box::new(String::from("owned"))), "owned");
        assert_eq!(panic_message(Box::new(42)), "panic");
    }
}

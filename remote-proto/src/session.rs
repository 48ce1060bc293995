//! The protocol state machine, without I/O: feed it git-annex's lines, get back what to send,
//! which request to start on which job, and which answer goes to which waiting query.
//!
//! It owns everything that is per process or per job: the negotiated extensions, each job's
//! current `EXPORT`/`IMPORT` name, each job's queue of requests (a job handles one request at
//! a time; different jobs run concurrently) and each job's outstanding query.
//!
//! ```
//! use remote_proto::session::{Event, Session};
//! use remote_proto::{Extension, Request};
//!
//! let mut s = Session::new([Extension::Async, Extension::Info]);
//! assert_eq!(s.greeting(), "VERSION 2");
//! let ev = s.handle_line("EXTENSIONS INFO ASYNC GETGITREMOTENAME");
//! assert_eq!(ev, vec![Event::Send("EXTENSIONS ASYNC INFO".into())]);
//! let ev = s.handle_line("J 1 PREPARE");
//! assert!(matches!(&ev[..], [Event::Dispatch(d)] if d.job == Some(1) && d.request == Request::Prepare));
//! ```

use std::collections::{HashMap, VecDeque};

use crate::async_jobs::{self, JobId, frame};
use crate::extension::Extension;
use crate::message::{Answer, Message, QueryKind};
use crate::reply::Reply;
use crate::request::{Incoming, Request};

/// A request to start, with the per-job state it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// The job the request belongs to; its replies and queries carry this tag.
    pub job: JobId,
    /// The request.
    pub request: Request,
    /// The job's last `EXPORT` name when the request arrived.
    pub export_name: Option<String>,
    /// The job's last `IMPORT` name when the request arrived.
    pub import_name: Option<String>,
}

/// What the session wants done after a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send this line (already framed) to git-annex.
    Send(String),
    /// Start handling a request. The job is busy until [`Session::finish`] is called for it.
    Dispatch(Dispatch),
    /// The answer to `job`'s outstanding query: one line, or for `GETURLS` every `VALUE` up to
    /// and including the empty one that ends the list (or an `ERROR`).
    Deliver {
        /// The job whose query is answered.
        job: JobId,
        /// The answer lines.
        answers: Vec<Answer>,
    },
    /// A line that needed no reply was dropped (an answer nobody waits for); for logging.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// Why a query could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// git-annex answered `ERROR msg`: it refuses the query here (`cannot send GETUUID
    /// here`, `git remote name not known`). A failed query, never a reason to exit.
    #[error("git-annex refused {query}: {message}")]
    Refused {
        /// The query's command word.
        query: &'static str,
        /// git-annex's message.
        message: String,
    },
    /// git-annex answered `DOWNLOAD-URL-FAILURE msg`.
    #[error("git-annex could not download the URL: {0}")]
    DownloadFailed(String),
    /// git-annex closed the connection (stdin EOF) before answering.
    #[error("git-annex closed the connection before answering {0}")]
    Closed(&'static str),
    /// The conversation went wrong: an answer of the wrong kind, or a second query while one
    /// is outstanding.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

#[derive(Debug)]
struct Pending {
    kind: QueryKind,
    seq: u64,
    collected: Vec<Answer>,
}

#[derive(Debug, Default)]
struct JobState {
    export_name: Option<String>,
    import_name: Option<String>,
    busy: bool,
    queue: VecDeque<Dispatch>,
    query: Option<Pending>,
}

/// The sans-IO protocol state of one remote process. See the module docs.
#[derive(Debug)]
pub struct Session {
    wanted: Vec<Extension>,
    negotiated: Vec<Extension>,
    jobs: HashMap<JobId, JobState>,
    query_seq: u64,
    closed: bool,
}

impl Session {
    /// A session for a remote that wants to use `wanted` extensions (those git-annex offers
    /// will be used; the rest are dropped silently).
    pub fn new(wanted: impl IntoIterator<Item = Extension>) -> Session {
        let mut w: Vec<Extension> = Vec::new();
        for e in wanted {
            if !w.contains(&e) {
                w.push(e);
            }
        }
        Session {
            wanted: w,
            negotiated: Vec::new(),
            jobs: HashMap::new(),
            query_seq: 0,
            closed: false,
        }
    }

    /// The first line of every session. Version 2 is identical to 1 but locks out old
    /// git-annex builds that could send EXPORT and the following request to different
    /// processes.
    pub fn greeting(&self) -> String {
        Message::Version(2).to_string()
    }

    /// The extensions in force. Empty until git-annex sends `EXTENSIONS` (old versions never
    /// do, and then none are in force).
    pub fn negotiated(&self) -> &[Extension] {
        &self.negotiated
    }

    /// True when `ext` was negotiated.
    pub fn has(&self, ext: &Extension) -> bool {
        self.negotiated.contains(ext)
    }

    /// Handles one line from git-annex (without its `\n`).
    pub fn handle_line(&mut self, line: &str) -> Vec<Event> {
        let (job, msg) = match async_jobs::split(line) {
            Ok(split) => split,
            Err(e) => return vec![Event::Send(frame(None, Reply::error(e.to_string())))],
        };
        match Incoming::parse(msg) {
            Err(e) => vec![Event::Send(frame(job, Reply::error(e.to_string())))],
            Ok(Incoming::Answer(a)) => self.answer(job, a),
            Ok(Incoming::Request(r)) => self.request(job, r),
        }
    }

    /// Handles a line that could not be read whole (over-long, not UTF-8): `prefix` is what
    /// could be read of its start, used to find the job tag; `reason` goes into the `ERROR`.
    pub fn reject_line(&mut self, prefix: &str, reason: &str) -> Vec<Event> {
        let job = async_jobs::job_of_prefix(prefix);
        vec![Event::Send(frame(job, Reply::error(reason)))]
    }

    fn request(&mut self, job: JobId, request: Request) -> Vec<Event> {
        match request {
            Request::Extensions(offered) => {
                let use_: Vec<Extension> = self
                    .wanted
                    .iter()
                    .filter(|e| offered.contains(e))
                    .cloned()
                    .collect();
                self.negotiated = use_.clone();
                vec![Event::Send(frame(None, Reply::Extensions(use_)))]
            }
            // EXPORT and IMPORT get no reply: they name the location for the job's next
            // request. git-annex repeats them before every request, but we keep the name until
            // it is replaced, so a request that relies on an earlier one still works.
            Request::Export(name) => {
                self.jobs.entry(job).or_default().export_name = Some(name);
                Vec::new()
            }
            Request::Import(name) => {
                self.jobs.entry(job).or_default().import_name = Some(name);
                Vec::new()
            }
            Request::Unknown(_) => vec![Event::Send(frame(job, Reply::UnsupportedRequest))],
            request => {
                let state = self.jobs.entry(job).or_default();
                let d = Dispatch {
                    job,
                    request,
                    export_name: state.export_name.clone(),
                    import_name: state.import_name.clone(),
                };
                if state.busy {
                    // A job sends one request at a time; a second one before our reply can
                    // only be a race with our own bookkeeping (the reply is out, `finish`
                    // not yet called) or a confused peer. Either way: run it next, in order.
                    state.queue.push_back(d);
                    Vec::new()
                } else {
                    state.busy = true;
                    vec![Event::Dispatch(d)]
                }
            }
        }
    }

    fn answer(&mut self, job: JobId, answer: Answer) -> Vec<Event> {
        let target = if self.waiting(job) {
            Some(job)
        } else if job.is_none() && matches!(answer, Answer::Error(_)) {
            // git-annex never tags its ERROR lines, even when one answers a job's query in
            // ASYNC mode. Give it to the job that has waited longest.
            self.jobs
                .iter()
                .filter_map(|(j, s)| s.query.as_ref().map(|q| (q.seq, *j)))
                .min()
                .map(|(_, j)| j)
        } else {
            None
        };
        let Some(target) = target else {
            return vec![Event::Ignored {
                reason: format!(
                    "{} {}with no query waiting for it",
                    answer.verb(),
                    match job {
                        Some(n) => format!("for job {n} "),
                        None => String::new(),
                    }
                ),
            }];
        };
        let state = self.jobs.entry(target).or_default();
        let Some(pending) = state.query.as_mut() else {
            return Vec::new();
        };
        let complete = match (&pending.kind, &answer) {
            (QueryKind::ValueList, Answer::Value(v)) => v.is_empty(),
            _ => true,
        };
        pending.collected.push(answer);
        if !complete {
            return Vec::new();
        }
        let answers = state.query.take().map(|p| p.collected).unwrap_or_default();
        vec![Event::Deliver {
            job: target,
            answers,
        }]
    }

    fn waiting(&self, job: JobId) -> bool {
        self.jobs.get(&job).is_some_and(|s| s.query.is_some())
    }

    /// Records that `job` sends `query` and waits for its answer; returns the framed line to
    /// send.
    ///
    /// # Errors
    /// [`QueryError::Closed`] after [`Session::close`]; [`QueryError::Protocol`] when the job
    /// already waits for an answer (git-annex allows one outstanding query per job) or when
    /// `query` is not a query.
    pub fn begin_query(&mut self, job: JobId, query: &Message) -> Result<String, QueryError> {
        let Some(kind) = query.expects() else {
            return Err(QueryError::Protocol(format!(
                "{} is not a query",
                query.verb()
            )));
        };
        if self.closed {
            return Err(QueryError::Closed(query.verb()));
        }
        let state = self.jobs.entry(job).or_default();
        if state.query.is_some() {
            return Err(QueryError::Protocol(format!(
                "{} sent while an earlier query of the same job is unanswered",
                query.verb()
            )));
        }
        self.query_seq += 1;
        state.query = Some(Pending {
            kind,
            seq: self.query_seq,
            collected: Vec::new(),
        });
        Ok(frame(job, query))
    }

    /// Forgets `job`'s outstanding query (its asker gave up); a late answer is then ignored.
    pub fn cancel_query(&mut self, job: JobId) {
        if let Some(s) = self.jobs.get_mut(&job) {
            s.query = None;
        }
    }

    /// Marks `job`'s current request as answered. Returns the job's next queued request, if
    /// any, which is then started.
    pub fn finish(&mut self, job: JobId) -> Option<Dispatch> {
        let state = self.jobs.get_mut(&job)?;
        state.query = None;
        match state.queue.pop_front() {
            Some(next) => Some(next),
            None => {
                state.busy = false;
                None
            }
        }
    }

    /// git-annex has gone (stdin EOF): no query can be answered any more.
    pub fn close(&mut self) {
        self.closed = true;
        for s in self.jobs.values_mut() {
            s.query = None;
        }
    }

    /// True after [`Session::close`].
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The number of jobs that are handling a request.
    pub fn busy_jobs(&self) -> usize {
        self.jobs.values().filter(|s| s.busy).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Key;

    const K1: &str = "SHA256E-s1--k1.txt";
    const K2: &str = "SHA256E-s2--k2.txt";

    fn key(s: &str) -> Key {
        Key::parse(s).unwrap()
    }

    fn dispatched(ev: Vec<Event>) -> Dispatch {
        match &ev[..] {
            [Event::Dispatch(d)] => d.clone(),
            other => panic!("expected one dispatch, got {other:?}"),
        }
    }

    fn sent(ev: Vec<Event>) -> String {
        match &ev[..] {
            [Event::Send(l)] => l.clone(),
            other => panic!("expected one line, got {other:?}"),
        }
    }

    #[test]
    fn negotiates_the_intersection_and_ignores_unknown_offers() {
        let mut s = Session::new([
            Extension::Info,
            Extension::Async,
            Extension::UnavailableResponse,
            Extension::Other("FROB".into()),
        ]);
        let line = sent(s.handle_line("EXTENSIONS INFO GETGITREMOTENAME NEWTHING ASYNC"));
        assert_eq!(line, "EXTENSIONS INFO ASYNC");
        assert_eq!(s.negotiated(), &[Extension::Info, Extension::Async]);
    }

    #[test]
    fn without_extensions_line_nothing_is_negotiated() {
        let mut s = Session::new([Extension::Info]);
        let d = dispatched(s.handle_line("PREPARE"));
        assert_eq!(d.job, None);
        assert!(s.negotiated().is_empty());
        assert_eq!(
            sent(Session::new([]).handle_line("EXTENSIONS INFO")),
            "EXTENSIONS"
        );
    }

    #[test]
    fn sequential_conversation_with_a_query() {
        let mut s = Session::new([]);
        let d = dispatched(s.handle_line("PREPARE"));
        assert_eq!(d.request, Request::Prepare);
        let q = s
            .begin_query(None, &Message::GetConfig("directory".into()))
            .unwrap();
        assert_eq!(q, "GETCONFIG directory");
        assert_eq!(
            s.handle_line("VALUE /tmp/store one"),
            vec![Event::Deliver {
                job: None,
                answers: vec![Answer::Value("/tmp/store one".into())]
            }]
        );
        assert_eq!(s.finish(None), None);
        let d = dispatched(s.handle_line(&format!("CHECKPRESENT {K1}")));
        assert_eq!(d.request, Request::CheckPresent(key(K1)));
    }

    #[test]
    fn interleaved_async_jobs_get_their_own_answers() {
        let mut s = Session::new([Extension::Async]);
        sent(s.handle_line("EXTENSIONS ASYNC"));
        let d1 = dispatched(s.handle_line(&format!("J 1 TRANSFER STORE {K1} f1")));
        let d2 = dispatched(s.handle_line(&format!("J 2 TRANSFER STORE {K2} f 2")));
        assert_eq!((d1.job, d2.job), (Some(1), Some(2)));
        assert_eq!(
            s.begin_query(Some(1), &Message::DirHash(key(K1))).unwrap(),
            format!("J 1 DIRHASH {K1}")
        );
        assert_eq!(
            s.begin_query(Some(2), &Message::DirHashLower(key(K2)))
                .unwrap(),
            format!("J 2 DIRHASH-LOWER {K2}")
        );
        // Answers come back in the other order; each goes to its own job.
        assert_eq!(
            s.handle_line("J 2 VALUE abc/def/"),
            vec![Event::Deliver {
                job: Some(2),
                answers: vec![Answer::Value("abc/def/".into())]
            }]
        );
        assert_eq!(
            s.handle_line("J 1 VALUE aB/Cd/"),
            vec![Event::Deliver {
                job: Some(1),
                answers: vec![Answer::Value("aB/Cd/".into())]
            }]
        );
        assert_eq!(s.busy_jobs(), 2);
        s.finish(Some(1));
        s.finish(Some(2));
        assert_eq!(s.busy_jobs(), 0);
    }

    #[test]
    fn geturls_collects_values_until_the_empty_one() {
        let mut s = Session::new([]);
        dispatched(s.handle_line(&format!("CHECKPRESENT {K1}")));
        s.begin_query(
            None,
            &Message::GetUrls {
                key: key(K1),
                prefix: String::new(),
            },
        )
        .unwrap();
        assert!(s.handle_line("VALUE http://a/1").is_empty());
        assert!(s.handle_line("VALUE http://a/2").is_empty());
        assert_eq!(
            s.handle_line("VALUE "),
            vec![Event::Deliver {
                job: None,
                answers: vec![
                    Answer::Value("http://a/1".into()),
                    Answer::Value("http://a/2".into()),
                    Answer::Value(String::new()),
                ]
            }]
        );
    }

    #[test]
    fn export_name_is_per_job_and_kept_until_replaced() {
        let mut s = Session::new([Extension::Async]);
        assert!(s.handle_line("J 1 EXPORT one.txt").is_empty());
        assert!(s.handle_line("J 2 EXPORT dir/two words.txt").is_empty());
        let d2 = dispatched(s.handle_line(&format!("J 2 CHECKPRESENTEXPORT {K2}")));
        let d1 = dispatched(s.handle_line(&format!("J 1 CHECKPRESENTEXPORT {K1}")));
        assert_eq!(d1.export_name.as_deref(), Some("one.txt"));
        assert_eq!(d2.export_name.as_deref(), Some("dir/two words.txt"));
        s.finish(Some(1));
        let d1 = dispatched(s.handle_line(&format!("J 1 REMOVEEXPORT {K1}")));
        assert_eq!(d1.export_name.as_deref(), Some("one.txt"));
    }

    #[test]
    fn export_before_a_queued_request_applies_to_that_request() {
        let mut s = Session::new([]);
        s.handle_line("EXPORT a");
        dispatched(s.handle_line(&format!("CHECKPRESENTEXPORT {K1}")));
        // The next EXPORT + request arrive before the first request finished.
        s.handle_line("EXPORT b");
        assert!(s.handle_line(&format!("REMOVEEXPORT {K1}")).is_empty());
        let next = s.finish(None).unwrap();
        assert_eq!(next.export_name.as_deref(), Some("b"));
        assert_eq!(next.request, Request::RemoveExport(key(K1)));
        assert_eq!(s.finish(None), None);
    }

    #[test]
    fn malformed_and_unknown_lines_are_answered_and_the_session_goes_on() {
        let mut s = Session::new([Extension::Async]);
        s.handle_line("EXTENSIONS ASYNC");
        assert_eq!(
            sent(s.handle_line("J 3 TRANSFER STORE")),
            "J 3 ERROR TRANSFER needs a direction, a key and a file"
        );
        assert!(sent(s.handle_line("J x CHECKPRESENT k")).starts_with("ERROR bad job framing"));
        assert_eq!(sent(s.handle_line("")), "ERROR empty line");
        assert_eq!(
            sent(s.handle_line("J 4 FROBNICATE")),
            "J 4 UNSUPPORTED-REQUEST"
        );
        assert_eq!(sent(s.handle_line("checkpresent x")), "UNSUPPORTED-REQUEST");
        let d = dispatched(s.handle_line(&format!("J 3 CHECKPRESENT {K1}")));
        assert_eq!(d.job, Some(3));
    }

    #[test]
    fn untagged_request_while_async_runs_as_its_own_job() {
        let mut s = Session::new([Extension::Async]);
        s.handle_line("EXTENSIONS ASYNC");
        dispatched(s.handle_line(&format!("J 1 CHECKPRESENT {K1}")));
        let d = dispatched(s.handle_line(&format!("CHECKPRESENT {K2}")));
        assert_eq!(d.job, None);
    }

    #[test]
    fn value_with_no_waiting_query_is_ignored() {
        let mut s = Session::new([]);
        assert!(matches!(
            &s.handle_line("VALUE x")[..],
            [Event::Ignored { .. }]
        ));
        assert!(matches!(
            &s.handle_line("J 5 VALUE x")[..],
            [Event::Ignored { .. }]
        ));
        // and the session still works
        dispatched(s.handle_line("PREPARE"));
    }

    #[test]
    fn untagged_error_goes_to_the_oldest_waiting_query() {
        let mut s = Session::new([Extension::Async]);
        s.handle_line("EXTENSIONS ASYNC");
        dispatched(s.handle_line("J 1 LISTCONFIGS"));
        dispatched(s.handle_line("J 2 PREPARE"));
        s.begin_query(Some(2), &Message::GetUuid).unwrap();
        s.begin_query(Some(1), &Message::GetUuid).unwrap();
        assert_eq!(
            s.handle_line("ERROR cannot send GETUUID here"),
            vec![Event::Deliver {
                job: Some(2),
                answers: vec![Answer::Error("cannot send GETUUID here".into())]
            }]
        );
    }

    #[test]
    fn one_outstanding_query_per_job_and_none_after_close() {
        let mut s = Session::new([]);
        s.begin_query(None, &Message::GetUuid).unwrap();
        assert!(matches!(
            s.begin_query(None, &Message::GetGitDir),
            Err(QueryError::Protocol(_))
        ));
        assert!(matches!(
            s.begin_query(Some(1), &Message::Progress(1)),
            Err(QueryError::Protocol(_))
        ));
        s.close();
        assert_eq!(
            s.begin_query(Some(1), &Message::GetUuid),
            Err(QueryError::Closed("GETUUID"))
        );
    }
}

//! [`Annex`]: the handle a request handler uses to talk to git-annex while it works.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, mpsc, oneshot};

use crate::async_jobs::{JobId, frame};
use crate::extension::Extension;
use crate::key::Key;
use crate::message::{Answer, Message};
use crate::session::{QueryError, Session};

/// Locks a std mutex, ignoring poisoning: the data behind these locks stays consistent at
/// every await-free step, and a panicking handler must not take the whole process down.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Protocol state shared by the reader and every handler's [`Annex`].
pub(crate) struct Shared {
    pub(crate) session: Session,
    /// The job whose query is outstanding → where its answer goes.
    pub(crate) waiters: HashMap<JobId, oneshot::Sender<Vec<Answer>>>,
}

/// The driver's plumbing that an [`Annex`] writes through.
pub(crate) struct Link {
    pub(crate) shared: Mutex<Shared>,
    /// Whole, framed lines for the writer task. Bounded, so a handler that floods DEBUG
    /// waits for the writer instead of growing memory.
    lines: mpsc::Sender<String>,
    /// The newest unsent PROGRESS per job. PROGRESS is coalesced here instead of queued: a
    /// slow reader of our stdout then sees fewer, newer values, and `progress()` never blocks.
    progress: Mutex<BTreeMap<JobId, u64>>,
    pub(crate) progress_ready: Notify,
}

impl Link {
    pub(crate) fn new(session: Session, lines: mpsc::Sender<String>) -> Arc<Link> {
        Arc::new(Link {
            shared: Mutex::new(Shared {
                session,
                waiters: HashMap::new(),
            }),
            lines,
            progress: Mutex::new(BTreeMap::new()),
            progress_ready: Notify::new(),
        })
    }

    /// Takes every pending PROGRESS, as framed lines.
    pub(crate) fn take_progress(&self) -> Vec<String> {
        let pending = std::mem::take(&mut *lock(&self.progress));
        pending
            .into_iter()
            .map(|(job, n)| frame(job, Message::Progress(n)))
            .collect()
    }

    /// Queues a framed line for the writer.
    pub(crate) async fn send(&self, line: String) -> Result<(), ()> {
        self.lines.send(line).await.map_err(|_| ())
    }
}

/// PROGRESS goes out at once when the transfer has moved this many bytes since the last one
/// that went out...
const PROGRESS_BYTES: u64 = 1024 * 1024;
/// ...or when this much time has passed; values in between wait (the newest replacing older
/// ones) and leave with the next line of the job at the latest, its reply included. git-annex
/// parses every PROGRESS line: one per 32 KiB network read of a 1 GiB download was 30 000
/// lines, a real share of its CPU, for a progress bar that redraws a few times a second.
const PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

struct Call {
    /// Serializes this request's queries: git-annex allows one outstanding query per job.
    queries: tokio::sync::Mutex<()>,
    /// The last PROGRESS value handed to the writer, and when (see [`PROGRESS_BYTES`]).
    progress_sent: Mutex<Option<(u64, std::time::Instant)>>,
    /// Set (under the progress lock) once the request's reply is being sent; later PROGRESS
    /// and queries from a leftover clone of the handle would land in another request.
    done: AtomicBool,
}

/// The per-request handle to git-annex. Its messages carry the request's job tag (`J n`
/// under ASYNC). Cloning it is cheap; all clones belong to the same request and stop working
/// once that request has been answered.
///
/// Queries (`get_config`, `get_creds`, …) wait for git-annex's answer. git-annex refuses some
/// of them in some processes (`ERROR cannot send GETUUID here` in LISTCONFIGS processes):
/// that is [`QueryError::Refused`], a failed query, not a reason to give up on the session.
#[derive(Clone)]
pub struct Annex {
    job: JobId,
    link: Arc<Link>,
    call: Arc<Call>,
}

impl std::fmt::Debug for Annex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Annex")
            .field("job", &self.job)
            .finish_non_exhaustive()
    }
}

impl Annex {
    pub(crate) fn new(job: JobId, link: Arc<Link>) -> Annex {
        Annex {
            job,
            link,
            call: Arc::new(Call {
                queries: tokio::sync::Mutex::new(()),
                progress_sent: Mutex::new(None),
                done: AtomicBool::new(false),
            }),
        }
    }

    /// A handle that is connected to nothing: every query fails with
    /// [`QueryError::Closed`] and messages go nowhere. For unit-testing a [`SpecialRemote`]'s
    /// methods without a driver.
    ///
    /// [`SpecialRemote`]: crate::SpecialRemote
    pub fn disconnected(negotiated: impl IntoIterator<Item = Extension>) -> Annex {
        let negotiated: Vec<Extension> = negotiated.into_iter().collect();
        let mut session = Session::new(negotiated.clone());
        let offer: Vec<String> = negotiated.iter().map(|e| e.to_string()).collect();
        session.handle_line(&format!("EXTENSIONS {}", offer.join(" ")));
        session.close();
        let (tx, _) = mpsc::channel(1);
        Annex::new(None, Link::new(session, tx))
    }

    /// Marks the request as answered and returns its unsent PROGRESS, which must go out
    /// before the reply.
    pub(crate) fn finish(&self) -> Option<String> {
        let mut p = lock(&self.link.progress);
        self.call.done.store(true, Ordering::SeqCst);
        p.remove(&self.job)
            .map(|n| frame(self.job, Message::Progress(n)))
    }

    /// The job this request belongs to (`None` without ASYNC).
    pub fn job(&self) -> JobId {
        self.job
    }

    /// The extensions in force for this process.
    pub fn negotiated(&self) -> Vec<Extension> {
        lock(&self.link.shared).session.negotiated().to_vec()
    }

    /// True when `ext` is in force.
    pub fn has_extension(&self, ext: &Extension) -> bool {
        lock(&self.link.shared).session.has(ext)
    }

    fn is_done(&self) -> bool {
        self.call.done.load(Ordering::SeqCst)
    }

    /// Sends a line of this job, after its pending PROGRESS so that order is kept.
    async fn send_line(&self, line: String) -> Result<(), ()> {
        let progress = lock(&self.link.progress).remove(&self.job);
        if let Some(n) = progress {
            self.link
                .send(frame(self.job, Message::Progress(n)))
                .await?;
        }
        self.link.send(line).await
    }

    /// Sends a message that gets no answer.
    ///
    /// # Errors
    /// [`QueryError::Closed`] when the session is over; [`QueryError::Protocol`] when
    /// `message` is a query (use the query methods) or the request was already answered.
    pub async fn send(&self, message: Message) -> Result<(), QueryError> {
        if message.expects().is_some() {
            return Err(QueryError::Protocol(format!(
                "{} is a query; it needs an answer",
                message.verb()
            )));
        }
        if self.is_done() {
            return Err(QueryError::Protocol(format!(
                "{} sent after the request was answered",
                message.verb()
            )));
        }
        self.send_line(frame(self.job, &message))
            .await
            .map_err(|()| QueryError::Closed(message.verb()))
    }

    /// Sends a query and waits for its answer lines.
    async fn query(&self, message: Message) -> Result<Vec<Answer>, QueryError> {
        let verb = message.verb();
        let _one_at_a_time = self.call.queries.lock().await;
        if self.is_done() {
            return Err(QueryError::Protocol(format!(
                "{verb} sent after the request was answered"
            )));
        }
        let (tx, rx) = oneshot::channel();
        let line = {
            let mut shared = lock(&self.link.shared);
            let line = shared.session.begin_query(self.job, &message)?;
            shared.waiters.insert(self.job, tx);
            line
        };
        self.send_line(line)
            .await
            .map_err(|()| QueryError::Closed(verb))?;
        rx.await.map_err(|_| QueryError::Closed(verb))
    }

    /// A query answered by one `VALUE`.
    async fn value(&self, message: Message) -> Result<String, QueryError> {
        let verb = message.verb();
        let answers = self.query(message).await?;
        match answers.into_iter().next() {
            Some(Answer::Value(v)) => Ok(v),
            Some(Answer::Error(message)) => Err(QueryError::Refused {
                query: verb,
                message,
            }),
            Some(other) => Err(QueryError::Protocol(format!(
                "{verb} was answered with {} instead of VALUE",
                other.verb()
            ))),
            None => Err(QueryError::Protocol(format!("{verb} got an empty answer"))),
        }
    }

    /// `GETCONFIG`: a setting's value; empty when unset.
    ///
    /// # Errors
    /// [`QueryError`] (also for the methods below).
    pub async fn get_config(&self, name: &str) -> Result<String, QueryError> {
        self.value(Message::GetConfig(name.to_owned())).await
    }

    /// `SETCONFIG`: persisted to the git-annex branch only during INITREMOTE; otherwise it
    /// holds for this process only.
    pub async fn set_config(&self, name: &str, value: &str) -> Result<(), QueryError> {
        self.send(Message::SetConfig {
            name: name.to_owned(),
            value: value.to_owned(),
        })
        .await
    }

    /// `GETCREDS`: `(user, password)`, both empty when none are stored.
    pub async fn get_creds(&self, setting: &str) -> Result<(String, String), QueryError> {
        let answers = self.query(Message::GetCreds(setting.to_owned())).await?;
        match answers.into_iter().next() {
            Some(Answer::Creds { user, password }) => Ok((user, password)),
            Some(Answer::Error(message)) => Err(QueryError::Refused {
                query: "GETCREDS",
                message,
            }),
            Some(other) => Err(QueryError::Protocol(format!(
                "GETCREDS was answered with {} instead of CREDS",
                other.verb()
            ))),
            None => Err(QueryError::Protocol("GETCREDS got an empty answer".into())),
        }
    }

    /// `SETCREDS`. The user must not contain whitespace.
    pub async fn set_creds(
        &self,
        setting: &str,
        user: &str,
        password: &str,
    ) -> Result<(), QueryError> {
        if user.contains(char::is_whitespace) || setting.contains(char::is_whitespace) {
            return Err(QueryError::Protocol(
                "SETCREDS: the setting and the user cannot contain whitespace".into(),
            ));
        }
        self.send(Message::SetCreds {
            setting: setting.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
        })
        .await
    }

    /// `GETUUID`: the remote's UUID.
    pub async fn get_uuid(&self) -> Result<String, QueryError> {
        self.value(Message::GetUuid).await
    }

    /// `GETGITDIR`: the git directory, relative to the working directory (`.git`, `../.git`).
    pub async fn get_git_dir(&self) -> Result<PathBuf, QueryError> {
        self.value(Message::GetGitDir).await.map(PathBuf::from)
    }

    /// `GETGITREMOTENAME`: the git remote's name (needs GETGITREMOTENAME negotiated on older
    /// git-annex).
    pub async fn get_git_remote_name(&self) -> Result<String, QueryError> {
        self.value(Message::GetGitRemoteName).await
    }

    /// `GETSTATE`: the state stored for `key` (empty when none).
    pub async fn get_state(&self, key: &Key) -> Result<String, QueryError> {
        self.value(Message::GetState(key.clone())).await
    }

    /// `SETSTATE`.
    pub async fn set_state(&self, key: &Key, value: &str) -> Result<(), QueryError> {
        self.send(Message::SetState {
            key: key.clone(),
            value: value.to_owned(),
        })
        .await
    }

    /// `SETURLPRESENT`. An http(s) URL also makes git-annex count the web as a copy.
    pub async fn set_url_present(&self, key: &Key, url: &str) -> Result<(), QueryError> {
        self.send(Message::SetUrlPresent {
            key: key.clone(),
            url: url.to_owned(),
        })
        .await
    }

    /// `SETURLMISSING`.
    pub async fn set_url_missing(&self, key: &Key, url: &str) -> Result<(), QueryError> {
        self.send(Message::SetUrlMissing {
            key: key.clone(),
            url: url.to_owned(),
        })
        .await
    }

    /// `SETURIPRESENT` (non-http schemes).
    pub async fn set_uri_present(&self, key: &Key, uri: &str) -> Result<(), QueryError> {
        self.send(Message::SetUriPresent {
            key: key.clone(),
            uri: uri.to_owned(),
        })
        .await
    }

    /// `SETURIMISSING`.
    pub async fn set_uri_missing(&self, key: &Key, uri: &str) -> Result<(), QueryError> {
        self.send(Message::SetUriMissing {
            key: key.clone(),
            uri: uri.to_owned(),
        })
        .await
    }

    /// `GETURLS`: the URLs recorded for `key` that start with `prefix` (empty: all).
    pub async fn get_urls(&self, key: &Key, prefix: &str) -> Result<Vec<String>, QueryError> {
        let answers = self
            .query(Message::GetUrls {
                key: key.clone(),
                prefix: prefix.to_owned(),
            })
            .await?;
        let mut urls = Vec::new();
        for a in answers {
            match a {
                Answer::Value(v) if v.is_empty() => return Ok(urls),
                Answer::Value(v) => urls.push(v),
                Answer::Error(message) => {
                    return Err(QueryError::Refused {
                        query: "GETURLS",
                        message,
                    });
                }
                other => {
                    return Err(QueryError::Protocol(format!(
                        "GETURLS was answered with {} instead of VALUE",
                        other.verb()
                    )));
                }
            }
        }
        Err(QueryError::Protocol(
            "GETURLS answer did not end with an empty VALUE".into(),
        ))
    }

    /// `DIRHASH`: git-annex's mixed-case hash directory for `key` (`aB/Cd/`).
    /// [`crate::dirhash::hashdir_mixed`] computes the same locally.
    pub async fn dirhash(&self, key: &Key) -> Result<String, QueryError> {
        self.value(Message::DirHash(key.clone())).await
    }

    /// `DIRHASH-LOWER`: the lower-case hash directory (`abc/def/`).
    /// [`crate::dirhash::hashdir_lower`] computes the same locally.
    pub async fn dirhash_lower(&self, key: &Key) -> Result<String, QueryError> {
        self.value(Message::DirHashLower(key.clone())).await
    }

    /// `SETWANTED`: set the remote's preferred content expression.
    pub async fn set_wanted(&self, expr: &str) -> Result<(), QueryError> {
        self.send(Message::SetWanted(expr.to_owned())).await
    }

    /// `GETWANTED`: the remote's preferred content expression.
    pub async fn get_wanted(&self) -> Result<String, QueryError> {
        self.value(Message::GetWanted).await
    }

    /// `DOWNLOAD-URL`: git-annex downloads `url` (with its own security settings) to a
    /// temporary file and returns its path.
    pub async fn download_url(&self, url: &str) -> Result<PathBuf, QueryError> {
        let answers = self.query(Message::DownloadUrl(url.to_owned())).await?;
        match answers.into_iter().next() {
            Some(Answer::DownloadUrlSuccess(path)) => Ok(PathBuf::from(path)),
            Some(Answer::DownloadUrlFailure(msg)) => Err(QueryError::DownloadFailed(msg)),
            Some(Answer::Error(message)) => Err(QueryError::Refused {
                query: "DOWNLOAD-URL",
                message,
            }),
            Some(other) => Err(QueryError::Protocol(format!(
                "DOWNLOAD-URL was answered with {}",
                other.verb()
            ))),
            None => Err(QueryError::Protocol(
                "DOWNLOAD-URL got an empty answer".into(),
            )),
        }
    }

    /// `PROGRESS bytes`: how far the transfer is (cumulative). Never blocks and never queues:
    /// when the writer is behind, only the newest value is sent. Call it as often as bytes
    /// move: a value goes out at once when the transfer has moved 1 MiB or 100 ms have passed
    /// since the last one (git-annex's stall detection relies on regular PROGRESS), and the
    /// newest value always goes out before the request's reply.
    pub fn progress(&self, bytes: u64) {
        {
            let mut p = lock(&self.link.progress);
            if self.is_done() {
                return;
            }
            p.insert(self.job, bytes);
        }
        let now = std::time::Instant::now();
        {
            let mut sent = lock(&self.call.progress_sent);
            let due = match *sent {
                None => true,
                Some((at, when)) => {
                    bytes.saturating_sub(at) >= PROGRESS_BYTES
                        || now.duration_since(when) >= PROGRESS_INTERVAL
                }
            };
            if !due {
                return;
            }
            *sent = Some((bytes, now));
        }
        self.link.progress_ready.notify_one();
    }

    /// `DEBUG msg`: shown with `git annex --debug`. Newlines become spaces.
    pub async fn debug(&self, msg: &str) {
        if let Err(e) = self.send(Message::Debug(msg.to_owned())).await {
            tracing::debug!(target: "remote_proto::annex", error = %e, "DEBUG not sent");
        }
    }

    /// `INFO msg` when the INFO extension is in force, else `DEBUG msg`.
    pub async fn info(&self, msg: &str) {
        let m = if self.has_extension(&Extension::Info) {
            Message::Info(msg.to_owned())
        } else {
            Message::Debug(msg.to_owned())
        };
        if let Err(e) = self.send(m).await {
            tracing::debug!(target: "remote_proto::annex", error = %e, "INFO not sent");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn disconnected_handle_fails_queries_cleanly() {
        let a = Annex::disconnected([Extension::Info]);
        assert!(a.has_extension(&Extension::Info));
        assert_eq!(a.get_uuid().await, Err(QueryError::Closed("GETUUID")));
        a.progress(5);
        a.debug("nobody listens").await;
        assert!(matches!(
            a.send(Message::GetUuid).await,
            Err(QueryError::Protocol(_))
        ));
    }
}

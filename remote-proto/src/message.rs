//! Messages a remote sends on its own initiative while handling a request ([`Message`]: queries,
//! progress, state), git-annex's [`Answer`]s to the queries, and [`Outgoing`]: any line a
//! remote sends.

use std::fmt;

use crate::key::Key;
use crate::reply::Reply;
use crate::wire::{self, OneLine, Params, ParseError};

/// A message from the remote to git-annex that is not the reply to a request. Queries
/// (`GETCONFIG`, `DIRHASH`, …) get exactly one [`Answer`] (`GETURLS`: a list ended by an empty
/// `VALUE`); the others get none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `VERSION n`: the first line of every session (always 2 in practice).
    Version(u32),
    /// `PROGRESS bytes`: cumulative bytes transferred so far.
    Progress(u64),
    /// `DIRHASH Key`: ask for the mixed-case hash directory (`VALUE aB/Cd/`).
    DirHash(Key),
    /// `DIRHASH-LOWER Key`: ask for the lower-case hash directory (`VALUE abc/def/`).
    DirHashLower(Key),
    /// `SETCONFIG Setting Value`. `name` must not contain whitespace; `value` may.
    SetConfig {
        /// The setting's name.
        name: String,
        /// Its value (rest of the line).
        value: String,
    },
    /// `GETCONFIG Setting`: answered `VALUE v` (empty when unset).
    GetConfig(String),
    /// `SETCREDS Setting User Password`. `setting` and `user` must not contain whitespace.
    SetCreds {
        /// The name the credentials are stored under.
        setting: String,
        /// The user name.
        user: String,
        /// The password (rest of the line).
        password: String,
    },
    /// `GETCREDS Setting`: answered `CREDS User Password`.
    GetCreds(String),
    /// `GETUUID`: answered `VALUE uuid`.
    GetUuid,
    /// `GETGITDIR`: answered `VALUE path` (relative, e.g. `.git`).
    GetGitDir,
    /// `GETGITREMOTENAME`: answered `VALUE name` (needs the extension).
    GetGitRemoteName,
    /// `SETWANTED expr`: set the remote's preferred content expression.
    SetWanted(String),
    /// `GETWANTED`: answered `VALUE expr`.
    GetWanted,
    /// `SETSTATE Key Value`: store per-key state in the git-annex branch.
    SetState {
        /// The key the state belongs to.
        key: Key,
        /// The state (rest of the line).
        value: String,
    },
    /// `GETSTATE Key`: answered `VALUE state`.
    GetState(Key),
    /// `SETURLPRESENT Key Url`.
    SetUrlPresent {
        /// The key.
        key: Key,
        /// Where the content can be downloaded.
        url: String,
    },
    /// `SETURLMISSING Key Url`.
    SetUrlMissing {
        /// The key.
        key: Key,
        /// The URL that no longer has the content.
        url: String,
    },
    /// `SETURIPRESENT Key Uri` (non-http schemes).
    SetUriPresent {
        /// The key.
        key: Key,
        /// The URI.
        uri: String,
    },
    /// `SETURIMISSING Key Uri`.
    SetUriMissing {
        /// The key.
        key: Key,
        /// The URI.
        uri: String,
    },
    /// `GETURLS Key Prefix`: answered by one `VALUE url` per match, then an empty `VALUE`.
    GetUrls {
        /// The key.
        key: Key,
        /// Only URLs starting with this (empty: all).
        prefix: String,
    },
    /// `DEBUG msg`: shown with `git annex --debug`.
    Debug(String),
    /// `INFO msg`: shown to the user (needs the INFO extension).
    Info(String),
    /// `ERROR msg`: a general, fatal error of the remote.
    Error(String),
    /// `DOWNLOAD-URL Url`: ask git-annex to download a URL to a temporary file.
    DownloadUrl(String),
}

/// What kind of answer a query waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// One `VALUE`.
    Value,
    /// `VALUE` lines until an empty one (`GETURLS`).
    ValueList,
    /// One `CREDS`.
    Creds,
    /// `DOWNLOAD-URL-SUCCESS` or `DOWNLOAD-URL-FAILURE`.
    Download,
}

impl Message {
    /// The command word.
    pub fn verb(&self) -> &'static str {
        match self {
            Message::Version(_) => "VERSION",
            Message::Progress(_) => "PROGRESS",
            Message::DirHash(_) => "DIRHASH",
            Message::DirHashLower(_) => "DIRHASH-LOWER",
            Message::SetConfig { .. } => "SETCONFIG",
            Message::GetConfig(_) => "GETCONFIG",
            Message::SetCreds { .. } => "SETCREDS",
            Message::GetCreds(_) => "GETCREDS",
            Message::GetUuid => "GETUUID",
            Message::GetGitDir => "GETGITDIR",
            Message::GetGitRemoteName => "GETGITREMOTENAME",
            Message::SetWanted(_) => "SETWANTED",
            Message::GetWanted => "GETWANTED",
            Message::SetState { .. } => "SETSTATE",
            Message::GetState(_) => "GETSTATE",
            Message::SetUrlPresent { .. } => "SETURLPRESENT",
            Message::SetUrlMissing { .. } => "SETURLMISSING",
            Message::SetUriPresent { .. } => "SETURIPRESENT",
            Message::SetUriMissing { .. } => "SETURIMISSING",
            Message::GetUrls { .. } => "GETURLS",
            Message::Debug(_) => "DEBUG",
            Message::Info(_) => "INFO",
            Message::Error(_) => "ERROR",
            Message::DownloadUrl(_) => "DOWNLOAD-URL",
        }
    }

    /// The answer this message waits for, or `None` when git-annex does not answer it.
    pub fn expects(&self) -> Option<QueryKind> {
        match self {
            Message::DirHash(_)
            | Message::DirHashLower(_)
            | Message::GetConfig(_)
            | Message::GetUuid
            | Message::GetGitDir
            | Message::GetGitRemoteName
            | Message::GetWanted
            | Message::GetState(_) => Some(QueryKind::Value),
            Message::GetUrls { .. } => Some(QueryKind::ValueList),
            Message::GetCreds(_) => Some(QueryKind::Creds),
            Message::DownloadUrl(_) => Some(QueryKind::Download),
            _ => None,
        }
    }

    pub(crate) fn is_message_verb(verb: &str) -> bool {
        matches!(
            verb,
            "VERSION"
                | "PROGRESS"
                | "DIRHASH"
                | "DIRHASH-LOWER"
                | "SETCONFIG"
                | "GETCONFIG"
                | "SETCREDS"
                | "GETCREDS"
                | "GETUUID"
                | "GETGITDIR"
                | "GETGITREMOTENAME"
                | "SETWANTED"
                | "GETWANTED"
                | "SETSTATE"
                | "GETSTATE"
                | "SETURLPRESENT"
                | "SETURLMISSING"
                | "SETURIPRESENT"
                | "SETURIMISSING"
                | "GETURLS"
                | "DEBUG"
                | "INFO"
                | "ERROR"
                | "DOWNLOAD-URL"
        )
    }

    /// Parses one line a remote sent.
    ///
    /// # Errors
    /// [`ParseError`], including [`ParseError::UnknownVerb`] for anything that is not a
    /// message (replies are parsed by [`Reply::parse`], both by [`Outgoing::parse`]).
    pub fn parse(line: &str) -> Result<Message, ParseError> {
        let (verb, rest) = wire::command(line)?;
        Ok(match verb {
            "VERSION" => {
                let p = Params::new("VERSION", "a version number", rest);
                let n = wire::parse_number("VERSION", "version", p.nonempty_rest()?)?;
                Message::Version(u32::try_from(n).map_err(|_| ParseError::BadParam {
                    verb: "VERSION",
                    what: "version",
                    got: n.to_string(),
                    expected: "a small number",
                })?)
            }
            "PROGRESS" => {
                let p = Params::new("PROGRESS", "a byte count", rest);
                Message::Progress(wire::parse_number(
                    "PROGRESS",
                    "byte count",
                    p.nonempty_rest()?,
                )?)
            }
            "DIRHASH" => Message::DirHash(Params::new("DIRHASH", "a key", rest).last_key()?),
            "DIRHASH-LOWER" => {
                Message::DirHashLower(Params::new("DIRHASH-LOWER", "a key", rest).last_key()?)
            }
            "SETCONFIG" => {
                let mut p = Params::new("SETCONFIG", "a setting and a value", rest);
                let name = p.word()?.to_owned();
                Message::SetConfig {
                    name,
                    value: p.rest().to_owned(),
                }
            }
            "GETCONFIG" => Message::GetConfig(
                Params::new("GETCONFIG", "a setting", rest)
                    .nonempty_rest()?
                    .to_owned(),
            ),
            "SETCREDS" => {
                let mut p = Params::new("SETCREDS", "a setting, a user and a password", rest);
                let setting = p.word()?.to_owned();
                let user = p.word_or_empty().to_owned();
                Message::SetCreds {
                    setting,
                    user,
                    password: p.rest().to_owned(),
                }
            }
            "GETCREDS" => Message::GetCreds(
                Params::new("GETCREDS", "a setting", rest)
                    .nonempty_rest()?
                    .to_owned(),
            ),
            "GETUUID" => {
                wire::no_params("GETUUID", rest)?;
                Message::GetUuid
            }
            "GETGITDIR" => {
                wire::no_params("GETGITDIR", rest)?;
                Message::GetGitDir
            }
            "GETGITREMOTENAME" => {
                wire::no_params("GETGITREMOTENAME", rest)?;
                Message::GetGitRemoteName
            }
            "SETWANTED" => Message::SetWanted(rest.to_owned()),
            "GETWANTED" => {
                wire::no_params("GETWANTED", rest)?;
                Message::GetWanted
            }
            "SETSTATE" => {
                let mut p = Params::new("SETSTATE", "a key and a value", rest);
                let key = p.key()?;
                Message::SetState {
                    key,
                    value: p.rest().to_owned(),
                }
            }
            "GETSTATE" => Message::GetState(Params::new("GETSTATE", "a key", rest).last_key()?),
            "SETURLPRESENT" | "SETURLMISSING" | "SETURIPRESENT" | "SETURIMISSING" => {
                let verb: &'static str = match verb {
                    "SETURLPRESENT" => "SETURLPRESENT",
                    "SETURLMISSING" => "SETURLMISSING",
                    "SETURIPRESENT" => "SETURIPRESENT",
                    _ => "SETURIMISSING",
                };
                let mut p = Params::new(verb, "a key and a URL", rest);
                let key = p.key()?;
                let url = p.nonempty_rest()?.to_owned();
                match verb {
                    "SETURLPRESENT" => Message::SetUrlPresent { key, url },
                    "SETURLMISSING" => Message::SetUrlMissing { key, url },
                    "SETURIPRESENT" => Message::SetUriPresent { key, uri: url },
                    _ => Message::SetUriMissing { key, uri: url },
                }
            }
            "GETURLS" => {
                let mut p = Params::new("GETURLS", "a key and a prefix", rest);
                // The prefix may be empty (all URLs): `GETURLS Key` and `GETURLS Key ` both
                // mean that, so the key ends at the first whitespace or at the end.
                let key = if rest.contains(char::is_whitespace) {
                    p.key()?
                } else {
                    return Ok(Message::GetUrls {
                        key: p.last_key()?,
                        prefix: String::new(),
                    });
                };
                Message::GetUrls {
                    key,
                    prefix: p.rest().to_owned(),
                }
            }
            "DEBUG" => Message::Debug(rest.to_owned()),
            "INFO" => Message::Info(rest.to_owned()),
            "ERROR" => Message::Error(rest.to_owned()),
            "DOWNLOAD-URL" => Message::DownloadUrl(
                Params::new("DOWNLOAD-URL", "a URL", rest)
                    .nonempty_rest()?
                    .to_owned(),
            ),
            other => return Err(ParseError::UnknownVerb(other.to_owned())),
        })
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = self.verb();
        match self {
            Message::Version(n) => write!(f, "{verb} {n}"),
            Message::Progress(n) => write!(f, "{verb} {n}"),
            Message::DirHash(key) | Message::DirHashLower(key) | Message::GetState(key) => {
                write!(f, "{verb} {key}")
            }
            Message::SetConfig { name, value } => {
                write!(f, "{verb} {} {}", OneLine(name), OneLine(value))
            }
            Message::SetCreds {
                setting,
                user,
                password,
            } => write!(
                f,
                "{verb} {} {} {}",
                OneLine(setting),
                OneLine(user),
                OneLine(password)
            ),
            Message::GetConfig(s)
            | Message::GetCreds(s)
            | Message::SetWanted(s)
            | Message::Debug(s)
            | Message::Info(s)
            | Message::DownloadUrl(s) => write!(f, "{verb} {}", OneLine(s)),
            Message::Error(s) => {
                f.write_str(verb)?;
                wire::opt_msg(f, s)
            }
            Message::SetState { key, value: s }
            | Message::SetUrlPresent { key, url: s }
            | Message::SetUrlMissing { key, url: s }
            | Message::SetUriPresent { key, uri: s }
            | Message::SetUriMissing { key, uri: s }
            | Message::GetUrls { key, prefix: s } => write!(f, "{verb} {key} {}", OneLine(s)),
            Message::GetUuid
            | Message::GetGitDir
            | Message::GetGitRemoteName
            | Message::GetWanted => f.write_str(verb),
        }
    }
}

/// git-annex's answer to a query ([`Message::expects`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `VALUE v`: the value, which may be empty (`VALUE ` or a bare `VALUE`).
    Value(String),
    /// `CREDS User Password` (`CREDS  ` when none are stored).
    Creds {
        /// The user (no whitespace).
        user: String,
        /// The password (rest of the line).
        password: String,
    },
    /// `DOWNLOAD-URL-SUCCESS path`: the temporary file git-annex downloaded to.
    DownloadUrlSuccess(String),
    /// `DOWNLOAD-URL-FAILURE msg`.
    DownloadUrlFailure(String),
    /// `ERROR msg`: git-annex refused the query (`ERROR cannot send GETUUID here`), or a
    /// general error such as `ERROR unsupported VERSION`. Not a reason to exit.
    Error(String),
}

impl Answer {
    pub(crate) fn is_answer_verb(verb: &str) -> bool {
        matches!(
            verb,
            "VALUE" | "CREDS" | "DOWNLOAD-URL-SUCCESS" | "DOWNLOAD-URL-FAILURE" | "ERROR"
        )
    }

    /// The command word.
    pub fn verb(&self) -> &'static str {
        match self {
            Answer::Value(_) => "VALUE",
            Answer::Creds { .. } => "CREDS",
            Answer::DownloadUrlSuccess(_) => "DOWNLOAD-URL-SUCCESS",
            Answer::DownloadUrlFailure(_) => "DOWNLOAD-URL-FAILURE",
            Answer::Error(_) => "ERROR",
        }
    }

    /// Parses one answer line. Empty parameters are read the way git-annex writes them:
    /// `VALUE`, `VALUE ` and `CREDS  ` are all valid.
    ///
    /// # Errors
    /// [`ParseError::UnknownVerb`] for anything that is not an answer.
    pub fn parse(line: &str) -> Result<Answer, ParseError> {
        let (verb, rest) = wire::command(line)?;
        Ok(match verb {
            "VALUE" => Answer::Value(rest.to_owned()),
            "CREDS" => {
                let mut p = Params::new("CREDS", "a user and a password", rest);
                let user = p.word_or_empty().to_owned();
                Answer::Creds {
                    user,
                    password: p.rest().to_owned(),
                }
            }
            "DOWNLOAD-URL-SUCCESS" => Answer::DownloadUrlSuccess(rest.to_owned()),
            "DOWNLOAD-URL-FAILURE" => Answer::DownloadUrlFailure(rest.to_owned()),
            "ERROR" => Answer::Error(rest.to_owned()),
            other => return Err(ParseError::UnknownVerb(other.to_owned())),
        })
    }
}

impl fmt::Display for Answer {
    /// git-annex's own form (`unwords`): empty parameters keep their separator, so an empty
    /// value is `VALUE ` and empty credentials are `CREDS  `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = self.verb();
        match self {
            Answer::Value(s)
            | Answer::DownloadUrlSuccess(s)
            | Answer::DownloadUrlFailure(s)
            | Answer::Error(s) => write!(f, "{verb} {}", OneLine(s)),
            Answer::Creds { user, password } => {
                write!(f, "{verb} {} {}", OneLine(user), OneLine(password))
            }
        }
    }
}

/// Any line a remote sends: a reply to a request, or a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A reply ending (or, for multi-line answers, continuing) a request.
    Reply(Reply),
    /// A message sent while handling a request.
    Message(Message),
}

impl Outgoing {
    /// Parses one line a remote sent. `ERROR msg`, valid both as a reply and as a message,
    /// becomes [`Reply::Error`].
    ///
    /// # Errors
    /// [`ParseError`], [`ParseError::UnknownVerb`] for lines that are neither.
    pub fn parse(line: &str) -> Result<Outgoing, ParseError> {
        let (verb, _) = wire::command(line)?;
        if verb != "ERROR" && Message::is_message_verb(verb) {
            Message::parse(line).map(Outgoing::Message)
        } else {
            Reply::parse(line).map(Outgoing::Reply)
        }
    }
}

impl fmt::Display for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outgoing::Reply(r) => r.fmt(f),
            Outgoing::Message(m) => m.fmt(f),
        }
    }
}

impl From<Reply> for Outgoing {
    fn from(r: Reply) -> Outgoing {
        Outgoing::Reply(r)
    }
}

impl From<Message> for Outgoing {
    fn from(m: Message) -> Outgoing {
        Outgoing::Message(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &str =
        "SHA256E-s6--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.txt";

    fn key() -> Key {
        Key::parse(K).unwrap()
    }

    #[test]
    fn empty_values_and_creds_parse_as_git_annex_sends_them() {
        assert_eq!(Answer::parse("VALUE "), Ok(Answer::Value(String::new())));
        assert_eq!(Answer::parse("VALUE"), Ok(Answer::Value(String::new())));
        assert_eq!(Answer::Value(String::new()).to_string(), "VALUE ");
        let none = Answer::Creds {
            user: String::new(),
            password: String::new(),
        };
        assert_eq!(Answer::parse("CREDS  "), Ok(none.clone()));
        assert_eq!(none.to_string(), "CREDS  ");
        assert_eq!(
            Answer::parse("CREDS alice s3cr3t with spaces"),
            Ok(Answer::Creds {
                user: "alice".into(),
                password: "s3cr3t with spaces".into()
            })
        );
        assert_eq!(
            Answer::parse("VALUE x y  z"),
            Ok(Answer::Value("x y  z".into()))
        );
        assert_eq!(
            Answer::parse("ERROR cannot send GETUUID here"),
            Ok(Answer::Error("cannot send GETUUID here".into()))
        );
    }

    #[test]
    fn observed_messages_round_trip() {
        let table = vec![
            (format!("DIRHASH-LOWER {K}"), Message::DirHashLower(key())),
            ("PROGRESS 262144".to_owned(), Message::Progress(262144)),
            ("VERSION 2".to_owned(), Message::Version(2)),
            (
                "SETCONFIG bar x y  z".to_owned(),
                Message::SetConfig {
                    name: "bar".into(),
                    value: "x y  z".into(),
                },
            ),
            (
                "GETCONFIG directory".to_owned(),
                Message::GetConfig("directory".into()),
            ),
            (
                "GETCREDS mycreds".to_owned(),
                Message::GetCreds("mycreds".into()),
            ),
            ("GETGITREMOTENAME".to_owned(), Message::GetGitRemoteName),
            (
                format!("GETURLS {K} "),
                Message::GetUrls {
                    key: key(),
                    prefix: String::new(),
                },
            ),
            (
                format!("SETURLPRESENT {K} http://x/a b"),
                Message::SetUrlPresent {
                    key: key(),
                    url: "http://x/a b".into(),
                },
            ),
            (
                "DOWNLOAD-URL http://127.0.0.1:8765/hello.txt".to_owned(),
                Message::DownloadUrl("http://127.0.0.1:8765/hello.txt".into()),
            ),
        ];
        for (line, want) in table {
            assert_eq!(Message::parse(&line).as_ref(), Ok(&want), "{line}");
            assert_eq!(want.to_string(), line);
        }
        assert_eq!(
            Message::parse(&format!("GETURLS {K}")),
            Ok(Message::GetUrls {
                key: key(),
                prefix: String::new()
            })
        );
    }

    #[test]
    fn messages_never_carry_newlines() {
        let m = Message::Debug("two\nlines\r".into());
        assert_eq!(m.to_string(), "DEBUG two lines ");
    }

    #[test]
    fn query_kinds() {
        assert_eq!(Message::GetUuid.expects(), Some(QueryKind::Value));
        assert_eq!(
            Message::GetCreds("c".into()).expects(),
            Some(QueryKind::Creds)
        );
        assert_eq!(Message::Progress(1).expects(), None);
    }

    #[test]
    fn outgoing_tells_replies_from_messages() {
        assert_eq!(
            Outgoing::parse("PREPARE-SUCCESS"),
            Ok(Outgoing::Reply(Reply::PrepareSuccess))
        );
        assert_eq!(
            Outgoing::parse("GETUUID"),
            Ok(Outgoing::Message(Message::GetUuid))
        );
        assert_eq!(
            Outgoing::parse("ERROR boom"),
            Ok(Outgoing::Reply(Reply::Error("boom".into())))
        );
        assert!(matches!(
            Outgoing::parse("BOGUS-REPLY K"),
            Err(ParseError::UnknownVerb(_))
        ));
    }
}

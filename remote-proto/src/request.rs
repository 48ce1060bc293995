//! Requests git-annex sends to a remote, and [`Incoming`]: any line git-annex sends.

use std::fmt;

use crate::extension::{self, Extension};
use crate::key::Key;
use crate::message::Answer;
use crate::wire::{self, OneLine, Params, ParseError};

/// The direction of a `TRANSFER` or `TRANSFEREXPORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `STORE`: copy File to the remote under Key.
    Store,
    /// `RETRIEVE`: write Key's content from the remote into File.
    Retrieve,
}

impl Direction {
    /// The direction's word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Store => "STORE",
            Direction::Retrieve => "RETRIEVE",
        }
    }

    pub(crate) fn parse(p: &Params<'_>, s: &str) -> Result<Direction, ParseError> {
        match s {
            "STORE" => Ok(Direction::Store),
            "RETRIEVE" => Ok(Direction::Retrieve),
            _ => Err(p.bad("direction", s, "STORE or RETRIEVE")),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request from git-annex. Every variant's `Display` is its exact wire text, so that a test
/// harness playing git-annex can send it.
///
/// ```
/// use remote_proto::{Direction, Request};
/// let req = Request::parse("TRANSFER STORE SHA256E-s3--ab.txt /tmp/a  b.txt").unwrap();
/// assert_eq!(
///     req,
///     Request::Transfer {
///         dir: Direction::Store,
///         key: "SHA256E-s3--ab.txt".parse().unwrap(),
///         file: "/tmp/a  b.txt".into(),
///     }
/// );
/// assert_eq!(req.to_string(), "TRANSFER STORE SHA256E-s3--ab.txt /tmp/a  b.txt");
/// assert!(Request::parse("TRANSFER STORE").is_err());
/// assert_eq!(Request::parse("FROB x").unwrap(), Request::Unknown("FROB x".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `EXTENSIONS list`: the extensions git-annex offers (the second line of a session).
    Extensions(Vec<Extension>),
    /// `INITREMOTE`: set the remote up (initremote, enableremote, autoenable). Idempotent.
    InitRemote,
    /// `PREPARE`: get ready to serve requests; read config here.
    Prepare,
    /// `TRANSFER STORE|RETRIEVE Key File`. File is the rest of the line, verbatim, usually
    /// relative to the process's working directory.
    Transfer {
        /// Store or retrieve.
        dir: Direction,
        /// The key to transfer.
        key: Key,
        /// The local file to read from or write to.
        file: String,
    },
    /// `CHECKPRESENT Key`.
    CheckPresent(Key),
    /// `REMOVE Key`.
    Remove(Key),
    /// `LISTCONFIGS`: which settings the remote accepts.
    ListConfigs,
    /// `GETCOST`.
    GetCost,
    /// `GETAVAILABILITY`.
    GetAvailability,
    /// `GETORDERED`: does RETRIEVE write the file in order?
    GetOrdered,
    /// `CLAIMURL Url`.
    ClaimUrl(String),
    /// `CHECKURL Url`.
    CheckUrl(String),
    /// `WHEREIS Key`.
    WhereIs(Key),
    /// `GETINFO`.
    GetInfo,
    /// `EXPORTSUPPORTED`.
    ExportSupported,
    /// `EXPORT Name`: sets the export name for the next request of the same job; no reply.
    Export(String),
    /// `TRANSFEREXPORT STORE|RETRIEVE Key File`, at the name set by the last `EXPORT`.
    TransferExport {
        /// Store or retrieve.
        dir: Direction,
        /// The key of the content.
        key: Key,
        /// The local file to read from or write to.
        file: String,
    },
    /// `CHECKPRESENTEXPORT Key`, at the name set by the last `EXPORT`.
    CheckPresentExport(Key),
    /// `REMOVEEXPORT Key`, at the name set by the last `EXPORT`.
    RemoveExport(Key),
    /// `REMOVEEXPORTDIRECTORY Dir`.
    RemoveExportDirectory(String),
    /// `RENAMEEXPORT Key NewName`: move the content at the last `EXPORT` name to NewName.
    RenameExport {
        /// The key of the content.
        key: Key,
        /// The name to move it to.
        new_name: String,
    },
    /// `IMPORTSUPPORTED`.
    ImportSupported,
    /// `LISTIMPORTABLECONTENTS`.
    ListImportableContents,
    /// `IMPORT Name`: sets the import name for the next request of the same job; no reply.
    Import(String),
    /// `RETRIEVEIMPORT File`: write the content at the last `IMPORT` name into File.
    RetrieveImport(String),
    /// `CHECKPRESENTIMPORT Key`, at the name set by the last `IMPORT`.
    CheckPresentImport(Key),
    /// `IMPORTKEY Size Cid`: name the key of the content at the last `IMPORT` name.
    ImportKey {
        /// The size that was listed.
        size: u64,
        /// The content identifier that was listed (rest of the line).
        cid: String,
    },
    /// A request this crate does not know, kept whole (the full line). Remotes answer
    /// `UNSUPPORTED-REQUEST`: git-annex adds optional requests without a protocol bump.
    Unknown(String),
}

impl Request {
    /// Parses one line (without its `\n`; a `\r` is *not* stripped, as git-annex does not).
    ///
    /// # Errors
    /// [`ParseError`] when a known verb has missing or malformed parameters. Unknown verbs
    /// (including lower-case ones: commands are case-sensitive) are not errors but
    /// [`Request::Unknown`].
    pub fn parse(line: &str) -> Result<Request, ParseError> {
        let (verb, rest) = wire::command(line)?;
        Ok(match verb {
            "EXTENSIONS" => Request::Extensions(Extension::parse_list(rest)),
            "INITREMOTE" => {
                wire::no_params("INITREMOTE", rest)?;
                Request::InitRemote
            }
            "PREPARE" => {
                wire::no_params("PREPARE", rest)?;
                Request::Prepare
            }
            "TRANSFER" => {
                let (dir, key, file) = transfer("TRANSFER", rest)?;
                Request::Transfer { dir, key, file }
            }
            "CHECKPRESENT" => Request::CheckPresent(last_key("CHECKPRESENT", rest)?),
            "REMOVE" => Request::Remove(last_key("REMOVE", rest)?),
            "LISTCONFIGS" => {
                wire::no_params("LISTCONFIGS", rest)?;
                Request::ListConfigs
            }
            "GETCOST" => {
                wire::no_params("GETCOST", rest)?;
                Request::GetCost
            }
            "GETAVAILABILITY" => {
                wire::no_params("GETAVAILABILITY", rest)?;
                Request::GetAvailability
            }
            "GETORDERED" => {
                wire::no_params("GETORDERED", rest)?;
                Request::GetOrdered
            }
            "CLAIMURL" => Request::ClaimUrl(
                Params::new("CLAIMURL", "a URL", rest)
                    .nonempty_rest()?
                    .to_owned(),
            ),
            "CHECKURL" => Request::CheckUrl(
                Params::new("CHECKURL", "a URL", rest)
                    .nonempty_rest()?
                    .to_owned(),
            ),
            "WHEREIS" => Request::WhereIs(last_key("WHEREIS", rest)?),
            "GETINFO" => {
                wire::no_params("GETINFO", rest)?;
                Request::GetInfo
            }
            "EXPORTSUPPORTED" => {
                wire::no_params("EXPORTSUPPORTED", rest)?;
                Request::ExportSupported
            }
            "EXPORT" => Request::Export(
                Params::new("EXPORT", "a name", rest)
                    .nonempty_rest()?
                    .to_owned(),
            ),
            "TRANSFEREXPORT" => {
                let (dir, key, file) = transfer("TRANSFEREXPORT", rest)?;
                Request::TransferExport { dir, key, file }
            }
            "CHECKPRESENTEXPORT" => {
                Request::CheckPresentExport(last_key("CHECKPRESENTEXPORT", rest)?)
            }
            "REMOVEEXPORT" => Request::RemoveExport(last_key("REMOVEEXPORT", rest)?),
            "REMOVEEXPORTDIRECTORY" => Request::RemoveExportDirectory(
                Params::new("REMOVEEXPORTDIRECTORY", "a directory", rest)
                    .nonempty_rest()?
                    .to_owned(),
            ),
            "RENAMEEXPORT" => {
                let mut p = Params::new("RENAMEEXPORT", "a key and a new name", rest);
                let key = p.key()?;
                let new_name = p.nonempty_rest()?.to_owned();
                Request::RenameExport { key, new_name }
            }
            "IMPORTSUPPORTED" => {
                wire::no_params("IMPORTSUPPORTED", rest)?;
                Request::ImportSupported
            }
            "LISTIMPORTABLECONTENTS" => {
                wire::no_params("LISTIMPORTABLECONTENTS", rest)?;
                Request::ListImportableContents
            }
            "IMPORT" => Request::Import(
                Params::new("IMPORT", "a name", rest)
                    .nonempty_rest()?
                    .to_owned(),
            ),
            "RETRIEVEIMPORT" => Request::RetrieveImport(
                Params::new("RETRIEVEIMPORT", "a file", rest)
                    .nonempty_rest()?
                    .to_owned(),
            ),
            "CHECKPRESENTIMPORT" => {
                Request::CheckPresentImport(last_key("CHECKPRESENTIMPORT", rest)?)
            }
            "IMPORTKEY" => {
                let mut p = Params::new("IMPORTKEY", "a size and a content identifier", rest);
                let size = p.number("size")?;
                let cid = p.nonempty_rest()?.to_owned();
                Request::ImportKey { size, cid }
            }
            _ => Request::Unknown(line.to_owned()),
        })
    }

    /// The command word (`TRANSFER`, `CHECKPRESENT`, …); for [`Request::Unknown`] the first
    /// word of the line.
    pub fn verb(&self) -> &str {
        match self {
            Request::Extensions(_) => "EXTENSIONS",
            Request::InitRemote => "INITREMOTE",
            Request::Prepare => "PREPARE",
            Request::Transfer { .. } => "TRANSFER",
            Request::CheckPresent(_) => "CHECKPRESENT",
            Request::Remove(_) => "REMOVE",
            Request::ListConfigs => "LISTCONFIGS",
            Request::GetCost => "GETCOST",
            Request::GetAvailability => "GETAVAILABILITY",
            Request::GetOrdered => "GETORDERED",
            Request::ClaimUrl(_) => "CLAIMURL",
            Request::CheckUrl(_) => "CHECKURL",
            Request::WhereIs(_) => "WHEREIS",
            Request::GetInfo => "GETINFO",
            Request::ExportSupported => "EXPORTSUPPORTED",
            Request::Export(_) => "EXPORT",
            Request::TransferExport { .. } => "TRANSFEREXPORT",
            Request::CheckPresentExport(_) => "CHECKPRESENTEXPORT",
            Request::RemoveExport(_) => "REMOVEEXPORT",
            Request::RemoveExportDirectory(_) => "REMOVEEXPORTDIRECTORY",
            Request::RenameExport { .. } => "RENAMEEXPORT",
            Request::ImportSupported => "IMPORTSUPPORTED",
            Request::ListImportableContents => "LISTIMPORTABLECONTENTS",
            Request::Import(_) => "IMPORT",
            Request::RetrieveImport(_) => "RETRIEVEIMPORT",
            Request::CheckPresentImport(_) => "CHECKPRESENTIMPORT",
            Request::ImportKey { .. } => "IMPORTKEY",
            Request::Unknown(line) => wire::split_word(line).0,
        }
    }

    /// The key the request is about, if any.
    pub fn key(&self) -> Option<&Key> {
        match self {
            Request::Transfer { key, .. }
            | Request::TransferExport { key, .. }
            | Request::RenameExport { key, .. }
            | Request::CheckPresent(key)
            | Request::Remove(key)
            | Request::WhereIs(key)
            | Request::CheckPresentExport(key)
            | Request::RemoveExport(key)
            | Request::CheckPresentImport(key) => Some(key),
            _ => None,
        }
    }
}

fn transfer(verb: &'static str, rest: &str) -> Result<(Direction, Key, String), ParseError> {
    let mut p = Params::new(verb, "a direction, a key and a file", rest);
    let word = p.word()?;
    let dir = Direction::parse(&p, word)?;
    let key = p.key()?;
    // git-annex sends the file path raw, spaces included; keys have none, so the key ends at
    // the first whitespace and the file is the rest, verbatim.
    let file = p.nonempty_rest()?.to_owned();
    Ok((dir, key, file))
}

fn last_key(verb: &'static str, rest: &str) -> Result<Key, ParseError> {
    Params::new(verb, "a key", rest).last_key()
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = self.verb();
        match self {
            Request::Extensions(list) => extension::write_list(f, "EXTENSIONS", list),
            Request::Transfer { dir, key, file } | Request::TransferExport { dir, key, file } => {
                write!(f, "{verb} {dir} {key} {}", OneLine(file))
            }
            Request::CheckPresent(key)
            | Request::Remove(key)
            | Request::WhereIs(key)
            | Request::CheckPresentExport(key)
            | Request::RemoveExport(key)
            | Request::CheckPresentImport(key) => write!(f, "{verb} {key}"),
            Request::ClaimUrl(s)
            | Request::CheckUrl(s)
            | Request::Export(s)
            | Request::RemoveExportDirectory(s)
            | Request::Import(s)
            | Request::RetrieveImport(s) => write!(f, "{verb} {}", OneLine(s)),
            Request::RenameExport { key, new_name } => {
                write!(f, "{verb} {key} {}", OneLine(new_name))
            }
            Request::ImportKey { size, cid } => write!(f, "{verb} {size} {}", OneLine(cid)),
            Request::Unknown(line) => write!(f, "{}", OneLine(line)),
            Request::InitRemote
            | Request::Prepare
            | Request::ListConfigs
            | Request::GetCost
            | Request::GetAvailability
            | Request::GetOrdered
            | Request::GetInfo
            | Request::ExportSupported
            | Request::ImportSupported
            | Request::ListImportableContents => f.write_str(verb),
        }
    }
}

/// Any line git-annex sends to a remote: a request, or an answer to the remote's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A request to handle.
    Request(Request),
    /// An answer to the query the remote sent last (`VALUE`, `CREDS`, …, or `ERROR`).
    Answer(Answer),
}

impl Incoming {
    /// Parses one line from git-annex (without its `\n`; a `\r` is kept).
    ///
    /// # Errors
    /// [`ParseError`] as for [`Request::parse`] and [`Answer::parse`].
    pub fn parse(line: &str) -> Result<Incoming, ParseError> {
        let (verb, _) = wire::command(line)?;
        if Answer::is_answer_verb(verb) {
            Answer::parse(line).map(Incoming::Answer)
        } else {
            Request::parse(line).map(Incoming::Request)
        }
    }
}

impl fmt::Display for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Incoming::Request(r) => r.fmt(f),
            Incoming::Answer(a) => a.fmt(f),
        }
    }
}

impl From<Request> for Incoming {
    fn from(r: Request) -> Incoming {
        Incoming::Request(r)
    }
}

impl From<Answer> for Incoming {
    fn from(a: Answer) -> Incoming {
        Incoming::Answer(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyError;

    const K: &str =
        "SHA256E-s6--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.txt";

    fn key() -> Key {
        Key::parse(K).unwrap()
    }

    #[test]
    fn transfer_store_keeps_spaces_and_tabs_in_file() {
        let line = format!("TRANSFER STORE {K} .git/annex/objects/mK/4w/a  b\tc ");
        let req = Request::parse(&line).unwrap();
        assert_eq!(
            req,
            Request::Transfer {
                dir: Direction::Store,
                key: key(),
                file: ".git/annex/objects/mK/4w/a  b\tc ".into()
            }
        );
        assert_eq!(req.to_string(), line);
    }

    #[test]
    fn observed_requests_parse() {
        let table: Vec<(String, Request)> = vec![
            ("PREPARE".into(), Request::Prepare),
            ("INITREMOTE".into(), Request::InitRemote),
            (format!("CHECKPRESENT {K}"), Request::CheckPresent(key())),
            (format!("REMOVE {K}"), Request::Remove(key())),
            (
                format!("TRANSFER RETRIEVE {K} .git/annex/tmp/{K}"),
                Request::Transfer {
                    dir: Direction::Retrieve,
                    key: key(),
                    file: format!(".git/annex/tmp/{K}"),
                },
            ),
            (
                "EXPORT ünï cödé  two  spaces.txt".into(),
                Request::Export("ünï cödé  two  spaces.txt".into()),
            ),
            (
                format!("RENAMEEXPORT {K} .git-annex-tmp-content-{K}"),
                Request::RenameExport {
                    key: key(),
                    new_name: format!(".git-annex-tmp-content-{K}"),
                },
            ),
            (
                "REMOVEEXPORTDIRECTORY dir one".into(),
                Request::RemoveExportDirectory("dir one".into()),
            ),
            (
                "IMPORT sub/two words.txt".into(),
                Request::Import("sub/two words.txt".into()),
            ),
            (
                "RETRIEVEIMPORT .git/annex/tmp/CID-s4--cid-two-1".into(),
                Request::RetrieveImport(".git/annex/tmp/CID-s4--cid-two-1".into()),
            ),
            (
                "IMPORTKEY 6 cid-three-1".into(),
                Request::ImportKey {
                    size: 6,
                    cid: "cid-three-1".into(),
                },
            ),
            (
                "EXTENSIONS INFO GETGITREMOTENAME UNAVAILABLERESPONSE TRANSFER-RETRIEVE-URL CHECKPRESENT-URL IMPORTKEY DELEGATE ASYNC".into(),
                Request::Extensions(vec![
                    Extension::Info,
                    Extension::GetGitRemoteName,
                    Extension::UnavailableResponse,
                    Extension::TransferRetrieveUrl,
                    Extension::CheckPresentUrl,
                    Extension::ImportKey,
                    Extension::Delegate,
                    Extension::Async,
                ]),
            ),
            ("EXTENSIONS".into(), Request::Extensions(vec![])),
        ];
        for (line, want) in table {
            assert_eq!(Request::parse(&line).as_ref(), Ok(&want), "{line}");
            assert_eq!(want.to_string(), line);
        }
    }

    #[test]
    fn malformed_requests_say_what_is_wrong() {
        let err = |s: &str| Request::parse(s).unwrap_err().to_string();
        assert_eq!(err(""), "empty line");
        assert_eq!(
            err("TRANSFER"),
            "TRANSFER needs a direction, a key and a file"
        );
        assert_eq!(
            err("TRANSFER STORE"),
            "TRANSFER needs a direction, a key and a file"
        );
        assert_eq!(
            err(&format!("TRANSFER STORE {K}")),
            "TRANSFER needs a direction, a key and a file"
        );
        assert_eq!(
            err(&format!("TRANSFER SIDEWAYS {K} f")),
            "bad direction in TRANSFER: `SIDEWAYS`; expected STORE or RETRIEVE"
        );
        assert_eq!(err("CHECKPRESENT"), "CHECKPRESENT needs a key");
        assert_eq!(
            err("CHECKPRESENT nokey"),
            "bad key in CHECKPRESENT: key has no `--` before its name"
        );
        assert_eq!(err("PREPARE now"), "PREPARE takes no parameters, got `now`");
        assert_eq!(
            err("IMPORTKEY x cid"),
            "bad size in IMPORTKEY: `x`; expected a decimal number"
        );
    }

    #[test]
    fn trailing_carriage_return_or_space_makes_key_invalid() {
        for line in [format!("CHECKPRESENT {K}\r"), format!("CHECKPRESENT {K} ")] {
            assert_eq!(
                Request::parse(&line),
                Err(ParseError::BadKey {
                    verb: "CHECKPRESENT",
                    source: KeyError::Whitespace
                })
            );
        }
        // In a TRANSFER the file is verbatim, so a `\r` stays part of it.
        let req = Request::parse(&format!("TRANSFER STORE {K} f\r")).unwrap();
        assert!(matches!(req, Request::Transfer { file, .. } if file == "f\r"));
    }

    #[test]
    fn unknown_and_lower_case_verbs_are_unknown_requests() {
        assert_eq!(
            Request::parse("checkpresent K").unwrap(),
            Request::Unknown("checkpresent K".into())
        );
        let r = Request::parse("NEWFANGLED a b").unwrap();
        assert_eq!(r.verb(), "NEWFANGLED");
        assert_eq!(r.to_string(), "NEWFANGLED a b");
    }

    #[test]
    fn incoming_tells_answers_from_requests() {
        assert_eq!(
            Incoming::parse("VALUE ").unwrap(),
            Incoming::Answer(Answer::Value(String::new()))
        );
        assert_eq!(
            Incoming::parse("PREPARE").unwrap(),
            Incoming::Request(Request::Prepare)
        );
        assert!(Incoming::parse("").is_err());
    }
}

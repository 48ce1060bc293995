//! Replies a remote sends to git-annex's requests. `Display` is the exact wire text.

use std::fmt;

use crate::extension::{self, Extension};
use crate::key::Key;
use crate::request::{Direction, Request};
use crate::wire::{self, OneLine, Params, ParseError, one_line};

/// The answer to `GETAVAILABILITY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Availability {
    /// Reachable from anywhere (the default).
    Global,
    /// Only reachable from this machine or network.
    Local,
    /// Not reachable now (needs the UNAVAILABLERESPONSE extension).
    Unavailable,
}

impl Availability {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Global => "GLOBAL",
            Availability::Local => "LOCAL",
            Availability::Unavailable => "UNAVAILABLE",
        }
    }
}

/// One entry of a `CHECKURL-MULTI` reply. No field may contain whitespace, since git-annex
/// splits that reply on whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlEntry {
    /// The URL of this item.
    pub url: String,
    /// Its size, if known (`UNKNOWN` otherwise).
    pub size: Option<u64>,
    /// The file name to suggest.
    pub filename: String,
}

/// A reply to a request. Multi-line answers (`LISTCONFIGS`, `GETINFO`,
/// `LISTIMPORTABLECONTENTS`) are several replies in a row.
///
/// A reply is always one line: `Display` turns any `\n` or `\r` in free text into a space,
/// and [`Reply::failure_for`] and [`Reply::error`] sanitize up front. Empty failure messages are
/// written without a trailing space (`TRANSFER-FAILURE STORE K`), a form git-annex accepts
/// and shows as "failed with no reason given".
///
/// ```
/// use remote_proto::{Direction, Reply};
/// let key: remote_proto::Key = "SHA256E-s1--a.txt".parse().unwrap();
/// let r = Reply::TransferFailure { dir: Direction::Store, key, msg: "disk\nfull".into() };
/// assert_eq!(r.to_string(), "TRANSFER-FAILURE STORE SHA256E-s1--a.txt disk full");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `INITREMOTE-SUCCESS`.
    InitRemoteSuccess,
    /// `INITREMOTE-FAILURE msg`.
    InitRemoteFailure(String),
    /// `PREPARE-SUCCESS`.
    PrepareSuccess,
    /// `PREPARE-FAILURE msg`.
    PrepareFailure(String),
    /// `TRANSFER-SUCCESS STORE|RETRIEVE Key` (also the reply to TRANSFEREXPORT).
    TransferSuccess {
        /// The request's direction.
        dir: Direction,
        /// The request's key, echoed exactly.
        key: Key,
    },
    /// `TRANSFER-FAILURE STORE|RETRIEVE Key msg`.
    TransferFailure {
        /// The request's direction.
        dir: Direction,
        /// The request's key.
        key: Key,
        /// Why (may be empty).
        msg: String,
    },
    /// `TRANSFER-RETRIEVE-URL Key Url`: git-annex downloads Url itself (extension).
    TransferRetrieveUrl {
        /// The request's key.
        key: Key,
        /// Where to download from.
        url: String,
    },
    /// `CHECKPRESENT-SUCCESS Key`: verified present.
    CheckPresentSuccess(Key),
    /// `CHECKPRESENT-FAILURE Key`: verified **absent**. Anything uncertain is UNKNOWN.
    CheckPresentFailure(Key),
    /// `CHECKPRESENT-UNKNOWN Key msg`: could not tell.
    CheckPresentUnknown {
        /// The request's key.
        key: Key,
        /// Why (may be empty).
        msg: String,
    },
    /// `CHECKPRESENT-URL Key Url`: git-annex checks Url itself (extension).
    CheckPresentUrl {
        /// The request's key.
        key: Key,
        /// What to check.
        url: String,
    },
    /// `REMOVE-SUCCESS Key` (also when the key was absent).
    RemoveSuccess(Key),
    /// `REMOVE-FAILURE Key msg`.
    RemoveFailure {
        /// The request's key.
        key: Key,
        /// Why (may be empty).
        msg: String,
    },
    /// `EXTENSIONS list`: the extensions the remote will use.
    Extensions(Vec<Extension>),
    /// `COST n`.
    Cost(u32),
    /// `AVAILABILITY GLOBAL|LOCAL|UNAVAILABLE`.
    Availability(Availability),
    /// `ORDERED`.
    Ordered,
    /// `UNORDERED`.
    Unordered,
    /// `CLAIMURL-SUCCESS`.
    ClaimUrlSuccess,
    /// `CLAIMURL-FAILURE`.
    ClaimUrlFailure,
    /// `CHECKURL-CONTENTS Size|UNKNOWN Filename` (Filename may be empty: git-annex's default).
    CheckUrlContents {
        /// The size, if known.
        size: Option<u64>,
        /// The suggested file name.
        filename: String,
    },
    /// `CHECKURL-MULTI Url Size Filename …`.
    CheckUrlMulti(Vec<UrlEntry>),
    /// `CHECKURL-FAILURE msg`.
    CheckUrlFailure(String),
    /// `WHEREIS-SUCCESS text`.
    WhereIsSuccess(String),
    /// `WHEREIS-FAILURE`.
    WhereIsFailure,
    /// `CONFIG Name Description`, one per setting, before `CONFIGEND`.
    Config {
        /// The setting (no whitespace).
        name: String,
        /// What it is for.
        description: String,
    },
    /// `CONFIGEND`.
    ConfigEnd,
    /// `INFOFIELD name`, followed by its `INFOVALUE`.
    InfoField(String),
    /// `INFOVALUE value`.
    InfoValue(String),
    /// `INFOEND`.
    InfoEnd,
    /// `EXPORTSUPPORTED-SUCCESS`.
    ExportSupportedSuccess,
    /// `EXPORTSUPPORTED-FAILURE`.
    ExportSupportedFailure,
    /// `REMOVEEXPORTDIRECTORY-SUCCESS`.
    RemoveExportDirectorySuccess,
    /// `REMOVEEXPORTDIRECTORY-FAILURE`.
    RemoveExportDirectoryFailure,
    /// `RENAMEEXPORT-SUCCESS Key`.
    RenameExportSuccess(Key),
    /// `RENAMEEXPORT-FAILURE Key`.
    RenameExportFailure(Key),
    /// `IMPORTSUPPORTED-SUCCESS`.
    ImportSupportedSuccess,
    /// `IMPORTSUPPORTED-FAILURE`.
    ImportSupportedFailure,
    /// `IMPORTREQUIRED`: the remote must be configured `importtree=yes`.
    ImportRequired,
    /// `IMPORTABLECONTENT Size Name`, followed by its identifier.
    ImportableContent {
        /// The content's size.
        size: u64,
        /// Its name (rest of the line).
        name: String,
    },
    /// `IMPORTABLECONTENTIDENTIFIER Cid`.
    ImportableContentIdentifier(String),
    /// `LISTIMPORTABLECONTENTS-SUCCESS`, after the listing.
    ListImportableContentsSuccess,
    /// `LISTIMPORTABLECONTENTS-FAILURE msg`.
    ListImportableContentsFailure(String),
    /// `RETRIEVEIMPORT-SUCCESS`.
    RetrieveImportSuccess,
    /// `RETRIEVEIMPORT-FAILURE msg`.
    RetrieveImportFailure(String),
    /// `RETRIEVEIMPORT-URL Url`.
    RetrieveImportUrl(String),
    /// `IMPORTKEY-SUCCESS Key`.
    ImportKeySuccess(Key),
    /// `IMPORTKEY-SKIP`.
    ImportKeySkip,
    /// `IMPORTKEY-FAILURE msg`.
    ImportKeyFailure(String),
    /// `DELEGATE type=… [ephemeral=yes|no] params…` (extension). Parameters cannot contain
    /// whitespace.
    Delegate(Vec<String>),
    /// `UNSUPPORTED-REQUEST`.
    UnsupportedRequest,
    /// `ERROR msg`: a fatal error of the remote; git-annex fails the operation and stops the
    /// process (in ASYNC mode a `J n`-tagged ERROR fails only job n).
    Error(String),
}

impl Reply {
    /// `ERROR msg`, sanitized to one line.
    pub fn error(msg: impl Into<String>) -> Reply {
        Reply::Error(one_line(msg))
    }

    /// The command word.
    pub fn verb(&self) -> &'static str {
        match self {
            Reply::InitRemoteSuccess => "INITREMOTE-SUCCESS",
            Reply::InitRemoteFailure(_) => "INITREMOTE-FAILURE",
            Reply::PrepareSuccess => "PREPARE-SUCCESS",
            Reply::PrepareFailure(_) => "PREPARE-FAILURE",
            Reply::TransferSuccess { .. } => "TRANSFER-SUCCESS",
            Reply::TransferFailure { .. } => "TRANSFER-FAILURE",
            Reply::TransferRetrieveUrl { .. } => "TRANSFER-RETRIEVE-URL",
            Reply::CheckPresentSuccess(_) => "CHECKPRESENT-SUCCESS",
            Reply::CheckPresentFailure(_) => "CHECKPRESENT-FAILURE",
            Reply::CheckPresentUnknown { .. } => "CHECKPRESENT-UNKNOWN",
            Reply::CheckPresentUrl { .. } => "CHECKPRESENT-URL",
            Reply::RemoveSuccess(_) => "REMOVE-SUCCESS",
            Reply::RemoveFailure { .. } => "REMOVE-FAILURE",
            Reply::Extensions(_) => "EXTENSIONS",
            Reply::Cost(_) => "COST",
            Reply::Availability(_) => "AVAILABILITY",
            Reply::Ordered => "ORDERED",
            Reply::Unordered => "UNORDERED",
            Reply::ClaimUrlSuccess => "CLAIMURL-SUCCESS",
            Reply::ClaimUrlFailure => "CLAIMURL-FAILURE",
            Reply::CheckUrlContents { .. } => "CHECKURL-CONTENTS",
            Reply::CheckUrlMulti(_) => "CHECKURL-MULTI",
            Reply::CheckUrlFailure(_) => "CHECKURL-FAILURE",
            Reply::WhereIsSuccess(_) => "WHEREIS-SUCCESS",
            Reply::WhereIsFailure => "WHEREIS-FAILURE",
            Reply::Config { .. } => "CONFIG",
            Reply::ConfigEnd => "CONFIGEND",
            Reply::InfoField(_) => "INFOFIELD",
            Reply::InfoValue(_) => "INFOVALUE",
            Reply::InfoEnd => "INFOEND",
            Reply::ExportSupportedSuccess => "EXPORTSUPPORTED-SUCCESS",
            Reply::ExportSupportedFailure => "EXPORTSUPPORTED-FAILURE",
            Reply::RemoveExportDirectorySuccess => "REMOVEEXPORTDIRECTORY-SUCCESS",
            Reply::RemoveExportDirectoryFailure => "REMOVEEXPORTDIRECTORY-FAILURE",
            Reply::RenameExportSuccess(_) => "RENAMEEXPORT-SUCCESS",
            Reply::RenameExportFailure(_) => "RENAMEEXPORT-FAILURE",
            Reply::ImportSupportedSuccess => "IMPORTSUPPORTED-SUCCESS",
            Reply::ImportSupportedFailure => "IMPORTSUPPORTED-FAILURE",
            Reply::ImportRequired => "IMPORTREQUIRED",
            Reply::ImportableContent { .. } => "IMPORTABLECONTENT",
            Reply::ImportableContentIdentifier(_) => "IMPORTABLECONTENTIDENTIFIER",
            Reply::ListImportableContentsSuccess => "LISTIMPORTABLECONTENTS-SUCCESS",
            Reply::ListImportableContentsFailure(_) => "LISTIMPORTABLECONTENTS-FAILURE",
            Reply::RetrieveImportSuccess => "RETRIEVEIMPORT-SUCCESS",
            Reply::RetrieveImportFailure(_) => "RETRIEVEIMPORT-FAILURE",
            Reply::RetrieveImportUrl(_) => "RETRIEVEIMPORT-URL",
            Reply::ImportKeySuccess(_) => "IMPORTKEY-SUCCESS",
            Reply::ImportKeySkip => "IMPORTKEY-SKIP",
            Reply::ImportKeyFailure(_) => "IMPORTKEY-FAILURE",
            Reply::Delegate(_) => "DELEGATE",
            Reply::UnsupportedRequest => "UNSUPPORTED-REQUEST",
            Reply::Error(_) => "ERROR",
        }
    }

    /// True for the line that ends the answer to a request (everything except `CONFIG`,
    /// `INFOFIELD`, `INFOVALUE`, `IMPORTABLECONTENT` and `IMPORTABLECONTENTIDENTIFIER`, which
    /// are followed by more lines).
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            Reply::Config { .. }
                | Reply::InfoField(_)
                | Reply::InfoValue(_)
                | Reply::ImportableContent { .. }
                | Reply::ImportableContentIdentifier(_)
        )
    }

    /// The reply that reports `request` as failed with `msg`, in the form git-annex expects
    /// for that request: `TRANSFER-FAILURE`, `CHECKPRESENT-UNKNOWN` (never FAILURE: that
    /// would claim the content is absent), `REMOVE-FAILURE`, … For requests whose failure
    /// only means "use the default" (`GETCOST`, `GETAVAILABILITY`, …) it is
    /// `UNSUPPORTED-REQUEST`; for those with no failure form at all (`LISTCONFIGS`,
    /// `GETINFO`, `EXTENSIONS`) it is `ERROR msg`.
    pub fn failure_for(request: &Request, msg: impl Into<String>) -> Reply {
        let msg = one_line(msg);
        match request {
            Request::InitRemote => Reply::InitRemoteFailure(msg),
            Request::Prepare => Reply::PrepareFailure(msg),
            Request::Transfer { dir, key, .. } | Request::TransferExport { dir, key, .. } => {
                Reply::TransferFailure {
                    dir: *dir,
                    key: key.clone(),
                    msg,
                }
            }
            Request::CheckPresent(key)
            | Request::CheckPresentExport(key)
            | Request::CheckPresentImport(key) => Reply::CheckPresentUnknown {
                key: key.clone(),
                msg,
            },
            Request::Remove(key) | Request::RemoveExport(key) => Reply::RemoveFailure {
                key: key.clone(),
                msg,
            },
            Request::ClaimUrl(_) => Reply::ClaimUrlFailure,
            Request::CheckUrl(_) => Reply::CheckUrlFailure(msg),
            Request::WhereIs(_) => Reply::WhereIsFailure,
            Request::ExportSupported => Reply::ExportSupportedFailure,
            Request::RemoveExportDirectory(_) => Reply::RemoveExportDirectoryFailure,
            Request::RenameExport { key, .. } => Reply::RenameExportFailure(key.clone()),
            Request::ImportSupported => Reply::ImportSupportedFailure,
            Request::ListImportableContents => Reply::ListImportableContentsFailure(msg),
            Request::RetrieveImport(_) => Reply::RetrieveImportFailure(msg),
            Request::ImportKey { .. } => Reply::ImportKeyFailure(msg),
            Request::GetCost
            | Request::GetAvailability
            | Request::GetOrdered
            | Request::Unknown(_) => Reply::UnsupportedRequest,
            // EXPORT and IMPORT get no reply when they succeed; one that cannot be handled
            // is answered like any other broken line.
            Request::ListConfigs
            | Request::GetInfo
            | Request::Extensions(_)
            | Request::Export(_)
            | Request::Import(_) => Reply::Error(msg),
        }
    }

    /// Parses one reply line.
    ///
    /// # Errors
    /// [`ParseError`], [`ParseError::UnknownVerb`] for lines that are not replies.
    pub fn parse(line: &str) -> Result<Reply, ParseError> {
        let (verb, rest) = wire::command(line)?;
        let no = |v: &'static str, r: Reply| wire::no_params(v, rest).map(|()| r);
        let text = |v: &'static str, needs: &'static str| {
            Params::new(v, needs, rest)
                .nonempty_rest()
                .map(str::to_owned)
        };
        let key = |v: &'static str| Params::new(v, "a key", rest).last_key();
        Ok(match verb {
            "INITREMOTE-SUCCESS" => no("INITREMOTE-SUCCESS", Reply::InitRemoteSuccess)?,
            "INITREMOTE-FAILURE" => Reply::InitRemoteFailure(rest.to_owned()),
            "PREPARE-SUCCESS" => no("PREPARE-SUCCESS", Reply::PrepareSuccess)?,
            "PREPARE-FAILURE" => Reply::PrepareFailure(rest.to_owned()),
            "TRANSFER-SUCCESS" => {
                let mut p = Params::new("TRANSFER-SUCCESS", "a direction and a key", rest);
                let w = p.word()?;
                let dir = Direction::parse(&p, w)?;
                Reply::TransferSuccess {
                    dir,
                    key: p.last_key()?,
                }
            }
            "TRANSFER-FAILURE" => {
                let mut p =
                    Params::new("TRANSFER-FAILURE", "a direction, a key and a message", rest);
                let w = p.word()?;
                let dir = Direction::parse(&p, w)?;
                let key = key_then_text(&mut p)?;
                Reply::TransferFailure {
                    dir,
                    key,
                    msg: p.rest().to_owned(),
                }
            }
            "TRANSFER-RETRIEVE-URL" => {
                let mut p = Params::new("TRANSFER-RETRIEVE-URL", "a key and a URL", rest);
                let key = p.key()?;
                Reply::TransferRetrieveUrl {
                    key,
                    url: p.nonempty_rest()?.to_owned(),
                }
            }
            "CHECKPRESENT-SUCCESS" => Reply::CheckPresentSuccess(key("CHECKPRESENT-SUCCESS")?),
            "CHECKPRESENT-FAILURE" => Reply::CheckPresentFailure(key("CHECKPRESENT-FAILURE")?),
            "CHECKPRESENT-UNKNOWN" => {
                let mut p = Params::new("CHECKPRESENT-UNKNOWN", "a key and a message", rest);
                let key = key_then_text(&mut p)?;
                Reply::CheckPresentUnknown {
                    key,
                    msg: p.rest().to_owned(),
                }
            }
            "CHECKPRESENT-URL" => {
                let mut p = Params::new("CHECKPRESENT-URL", "a key and a URL", rest);
                let key = p.key()?;
                Reply::CheckPresentUrl {
                    key,
                    url: p.nonempty_rest()?.to_owned(),
                }
            }
            "REMOVE-SUCCESS" => Reply::RemoveSuccess(key("REMOVE-SUCCESS")?),
            "REMOVE-FAILURE" => {
                let mut p = Params::new("REMOVE-FAILURE", "a key and a message", rest);
                let key = key_then_text(&mut p)?;
                Reply::RemoveFailure {
                    key,
                    msg: p.rest().to_owned(),
                }
            }
            "EXTENSIONS" => Reply::Extensions(Extension::parse_list(rest)),
            "COST" => {
                let n = wire::parse_number("COST", "cost", text("COST", "a cost")?.as_str())?;
                Reply::Cost(u32::try_from(n).map_err(|_| ParseError::BadParam {
                    verb: "COST",
                    what: "cost",
                    got: n.to_string(),
                    expected: "a number below 2^32",
                })?)
            }
            "AVAILABILITY" => {
                let p = Params::new("AVAILABILITY", "GLOBAL, LOCAL or UNAVAILABLE", rest);
                let w = p.nonempty_rest()?;
                Reply::Availability(match w {
                    "GLOBAL" => Availability::Global,
                    "LOCAL" => Availability::Local,
                    "UNAVAILABLE" => Availability::Unavailable,
                    other => {
                        let p = Params::new("AVAILABILITY", "", "");
                        return Err(p.bad("availability", other, "GLOBAL, LOCAL or UNAVAILABLE"));
                    }
                })
            }
            "ORDERED" => no("ORDERED", Reply::Ordered)?,
            "UNORDERED" => no("UNORDERED", Reply::Unordered)?,
            "CLAIMURL-SUCCESS" => no("CLAIMURL-SUCCESS", Reply::ClaimUrlSuccess)?,
            "CLAIMURL-FAILURE" => no("CLAIMURL-FAILURE", Reply::ClaimUrlFailure)?,
            "CHECKURL-CONTENTS" => {
                let mut p = Params::new("CHECKURL-CONTENTS", "a size and a file name", rest);
                let w = p.word()?;
                let size = parse_size(&p, w)?;
                Reply::CheckUrlContents {
                    size,
                    filename: p.rest().to_owned(),
                }
            }
            "CHECKURL-MULTI" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                if words.is_empty() || !words.len().is_multiple_of(3) {
                    return Err(ParseError::Missing {
                        verb: "CHECKURL-MULTI",
                        needs: "one or more triples of URL, size and file name",
                    });
                }
                let p = Params::new("CHECKURL-MULTI", "", "");
                let mut entries = Vec::with_capacity(words.len() / 3);
                for t in words.chunks(3) {
                    entries.push(UrlEntry {
                        url: t[0].to_owned(),
                        size: parse_size(&p, t[1])?,
                        filename: t[2].to_owned(),
                    });
                }
                Reply::CheckUrlMulti(entries)
            }
            "CHECKURL-FAILURE" => Reply::CheckUrlFailure(rest.to_owned()),
            "WHEREIS-SUCCESS" => Reply::WhereIsSuccess(rest.to_owned()),
            "WHEREIS-FAILURE" => no("WHEREIS-FAILURE", Reply::WhereIsFailure)?,
            "CONFIG" => {
                let mut p = Params::new("CONFIG", "a name and a description", rest);
                let name = p.word()?.to_owned();
                Reply::Config {
                    name,
                    description: p.rest().to_owned(),
                }
            }
            "CONFIGEND" => no("CONFIGEND", Reply::ConfigEnd)?,
            "INFOFIELD" => Reply::InfoField(rest.to_owned()),
            "INFOVALUE" => Reply::InfoValue(rest.to_owned()),
            "INFOEND" => no("INFOEND", Reply::InfoEnd)?,
            "EXPORTSUPPORTED-SUCCESS" => {
                no("EXPORTSUPPORTED-SUCCESS", Reply::ExportSupportedSuccess)?
            }
            "EXPORTSUPPORTED-FAILURE" => {
                no("EXPORTSUPPORTED-FAILURE", Reply::ExportSupportedFailure)?
            }
            "REMOVEEXPORTDIRECTORY-SUCCESS" => no(
                "REMOVEEXPORTDIRECTORY-SUCCESS",
                Reply::RemoveExportDirectorySuccess,
            )?,
            "REMOVEEXPORTDIRECTORY-FAILURE" => no(
                "REMOVEEXPORTDIRECTORY-FAILURE",
                Reply::RemoveExportDirectoryFailure,
            )?,
            "RENAMEEXPORT-SUCCESS" => Reply::RenameExportSuccess(key("RENAMEEXPORT-SUCCESS")?),
            "RENAMEEXPORT-FAILURE" => Reply::RenameExportFailure(key("RENAMEEXPORT-FAILURE")?),
            "IMPORTSUPPORTED-SUCCESS" => {
                no("IMPORTSUPPORTED-SUCCESS", Reply::ImportSupportedSuccess)?
            }
            "IMPORTSUPPORTED-FAILURE" => {
                no("IMPORTSUPPORTED-FAILURE", Reply::ImportSupportedFailure)?
            }
            "IMPORTREQUIRED" => no("IMPORTREQUIRED", Reply::ImportRequired)?,
            "IMPORTABLECONTENT" => {
                let mut p = Params::new("IMPORTABLECONTENT", "a size and a name", rest);
                let size = p.number("size")?;
                Reply::ImportableContent {
                    size,
                    name: p.nonempty_rest()?.to_owned(),
                }
            }
            "IMPORTABLECONTENTIDENTIFIER" => Reply::ImportableContentIdentifier(text(
                "IMPORTABLECONTENTIDENTIFIER",
                "a content identifier",
            )?),
            "LISTIMPORTABLECONTENTS-SUCCESS" => no(
                "LISTIMPORTABLECONTENTS-SUCCESS",
                Reply::ListImportableContentsSuccess,
            )?,
            "LISTIMPORTABLECONTENTS-FAILURE" => {
                Reply::ListImportableContentsFailure(rest.to_owned())
            }
            "RETRIEVEIMPORT-SUCCESS" => no("RETRIEVEIMPORT-SUCCESS", Reply::RetrieveImportSuccess)?,
            "RETRIEVEIMPORT-FAILURE" => Reply::RetrieveImportFailure(rest.to_owned()),
            "RETRIEVEIMPORT-URL" => Reply::RetrieveImportUrl(text("RETRIEVEIMPORT-URL", "a URL")?),
            "IMPORTKEY-SUCCESS" => Reply::ImportKeySuccess(key("IMPORTKEY-SUCCESS")?),
            "IMPORTKEY-SKIP" => no("IMPORTKEY-SKIP", Reply::ImportKeySkip)?,
            "IMPORTKEY-FAILURE" => Reply::ImportKeyFailure(rest.to_owned()),
            "DELEGATE" => Reply::Delegate(rest.split_whitespace().map(str::to_owned).collect()),
            "UNSUPPORTED-REQUEST" => no("UNSUPPORTED-REQUEST", Reply::UnsupportedRequest)?,
            "ERROR" => Reply::Error(rest.to_owned()),
            other => return Err(ParseError::UnknownVerb(other.to_owned())),
        })
    }
}

/// A key followed by an optional message: the key ends at the first whitespace or the end.
fn key_then_text(p: &mut Params<'_>) -> Result<Key, ParseError> {
    let w = p.word()?;
    Key::parse(w).map_err(|source| ParseError::BadKey {
        verb: p.verb(),
        source,
    })
}

fn parse_size(p: &Params<'_>, w: &str) -> Result<Option<u64>, ParseError> {
    if w == "UNKNOWN" {
        return Ok(None);
    }
    if w.is_empty() || !w.bytes().all(|b| b.is_ascii_digit()) {
        return Err(p.bad("size", w, "a number or UNKNOWN"));
    }
    w.parse()
        .map(Some)
        .map_err(|_| p.bad("size", w, "a number or UNKNOWN"))
}

struct Size(Option<u64>);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("UNKNOWN"),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = self.verb();
        match self {
            Reply::TransferSuccess { dir, key } => write!(f, "{verb} {dir} {key}"),
            Reply::TransferFailure { dir, key, msg } => {
                write!(f, "{verb} {dir} {key}")?;
                wire::opt_msg(f, msg)
            }
            Reply::CheckPresentUnknown { key, msg } | Reply::RemoveFailure { key, msg } => {
                write!(f, "{verb} {key}")?;
                wire::opt_msg(f, msg)
            }
            Reply::TransferRetrieveUrl { key, url } | Reply::CheckPresentUrl { key, url } => {
                write!(f, "{verb} {key} {}", OneLine(url))
            }
            Reply::CheckPresentSuccess(key)
            | Reply::CheckPresentFailure(key)
            | Reply::RemoveSuccess(key)
            | Reply::RenameExportSuccess(key)
            | Reply::RenameExportFailure(key)
            | Reply::ImportKeySuccess(key) => write!(f, "{verb} {key}"),
            Reply::InitRemoteFailure(msg)
            | Reply::PrepareFailure(msg)
            | Reply::CheckUrlFailure(msg)
            | Reply::ListImportableContentsFailure(msg)
            | Reply::RetrieveImportFailure(msg)
            | Reply::ImportKeyFailure(msg)
            | Reply::Error(msg) => {
                f.write_str(verb)?;
                wire::opt_msg(f, msg)
            }
            Reply::Extensions(list) => extension::write_list(f, verb, list),
            Reply::Cost(n) => write!(f, "{verb} {n}"),
            Reply::Availability(a) => write!(f, "{verb} {}", a.as_str()),
            Reply::CheckUrlContents { size, filename } => {
                write!(f, "{verb} {}", Size(*size))?;
                wire::opt_msg(f, filename)
            }
            Reply::CheckUrlMulti(entries) => {
                f.write_str(verb)?;
                for e in entries {
                    write!(
                        f,
                        " {} {} {}",
                        OneLine(&e.url),
                        Size(e.size),
                        OneLine(&e.filename)
                    )?;
                }
                Ok(())
            }
            Reply::WhereIsSuccess(s)
            | Reply::InfoField(s)
            | Reply::InfoValue(s)
            | Reply::ImportableContentIdentifier(s)
            | Reply::RetrieveImportUrl(s) => write!(f, "{verb} {}", OneLine(s)),
            Reply::Config { name, description } => {
                write!(f, "{verb} {} {}", OneLine(name), OneLine(description))
            }
            Reply::ImportableContent { size, name } => write!(f, "{verb} {size} {}", OneLine(name)),
            Reply::Delegate(params) => {
                f.write_str(verb)?;
                for p in params {
                    write!(f, " {}", OneLine(p))?;
                }
                Ok(())
            }
            Reply::InitRemoteSuccess
            | Reply::PrepareSuccess
            | Reply::Ordered
            | Reply::Unordered
            | Reply::ClaimUrlSuccess
            | Reply::ClaimUrlFailure
            | Reply::WhereIsFailure
            | Reply::ConfigEnd
            | Reply::InfoEnd
            | Reply::ExportSupportedSuccess
            | Reply::ExportSupportedFailure
            | Reply::RemoveExportDirectorySuccess
            | Reply::RemoveExportDirectoryFailure
            | Reply::ImportSupportedSuccess
            | Reply::ImportSupportedFailure
            | Reply::ImportRequired
            | Reply::ListImportableContentsSuccess
            | Reply::RetrieveImportSuccess
            | Reply::ImportKeySkip
            | Reply::UnsupportedRequest => f.write_str(verb),
        }
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
    fn exact_wire_forms() {
        let table = vec![
            (
                Reply::TransferSuccess {
                    dir: Direction::Store,
                    key: key(),
                },
                format!("TRANSFER-SUCCESS STORE {K}"),
            ),
            (
                Reply::TransferFailure {
                    dir: Direction::Retrieve,
                    key: key(),
                    msg: String::new(),
                },
                format!("TRANSFER-FAILURE RETRIEVE {K}"),
            ),
            (
                Reply::TransferFailure {
                    dir: Direction::Store,
                    key: key(),
                    msg: "quota exceeded".into(),
                },
                format!("TRANSFER-FAILURE STORE {K} quota exceeded"),
            ),
            (
                Reply::CheckPresentUnknown {
                    key: key(),
                    msg: "cannot reach server".into(),
                },
                format!("CHECKPRESENT-UNKNOWN {K} cannot reach server"),
            ),
            (Reply::Extensions(vec![]), "EXTENSIONS".into()),
            (
                Reply::Extensions(vec![Extension::Info, Extension::Async]),
                "EXTENSIONS INFO ASYNC".into(),
            ),
            (
                Reply::Config {
                    name: "directory".into(),
                    description: "where to store the objects".into(),
                },
                "CONFIG directory where to store the objects".into(),
            ),
            (
                Reply::Availability(Availability::Unavailable),
                "AVAILABILITY UNAVAILABLE".into(),
            ),
            (
                Reply::CheckUrlContents {
                    size: None,
                    filename: String::new(),
                },
                "CHECKURL-CONTENTS UNKNOWN".into(),
            ),
            (
                Reply::CheckUrlMulti(vec![
                    UrlEntry {
                        url: "http://a/1".into(),
                        size: Some(3),
                        filename: "one".into(),
                    },
                    UrlEntry {
                        url: "http://a/2".into(),
                        size: None,
                        filename: "two".into(),
                    },
                ]),
                "CHECKURL-MULTI http://a/1 3 one http://a/2 UNKNOWN two".into(),
            ),
            (
                Reply::ImportableContent {
                    size: 4,
                    name: "sub/two words.txt".into(),
                },
                "IMPORTABLECONTENT 4 sub/two words.txt".into(),
            ),
            (
                Reply::Delegate(vec!["type=directory".into(), "ephemeral=yes".into()]),
                "DELEGATE type=directory ephemeral=yes".into(),
            ),
            (Reply::UnsupportedRequest, "UNSUPPORTED-REQUEST".into()),
            (Reply::Error(String::new()), "ERROR".into()),
        ];
        for (reply, line) in table {
            assert_eq!(reply.to_string(), line);
            assert_eq!(Reply::parse(&line).as_ref(), Ok(&reply), "{line}");
        }
    }

    #[test]
    fn replies_are_always_one_line() {
        let r = Reply::failure_for(&Request::Prepare, "bad\r\nconfig");
        assert_eq!(r.to_string(), "PREPARE-FAILURE bad  config");
        let r = Reply::InfoValue("a\nb".into());
        assert_eq!(r.to_string(), "INFOVALUE a b");
        assert_eq!(Reply::error("x\ny"), Reply::Error("x y".into()));
    }

    #[test]
    fn failure_of_checkpresent_is_unknown_never_absent() {
        let r = Reply::failure_for(&Request::CheckPresent(key()), "timeout");
        assert_eq!(r.to_string(), format!("CHECKPRESENT-UNKNOWN {K} timeout"));
    }

    #[test]
    fn malformed_replies_are_rejected() {
        // rclone gitannex's mistakes (protocol.md §15.7): no direction; text after a key.
        assert!(Reply::parse(&format!("TRANSFER-FAILURE {K}")).is_err());
        assert!(Reply::parse(&format!("CHECKPRESENT-FAILURE {K} some text")).is_err());
        assert!(Reply::parse(&format!("CHECKPRESENT-SUCCESS {K}\r")).is_err());
        assert!(Reply::parse("checkpresent-failure K").is_err());
        assert!(Reply::parse("COST lots").is_err());
        assert!(Reply::parse("CHECKURL-MULTI a 1").is_err());
    }
}

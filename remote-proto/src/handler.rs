//! [`SpecialRemote`], the trait a remote implements, and [`handle_request`], which turns one
//! request into its reply lines by calling it.
//!
//! Every method gets an [`Annex`] handle to query git-annex while it works (config, creds,
//! progress, …). Failures are a [`Failure`], which becomes the request's `-FAILURE msg` (for
//! CHECKPRESENT: `CHECKPRESENT-UNKNOWN`, never FAILURE, which would claim the content is
//! absent), or `UNSUPPORTED-REQUEST` with [`Failure::Unsupported`], the default of every
//! optional request.

use std::fmt;
use std::path::Path;

use async_trait::async_trait;

use crate::annex::Annex;
use crate::extension::Extension;
use crate::key::Key;
use crate::reply::{Availability, Reply, UrlEntry};
use crate::request::{Direction, Request};
use crate::session::{Dispatch, QueryError};
use crate::wire::one_line;

/// Why a request was not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It failed; the message is shown to the user (one line; newlines become spaces).
    Failed(String),
    /// The remote does not support this request: answer `UNSUPPORTED-REQUEST`. Only valid
    /// for optional requests; for INITREMOTE, PREPARE, TRANSFER, CHECKPRESENT and REMOVE
    /// git-annex treats it as a protocol error.
    Unsupported,
    /// Hand the request to one of git-annex's built-in special remotes: `DELEGATE params`
    /// (needs the DELEGATE extension; valid for TRANSFER, CHECKPRESENT, REMOVE, WHEREIS and
    /// the export/import requests). Params such as `type=directory`, `directory=/mnt/d`.
    Delegate(Vec<String>),
}

impl Failure {
    /// A failure with a message.
    pub fn new(msg: impl fmt::Display) -> Failure {
        Failure::Failed(one_line(msg.to_string()))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Failed(m) => f.write_str(m),
            Failure::Unsupported => f.write_str("not supported by this remote"),
            Failure::Delegate(p) => write!(f, "delegated ({})", p.join(" ")),
        }
    }
}

impl std::error::Error for Failure {}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure::new(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Failure {
        Failure::new(s)
    }
}

impl From<QueryError> for Failure {
    fn from(e: QueryError) -> Failure {
        Failure::new(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::new(e)
    }
}

/// The answer to CHECKPRESENT (and its export/import forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// Verified present, complete.
    Present,
    /// Verified absent. git-annex acts on this (fsck rewrites the location log), so only say
    /// it when the store answered "not there".
    Absent,
    /// Could not tell (network down, auth failed, …), with why.
    Unknown(String),
    /// Let git-annex check this URL itself (needs the CHECKPRESENT-URL extension).
    Url(String),
}

/// The outcome of a successful RETRIEVE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retrieved {
    /// The content was written to the file.
    Written,
    /// Let git-annex download the content from this URL (needs TRANSFER-RETRIEVE-URL for
    /// TRANSFER and TRANSFEREXPORT; always allowed for RETRIEVEIMPORT).
    Url(String),
}

/// A setting listed by LISTCONFIGS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigOption {
    /// The setting's name (no whitespace).
    pub name: String,
    /// What it does, shown by `initremote --whatelse`.
    pub description: String,
}

/// A field shown by `git annex info REMOTE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoField {
    /// The field's label.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// The answer to CHECKURL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlCheck {
    /// The URL is one file: its size if known, and a suggested name (empty: git-annex picks).
    Contents {
        /// The size, if known.
        size: Option<u64>,
        /// The suggested file name.
        filename: String,
    },
    /// The URL stands for several files.
    Multi(Vec<UrlEntry>),
}

/// The answer to IMPORTSUPPORTED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportSupport {
    /// Import is supported.
    Supported,
    /// Import is not supported.
    NotSupported,
    /// The remote only works with `importtree=yes`.
    Required,
}

/// One entry of LISTIMPORTABLECONTENTS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Importable {
    /// The content's name (relative path, `/`-separated).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// A content identifier that changes whenever the content does.
    pub cid: String,
}

/// A git-annex external special remote. Implement the required methods; every optional one
/// defaults to `Err(Failure::Unsupported)`, i.e. `UNSUPPORTED-REQUEST`, which git-annex takes
/// as "use the default".
///
/// File arguments are the paths git-annex sent, relative to the process's working directory
/// (which may be a subdirectory of the repository: `../.git/annex/…`). Never `chdir`. Name
/// stored objects after the key, never after the file's name.
///
/// With ASYNC negotiated, methods run concurrently for different jobs; without it, one at a
/// time in order. A panic in a method is caught and answered with the request's failure
/// reply.
#[async_trait]
pub trait SpecialRemote: Send + Sync + 'static {
    /// The extensions this remote wants (`INFO`, `ASYNC`, …); the session uses those that
    /// git-annex offers too. Default: none.
    fn extensions(&self) -> Vec<Extension> {
        Vec::new()
    }

    /// INITREMOTE: set the remote up. Runs on initremote, enableremote and autoenable, so it
    /// must be idempotent and must not overwrite stored settings with defaults.
    async fn init_remote(&self, annex: &Annex) -> Result<(), Failure>;

    /// PREPARE: get ready to serve requests (read config, connect).
    async fn prepare(&self, annex: &Annex) -> Result<(), Failure>;

    /// TRANSFER STORE: store `file`'s content under `key`, atomically (CHECKPRESENT must never
    /// see a partial object). Storing an existing key must succeed.
    async fn store(&self, key: &Key, file: &Path, annex: &Annex) -> Result<(), Failure>;

    /// TRANSFER RETRIEVE: write `key`'s content to `file`, which may already hold a partial
    /// or complete copy (resume or truncate; never leave stale bytes).
    async fn retrieve(&self, key: &Key, file: &Path, annex: &Annex) -> Result<Retrieved, Failure>;

    /// CHECKPRESENT. An `Err` is answered `CHECKPRESENT-UNKNOWN`, like [`Presence::Unknown`].
    async fn check_present(&self, key: &Key, annex: &Annex) -> Result<Presence, Failure>;

    /// REMOVE. Removing an absent key succeeds.
    async fn remove(&self, key: &Key, annex: &Annex) -> Result<(), Failure>;

    /// LISTCONFIGS: the settings this remote accepts. Listing any makes initremote reject
    /// unlisted parameters.
    async fn list_configs(&self, annex: &Annex) -> Result<Vec<ConfigOption>, Failure> {
        let _ = annex;
        Err(Failure::Unsupported)
    }

    /// GETCOST (git-annex's default is 200; the answer is cached in git config).
    async fn get_cost(&self, annex: &Annex) -> Result<u32, Failure> {
        let _ = annex;
        Err(Failure::Unsupported)
    }

    /// GETAVAILABILITY (default: global).
    async fn get_availability(&self, annex: &Annex) -> Result<Availability, Failure> {
        let _ = annex;
        Err(Failure::Unsupported)
    }

    /// GETORDERED: `true` when RETRIEVE writes files strictly in order (default: unordered).
    async fn get_ordered(&self, annex: &Annex) -> Result<bool, Failure> {
        let _ = annex;
        Err(Failure::Unsupported)
    }

    /// CLAIMURL: `true` when this remote handles `url`.
    async fn claim_url(&self, url: &str, annex: &Annex) -> Result<bool, Failure> {
        let _ = (url, annex);
        Err(Failure::Unsupported)
    }

    /// CHECKURL: what a claimed URL contains.
    async fn check_url(&self, url: &str, annex: &Annex) -> Result<UrlCheck, Failure> {
        let _ = (url, annex);
        Err(Failure::Unsupported)
    }

    /// WHEREIS: a line of text saying where the key is (`None`: nothing to say).
    async fn whereis(&self, key: &Key, annex: &Annex) -> Result<Option<String>, Failure> {
        let _ = (key, annex);
        Err(Failure::Unsupported)
    }

    /// GETINFO: fields for `git annex info`.
    async fn get_info(&self, annex: &Annex) -> Result<Vec<InfoField>, Failure> {
        let _ = annex;
        Err(Failure::Unsupported)
    }

    /// EXPORTSUPPORTED.
    async fn export_supported(&self, annex: &Annex) -> Result<bool, Failure> {
        let _ = annex;
        Err(Failure::Unsupported)
    }

    /// TRANSFEREXPORT STORE: store `file` at export path `name`.
    async fn store_export(
        &self,
        key: &Key,
        file: &Path,
        name: &str,
        annex: &Annex,
    ) -> Result<(), Failure> {
        let _ = (key, file, name, annex);
        Err(Failure::Unsupported)
    }

    /// TRANSFEREXPORT RETRIEVE: write the content at export path `name` to `file`.
    async fn retrieve_export(
        &self,
        key: &Key,
        file: &Path,
        name: &str,
        annex: &Annex,
    ) -> Result<Retrieved, Failure> {
        let _ = (key, file, name, annex);
        Err(Failure::Unsupported)
    }

    /// CHECKPRESENTEXPORT: is `key`'s content at export path `name`?
    async fn check_present_export(
        &self,
        key: &Key,
        name: &str,
        annex: &Annex,
    ) -> Result<Presence, Failure> {
        let _ = (key, name, annex);
        Err(Failure::Unsupported)
    }

    /// REMOVEEXPORT: remove export path `name` (succeeds when absent).
    async fn remove_export(&self, key: &Key, name: &str, annex: &Annex) -> Result<(), Failure> {
        let _ = (key, name, annex);
        Err(Failure::Unsupported)
    }

    /// REMOVEEXPORTDIRECTORY: remove an export directory and anything left in it (succeeds
    /// when absent).
    async fn remove_export_directory(&self, dir: &str, annex: &Annex) -> Result<(), Failure> {
        let _ = (dir, annex);
        Err(Failure::Unsupported)
    }

    /// RENAMEEXPORT: move `key`'s content from export path `old_name` to `new_name`.
    async fn rename_export(
        &self,
        key: &Key,
        old_name: &str,
        new_name: &str,
        annex: &Annex,
    ) -> Result<(), Failure> {
        let _ = (key, old_name, new_name, annex);
        Err(Failure::Unsupported)
    }

    /// IMPORTSUPPORTED.
    async fn import_supported(&self, annex: &Annex) -> Result<ImportSupport, Failure> {
        let _ = annex;
        Err(Failure::Unsupported)
    }

    /// LISTIMPORTABLECONTENTS: everything there is to import. A name left out is imported as
    /// a deletion, so fail rather than return a partial list.
    async fn list_importable_contents(&self, annex: &Annex) -> Result<Vec<Importable>, Failure> {
        let _ = annex;
        Err(Failure::Unsupported)
    }

    /// RETRIEVEIMPORT: write the content at import path `name` to `file`.
    async fn retrieve_import(
        &self,
        name: &str,
        file: &Path,
        annex: &Annex,
    ) -> Result<Retrieved, Failure> {
        let _ = (name, file, annex);
        Err(Failure::Unsupported)
    }

    /// CHECKPRESENTIMPORT: is `key`'s content still at import path `name`?
    async fn check_present_import(
        &self,
        key: &Key,
        name: &str,
        annex: &Annex,
    ) -> Result<Presence, Failure> {
        let _ = (key, name, annex);
        Err(Failure::Unsupported)
    }

    /// IMPORTKEY: the key for the content listed with `size` and `cid` at import path `name`,
    /// without downloading it (`None`: skip, let git-annex download and hash it). Only sent
    /// when the IMPORTKEY extension was negotiated.
    async fn import_key(
        &self,
        size: u64,
        cid: &str,
        name: &str,
        annex: &Annex,
    ) -> Result<Option<Key>, Failure> {
        let _ = (size, cid, name, annex);
        Err(Failure::Unsupported)
    }
}

/// Handles one dispatched request: calls the matching method of `remote` and returns the
/// reply lines (one, or several for LISTCONFIGS, GETINFO and LISTIMPORTABLECONTENTS).
pub async fn handle_request<R: SpecialRemote + ?Sized>(
    remote: &R,
    dispatch: &Dispatch,
    annex: &Annex,
) -> Vec<Reply> {
    let request = &dispatch.request;
    let fail = |f: Failure| vec![failure_reply(request, f)];
    match request {
        Request::InitRemote => match remote.init_remote(annex).await {
            Ok(()) => vec![Reply::InitRemoteSuccess],
            Err(f) => fail(f),
        },
        Request::Prepare => match remote.prepare(annex).await {
            Ok(()) => vec![Reply::PrepareSuccess],
            Err(f) => fail(f),
        },
        Request::Transfer { dir, key, file } => {
            let path = Path::new(file);
            let r = match dir {
                Direction::Store => remote
                    .store(key, path, annex)
                    .await
                    .map(|()| Retrieved::Written),
                Direction::Retrieve => remote.retrieve(key, path, annex).await,
            };
            transferred(request, *dir, key, r)
        }
        Request::CheckPresent(key) => {
            presence(request, key, remote.check_present(key, annex).await)
        }
        Request::Remove(key) => match remote.remove(key, annex).await {
            Ok(()) => vec![Reply::RemoveSuccess(key.clone())],
            Err(f) => fail(f),
        },
        Request::ListConfigs => match remote.list_configs(annex).await {
            Ok(list) => {
                let mut out: Vec<Reply> = list
                    .into_iter()
                    .map(|c| Reply::Config {
                        name: c.name,
                        description: c.description,
                    })
                    .collect();
                out.push(Reply::ConfigEnd);
                out
            }
            Err(f) => fail(f),
        },
        Request::GetCost => match remote.get_cost(annex).await {
            Ok(n) => vec![Reply::Cost(n)],
            Err(f) => fail(f),
        },
        Request::GetAvailability => match remote.get_availability(annex).await {
            Ok(a) => vec![Reply::Availability(a)],
            Err(f) => fail(f),
        },
        Request::GetOrdered => match remote.get_ordered(annex).await {
            Ok(true) => vec![Reply::Ordered],
            Ok(false) => vec![Reply::Unordered],
            Err(f) => fail(f),
        },
        Request::ClaimUrl(url) => match remote.claim_url(url, annex).await {
            Ok(true) => vec![Reply::ClaimUrlSuccess],
            Ok(false) => vec![Reply::ClaimUrlFailure],
            Err(f) => fail(f),
        },
        Request::CheckUrl(url) => match remote.check_url(url, annex).await {
            Ok(UrlCheck::Contents { size, filename }) => {
                vec![Reply::CheckUrlContents { size, filename }]
            }
            Ok(UrlCheck::Multi(entries)) => vec![Reply::CheckUrlMulti(entries)],
            Err(f) => fail(f),
        },
        Request::WhereIs(key) => match remote.whereis(key, annex).await {
            Ok(Some(text)) => vec![Reply::WhereIsSuccess(one_line(text))],
            Ok(None) => vec![Reply::WhereIsFailure],
            Err(f) => fail(f),
        },
        Request::GetInfo => match remote.get_info(annex).await {
            Ok(fields) => {
                let mut out = Vec::with_capacity(fields.len() * 2 + 1);
                for InfoField { name, value } in fields {
                    out.push(Reply::InfoField(name));
                    out.push(Reply::InfoValue(value));
                }
                out.push(Reply::InfoEnd);
                out
            }
            Err(f) => fail(f),
        },
        Request::ExportSupported => match remote.export_supported(annex).await {
            Ok(true) => vec![Reply::ExportSupportedSuccess],
            Ok(false) => vec![Reply::ExportSupportedFailure],
            Err(f) => fail(f),
        },
        Request::TransferExport { dir, key, file } => {
            let Some(name) = dispatch.export_name.as_deref() else {
                return no_name(request, "EXPORT");
            };
            let path = Path::new(file);
            let r = match dir {
                Direction::Store => remote
                    .store_export(key, path, name, annex)
                    .await
                    .map(|()| Retrieved::Written),
                Direction::Retrieve => remote.retrieve_export(key, path, name, annex).await,
            };
            transferred(request, *dir, key, r)
        }
        Request::CheckPresentExport(key) => {
            let Some(name) = dispatch.export_name.as_deref() else {
                return no_name(request, "EXPORT");
            };
            presence(
                request,
                key,
                remote.check_present_export(key, name, annex).await,
            )
        }
        Request::RemoveExport(key) => {
            let Some(name) = dispatch.export_name.as_deref() else {
                return no_name(request, "EXPORT");
            };
            match remote.remove_export(key, name, annex).await {
                Ok(()) => vec![Reply::RemoveSuccess(key.clone())],
                Err(f) => fail(f),
            }
        }
        Request::RemoveExportDirectory(dir) => {
            match remote.remove_export_directory(dir, annex).await {
                Ok(()) => vec![Reply::RemoveExportDirectorySuccess],
                Err(f) => fail(f),
            }
        }
        Request::RenameExport { key, new_name } => {
            let Some(old) = dispatch.export_name.as_deref() else {
                return no_name(request, "EXPORT");
            };
            match remote.rename_export(key, old, new_name, annex).await {
                Ok(()) => vec![Reply::RenameExportSuccess(key.clone())],
                Err(f) => fail(f),
            }
        }
        Request::ImportSupported => match remote.import_supported(annex).await {
            Ok(ImportSupport::Supported) => vec![Reply::ImportSupportedSuccess],
            Ok(ImportSupport::NotSupported) => vec![Reply::ImportSupportedFailure],
            Ok(ImportSupport::Required) => vec![Reply::ImportRequired],
            Err(f) => fail(f),
        },
        Request::ListImportableContents => match remote.list_importable_contents(annex).await {
            Ok(list) => {
                let mut out = Vec::with_capacity(list.len() * 2 + 1);
                for Importable { name, size, cid } in list {
                    out.push(Reply::ImportableContent { size, name });
                    out.push(Reply::ImportableContentIdentifier(cid));
                }
                out.push(Reply::ListImportableContentsSuccess);
                out
            }
            Err(f) => fail(f),
        },
        Request::RetrieveImport(file) => {
            let Some(name) = dispatch.import_name.as_deref() else {
                return no_name(request, "IMPORT");
            };
            match remote.retrieve_import(name, Path::new(file), annex).await {
                Ok(Retrieved::Written) => vec![Reply::RetrieveImportSuccess],
                Ok(Retrieved::Url(url)) => vec![Reply::RetrieveImportUrl(url)],
                Err(f) => fail(f),
            }
        }
        Request::CheckPresentImport(key) => {
            let Some(name) = dispatch.import_name.as_deref() else {
                return no_name(request, "IMPORT");
            };
            presence(
                request,
                key,
                remote.check_present_import(key, name, annex).await,
            )
        }
        Request::ImportKey { size, cid } => {
            let Some(name) = dispatch.import_name.as_deref() else {
                return no_name(request, "IMPORT");
            };
            match remote.import_key(*size, cid, name, annex).await {
                Ok(Some(key)) => vec![Reply::ImportKeySuccess(key)],
                Ok(None) => vec![Reply::ImportKeySkip],
                Err(f) => fail(f),
            }
        }
        // The session answers these itself; should one be dispatched anyway, the answer is
        // the one the session would give.
        Request::Extensions(_) => vec![Reply::Extensions(Vec::new())],
        Request::Export(_) | Request::Import(_) => Vec::new(),
        Request::Unknown(_) => vec![Reply::UnsupportedRequest],
    }
}

fn transferred(
    request: &Request,
    dir: Direction,
    key: &Key,
    r: Result<Retrieved, Failure>,
) -> Vec<Reply> {
    match r {
        Ok(Retrieved::Written) => vec![Reply::TransferSuccess {
            dir,
            key: key.clone(),
        }],
        Ok(Retrieved::Url(url)) if dir == Direction::Retrieve => {
            vec![Reply::TransferRetrieveUrl {
                key: key.clone(),
                url,
            }]
        }
        Ok(Retrieved::Url(_)) => vec![Reply::failure_for(
            request,
            "internal error: a URL is not a valid answer to a STORE",
        )],
        Err(f) => vec![failure_reply(request, f)],
    }
}

fn presence(request: &Request, key: &Key, r: Result<Presence, Failure>) -> Vec<Reply> {
    let key = key.clone();
    vec![match r {
        Ok(Presence::Present) => Reply::CheckPresentSuccess(key),
        Ok(Presence::Absent) => Reply::CheckPresentFailure(key),
        Ok(Presence::Unknown(msg)) => Reply::CheckPresentUnknown {
            key,
            msg: one_line(msg),
        },
        Ok(Presence::Url(url)) => Reply::CheckPresentUrl { key, url },
        Err(f) => failure_reply(request, f),
    }]
}

fn no_name(request: &Request, which: &str) -> Vec<Reply> {
    vec![Reply::failure_for(
        request,
        format!(
            "{} arrived without a preceding {which} naming its location",
            request.verb()
        ),
    )]
}

/// The reply for a [`Failure`] of `request`.
pub fn failure_reply(request: &Request, failure: Failure) -> Reply {
    match failure {
        Failure::Failed(msg) => Reply::failure_for(request, msg),
        Failure::Unsupported => Reply::UnsupportedRequest,
        Failure::Delegate(params) => {
            let delegable = matches!(
                request,
                Request::Transfer { .. }
                    | Request::CheckPresent(_)
                    | Request::Remove(_)
                    | Request::WhereIs(_)
                    | Request::TransferExport { .. }
                    | Request::CheckPresentExport(_)
                    | Request::RemoveExport(_)
                    | Request::RemoveExportDirectory(_)
                    | Request::RenameExport { .. }
                    | Request::ListImportableContents
                    | Request::RetrieveImport(_)
                    | Request::CheckPresentImport(_)
                    | Request::ImportKey { .. }
            );
            if delegable {
                Reply::Delegate(params)
            } else {
                Reply::failure_for(
                    request,
                    format!("internal error: {} cannot be delegated", request.verb()),
                )
            }
        }
    }
}

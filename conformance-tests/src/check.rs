//! Which replies are allowed for which request: the protocol's tables (§3, §5 of the digest)
//! as one function. Grammar is remote-proto's business; this is about meaning: the verb must
//! answer the request, and the key and direction must be the request's, byte for byte.

use remote_proto::{Extension, Reply, Request};

/// The requests git-annex requires a remote to implement: `UNSUPPORTED-REQUEST` to them is a
/// protocol error.
pub fn is_required(req: &Request) -> bool {
    matches!(
        req,
        Request::InitRemote
            | Request::Prepare
            | Request::Transfer { .. }
            | Request::CheckPresent(_)
            | Request::Remove(_)
    )
}

/// Checks that `reply` may answer `req`, given the extensions the remote negotiated.
///
/// # Errors
/// A sentence saying why git-annex would reject the reply.
pub fn fits(req: &Request, reply: &Reply, extensions: &[Extension]) -> Result<(), String> {
    let has = |e: Extension| extensions.contains(&e);
    let key_of_request = req.key();
    let same_key = |k: &remote_proto::Key| -> Result<(), String> {
        match key_of_request {
            Some(want) if want.as_str() == k.as_str() => Ok(()),
            Some(want) => Err(format!(
                "the reply names key `{k}`, not the request's `{want}` (git-annex: command not allowed at this time)"
            )),
            None => Ok(()),
        }
    };
    let wrong = || {
        Err(format!(
            "{} is not a reply to {} (git-annex: command not allowed at this time)",
            reply.verb(),
            req.verb()
        ))
    };
    match (req, reply) {
        (_, Reply::Error(_)) => Ok(()),
        (r, Reply::UnsupportedRequest) if is_required(r) => Err(format!(
            "UNSUPPORTED-REQUEST to {}, which every remote must implement",
            r.verb()
        )),
        (_, Reply::UnsupportedRequest) => Ok(()),
        (
            Request::Transfer { key, .. }
            | Request::TransferExport { key, .. }
            | Request::CheckPresent(key)
            | Request::CheckPresentExport(key)
            | Request::Remove(key)
            | Request::RemoveExport(key),
            Reply::Delegate(_),
        ) => {
            let _ = key;
            if has(Extension::Delegate) {
                Ok(())
            } else {
                Err("DELEGATE without the DELEGATE extension".to_owned())
            }
        }
        (Request::InitRemote, Reply::InitRemoteSuccess | Reply::InitRemoteFailure(_)) => Ok(()),
        (Request::Prepare, Reply::PrepareSuccess | Reply::PrepareFailure(_)) => Ok(()),
        (
            Request::Transfer { dir, .. } | Request::TransferExport { dir, .. },
            Reply::TransferSuccess { dir: d, key } | Reply::TransferFailure { dir: d, key, .. },
        ) => {
            if dir != d {
                return Err(format!(
                    "the reply says {}, the request was {}",
                    d.as_str(),
                    dir.as_str()
                ));
            }
            same_key(key)
        }
        (
            Request::Transfer { dir, .. } | Request::TransferExport { dir, .. },
            Reply::TransferRetrieveUrl { key, .. },
        ) => {
            if *dir != remote_proto::Direction::Retrieve {
                return Err("TRANSFER-RETRIEVE-URL answers a RETRIEVE, not a STORE".to_owned());
            }
            if !has(Extension::TransferRetrieveUrl) {
                return Err("TRANSFER-RETRIEVE-URL without the extension".to_owned());
            }
            same_key(key)
        }
        (
            Request::CheckPresent(_)
            | Request::CheckPresentExport(_)
            | Request::CheckPresentImport(_),
            Reply::CheckPresentSuccess(key)
            | Reply::CheckPresentFailure(key)
            | Reply::CheckPresentUnknown { key, .. },
        ) => same_key(key),
        (
            Request::CheckPresent(_) | Request::CheckPresentExport(_),
            Reply::CheckPresentUrl { key, .. },
        ) => {
            if !has(Extension::CheckPresentUrl) {
                return Err("CHECKPRESENT-URL without the extension".to_owned());
            }
            same_key(key)
        }
        (
            Request::Remove(_) | Request::RemoveExport(_),
            Reply::RemoveSuccess(key) | Reply::RemoveFailure { key, .. },
        ) => same_key(key),
        (Request::ListConfigs, Reply::Config { .. } | Reply::ConfigEnd) => Ok(()),
        (Request::GetCost, Reply::Cost(_)) => Ok(()),
        (Request::GetAvailability, Reply::Availability(a)) => {
            if *a == remote_proto::Availability::Unavailable && !has(Extension::UnavailableResponse)
            {
                Err("AVAILABILITY UNAVAILABLE without the UNAVAILABLERESPONSE extension".to_owned())
            } else {
                Ok(())
            }
        }
        (Request::GetOrdered, Reply::Ordered | Reply::Unordered) => Ok(()),
        (Request::ClaimUrl(_), Reply::ClaimUrlSuccess | Reply::ClaimUrlFailure) => Ok(()),
        (
            Request::CheckUrl(_),
            Reply::CheckUrlContents { .. } | Reply::CheckUrlMulti(_) | Reply::CheckUrlFailure(_),
        ) => Ok(()),
        (Request::WhereIs(_), Reply::WhereIsSuccess(_) | Reply::WhereIsFailure) => Ok(()),
        (Request::GetInfo, Reply::InfoField(_) | Reply::InfoValue(_) | Reply::InfoEnd) => Ok(()),
        (
            Request::ExportSupported,
            Reply::ExportSupportedSuccess | Reply::ExportSupportedFailure,
        ) => Ok(()),
        (
            Request::RemoveExportDirectory(_),
            Reply::RemoveExportDirectorySuccess | Reply::RemoveExportDirectoryFailure,
        ) => Ok(()),
        (
            Request::RenameExport { .. },
            Reply::RenameExportSuccess(key) | Reply::RenameExportFailure(key),
        ) => same_key(key),
        (
            Request::ImportSupported,
            Reply::ImportSupportedSuccess | Reply::ImportSupportedFailure | Reply::ImportRequired,
        ) => Ok(()),
        (
            Request::ListImportableContents,
            Reply::ImportableContent { .. }
            | Reply::ImportableContentIdentifier(_)
            | Reply::ListImportableContentsSuccess
            | Reply::ListImportableContentsFailure(_),
        ) => Ok(()),
        (
            Request::RetrieveImport(_),
            Reply::RetrieveImportSuccess
            | Reply::RetrieveImportFailure(_)
            | Reply::RetrieveImportUrl(_),
        ) => Ok(()),
        (
            Request::ImportKey { .. },
            Reply::ImportKeySuccess(_) | Reply::ImportKeySkip | Reply::ImportKeyFailure(_),
        ) => Ok(()),
        (Request::Extensions(_), Reply::Extensions(_)) => Ok(()),
        _ => wrong(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Request {
        Request::parse(s).unwrap()
    }
    fn rep(s: &str) -> Reply {
        Reply::parse(s).unwrap()
    }

    #[test]
    fn matching_replies_fit() {
        assert!(
            fits(
                &req("CHECKPRESENT K--a"),
                &rep("CHECKPRESENT-FAILURE K--a"),
                &[]
            )
            .is_ok()
        );
        assert!(
            fits(
                &req("TRANSFER STORE K--a f"),
                &rep("TRANSFER-SUCCESS STORE K--a"),
                &[]
            )
            .is_ok()
        );
        assert!(fits(&req("GETCOST"), &rep("UNSUPPORTED-REQUEST"), &[]).is_ok());
        assert!(fits(&req("FROB x"), &rep("UNSUPPORTED-REQUEST"), &[]).is_ok());
    }

    #[test]
    fn mismatches_are_protocol_errors() {
        assert!(
            fits(
                &req("CHECKPRESENT K--a"),
                &rep("CHECKPRESENT-FAILURE K--b"),
                &[]
            )
            .is_err()
        );
        assert!(
            fits(
                &req("TRANSFER STORE K--a f"),
                &rep("TRANSFER-SUCCESS RETRIEVE K--a"),
                &[]
            )
            .is_err()
        );
        assert!(fits(&req("CHECKPRESENT K--a"), &rep("REMOVE-SUCCESS K--a"), &[]).is_err());
        assert!(fits(&req("PREPARE"), &rep("UNSUPPORTED-REQUEST"), &[]).is_err());
        assert!(
            fits(
                &req("GETAVAILABILITY"),
                &rep("AVAILABILITY UNAVAILABLE"),
                &[]
            )
            .is_err()
        );
        assert!(
            fits(
                &req("GETAVAILABILITY"),
                &rep("AVAILABILITY UNAVAILABLE"),
                &[Extension::UnavailableResponse]
            )
            .is_ok()
        );
    }
}

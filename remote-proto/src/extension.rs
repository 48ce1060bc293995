//! Protocol extensions negotiated with `EXTENSIONS`.

use std::fmt;
use std::str::FromStr;

/// A protocol extension. git-annex 10.20261026 offers
/// `INFO GETGITREMOTENAME UNAVAILABLERESPONSE TRANSFER-RETRIEVE-URL CHECKPRESENT-URL IMPORTKEY
/// DELEGATE ASYNC`; a remote may only use the ones it asked for and git-annex offered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Extension {
    /// `INFO`: the remote may send `INFO msg`, shown to the user.
    Info,
    /// `ASYNC`: many jobs share one process, with `J <n>` framing.
    Async,
    /// `GETGITREMOTENAME`: the remote may ask for its git remote name.
    GetGitRemoteName,
    /// `UNAVAILABLERESPONSE`: the remote may answer `AVAILABILITY UNAVAILABLE`.
    UnavailableResponse,
    /// `TRANSFER-RETRIEVE-URL`: a RETRIEVE may be answered with a URL git-annex downloads.
    TransferRetrieveUrl,
    /// `CHECKPRESENT-URL`: a CHECKPRESENT may be answered with a URL git-annex checks.
    CheckPresentUrl,
    /// `IMPORTKEY`: git-annex sends `IMPORTKEY Size Cid` during an import.
    ImportKey,
    /// `DELEGATE`: requests may be handed to a built-in special remote.
    Delegate,
    /// An extension this crate does not know; kept so it can be echoed or ignored. Never
    /// empty and never contains whitespace when it came from a parsed line.
    Other(String),
}

impl Extension {
    /// The extension's name on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Extension::Info => "INFO",
            Extension::Async => "ASYNC",
            Extension::GetGitRemoteName => "GETGITREMOTENAME",
            Extension::UnavailableResponse => "UNAVAILABLERESPONSE",
            Extension::TransferRetrieveUrl => "TRANSFER-RETRIEVE-URL",
            Extension::CheckPresentUrl => "CHECKPRESENT-URL",
            Extension::ImportKey => "IMPORTKEY",
            Extension::Delegate => "DELEGATE",
            Extension::Other(s) => s,
        }
    }

    /// Names an extension; unknown names become [`Extension::Other`].
    pub fn from_name(name: &str) -> Extension {
        match name {
            "INFO" => Extension::Info,
            "ASYNC" => Extension::Async,
            "GETGITREMOTENAME" => Extension::GetGitRemoteName,
            "UNAVAILABLERESPONSE" => Extension::UnavailableResponse,
            "TRANSFER-RETRIEVE-URL" => Extension::TransferRetrieveUrl,
            "CHECKPRESENT-URL" => Extension::CheckPresentUrl,
            "IMPORTKEY" => Extension::ImportKey,
            "DELEGATE" => Extension::Delegate,
            other => Extension::Other(other.to_owned()),
        }
    }

    /// Parses a whitespace-separated list, as git-annex's `EXTENSIONS` line carries it.
    pub(crate) fn parse_list(s: &str) -> Vec<Extension> {
        s.split_whitespace().map(Extension::from_name).collect()
    }
}

impl FromStr for Extension {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Extension, Self::Err> {
        Ok(Extension::from_name(s))
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes `VERB` followed by ` NAME` for each extension (a bare `EXTENSIONS` means "none",
/// which git-annex accepts).
pub(crate) fn write_list(
    f: &mut fmt::Formatter<'_>,
    verb: &str,
    list: &[Extension],
) -> fmt::Result {
    f.write_str(verb)?;
    for e in list {
        write!(f, " {}", crate::wire::OneLine(e.as_str()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let offered = "INFO GETGITREMOTENAME UNAVAILABLERESPONSE TRANSFER-RETRIEVE-URL \
                       CHECKPRESENT-URL IMPORTKEY DELEGATE ASYNC FROBNICATE";
        let list = Extension::parse_list(offered);
        assert_eq!(list.len(), 9);
        assert_eq!(list[8], Extension::Other("FROBNICATE".into()));
        let names: Vec<&str> = list.iter().map(Extension::as_str).collect();
        assert_eq!(names.join(" "), offered);
    }
}

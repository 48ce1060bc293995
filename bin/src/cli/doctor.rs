//! `ferry doctor`: checks a remote's configuration and store, and says how to fix each problem.

use std::path::Path;

use serde::Serialize;

use crate::cli::repo::RemoteConfig;
use crate::settings::{Phase, Settings};
use crate::storage;

/// The outcome of one check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    /// What was checked.
    pub check: String,
    /// Whether it is fine.
    pub ok: bool,
    /// What was found, and for a problem, what to do.
    pub detail: String,
}

fn finding(check: &str, ok: bool, detail: impl Into<String>) -> Finding {
    Finding {
        check: check.to_owned(),
        ok,
        detail: detail.into(),
    }
}

/// Runs every check on `remote`, in order; later checks are skipped when an earlier one makes
/// them meaningless.
pub async fn doctor(repo: &Path, remote: &RemoteConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    if !remote.is_ferry() {
        out.push(finding(
            "remote type",
            false,
            format!(
                "{} is type={} externaltype={}, not a ferry remote; switch it with `git annex enableremote {} externaltype=ferry` (a remote of the rclone bridges keeps its target= and prefix=; add directory=… for a store made by another tool)",
                remote.name(),
                remote.get("type").unwrap_or("?"),
                remote.get("externaltype").unwrap_or("-"),
                remote.name()
            ),
        ));
        return out;
    }
    out.push(finding("remote type", true, "external, externaltype=ferry"));
    let settings = match Settings::from_config(
        |k| remote.get(k).map(str::to_owned),
        Phase::Use,
        // A target= remote's relative local path is relative to the work tree, where git-annex
        // runs the remote.
        repo,
    ) {
        Ok(s) => {
            out.push(finding(
                "configuration",
                true,
                s.stored_values()
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ));
            s
        }
        Err(e) => {
            out.push(finding(
                "configuration",
                false,
                format!(
                    "{e}; fix it with `git annex enableremote {} KEY=VALUE`",
                    remote.name()
                ),
            ));
            return out;
        }
    };
    let secrets = crate::cli::repo::secrets_for(repo, remote, &settings);
    let backend = match storage::open(&settings, &secrets) {
        Ok(b) => {
            out.push(finding("credentials", true, "present where needed"));
            b
        }
        Err(e) => {
            out.push(finding("credentials", false, e.to_string()));
            return out;
        }
    };
    match backend.check().await {
        Ok(()) => out.push(finding(
            "store reachable and writable",
            true,
            backend.describe().to_string(),
        )),
        Err(e) => {
            out.push(finding(
                "store reachable and writable",
                false,
                e.to_string(),
            ));
            return out;
        }
    }
    match backend.clean_stale_uploads().await {
        Ok(0) => out.push(finding(
            "interrupted uploads",
            true,
            "nothing stale left behind (leftovers younger than a day are kept: they may belong to a running upload)",
        )),
        Ok(n) => out.push(finding(
            "interrupted uploads",
            true,
            format!(
                "removed {n} leftovers of interrupted uploads (temporary files, unfinished multipart uploads)"
            ),
        )),
        Err(e) => out.push(finding("interrupted uploads", false, e.to_string())),
    }
    out
}

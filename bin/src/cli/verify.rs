//! `ferry verify`: reads every object of a store and checks it: the size its key gives, the
//! digest of hash keys (over all chunks, in order, for chunked keys), and for encrypted stores
//! the authenticity of every segment. With the repository at hand it also finds keys git-annex
//! believes are on the remote but are not, and objects git-annex knows nothing of.

use std::collections::{BTreeMap, BTreeSet};

use ferry_backends::{ListEntry, ObjectPath};
use futures::StreamExt as _;
use remote_proto::Key;
use serde::Serialize;

use crate::cli::annex_branch::BranchKeys;
use crate::cli::checksum::ContentCheck;
use crate::cli::ls::unescape_key;
use crate::cli::progress;
use crate::cli::store::{Store, describe_read_error};

/// One bad object or missing key.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// The object, when there is one.
    pub path: Option<String>,
    /// The git-annex key, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

/// An object that is not a copy of any key the repository knows.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unknown {
    /// The object.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Why it is listed.
    pub reason: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    /// The store.
    pub remote: String,
    /// Objects read.
    pub objects: usize,
    /// Bytes stored, as listed.
    pub bytes: u64,
    /// Objects that passed every check.
    pub ok: usize,
    /// Everything wrong; the command fails when this is not empty.
    pub problems: Vec<Problem>,
    /// Objects not checked against a key (see [`Unknown`]).
    pub unknown: Vec<Unknown>,
}

/// The objects of one key: its whole object, or its chunks in order (by chunk size, then
/// number).
#[derive(Debug, Default)]
struct Unit {
    whole: Option<(ListEntry, Key)>,
    chunks: BTreeMap<(u64, u64), (ListEntry, Key)>,
}

/// Checks every object of `store`.
///
/// # Errors
/// The store cannot be listed.
pub async fn verify(store: &Store, branch: Option<&BranchKeys>) -> anyhow::Result<Report> {
    let entries = store
        .backend
        .list(None)
        .await
        .map_err(|e| anyhow::anyhow!("cannot list {}: {e}", store.name))?;
    let known = branch.map(|b| store.known_objects(b)).unwrap_or_default();
    let mut report = Report {
        remote: store.name.clone(),
        objects: entries.len(),
        bytes: entries.iter().map(|e| e.meta.len).sum(),
        ok: 0,
        problems: Vec::new(),
        unknown: Vec::new(),
    };
    let fsck = format!("git annex fsck --from {} --fast", store.name);
    let recopy = format!(
        "get the file from another copy, run `{fsck}` so git-annex knows this copy is bad, then `git annex copy --to {}`",
        store.name
    );
    let mut units: BTreeMap<String, Unit> = BTreeMap::new();
    let mut keyless: Vec<ListEntry> = Vec::new();
    let listed: BTreeSet<ObjectPath> = entries.iter().map(|e| e.path.clone()).collect();
    for entry in entries {
        let key = if store.is_sealed() {
            known.get(&entry.path).cloned()
        } else {
            unescape_key(entry.path.file_name())
                .and_then(|k| Key::parse(&k).ok())
                .or_else(|| known.get(&entry.path).cloned())
        };
        let Some(key) = key else {
            keyless.push(entry);
            continue;
        };
        let unit = units.entry(key.without_chunk()).or_default();
        match key.chunk() {
            Some(c) => {
                unit.chunks.insert((c.size, c.number), (entry, key));
            }
            None => unit.whole = Some((entry, key)),
        }
    }
    let bar = progress::bytes(Some(report.bytes), "verifying");
    for (whole_key, unit) in &units {
        if let Some(branch) = branch
            && !branch.keys.contains_key(whole_key)
        {
            for (entry, _) in unit.whole.iter().chain(unit.chunks.values()) {
                report.unknown.push(Unknown {
                    path: entry.path.to_string(),
                    size: entry.meta.len,
                    reason: format!("holds {whole_key}, which this repository has never heard of"),
                });
            }
        }
        if let Some((entry, key)) = &unit.whole {
            let check = ContentCheck::for_key(key);
            match check_objects(store, &[(entry, key)], check, &bar).await {
                Ok(()) => report.ok += 1,
                Err(problem) => report.problems.push(Problem {
                    path: Some(entry.path.to_string()),
                    key: Some(key.to_string()),
                    problem,
                    fix: recopy.clone(),
                }),
            }
        }
        // Chunks, one chunk size at a time (a key may be stored with two).
        let sizes: BTreeSet<u64> = unit.chunks.keys().map(|(s, _)| *s).collect();
        for size in sizes {
            let chunks: Vec<(&ListEntry, &Key)> = unit
                .chunks
                .range((size, 0)..=(size, u64::MAX))
                .map(|(_, (e, k))| (e, k))
                .collect();
            let first = chunks[0].1;
            let expected = first
                .size()
                .map(|s| if s == 0 { 1 } else { s.div_ceil(size) });
            let numbers: Vec<u64> = chunks
                .iter()
                .filter_map(|(_, k)| k.chunk().map(|c| c.number))
                .collect();
            let complete = expected
                .is_some_and(|n| numbers.len() as u64 == n && numbers.iter().copied().eq(1..=n));
            let check = if complete {
                Key::parse(whole_key)
                    .ok()
                    .and_then(|k| ContentCheck::for_key(&k))
            } else {
                None
            };
            match check_objects(store, &chunks, check, &bar).await {
                Ok(()) => report.ok += chunks.len(),
                Err(problem) => report.problems.push(Problem {
                    path: None,
                    key: Some(whole_key.clone()),
                    problem: format!("chunks of {size} bytes: {problem}"),
                    fix: recopy.clone(),
                }),
            }
            if !complete {
                let missing: Vec<String> = match expected {
                    Some(n) => (1..=n)
                        .filter(|i| !numbers.contains(i))
                        .map(|i| i.to_string())
                        .collect(),
                    None => vec!["?".to_owned()],
                };
                report.problems.push(Problem {
                    path: None,
                    key: Some(whole_key.clone()),
                    problem: format!(
                        "chunks of {size} bytes are incomplete: chunk {} missing, so the content cannot be put together from them",
                        missing.join(", ")
                    ),
                    fix: format!(
                        "run `{fsck}`; if git-annex counts this copy, store it again with `git annex copy --to {}`",
                        store.name
                    ),
                });
            }
        }
    }
    for entry in keyless {
        if store.is_sealed() {
            // No key to check against, but the object's own authenticity still can be.
            match check_objects(store, &[(&entry, &unnamed_key())], None, &bar).await {
                // Outside a repository no name maps to a key: authentic is all there is to know.
                Ok(()) if branch.is_none() => report.ok += 1,
                Ok(()) => report.unknown.push(Unknown {
                    path: entry.path.to_string(),
                    size: entry.meta.len,
                    reason: "authentic, but no key of this repository is stored under this name"
                        .to_owned(),
                }),
                Err(problem) => report.problems.push(Problem {
                    path: Some(entry.path.to_string()),
                    key: None,
                    problem,
                    fix: format!(
                        "no key of this repository maps to it; if `{fsck}` reports nothing missing, it can be deleted"
                    ),
                }),
            }
        } else {
            report.unknown.push(Unknown {
                path: entry.path.to_string(),
                size: entry.meta.len,
                reason: "its name is not a git-annex key; not stored by git-annex".to_owned(),
            });
        }
    }
    bar.finish_and_clear();
    if let (Some(branch), Some(uuid)) = (branch, &store.uuid) {
        report
            .problems
            .extend(missing_keys(store, branch, uuid, &listed, &fsck));
    }
    Ok(report)
}

/// A stand-in key for objects whose key is unknown: no size, no digest to check.
fn unnamed_key() -> Key {
    Key::parse("UNKNOWN--unknown").expect("a constant key parses")
}

/// Keys the location log says `uuid` has, but of which no whole object and no complete chunk
/// set is listed.
fn missing_keys(
    store: &Store,
    branch: &BranchKeys,
    uuid: &str,
    listed: &BTreeSet<ObjectPath>,
    fsck: &str,
) -> Vec<Problem> {
    let mut out = Vec::new();
    for key_text in branch.keys.keys() {
        if !branch.present_on(key_text, uuid) {
            continue;
        }
        let Ok(key) = Key::parse(key_text) else {
            continue;
        };
        let whole = store.path_of(&key).ok();
        if whole.is_some_and(|p| listed.contains(&p)) {
            continue;
        }
        let chunked = branch.chunkings(key_text, uuid).iter().any(|c| {
            (1..=c.count).all(|n| {
                crate::cli::annex_branch::chunk_key(&key, c.size, n)
                    .ok()
                    .and_then(|k| store.path_of(&k).ok())
                    .is_some_and(|p| listed.contains(&p))
            })
        });
        if chunked {
            continue;
        }
        out.push(Problem {
            path: store.path_of(&key).ok().map(|p| p.to_string()),
            key: Some(key_text.clone()),
            problem: "git-annex believes this remote has it, but the store does not".to_owned(),
            fix: format!(
                "run `{fsck}` so git-annex stops counting it, then `git annex copy --to {}` from a copy that has it",
                store.name
            ),
        });
    }
    out
}

/// Reads `objects` in order through one content check, checking each object's size against
/// its key; the problem, in words, on failure.
async fn check_objects(
    store: &Store,
    objects: &[(&ListEntry, &Key)],
    mut check: Option<ContentCheck>,
    bar: &indicatif::ProgressBar,
) -> Result<(), String> {
    for (entry, key) in objects {
        let mut stream = store
            .read(&entry.path)
            .await
            .map_err(|e| format!("{e:#}"))?;
        let mut len = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                format!(
                    "{} cannot be read back: {}",
                    entry.path,
                    describe_read_error(&e)
                )
            })?;
            if let Some(c) = check.as_mut() {
                c.update(&chunk);
            }
            len += chunk.len() as u64;
            bar.inc(chunk.len() as u64);
        }
        if let Some(expected) = key.expected_object_len()
            && expected != len
        {
            return Err(format!(
                "{} holds {len} bytes, but its key says {expected}",
                entry.path
            ));
        }
    }
    match check {
        Some(c) => c.finish().map_err(|m| format!("the content is wrong: {m}")),
        None => Ok(()),
    }
}

/// The report as lines for people.
pub fn describe(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    for p in &report.problems {
        let what = match (&p.path, &p.key) {
            (Some(path), Some(key)) => format!("{path} ({key})"),
            (Some(path), None) => path.clone(),
            (None, Some(key)) => key.clone(),
            (None, None) => "?".to_owned(),
        };
        lines.push(format!("BAD     {what}: {}", p.problem));
        lines.push(format!("        fix: {}", p.fix));
    }
    for u in &report.unknown {
        lines.push(format!(
            "unknown {} ({} bytes): {}",
            u.path, u.size, u.reason
        ));
    }
    lines.push(format!(
        "{}: {} objects, {} bytes; {} ok, {} problems, {} not git-annex's",
        report.remote,
        report.objects,
        report.bytes,
        report.ok,
        report.problems.len(),
        report.unknown.len()
    ));
    lines
}

//! `ferry get`: fetches one key (or one object path) from a store into a file, decrypting when
//! the store is encrypted, and proves the result: the key's size, the digest of hash keys, and
//! for encrypted stores every segment's authenticity. Chunked keys are put back together from
//! their chunks, as the chunk log on the git-annex branch describes them.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ferry_backends::ObjectPath;
use ferry_backends::layout::{Layout, legacy_paths};
use futures::StreamExt as _;
use remote_proto::Key;
use serde::Serialize;

use crate::cli::annex_branch::{BranchKeys, Chunking, chunk_key};
use crate::cli::checksum::ContentCheck;
use crate::cli::ls::unescape_key;
use crate::cli::outfile::{Mode, OutFile};
use crate::cli::progress;
use crate::cli::store::{Store, describe_read_error};

/// A fetched key or object.
#[derive(Debug, Serialize)]
pub struct Fetched {
    /// The git-annex key, when known.
    pub key: Option<String>,
    /// The objects read, in order (several for a chunked key).
    pub objects: Vec<String>,
    /// The file written.
    pub out: PathBuf,
    /// Bytes written.
    pub bytes: u64,
    /// What was proven: `sha256e` etc. (the key's digest), `size`, `authenticity` (encrypted
    /// stores), joined with `+`.
    pub verified: String,
}

/// What to read: the objects in order, and the key they make up (if known).
#[derive(Debug)]
struct Plan {
    key: Option<Key>,
    objects: Vec<(ObjectPath, Option<Key>)>,
}

async fn exists(store: &Store, path: &ObjectPath) -> anyhow::Result<bool> {
    Ok(store
        .backend
        .stat(path)
        .await
        .with_context(|| format!("cannot look for {path} in {}", store.name))?
        .is_some())
}

/// Finds the objects of `key`: whole (at its path, or where the rclone bridges put keys with
/// `/` in them), else a complete set of chunks of a chunking the chunk log records.
async fn plan_key(
    store: &Store,
    branch: Option<&BranchKeys>,
    key: &Key,
) -> anyhow::Result<Option<Plan>> {
    let whole = store.path_of(key)?;
    let mut candidates = vec![whole];
    if !store.is_sealed() {
        candidates.extend(legacy_paths(store.settings.layout, None, key));
    }
    for path in candidates {
        if exists(store, &path).await? {
            return Ok(Some(Plan {
                key: Some(key.clone()),
                objects: vec![(path, Some(key.clone()))],
            }));
        }
    }
    let chunkings = match (branch, &store.uuid) {
        (Some(branch), Some(uuid)) => branch.chunkings(key.as_str(), uuid).to_vec(),
        _ => chunkings_without_repo(store, key).await?,
    };
    'chunkings: for chunking in &chunkings {
        let mut objects = Vec::new();
        for n in 1..=chunking.count {
            let ck = chunk_key(key, chunking.size, n)?;
            let path = store.path_of(&ck)?;
            if !exists(store, &path).await? {
                continue 'chunkings;
            }
            objects.push((path, Some(ck)));
        }
        return Ok(Some(Plan {
            key: Some(key.clone()),
            objects,
        }));
    }
    Ok(None)
}

/// How `key` may have been chunked, without the chunk logs: the `chunk=` size given, and for a
/// plain store the chunk keys found beside where the whole key would be (all chunks of a key
/// share its hash directories; sealed stores scatter them, by design).
async fn chunkings_without_repo(store: &Store, key: &Key) -> anyhow::Result<Vec<Chunking>> {
    let Some(size) = key.size() else {
        return Ok(Vec::new());
    };
    let count = |chunk: u64| if size == 0 { 1 } else { size.div_ceil(chunk) };
    let mut out: Vec<Chunking> = store
        .chunk_size
        .map(|s| Chunking {
            size: s,
            count: count(s),
        })
        .into_iter()
        .collect();
    if store.is_sealed() {
        return Ok(out);
    }
    let whole = store.path_of(key)?;
    let mut dir = whole.parent();
    if store.settings.layout == Layout::Directory {
        dir = dir.and_then(|d| d.parent());
    }
    let listed = store
        .backend
        .list(dir.as_ref())
        .await
        .with_context(|| format!("cannot look for chunks of {key} in {}", store.name))?;
    let whole_text = key.as_str();
    for entry in listed {
        let Some(chunk) = unescape_key(entry.path.file_name())
            .and_then(|k| Key::parse(&k).ok())
            .filter(|k| k.without_chunk() == whole_text)
            .and_then(|k| k.chunk())
        else {
            continue;
        };
        if !out.iter().any(|c| c.size == chunk.size) {
            out.push(Chunking {
                size: chunk.size,
                count: count(chunk.size),
            });
        }
    }
    Ok(out)
}

/// Resolves `what` (a key, or an object path in the store) to the objects to read.
async fn plan(store: &Store, branch: Option<&BranchKeys>, what: &str) -> anyhow::Result<Plan> {
    if let Ok(key) = Key::parse(what)
        && let Some(plan) = plan_key(store, branch, &key).await?
    {
        return Ok(plan);
    }
    if let Ok(path) = ObjectPath::new(what.trim_matches('/'))
        && exists(store, &path).await?
    {
        let key = if store.is_sealed() {
            branch.and_then(|b| store.known_objects(b).get(&path).cloned())
        } else {
            unescape_key(path.file_name()).and_then(|k| Key::parse(&k).ok())
        };
        return Ok(Plan {
            key: key.clone(),
            objects: vec![(path, key)],
        });
    }
    let hint = match (Key::parse(what), &store.uuid) {
        (Ok(key), Some(_)) => format!(
            "{key} is not in {} (not at {}, nor as chunks the chunk log knows); `git annex whereis --key {key}` shows where copies are",
            store.name,
            store.path_of(&key)?
        ),
        (Ok(key), None) => format!(
            "{key} is not in {} at {}, nor as chunks; for an encrypted store with chunk=, give the size (-c chunk=50MiB)",
            store.name,
            store.path_of(&key)?
        ),
        (Err(_), _) => format!(
            "{what} is neither a git-annex key nor an object in {}; `ferry ls` lists the objects",
            store.name
        ),
    };
    bail!(hint)
}

/// Fetches `what` from `store` into `out`.
///
/// # Errors
/// Not found, unreadable, or the content is not what the key says (then `out` is not written).
pub async fn get(
    store: &Store,
    branch: Option<&BranchKeys>,
    what: &str,
    out: &Path,
    overwrite: bool,
) -> anyhow::Result<Fetched> {
    let plan = plan(store, branch, what).await?;
    let mut output = OutFile::create(out, overwrite, Mode::Data)?;
    let total = plan.key.as_ref().and_then(Key::size);
    let bar = progress::bytes(total, "fetching");
    let mut check = plan.key.as_ref().and_then(|k| {
        // A lone chunk is not the whole content: its digest cannot be checked.
        if k.chunk().is_some() {
            None
        } else {
            ContentCheck::for_key(k)
        }
    });
    let what_key = plan
        .key
        .as_ref()
        .map_or_else(|| what.to_owned(), ToString::to_string);
    let damaged = |detail: String| {
        anyhow::anyhow!(
            "the copy of {what_key} in {} is damaged: {detail}; nothing was written to {}. \
             Get the file from another copy (git annex get --from ANOTHER), tell git-annex with \
             `git annex fsck --from {} --fast`, then store it again (git annex copy --to {})",
            store.name,
            out.display(),
            store.name,
            store.name
        )
    };
    let mut bytes = 0u64;
    for (path, object_key) in &plan.objects {
        let mut stream = store.read(path).await?;
        let mut object_bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| damaged(format!("{path}: {}", describe_read_error(&e))))?;
            if let Some(c) = check.as_mut() {
                c.update(&chunk);
            }
            output
                .write_all(&chunk)
                .with_context(|| format!("cannot write {}; is the disk full?", out.display()))?;
            object_bytes += chunk.len() as u64;
            bar.inc(chunk.len() as u64);
        }
        if let Some(expected) = object_key.as_ref().and_then(Key::expected_object_len)
            && expected != object_bytes
        {
            bar.abandon();
            return Err(damaged(format!(
                "{path} holds {object_bytes} bytes, but the key says {expected}"
            )));
        }
        bytes += object_bytes;
    }
    if let Some(size) = total
        && size != bytes
    {
        bar.abandon();
        return Err(damaged(format!(
            "got {bytes} bytes, but the key says {size}"
        )));
    }
    let mut verified = Vec::new();
    if let Some(c) = check {
        let algorithm = plan
            .key
            .as_ref()
            .map(|k| k.variety().to_ascii_lowercase())
            .unwrap_or_default();
        if let Err(mismatch) = c.finish() {
            bar.abandon();
            return Err(damaged(format!("the content is wrong: {mismatch}")));
        }
        verified.push(algorithm);
    }
    if plan.key.as_ref().is_some_and(|k| k.size().is_some()) {
        verified.push("size".to_owned());
    }
    if store.is_sealed() {
        verified.push("authenticity".to_owned());
    }
    output.commit()?;
    bar.finish_and_clear();
    Ok(Fetched {
        key: plan.key.map(|k| k.to_string()),
        objects: plan.objects.iter().map(|(p, _)| p.to_string()).collect(),
        out: out.to_path_buf(),
        bytes,
        verified: if verified.is_empty() {
            "nothing (the key names no size or digest)".to_owned()
        } else {
            verified.join("+")
        },
    })
}

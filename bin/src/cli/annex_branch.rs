//! What the git-annex branch knows about keys, read with plain git (no git-annex needed):
//! which keys the repository has and where their copies are (the location logs,
//! `<hashdir>/<key>.log`), and how chunked copies were split (the chunk logs,
//! `<hashdir>/<key>.log.cnk`).
//!
//! Formats, as git-annex writes them (newest timestamp wins per field):
//! - location log: `<timestamp>s <1|0|X> <uuid>`: present, absent, dead;
//! - chunk log: `<timestamp>s <uuid>:<chunk size> <chunk count>`; a count of 0 means those
//!   chunks were removed. One key may be stored with several chunk sizes on one remote.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use remote_proto::Key;

use crate::cli::ls::unescape_key;

/// One way a key was chunked on one remote: `count` chunks of `size` bytes (the last shorter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunking {
    /// The nominal chunk size.
    pub size: u64,
    /// How many chunks.
    pub count: u64,
}

/// What the branch says about one key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLogs {
    /// Per repository UUID: whether the location log says it has the content.
    pub present: BTreeMap<String, bool>,
    /// Per repository UUID: the chunkings stored there (count > 0 only).
    pub chunks: BTreeMap<String, Vec<Chunking>>,
}

/// Every key the git-annex branch has a log for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BranchKeys {
    /// By key text.
    pub keys: BTreeMap<String, KeyLogs>,
}

impl BranchKeys {
    /// Reads the branch of the repository at `repo`.
    ///
    /// # Errors
    /// git cannot run, or the repository has no git-annex branch.
    pub fn read(repo: &Path) -> anyhow::Result<BranchKeys> {
        let files = list_logs(repo)?;
        let mut out = BranchKeys::default();
        let contents = cat_files(repo, files.iter().map(|(path, _, _)| path.as_str()))?;
        for ((_, key, kind), text) in files.into_iter().zip(contents) {
            let logs = out.keys.entry(key).or_default();
            match kind {
                LogKind::Location => logs.present = parse_location_log(&text),
                LogKind::Chunk => logs.chunks = parse_chunk_log(&text),
            }
        }
        Ok(out)
    }

    /// Whether the location log says `uuid` has `key`.
    pub fn present_on(&self, key: &str, uuid: &str) -> bool {
        self.keys
            .get(key)
            .and_then(|l| l.present.get(uuid))
            .copied()
            .unwrap_or(false)
    }

    /// How `key` was chunked on `uuid` (empty when it was stored whole, or not at all).
    pub fn chunkings(&self, key: &str, uuid: &str) -> &[Chunking] {
        self.keys
            .get(key)
            .and_then(|l| l.chunks.get(uuid))
            .map_or(&[], Vec::as_slice)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogKind {
    Location,
    Chunk,
}

/// The key logs on the branch: (path, key, kind). Location logs live two directories down
/// (`aaa/bbb/KEY.log`), which tells them from the branch's top-level logs (`uuid.log`, …).
fn list_logs(repo: &Path) -> anyhow::Result<Vec<(String, String, LogKind)>> {
    let out = Command::new("git")
        .args(["ls-tree", "-r", "-z", "--name-only", "git-annex"])
        .current_dir(repo)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run git in {}; is git installed?", repo.display()))?;
    if !out.status.success() {
        bail!(
            "{} has no git-annex branch: {}",
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut logs = Vec::new();
    for path in out.stdout.split(|b| *b == 0) {
        let Ok(path) = std::str::from_utf8(path) else {
            continue;
        };
        if path.split('/').count() != 3 {
            continue;
        }
        let file = path.rsplit('/').next().unwrap_or_default();
        let (name, kind) = if let Some(n) = file.strip_suffix(".log.cnk") {
            (n, LogKind::Chunk)
        } else if let Some(n) = file.strip_suffix(".log") {
            (n, LogKind::Location)
        } else {
            continue;
        };
        if let Some(key) = unescape_key(name).filter(|k| Key::parse(k).is_ok()) {
            logs.push((path.to_owned(), key, kind));
        }
    }
    Ok(logs)
}

/// The contents of `paths` on the git-annex branch, in order, through one `git cat-file
/// --batch` (one process, not one per key).
fn cat_files<'a>(repo: &Path, paths: impl Iterator<Item = &'a str>) -> anyhow::Result<Vec<String>> {
    let request: String = paths.map(|p| format!("git-annex:{p}\n")).collect();
    let mut child = Command::new("git")
        .args(["cat-file", "--batch"])
        .current_dir(repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run git cat-file in {}", repo.display()))?;
    let mut stdin = child.stdin.take().context("git cat-file has no stdin")?;
    // Written from another thread: git answers while we write, and both pipes are bounded.
    let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
    let stdout = child.stdout.take().context("git cat-file has no stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut out = Vec::new();
    let mut header = String::new();
    loop {
        header.clear();
        if reader.read_line(&mut header)? == 0 {
            break;
        }
        // `<sha> blob <size>` or `<name> missing`
        let size: Option<usize> = header
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok());
        let Some(size) = size else {
            out.push(String::new());
            continue;
        };
        let mut body = vec![0u8; size + 1];
        reader
            .read_exact(&mut body)
            .context("git cat-file stopped mid-answer")?;
        body.pop();
        out.push(String::from_utf8_lossy(&body).into_owned());
    }
    let _ = writer.join();
    child.wait().context("git cat-file did not finish")?;
    Ok(out)
}

/// `1700000000.5s` or `1700000000s` → a comparable number (nanosecond precision is not needed:
/// ties go to the later line, as in git-annex's union merge).
fn timestamp(word: &str) -> f64 {
    word.trim_end_matches('s').parse().unwrap_or(0.0)
}

/// Location log: per UUID, whether the newest line says present (`1`).
pub fn parse_location_log(text: &str) -> BTreeMap<String, bool> {
    let mut newest: BTreeMap<String, (f64, bool)> = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(ts), Some(status), Some(uuid)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let ts = timestamp(ts);
        if newest.get(uuid).is_none_or(|(old, _)| *old <= ts) {
            newest.insert(uuid.to_owned(), (ts, status == "1"));
        }
    }
    newest.into_iter().map(|(u, (_, p))| (u, p)).collect()
}

/// Chunk log: per UUID, the chunkings whose newest line has a count above 0.
pub fn parse_chunk_log(text: &str) -> BTreeMap<String, Vec<Chunking>> {
    let mut newest: BTreeMap<(String, u64), (f64, u64)> = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(ts), Some(field), Some(count)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let Some((uuid, size)) = field.rsplit_once(':') else {
            continue;
        };
        let (Ok(size), Ok(count)) = (size.parse::<u64>(), count.parse::<u64>()) else {
            continue;
        };
        let ts = timestamp(ts);
        let slot = (uuid.to_owned(), size);
        if newest.get(&slot).is_none_or(|(old, _)| *old <= ts) {
            newest.insert(slot, (ts, count));
        }
    }
    let mut out: BTreeMap<String, Vec<Chunking>> = BTreeMap::new();
    for ((uuid, size), (_, count)) in newest {
        if count > 0 && size > 0 {
            out.entry(uuid).or_default().push(Chunking { size, count });
        }
    }
    out
}

/// The key of chunk `number` of `key` chunked by `size` (git-annex's chunk keys:
/// `VARIETY-sSIZE[-mMTIME]-SCHUNKSIZE-CNUMBER--NAME`).
///
/// # Errors
/// The result does not parse as a key (cannot happen for a parsed `key`).
pub fn chunk_key(key: &Key, size: u64, number: u64) -> anyhow::Result<Key> {
    let mut text = key.variety().to_owned();
    if let Some(s) = key.size() {
        text.push_str(&format!("-s{s}"));
    }
    if let Some(m) = key.mtime() {
        text.push_str(&format!("-m{m}"));
    }
    text.push_str(&format!("-S{size}-C{number}--{}", key.name()));
    Key::parse(&text).with_context(|| format!("chunk {number} of {key}"))
}

/// Every object a remote may hold for `key`: the whole key, then each chunk key of each
/// chunking the chunk log records on `uuid`.
///
/// # Errors
/// A chunk key cannot be formed.
pub fn object_keys(branch: &BranchKeys, key: &Key, uuid: &str) -> anyhow::Result<Vec<Key>> {
    let mut out = vec![key.clone()];
    for chunking in branch.chunkings(key.as_str(), uuid) {
        for n in 1..=chunking.count {
            out.push(chunk_key(key, chunking.size, n)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_log_newest_line_wins() {
        let log = "1700000000.1s 1 u1\n1700000005s 0 u1\n1700000001s 1 u2\nbad line\n";
        let p = parse_location_log(log);
        assert_eq!(p.get("u1"), Some(&false));
        assert_eq!(p.get("u2"), Some(&true));
    }

    #[test]
    fn chunk_log_keeps_live_chunkings() {
        let log = "1s u1:1048576 3\n2s u1:1048576 0\n3s u1:524288 5\n1s u2:100 2\n";
        let c = parse_chunk_log(log);
        assert_eq!(
            c.get("u1").map(Vec::as_slice),
            Some(
                &[Chunking {
                    size: 524288,
                    count: 5
                }][..]
            )
        );
        assert_eq!(c.get("u2").map(Vec::len), Some(1));
    }

    #[test]
    fn chunk_keys_follow_git_annex_field_order() {
        let key = Key::parse("WORM-s10-m99--a.txt").unwrap();
        assert_eq!(
            chunk_key(&key, 4, 3).unwrap().as_str(),
            "WORM-s10-m99-S4-C3--a.txt"
        );
        let mut branch = BranchKeys::default();
        branch.keys.insert(
            key.as_str().to_owned(),
            KeyLogs {
                present: BTreeMap::new(),
                chunks: [("u".to_owned(), vec![Chunking { size: 4, count: 3 }])]
                    .into_iter()
                    .collect(),
            },
        );
        let all = object_keys(&branch, &key, "u").unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[3].expected_object_len(), Some(2));
    }
}

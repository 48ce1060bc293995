//! The temporary world a remote runs in: a fake repository (its working directory), a store
//! directory deep inside the sandbox, and a snapshot of everything else, so that a remote that
//! writes outside its store is caught.
//!
//! ```text
//! <root>/repo/                      the remote's cwd (`git init`ed); File paths are relative to it
//! <root>/repo/.git/annex/objects/   STORE sources, as git-annex lays them out
//! <root>/repo/.git/annex/tmp/       RETRIEVE destinations
//! <root>/logs/                      one stderr log per test (not part of the snapshot)
//! <root>/outside/1/…/8/store/       `{store}`: the store the remote is given
//! ```
//! The store sits eight directories down so that a key such as
//! `URL--http://x/../../../../etc/evil`, joined naively onto the store path, still lands inside
//! the sandbox, where the snapshot sees it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use remote_proto::Key;
use remote_proto::dirhash::hashdir_mixed;

/// The placeholder for the store directory in `-c` values and `--break`/`--heal` commands.
pub const STORE_PLACEHOLDER: &str = "{store}";
/// The placeholder for the sandbox root.
pub const SANDBOX_PLACEHOLDER: &str = "{sandbox}";

/// The temporary directories of one run.
#[derive(Debug)]
pub struct Sandbox {
    /// Removes the tree when dropped (unless kept with `--keep`).
    _dir: Option<tempfile::TempDir>,
    root: PathBuf,
    repo: PathBuf,
    store: PathBuf,
    logs: PathBuf,
}

/// One entry of a snapshot: a directory, or a file with its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A directory.
    Dir,
    /// A regular file (or anything else) of this many bytes.
    File(u64),
    /// A symbolic link.
    Link,
}

/// The tree under the sandbox root, outside the store and the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot(BTreeMap<PathBuf, Entry>);

impl Sandbox {
    /// Creates a fresh sandbox under the system temp directory. With `keep`, it is left in place
    /// after the run (for debugging) and its path is reported.
    ///
    /// # Errors
    /// When the directories cannot be created.
    pub fn new(keep: bool) -> io::Result<Sandbox> {
        let dir = tempfile::Builder::new()
            .prefix("ferry-conformance-")
            .tempdir()?;
        let root = dir.path().to_path_buf();
        let repo = root.join("repo");
        let mut store = root.join("outside");
        for level in 1..=8 {
            store.push(level.to_string());
        }
        store.push("store");
        let logs = root.join("logs");
        fs::create_dir_all(&repo)?;
        // A real (empty) git repository when git is installed: some remotes run git commands
        // or read git config in their working directory. Without git, the bare layout below
        // is all git-annex's protocol needs.
        let _ = std::process::Command::new("git")
            .args(["init", "-q"])
            .current_dir(&repo)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        for d in [
            &repo.join(".git/annex/objects"),
            &repo.join(".git/annex/tmp"),
            &store,
            &logs,
        ] {
            fs::create_dir_all(d)?;
        }
        let dir = if keep {
            let _ = dir.keep();
            None
        } else {
            Some(dir)
        };
        Ok(Sandbox {
            _dir: dir,
            root,
            repo,
            store,
            logs,
        })
    }

    /// The sandbox root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The fake repository, the remote's working directory.
    pub fn repo(&self) -> &Path {
        &self.repo
    }

    /// The store directory `{store}` stands for.
    pub fn store(&self) -> &Path {
        &self.store
    }

    /// The directory for per-test stderr logs.
    pub fn logs(&self) -> &Path {
        &self.logs
    }

    /// Replaces `{store}` and `{sandbox}` in a `-c` value or a shell command.
    pub fn expand(&self, s: &str) -> String {
        s.replace(STORE_PLACEHOLDER, &self.store.to_string_lossy())
            .replace(SANDBOX_PLACEHOLDER, &self.root.to_string_lossy())
    }

    /// An absolute path for a path relative to the repository.
    pub fn abs(&self, rel: &str) -> PathBuf {
        self.repo.join(rel)
    }

    /// Writes `data` where git-annex keeps `key`'s object in a non-bare repository
    /// (`.git/annex/objects/<hashdirmixed>/<escaped key>/<escaped key>`) and returns that path
    /// relative to the repository, as git-annex puts it in `TRANSFER STORE`.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn object_file(&self, key: &Key, data: &[u8]) -> io::Result<String> {
        let name = key.file_name();
        let rel = format!(".git/annex/objects/{}{name}/{name}", hashdir_mixed(key));
        let abs = self.abs(&rel);
        if let Some(parent) = abs.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&abs, data)?;
        Ok(rel)
    }

    /// Writes `data` to `.git/annex/tmp/<escaped key>`, where git-annex puts chunks and encrypted
    /// content before a STORE, and returns the relative path.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn tmp_source(&self, key: &Key, data: &[u8]) -> io::Result<String> {
        let rel = self.tmp_path(key);
        fs::write(self.abs(&rel), data)?;
        Ok(rel)
    }

    /// The RETRIEVE destination git-annex uses for `key`, relative to the repository. Nothing
    /// is created; any file already there is left alone.
    pub fn tmp_path(&self, key: &Key) -> String {
        format!(".git/annex/tmp/{}", key.file_name())
    }

    /// Records the tree under the root, leaving out the store and the logs.
    pub fn snapshot(&self) -> Snapshot {
        let mut map = BTreeMap::new();
        walk(&self.root, &[&self.store, &self.logs], &mut map);
        Snapshot(map)
    }
}

fn walk(dir: &Path, skip: &[&Path], out: &mut BTreeMap<PathBuf, Entry>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if skip.iter().any(|s| *s == path) {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            out.insert(path, Entry::Link);
        } else if meta.is_dir() {
            out.insert(path.clone(), Entry::Dir);
            walk(&path, skip, out);
        } else {
            out.insert(path, Entry::File(meta.len()));
        }
    }
}

impl Snapshot {
    /// What differs in `after`: added, removed or changed paths, leaving out `allowed` (files
    /// the suite itself asked the remote to write, and their parent directories).
    pub fn changes(&self, after: &Snapshot, allowed: &[PathBuf]) -> Vec<String> {
        let ok = |p: &Path| allowed.iter().any(|a| a == p || a.starts_with(p));
        let mut out = Vec::new();
        for (path, entry) in &after.0 {
            match self.0.get(path) {
                None if !ok(path) => out.push(format!("added {}", path.display())),
                Some(before) if before != entry && !ok(path) => {
                    out.push(format!("changed {}", path.display()))
                }
                _ => {}
            }
        }
        for path in self.0.keys() {
            if !after.0.contains_key(path) && !ok(path) {
                out.push(format!("removed {}", path.display()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sees_writes_outside_the_store_only() {
        let sb = Sandbox::new(false).unwrap();
        let before = sb.snapshot();
        fs::write(sb.store().join("inside"), b"x").unwrap();
        fs::write(sb.logs().join("log"), b"x").unwrap();
        assert!(before.changes(&sb.snapshot(), &[]).is_empty());
        let evil = sb.store().join("../../etc-evil");
        fs::write(&evil, b"x").unwrap();
        let changes = before.changes(&sb.snapshot(), &[]);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(changes[0].contains("etc-evil"));
    }

    #[test]
    fn object_files_live_where_git_annex_puts_them() {
        let sb = Sandbox::new(false).unwrap();
        let key = Key::parse("VURL-s6--http://127.0.0.1:8765/hello.txt").unwrap();
        let rel = sb.object_file(&key, b"hello\n").unwrap();
        assert_eq!(
            rel,
            ".git/annex/objects/6m/Jm/VURL-s6--http&c%%127.0.0.1&c8765%hello.txt/VURL-s6--http&c%%127.0.0.1&c8765%hello.txt"
        );
        assert_eq!(fs::read(sb.abs(&rel)).unwrap(), b"hello\n");
        assert!(sb.expand("{store}/x").ends_with("/8/store/x"));
    }
}

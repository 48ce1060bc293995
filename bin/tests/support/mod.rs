//! Test support: throwaway git-annex repositories that use the ferry binary under test.
//!
//! Every test gets its own temporary directory with a repository, a store, a HOME and a
//! GNUPGHOME, so tests run in parallel without sharing state. git-annex comes from PATH or from
//! the repository's `.venv` (what `scripts/test` installs); a test fails with a clear message
//! when neither has it, rather than skipping.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub mod proto;

/// The directory holding the binaries under test, put first on PATH so that git-annex finds
/// `git-annex-remote-ferry`.
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_git-annex-remote-ferry"))
        .parent()
        .expect("a binary lives in a directory")
        .to_path_buf()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bin/ is inside the workspace")
        .to_path_buf()
}

/// PATH for child processes: the binaries under test, the repo's venv, then the inherited PATH.
pub fn test_path() -> String {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let mut parts = vec![bin_dir()];
        let venv = workspace_root().join(".venv/bin");
        if venv.is_dir() {
            parts.push(venv);
        }
        if let Some(old) = std::env::var_os("PATH") {
            parts.extend(std::env::split_paths(&old));
        }
        let joined = std::env::join_paths(parts).expect("PATH entries have no separators");
        let path = joined.to_string_lossy().into_owned();
        let found = std::env::split_paths(&joined).any(|d| d.join("git-annex").is_file());
        assert!(
            found,
            "git-annex is not installed: run scripts/test, which installs it from PyPI into .venv"
        );
        path
    })
    .clone()
}

/// A git-annex repository in a temporary directory, with a directory store beside it.
pub struct Repo {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub store: PathBuf,
    pub log: PathBuf,
}

impl Repo {
    /// `git init` + `git annex init` in a fresh temporary directory.
    pub fn new() -> Repo {
        let tmp = tempfile::Builder::new()
            .prefix("ferry-it-")
            .tempdir()
            .expect("create a temporary directory");
        let dir = tmp.path().join("repo");
        let store = tmp.path().join("store");
        let log = tmp.path().join("ferry.log");
        std::fs::create_dir_all(&dir).expect("create repo dir");
        std::fs::create_dir_all(&store).expect("create store dir");
        std::fs::create_dir_all(tmp.path().join("home")).expect("create home");
        let gnupg = tmp.path().join("gnupg");
        std::fs::create_dir_all(&gnupg).expect("create gnupg home");
        set_private(&gnupg);
        let repo = Repo {
            tmp,
            dir,
            store,
            log,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.annex(&["init", "-q", "ferry-test"]);
        repo
    }

    /// A command run in the repository with the test environment.
    pub fn command<S: AsRef<OsStr>>(&self, program: &str, args: &[S]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(&self.dir)
            .env("PATH", test_path())
            .env("HOME", self.tmp.path().join("home"))
            .env("GNUPGHOME", self.tmp.path().join("gnupg"))
            .env("GIT_AUTHOR_NAME", "ferry")
            .env("GIT_AUTHOR_EMAIL", "ferry@example.invalid")
            .env("GIT_COMMITTER_NAME", "ferry")
            .env("GIT_COMMITTER_EMAIL", "ferry@example.invalid")
            // A passphrase in the developer's environment must not unlock test remotes.
            .env_remove("FERRY_PASSPHRASE")
            .env_remove("FERRY_PASSPHRASE_FILE")
            .env("FERRY_LOG_FILE", &self.log)
            .env(
                "FERRY_LOG",
                "ferry=debug,remote_proto=debug,ferry_backends=debug",
            )
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `git ARGS`, panicking with its output when it fails.
    pub fn git(&self, args: &[&str]) -> Output {
        run_ok(self.command("git", args))
    }

    /// Runs `git annex ARGS`, panicking with its output when it fails.
    pub fn annex<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        // git-annex itself, not `git annex`: git would run it as a child that outlives a kill.
        run_ok(self.command("git-annex", args))
    }

    /// Runs `git annex ARGS` and returns its output whatever the exit status.
    pub fn annex_status<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.command("git-annex", args)
            .output()
            .expect("run git-annex")
    }

    /// Writes a file into the work tree (creating directories).
    pub fn write(&self, name: &str, content: &[u8]) {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::fs::write(path, content).expect("write work-tree file");
    }

    /// `git annex add` + commit of everything in the work tree.
    pub fn add_all(&self) {
        self.annex(&["add", "-q", "."]);
        self.git(&["commit", "-q", "-m", "add files"]);
    }

    /// `git annex initremote NAME type=external externaltype=ferry directory=STORE ...`.
    pub fn init_ferry(&self, name: &str, params: &[&str]) {
        run_ok(self.initremote_command(name, &self.store, params));
    }

    /// The `git annex initremote` of a ferry remote `name` on the directory `store`, with
    /// `params` (and `encryption=none` unless they say otherwise), for a caller to add to.
    pub fn initremote_command(&self, name: &str, store: &Path, params: &[&str]) -> Command {
        let dir = format!("directory={}", store.display());
        let mut args = vec![
            "initremote",
            name,
            "type=external",
            "externaltype=ferry",
            dir.as_str(),
        ];
        if !params.iter().any(|p| p.starts_with("encryption=")) {
            args.push("encryption=none");
        }
        args.extend_from_slice(params);
        self.command("git-annex", &args)
    }

    /// The annex key of a file in the work tree.
    pub fn key_of(&self, file: &str) -> String {
        let out = self.annex(&["lookupkey", file]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Every regular file under the store (relative paths), sorted, but for ferry's store
    /// marker.
    pub fn store_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.store, &self.store, &mut out);
        out.retain(|f| f != ".ferry-store");
        out.sort();
        out
    }

    /// The ferry log written by every remote process of this repository.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

fn set_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .expect("chmod 700 gnupg home");
}

/// Runs a command and panics with everything it printed when it fails.
pub fn run_ok(mut cmd: Command) -> Output {
    let out = cmd.output().expect("start command");
    assert!(
        out.status.success(),
        "{:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        cmd,
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Deterministic pseudo-random bytes (xorshift), so content differs per file without a rand dep.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stdout and stderr as one text, for asserting on messages.
pub fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `git annex testremote` (`--fast` when asked) and asserts that every test passed:
/// a full run is 573 tests with git-annex 10.20261026, `--fast` 125.
pub fn testremote_passes(repo: &Repo, remote: &str, fast: bool) -> Output {
    let mut args = vec!["testremote", remote];
    if fast {
        args.push("--fast");
    }
    let out = repo.annex_status(&args);
    let text = all_output(&out);
    let expected = if fast {
        "All 125 tests passed"
    } else {
        "All 573 tests passed"
    };
    assert!(
        out.status.success() && text.contains(expected),
        "testremote {remote} failed (expected `{expected}`):\n{text}"
    );
    out
}

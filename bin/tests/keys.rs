//! `ferry keygen`, `export-key`, `unlock` and `decrypt`, on repositories whose git-annex branch
//! is written with plain git (these commands never need git-annex), and sealed objects made
//! with ferry-crypto directly.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ferry_crypto::{Algorithm, KeyToken, Mac, MasterKey, seal};

use crate::support::{all_output, pseudo_random, run_ok};

/// A git repository (no git-annex) whose `git-annex` branch holds files we write.
pub struct GitOnly {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl GitOnly {
    pub fn new() -> GitOnly {
        let tmp = tempfile::Builder::new()
            .prefix("ferry-keys-")
            .tempdir()
            .expect("create a temporary directory");
        let dir = tmp.path().join("repo");
        std::fs::create_dir_all(&dir).expect("create repo dir");
        let repo = GitOnly { tmp, dir };
        run_ok(repo.git(&["init", "-q", "-b", "main"]));
        repo
    }

    pub fn git(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.args(args)
            .current_dir(&self.dir)
            .env("GIT_AUTHOR_NAME", "ferry")
            .env("GIT_AUTHOR_EMAIL", "ferry@example.invalid")
            .env("GIT_COMMITTER_NAME", "ferry")
            .env("GIT_COMMITTER_EMAIL", "ferry@example.invalid")
            .stdin(Stdio::null());
        cmd
    }

    /// Replaces the git-annex branch with one commit holding `files` (path, content).
    pub fn write_annex_branch(&self, files: &[(String, String)]) {
        let index = self.tmp.path().join("annex-index");
        let _ = std::fs::remove_file(&index);
        for (path, content) in files {
            let mut hash = self.git(&["hash-object", "-w", "--stdin"]);
            hash.stdin(Stdio::piped()).stdout(Stdio::piped());
            let mut child = hash.spawn().expect("run git hash-object");
            std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), content.as_bytes())
                .expect("feed git hash-object");
            let out = child.wait_with_output().expect("git hash-object");
            let blob = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let mut add = self.git(&[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("100644,{blob},{path}"),
            ]);
            add.env("GIT_INDEX_FILE", &index);
            run_ok(add);
        }
        let mut write = self.git(&["write-tree"]);
        write.env("GIT_INDEX_FILE", &index);
        let tree = String::from_utf8_lossy(&run_ok(write).stdout)
            .trim()
            .to_owned();
        let commit = run_ok(self.git(&["commit-tree", &tree, "-m", "git-annex branch"]));
        let commit = String::from_utf8_lossy(&commit.stdout).trim().to_owned();
        run_ok(self.git(&["update-ref", "refs/heads/git-annex", &commit]));
    }

    /// Runs ferry in the repository with a clean key environment plus `env`.
    pub fn ferry(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env_remove("FERRY_KEY_FILE")
            .env_remove("FERRY_PASSPHRASE")
            .env_remove("FERRY_PASSPHRASE_FILE")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run ferry")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

/// One `remote.log` line for a ferry directory remote.
pub fn remote_line(uuid: &str, name: &str, store: &Path, extra: &str) -> String {
    format!(
        "{uuid} directory={} encryption=none externaltype=ferry layout=lower name={name} type=external {extra} timestamp=1700000000s\n",
        store.display()
    )
}

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", all_output(out)))
}

#[test]
fn keygen_export_key_and_unlock() {
    let repo = GitOnly::new();
    let pass = repo.path("pass");
    std::fs::write(&pass, "correct horse\n").expect("write passphrase file");
    let wrong = repo.path("wrong");
    std::fs::write(&wrong, "wrong horse\n").expect("write passphrase file");

    // Plain key to a file: mode 0600, the id printed, the warning on stderr.
    let key = repo.path("plain.key");
    let out = repo.ferry(&["keygen", "--out", key.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(mode(&key), 0o600);
    let text = std::fs::read_to_string(&key).expect("read key");
    let Ok(KeyToken::Plain(master)) = KeyToken::parse(text.trim()) else {
        panic!("not a plain token: {text}");
    };
    let shown = all_output(&out);
    assert!(shown.contains(&master.key_id().to_string()), "{shown}");
    assert!(
        shown.contains("KEEP THIS KEY SAFE") && shown.contains("anyone who can read that"),
        "{shown}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ferry1:"));

    // Never replaced silently; never to stdout without asking.
    let again = repo.ferry(&["keygen", "--out", key.to_str().unwrap()], &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(all_output(&again).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&key).expect("read key"), text);
    assert!(!repo.ferry(&["keygen"], &[]).status.success());
    let to_stdout = repo.ferry(&["keygen", "--stdout"], &[]);
    assert!(to_stdout.status.success(), "{}", all_output(&to_stdout));
    let printed = String::from_utf8_lossy(&to_stdout.stdout);
    assert!(
        matches!(KeyToken::parse(printed.trim()), Ok(KeyToken::Plain(_))),
        "{printed}"
    );

    // A passphrase-wrapped key; no passphrase and no terminal is a clear error.
    let none = repo.ferry(&["keygen", "--passphrase", "--out", "x"], &[]);
    assert_eq!(none.status.code(), Some(2));
    assert!(all_output(&none).contains("FERRY_PASSPHRASE_FILE"));
    let wrapped_file = repo.path("wrapped.key");
    let out = repo.ferry(
        &[
            "keygen",
            "--passphrase",
            "--argon2-memory-kib",
            "65536",
            "--json",
            "--out",
            wrapped_file.to_str().unwrap(),
        ],
        &[("FERRY_PASSPHRASE_FILE", &pass)],
    );
    assert!(out.status.success(), "{}", all_output(&out));
    let made = json(&out);
    assert_eq!(made["kind"], "argon2id");
    assert!(made["token"].is_null(), "{made}");
    assert!(all_output(&out).contains("REMEMBER ITS PASSPHRASE"));
    let wrapped_token = std::fs::read_to_string(&wrapped_file)
        .expect("read")
        .trim()
        .to_owned();
    let Ok(KeyToken::Wrapped(wrapped)) = KeyToken::parse(&wrapped_token) else {
        panic!("not wrapped: {wrapped_token}");
    };
    let inner = wrapped
        .unlock(b"correct horse")
        .expect("the passphrase unwraps it");
    let key_id = inner.key_id().to_string();
    assert_eq!(made["key_id"], key_id.as_str());

    let store = repo.path("store");
    let mut log = remote_line(
        "ee000000-0000-4000-8000-000000000001",
        "enc",
        &store,
        &format!("ferry_encryption=aes256gcm ferry_key={wrapped_token} ferry_keyid={key_id}"),
    );
    log += &remote_line(
        "ee000000-0000-4000-8000-000000000002",
        "stale",
        &store,
        &format!(
            "ferry_encryption=aes256gcm ferry_key={wrapped_token} ferry_keyid=0000000000000000"
        ),
    );
    log += &remote_line("ee000000-0000-4000-8000-000000000003", "nas", &store, "");
    repo.write_annex_branch(&[("remote.log".to_owned(), log)]);

    let exported = repo.ferry(&["export-key", "--remote", "enc", "--json"], &[]);
    assert!(exported.status.success(), "{}", all_output(&exported));
    let e = json(&exported);
    assert_eq!(e["token"], wrapped_token.as_str());
    assert_eq!(e["kind"], "argon2id");
    assert_eq!(e["key_id"], key_id.as_str());
    assert!(all_output(&exported).contains("passphrase"));
    let no_key = repo.ferry(&["export-key", "--remote", "nas"], &[]);
    assert_eq!(no_key.status.code(), Some(2));
    assert!(
        all_output(&no_key).contains("has no ferry_key"),
        "{}",
        all_output(&no_key)
    );

    // unlock: a wrong passphrase writes nothing; the right one writes the cache.
    let cache = repo
        .dir
        .join(".git/annex/ferry/keys/ee000000-0000-4000-8000-000000000001");
    let bad = repo.ferry(
        &["unlock", "--remote", "enc"],
        &[("FERRY_PASSPHRASE_FILE", &wrong)],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        all_output(&bad).contains("wrong passphrase"),
        "{}",
        all_output(&bad)
    );
    assert!(!cache.exists());
    let stale = repo.ferry(
        &["unlock", "--remote", "stale"],
        &[("FERRY_PASSPHRASE_FILE", &pass)],
    );
    assert_eq!(stale.status.code(), Some(2));
    assert!(
        all_output(&stale).contains("ferry_keyid is 0000000000000000"),
        "{}",
        all_output(&stale)
    );
    let ok = repo.ferry(
        &["unlock", "--remote", "enc", "--json"],
        &[("FERRY_PASSPHRASE_FILE", &pass)],
    );
    assert!(ok.status.success(), "{}", all_output(&ok));
    assert_eq!(json(&ok)["key_id"], key_id.as_str());
    assert_eq!(mode(&cache), 0o600);
    let cached = std::fs::read_to_string(&cache).expect("read cache");
    assert_eq!(
        cached,
        format!("{}\n", inner.to_plain_token().expose().as_str())
    );
}

#[test]
fn decrypt_recovers_an_object_and_refuses_wrong_keys_and_tampering() {
    let repo = GitOnly::new();
    let master = MasterKey::generate().expect("key");
    let key_file = repo.path("key");
    std::fs::write(
        &key_file,
        format!("{}\n", master.to_plain_token().expose().as_str()),
    )
    .expect("write key");
    let other = repo.path("other.key");
    std::fs::write(
        &other,
        MasterKey::generate()
            .expect("key")
            .to_plain_token()
            .expose()
            .as_str(),
    )
    .expect("write key");

    let content = pseudo_random(7, 200_000);
    let name = master
        .name_key(Mac::HmacSha256)
        .object_name(b"SHA256E-s200000--x.bin");
    let object = repo.path(&name);
    std::fs::write(
        &object,
        seal(&master, &name, Algorithm::Aes256Gcm, &content).expect("seal"),
    )
    .expect("write object");
    let obj = object.to_str().unwrap();
    let out = repo.path("out.bin");
    let out_s = out.to_str().unwrap();

    let missing = repo.ferry(&["decrypt", obj, "--out", out_s], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        all_output(&missing).contains("FERRY_KEY_FILE"),
        "{}",
        all_output(&missing)
    );

    let wrong = repo.ferry(
        &["decrypt", obj, "--out", out_s],
        &[("FERRY_KEY_FILE", &other)],
    );
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        all_output(&wrong).contains("different master key"),
        "{}",
        all_output(&wrong)
    );
    assert!(!out.exists());

    let ok = repo.ferry(
        &["decrypt", obj, "--out", out_s, "--json"],
        &[("FERRY_KEY_FILE", &key_file)],
    );
    assert!(ok.status.success(), "{}", all_output(&ok));
    assert_eq!(json(&ok)["bytes"], 200_000);
    assert_eq!(std::fs::read(&out).expect("read out"), content);

    // Renamed: the name is part of the encryption, so it must be given.
    let renamed = repo.path("photo.bin");
    std::fs::copy(&object, &renamed).expect("copy");
    let out2 = repo.path("out2.bin");
    let no_name = repo.ferry(
        &[
            "decrypt",
            renamed.to_str().unwrap(),
            "--out",
            out2.to_str().unwrap(),
        ],
        &[("FERRY_KEY_FILE", &key_file)],
    );
    assert!(
        all_output(&no_name).contains("--name"),
        "{}",
        all_output(&no_name)
    );
    let named = repo.ferry(
        &[
            "decrypt",
            renamed.to_str().unwrap(),
            "--name",
            &name,
            "--out",
            out2.to_str().unwrap(),
        ],
        &[("FERRY_KEY_FILE", &key_file)],
    );
    assert!(named.status.success(), "{}", all_output(&named));

    // One flipped bit in the third segment: refused, and no output file left behind.
    let mut sealed = std::fs::read(&object).expect("read object");
    sealed[52 + 2 * (65536 + 16) + 10] ^= 0x20;
    std::fs::write(&object, &sealed).expect("tamper");
    let out3 = repo.path("out3.bin");
    let tampered = repo.ferry(
        &["decrypt", obj, "--out", out3.to_str().unwrap()],
        &[("FERRY_KEY_FILE", &key_file)],
    );
    assert_eq!(tampered.status.code(), Some(2));
    let text = all_output(&tampered);
    assert!(
        text.contains("segment 2 failed authentication") && text.contains("nothing was written"),
        "{text}"
    );
    assert!(!out3.exists());
    let leftovers: Vec<_> = std::fs::read_dir(repo.tmp.path())
        .expect("list")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".ferry-out"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn locate_json_lists_every_layout() {
    let repo = GitOnly::new();
    let key = "SHA256E-s12--a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447.txt";
    let out = repo.ferry(&["locate", "--json", "--prefix", "annex", key], &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    let located = json(&out);
    let entries = located.as_array().expect("a list");
    assert_eq!(entries.len(), 5, "{located}");
    assert_eq!(entries[0]["layout"], "lower");
    assert_eq!(entries[0]["path"], format!("annex/e7d/d01/{key}").as_str());
    assert!(entries.iter().all(|e| e["key"] == key));
}

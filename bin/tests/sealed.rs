//! `ferry get`, `verify` and `ls` on an encrypted store: objects sealed with ferry-crypto under
//! HMAC names laid out as keys, described by a hand-written git-annex branch (remote.log,
//! location and chunk logs), so these run without git-annex; then the same commands against
//! what the remote itself stored through real git-annex, which pins that both name and seal
//! objects alike.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use ferry_backends::layout::{Layout, object_path};
use ferry_crypto::{Algorithm, Mac, MasterKey, seal};
use remote_proto::Key;
use remote_proto::dirhash::hashdir_lower;
use sha2::Digest as _;

use crate::keys::{GitOnly, json, mode, remote_line};
use crate::support::{Repo, all_output, pseudo_random, run_ok, stdout};

fn sha256e_key(content: &[u8], ext: &str) -> Key {
    let hex: String = sha2::Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Key::parse(&format!("SHA256E-s{}--{hex}{ext}", content.len())).expect("a valid key")
}

fn chunk_key(key: &Key, size: u64, n: u64) -> Key {
    Key::parse(&format!(
        "{}-s{}-S{size}-C{n}--{}",
        key.variety(),
        key.size().expect("sized"),
        key.name()
    ))
    .expect("a valid chunk key")
}

/// Seals `content` as the object of `key` in the directory store `store`; returns its path.
fn put_sealed(store: &Path, master: &MasterKey, key: &Key, content: &[u8]) -> std::path::PathBuf {
    let name = master
        .name_key(Mac::HmacSha256)
        .object_name(key.as_str().as_bytes());
    let rel = object_path(
        Layout::Lower,
        None,
        &Key::parse(&name).expect("names are keys"),
    )
    .expect("a path");
    let path = store.join(rel.as_str());
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(
        &path,
        seal(master, &name, Algorithm::ChaCha20Poly1305, content).expect("seal"),
    )
    .expect("write object");
    path
}

fn log_path(key: &Key, suffix: &str) -> String {
    format!("{}{}{suffix}", hashdir_lower(key), key.file_name())
}

#[test]
fn get_verify_and_ls_on_an_encrypted_store() {
    let repo = GitOnly::new();
    let store = repo.path("store");
    std::fs::create_dir_all(&store).expect("mkdir store");
    std::fs::write(store.join(".ferry-store"), "ferry store\n").expect("marker");
    let master = MasterKey::generate().expect("key");
    let token = master.to_plain_token().expose().as_str().to_owned();
    let key_file = repo.path("key");
    std::fs::write(&key_file, &token).expect("write key");

    let small = b"hello, sealed world\n".to_vec();
    let k1 = sha256e_key(&small, ".txt");
    put_sealed(&store, &master, &k1, &small);
    let big = pseudo_random(3, 250_000);
    let k2 = sha256e_key(&big, ".bin");
    let mut chunk_paths = Vec::new();
    for (i, part) in big.chunks(100_000).enumerate() {
        let ck = chunk_key(&k2, 100_000, i as u64 + 1);
        chunk_paths.push(put_sealed(&store, &master, &ck, part));
    }
    // Counted on the remote by git-annex, but not in the store.
    let k3 = sha256e_key(b"lost", ".txt");

    let present = "1700000000s 1 ee000000-0000-4000-8000-000000000001\n".to_owned();
    let log = remote_line(
        "ee000000-0000-4000-8000-000000000001",
        "enc",
        &store,
        &format!(
            "ferry_encryption=chacha20poly1305 ferry_mac=HMACSHA256 ferry_key={token} ferry_keyid={}",
            master.key_id()
        ),
    );
    repo.write_annex_branch(&[
        ("remote.log".to_owned(), log),
        (log_path(&k1, ".log"), present.clone()),
        (log_path(&k2, ".log"), present.clone()),
        (
            log_path(&k2, ".log.cnk"),
            "1700000000s ee000000-0000-4000-8000-000000000001:100000 3\n".to_owned(),
        ),
        (log_path(&k3, ".log"), present),
    ]);

    // get: a whole key, and a chunked one put back together.
    let a = repo.path("a.txt");
    let out = repo.ferry(
        &[
            "get",
            k1.as_str(),
            "--remote",
            "enc",
            "--out",
            a.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", all_output(&out));
    let fetched: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(fetched["verified"], "sha256e+size+authenticity");
    assert_eq!(std::fs::read(&a).expect("read"), small);
    let b = repo.path("b.bin");
    let out = repo.ferry(
        &[
            "get",
            k2.as_str(),
            "--remote",
            "enc",
            "--out",
            b.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", all_output(&out));
    let fetched: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(fetched["objects"].as_array().map(Vec::len), Some(3));
    assert_eq!(std::fs::read(&b).expect("read"), big);

    // ls maps every HMAC name back to its key.
    let ls = repo.ferry(&["ls", "enc", "--json"], &[]);
    assert!(ls.status.success(), "{}", all_output(&ls));
    let listed: serde_json::Value = serde_json::from_slice(&ls.stdout).expect("JSON");
    let mut keys: Vec<String> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["key"].as_str().expect("every object mapped").to_owned())
        .collect();
    keys.sort();
    let mut want = vec![k1.to_string()];
    want.extend((1..=3).map(|n| chunk_key(&k2, 100_000, n).to_string()));
    want.sort();
    assert_eq!(keys, want);

    // verify: everything authentic; the one missing key is the one problem.
    let v = repo.ferry(&["verify", "--remote", "enc", "--json"], &[]);
    assert_eq!(v.status.code(), Some(1), "{}", all_output(&v));
    let report: serde_json::Value = serde_json::from_slice(&v.stdout).expect("JSON");
    assert_eq!(report["ok"], 4, "{report}");
    let problems = report["problems"].as_array().expect("list");
    assert_eq!(problems.len(), 1, "{report}");
    assert_eq!(problems[0]["key"], k3.as_str());
    assert!(
        problems[0]["fix"]
            .as_str()
            .is_some_and(|f| f.contains("git annex fsck --from enc --fast")),
        "{report}"
    );

    // Tamper with chunk 2: verify names the key, get refuses and writes nothing.
    let mut sealed = std::fs::read(&chunk_paths[1]).expect("read chunk");
    sealed[60] ^= 1;
    std::fs::write(&chunk_paths[1], &sealed).expect("tamper");
    let v = repo.ferry(&["verify", "--remote", "enc", "--json"], &[]);
    assert_eq!(v.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&v.stdout).expect("JSON");
    let text = report.to_string();
    assert!(
        text.contains(k2.as_str()) && text.contains("failed authentication"),
        "{text}"
    );
    let c = repo.path("c.bin");
    let bad = repo.ferry(
        &[
            "get",
            k2.as_str(),
            "--remote",
            "enc",
            "--out",
            c.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(all_output(&bad).contains("damaged"), "{}", all_output(&bad));
    assert!(!c.exists());

    // Without the repository: the store's settings as flags, the key from a file.
    let d = repo.path("d.txt");
    let secret_on_argv = repo.ferry(
        &[
            "get",
            k1.as_str(),
            "--directory",
            store.to_str().unwrap(),
            "-c",
            &format!("ferry_key={token}"),
            "--out",
            d.to_str().unwrap(),
        ],
        &[],
    );
    assert!(all_output(&secret_on_argv).contains("--key-file"));
    let flags = repo.ferry(
        &[
            "get",
            k1.as_str(),
            "--directory",
            store.to_str().unwrap(),
            "-c",
            "ferry_encryption=chacha20poly1305",
            "--out",
            d.to_str().unwrap(),
        ],
        &[("FERRY_KEY_FILE", &key_file)],
    );
    assert!(flags.status.success(), "{}", all_output(&flags));
    assert_eq!(std::fs::read(&d).expect("read"), small);
    // Sealed chunks are scattered under unrelated names: only the chunk size finds them.
    let f = repo.path("f.txt");
    let store_s = store.to_str().unwrap();
    let enc = "ferry_encryption=chacha20poly1305";
    let chunked = |extra: &[&str]| {
        let mut args = vec!["get", k2.as_str(), "--directory", store_s, "-c", enc];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", f.to_str().unwrap()]);
        repo.ferry(&args, &[("FERRY_KEY_FILE", &key_file)])
    };
    let without = chunked(&[]);
    assert!(
        all_output(&without).contains("-c chunk="),
        "{}",
        all_output(&without)
    );
    // Chunk 2 was tampered with above, so even with the right size the key is refused.
    let with = chunked(&["-c", "chunk=100000"]);
    assert!(
        all_output(&with).contains("damaged"),
        "{}",
        all_output(&with)
    );
    assert!(!f.exists());

    // decrypt with the remote's key, from a copied-out object.
    let copied = repo.path("copied");
    std::fs::create_dir_all(&copied).expect("mkdir");
    let name = master
        .name_key(Mac::HmacSha256)
        .object_name(k1.as_str().as_bytes());
    let found = walk_find(&store, &name).expect("the object is in the store");
    std::fs::copy(&found, copied.join(&name)).expect("copy out");
    let e = repo.path("e.txt");
    let dec = repo.ferry(
        &[
            "decrypt",
            copied.join(&name).to_str().unwrap(),
            "--remote",
            "enc",
            "--out",
            e.to_str().unwrap(),
        ],
        &[],
    );
    assert!(dec.status.success(), "{}", all_output(&dec));
    assert_eq!(std::fs::read(&e).expect("read"), small);
}

fn walk_find(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = walk_find(&path, name) {
                return Some(found);
            }
        } else if entry.file_name().to_string_lossy() == name {
            return Some(path);
        }
    }
    None
}

// ---- against what the remote itself stored, through real git-annex ----

/// `ferry ARGS` in `repo` with the test environment (no passphrase, no key file) plus `env`.
fn ferry_in(repo: &Repo, args: &[&str], env: &[(&str, &OsStr)]) -> Output {
    let mut cmd = repo.command(env!("CARGO_BIN_EXE_ferry"), args);
    cmd.env_remove("FERRY_KEY_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run ferry")
}

fn ferry_ok(repo: &Repo, args: &[&str], env: &[(&str, &OsStr)]) -> Output {
    let out = ferry_in(repo, args, env);
    assert!(
        out.status.success(),
        "ferry {args:?}:\n{}",
        all_output(&out)
    );
    out
}

/// `ferry ls NAME --json`: each object's key, by path.
fn listed_keys(repo: &Repo, remote: &str) -> BTreeMap<String, String> {
    let listed = json(&ferry_ok(repo, &["ls", remote, "--json"], &[]));
    listed
        .as_array()
        .expect("ls --json is an array")
        .iter()
        .map(|o| {
            let path = o["path"].as_str().expect("a path").to_owned();
            let key = o["key"]
                .as_str()
                .unwrap_or_else(|| panic!("no key for {path}"));
            (path, key.to_owned())
        })
        .collect()
}

#[test]
fn ls_get_verify_and_decrypt_read_what_the_remote_stored() {
    let repo = Repo::new();
    repo.init_ferry("enc", &["ferry_encryption=aes256gcm", "fsync=no"]);
    let chunked = repo.tmp.path().join("store-chunked");
    std::fs::create_dir_all(&chunked).expect("mkdir");
    run_ok(repo.initremote_command(
        "encc",
        &chunked,
        &[
            "ferry_encryption=chacha20poly1305",
            "chunk=64KiB",
            "fsync=no",
        ],
    ));
    let files: [(&str, Vec<u8>); 3] = [
        ("a.txt", b"first file, small\n".to_vec()),
        ("b.bin", pseudo_random(11, 200_000)),
        ("c.txt", pseudo_random(12, 70_000)),
    ];
    for (name, content) in &files {
        repo.write(name, content);
    }
    repo.add_all();
    repo.annex(&["copy", "-q", "--to", "enc", "."]);
    repo.annex(&["copy", "-q", "--to", "encc", "b.bin"]);
    let keys: BTreeMap<&str, String> = files.iter().map(|(n, _)| (*n, repo.key_of(n))).collect();

    // ls: HMAC names on the store, mapped back to the keys git-annex stored.
    let enc = listed_keys(&repo, "enc");
    let mut found: Vec<&String> = enc.values().collect();
    found.sort();
    let mut expected: Vec<&String> = keys.values().collect();
    expected.sort();
    assert_eq!(found, expected);
    for path in enc.keys() {
        let name = path.rsplit('/').next().expect("a name");
        assert!(name.starts_with("FERRYHMACSHA256--"), "{path}");
        assert!(keys.values().all(|k| !path.contains(k.as_str())), "{path}");
    }
    let encc = listed_keys(&repo, "encc");
    // 200,000 bytes in 64 KiB chunks: four chunk keys of b.bin.
    let mut chunks: Vec<&String> = encc.values().collect();
    chunks.sort();
    let b_key = Key::parse(&keys["b.bin"]).expect("a key");
    let want: Vec<String> = (1..=4)
        .map(|n| chunk_key(&b_key, 65_536, n).to_string())
        .collect();
    assert_eq!(chunks, want.iter().collect::<Vec<_>>());

    // get: whole and chunked keys, decrypted and checked.
    let out_dir = repo.tmp.path().join("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    for (remote, name) in [("enc", "c.txt"), ("encc", "b.bin")] {
        let dest = out_dir.join(format!("{remote}-{name}"));
        let d = dest.to_str().expect("utf-8");
        ferry_ok(
            &repo,
            &["get", &keys[name], "--remote", remote, "--out", d],
            &[],
        );
        let content = &files.iter().find(|(n, _)| *n == name).expect("a file").1;
        assert_eq!(
            &std::fs::read(&dest).expect("read"),
            content,
            "{remote} {name}"
        );
    }

    // verify: all good, then one flipped byte is caught and named.
    for remote in ["enc", "encc"] {
        let report = json(&ferry_ok(
            &repo,
            &["verify", "--remote", remote, "--json"],
            &[],
        ));
        assert_eq!(report["problems"], serde_json::json!([]), "{report}");
        assert_eq!(report["unknown"], serde_json::json!([]), "{report}");
    }
    let (c_path, _) = enc
        .iter()
        .find(|(_, k)| **k == keys["c.txt"])
        .expect("c.txt is listed");
    let object = repo.store.join(c_path);
    let mut bytes = std::fs::read(&object).expect("read object");
    let pristine = bytes.clone();
    bytes[1000] ^= 0x01;
    std::fs::write(&object, &bytes).expect("tamper");
    let bad = ferry_in(&repo, &["verify", "--remote", "enc", "--json"], &[]);
    assert_eq!(bad.status.code(), Some(1), "{}", all_output(&bad));
    let report = json(&bad);
    let problems = report["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{report}");
    assert_eq!(problems[0]["key"], keys["c.txt"].as_str(), "{report}");
    assert_eq!(report["ok"], 2, "{report}");
    std::fs::write(&object, &pristine).expect("restore");

    // Recovery without git-annex: the exported key and one object copied out of the store.
    let key_file = repo.tmp.path().join("enc.key");
    let k = key_file.to_str().expect("utf-8");
    ferry_ok(&repo, &["export-key", "--remote", "enc", "--out", k], &[]);
    let copied = out_dir.join(c_path.rsplit('/').next().expect("a name"));
    std::fs::copy(&object, &copied).expect("copy the object out");
    let plain = out_dir.join("c-recovered.txt");
    let mut decrypt = repo.command(
        env!("CARGO_BIN_EXE_ferry"),
        &[
            OsStr::new("decrypt"),
            copied.as_os_str(),
            OsStr::new("--out"),
            plain.as_os_str(),
        ],
    );
    // Outside any repository: only the key file is needed.
    decrypt
        .current_dir(&out_dir)
        .env("FERRY_KEY_FILE", &key_file);
    let out = decrypt.output().expect("run ferry decrypt");
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(std::fs::read(&plain).expect("read"), files[2].1);
}

#[test]
fn unlock_lets_git_annex_use_a_passphrase_remote_without_the_passphrase() {
    let repo = Repo::new();
    let pass = OsStr::new("correct horse battery staple");
    let mut init = repo.initremote_command(
        "safe",
        &repo.store,
        &[
            "ferry_encryption=aes256gcm",
            "ferry_passphrase=yes",
            "fsync=no",
        ],
    );
    init.env("FERRY_PASSPHRASE", pass);
    run_ok(init);
    let content = pseudo_random(21, 100_000);
    repo.write("p.bin", &content);
    repo.add_all();

    // Locked: the ferry command, like the remote, says how to unlock (no terminal to ask on).
    let locked = ferry_in(&repo, &["verify", "--remote", "safe"], &[]);
    assert_eq!(locked.status.code(), Some(2), "{}", all_output(&locked));
    assert!(
        all_output(&locked).contains("ferry unlock --remote safe"),
        "{}",
        all_output(&locked)
    );

    // Argon2id once, here; git-annex's remote processes then read the cache.
    let unlocked = json(&ferry_ok(
        &repo,
        &["unlock", "--remote", "safe", "--json"],
        &[("FERRY_PASSPHRASE", pass)],
    ));
    let cache = Path::new(unlocked["cache"].as_str().expect("a cache file")).to_owned();
    assert_eq!(mode(&cache), 0o600);
    let uuid = stdout(&repo.git(&["config", "remote.safe.annex-uuid"]));
    assert!(
        cache.ends_with(Path::new("annex/ferry/keys").join(uuid.trim())),
        "{cache:?}"
    );
    let export = json(&ferry_ok(
        &repo,
        &["export-key", "--remote", "safe", "--json"],
        &[],
    ));
    assert_eq!(unlocked["key_id"], export["key_id"]);

    repo.annex(&["copy", "-q", "--to", "safe", "p.bin"]);
    repo.annex(&["drop", "-q", "p.bin"]);
    repo.annex(&["get", "-q", "p.bin"]);
    assert_eq!(
        std::fs::read(repo.dir.join("p.bin")).expect("read"),
        content
    );
    // The ferry command reads the same cache.
    let report = json(&ferry_ok(
        &repo,
        &["verify", "--remote", "safe", "--json"],
        &[],
    ));
    assert_eq!(report["ok"], 1, "{report}");
}

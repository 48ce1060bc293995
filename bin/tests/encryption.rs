//! ferry's own encryption (`ferry_encryption=`) end to end: git-annex's testremote, everyday
//! commands, what the store holds, enableremote, refusals, passphrase mode, and every attack of
//! shared/crypto-format.md §6.5 made on the store and seen through the protocol.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ferry_backends::layout::{Layout, object_path};
use ferry_crypto::{KeyToken, Mac, MasterKey};
use remote_proto::Key;

use crate::support::proto::RemoteProcess;
use crate::support::{Repo, all_output, pseudo_random, stdout, testremote_passes};

const S: usize = 64 * 1024;
const SEALED_SEGMENT: usize = S + 16;
const HEADER: usize = 52;

// ---- helpers ----

/// The remote.log line of the remote called `name`.
fn remote_log_line(repo: &Repo, name: &str) -> String {
    let log = stdout(&repo.git(&["show", "git-annex:remote.log"]));
    log.lines()
        .find(|l| l.split_whitespace().any(|w| w == format!("name={name}")))
        .unwrap_or_else(|| panic!("no remote {name} in remote.log:\n{log}"))
        .to_owned()
}

/// A field of a remote.log line.
fn field(line: &str, key: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .map(str::to_owned)
}

/// Every file under `dir` with its content, but for the store marker.
fn store_contents(store: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).expect("read store dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.file_name().is_some_and(|n| n != ".ferry-store") {
                let rel = path.strip_prefix(root).expect("under the store");
                let data = std::fs::read(&path).expect("read stored object");
                out.push((rel.to_string_lossy().into_owned(), data));
            }
        }
    }
    let mut out = Vec::new();
    walk(store, store, &mut out);
    out
}

/// Asserts that every stored object sits where the lower layout puts its HMAC name (directory
/// hash of the name, never of the key) and that no stored byte window equals `needle`.
fn assert_store_is_opaque(store: &Path, needles: &[&[u8]]) {
    let objects = store_contents(store);
    assert!(!objects.is_empty(), "nothing stored");
    for (rel, data) in &objects {
        let name = rel.rsplit('/').next().expect("a file name");
        assert!(
            ferry_crypto::parse_object_name(name) == Some(Mac::HmacSha256),
            "not an HMAC object name: {rel}"
        );
        let as_key = Key::parse(name).expect("an object name parses as a key");
        let placed = object_path(Layout::Lower, None, &as_key).expect("a path");
        assert_eq!(
            placed.as_str(),
            rel,
            "directory hash not of the object name"
        );
        assert_eq!(&data[..8], b"\x89FERRY\r\n", "{rel} is not a sealed object");
        for needle in needles {
            assert!(
                !data.windows(needle.len()).any(|w| w == *needle),
                "plaintext found in {rel}"
            );
        }
    }
}

/// The master key of a plain `ferry_key` token.
fn master_of(token: &str) -> MasterKey {
    match KeyToken::parse(token).expect("a valid token") {
        KeyToken::Plain(master) => master,
        KeyToken::Wrapped(_) => panic!("expected a plain token"),
    }
}

// ---- git-annex's testremote ----

#[test]
fn testremote_fast_passes_with_ferry_encryption_and_chunking() {
    let repo = Repo::new();
    repo.init_ferry(
        "r",
        &["ferry_encryption=aes256gcm", "chunk=1MiB", "fsync=no"],
    );
    testremote_passes(&repo, "r", true);
    assert!(
        repo.log_text().contains("FERRYHMACSHA256--"),
        "no object was named by its HMAC"
    );
}

/// The full run (573 tests, ~40 000 tiny sealed chunks) takes minutes on a busy 2-core CI
/// machine that already runs eleven full testremotes; the `--fast` one above runs every time.
/// Run this one with `cargo test -p ferry --test main -- --ignored encryption::`.
#[test]
#[ignore = "minutes long; run with --ignored (passed on 2026-11-25)"]
fn testremote_full_passes_with_ferry_encryption() {
    let repo = Repo::new();
    repo.init_ferry("r", &["ferry_encryption=aes256gcm", "fsync=no"]);
    testremote_passes(&repo, "r", false);
}

// ---- everyday use ----

/// Recognisable plaintext for file `i`: a repeated sentence, so a leak is easy to spot.
fn readable(i: usize, len: usize) -> Vec<u8> {
    format!("secret line of file {i:03}; ")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(len)
        .collect()
}

#[test]
fn copy_get_drop_fsck_store_only_hmac_names_and_no_plaintext() {
    let repo = Repo::new();
    repo.init_ferry("r", &["ferry_encryption=aes256gcm"]);
    let files: Vec<(String, Vec<u8>)> = [
        "plain.txt",
        "with space/Ünïcødé fïlé.dat",
        "odd/a&b%c:d #1.jpg",
        "big.bin",
        "empty",
    ]
    .iter()
    .enumerate()
    .map(|(i, name)| {
        let len = match *name {
            "big.bin" => 5 * S + 123,
            "empty" => 0,
            _ => 1000 + i * 77,
        };
        ((*name).to_owned(), readable(i, len))
    })
    .collect();
    for (name, content) in &files {
        repo.write(name, content);
    }
    repo.add_all();
    repo.annex(&["copy", "-J4", "--to", "r", "."]);

    assert_eq!(store_contents(&repo.store).len(), files.len());
    assert_store_is_opaque(&repo.store, &[b"secret line of file"]);
    let store_names = repo.store_files().join("\n");
    for (name, _) in &files {
        let key = repo.key_of(name);
        assert!(
            !store_names.contains(&key),
            "key {key} visible on the store"
        );
    }

    repo.annex(&["drop", "."]);
    repo.annex(&["get", "-J4", "."]);
    for (name, content) in &files {
        assert_eq!(
            &std::fs::read(repo.dir.join(name)).expect("read back"),
            content,
            "{name}"
        );
    }
    repo.annex(&["fsck", "--from", "r", "."]);

    // info shows the encryption, never the key.
    let token = field(&remote_log_line(&repo, "r"), "ferry_key").expect("ferry_key stored");
    assert!(token.starts_with("ferry1:plain:"), "plain mode by default");
    let key_hex = token.trim_start_matches("ferry1:plain:");
    let key_id = master_of(&token).key_id().to_string();
    let info = all_output(&repo.annex(&["info", "r"]));
    assert!(info.contains("ferry encryption: aes256gcm"), "{info}");
    assert!(info.contains(&format!("ferry key id: {key_id}")), "{info}");
    assert!(!info.contains(key_hex), "the key is shown by info");
    assert!(!repo.log_text().contains(key_hex), "the key is in the log");
    assert_eq!(
        field(&remote_log_line(&repo, "r"), "ferry_keyid").as_deref(),
        Some(key_id.as_str())
    );

    repo.annex(&["drop", "--from", "r", "."]);
    assert!(
        store_contents(&repo.store).is_empty(),
        "drop --from left objects"
    );
}

#[test]
fn chacha20poly1305_round_trips() {
    let repo = Repo::new();
    repo.init_ferry(
        "r",
        &[
            "ferry_encryption=chacha20poly1305",
            "ferry_mac=HMACSHA512",
            "layout=nodir",
        ],
    );
    let content = pseudo_random(7, 3 * S + 5);
    repo.write("c.bin", &content);
    repo.add_all();
    repo.annex(&["copy", "--to", "r", "c.bin"]);
    let objects = store_contents(&repo.store);
    assert_eq!(objects.len(), 1);
    let (name, data) = &objects[0];
    assert_eq!(
        ferry_crypto::parse_object_name(name),
        Some(Mac::HmacSha512),
        "{name}"
    );
    assert_eq!(data[9], 0x02, "not sealed with ChaCha20-Poly1305");
    repo.annex(&["drop", "c.bin"]);
    repo.annex(&["get", "c.bin"]);
    assert_eq!(
        std::fs::read(repo.dir.join("c.bin")).expect("read"),
        content
    );
    repo.annex(&["fsck", "--from", "r", "c.bin"]);
}

#[test]
fn enableremote_keeps_the_key_and_the_objects_still_decrypt() {
    let repo = Repo::new();
    repo.init_ferry("r", &["ferry_encryption=aes256gcm"]);
    let content = readable(1, 2 * S + 9);
    repo.write("a.txt", &content);
    repo.add_all();
    repo.annex(&["copy", "--to", "r", "a.txt"]);
    let before = remote_log_line(&repo, "r");
    repo.annex(&["enableremote", "r"]);
    // Changing the write algorithm is allowed; the key must still not change.
    repo.annex(&["enableremote", "r", "ferry_encryption=chacha20poly1305"]);
    let after = remote_log_line(&repo, "r");
    for f in ["ferry_key", "ferry_keyid", "ferry_mac"] {
        assert_eq!(field(&before, f), field(&after, f), "{f} changed");
    }
    assert_eq!(
        field(&after, "ferry_encryption").as_deref(),
        Some("chacha20poly1305")
    );
    repo.annex(&["drop", "a.txt"]);
    repo.annex(&["get", "a.txt"]);
    assert_eq!(
        std::fs::read(repo.dir.join("a.txt")).expect("read"),
        content
    );

    // Turning it off would orphan every object: refused.
    let off = repo.annex_status(&["enableremote", "r", "ferry_encryption=none"]);
    let text = all_output(&off);
    assert!(
        !off.status.success(),
        "ferry_encryption=none accepted:\n{text}"
    );
    assert!(text.contains("ferry_encryption=none"), "{text}");
}

#[test]
fn ferry_encryption_is_refused_with_git_annex_encryption_and_with_exporttree() {
    let repo = Repo::new();
    let dir = format!("directory={}", repo.store.display());
    let init = |extra: &[&str]| {
        let mut args = vec![
            "initremote",
            "r",
            "type=external",
            "externaltype=ferry",
            dir.as_str(),
            "ferry_encryption=aes256gcm",
        ];
        args.extend_from_slice(extra);
        repo.annex_status(&args)
    };
    let out = init(&["encryption=shared"]);
    let text = all_output(&out);
    assert!(
        !out.status.success(),
        "accepted with encryption=shared:\n{text}"
    );
    assert!(text.contains("pick one"), "{text}");

    let out = init(&["encryption=none", "exporttree=yes"]);
    let text = all_output(&out);
    assert!(
        !out.status.success(),
        "accepted with exporttree=yes:\n{text}"
    );
    assert!(text.contains("exporttree=yes"), "{text}");
    // Neither attempt left a remote behind.
    assert!(!repo.annex_status(&["info", "r"]).status.success());
}

#[test]
fn passphrase_mode_needs_the_passphrase_or_the_unlock_cache() {
    let repo = Repo::new();
    let pass_file = repo.tmp.path().join("passphrase");
    std::fs::write(&pass_file, "correct horse battery staple\n").expect("write passphrase");
    let with_passphrase = |mut cmd: std::process::Command| {
        cmd.env("FERRY_PASSPHRASE_FILE", &pass_file);
        cmd.output().expect("run git-annex")
    };
    let out = with_passphrase(repo.initremote_command(
        "r",
        &repo.store,
        &["ferry_encryption=aes256gcm", "ferry_passphrase=yes"],
    ));
    assert!(out.status.success(), "{}", all_output(&out));
    let token = field(&remote_log_line(&repo, "r"), "ferry_key").expect("ferry_key");
    assert!(token.starts_with("ferry1:argon2id:262144:3:4:"), "{token}");

    let content = readable(3, 70_000);
    repo.write("p.txt", &content);
    repo.add_all();
    let locked = repo.annex_status(&["copy", "--to", "r", "p.txt"]);
    let text = all_output(&locked);
    assert!(!locked.status.success(), "stored without the passphrase");
    assert!(
        text.contains("ferry unlock --remote r") && text.contains("FERRY_PASSPHRASE"),
        "unhelpful message:\n{text}"
    );
    let out = with_passphrase(repo.command("git-annex", &["copy", "--to", "r", "p.txt"]));
    assert!(out.status.success(), "{}", all_output(&out));
    assert_store_is_opaque(&repo.store, &[b"secret line of file"]);

    // What `ferry unlock --remote r` does: Argon2id once, then the plain key in the repository's cache.
    let KeyToken::Wrapped(wrapped) = KeyToken::parse(&token).expect("token") else {
        panic!("not wrapped: {token}");
    };
    let master = wrapped
        .unlock(b"correct horse battery staple")
        .expect("the passphrase unwraps the key");
    let uuid = stdout(&repo.git(&["config", "remote.r.annex-uuid"]))
        .trim()
        .to_owned();
    let git_dir = repo.dir.join(".git");
    let cache = ferry::encryption::write_key_cache(&git_dir, &uuid, &master).expect("cache");
    assert!(cache.starts_with(git_dir.join("annex/ferry/keys")));
    repo.annex(&["drop", "p.txt"]);
    repo.annex(&["get", "p.txt"]);
    assert_eq!(
        std::fs::read(repo.dir.join("p.txt")).expect("read"),
        content
    );
}

// ---- attacks, through the protocol ----

/// A remote process on an encrypted directory store, initialized and prepared, whose git
/// directory (for key pins) is `cwd/.git`.
fn encrypted_remote(cwd: &Path, store: &Path, config: &[(&str, &str)]) -> RemoteProcess {
    let store = store.to_str().expect("utf-8 temp path");
    let mut all = vec![("directory", store), ("ferry_encryption", "aes256gcm")];
    all.extend_from_slice(config);
    let mut remote = RemoteProcess::start(&all, cwd);
    let ext = remote.request("EXTENSIONS");
    assert!(ext.starts_with("EXTENSIONS"), "{ext}");
    remote.init_remote();
    remote.prepare();
    remote
}

/// The same remote configuration in a new process (what git-annex starts for the next command).
fn restart(config: &HashMap<String, String>, cwd: &Path) -> RemoteProcess {
    let pairs: Vec<(&str, &str)> = config
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut remote = RemoteProcess::start(&pairs, cwd);
    remote.request("EXTENSIONS");
    remote
}

/// Where the store of `config` keeps `key` (lower layout).
fn object_file(store: &Path, config: &HashMap<String, String>, key: &str) -> PathBuf {
    let master = master_of(&config["ferry_key"]);
    let name = master.name_key(Mac::HmacSha256).object_name(key.as_bytes());
    let placed = object_path(
        Layout::Lower,
        None,
        &Key::parse(&name).expect("an object name parses as a key"),
    )
    .expect("a path");
    store.join(placed.as_str())
}

fn key_for(i: usize, len: usize) -> String {
    format!("SHA256E-s{len}--{i:064x}.bin")
}

/// RETRIEVE of `key` must fail saying `says`, leaving nothing at the destination.
fn retrieve_fails(remote: &mut RemoteProcess, key: &str, dest: &Path, says: &str, attack: &str) {
    let reply = remote.request(&format!("TRANSFER RETRIEVE {key} {}", dest.display()));
    assert!(
        reply.starts_with(&format!("TRANSFER-FAILURE RETRIEVE {key} ")),
        "{attack}: {reply}"
    );
    assert!(
        reply.contains(says),
        "{attack}: expected {says:?} in {reply}"
    );
    let left = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    assert_eq!(left, 0, "{attack}: plaintext left at the destination");
    assert!(
        !ferry_backends::sealed::header_sidecar(dest).exists(),
        "{attack}: header sidecar left"
    );
}

#[test]
fn every_attack_on_the_store_fails_retrieve_and_leaves_no_plaintext() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("store");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&store).expect("mkdir store");
    std::fs::create_dir_all(&work).expect("mkdir work");
    let mut remote = encrypted_remote(&work, &store, &[]);

    let len = 3 * S + 100;
    let keys = [key_for(1, len), key_for(2, len)];
    for (i, key) in keys.iter().enumerate() {
        let src = work.join(format!("src{i}"));
        std::fs::write(&src, pseudo_random(i as u64, len)).expect("write source");
        let reply = remote.request(&format!("TRANSFER STORE {key} {}", src.display()));
        assert_eq!(reply, format!("TRANSFER-SUCCESS STORE {key}"));
    }
    let files: Vec<PathBuf> = keys
        .iter()
        .map(|k| object_file(&store, &remote.config, k))
        .collect();
    let originals: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("the object is where its HMAC name says"))
        .collect();
    let dest = work.join("dest");
    let seg = |i: usize| HEADER + i * SEALED_SEGMENT..HEADER + (i + 1) * SEALED_SEGMENT;

    // (attack, edit of object 0 given both originals, what the failure must say)
    type Edit = Box<dyn Fn(&[Vec<u8>]) -> Vec<u8>>;
    let attacks: Vec<(&str, Edit, &str)> = vec![
        (
            "flipped bit",
            Box::new(|o| {
                let mut b = o[0].clone();
                b[HEADER + SEALED_SEGMENT + 5] ^= 0x01;
                b
            }),
            "segment 1 failed authentication",
        ),
        (
            "truncated at a segment boundary",
            Box::new(|o| o[0][..HEADER + 2 * SEALED_SEGMENT].to_vec()),
            "truncated",
        ),
        (
            "dropped segment",
            Box::new(move |o| {
                let mut b = o[0][..seg(1).start].to_vec();
                b.extend_from_slice(&o[0][seg(2).start..]);
                b
            }),
            "failed authentication",
        ),
        (
            "reordered segments",
            Box::new(move |o| {
                let mut b = o[0][..HEADER].to_vec();
                b.extend_from_slice(&o[0][seg(1)]);
                b.extend_from_slice(&o[0][seg(0)]);
                b.extend_from_slice(&o[0][seg(2).start..]);
                b
            }),
            "segment 0 failed authentication",
        ),
        (
            "objects swapped between names",
            Box::new(|o| o[1].clone()),
            "segment 0 failed authentication",
        ),
        (
            "edited header salt",
            Box::new(|o| {
                let mut b = o[0].clone();
                b[30] ^= 0x40;
                b
            }),
            "segment 0 failed authentication",
        ),
        (
            "edited header magic",
            Box::new(|o| {
                let mut b = o[0].clone();
                b[1] = b'X';
                b
            }),
            "not a ferry-encrypted object",
        ),
    ];
    for (attack, edit, says) in &attacks {
        std::fs::write(&files[0], edit(&originals)).expect("tamper");
        retrieve_fails(&mut remote, &keys[0], &dest, says, attack);
        std::fs::write(&files[0], &originals[0]).expect("restore");
    }

    // Cut inside the final segment: no plaintext has that sealed length, so it is no copy
    // (CHECKPRESENT says absent, and a new STORE replaces it); RETRIEVE, which goes straight
    // to the object, says what is wrong with it.
    std::fs::write(&files[0], &originals[0][..HEADER + 3 * SEALED_SEGMENT + 10]).expect("cut");
    assert_eq!(
        remote.request(&format!("CHECKPRESENT {}", keys[0])),
        format!("CHECKPRESENT-FAILURE {}", keys[0])
    );
    retrieve_fails(
        &mut remote,
        &keys[0],
        &dest,
        "the object is truncated",
        "impossible length",
    );
    std::fs::write(&files[0], &originals[0]).expect("restore");

    // A second remote on the same store with its own key: its objects have other names, and
    // one of them put at this remote's name is refused as written under another key.
    let other_work = tmp.path().join("other");
    std::fs::create_dir_all(&other_work).expect("mkdir");
    let mut other = encrypted_remote(&other_work, &store, &[]);
    assert_ne!(other.config["ferry_keyid"], remote.config["ferry_keyid"]);
    assert_eq!(
        other.request(&format!("CHECKPRESENT {}", keys[1])),
        format!("CHECKPRESENT-FAILURE {}", keys[1])
    );
    retrieve_fails(
        &mut other,
        &keys[1],
        &other_work.join("dest"),
        "is not in",
        "other key",
    );
    let src = work.join("src0");
    let reply = other.request(&format!("TRANSFER STORE {} {}", keys[0], src.display()));
    assert_eq!(reply, format!("TRANSFER-SUCCESS STORE {}", keys[0]));
    let foreign = std::fs::read(object_file(&store, &other.config, &keys[0])).expect("read");
    std::fs::write(&files[0], foreign).expect("plant");
    retrieve_fails(
        &mut remote,
        &keys[0],
        &dest,
        "different master key",
        "object of another key",
    );
    std::fs::write(&files[0], &originals[0]).expect("restore");

    // Untouched, both still retrieve.
    for key in &keys {
        let reply = remote.request(&format!("TRANSFER RETRIEVE {key} {}", dest.display()));
        assert_eq!(reply, format!("TRANSFER-SUCCESS RETRIEVE {key}"));
        std::fs::remove_file(&dest).expect("remove dest");
    }
}

#[test]
fn prepare_refuses_a_key_that_is_not_the_remotes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("store");
    std::fs::create_dir_all(&store).expect("mkdir store");
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a_dir).expect("mkdir");
    std::fs::create_dir_all(&b_dir).expect("mkdir");
    let a = encrypted_remote(&a_dir, &store, &[]).config.clone();
    let b = encrypted_remote(&b_dir, &store, &[]).config.clone();

    // ferry_key of one remote with ferry_keyid of the other.
    let mut mixed = a.clone();
    mixed.insert("ferry_key".into(), b["ferry_key"].clone());
    let mut remote = restart(&mixed, &a_dir);
    let reply = remote.request("PREPARE");
    assert!(
        reply.starts_with("PREPARE-FAILURE") && reply.contains("ferry_keyid"),
        "{reply}"
    );
    assert!(!reply.contains(b["ferry_key"].trim_start_matches("ferry1:plain:")));

    // Both switched consistently (someone rewrote remote.log): this repository pinned the first.
    let mut switched = a.clone();
    for k in ["ferry_key", "ferry_keyid"] {
        switched.insert(k.into(), b[k].clone());
    }
    let mut remote = restart(&switched, &a_dir);
    let reply = remote.request("PREPARE");
    assert!(
        reply.starts_with("PREPARE-FAILURE") && reply.contains("key changed"),
        "{reply}"
    );
    // The remote's own configuration still prepares.
    restart(&a, &a_dir).prepare();
}

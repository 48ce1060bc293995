//! The `ferry` command on a real repository: doctor, ls, get and verify.

use crate::support::{Repo, all_output, pseudo_random, stdout};

fn ferry(repo: &Repo, args: &[&str]) -> std::process::Output {
    repo.command(env!("CARGO_BIN_EXE_ferry"), args)
        .output()
        .expect("run ferry")
}

#[test]
fn doctor_finds_an_unplugged_disk_and_ls_maps_objects_to_keys() {
    let repo = Repo::new();
    repo.init_ferry("nas", &[]);
    repo.write("a b.txt", b"some content\n");
    repo.add_all();
    repo.annex(&["copy", "--to", "nas", "a b.txt"]);
    let key = repo.key_of("a b.txt");

    let ok = ferry(&repo, &["doctor", "nas"]);
    assert!(ok.status.success(), "{}", all_output(&ok));
    assert!(!stdout(&ok).contains("PROBLEM"), "{}", stdout(&ok));

    let ls = ferry(&repo, &["ls", "nas", "--json"]);
    assert!(ls.status.success(), "{}", all_output(&ls));
    let listed: serde_json::Value = serde_json::from_slice(&ls.stdout).expect("ls --json is JSON");
    let entries = listed.as_array().expect("a list");
    assert_eq!(entries.len(), 1, "{listed}");
    assert_eq!(entries[0]["key"], serde_json::Value::String(key.clone()));
    assert_eq!(entries[0]["size"], 13);
    // The remote can also be named with --remote, as in the other commands.
    let flagged = ferry(&repo, &["ls", "--remote", "nas", "--json"]);
    assert_eq!(flagged.stdout, ls.stdout, "{}", all_output(&flagged));

    std::fs::rename(&repo.store, repo.tmp.path().join("away")).expect("unplug");
    let bad = ferry(&repo, &["doctor", "nas"]);
    assert_eq!(bad.status.code(), Some(1), "{}", all_output(&bad));
    let text = stdout(&bad);
    assert!(
        text.contains("PROBLEM") && text.contains("mounted"),
        "{text}"
    );

    let missing = ferry(&repo, &["doctor", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        all_output(&missing).contains("ferry remotes there: nas"),
        "{}",
        all_output(&missing)
    );
}

fn ferry_in(dir: &std::path::Path, repo: &Repo, args: &[&str]) -> std::process::Output {
    let mut cmd = repo.command(env!("CARGO_BIN_EXE_ferry"), args);
    cmd.current_dir(dir);
    cmd.output().expect("run ferry")
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", all_output(out)))
}

/// The stored object of `key` under the lower layout in `store`.
fn object_of(store: &std::path::Path, key: &str) -> std::path::PathBuf {
    let key = remote_proto::Key::parse(key).expect("a key");
    let rel =
        ferry_backends::layout::object_path(ferry_backends::layout::Layout::Lower, None, &key)
            .expect("a path");
    store.join(rel.as_str())
}

#[test]
fn get_and_verify_check_sizes_digests_and_chunks() {
    let repo = Repo::new();
    repo.init_ferry("nas", &[]);
    let store2 = repo.tmp.path().join("store2");
    std::fs::create_dir_all(&store2).expect("mkdir store2");
    let dir2 = format!("directory={}", store2.display());
    repo.annex(&[
        "initremote",
        "chunky",
        "type=external",
        "externaltype=ferry",
        dir2.as_str(),
        "encryption=none",
        "chunk=100KiB",
    ]);
    let big = pseudo_random(11, 250_000);
    repo.write("small.txt", b"hello world\n");
    repo.write("big.bin", &big);
    repo.add_all();
    repo.annex(&["copy", "-q", "--to", "nas", "."]);
    repo.annex(&["copy", "-q", "--to", "chunky", "."]);
    let small_key = repo.key_of("small.txt");
    let big_key = repo.key_of("big.bin");
    let out = repo.tmp.path().join("out");
    std::fs::create_dir_all(&out).expect("mkdir out");
    let path = |name: &str| out.join(name).to_string_lossy().into_owned();

    // A whole object, and a key put back together from its three chunks.
    let got = ferry(
        &repo,
        &[
            "get",
            &small_key,
            "--remote",
            "nas",
            "--out",
            &path("s"),
            "--json",
        ],
    );
    assert!(got.status.success(), "{}", all_output(&got));
    assert_eq!(json(&got)["verified"], "sha256e+size");
    assert_eq!(
        std::fs::read(out.join("s")).expect("read"),
        b"hello world\n"
    );
    let got = ferry(
        &repo,
        &[
            "get",
            &big_key,
            "--remote",
            "chunky",
            "--out",
            &path("b"),
            "--json",
        ],
    );
    assert!(got.status.success(), "{}", all_output(&got));
    assert_eq!(json(&got)["objects"].as_array().map(Vec::len), Some(3));
    assert_eq!(std::fs::read(out.join("b")).expect("read"), big);

    for remote in ["nas", "chunky"] {
        let v = ferry(&repo, &["verify", "--remote", remote, "--json"]);
        assert_eq!(v.status.code(), Some(0), "{}", all_output(&v));
        let report = json(&v);
        assert!(
            report["problems"].as_array().is_some_and(Vec::is_empty),
            "{report}"
        );
    }
    // Without the repository (from another directory), the chunks still verify as a whole.
    let v = ferry_in(
        repo.tmp.path(),
        &repo,
        &["verify", "--directory", store2.to_str().unwrap(), "--json"],
    );
    assert_eq!(v.status.code(), Some(0), "{}", all_output(&v));
    assert_eq!(json(&v)["ok"], 4, "{}", all_output(&v));
    // … and a chunked key is found and put together from its chunks' names.
    let got = ferry_in(
        repo.tmp.path(),
        &repo,
        &[
            "get",
            &big_key,
            "--directory",
            store2.to_str().unwrap(),
            "--out",
            &path("b2"),
        ],
    );
    assert!(got.status.success(), "{}", all_output(&got));
    assert_eq!(std::fs::read(out.join("b2")).expect("read"), big);

    // Same size, one byte changed: only the digest can tell.
    let object = object_of(&repo.store, &big_key);
    let mut bytes = std::fs::read(&object).expect("read object");
    bytes[1000] ^= 0xff;
    std::fs::write(&object, &bytes).expect("corrupt");
    let bad = ferry(
        &repo,
        &["get", &big_key, "--remote", "nas", "--out", &path("bad")],
    );
    assert_eq!(bad.status.code(), Some(2));
    let text = all_output(&bad);
    assert!(
        text.contains("damaged") && text.contains("SHA256E"),
        "{text}"
    );
    assert!(!out.join("bad").exists());

    // A lost object git-annex still counts, and a file that is nobody's.
    std::fs::remove_file(object_of(&repo.store, &small_key)).expect("lose an object");
    std::fs::write(repo.store.join("notes.txt"), b"mine").expect("foreign file");
    let v = ferry(&repo, &["verify", "--remote", "nas", "--json"]);
    assert_eq!(v.status.code(), Some(1), "{}", all_output(&v));
    let report = json(&v);
    let problems = report["problems"].as_array().expect("list");
    assert_eq!(problems.len(), 2, "{report}");
    let corrupt = problems
        .iter()
        .find(|p| p["key"] == big_key.as_str())
        .expect("the corrupt key is reported");
    assert!(
        corrupt["problem"]
            .as_str()
            .is_some_and(|p| p.contains("SHA256E"))
    );
    assert!(
        corrupt["fix"]
            .as_str()
            .is_some_and(|f| f.contains("git annex fsck --from nas --fast"))
    );
    let lost = problems
        .iter()
        .find(|p| p["key"] == small_key.as_str())
        .expect("the lost key is reported");
    assert!(
        lost["problem"]
            .as_str()
            .is_some_and(|p| p.contains("does not"))
    );
    assert_eq!(report["unknown"][0]["path"], "notes.txt");
    let human = ferry(&repo, &["verify", "--remote", "nas"]);
    assert_eq!(human.status.code(), Some(1));
    assert!(stdout(&human).contains("BAD"), "{}", stdout(&human));

    // A truncated chunk.
    let chunk2 = format!(
        "SHA256E-s250000-S102400-C2--{}",
        big_key.split("--").nth(1).expect("a name")
    );
    let chunk_file = object_of(&store2, &chunk2);
    let len = std::fs::metadata(&chunk_file)
        .expect("chunk 2 exists")
        .len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&chunk_file)
        .expect("open");
    f.set_len(len - 1).expect("truncate");
    let v = ferry(&repo, &["verify", "--remote", "chunky", "--json"]);
    assert_eq!(v.status.code(), Some(1), "{}", all_output(&v));
    assert!(
        json(&v)["problems"]
            .to_string()
            .contains("holds 102399 bytes"),
        "{}",
        all_output(&v)
    );
}

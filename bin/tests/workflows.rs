//! Everyday git-annex work against ferry's directory storage: copy, get, drop, move, fsck,
//! whereis, info, with many files, odd names, chunking, encryption and every layout.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::{Repo, all_output, pseudo_random, stdout};

#[test]
fn chunked_encrypted_5mib_file_copies_gets_and_fscks() {
    let repo = Repo::new();
    repo.init_ferry("r", &["chunk=1MiB", "encryption=shared", "mac=HMACSHA512"]);
    let content = pseudo_random(5, 5 * 1024 * 1024);
    repo.write("big.bin", &content);
    repo.add_all();
    repo.annex(&["copy", "--to", "r", "big.bin"]);
    let objects = repo.store_files();
    assert_eq!(objects.len(), 5, "five 1 MiB chunks expected: {objects:?}");
    for o in &objects {
        let name = o.rsplit('/').next().unwrap_or(o);
        assert!(name.starts_with("GPGHMACSHA512--"), "unencrypted name {o}");
        assert_eq!(name.len(), "GPGHMACSHA512--".len() + 128, "name {o}");
    }
    repo.annex(&["drop", "big.bin"]);
    assert!(!repo.dir.join("big.bin").exists() || std::fs::read(repo.dir.join("big.bin")).is_err());
    repo.annex(&["get", "big.bin"]);
    assert_eq!(
        std::fs::read(repo.dir.join("big.bin")).expect("read big.bin"),
        content
    );
    repo.annex(&["fsck", "--from", "r", "big.bin"]);
}

/// File names that exercise quoting: spaces, unicode, shell and URL characters.
fn odd_name(i: usize) -> String {
    match i % 5 {
        0 => format!("plain/file {i}.txt"),
        1 => format!("unicode/Ünïcødé fïlé {i}.dat"),
        2 => format!("spaces/  two  spaces {i} .bin"),
        3 => format!("odd/a&b%c:d {i}.jpg"),
        _ => format!("deep/er/still/photo-{i}.JPG"),
    }
}

/// The largest number of requests one remote process had in flight at once, per process,
/// from the engine's debug log.
fn max_in_flight_per_process(log: &str) -> BTreeMap<String, usize> {
    let mut max: BTreeMap<String, usize> = BTreeMap::new();
    for line in log.lines().filter(|l| l.contains("in_flight=")) {
        let pid = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("pid="))
            .unwrap_or("?")
            .to_owned();
        let n: usize = line
            .split("in_flight=")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        let e = max.entry(pid).or_default();
        *e = (*e).max(n);
    }
    max
}

#[test]
fn two_hundred_files_with_odd_names_round_trip_with_8_jobs_in_one_process() {
    let repo = Repo::new();
    repo.init_ferry("r", &[]);
    let mut expected = BTreeMap::new();
    for i in 0..200 {
        let name = odd_name(i);
        let content = pseudo_random(i as u64, 1000 + i * 37);
        repo.write(&name, &content);
        expected.insert(name, content);
    }
    repo.add_all();

    std::fs::write(&repo.log, b"").expect("reset log");
    repo.annex(&["copy", "-J8", "--to", "r", "."]);
    assert_eq!(repo.store_files().len(), 200, "every file stored once");
    let busy = max_in_flight_per_process(&repo.log_text());
    assert!(
        busy.values().any(|&n| n >= 2),
        "no remote process served two jobs at once: {busy:?}"
    );
    let serving: Vec<_> = busy.iter().filter(|(_, n)| **n > 0).collect();
    assert_eq!(
        serving.len(),
        1,
        "-J8 should use one remote process: {busy:?}"
    );

    repo.annex(&["drop", "-J8", "."]);
    repo.annex(&["get", "-J8", "."]);
    for (name, content) in &expected {
        assert_eq!(
            &std::fs::read(repo.dir.join(name)).expect("read back"),
            content,
            "{name}"
        );
    }
    repo.annex(&["fsck", "-J8", "--from", "r", "."]);

    let whereis = stdout(&repo.annex(&["whereis", "plain/file 0.txt"]));
    assert!(whereis.contains("[r]"), "whereis: {whereis}");

    // move the odd ones back and forth
    repo.annex(&["move", "-J8", "--from", "r", "odd"]);
    assert_eq!(repo.store_files().len(), 160);
    repo.annex(&["move", "-J8", "--to", "r", "odd"]);
    assert_eq!(repo.store_files().len(), 200);
    for name in expected.keys().filter(|n| n.starts_with("odd/")) {
        assert!(
            !repo.dir.join(name).exists(),
            "{name} should have moved away"
        );
    }
    repo.annex(&["get", "-J8", "odd"]);
    repo.annex(&["drop", "-J8", "--from", "r", "."]);
    assert_eq!(
        repo.store_files(),
        Vec::<String>::new(),
        "drop --from empties the store"
    );
}

#[test]
fn every_layout_puts_objects_where_git_annex_hashes_say() {
    let repo = Repo::new();
    repo.write("a.txt", b"hello world\n");
    repo.add_all();
    let key = repo.key_of("a.txt");
    let examine = |fmt: &str| {
        let out = repo.annex(&["examinekey", &format!("--format={fmt}"), &key]);
        stdout(&out)
    };
    let lower = examine("${hashdirlower}");
    let mixed = examine("${hashdirmixed}");
    let cases = [
        ("lower", format!("{lower}{key}")),
        ("directory", format!("{lower}{key}/{key}")),
        ("nodir", key.clone()),
        ("mixed", format!("{mixed}{key}")),
        ("frankencase", format!("{}{key}", mixed.to_lowercase())),
    ];
    for (layout, path) in cases {
        std::fs::remove_dir_all(&repo.store).expect("clear store");
        std::fs::create_dir_all(&repo.store).expect("recreate store");
        let name = format!("r-{layout}");
        repo.init_ferry(&name, &[&format!("layout={layout}")]);
        repo.annex(&["copy", "--to", &name, "a.txt"]);
        assert_eq!(repo.store_files(), vec![path.clone()], "layout {layout}");
        repo.annex(&["fsck", "--from", &name, "a.txt"]);
    }
}

#[test]
fn initremote_stores_every_value_in_use_and_checks_its_input() {
    let repo = Repo::new();
    let bad = repo.annex_status(&[
        "initremote",
        "bad",
        "type=external",
        "externaltype=ferry",
        "encryption=none",
        &format!("directory={}", repo.store.display()),
        "layout=lowr",
    ]);
    let text = all_output(&bad);
    assert!(!bad.status.success(), "a bad layout must fail");
    for word in [
        "lowr",
        "lower",
        "directory",
        "nodir",
        "mixed",
        "frankencase",
    ] {
        assert!(text.contains(word), "error should name {word}: {text}");
    }

    let missing = repo.tmp.path().join("no such dir");
    let out = repo.annex_status(&[
        "initremote",
        "gone",
        "type=external",
        "externaltype=ferry",
        "encryption=none",
        &format!("directory={}", missing.display()),
    ]);
    let text = all_output(&out);
    assert!(!out.status.success(), "a missing directory must fail");
    assert!(
        text.contains("no such dir"),
        "error should name the directory: {text}"
    );

    let whatelse = stdout(&repo.annex(&[
        "initremote",
        "x",
        "type=external",
        "externaltype=ferry",
        "--whatelse",
    ]));
    for option in [
        "directory",
        "prefix",
        "layout",
        "rclone_layout",
        "rclonelayout",
    ] {
        assert!(
            whatelse.contains(option),
            "--whatelse lacks {option}: {whatelse}"
        );
    }

    repo.init_ferry("r", &["rclone_layout=mixed", "prefix=annex"]);
    let log = stdout(&repo.git(&["show", "git-annex:remote.log"]));
    let line = log
        .lines()
        .find(|l| l.contains("name=r "))
        .expect("remote r in remote.log");
    let fields: BTreeSet<&str> = line.split_whitespace().collect();
    for want in ["storage=directory", "layout=mixed", "prefix=annex"] {
        assert!(fields.contains(want), "remote.log lacks {want}: {line}");
    }
    assert!(
        fields.iter().any(|f| f.starts_with("directory=/")),
        "directory stored as an absolute path: {line}"
    );

    // enableremote runs INITREMOTE again: nothing may change.
    repo.annex(&["enableremote", "r"]);
    let after = stdout(&repo.git(&["show", "git-annex:remote.log"]));
    let line2 = after
        .lines()
        .find(|l| l.contains("name=r "))
        .expect("remote r");
    let strip = |l: &str| -> BTreeSet<String> {
        l.split_whitespace()
            .filter(|f| !f.starts_with("timestamp="))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(strip(line), strip(line2), "enableremote changed the config");

    let info = stdout(&repo.annex(&["info", "r"]));
    for want in ["directory", "mixed", "annex"] {
        assert!(info.contains(want), "info lacks {want}: {info}");
    }
    assert!(info.contains("available: true"), "info: {info}");
}

#[test]
fn export_keeps_real_file_names_and_follows_renames_and_deletions() {
    let repo = Repo::new();
    repo.write("a.txt", b"alpha\n");
    repo.write("dir one/b c.txt", b"bravo charlie\n");
    repo.write("ünï/cödé.txt", b"unicode\n");
    repo.add_all();
    repo.init_ferry("r", &["exporttree=yes"]);
    repo.annex(&["export", "main", "--to", "r"]);
    assert_eq!(
        repo.store_files(),
        vec!["a.txt", "dir one/b c.txt", "ünï/cödé.txt"],
        "export writes the tree's own names"
    );
    assert_eq!(
        std::fs::read(repo.store.join("dir one/b c.txt")).expect("read export"),
        b"bravo charlie\n"
    );

    repo.git(&["mv", "a.txt", "renamed.txt"]);
    repo.git(&["rm", "-q", "dir one/b c.txt"]);
    repo.git(&["commit", "-q", "-m", "rename and delete"]);
    repo.annex(&["export", "main", "--to", "r"]);
    assert_eq!(repo.store_files(), vec!["renamed.txt", "ünï/cödé.txt"]);
    assert!(
        !repo.store.join("dir one").exists(),
        "emptied directory removed"
    );

    // The export is a copy git-annex can get content back from and check.
    repo.annex(&["drop", "--force", "renamed.txt"]);
    repo.annex(&["get", "--from", "r", "renamed.txt"]);
    assert_eq!(
        std::fs::read(repo.dir.join("renamed.txt")).expect("read"),
        b"alpha\n"
    );
    repo.annex(&["fsck", "--from", "r"]);

    // A file changed behind git-annex's back is not taken for the exported content.
    std::fs::write(repo.store.join("renamed.txt"), b"tampered, longer\n").expect("tamper");
    let fsck = repo.annex_status(&["fsck", "--from", "r", "renamed.txt"]);
    assert!(
        !fsck.status.success(),
        "fsck must notice: {}",
        all_output(&fsck)
    );
}

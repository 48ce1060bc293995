//! The `ferry` command on a real repository: doctor and ls.

use crate::support::{Repo, all_output, stdout};

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

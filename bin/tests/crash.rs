//! A STORE killed with SIGKILL half way leaves nothing that counts as the object.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Repo, all_output, pseudo_random, run_ok};

const SIZE: usize = 200 * 1024 * 1024;

/// The pids of this user's processes whose command is `name` and whose cwd is `cwd`.
fn pids_of(name: &str, cwd: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        // comm is cut to 15 characters
        if !name.starts_with(comm.trim()) || comm.trim().is_empty() {
            continue;
        }
        if std::fs::read_link(e.path().join("cwd")).ok().as_deref() == Some(cwd) {
            out.push(pid);
        }
    }
    out
}

fn signal(pid: i32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

/// The size of the partial upload in the store's temporary directory, if one is there.
fn partial_upload(store: &Path) -> Option<u64> {
    let tmp = store.join(".ferry-tmp");
    std::fs::read_dir(tmp)
        .ok()?
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .find(|&len| len > 0)
}

#[test]
fn kill_9_in_the_middle_of_a_200mib_store_leaves_no_object() {
    let repo = Repo::new();
    repo.init_ferry("r", &[]);
    let mut killed_at = None;
    let mut file = String::new();
    // Each attempt uses new content; an attempt only counts when the kill really landed while
    // the object was partly written (the copy can win the race on a fast disk).
    for attempt in 0..8u64 {
        file = format!("big{attempt}.bin");
        repo.write(&file, &pseudo_random(attempt + 100, SIZE));
        repo.add_all();
        let mut copy = repo.command("git-annex", &["copy", "--to", "r", &file]);
        let mut child = copy.spawn().expect("start git annex copy");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut stopped = None;
        while Instant::now() < deadline {
            if let Some(len) = partial_upload(&repo.store)
                && (len as usize) < SIZE
            {
                let remotes = pids_of("git-annex-remote-ferry", &repo.dir);
                for pid in &remotes {
                    signal(*pid, "-STOP");
                }
                // Re-read after freezing: still partial?
                let frozen = partial_upload(&repo.store).unwrap_or(0);
                for pid in &remotes {
                    signal(*pid, "-KILL");
                }
                if !remotes.is_empty() && (frozen as usize) < SIZE {
                    stopped = Some(frozen);
                }
                break;
            }
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::yield_now();
        }
        // git-annex retries a transfer that made progress in a new process; stop it too.
        let _ = child.kill();
        let _ = child.wait();
        for pid in pids_of("git-annex-remote-ferry", &repo.dir) {
            signal(pid, "-KILL");
        }
        if let Some(len) = stopped {
            killed_at = Some(len);
            break;
        }
        // The copy finished before we could kill it: drop it from the remote and retry.
        repo.annex(&["drop", "--from", "r", &file]);
    }
    let killed_at = killed_at.expect("never managed to kill the remote mid-store in 8 attempts");
    assert!(killed_at > 0 && (killed_at as usize) < SIZE);
    let key = repo.key_of(&file);

    // The object is not reported present...
    let check = repo.annex_status(&["checkpresentkey", &key, "r"]);
    assert!(
        !check.status.success(),
        "half-written object reported present"
    );
    // ...the partial bytes are nowhere under the object's name...
    assert!(
        repo.store_files()
            .iter()
            .all(|f| f.starts_with(".ferry-tmp/")),
        "only temporary files may exist: {:?}",
        repo.store_files()
    );
    // ...fsck agrees...
    let fsck = repo.annex_status(&["fsck", "--from", "r", &file]);
    let whereis = all_output(&repo.annex(&["whereis", &file]));
    assert!(
        !whereis.contains("[r]"),
        "r listed as holding {file}: {whereis}\n{}",
        all_output(&fsck)
    );
    // ...and the retried copy succeeds, and cleans up the dead temporary file.
    repo.annex(&["copy", "--to", "r", &file]);
    repo.annex(&["fsck", "--from", "r", &file]);
    let tmp_left: Vec<_> = repo
        .store_files()
        .into_iter()
        .filter(|f| f.starts_with(".ferry-tmp/"))
        .collect();
    assert!(
        tmp_left.is_empty(),
        "stale temporary files left: {tmp_left:?}"
    );
    run_ok(repo.command("git-annex", &["drop", &file]));
}

//! A store that cannot be read (an unmounted disk) is "unknown", never "absent": git-annex must
//! refuse to drop the last copy instead of losing it.

use crate::support::proto::RemoteProcess;
use crate::support::{Repo, all_output, stdout};

#[test]
fn unmounted_store_answers_unknown_and_drop_is_refused() {
    let repo = Repo::new();
    repo.init_ferry("r", &[]);
    repo.write("photo.jpg", b"the only copy of a photo");
    repo.add_all();
    repo.annex(&["copy", "--to", "r", "photo.jpg"]);
    let key = repo.key_of("photo.jpg");
    // numcopies=1 and the remote holds a copy: drop would be allowed if it could check.
    // Now the disk goes away.
    let away = repo.tmp.path().join("store-unmounted");
    std::fs::rename(&repo.store, &away).expect("unmount the store");

    let refused = repo.annex_status(&["drop", "photo.jpg"]);
    let text = all_output(&refused);
    assert!(!refused.status.success(), "drop must be refused:\n{text}");
    assert!(
        repo.dir.join("photo.jpg").exists(),
        "local copy must survive"
    );
    assert!(
        std::fs::read(repo.dir.join("photo.jpg")).is_ok(),
        "local content still readable"
    );

    // fsck --from must not rewrite the location log while the store is away.
    let _ = repo.annex_status(&["fsck", "--from", "r", "photo.jpg"]);
    let whereis = stdout(&repo.annex(&["whereis", "photo.jpg"]));
    assert!(whereis.contains("[r]"), "location log lost r: {whereis}");

    // At the protocol level, the answer is exactly CHECKPRESENT-UNKNOWN with a reason.
    let store = repo.store.to_str().expect("utf-8").to_owned();
    let mut remote = RemoteProcess::start(&[("directory", &store)], &repo.dir);
    remote.handshake("INFO");
    let reply = remote.request(&format!("CHECKPRESENT {key}"));
    assert!(
        reply.starts_with(&format!("CHECKPRESENT-UNKNOWN {key} ")),
        "reply: {reply}"
    );
    assert!(
        reply.contains(&store),
        "the reason names the store: {reply}"
    );
    // A store root that is a file (ENOTDIR) is just as unknown.
    std::fs::write(&repo.store, b"not a directory").expect("write a file");
    let reply = remote.request(&format!("CHECKPRESENT {key}"));
    assert!(reply.starts_with("CHECKPRESENT-UNKNOWN"), "reply: {reply}");
    std::fs::remove_file(&repo.store).expect("remove file");

    // The disk comes back: everything is as before.
    std::fs::rename(&away, &repo.store).expect("remount");
    let reply = remote.request(&format!("CHECKPRESENT {key}"));
    assert_eq!(reply, format!("CHECKPRESENT-SUCCESS {key}"));
    drop(remote);
    repo.annex(&["drop", "photo.jpg"]);
}

#[test]
fn truncated_object_is_reported_absent_not_present() {
    let repo = Repo::new();
    repo.init_ferry("r", &[]);
    repo.write("a.bin", &[7u8; 4096]);
    repo.add_all();
    repo.annex(&["copy", "--to", "r", "a.bin"]);
    let files = repo.store_files();
    assert_eq!(files.len(), 1);
    let object = repo.store.join(&files[0]);
    std::fs::write(&object, [7u8; 100]).expect("truncate the object behind git-annex's back");
    let drop = repo.annex_status(&["drop", "a.bin"]);
    assert!(
        !drop.status.success(),
        "drop must be refused: {}",
        all_output(&drop)
    );
    assert!(repo.dir.join("a.bin").exists());
}

//! Malformed and odd protocol lines get an answer, and the remote lives on.

use crate::support::proto::RemoteProcess;

const OFFERED: &str = "INFO GETGITREMOTENAME UNAVAILABLERESPONSE TRANSFER-RETRIEVE-URL CHECKPRESENT-URL IMPORTKEY DELEGATE ASYNC";

fn prepared(store: &std::path::Path, extensions: &str) -> RemoteProcess {
    let store = store.to_str().expect("utf-8 temp path");
    let mut remote = RemoteProcess::start(&[("directory", store)], store.as_ref());
    let ext = remote.request(&format!("EXTENSIONS {extensions}"));
    assert!(ext.starts_with("EXTENSIONS"), "{ext}");
    remote.init_remote();
    remote.prepare();
    remote
}

/// An absent key, asked after every odd line, proves the process still serves requests.
const PROBE: &str = "CHECKPRESENT SHA256E-s3--ab.txt";

#[test]
fn malformed_lines_get_an_error_and_the_remote_keeps_serving() {
    let store = tempfile::tempdir().expect("tempdir");
    let mut remote = prepared(store.path(), "INFO GETGITREMOTENAME");
    let huge = format!("CHECKPRESENT SHA256E-s3--{}", "a".repeat(3 * 1024 * 1024));
    // (line, the start of the expected answer)
    let table: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "ERROR"),
        (b"TRANSFER".to_vec(), "ERROR"),
        (b"TRANSFER STORE".to_vec(), "ERROR"),
        (b"TRANSFER STORE SHA256E-s3--ab.txt".to_vec(), "ERROR"),
        (b"TRANSFER SIDEWAYS SHA256E-s3--ab.txt f".to_vec(), "ERROR"),
        (b"CHECKPRESENT".to_vec(), "ERROR"),
        (b"CHECKPRESENT not-a-key".to_vec(), "ERROR"),
        (b"REMOVE SHA256E-sX--ab".to_vec(), "ERROR"),
        (
            b"checkpresent SHA256E-s3--ab.txt".to_vec(),
            "UNSUPPORTED-REQUEST",
        ),
        (b"FROBNICATE now".to_vec(), "UNSUPPORTED-REQUEST"),
        (b"GETORDERED".to_vec(), ""),
        (huge.into_bytes(), "ERROR"),
        (vec![0xff, 0xfe, 0x00, 0x80, b' ', 0xc3], "ERROR"),
        (b"CHECKPRESENT SHA256E-s3--ab.txt\r".to_vec(), "ERROR"),
        (b"J 1 CHECKPRESENT SHA256E-s3--ab.txt".to_vec(), ""),
        (b"VALUE stray".to_vec(), ""),
    ];
    for (line, expected) in table {
        remote.send_bytes(&line);
        let shown = String::from_utf8_lossy(&line[..line.len().min(60)]).into_owned();
        if !expected.is_empty() {
            let answer = remote.reply();
            assert!(
                answer.starts_with(expected),
                "line {shown:?}: expected {expected}…, got {answer:?}"
            );
        }
        // Whatever came back (or not), the next real request gets its real reply; an odd line
        // whose answer we did not pin down may answer first, with one line of a known kind.
        remote.send(PROBE);
        let mut first = remote.reply();
        if first != "CHECKPRESENT-FAILURE SHA256E-s3--ab.txt" {
            assert!(
                [
                    "ERROR",
                    "UNSUPPORTED-REQUEST",
                    "UNORDERED",
                    "ORDERED",
                    "J 1 CHECKPRESENT-"
                ]
                .iter()
                .any(|p| first.starts_with(p)),
                "after {shown:?}: unexpected {first:?}\n{}",
                remote.transcript.join("\n")
            );
            first = remote.reply();
        }
        assert_eq!(
            first, "CHECKPRESENT-FAILURE SHA256E-s3--ab.txt",
            "after {shown:?}"
        );
    }
    assert!(remote.finish(), "remote did not exit after stdin closed");
}

#[test]
fn unknown_extensions_are_ignored_and_async_is_negotiated() {
    let store = tempfile::tempdir().expect("tempdir");
    let mut remote = RemoteProcess::start(
        &[("directory", store.path().to_str().expect("utf-8"))],
        store.path(),
    );
    let ext = remote.request(&format!("EXTENSIONS FUTURE-THING {OFFERED}"));
    let mut words: Vec<&str> = ext.split_whitespace().skip(1).collect();
    words.sort_unstable();
    assert_eq!(
        words,
        ["ASYNC", "GETGITREMOTENAME", "INFO", "UNAVAILABLERESPONSE"]
    );
    // Mark the store as git-annex's initremote would (in its own process).
    let mut init = RemoteProcess::start(
        &[("directory", store.path().to_str().expect("utf-8"))],
        store.path(),
    );
    init.request("EXTENSIONS");
    init.init_remote();
    assert!(init.finish(), "initremote process did not exit");
    remote.send("J 1 PREPARE");
    // Queries and the reply carry the job number.
    loop {
        let line = remote.read_line();
        if let Some(name) = line.strip_prefix("J 1 GETCONFIG ") {
            let v = if name == "directory" {
                store.path().to_str().expect("utf-8").to_owned()
            } else {
                String::new()
            };
            remote.send(&format!("J 1 VALUE {v}"));
            continue;
        }
        if line.starts_with("J 1 GET") {
            remote.send("J 1 VALUE ");
            continue;
        }
        if line.starts_with("J 1 DEBUG") {
            continue;
        }
        assert_eq!(line, "J 1 PREPARE-SUCCESS");
        break;
    }
    remote.send("J 7 CHECKPRESENT SHA256E-s3--ab.txt");
    remote.send("J 3 REMOVE SHA256E-s3--ab.txt");
    remote.send("J 5 NOSUCHTHING x");
    let mut got = Vec::new();
    while got.len() < 3 {
        let line = remote.read_line();
        if !line.contains(" DEBUG ") {
            got.push(line);
        }
    }
    got.sort();
    assert_eq!(
        got,
        [
            "J 3 REMOVE-SUCCESS SHA256E-s3--ab.txt".to_owned(),
            "J 5 UNSUPPORTED-REQUEST".to_owned(),
            "J 7 CHECKPRESENT-FAILURE SHA256E-s3--ab.txt".to_owned(),
        ]
    );
    assert!(remote.finish(), "remote did not exit after stdin closed");
}

#[test]
fn zero_byte_store_of_an_encrypted_key_is_refused() {
    // git-annex sends a 0-byte file when gpg failed; storing it would later count as a copy.
    let store = tempfile::tempdir().expect("tempdir");
    let empty = store.path().join("empty");
    std::fs::write(&empty, b"").expect("write empty file");
    let mut remote = prepared(store.path(), "");
    let key = "GPGHMACSHA256--0180ec8fe146ca4666e2bef9372694443ca3e38f32b42b1dd9187b252ca4a81c";
    let reply = remote.request(&format!("TRANSFER STORE {key} {}", empty.display()));
    assert!(
        reply.starts_with(&format!("TRANSFER-FAILURE STORE {key} ")),
        "reply: {reply}"
    );
    assert_eq!(
        remote.request(&format!("CHECKPRESENT {key}")),
        format!("CHECKPRESENT-FAILURE {key}")
    );
    // A plain empty file is legitimate.
    let plain = "SHA256E-s0--e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(
        remote.request(&format!("TRANSFER STORE {plain} {}", empty.display())),
        format!("TRANSFER-SUCCESS STORE {plain}")
    );
    assert_eq!(
        remote.request(&format!("CHECKPRESENT {plain}")),
        format!("CHECKPRESENT-SUCCESS {plain}")
    );
}

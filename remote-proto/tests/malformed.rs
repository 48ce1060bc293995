//! Odd and hostile lines: each gets an answer, and the session keeps working afterwards.

use std::sync::Arc;

use crate::harness::{Annexd, MemRemote};

const K: &str = "SHA256E-s6--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.txt";

/// How the remote must answer a line: exactly, or by prefix.
enum Want {
    Exactly(&'static str),
    StartsWith(&'static str),
}

#[tokio::test]
async fn every_odd_line_is_answered_and_the_session_goes_on() {
    let two_mib = format!("CHECKPRESENT {}", "x".repeat(2 << 20));
    let table: Vec<(Vec<u8>, Want)> = vec![
        (b"".to_vec(), Want::Exactly("ERROR empty line")),
        (
            b"TRANSFER".to_vec(),
            Want::Exactly("ERROR TRANSFER needs a direction, a key and a file"),
        ),
        (
            b"TRANSFER STORE".to_vec(),
            Want::Exactly("ERROR TRANSFER needs a direction, a key and a file"),
        ),
        (
            format!("TRANSFER SIDEWAYS {K} f").into_bytes(),
            Want::Exactly(
                "ERROR bad direction in TRANSFER: `SIDEWAYS`; expected STORE or RETRIEVE",
            ),
        ),
        (
            b"CHECKPRESENT not-a-key".to_vec(),
            Want::Exactly("ERROR bad key in CHECKPRESENT: key has no `--` before its name"),
        ),
        (
            format!("CHECKPRESENT {K}\r").into_bytes(),
            Want::Exactly(
                "ERROR bad key in CHECKPRESENT: key contains whitespace or a control character",
            ),
        ),
        (
            two_mib.into_bytes(),
            Want::Exactly("ERROR line too long (more than 1048576 bytes)"),
        ),
        (
            b"\xff\xfe\x00garbage\x80".to_vec(),
            Want::StartsWith("ERROR line is not valid UTF-8"),
        ),
        (
            format!("J x CHECKPRESENT {K}").into_bytes(),
            Want::StartsWith("ERROR bad job framing"),
        ),
        (
            format!("checkpresent {K}").into_bytes(),
            Want::Exactly("UNSUPPORTED-REQUEST"),
        ),
        (
            b"FROBNICATE a b c".to_vec(),
            Want::Exactly("UNSUPPORTED-REQUEST"),
        ),
        (
            b"PREPARE now".to_vec(),
            Want::Exactly("ERROR PREPARE takes no parameters, got `now`"),
        ),
    ];
    let mut a = Annexd::start(Arc::new(MemRemote::default())).await;
    for (line, want) in table {
        let mut bytes = line.clone();
        bytes.push(b'\n');
        a.send_bytes(&bytes).await;
        let got = a.recv().await;
        let shown = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
        match want {
            Want::Exactly(w) => assert_eq!(got, w, "answer to {shown:?}"),
            Want::StartsWith(w) => assert!(got.starts_with(w), "answer to {shown:?}: {got}"),
        }
        // The session still works.
        a.ask(
            &format!("CHECKPRESENT {K}"),
            &format!("CHECKPRESENT-FAILURE {K}"),
        )
        .await;
    }
    a.finish().await.unwrap();
}

#[tokio::test]
async fn over_long_tagged_line_is_answered_on_its_job() {
    let mut a = Annexd::start(Arc::new(MemRemote::default())).await;
    a.send(&format!("J 9 TRANSFER STORE {K} {}", "y".repeat(3 << 20)))
        .await;
    a.expect("J 9 ERROR line too long (more than 1048576 bytes)")
        .await;
    a.finish().await.unwrap();
}

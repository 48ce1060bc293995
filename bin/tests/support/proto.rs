//! Drives `git-annex-remote-ferry` directly over the protocol, playing git-annex's side, for
//! the tests that need exact replies (malformed lines, CHECKPRESENT on a broken store).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use super::test_path;

/// How long any single reply may take before the test calls it a hang. Generous: with every
/// test slot busy, a 1 GiB upload to the loopback S3 server once went 20 s between two
/// PROGRESS lines (the server, not the remote, was starved); only a failing test waits this long.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running remote process and git-annex's view of it.
pub struct RemoteProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Answers to GETCONFIG (unset names answer `VALUE `).
    pub config: HashMap<String, String>,
    /// Every line exchanged, for failure messages: `> ` from the remote, `< ` to it.
    pub transcript: Vec<String>,
}

impl RemoteProcess {
    /// Starts the remote with `config` as its GETCONFIG answers; reads its VERSION line.
    pub fn start(config: &[(&str, &str)], cwd: &std::path::Path) -> RemoteProcess {
        Self::start_env(config, cwd, &[])
    }

    /// [`RemoteProcess::start`] with extra environment variables.
    pub fn start_env(
        config: &[(&str, &str)],
        cwd: &std::path::Path,
        env: &[(&str, &str)],
    ) -> RemoteProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_git-annex-remote-ferry"))
            .current_dir(cwd)
            .env("PATH", test_path())
            .env_remove("FERRY_LOG_FILE")
            .env_remove("FERRY_PASSPHRASE")
            .env_remove("FERRY_PASSPHRASE_FILE")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start git-annex-remote-ferry");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut buf = Vec::new();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf).into_owned();
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stdin = child.stdin.take();
        let mut remote = RemoteProcess {
            child,
            stdin,
            lines: rx,
            config: config
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            transcript: Vec::new(),
        };
        let version = remote.read_line();
        assert_eq!(version, "VERSION 2", "first line must be VERSION 2");
        remote
    }

    /// The remote's process id (for reading its memory use from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one raw line (a `\n` is added).
    pub fn send(&mut self, line: &str) {
        self.send_bytes(line.as_bytes());
    }

    /// Sends raw bytes followed by `\n` (for binary garbage tests).
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.transcript
            .push(format!("< {}", String::from_utf8_lossy(bytes)));
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).expect("write to remote");
        stdin.write_all(b"\n").expect("write to remote");
        stdin.flush().expect("flush to remote");
    }

    /// The next line from the remote, without its `\n`. Panics on EOF or timeout.
    pub fn read_line(&mut self) -> String {
        match self.lines.recv_timeout(REPLY_TIMEOUT) {
            Ok(line) => {
                assert!(line.ends_with('\n'), "line without newline: {line:?}");
                let line = line.trim_end_matches('\n').to_owned();
                self.transcript.push(format!("> {line}"));
                line
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!("remote hung; transcript:\n{}", self.transcript.join("\n"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("remote exited; transcript:\n{}", self.transcript.join("\n"))
            }
        }
    }

    /// Reads lines until a reply that is not a query, answering queries as git-annex would.
    pub fn reply(&mut self) -> String {
        loop {
            let line = self.read_line();
            let (verb, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            match verb {
                "GETCONFIG" => {
                    let v = self.config.get(rest).cloned().unwrap_or_default();
                    self.send(&format!("VALUE {v}"));
                }
                "GETUUID" => self.send("VALUE 00000000-1111-2222-3333-444444444444"),
                "GETGITDIR" => self.send("VALUE .git"),
                "GETGITREMOTENAME" => self.send("VALUE r"),
                "GETCREDS" => self.send("CREDS  "),
                "GETSTATE" => self.send("VALUE "),
                "DIRHASH" | "DIRHASH-LOWER" => {
                    panic!("ferry must compute directory hashes itself, yet sent {line}")
                }
                "SETCONFIG" => {
                    // As git-annex does: later GETCONFIGs (and processes started with this
                    // config) see the value.
                    let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
                    self.config.insert(name.to_owned(), value.to_owned());
                }
                "SETSTATE" | "PROGRESS" | "DEBUG" | "INFO" | "SETCREDS" => {}
                _ => return line,
            }
        }
    }

    /// Sends a request and returns its (final) reply.
    pub fn request(&mut self, line: &str) -> String {
        self.send(line);
        self.reply()
    }

    /// EXTENSIONS, then PREPARE; asserts both succeed.
    pub fn handshake(&mut self, extensions: &str) {
        let ext = self.request(&format!("EXTENSIONS {extensions}"));
        assert!(ext.starts_with("EXTENSIONS"), "EXTENSIONS reply: {ext}");
        self.prepare();
    }

    /// INITREMOTE, as `git annex initremote` does before any use of a new store.
    pub fn init_remote(&mut self) {
        let init = self.request("INITREMOTE");
        assert_eq!(
            init,
            "INITREMOTE-SUCCESS",
            "transcript:\n{}",
            self.transcript.join("\n")
        );
    }

    /// PREPARE; asserts it succeeds.
    pub fn prepare(&mut self) {
        let prep = self.request("PREPARE");
        assert_eq!(
            prep,
            "PREPARE-SUCCESS",
            "transcript:\n{}",
            self.transcript.join("\n")
        );
    }

    /// Closes stdin and waits for the process to exit; returns whether it exited by itself
    /// within the timeout.
    pub fn finish(mut self) -> bool {
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + REPLY_TIMEOUT;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for RemoteProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

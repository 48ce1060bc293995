//! A test harness that plays git-annex against `driver::run` over in-memory pipes, and a small
//! in-memory `SpecialRemote`.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use remote_proto::dirhash::hashdir_mixed;
use remote_proto::{
    Annex, ConfigOption, Extension, Failure, InfoField, Key, Presence, Retrieved, SpecialRemote,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};
use tokio::sync::{Barrier, Notify};
use tokio::task::JoinHandle;

/// How long any single expected line may take before the test fails (instead of hanging).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// git-annex's side of a running session.
pub struct Annexd {
    to_remote: DuplexStream,
    from_remote: Lines<BufReader<DuplexStream>>,
    pub task: JoinHandle<io::Result<()>>,
}

impl Annexd {
    /// Starts `remote` under the driver and reads its `VERSION 2`.
    pub async fn start<R: SpecialRemote>(remote: Arc<R>) -> Annexd {
        Annexd::start_with_pipe_size(remote, 64 * 1024).await
    }

    /// As `start`, with pipes that hold `size` bytes (small: the remote's writer blocks soon).
    pub async fn start_with_pipe_size<R: SpecialRemote>(remote: Arc<R>, size: usize) -> Annexd {
        let (to_remote, remote_in) = tokio::io::duplex(64 * 1024);
        let (remote_out, from_remote) = tokio::io::duplex(size);
        let task = tokio::spawn(remote_proto::driver::run(remote, remote_in, remote_out));
        let mut a = Annexd {
            to_remote,
            from_remote: BufReader::new(from_remote).lines(),
            task,
        };
        a.expect("VERSION 2").await;
        a
    }

    /// Sends one line (a `\n` is added).
    pub async fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\n").as_bytes()).await;
    }

    /// Sends raw bytes.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        tokio::time::timeout(PATIENCE, self.to_remote.write_all(bytes))
            .await
            .expect("the remote stopped reading")
            .expect("write to the remote");
    }

    /// The next line from the remote.
    pub async fn recv(&mut self) -> String {
        match tokio::time::timeout(PATIENCE, self.from_remote.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => panic!("the remote closed its output"),
            Ok(Err(e)) => panic!("reading from the remote: {e}"),
            Err(_) => panic!("no line from the remote within {PATIENCE:?}"),
        }
    }

    /// Asserts the next line.
    pub async fn expect(&mut self, want: &str) {
        let got = self.recv().await;
        assert_eq!(got, want);
    }

    /// Sends a request and asserts its one-line reply.
    pub async fn ask(&mut self, line: &str, want: &str) {
        self.send(line).await;
        self.expect(want).await;
    }

    /// Closes the remote's input (git-annex is done) and waits for `run` to return.
    pub async fn finish(self) -> io::Result<()> {
        let Annexd {
            to_remote,
            mut from_remote,
            task,
        } = self;
        drop(to_remote);
        let r = tokio::time::timeout(PATIENCE, task)
            .await
            .expect("run did not return after EOF")
            .expect("run panicked");
        // Nothing may be left unread: every line was accounted for by the test.
        if let Ok(Ok(Some(extra))) =
            tokio::time::timeout(Duration::from_millis(50), from_remote.next_line()).await
        {
            panic!("unexpected line after the session: {extra}");
        }
        r
    }
}

/// How many PROGRESS values a `progress…` STORE reports.
pub const PROGRESS_STEPS: u64 = 10_000;

pub fn key(s: &str) -> Key {
    Key::parse(s).unwrap()
}

/// An in-memory special remote. Objects are "stored" as the File path they came from, which
/// is all a protocol test needs to tell them apart.
#[derive(Default)]
pub struct MemRemote {
    pub wanted: Vec<Extension>,
    pub objects: Mutex<HashMap<String, String>>,
    pub exports: Mutex<HashMap<String, String>>,
    pub log: Mutex<Vec<String>>,
    /// When set, every STORE waits here, so a test can prove that N of them overlap.
    pub store_barrier: Option<Barrier>,
    pub in_store: AtomicUsize,
    pub max_in_store: AtomicUsize,
    /// Handlers for keys named `block…` wait on this forever (for cancellation tests).
    pub never: Notify,
    /// Notified when a STORE of a key named `progress…` has sent all its PROGRESS.
    pub progress_sent: Notify,
}

impl MemRemote {
    pub fn with_extensions(wanted: Vec<Extension>) -> MemRemote {
        MemRemote {
            wanted,
            ..MemRemote::default()
        }
    }

    fn note(&self, s: String) {
        self.log.lock().unwrap().push(s);
    }
}

#[async_trait::async_trait]
impl SpecialRemote for MemRemote {
    fn extensions(&self) -> Vec<Extension> {
        self.wanted.clone()
    }

    async fn init_remote(&self, annex: &Annex) -> Result<(), Failure> {
        annex.set_config("setbyinit", "yes").await?;
        Ok(())
    }

    async fn prepare(&self, annex: &Annex) -> Result<(), Failure> {
        let dir = annex.get_config("directory").await?;
        let (user, password) = annex.get_creds("mycreds").await?;
        self.note(format!("prepare dir={dir} user={user} password={password}"));
        Ok(())
    }

    async fn store(&self, key: &Key, file: &Path, annex: &Annex) -> Result<(), Failure> {
        if key.name().starts_with("panic") {
            panic!("boom while storing {key}");
        }
        if key.name().starts_with("block") {
            self.never.notified().await;
        }
        if key.name().starts_with("progress") {
            annex.info("sending lots of progress").await;
            for n in 1..=PROGRESS_STEPS {
                annex.progress(n);
                if n % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            self.progress_sent.notify_one();
            return Ok(());
        }
        let now = self.in_store.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_store.fetch_max(now, Ordering::SeqCst);
        if let Some(b) = &self.store_barrier {
            b.wait().await;
        }
        // Ask git-annex for the hash directory and check that the answer is ours: with
        // many jobs asking at once, a misrouted answer shows up here.
        let hash = annex.dirhash(key).await?;
        if hash != hashdir_mixed(key) {
            return Err(Failure::new(format!(
                "DIRHASH answer {hash} belongs to another key"
            )));
        }
        let size = key.size().unwrap_or(0);
        annex.progress(size / 2);
        annex.progress(size);
        self.objects
            .lock()
            .unwrap()
            .insert(key.to_string(), file.to_string_lossy().into_owned());
        self.in_store.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }

    async fn retrieve(&self, key: &Key, file: &Path, _: &Annex) -> Result<Retrieved, Failure> {
        match self.objects.lock().unwrap().get(key.as_str()) {
            Some(_) => {
                self.note(format!("retrieve {key} into {}", file.display()));
                Ok(Retrieved::Written)
            }
            None => Err(Failure::new(format!("{key} is not stored here"))),
        }
    }

    async fn check_present(&self, key: &Key, _: &Annex) -> Result<Presence, Failure> {
        if key.name().starts_with("unreachable") {
            return Err("cannot reach the store".into());
        }
        Ok(if self.objects.lock().unwrap().contains_key(key.as_str()) {
            Presence::Present
        } else {
            Presence::Absent
        })
    }

    async fn remove(&self, key: &Key, _: &Annex) -> Result<(), Failure> {
        self.objects.lock().unwrap().remove(key.as_str());
        Ok(())
    }

    async fn list_configs(&self, annex: &Annex) -> Result<Vec<ConfigOption>, Failure> {
        // git-annex refuses GETUUID in LISTCONFIGS processes; that must not break the listing.
        let uuid = annex.get_uuid().await;
        self.note(format!("listconfigs uuid={uuid:?}"));
        Ok(vec![ConfigOption {
            name: "directory".into(),
            description: "where to store the objects".into(),
        }])
    }

    async fn get_info(&self, _: &Annex) -> Result<Vec<InfoField>, Failure> {
        Ok(vec![InfoField {
            name: "store directory".into(),
            value: "/tmp/store".into(),
        }])
    }

    async fn whereis(&self, key: &Key, annex: &Annex) -> Result<Option<String>, Failure> {
        let urls = annex.get_urls(key, "").await?;
        Ok(Some(urls.join(" ")))
    }

    async fn export_supported(&self, _: &Annex) -> Result<bool, Failure> {
        Ok(true)
    }

    async fn store_export(
        &self,
        key: &Key,
        _file: &Path,
        name: &str,
        _: &Annex,
    ) -> Result<(), Failure> {
        self.exports
            .lock()
            .unwrap()
            .insert(name.to_owned(), key.to_string());
        Ok(())
    }

    async fn check_present_export(
        &self,
        key: &Key,
        name: &str,
        _: &Annex,
    ) -> Result<Presence, Failure> {
        Ok(
            if self.exports.lock().unwrap().get(name).map(String::as_str) == Some(key.as_str()) {
                Presence::Present
            } else {
                Presence::Absent
            },
        )
    }

    async fn rename_export(
        &self,
        key: &Key,
        old_name: &str,
        new_name: &str,
        _: &Annex,
    ) -> Result<(), Failure> {
        let mut ex = self.exports.lock().unwrap();
        match ex.remove(old_name) {
            Some(k) if k == key.as_str() => {
                ex.insert(new_name.to_owned(), k);
                Ok(())
            }
            _ => Err(Failure::new(format!("nothing exported at {old_name}"))),
        }
    }
}

//! `fake-remote`: a small external special remote that keeps objects in a directory, used by
//! ferry-conformance's own tests. Without a flaw it follows the protocol (atomic STOREs,
//! UNKNOWN when the store is unreachable, ASYNC handled one job at a time, export); each
//! `--flaw NAME` breaks exactly one rule, so a test can show that the suite catches it:
//!
//! - `unreachable-failure`: CHECKPRESENT-FAILURE when the store directory is missing;
//! - `non-atomic`: STORE writes straight to the final name, slowly (killing it leaves a partial
//!   object that CHECKPRESENT reports present);
//! - `corrupt-retrieve`: RETRIEVE flips one byte;
//! - `append-retrieve`: RETRIEVE appends to whatever the destination holds;
//! - `hang-checkpresent`: CHECKPRESENT never answers;
//! - `exit-on-unknown`: an unknown request gets ERROR and the process exits (like `rclone
//!   gitannex`);
//! - `progress-overflow`: PROGRESS goes beyond the size;
//! - `async-wrong-job`: ASYNC replies carry the wrong job number;
//! - `escape-store`: objects are named by joining the raw key onto the store path, so `..` in a
//!   key escapes;
//! - `exit-on-error-reply`: exits when git-annex answers GETUUID with ERROR;
//! - `extra-extension`: asks for an extension git-annex did not offer.
//!
//! Configuration: `directory` (GETCONFIG), which must exist.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use remote_proto::async_jobs::{self, Framed, JobId};
use remote_proto::dirhash::hashdir_lower;
use remote_proto::{Answer, Direction, Extension, Incoming, Key, Message, Reply, Request};

/// The rule a fake breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    None,
    UnreachableFailure,
    NonAtomic,
    CorruptRetrieve,
    AppendRetrieve,
    HangCheckPresent,
    ExitOnUnknown,
    ProgressOverflow,
    AsyncWrongJob,
    EscapeStore,
    ExitOnErrorReply,
    ExtraExtension,
}

impl Flaw {
    fn parse(s: &str) -> Option<Flaw> {
        Some(match s {
            "none" => Flaw::None,
            "unreachable-failure" => Flaw::UnreachableFailure,
            "non-atomic" => Flaw::NonAtomic,
            "corrupt-retrieve" => Flaw::CorruptRetrieve,
            "append-retrieve" => Flaw::AppendRetrieve,
            "hang-checkpresent" => Flaw::HangCheckPresent,
            "exit-on-unknown" => Flaw::ExitOnUnknown,
            "progress-overflow" => Flaw::ProgressOverflow,
            "async-wrong-job" => Flaw::AsyncWrongJob,
            "escape-store" => Flaw::EscapeStore,
            "exit-on-error-reply" => Flaw::ExitOnErrorReply,
            "extra-extension" => Flaw::ExtraExtension,
            _ => return None,
        })
    }
}

/// The bytes copied between PROGRESS messages.
const CHUNK: usize = 256 * 1024;

struct Fake {
    flaw: Flaw,
    input: BufReader<io::Stdin>,
    output: io::Stdout,
    async_mode: bool,
    dir: Option<PathBuf>,
    export_names: HashMap<JobId, String>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut flaw = Flaw::None;
    while let Some(a) = args.next() {
        let parsed = match a.as_str() {
            "--flaw" => args.next().as_deref().and_then(Flaw::parse),
            _ => None,
        };
        match parsed {
            Some(f) => flaw = f,
            None => {
                eprintln!("usage: fake-remote [--flaw NAME]");
                std::process::exit(2);
            }
        }
    }
    let mut fake = Fake {
        flaw,
        input: BufReader::new(io::stdin()),
        output: io::stdout(),
        async_mode: false,
        dir: None,
        export_names: HashMap::new(),
    };
    if let Err(e) = fake.run() {
        eprintln!("fake-remote: {e}");
        std::process::exit(1);
    }
}

impl Fake {
    fn send(&mut self, job: JobId, line: impl std::fmt::Display) -> io::Result<()> {
        let job = match (self.flaw, job) {
            (Flaw::AsyncWrongJob, Some(n)) => Some(n + 1),
            _ => job,
        };
        let mut out = self.output.lock();
        writeln!(out, "{}", async_jobs::frame(job, line))?;
        out.flush()
    }

    fn read_line(&mut self) -> io::Result<Option<Result<String, String>>> {
        let mut buf = Vec::new();
        if self.input.read_until(b'\n', &mut buf)? == 0 {
            return Ok(None);
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        Ok(Some(
            String::from_utf8(buf).map_err(|_| "line is not UTF-8".to_owned()),
        ))
    }

    /// Sends a query and reads its answer; `None` when git-annex refused it with ERROR.
    fn query(&mut self, job: JobId, msg: Message) -> io::Result<Option<Answer>> {
        self.send(job, &msg)?;
        let Some(Ok(line)) = self.read_line()? else {
            return Err(io::Error::other("no answer to a query"));
        };
        let text = Framed::parse(&line).map(|f| f.line).unwrap_or(line.clone());
        match Answer::parse(&text) {
            Ok(Answer::Error(_)) => Ok(None),
            Ok(a) => Ok(Some(a)),
            Err(e) => Err(io::Error::other(format!("bad answer {line:?}: {e}"))),
        }
    }

    fn get_config(&mut self, job: JobId, name: &str) -> io::Result<String> {
        Ok(
            match self.query(job, Message::GetConfig(name.to_owned()))? {
                Some(Answer::Value(v)) => v,
                _ => String::new(),
            },
        )
    }

    fn run(&mut self) -> io::Result<()> {
        self.send(None, Message::Version(2))?;
        while let Some(line) = self.read_line()? {
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    self.send(None, Reply::error(e))?;
                    continue;
                }
            };
            let (job, text) = if self.async_mode {
                match Framed::parse(&line) {
                    Ok(f) => (f.job, f.line),
                    Err(e) => {
                        self.send(None, Reply::error(e.to_string()))?;
                        continue;
                    }
                }
            } else {
                (None, line)
            };
            match Incoming::parse(&text) {
                Ok(Incoming::Request(req)) => self.handle(job, req)?,
                Ok(Incoming::Answer(_)) => {
                    self.send(job, Reply::error("an answer with no query waiting"))?;
                }
                Err(e) => self.send(job, Reply::error(e.to_string()))?,
            }
        }
        Ok(())
    }

    /// The store directory, when it exists.
    fn store(&self) -> Option<&Path> {
        self.dir.as_deref().filter(|d| d.is_dir())
    }

    fn object(&self, store: &Path, key: &Key) -> PathBuf {
        if self.flaw == Flaw::EscapeStore {
            // The flaw: the raw key, `/` and `..` included, joined onto the store.
            return store.join(key.as_str());
        }
        store
            .join("objects")
            .join(hashdir_lower(key))
            .join(key.file_name())
    }

    fn export_path(&self, store: &Path, job: JobId) -> Option<PathBuf> {
        let name = self.export_names.get(&job)?;
        safe_relative(name).map(|rel| store.join("export").join(rel))
    }

    fn handle(&mut self, job: JobId, req: Request) -> io::Result<()> {
        let reply = match &req {
            Request::Extensions(offered) => {
                let mut wanted = vec![Extension::Info, Extension::Async];
                wanted.retain(|e| offered.contains(e));
                if self.flaw == Flaw::ExtraExtension {
                    wanted.push(Extension::Other("FROBNICATE".to_owned()));
                }
                self.send(None, Reply::Extensions(wanted.clone()))?;
                self.async_mode = wanted.contains(&Extension::Async);
                return Ok(());
            }
            Request::InitRemote => {
                let dir = self.get_config(job, "directory")?;
                if dir.is_empty() || !Path::new(&dir).is_dir() {
                    Reply::InitRemoteFailure(format!(
                        "directory={dir} is not an existing directory"
                    ))
                } else {
                    Reply::InitRemoteSuccess
                }
            }
            Request::Prepare => {
                let dir = self.get_config(job, "directory")?;
                // Asked only to show that a refused query is survivable (unless flawed).
                if self.query(job, Message::GetUuid)?.is_none()
                    && self.flaw == Flaw::ExitOnErrorReply
                {
                    std::process::exit(3);
                }
                if dir.is_empty() {
                    Reply::PrepareFailure("directory is not set".to_owned())
                } else {
                    self.dir = Some(PathBuf::from(dir));
                    Reply::PrepareSuccess
                }
            }
            Request::ListConfigs => {
                self.send(
                    job,
                    Reply::Config {
                        name: "directory".to_owned(),
                        description: "where objects are kept".to_owned(),
                    },
                )?;
                Reply::ConfigEnd
            }
            Request::GetCost => Reply::Cost(100),
            Request::GetAvailability => Reply::Availability(remote_proto::Availability::Local),
            Request::GetInfo => {
                let location = self
                    .dir
                    .as_ref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default();
                self.send(job, Reply::InfoField("directory".to_owned()))?;
                self.send(job, Reply::InfoValue(location))?;
                Reply::InfoEnd
            }
            Request::ExportSupported => Reply::ExportSupportedSuccess,
            Request::ImportSupported => Reply::ImportSupportedFailure,
            Request::Transfer { dir, key, file } => {
                let path = self.store().map(|s| self.object(s, key));
                self.transfer(job, *dir, key, file, path)?
            }
            Request::CheckPresent(key) => {
                if self.flaw == Flaw::HangCheckPresent {
                    loop {
                        std::thread::park();
                    }
                }
                match self.store().map(|s| self.object(s, key)) {
                    None if self.flaw == Flaw::UnreachableFailure => {
                        Reply::CheckPresentFailure(key.clone())
                    }
                    None => Reply::CheckPresentUnknown {
                        key: key.clone(),
                        msg: "the store directory is missing".to_owned(),
                    },
                    Some(p) if p.is_file() => Reply::CheckPresentSuccess(key.clone()),
                    Some(_) => Reply::CheckPresentFailure(key.clone()),
                }
            }
            Request::Remove(key) => match self.store().map(|s| self.object(s, key)) {
                None => Reply::RemoveFailure {
                    key: key.clone(),
                    msg: "the store directory is missing".to_owned(),
                },
                Some(p) => remove_reply(key, fs::remove_file(&p)),
            },
            Request::Export(name) => {
                self.export_names.insert(job, name.clone());
                return Ok(());
            }
            Request::TransferExport { dir, key, file } => {
                let path = self.store().and_then(|s| self.export_path(s, job));
                self.transfer(job, *dir, key, file, path)?
            }
            Request::CheckPresentExport(key) => {
                match self.store().map(|s| self.export_path(s, job)) {
                    None => Reply::CheckPresentUnknown {
                        key: key.clone(),
                        msg: "the store directory is missing".to_owned(),
                    },
                    Some(Some(p)) if p.is_file() => Reply::CheckPresentSuccess(key.clone()),
                    Some(_) => Reply::CheckPresentFailure(key.clone()),
                }
            }
            Request::RemoveExport(key) => match self.store().and_then(|s| self.export_path(s, job))
            {
                None => Reply::RemoveFailure {
                    key: key.clone(),
                    msg: "no usable export name".to_owned(),
                },
                Some(p) => remove_reply(key, fs::remove_file(&p)),
            },
            Request::RemoveExportDirectory(d) => match (self.store(), safe_relative(d)) {
                (Some(s), Some(rel)) => match fs::remove_dir_all(s.join("export").join(rel)) {
                    Ok(()) => Reply::RemoveExportDirectorySuccess,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        Reply::RemoveExportDirectorySuccess
                    }
                    Err(_) => Reply::RemoveExportDirectoryFailure,
                },
                _ => Reply::RemoveExportDirectoryFailure,
            },
            Request::RenameExport { key, new_name } => {
                let from = self.store().and_then(|s| self.export_path(s, job));
                let to = self
                    .store()
                    .and_then(|s| safe_relative(new_name).map(|r| s.join("export").join(r)));
                match (from, to) {
                    (Some(from), Some(to)) => {
                        let moved = to
                            .parent()
                            .map_or(Ok(()), fs::create_dir_all)
                            .and_then(|()| fs::rename(&from, &to));
                        match moved {
                            Ok(()) => Reply::RenameExportSuccess(key.clone()),
                            Err(_) => Reply::RenameExportFailure(key.clone()),
                        }
                    }
                    _ => Reply::RenameExportFailure(key.clone()),
                }
            }
            Request::Unknown(line) if self.flaw == Flaw::ExitOnUnknown => {
                self.send(
                    job,
                    Reply::error(format!("received unexpected message {line}")),
                )?;
                std::process::exit(1);
            }
            _ => Reply::UnsupportedRequest,
        };
        self.send(job, reply)
    }

    fn transfer(
        &mut self,
        job: JobId,
        dir: Direction,
        key: &Key,
        file: &str,
        path: Option<PathBuf>,
    ) -> io::Result<Reply> {
        let Some(path) = path else {
            return Ok(Reply::TransferFailure {
                dir,
                key: key.clone(),
                msg: "the store directory is missing, or the export name is unusable".to_owned(),
            });
        };
        let result = match dir {
            Direction::Store => self.store_file(job, Path::new(file), &path),
            Direction::Retrieve => self.retrieve_file(job, &path, Path::new(file)),
        };
        Ok(match result {
            Ok(()) => Reply::TransferSuccess {
                dir,
                key: key.clone(),
            },
            Err(e) => Reply::TransferFailure {
                dir,
                key: key.clone(),
                msg: e.to_string(),
            },
        })
    }

    fn store_file(&mut self, job: JobId, src: &Path, dest: &Path) -> io::Result<()> {
        let data = fs::read(src)?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        let size = data.len() as u64;
        if self.flaw == Flaw::NonAtomic {
            // The flaw: the final name fills up slowly, visible to CHECKPRESENT all along.
            let mut out = fs::File::create(dest)?;
            for (i, piece) in data.chunks(CHUNK).enumerate() {
                out.write_all(piece)?;
                out.flush()?;
                self.send(job, Message::Progress((i * CHUNK + piece.len()) as u64))?;
                std::thread::sleep(Duration::from_millis(20));
            }
            return Ok(());
        }
        let tmp = dest.with_file_name(format!(
            ".tmp-{}-{}",
            std::process::id(),
            dest.file_name()
                .map(|f| f.to_string_lossy())
                .unwrap_or_default()
        ));
        let mut out = fs::File::create(&tmp)?;
        for (i, piece) in data.chunks(CHUNK).enumerate() {
            out.write_all(piece)?;
            self.send(job, Message::Progress((i * CHUNK + piece.len()) as u64))?;
        }
        out.sync_all()?;
        fs::rename(&tmp, dest)?;
        if self.flaw == Flaw::ProgressOverflow {
            self.send(job, Message::Progress(size * 2 + 1))?;
        }
        Ok(())
    }

    fn retrieve_file(&mut self, job: JobId, src: &Path, dest: &Path) -> io::Result<()> {
        let mut data = Vec::new();
        fs::File::open(src)?.read_to_end(&mut data)?;
        if self.flaw == Flaw::CorruptRetrieve && !data.is_empty() {
            let mid = data.len() / 2;
            data[mid] ^= 0x01;
        }
        let mut out = if self.flaw == Flaw::AppendRetrieve {
            fs::File::options().create(true).append(true).open(dest)?
        } else {
            fs::File::create(dest)?
        };
        for (i, piece) in data.chunks(CHUNK).enumerate() {
            out.write_all(piece)?;
            self.send(job, Message::Progress((i * CHUNK + piece.len()) as u64))?;
        }
        Ok(())
    }
}

fn remove_reply(key: &Key, result: io::Result<()>) -> Reply {
    match result {
        Ok(()) => Reply::RemoveSuccess(key.clone()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Reply::RemoveSuccess(key.clone()),
        Err(e) => Reply::RemoveFailure {
            key: key.clone(),
            msg: e.to_string(),
        },
    }
}

/// An export name as a relative path, or `None` when it would leave the export directory.
fn safe_relative(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    let ok = !name.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then(|| p.to_path_buf())
}

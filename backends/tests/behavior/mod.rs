//! One behavior suite, every storage (style.md §5).
//!
//! Each file holds plain `async fn(&dyn Backend) -> anyhow::Result<()>` checks for one
//! operation. [`behavior_suite!`] instantiates every check as a test for one storage; a new
//! storage gets the whole suite with one more `behavior_suite!` line at the bottom of this file.
//! Checks that need a capability the storage lacks are skipped (and say so on stderr), and so
//! are the few a fixture names in [`Fixture::skip`], each with the reason beside it.
//! Every check works under a fresh random prefix and deletes what it stored.

pub mod delete;
pub mod get;
pub mod list;
pub mod put;
pub mod rename;
pub mod stat;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ferry_backends::directory::{DirectoryBackend, DirectoryOptions, FsCalls};
use ferry_backends::memory::MemoryBackend;
use ferry_backends::sealed::SealedBackend;
use ferry_backends::{Backend, ByteStream, Capabilities, ErrorKind, ObjectPath};
use ferry_crypto::{Algorithm, MasterKey};
use futures::StreamExt;

/// A storage under test, with whatever must live as long as it (a temp directory).
pub struct Fixture {
    pub backend: Box<dyn Backend>,
    /// Checks whose promise this storage deliberately keeps differently (never for lack of a
    /// capability, which [`supported`] handles); the fixture says why.
    pub skip: &'static [&'static str],
    _dir: Option<tempfile::TempDir>,
}

pub fn memory() -> Fixture {
    Fixture {
        backend: Box::new(MemoryBackend::new()),
        skip: &[],
        _dir: None,
    }
}

pub fn directory(fsync: bool, calls: FsCalls) -> Fixture {
    let dir = tempfile::tempdir().expect("a temp dir can be created");
    // A prefix that does not exist yet: initialize creates it, as at INITREMOTE.
    let prefix = ObjectPath::new("annex/objects").expect("a valid prefix");
    Fixture {
        backend: Box::new(DirectoryBackend::new(
            dir.path().to_owned(),
            Some(prefix),
            DirectoryOptions { fsync, calls },
        )),
        skip: &[],
        _dir: Some(dir),
    }
}

/// The S3 test server (`scripts/test-servers`), in a fresh store prefix of its bucket.
pub fn s3() -> Fixture {
    let server = crate::servers::s3_server();
    let prefix = format!("{}/store", crate::servers::fresh_prefix());
    Fixture {
        backend: Box::new(server.backend(&server.endpoint, &prefix, crate::servers::test_http())),
        skip: &[],
        _dir: None,
    }
}

/// The WebDAV test server (`scripts/test-servers`), in a fresh collection that `initialize`
/// creates.
pub fn webdav() -> Fixture {
    let server = crate::servers::webdav_server();
    let prefix = format!("{}/store", crate::servers::fresh_prefix());
    Fixture {
        backend: Box::new(server.backend(&server.url, &prefix, crate::servers::test_http())),
        skip: &[],
        _dir: None,
    }
}

/// The fake Google Drive (`tests/gdrive_fake/`), started in this test's runtime, with a fresh
/// root folder. Small pages, 1 MiB chunks and multipart only up to 1 MiB, so that paging and
/// multi-chunk resumable uploads run in every check.
pub fn gdrive() -> Fixture {
    let fake = crate::gdrive_fake::FakeDrive::start_with(crate::gdrive_fake::FakeOptions {
        max_page_size: 3,
        ..Default::default()
    });
    let root = fake.add_folder("root", "ferry-behavior");
    let mut config = fake.config(Some(root));
    config.prefix = Some(ObjectPath::new("annex/objects").expect("a valid prefix"));
    config.options.chunk_size = 1024 * 1024;
    config.options.multipart_max = 1024 * 1024;
    Fixture {
        backend: Box::new(
            ferry_backends::gdrive::GdriveBackend::new(config).expect("a valid Drive config"),
        ),
        skip: &[],
        _dir: None,
    }
}

/// Checks a [`SealedBackend`] keeps differently: it resumes a partial file only when the header
/// it saved beside it still matches the object (shared/crypto-format.md §7), so a partial file
/// without one is fetched again from the start, where the check expects an append. `sealed.rs`
/// tests its resume instead.
const SEALED_SKIP: &[&str] = &["get_to_file_resumes_a_partial_file"];

/// ferry's encryption over `inner`, with a fresh master key.
fn sealed(inner: Fixture, algorithm: Algorithm) -> Fixture {
    let master = MasterKey::generate().expect("the OS random generator works");
    Fixture {
        backend: Box::new(SealedBackend::new(
            Arc::from(inner.backend),
            master,
            algorithm,
        )),
        skip: SEALED_SKIP,
        _dir: inner._dir,
    }
}

pub fn sealed_memory() -> Fixture {
    sealed(memory(), Algorithm::Aes256Gcm)
}

pub fn sealed_directory() -> Fixture {
    sealed(directory(false, FsCalls::Auto), Algorithm::ChaCha20Poly1305)
}

/// Whether a check's module can run on a storage with `caps`.
pub fn supported(module: &str, caps: Capabilities) -> bool {
    match module {
        "list" => caps.list,
        "rename" => caps.rename,
        _ => true,
    }
}

/// Instantiates every check for one storage: `behavior_suite!(name => fixture expression);`.
macro_rules! behavior_suite {
    ($storage:ident => $make:expr) => {
        behavior_suite!(@storage $storage => $make;
            put: [
                round_trip_of_many_sizes,
                large_object_round_trip_when_asked,
                put_file_round_trip,
                overwrite_replaces_the_whole_object,
                short_or_long_body_fails_and_shows_nothing,
                failing_body_keeps_the_old_object,
                put_in_progress_is_invisible,
                hostile_names_round_trip,
                concurrent_puts_to_different_paths,
                concurrent_puts_to_one_path_leave_one_complete_version,
                progress_only_grows_and_ends_at_the_length,
            ],
            get: [
                get_from_offsets,
                get_of_absent_is_not_found,
                get_to_file_into_new_file,
                get_to_file_resumes_a_partial_file,
                get_to_file_leaves_a_complete_file_alone,
                get_to_file_rewrites_a_longer_file,
                get_to_file_of_absent_is_not_found,
                get_to_file_of_empty_object,
            ],
            stat: [
                stat_of_absent_is_none,
                stat_gives_length_and_time,
            ],
            delete: [
                delete_of_absent_succeeds,
                delete_removes_only_that_object,
            ],
            list: [
                list_finds_objects_below_a_prefix,
                list_of_absent_prefix_is_empty,
            ],
            rename: [
                rename_moves_the_object,
                rename_replaces_the_target,
                rename_of_absent_is_not_found,
                remove_empty_dir_keeps_objects,
            ],
        );
    };
    (@storage $storage:ident => $make:expr; $($module:ident: [$($check:ident),* $(,)?]),* $(,)?) => {
        mod $storage {
            $(
                mod $module {
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                        async fn $check() -> anyhow::Result<()> {
                            let fixture = $make;
                            let backend = &*fixture.backend;
                            // As the engine does at INITREMOTE.
                            backend.initialize().await?;
                            if !$crate::behavior::supported(stringify!($module), backend.capabilities()) {
                                eprintln!(
                                    "skipped: {} lacks the capability {} needs",
                                    stringify!($storage),
                                    stringify!($module)
                                );
                                return Ok(());
                            }
                            if fixture.skip.contains(&stringify!($check)) {
                                eprintln!(
                                    "skipped: {} keeps {} differently (see its fixture)",
                                    stringify!($storage),
                                    stringify!($check)
                                );
                                return Ok(());
                            }
                            $crate::behavior::$module::$check(backend).await
                        }
                    )*
                }
            )*
        }
    };
}

behavior_suite!(memory => crate::behavior::memory());
behavior_suite!(directory => crate::behavior::directory(true, ferry_backends::directory::FsCalls::Auto));
behavior_suite!(directory_without_fsync => crate::behavior::directory(false, ferry_backends::directory::FsCalls::Inline));
behavior_suite!(directory_on_blocking_pool => crate::behavior::directory(false, ferry_backends::directory::FsCalls::BlockingPool));
behavior_suite!(gdrive => crate::behavior::gdrive());
behavior_suite!(s3 => crate::behavior::s3());
behavior_suite!(webdav => crate::behavior::webdav());
behavior_suite!(sealed_memory => crate::behavior::sealed_memory());
behavior_suite!(sealed_directory => crate::behavior::sealed_directory());

// ---- helpers shared by the checks ----

/// A fresh random prefix, so that checks never see each other's objects (nor those of an
/// earlier run on a shared store).
pub fn scratch() -> ObjectPath {
    ObjectPath::new(&format!("ferry-test-{:016x}", rand::random::<u64>()))
        .expect("a random hex name is a valid path")
}

/// `prefix/rel` as an object path.
pub fn under(prefix: &ObjectPath, rel: &str) -> ObjectPath {
    prefix.join_path(&ObjectPath::new(rel).expect("test paths are valid"))
}

/// `len` random bytes.
pub fn random_bytes(len: usize) -> Bytes {
    let mut data = vec![0u8; len];
    rand::fill(&mut data[..]);
    Bytes::from(data)
}

/// A body handing out `data` in pieces of `piece` bytes (uneven on purpose in callers).
pub fn body(data: &Bytes, piece: usize) -> ByteStream {
    let pieces: Vec<std::io::Result<Bytes>> = (0..data.len())
        .step_by(piece.max(1))
        .map(|at| Ok(data.slice(at..(at + piece).min(data.len()))))
        .collect();
    Box::pin(futures::stream::iter(pieces))
}

/// Stores `data` at `path`.
pub async fn put_bytes(b: &dyn Backend, path: &ObjectPath, data: &Bytes) -> anyhow::Result<()> {
    b.put(path, body(data, 7919), data.len() as u64, &|_| {})
        .await?;
    Ok(())
}

/// The object at `path` from `offset`, read whole.
pub async fn read_all(b: &dyn Backend, path: &ObjectPath, offset: u64) -> anyhow::Result<Vec<u8>> {
    let mut stream = b.get(path, offset).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// Deletes everything a check stored under `prefix`.
pub async fn cleanup(
    b: &dyn Backend,
    prefix: &ObjectPath,
    known: &[ObjectPath],
) -> anyhow::Result<()> {
    if b.capabilities().list {
        for entry in b.list(Some(prefix)).await? {
            b.delete(&entry.path).await?;
        }
    }
    for path in known {
        b.delete(path).await?;
    }
    b.remove_empty_dir(prefix).await?;
    Ok(())
}

/// Asserts that `err` has `kind`, with the message for context.
pub fn assert_kind<T: std::fmt::Debug>(
    result: Result<T, ferry_backends::BackendError>,
    kind: ErrorKind,
) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == kind => Ok(()),
        Err(e) => anyhow::bail!("expected {kind:?}, got {:?}: {e}", e.kind()),
        Ok(v) => anyhow::bail!("expected {kind:?}, got Ok({v:?})"),
    }
}

/// Records progress reports.
#[derive(Default)]
pub struct ProgressLog(Mutex<Vec<u64>>);

impl ProgressLog {
    pub fn record(&self, n: u64) {
        self.0.lock().expect("progress log lock").push(n);
    }

    /// Reports never went down and the last one is `len` (none at all is fine for 0 bytes).
    pub fn assert_grows_to(&self, len: u64) -> anyhow::Result<()> {
        let seen = self.0.lock().expect("progress log lock").clone();
        anyhow::ensure!(
            seen.windows(2).all(|w| w[0] <= w[1]),
            "progress went down: {seen:?}"
        );
        if len == 0 && seen.is_empty() {
            // Nothing moved; a storage need not say so.
            return Ok(());
        }
        anyhow::ensure!(
            seen.last() == Some(&len),
            "progress ended at {:?}, expected {len}",
            seen.last()
        );
        Ok(())
    }

    /// The largest step between two reports (from 0).
    pub fn max_step(&self) -> u64 {
        let seen = self.0.lock().expect("progress log lock").clone();
        let mut prev = 0;
        let mut max = 0;
        for n in seen {
            max = max.max(n.saturating_sub(prev));
            prev = n;
        }
        max
    }
}

//! [`SealedBackend`]'s own promises, beyond the behavior suite it also passes: what the store
//! holds, every attack of shared/crypto-format.md §6.5 made on the stored bytes, and resume
//! (§7). The attacks edit the inner store directly, as a storage provider could.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ferry_backends::memory::MemoryBackend;
use ferry_backends::sealed::{SealedBackend, header_sidecar};
use ferry_backends::{
    Backend, BackendError, ByteStream, Capabilities, Description, ErrorKind, ListEntry, ObjectMeta,
    ObjectPath,
};
use ferry_crypto::{Algorithm, HEADER_LEN, MAGIC, MasterKey, sealed_len};
use futures::StreamExt;

use crate::behavior::{put_bytes, random_bytes, read_all};

const S: usize = 64 * 1024;
const SEALED_SEGMENT: usize = S + 16;

/// A sealed store over a memory store the test can edit behind its back.
struct Setup {
    raw: Arc<MemoryBackend>,
    sealed: SealedBackend,
}

fn setup() -> Setup {
    let raw = Arc::new(MemoryBackend::new());
    let master = MasterKey::generate().expect("the OS random generator works");
    let sealed = SealedBackend::new(raw.clone(), master, Algorithm::Aes256Gcm);
    Setup { raw, sealed }
}

fn path(p: &str) -> ObjectPath {
    ObjectPath::new(p).expect("a valid test path")
}

/// A storage name as the engine makes them (the object is bound to it).
fn name(i: u8) -> ObjectPath {
    path(&format!(
        "d31/e82/FERRYHMACSHA256--{}",
        format!("{i:02x}").repeat(32)
    ))
}

/// Fetches `p` into a fresh file and returns the error, asserting that neither plaintext nor
/// the header sidecar is left behind.
async fn fetch_fails(b: &dyn Backend, p: &ObjectPath) -> anyhow::Result<BackendError> {
    let local = tempfile::tempdir()?;
    let dest = local.path().join("dest");
    let err = match b.get_to_file(p, &dest, &|_| {}).await {
        Ok(()) => anyhow::bail!("a damaged object was retrieved"),
        Err(e) => e,
    };
    anyhow::ensure!(
        !dest.exists(),
        "plaintext left at the destination after: {err}"
    );
    anyhow::ensure!(
        !header_sidecar(&dest).exists(),
        "header sidecar left behind"
    );
    Ok(err)
}

fn assert_damaged(err: &BackendError, says: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        err.kind() == ErrorKind::Damaged,
        "kind {:?}: {err}",
        err.kind()
    );
    anyhow::ensure!(
        err.to_string().contains(says),
        "expected {says:?} in: {err}"
    );
    Ok(())
}

/// Reads the whole plaintext stream, returning its error if any.
async fn read_stream(b: &dyn Backend, p: &ObjectPath, offset: u64) -> Result<Vec<u8>, String> {
    let mut stream = b.get(p, offset).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
    }
    Ok(out)
}

async fn edit_raw(
    raw: &MemoryBackend,
    p: &ObjectPath,
    edit: impl FnOnce(&mut Vec<u8>),
) -> anyhow::Result<()> {
    let mut bytes = read_all(raw, p, 0).await?;
    edit(&mut bytes);
    put_bytes(raw, p, &Bytes::from(bytes)).await
}

#[tokio::test]
async fn the_store_holds_sealed_bytes_of_the_announced_length() -> anyhow::Result<()> {
    let t = setup();
    let p = name(1);
    // Repetitive, so that any plaintext window would be easy to find.
    let data = Bytes::from(b"ferry plaintext! ".repeat(20_000));
    put_bytes(&t.sealed, &p, &data).await?;
    let stored = read_all(&*t.raw, &p, 0).await?;
    anyhow::ensure!(stored.len() as u64 == sealed_len(data.len() as u64)?);
    anyhow::ensure!(stored[..8] == MAGIC);
    anyhow::ensure!(
        !stored.windows(17).any(|w| w == b"ferry plaintext! "),
        "plaintext visible in the store"
    );
    let meta = t.sealed.stat(&p).await?;
    anyhow::ensure!(meta.map(|m| m.len) == Some(data.len() as u64));
    anyhow::ensure!(read_all(&t.sealed, &p, 0).await? == data);
    // The same plaintext sealed again gets a fresh salt, hence other bytes.
    put_bytes(&t.sealed, &p, &data).await?;
    anyhow::ensure!(read_all(&*t.raw, &p, 0).await? != stored);
    Ok(())
}

#[tokio::test]
async fn a_flipped_ciphertext_bit_fails_and_leaves_no_plaintext() -> anyhow::Result<()> {
    let t = setup();
    let p = name(2);
    let data = random_bytes(4 * S + 100);
    put_bytes(&t.sealed, &p, &data).await?;
    // In segment 2: segments 0 and 1 verify and are written before the failure is found.
    edit_raw(&t.raw, &p, |b| {
        b[HEADER_LEN + 2 * SEALED_SEGMENT + 7] ^= 0x01
    })
    .await?;
    let err = fetch_fails(&t.sealed, &p).await?;
    assert_damaged(&err, "segment 2 failed authentication")?;
    anyhow::ensure!(err.to_string().contains(p.as_str()), "{err}");
    // Streams fail too, and from an offset behind the damage as well.
    let streamed = read_stream(&t.sealed, &p, 0).await;
    anyhow::ensure!(
        matches!(&streamed, Err(e) if e.contains("segment 2")),
        "{streamed:?}"
    );
    anyhow::ensure!(
        read_stream(&t.sealed, &p, (2 * S + 1) as u64)
            .await
            .is_err()
    );
    // Offsets past the damage read fine: those segments are intact.
    anyhow::ensure!(
        read_stream(&t.sealed, &p, (3 * S) as u64).await.ok() == Some(data[3 * S..].to_vec())
    );
    Ok(())
}

#[tokio::test]
async fn an_edited_header_fails() -> anyhow::Result<()> {
    let t = setup();
    let p = name(3);
    put_bytes(&t.sealed, &p, &random_bytes(1000)).await?;
    // A salt byte: the header still parses, but the object's key changes.
    edit_raw(&t.raw, &p, |b| b[40] ^= 0x80).await?;
    assert_damaged(
        &fetch_fails(&t.sealed, &p).await?,
        "segment 0 failed authentication",
    )?;
    edit_raw(&t.raw, &p, |b| b[0] = b'X').await?;
    assert_damaged(
        &fetch_fails(&t.sealed, &p).await?,
        "not a ferry-encrypted object",
    )?;
    Ok(())
}

#[tokio::test]
async fn truncated_objects_are_absent_or_fail_to_open() -> anyhow::Result<()> {
    let t = setup();
    let p = name(4);
    put_bytes(&t.sealed, &p, &random_bytes(2 * S + 10)).await?;
    // Sixteen bytes short, the final segment is shorter than a tag: no plaintext has that
    // sealed length, so it is no copy at all.
    edit_raw(&t.raw, &p, |b| b.truncate(b.len() - 16)).await?;
    anyhow::ensure!(
        t.sealed.stat(&p).await?.is_none(),
        "a truncated object counted as present"
    );
    assert_damaged(&fetch_fails(&t.sealed, &p).await?, "")?;
    // Cut at a segment boundary the length is plausible (it is that of a 2-segment object),
    // but segment 1 is not sealed as the final one.
    edit_raw(&t.raw, &p, |b| b.truncate(HEADER_LEN + 2 * SEALED_SEGMENT)).await?;
    anyhow::ensure!(t.sealed.stat(&p).await?.map(|m| m.len) == Some(2 * S as u64));
    assert_damaged(&fetch_fails(&t.sealed, &p).await?, "truncated")?;
    // Down to the header alone.
    edit_raw(&t.raw, &p, |b| b.truncate(HEADER_LEN)).await?;
    anyhow::ensure!(t.sealed.stat(&p).await?.is_none());
    assert_damaged(&fetch_fails(&t.sealed, &p).await?, "truncated")?;
    Ok(())
}

#[tokio::test]
async fn reordered_or_dropped_segments_fail() -> anyhow::Result<()> {
    let t = setup();
    let p = name(5);
    put_bytes(&t.sealed, &p, &random_bytes(3 * S)).await?;
    let original = read_all(&*t.raw, &p, 0).await?;
    let seg = |i: usize| HEADER_LEN + i * SEALED_SEGMENT..HEADER_LEN + (i + 1) * SEALED_SEGMENT;
    let mut swapped = original[..HEADER_LEN].to_vec();
    for i in [1, 0, 2] {
        swapped.extend_from_slice(&original[seg(i)]);
    }
    put_bytes(&*t.raw, &p, &Bytes::from(swapped)).await?;
    assert_damaged(
        &fetch_fails(&t.sealed, &p).await?,
        "segment 0 failed authentication",
    )?;
    let mut dropped = original[..HEADER_LEN].to_vec();
    for i in [0, 2] {
        dropped.extend_from_slice(&original[seg(i)]);
    }
    put_bytes(&*t.raw, &p, &Bytes::from(dropped)).await?;
    assert_damaged(
        &fetch_fails(&t.sealed, &p).await?,
        "segment 1 failed authentication",
    )?;
    Ok(())
}

#[tokio::test]
async fn objects_swapped_between_names_fail() -> anyhow::Result<()> {
    let t = setup();
    let (a, b) = (name(6), name(7));
    put_bytes(&t.sealed, &a, &random_bytes(5000)).await?;
    put_bytes(&t.sealed, &b, &random_bytes(5000)).await?;
    let raw_a = read_all(&*t.raw, &a, 0).await?;
    let raw_b = read_all(&*t.raw, &b, 0).await?;
    put_bytes(&*t.raw, &a, &Bytes::from(raw_b)).await?;
    put_bytes(&*t.raw, &b, &Bytes::from(raw_a)).await?;
    // Same length, same key, valid objects: only the name binding catches it.
    anyhow::ensure!(t.sealed.stat(&a).await?.map(|m| m.len) == Some(5000));
    assert_damaged(&fetch_fails(&t.sealed, &a).await?, "failed authentication")?;
    assert_damaged(&fetch_fails(&t.sealed, &b).await?, "failed authentication")?;
    Ok(())
}

#[tokio::test]
async fn another_master_key_is_reported_as_a_key_mismatch() -> anyhow::Result<()> {
    let t = setup();
    let p = name(8);
    put_bytes(&t.sealed, &p, &random_bytes(100)).await?;
    let other = SealedBackend::new(t.raw.clone(), MasterKey::generate()?, Algorithm::Aes256Gcm);
    assert_damaged(&fetch_fails(&other, &p).await?, "different master key")?;
    Ok(())
}

#[tokio::test]
async fn rename_is_refused_and_not_offered() -> anyhow::Result<()> {
    let t = setup();
    anyhow::ensure!(t.raw.capabilities().rename && !t.sealed.capabilities().rename);
    let p = name(9);
    put_bytes(&t.sealed, &p, &random_bytes(10)).await?;
    let err = t.sealed.rename(&p, &name(10)).await;
    anyhow::ensure!(
        matches!(&err, Err(e) if e.kind() == ErrorKind::Unsupported),
        "{err:?}"
    );
    anyhow::ensure!(t.sealed.stat(&p).await?.is_some());
    Ok(())
}

#[tokio::test]
async fn a_source_longer_than_announced_fails_as_a_local_problem() -> anyhow::Result<()> {
    let t = setup();
    let p = name(11);
    let data = random_bytes(2 * S);
    let result = t
        .sealed
        .put(&p, crate::behavior::body(&data, 4096), S as u64, &|_| {})
        .await;
    let err = result
        .err()
        .ok_or_else(|| anyhow::anyhow!("put succeeded"))?;
    anyhow::ensure!(err.kind() == ErrorKind::Local, "{err}");
    anyhow::ensure!(err.to_string().contains("announced"), "{err}");
    anyhow::ensure!(t.sealed.stat(&p).await?.is_none());
    Ok(())
}

/// Progress reports of one fetch.
#[derive(Default)]
struct Progress(Mutex<Vec<u64>>);

impl Progress {
    fn record(&self, n: u64) {
        self.0.lock().expect("progress lock").push(n);
    }

    /// The first report is `first` (where the fetch started), the last `last`, none went down.
    fn assert_from_to(&self, first: u64, last: u64) -> anyhow::Result<()> {
        let seen = self.0.lock().expect("progress lock").clone();
        anyhow::ensure!(seen.windows(2).all(|w| w[0] <= w[1]), "went down: {seen:?}");
        anyhow::ensure!(
            seen.first() == Some(&first) && seen.last() == Some(&last),
            "expected {first}..={last}, got {seen:?}"
        );
        Ok(())
    }
}

/// `dest` holding the first `len` plaintext bytes, with byte 10 flipped: if the final file
/// still has it flipped, that part was kept rather than fetched again.
fn partial_with_marker(dest: &Path, data: &[u8], len: usize) -> anyhow::Result<Vec<u8>> {
    let mut partial = data[..len].to_vec();
    partial[10] ^= 0xff;
    std::fs::write(dest, &partial)?;
    let mut marked = data.to_vec();
    marked[10] ^= 0xff;
    Ok(marked)
}

#[tokio::test]
async fn resume_continues_when_the_header_is_unchanged() -> anyhow::Result<()> {
    let t = setup();
    let p = name(12);
    let data = random_bytes(5 * S + 3);
    put_bytes(&t.sealed, &p, &data).await?;
    let local = tempfile::tempdir()?;
    let dest = local.path().join("partial");
    let marked = partial_with_marker(&dest, &data, 2 * S + 500)?;
    let header = read_all(&*t.raw, &p, 0).await?[..HEADER_LEN].to_vec();
    std::fs::write(header_sidecar(&dest), header)?;
    let log = Progress::default();
    t.sealed.get_to_file(&p, &dest, &|n| log.record(n)).await?;
    anyhow::ensure!(
        std::fs::read(&dest)? == marked,
        "the verified prefix was fetched again"
    );
    // Continued from the segment boundary below the partial length.
    log.assert_from_to((2 * S) as u64, data.len() as u64)?;
    anyhow::ensure!(
        !header_sidecar(&dest).exists(),
        "sidecar left after success"
    );
    Ok(())
}

#[tokio::test]
async fn resume_restarts_when_the_object_was_replaced() -> anyhow::Result<()> {
    let t = setup();
    let p = name(13);
    let data = random_bytes(5 * S + 3);
    put_bytes(&t.sealed, &p, &data).await?;
    let local = tempfile::tempdir()?;
    let dest = local.path().join("partial");
    partial_with_marker(&dest, &data, 2 * S + 500)?;
    let header = read_all(&*t.raw, &p, 0).await?[..HEADER_LEN].to_vec();
    std::fs::write(header_sidecar(&dest), header)?;
    // Stored again (a re-upload of the key): same plaintext, new salt, new header.
    put_bytes(&t.sealed, &p, &data).await?;
    t.sealed.get_to_file(&p, &dest, &|_| {}).await?;
    anyhow::ensure!(
        std::fs::read(&dest)? == data,
        "a prefix of the old upload was kept"
    );
    anyhow::ensure!(!header_sidecar(&dest).exists());
    // Without a sidecar, a partial file is not trusted either.
    partial_with_marker(&dest, &data, 2 * S + 500)?;
    t.sealed.get_to_file(&p, &dest, &|_| {}).await?;
    anyhow::ensure!(std::fs::read(&dest)? == data);
    Ok(())
}

#[tokio::test]
async fn an_interrupted_fetch_keeps_verified_plaintext_and_resumes() -> anyhow::Result<()> {
    let raw = Arc::new(MemoryBackend::new());
    let cut = Arc::new(CutStreams {
        inner: raw.clone(),
        after: AtomicU64::new(u64::MAX),
    });
    let master = MasterKey::generate()?;
    let sealed = SealedBackend::new(cut.clone(), master, Algorithm::ChaCha20Poly1305);
    let p = name(14);
    let data = random_bytes(6 * S + 9);
    put_bytes(&sealed, &p, &data).await?;
    let local = tempfile::tempdir()?;
    let dest = local.path().join("dest");

    cut.after.store(
        (HEADER_LEN + 3 * SEALED_SEGMENT + 100) as u64,
        Ordering::SeqCst,
    );
    let err = sealed
        .get_to_file(&p, &dest, &|_| {})
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a cut fetch succeeded"))?;
    anyhow::ensure!(err.kind() == ErrorKind::Unreachable, "{err}");
    let partial = std::fs::read(&dest)?;
    anyhow::ensure!(partial.len() == 3 * S, "kept {} bytes", partial.len());
    anyhow::ensure!(partial[..] == data[..3 * S]);
    anyhow::ensure!(
        header_sidecar(&dest).exists(),
        "no header kept for the resume"
    );

    cut.after.store(u64::MAX, Ordering::SeqCst);
    let log = Progress::default();
    sealed.get_to_file(&p, &dest, &|n| log.record(n)).await?;
    anyhow::ensure!(std::fs::read(&dest)? == data);
    log.assert_from_to((3 * S) as u64, data.len() as u64)?;
    anyhow::ensure!(!header_sidecar(&dest).exists());
    Ok(())
}

/// A storage whose read streams break (connection reset) after `after` bytes from offset 0.
#[derive(Debug)]
struct CutStreams {
    inner: Arc<MemoryBackend>,
    after: AtomicU64,
}

#[async_trait::async_trait]
impl Backend for CutStreams {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn describe(&self) -> Description {
        self.inner.describe()
    }
    async fn check(&self) -> Result<(), BackendError> {
        self.inner.check().await
    }
    async fn stat(&self, path: &ObjectPath) -> Result<Option<ObjectMeta>, BackendError> {
        self.inner.stat(path).await
    }
    async fn put(
        &self,
        path: &ObjectPath,
        body: ByteStream,
        len: u64,
        progress: ferry_backends::Progress<'_>,
    ) -> Result<(), BackendError> {
        self.inner.put(path, body, len, progress).await
    }
    async fn get(&self, path: &ObjectPath, offset: u64) -> Result<ByteStream, BackendError> {
        let bytes = read_all(&*self.inner, path, offset).await.map_err(|e| {
            BackendError::new(ErrorKind::Other, "retrieve", path.as_str(), "cut")
                .with_cause(e.to_string())
        })?;
        let keep = self.after.load(Ordering::SeqCst).saturating_sub(offset);
        let keep = usize::try_from(keep).unwrap_or(usize::MAX);
        let mut items: Vec<std::io::Result<Bytes>> = Vec::new();
        if keep < bytes.len() {
            items.push(Ok(Bytes::copy_from_slice(&bytes[..keep])));
            items.push(Err(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            )));
        } else {
            items.push(Ok(Bytes::from(bytes)));
        }
        Ok(Box::pin(futures::stream::iter(items)))
    }
    async fn delete(&self, path: &ObjectPath) -> Result<(), BackendError> {
        self.inner.delete(path).await
    }
    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ListEntry>, BackendError> {
        self.inner.list(prefix).await
    }
    async fn rename(&self, from: &ObjectPath, to: &ObjectPath) -> Result<(), BackendError> {
        self.inner.rename(from, to).await
    }
    async fn remove_empty_dir(&self, dir: &ObjectPath) -> Result<(), BackendError> {
        self.inner.remove_empty_dir(dir).await
    }
}

//! Sealing (the writer, §6.3): plaintext in, header and segments out, one segment of
//! look-ahead so the final segment is known from end of input, not from a size taken earlier.

use crate::adapters::Transform;
use crate::cipher::SegmentCipher;
use crate::error::Error;
use crate::format::{
    Algorithm, HEADER_LEN, Header, Layout, MAX_SEGMENTS, SALT_LEN, TAG_LEN, sealed_len,
};

/// The fewest segments (64 KiB each) a thread of [`Sealer::seal_many`] is given: starting a
/// thread costs tens of microseconds, sealing four segments a few hundred.
const MIN_SEGMENTS_PER_THREAD: usize = 4;
use crate::keys::MasterKey;

/// Streaming encryptor of one object (sans-IO; see [`Transform`] for the adapters).
///
/// ```
/// use ferry_crypto::{Algorithm, MasterKey, Sealer, Transform};
/// let master = MasterKey::generate()?;
/// let mut sealer = Sealer::new(&master, "FERRYHMACSHA256--00", Algorithm::Aes256Gcm)?;
/// let mut object = Vec::new();
/// sealer.push(b"hello", &mut object)?;
/// sealer.finish(&mut object)?;
/// assert_eq!(object.len() as u64, ferry_crypto::sealed_len(5)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Memory: one 64 KiB segment. The header is emitted with the first output.
pub struct Sealer {
    cipher: SegmentCipher,
    header: [u8; HEADER_LEN],
    segment_size: usize,
    header_sent: bool,
    pending: Vec<u8>,
    index: u64,
    plain_seen: u64,
    expected_len: Option<u64>,
    done: bool,
    threads: usize,
}

impl Sealer {
    /// A sealer for the object stored under `object_name`, with a fresh random salt.
    ///
    /// # Errors
    /// [`Error::Random`] if the OS generator fails.
    pub fn new(
        master: &MasterKey,
        object_name: &str,
        algorithm: Algorithm,
    ) -> Result<Sealer, Error> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(Error::Random)?;
        Ok(Sealer::with_salt(master, object_name, algorithm, salt))
    }

    /// A sealer with a given salt, for test vectors. Real writes MUST use [`Sealer::new`]: two
    /// writes of one name with one salt would reuse nonces under one key.
    pub fn with_salt(
        master: &MasterKey,
        object_name: &str,
        algorithm: Algorithm,
        salt: [u8; SALT_LEN],
    ) -> Sealer {
        let header = Header::new(algorithm, master.key_id(), salt).to_bytes();
        let file_key = master.file_key(&header, object_name);
        Sealer {
            cipher: SegmentCipher::new(algorithm, &file_key),
            header,
            segment_size: Layout::WRITE.segment_size() as usize,
            header_sent: false,
            pending: Vec::with_capacity(Layout::WRITE.sealed_segment_size() as usize),
            index: 0,
            plain_seen: 0,
            expected_len: None,
            done: false,
            threads: 1,
        }
    }

    /// Announces the plaintext length and returns the ciphertext length to announce to the
    /// storage. From then on the sealer fails with [`Error::LengthMismatch`] as soon as the input
    /// runs past it, and at `finish` if it fell short: a file that changed while it was being
    /// stored must not become an object of the wrong size.
    ///
    /// # Errors
    /// [`Error::TooLarge`] beyond 2⁴⁸ bytes.
    pub fn expect_plain_len(&mut self, plain_len: u64) -> Result<u64, Error> {
        let len = sealed_len(plain_len)?;
        self.expected_len = Some(plain_len);
        Ok(len)
    }

    /// Lets [`Transform::push`] seal a long input on up to `threads` threads at once (1, the
    /// default, seals on the caller's thread only). Worth it when sealing is the slowest step
    /// of a pipeline and a core would otherwise wait: pushes of at least a few hundred KiB,
    /// since each push starts its threads anew. The output is the same byte for byte.
    pub fn with_threads(mut self, threads: usize) -> Sealer {
        self.threads = threads.max(1);
        self
    }

    /// The object's 52-byte header (also the first output bytes).
    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    /// Seals, in place, the next segments of the object laid out as they are stored: `slots`
    /// holds segments one after the other, each its plaintext followed by [`TAG_LEN`] bytes of
    /// room for its tag. Every segment is a whole one (the layout's segment size) except, when
    /// `is_final`, the last, which ends the object and may be shorter (empty only when the
    /// whole object is). A caller that reads its input straight into `slots` saves the copy
    /// that [`Transform::push`] makes; the result is the same, byte for byte. Sealing is split
    /// over [`Sealer::with_threads`] threads.
    ///
    /// Returns the object's header the first time it is called, to be written before these
    /// segments. Cannot be mixed with `push` (it fails with [`Error::Misuse`] if `push` left a
    /// partial segment); after `is_final` the sealer is finished.
    ///
    /// # Errors
    /// [`Error::Misuse`] when `slots` is not laid out as above, [`Error::LengthMismatch`]
    /// against [`Sealer::expect_plain_len`], [`Error::TooLarge`], [`Error::Finished`].
    pub fn seal_in_place(
        &mut self,
        slots: &mut [u8],
        is_final: bool,
    ) -> Result<Option<[u8; HEADER_LEN]>, Error> {
        if self.done {
            return Err(Error::Finished("sealer"));
        }
        let result = self.seal_in_place_inner(slots, is_final);
        self.done = is_final || result.is_err();
        result
    }

    fn seal_in_place_inner(
        &mut self,
        slots: &mut [u8],
        is_final: bool,
    ) -> Result<Option<[u8; HEADER_LEN]>, Error> {
        let s = self.segment_size;
        let sealed_size = s + TAG_LEN;
        if !self.pending.is_empty() {
            return Err(Error::Misuse(
                "seal_in_place after a push that left a partial segment",
            ));
        }
        let (whole, last) = if is_final {
            if slots.len() < TAG_LEN {
                return Err(Error::Misuse("the final segment has no room for its tag"));
            }
            // The final slot is what follows the whole ones: TAG_LEN to sealed_size bytes.
            let whole = (slots.len() - TAG_LEN) / sealed_size;
            (whole, Some(slots.len() - whole * sealed_size - TAG_LEN))
        } else {
            if !slots.len().is_multiple_of(sealed_size) {
                return Err(Error::Misuse(
                    "segments before the final one must be whole, each followed by room for its tag",
                ));
            }
            (slots.len() / sealed_size, None)
        };
        if last == Some(0) && (whole > 0 || self.index > 0) {
            return Err(Error::Misuse(
                "only an empty object ends with an empty segment",
            ));
        }
        let plain = (whole * s + last.unwrap_or(0)) as u64;
        self.plain_seen += plain;
        if let Some(expected) = self.expected_len {
            let mismatch = if is_final {
                self.plain_seen != expected
            } else {
                self.plain_seen > expected
            };
            if mismatch {
                return Err(Error::LengthMismatch {
                    expected,
                    actual: self.plain_seen,
                });
            }
        }
        self.room_for(whole)?;
        let (runs, tail) = slots.split_at_mut(whole * sealed_size);
        self.seal_slots(runs, |_, _| {});
        if last.is_some() {
            let (data, tag) = tail.split_at_mut(tail.len() - TAG_LEN);
            tag.copy_from_slice(&self.cipher.seal(self.index, true, data));
        }
        let header = (!self.header_sent).then_some(self.header);
        self.header_sent = true;
        Ok(header)
    }

    /// Fails with [`Error::TooLarge`] unless `count` more non-final segments fit: the final
    /// segment needs an index too, so the non-final ones must leave room for it.
    fn room_for(&self, count: usize) -> Result<(), Error> {
        if self.index + count as u64 >= MAX_SEGMENTS {
            return Err(Error::TooLarge {
                max: Layout::WRITE.max_plain_len(),
            });
        }
        Ok(())
    }

    /// Seals `plain` as the next segment, which is not the last.
    fn seal_inner(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.room_for(1)?;
        self.cipher.seal_into(self.index, false, plain, out);
        self.index += 1;
        Ok(())
    }

    /// Seals `plain`, a run of whole non-final segments, onto `out`: each segment is copied in,
    /// then encrypted in place, split over [`Sealer::with_threads`] threads when the run is long
    /// enough to be worth a thread. Each segment's nonce comes from its position in the run, so
    /// the split changes where the work runs, never what is sealed.
    fn seal_many(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let s = self.segment_size;
        let count = plain.len() / s;
        debug_assert_eq!(count * s, plain.len());
        self.room_for(count)?;
        let sealed_size = s + TAG_LEN;
        let start = out.len();
        // Zeroes first (cheap: the buffers are reused, their pages already mapped), so that
        // each thread copies in its own segments and the copy runs in parallel too.
        out.resize(start + count * sealed_size, 0);
        let region = &mut out[start..];
        self.seal_slots(region, |n, run| {
            for (slot, segment) in run
                .chunks_exact_mut(sealed_size)
                .zip(plain[n * s..].chunks_exact(s))
            {
                slot[..s].copy_from_slice(segment);
            }
        });
        Ok(())
    }

    /// Seals the whole, non-final segments laid out in `slots` (each followed by room for its
    /// tag) as the next ones, split over the sealer's threads; `fill(first, run)` runs first on
    /// each thread's run, whose first segment is the `first`-th of `slots`, to put the
    /// plaintext in place.
    fn seal_slots(&mut self, slots: &mut [u8], fill: impl Fn(usize, &mut [u8]) + Sync) {
        let s = self.segment_size;
        let sealed_size = s + TAG_LEN;
        let count = slots.len() / sealed_size;
        let first = self.index;
        let cipher = &self.cipher;
        let seal_run = |n: usize, run: &mut [u8]| {
            fill(n, run);
            for (i, sealed) in run.chunks_exact_mut(sealed_size).enumerate() {
                let (data, tag) = sealed.split_at_mut(s);
                tag.copy_from_slice(&cipher.seal(first + (n + i) as u64, false, data));
            }
        };
        let threads = self.threads.min(count / MIN_SEGMENTS_PER_THREAD).max(1);
        if threads == 1 {
            seal_run(0, slots);
        } else {
            let per_thread = count.div_ceil(threads);
            std::thread::scope(|scope| {
                let mut runs = slots.chunks_mut(per_thread * sealed_size).enumerate();
                // This thread takes the first run; the others get a scoped thread each.
                let (_, own) = runs.next().expect("count > 0, so there is a first run");
                for (r, run) in runs {
                    let seal_run = &seal_run;
                    scope.spawn(move || seal_run(r * per_thread, run));
                }
                seal_run(0, own);
            });
        }
        self.index += count as u64;
    }

    fn push_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.plain_seen += input.len() as u64;
        if let Some(expected) = self.expected_len
            && self.plain_seen > expected
        {
            return Err(Error::LengthMismatch {
                expected,
                actual: self.plain_seen,
            });
        }
        if !self.header_sent {
            out.extend_from_slice(&self.header);
            self.header_sent = true;
        }
        let s = self.segment_size;
        while !input.is_empty() {
            if self.pending.len() == s {
                // More input exists, so the pending full segment is not the last one.
                let pending = std::mem::take(&mut self.pending);
                let sealed = self.seal_inner(&pending, out);
                self.pending = pending;
                self.pending.clear();
                sealed?;
            } else if self.pending.is_empty() && input.len() > s {
                // Fast path: every whole segment of the input that is followed by more input is
                // non-final, so it is sealed straight from the input, one copy.
                let whole = (input.len() - 1) / s * s;
                self.seal_many(&input[..whole], out)?;
                input = &input[whole..];
            } else {
                let take = (s - self.pending.len()).min(input.len());
                self.pending.extend_from_slice(&input[..take]);
                input = &input[take..];
            }
        }
        Ok(())
    }

    fn finish_inner(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if let Some(expected) = self.expected_len
            && self.plain_seen != expected
        {
            return Err(Error::LengthMismatch {
                expected,
                actual: self.plain_seen,
            });
        }
        if !self.header_sent {
            out.extend_from_slice(&self.header);
            self.header_sent = true;
        }
        // A full segment is only sealed as non-final once a byte after it arrived, so the final
        // segment here is empty only when the whole object is.
        debug_assert!(self.index == 0 || !self.pending.is_empty());
        self.cipher.seal_into(self.index, true, &self.pending, out);
        self.pending.clear();
        Ok(())
    }
}

impl Transform for Sealer {
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.done {
            return Err(Error::Finished("sealer"));
        }
        let result = self.push_inner(input, out);
        self.done = result.is_err();
        result
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.done {
            return Err(Error::Finished("sealer"));
        }
        self.done = true;
        self.finish_inner(out)
    }
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("header", &Header::parse(&self.header).ok())
            .field("segment", &self.index)
            .field("plain_seen", &self.plain_seen)
            .finish_non_exhaustive()
    }
}

/// Seals a whole plaintext held in memory into a new object.
///
/// # Errors
/// [`Error::Random`], [`Error::TooLarge`].
pub fn seal(
    master: &MasterKey,
    object_name: &str,
    algorithm: Algorithm,
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut sealer = Sealer::new(master, object_name, algorithm)?;
    let mut out = Vec::with_capacity(sealer.expect_plain_len(plaintext.len() as u64)? as usize);
    sealer.push(plaintext, &mut out)?;
    sealer.finish(&mut out)?;
    Ok(out)
}

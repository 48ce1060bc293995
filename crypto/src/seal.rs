//! Sealing (the writer, §6.3): plaintext in, header and segments out, one segment of
//! look-ahead so the final segment is known from end of input, not from a size taken earlier.

use crate::adapters::Transform;
use crate::cipher::SegmentCipher;
use crate::error::Error;
use crate::format::{Algorithm, HEADER_LEN, Header, Layout, MAX_SEGMENTS, SALT_LEN, sealed_len};
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

    /// The object's 52-byte header (also the first output bytes).
    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    /// Seals `plain` as the next segment, which is not the last.
    fn seal_inner(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        // The final segment needs an index too, so a non-final one must leave room for it.
        if self.index + 1 >= MAX_SEGMENTS {
            return Err(Error::TooLarge {
                max: Layout::WRITE.max_plain_len(),
            });
        }
        self.cipher.seal_into(self.index, false, plain, out);
        self.index += 1;
        Ok(())
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
                // Fast path: a whole non-final segment straight from the input, one copy.
                self.seal_inner(&input[..s], out)?;
                input = &input[s..];
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

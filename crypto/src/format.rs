//! Object format v1: the 52-byte header, segment geometry, length arithmetic and nonces
//! (shared/crypto-format.md §6.1–6.2).

use std::fmt;

use crate::error::{Error, HeaderError};
use crate::keys::KeyId;

/// The 8 magic bytes `\x89FERRY\r\n` (PNG-style: catches 7-bit and newline mangling).
pub const MAGIC: [u8; 8] = *b"\x89FERRY\r\n";
/// The format version this crate reads and writes.
pub const VERSION: u8 = 1;
/// Length of the header in bytes.
pub const HEADER_LEN: usize = 52;
/// Length of every segment's authentication tag.
pub const TAG_LEN: usize = 16;
/// Length of the per-object HKDF salt in the header.
pub const SALT_LEN: usize = 32;
/// log2 of the segment size v1 writers always use (64 KiB).
pub const WRITE_SEGMENT_LOG2: u8 = 16;
/// Smallest segment size exponent a reader accepts.
pub const MIN_SEGMENT_LOG2: u8 = 12;
/// Largest segment size exponent a reader accepts.
pub const MAX_SEGMENT_LOG2: u8 = 20;
/// Most segments one object may have: indices must fit in 32 bits.
pub const MAX_SEGMENTS: u64 = 1 << 32;
/// Length of a sealed empty object: the header plus one empty final segment (its tag).
pub const EMPTY_OBJECT_LEN: u64 = (HEADER_LEN + TAG_LEN) as u64;

/// The AEAD that seals an object's segments, recorded per object in header byte 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// AES-256-GCM, id `0x01`, the default.
    #[default]
    Aes256Gcm,
    /// ChaCha20-Poly1305 (RFC 8439), id `0x02`, for CPUs without AES instructions.
    ChaCha20Poly1305,
}

impl Algorithm {
    /// The header byte that names this algorithm.
    pub fn id(self) -> u8 {
        match self {
            Algorithm::Aes256Gcm => 0x01,
            Algorithm::ChaCha20Poly1305 => 0x02,
        }
    }

    /// The algorithm a header byte names, if any.
    pub fn from_id(id: u8) -> Option<Algorithm> {
        match id {
            0x01 => Some(Algorithm::Aes256Gcm),
            0x02 => Some(Algorithm::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// The config word for this algorithm (`aes256gcm`, `chacha20poly1305`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Aes256Gcm => "aes256gcm",
            Algorithm::ChaCha20Poly1305 => "chacha20poly1305",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed, valid v1 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    algorithm: Algorithm,
    layout: Layout,
    key_id: KeyId,
    salt: [u8; SALT_LEN],
}

impl Header {
    /// A header as a v1 writer makes it: 64 KiB segments, flags 0.
    pub fn new(algorithm: Algorithm, key_id: KeyId, salt: [u8; SALT_LEN]) -> Header {
        Header {
            algorithm,
            layout: Layout::WRITE,
            key_id,
            salt,
        }
    }

    /// Parses the first [`HEADER_LEN`] bytes of an object, checking in the order the spec gives:
    /// magic, version, algorithm, segment size, flags. The key id is not checked here.
    ///
    /// # Errors
    /// [`Error::Truncated`] if fewer than 52 bytes are given (unless the magic already differs),
    /// [`Error::BadHeader`], or [`Error::UnsupportedVersion`].
    pub fn parse(bytes: &[u8]) -> Result<Header, Error> {
        let magic_len = bytes.len().min(MAGIC.len());
        if bytes[..magic_len] != MAGIC[..magic_len] {
            return Err(Error::BadHeader(HeaderError::BadMagic));
        }
        let Some(bytes) = bytes.get(..HEADER_LEN) else {
            return Err(Error::Truncated {
                len: bytes.len() as u64,
            });
        };
        if bytes[8] != VERSION {
            return Err(Error::UnsupportedVersion { found: bytes[8] });
        }
        let algorithm = Algorithm::from_id(bytes[9])
            .ok_or(Error::BadHeader(HeaderError::UnknownAlgorithm(bytes[9])))?;
        let layout = Layout::new(bytes[10])?;
        if bytes[11] != 0 {
            return Err(Error::BadHeader(HeaderError::ReservedFlags(bytes[11])));
        }
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&bytes[12..20]);
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&bytes[20..HEADER_LEN]);
        Ok(Header {
            algorithm,
            layout,
            key_id: KeyId::from_bytes(key_id),
            salt,
        })
    }

    /// The 52 bytes of this header.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8] = VERSION;
        out[9] = self.algorithm.id();
        out[10] = self.layout.segment_log2();
        out[11] = 0;
        out[12..20].copy_from_slice(self.key_id.as_bytes());
        out[20..].copy_from_slice(&self.salt);
        out
    }

    /// The object's AEAD.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The object's segment geometry.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The key id of the master key the object was written under.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The per-object HKDF salt.
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }
}

/// Segment geometry of an object: its segment size S = 2^log2 and the length arithmetic that
/// follows from it (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Layout {
    segment_log2: u8,
}

impl Layout {
    /// The layout v1 writers always use: 64 KiB segments.
    pub const WRITE: Layout = Layout {
        segment_log2: WRITE_SEGMENT_LOG2,
    };

    /// The layout with segment size 2^`segment_log2`.
    ///
    /// # Errors
    /// [`Error::BadHeader`] unless `segment_log2` is within 12..=20, the range readers accept.
    pub fn new(segment_log2: u8) -> Result<Layout, Error> {
        if (MIN_SEGMENT_LOG2..=MAX_SEGMENT_LOG2).contains(&segment_log2) {
            Ok(Layout { segment_log2 })
        } else {
            Err(Error::BadHeader(HeaderError::BadSegmentSize(segment_log2)))
        }
    }

    /// log2 of the segment size.
    pub fn segment_log2(self) -> u8 {
        self.segment_log2
    }

    /// Plaintext bytes per full segment (S).
    pub fn segment_size(self) -> u64 {
        1 << self.segment_log2
    }

    /// Ciphertext bytes per full segment (S + 16).
    pub fn sealed_segment_size(self) -> u64 {
        self.segment_size() + TAG_LEN as u64
    }

    /// The largest plaintext one object can hold: 2³² segments of S bytes.
    pub fn max_plain_len(self) -> u64 {
        MAX_SEGMENTS * self.segment_size()
    }

    /// Number of segments for a plaintext of `plain_len` bytes: max(1, ⌈L/S⌉).
    pub fn segment_count(self, plain_len: u64) -> u64 {
        plain_len.div_ceil(self.segment_size()).max(1)
    }

    /// Ciphertext length of a `plain_len`-byte plaintext: H + L + 16·n.
    ///
    /// # Errors
    /// [`Error::TooLarge`] beyond [`Layout::max_plain_len`].
    pub fn sealed_len(self, plain_len: u64) -> Result<u64, Error> {
        if plain_len > self.max_plain_len() {
            return Err(Error::TooLarge {
                max: self.max_plain_len(),
            });
        }
        Ok(HEADER_LEN as u64 + plain_len + TAG_LEN as u64 * self.segment_count(plain_len))
    }

    /// Plaintext length of a `cipher_len`-byte object, the exact inverse of
    /// [`Layout::sealed_len`]; every other length is rejected.
    ///
    /// # Errors
    /// [`Error::Truncated`] below the 68 bytes of an empty object, [`Error::TooLarge`] for more
    /// than 2³² segments, and [`Error::BadLength`] for lengths no plaintext produces (a final
    /// segment shorter than a tag, or an empty final segment after a full one).
    pub fn plain_len(self, cipher_len: u64) -> Result<u64, Error> {
        if cipher_len < EMPTY_OBJECT_LEN {
            return Err(Error::Truncated { len: cipher_len });
        }
        let body = cipher_len - HEADER_LEN as u64;
        let tag = TAG_LEN as u64;
        let full = self.sealed_segment_size();
        let n = body.div_ceil(full);
        if n > MAX_SEGMENTS {
            return Err(Error::TooLarge {
                max: self.max_plain_len(),
            });
        }
        let last = body - (n - 1) * full;
        if last < tag || (n > 1 && last == tag) {
            return Err(Error::BadLength {
                len: cipher_len,
                segment_size: self.segment_size(),
            });
        }
        Ok(body - tag * n)
    }

    /// Ciphertext length of segment `index` in an object of `segments` segments whose body
    /// (ciphertext after the header) is `body_len` bytes. Callers have validated the length.
    pub(crate) fn sealed_segment_len(self, index: u64, segments: u64, body_len: u64) -> u64 {
        if index + 1 < segments {
            self.sealed_segment_size()
        } else {
            body_len - (segments - 1) * self.sealed_segment_size()
        }
    }
}

/// Ciphertext length for a `plain_len`-byte plaintext as v1 writers seal it (64 KiB segments).
///
/// Storages are told an object's length before its bytes, so the engine calls this first.
///
/// # Errors
/// [`Error::TooLarge`] beyond 2⁴⁸ bytes.
pub fn sealed_len(plain_len: u64) -> Result<u64, Error> {
    Layout::WRITE.sealed_len(plain_len)
}

/// Plaintext length of a `cipher_len`-byte object with 64 KiB segments, the inverse of
/// [`sealed_len`].
///
/// Objects may use other segment sizes; when the header is at hand, prefer
/// `Header::parse(..)?.layout().plain_len(cipher_len)`.
///
/// # Errors
/// As [`Layout::plain_len`].
pub fn plain_len(cipher_len: u64) -> Result<u64, Error> {
    Layout::WRITE.plain_len(cipher_len)
}

/// The nonce of segment `index`: 11-byte big-endian index ‖ last-segment flag.
pub(crate) fn nonce(index: u64, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    // The index is below 2^32, so the 11-byte big-endian field is 3 zero bytes and then the u64.
    nonce[3..11].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1 << 16;

    #[test]
    fn sealed_len_matches_the_spec_examples() {
        assert_eq!(sealed_len(0).unwrap(), 68);
        assert_eq!(sealed_len(5).unwrap(), 73);
        assert_eq!(sealed_len(65537).unwrap(), 65621);
        assert_eq!(sealed_len(S).unwrap(), 52 + S + 16);
        assert_eq!(sealed_len(2 * S).unwrap(), 52 + 2 * S + 32);
    }

    #[test]
    fn plain_len_inverts_sealed_len() {
        for layout in [
            Layout::new(12).unwrap(),
            Layout::WRITE,
            Layout::new(20).unwrap(),
        ] {
            let s = layout.segment_size();
            for l in [0, 1, 2, s - 1, s, s + 1, 2 * s, 3 * s - 1, 3 * s, 3 * s + 7] {
                let c = layout.sealed_len(l).unwrap();
                assert_eq!(layout.plain_len(c).unwrap(), l, "L={l} S={s}");
            }
        }
    }

    #[test]
    fn plain_len_rejects_impossible_lengths() {
        for body in 0..16u64 {
            assert!(matches!(plain_len(52 + body), Err(Error::Truncated { .. })));
        }
        for c in [52 + S + 16 + 16, 52 + S + 16 + 1, 52 + S + 16 + 15] {
            assert!(
                matches!(plain_len(c), Err(Error::BadLength { len, .. }) if len == c),
                "{c}"
            );
        }
        assert!(matches!(plain_len(0), Err(Error::Truncated { len: 0 })));
    }

    #[test]
    fn every_length_maps_to_at_most_one_plaintext_length() {
        let layout = Layout::new(12).unwrap();
        let mut seen = std::collections::HashSet::new();
        for c in 0..(52 + 5 * layout.sealed_segment_size()) {
            if let Ok(l) = layout.plain_len(c) {
                assert!(seen.insert(l));
                assert_eq!(layout.sealed_len(l).unwrap(), c);
            }
        }
        assert_eq!(seen.len() as u64, 5 * layout.segment_size());
    }

    #[test]
    fn limits_are_2_pow_32_segments() {
        let max = Layout::WRITE.max_plain_len();
        assert_eq!(max, 1 << 48);
        let c = sealed_len(max).unwrap();
        assert_eq!(plain_len(c).unwrap(), max);
        assert!(matches!(sealed_len(max + 1), Err(Error::TooLarge { .. })));
        assert!(matches!(plain_len(c + 17), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn nonces_are_big_endian_index_and_flag() {
        assert_eq!(nonce(0, false), [0; 12]);
        assert_eq!(nonce(1, true), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
        assert_eq!(
            nonce(0xffff_ffff, false),
            [0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0]
        );
    }

    #[test]
    fn header_round_trips_and_checks_in_order() {
        let h = Header::new(
            Algorithm::ChaCha20Poly1305,
            KeyId::from_bytes([7; 8]),
            [9; 32],
        );
        let bytes = h.to_bytes();
        assert_eq!(Header::parse(&bytes).unwrap(), h);

        let mut b = bytes;
        b[0] ^= 1;
        assert!(matches!(
            Header::parse(&b),
            Err(Error::BadHeader(HeaderError::BadMagic))
        ));
        let mut b = bytes;
        b[8] = 2;
        assert!(matches!(
            Header::parse(&b),
            Err(Error::UnsupportedVersion { found: 2 })
        ));
        let mut b = bytes;
        b[9] = 3;
        assert!(matches!(
            Header::parse(&b),
            Err(Error::BadHeader(HeaderError::UnknownAlgorithm(3)))
        ));
        for bad in [0, 11, 21, 255] {
            let mut b = bytes;
            b[10] = bad;
            assert!(matches!(
                Header::parse(&b),
                Err(Error::BadHeader(HeaderError::BadSegmentSize(x))) if x == bad
            ));
        }
        for good in 12..=20 {
            let mut b = bytes;
            b[10] = good;
            assert_eq!(Header::parse(&b).unwrap().layout().segment_log2(), good);
        }
        let mut b = bytes;
        b[11] = 0x80;
        assert!(matches!(
            Header::parse(&b),
            Err(Error::BadHeader(HeaderError::ReservedFlags(0x80)))
        ));
        assert!(matches!(
            Header::parse(&bytes[..51]),
            Err(Error::Truncated { len: 51 })
        ));
        assert!(matches!(
            Header::parse(b"GIF89a"),
            Err(Error::BadHeader(HeaderError::BadMagic))
        ));
    }
}

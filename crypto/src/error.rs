//! Error types: [`Error`] for sealing and opening objects, [`KeyError`] for master keys and
//! `ferry_key` tokens, [`ConfigError`] for config values.
//!
//! No error ever carries key material, a token or plaintext; opening errors carry the segment
//! index and lengths only (shared/crypto-format.md §6.4 rule 5).

use std::io;

use crate::keys::KeyId;

/// Why an object could not be sealed or opened.
///
/// Opening errors distinguish "written under another master key" ([`Error::WrongKey`]) from
/// "corrupt or tampered" (every other opening variant), because the first is usually a
/// configuration mistake and the second a storage problem.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The first bytes are not a ferry v1 header (magic, algorithm, segment size or flags).
    #[error(
        "not a ferry-encrypted object ({0}); it was not written by ferry's encryption or its \
         header was damaged; check that this remote really uses ferry_encryption"
    )]
    BadHeader(HeaderError),

    /// The header announces a format version this build does not read.
    #[error(
        "the object uses ferry encryption format version {found}, but this ferry reads only \
         version 1; upgrade ferry"
    )]
    UnsupportedVersion {
        /// The version byte found in the header.
        found: u8,
    },

    /// The header's key id is not the key id of the master key in use.
    #[error(
        "the object was encrypted under a different master key (its key id is {found}, this \
         remote's is {expected}); check that ferry_key belongs to this remote, otherwise the \
         object's header was tampered with"
    )]
    WrongKey {
        /// Key id of the master key we hold.
        expected: KeyId,
        /// Key id recorded in the object's header.
        found: KeyId,
    },

    /// A segment's tag did not verify. Its plaintext was not released.
    #[error(
        "segment {segment} failed authentication: the object was modified, reordered, spliced \
         from another object or stored under another name; none of that segment was released; \
         retrieve the object again or from another copy"
    )]
    AuthenticationFailed {
        /// Zero-based index of the segment that failed.
        segment: u64,
    },

    /// The ciphertext ended before the final segment (header only, or a cut at a segment
    /// boundary).
    #[error(
        "the object is truncated: it ends after {len} bytes, before its final segment; the \
         upload was incomplete or the storage lost data; retrieve it again or from another copy"
    )]
    Truncated {
        /// Ciphertext bytes that were received, header included.
        len: u64,
    },

    /// Bytes follow the verified final segment, or more bytes arrived than a ranged read asked
    /// for.
    #[error(
        "unexpected data after segment {segment}, which is the last one expected; the object was \
         extended after it was written, or the storage returned more than was asked for"
    )]
    TrailingData {
        /// Index of the segment after which the extra bytes started.
        segment: u64,
    },

    /// The ciphertext length cannot be produced by any plaintext length (§6.2).
    #[error(
        "{len} bytes is not a possible length for a ferry v1 object with {segment_size}-byte \
         segments; the object was truncated or extended, or its reported size is wrong"
    )]
    BadLength {
        /// The impossible ciphertext length.
        len: u64,
        /// The object's segment size S.
        segment_size: u64,
    },

    /// The object would need more than 2³² segments.
    #[error(
        "object too large: more than {max} bytes of plaintext in one object; configure git-annex \
         chunking (chunk=1GiB, say) for this remote"
    )]
    TooLarge {
        /// The maximum plaintext length for the object's segment size.
        max: u64,
    },

    /// The plaintext source delivered a different number of bytes than announced.
    #[error(
        "the source delivered {actual} bytes but {expected} were announced; the file changed \
         while it was being stored, so the upload was aborted; try again"
    )]
    LengthMismatch {
        /// The announced plaintext length.
        expected: u64,
        /// Bytes delivered (for an overrun, the count when it was noticed).
        actual: u64,
    },

    /// A ranged read asked for a range whose start lies after its end.
    #[error("invalid plaintext range {start}..{end}: the start lies after the end")]
    InvalidRange {
        /// Requested start offset.
        start: u64,
        /// Requested end offset.
        end: u64,
    },

    /// The operating system's random generator failed, so no fresh salt could be drawn.
    #[error("the operating system's random number generator failed ({0}); nothing was encrypted")]
    Random(getrandom::Error),

    /// A sealer or opener was used again after it finished or failed.
    #[error("the {0} was used after it had finished or failed; this is a bug in ferry")]
    Finished(&'static str),

    /// A caller broke an API rule that the types cannot express (what, in words).
    #[error("{0}; this is a bug in ferry")]
    Misuse(&'static str),
}

impl Error {
    /// The [`Error`] inside an [`io::Error`] produced by this crate's adapters, if any.
    ///
    /// The `Read`, `Write` and `Stream` adapters report format errors as
    /// `io::Error`s of kind `InvalidData` that wrap an [`Error`]; this recovers it.
    pub fn from_io(err: &io::Error) -> Option<&Error> {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match err {
            Error::Truncated { .. } => io::ErrorKind::UnexpectedEof,
            Error::Random(_) | Error::Finished(_) | Error::Misuse(_) => io::ErrorKind::Other,
            Error::InvalidRange { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, err)
    }
}

/// What is wrong with a header that is not a ferry v1 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The first 8 bytes are not `\x89FERRY\r\n`.
    #[error("wrong magic bytes")]
    BadMagic,
    /// The algorithm byte is neither 0x01 nor 0x02.
    #[error("unknown algorithm {0:#04x}")]
    UnknownAlgorithm(u8),
    /// The segment size exponent is outside 12..=20.
    #[error("segment size 2^{0} outside 2^12..2^20")]
    BadSegmentSize(u8),
    /// A reserved flag bit is set.
    #[error("reserved flags {0:#04x} set")]
    ReservedFlags(u8),
}

/// Why a master key could not be generated, encoded, wrapped or unwrapped.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The token does not follow the `ferry1:` syntax. The token itself is never included.
    #[error(
        "ferry_key is not a valid key token ({reason}); expected ferry1:plain:<64 hex digits> or \
         ferry1:argon2id:<m>:<t>:<p>:<32 hex digits>:<96 hex digits>"
    )]
    BadToken {
        /// What is wrong, without quoting the token.
        reason: &'static str,
    },

    /// A wrapped token asks for Argon2id parameters above the reader limits (§8.3).
    #[error(
        "ferry_key asks for Argon2id with m={memory_kib} KiB, t={iterations}, p={parallelism}, \
         above the limits m <= 4194304, t <= 16, p <= 16; ferry refuses, since a tampered config \
         could exhaust this machine; re-wrap the key with smaller parameters"
    )]
    ParamsTooExpensive {
        /// Memory in KiB.
        memory_kib: u32,
        /// Passes.
        iterations: u32,
        /// Lanes.
        parallelism: u32,
    },

    /// Wrapping was asked for with Argon2id parameters below the writer floors (§8.3).
    #[error(
        "Argon2id with m={memory_kib} KiB, t={iterations} is too weak to wrap a key; use at least \
         m=65536 and t=3"
    )]
    ParamsTooWeak {
        /// Memory in KiB.
        memory_kib: u32,
        /// Passes.
        iterations: u32,
    },

    /// The passphrase did not unwrap the key.
    #[error("wrong passphrase for ferry_key (or the token was modified); try again")]
    WrongPassphrase,

    /// Argon2id refused its parameters or could not allocate its memory.
    #[error("Argon2id failed ({0}); check the m:t:p fields of ferry_key")]
    Argon2(argon2::Error),

    /// The operating system's random generator failed.
    #[error("the operating system's random number generator failed ({0}); no key was made")]
    Random(getrandom::Error),

    /// A key id string is not 16 lowercase hex digits.
    #[error("ferry_keyid must be 16 lowercase hex digits")]
    BadKeyId,
}

/// A config value (`ferry_encryption`, `ferry_mac`) that is not one of the accepted words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {key}={value}; expected {expected}")]
pub struct ConfigError {
    /// The config key, e.g. `ferry_encryption`.
    pub key: &'static str,
    /// The rejected value.
    pub value: String,
    /// The valid values, for the message.
    pub expected: &'static str,
}

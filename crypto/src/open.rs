//! Opening a whole object (the reader, §6.4), enforcing every MUST rule:
//!
//! 1. the header is checked (magic, version, algorithm, segment size, flags, then key id);
//! 2. the length is validated (up front for [`open`]; by one-segment look-ahead when streaming,
//!    where only end of input, never a short read, marks the final segment);
//! 3. each segment is opened with its own nonce and released only after its tag verified;
//! 4. success requires a verified final segment with nothing after it.
//!
//! When a segment fails, the opener tries the other last-segment flag before reporting, only to
//! name the failure: a full segment that verifies as non-final where the input ended means
//! [`Error::Truncated`]; one that verifies as final where more input follows means
//! [`Error::TrailingData`]. Neither ever releases plaintext.

use crate::adapters::Transform;
use crate::cipher::SegmentCipher;
use crate::error::Error;
use crate::format::{HEADER_LEN, Header, Layout, MAX_SEGMENTS, TAG_LEN};
use crate::keys::{KeyId, MasterKey};

/// Parses a header and checks that it names `master` (rule 1).
fn check_header(master: &MasterKey, header_bytes: &[u8]) -> Result<Header, Error> {
    let header = Header::parse(header_bytes)?;
    let expected = master.key_id();
    if header.key_id() != expected {
        return Err(Error::WrongKey {
            expected,
            found: header.key_id(),
        });
    }
    Ok(header)
}

/// Checks the header and derives the object's cipher from it.
pub(crate) fn cipher_for(
    master: &MasterKey,
    object_name: &str,
    header_bytes: &[u8],
) -> Result<(Header, SegmentCipher), Error> {
    let header = check_header(master, header_bytes)?;
    let mut exact = [0u8; HEADER_LEN];
    exact.copy_from_slice(&header_bytes[..HEADER_LEN]);
    let file_key = master.file_key(&exact, object_name);
    Ok((header, SegmentCipher::new(header.algorithm(), &file_key)))
}

/// Streaming decryptor of a whole object of unknown length (sans-IO; see [`Transform`] for the
/// `Read`, `Write` and `Stream` adapters).
///
/// Memory: one sealed segment (64 KiB + 16 for v1 writers, at most 1 MiB + 16).
pub struct Opener {
    master: MasterKey,
    object_name: String,
    header: Vec<u8>,
    body: Option<Body>,
    seen: u64,
    done: bool,
}

/// State once the header has been accepted.
struct Body {
    header: Header,
    cipher: SegmentCipher,
    layout: Layout,
    sealed_segment: usize,
    index: u64,
    pending: Vec<u8>,
}

impl Opener {
    /// An opener for the object stored under `object_name`, decrypting with `master`.
    pub fn new(master: &MasterKey, object_name: &str) -> Opener {
        Opener {
            master: master.clone(),
            object_name: object_name.to_owned(),
            header: Vec::with_capacity(HEADER_LEN),
            body: None,
            seen: 0,
            done: false,
        }
    }

    /// The object's header, once its 52 bytes arrived and were accepted.
    pub fn header(&self) -> Option<&Header> {
        self.body.as_ref().map(|body| &body.header)
    }

    /// The master key's id, which every accepted header carries.
    pub fn key_id(&self) -> KeyId {
        self.master.key_id()
    }

    fn push_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.seen += input.len() as u64;
        if self.body.is_none() {
            let take = (HEADER_LEN - self.header.len()).min(input.len());
            self.header.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.header.len() < HEADER_LEN {
                // Fail early on foreign data rather than after 52 bytes.
                if let Err(err @ Error::BadHeader(_)) = Header::parse(&self.header) {
                    return Err(err);
                }
                return Ok(());
            }
            let (header, cipher) = cipher_for(&self.master, &self.object_name, &self.header)?;
            let layout = header.layout();
            self.body = Some(Body {
                header,
                cipher,
                layout,
                sealed_segment: layout.sealed_segment_size() as usize,
                index: 0,
                pending: Vec::with_capacity(layout.sealed_segment_size() as usize),
            });
        }
        match &mut self.body {
            Some(body) => body.push(input, out),
            None => Ok(()),
        }
    }

    fn finish_inner(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        match &mut self.body {
            Some(body) => body.finish(self.seen, out),
            None => {
                Header::parse(&self.header)?;
                Err(Error::Truncated { len: self.seen })
            }
        }
    }
}

impl Body {
    fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let full = self.sealed_segment;
        while !input.is_empty() {
            if self.pending.len() == full {
                // Input continues after a full segment, so that segment must not be the last.
                let pending = std::mem::take(&mut self.pending);
                let opened = self.open_non_final(&pending, out);
                self.pending = pending;
                self.pending.clear();
                opened?;
            } else if self.pending.is_empty() && input.len() > full {
                // Fast path: a whole non-final segment straight from the input.
                self.open_non_final(&input[..full], out)?;
                input = &input[full..];
            } else {
                let take = (full - self.pending.len()).min(input.len());
                self.pending.extend_from_slice(&input[..take]);
                input = &input[take..];
            }
        }
        Ok(())
    }

    fn open_non_final(&mut self, sealed: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.index + 1 >= MAX_SEGMENTS {
            return Err(Error::TooLarge {
                max: self.layout.max_plain_len(),
            });
        }
        if self.cipher.open_into(self.index, false, sealed, out) {
            self.index += 1;
            return Ok(());
        }
        // Diagnosis only: the scratch plaintext is dropped either way.
        let mut scratch = Vec::new();
        if self
            .cipher
            .open_into(self.index, true, sealed, &mut scratch)
        {
            Err(Error::TrailingData {
                segment: self.index,
            })
        } else {
            Err(Error::AuthenticationFailed {
                segment: self.index,
            })
        }
    }

    fn finish(&mut self, seen: u64, out: &mut Vec<u8>) -> Result<(), Error> {
        let sealed = std::mem::take(&mut self.pending);
        if sealed.len() < TAG_LEN {
            return Err(Error::Truncated { len: seen });
        }
        if sealed.len() == TAG_LEN && self.index > 0 {
            // An empty final segment after a full one: no writer produces it (§6.2).
            return Err(Error::BadLength {
                len: seen,
                segment_size: self.layout.segment_size(),
            });
        }
        if self.cipher.open_into(self.index, true, &sealed, out) {
            return Ok(());
        }
        let mut scratch = Vec::new();
        if sealed.len() == self.sealed_segment
            && self.index + 1 < MAX_SEGMENTS
            && self
                .cipher
                .open_into(self.index, false, &sealed, &mut scratch)
        {
            Err(Error::Truncated { len: seen })
        } else {
            Err(Error::AuthenticationFailed {
                segment: self.index,
            })
        }
    }
}

impl Transform for Opener {
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.done {
            return Err(Error::Finished("opener"));
        }
        let result = self.push_inner(input, out);
        self.done = result.is_err();
        result
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.done {
            return Err(Error::Finished("opener"));
        }
        self.done = true;
        self.finish_inner(out)
    }
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("object_name", &self.object_name)
            .field("header", &self.header())
            .field("segment", &self.body.as_ref().map(|b| b.index))
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

/// Opens a whole object held in memory: header, then length (§6.2), then every segment.
///
/// # Errors
/// Every opening [`Error`]: `BadHeader`, `UnsupportedVersion`, `WrongKey`, `Truncated`,
/// `BadLength`, `TooLarge`, `AuthenticationFailed`, `TrailingData`.
pub fn open(master: &MasterKey, object_name: &str, ciphertext: &[u8]) -> Result<Vec<u8>, Error> {
    let header = check_header(master, ciphertext)?;
    let plain_len = header.layout().plain_len(ciphertext.len() as u64)?;
    let mut out = Vec::with_capacity(plain_len as usize);
    let mut opener = Opener::new(master, object_name);
    opener.push(ciphertext, &mut out)?;
    opener.finish(&mut out)?;
    Ok(out)
}

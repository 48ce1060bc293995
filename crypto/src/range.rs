//! Ranged and resumed retrieval (§7): which ciphertext bytes hold a plaintext range, and a
//! decryptor for exactly those bytes.
//!
//! Every byte returned is authentic and sits at its claimed offset even when the reported object
//! length is a lie: a wrong length moves the final-segment flag, and that segment's tag fails. A
//! ranged read proves the total length only when it includes the final segment, so anything
//! relative to the end (tail, size checks) must include it.
//!
//! To resume an interrupted retrieval, keep the 52-byte header beside the partial plaintext,
//! continue only if a fresh GET of the header is byte-identical (otherwise restart), truncate the
//! partial plaintext to a multiple of the segment size and open the range from there.

use std::ops::Range;

use crate::adapters::Transform;
use crate::cipher::SegmentCipher;
use crate::error::Error;
use crate::format::{HEADER_LEN, Header, Layout};
use crate::keys::MasterKey;
use crate::open::cipher_for;

/// What to fetch for a plaintext range, computed from the header and the object's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangePlan {
    /// Plaintext length implied by the reported ciphertext length (proven only if the final
    /// segment is part of the range).
    pub plain_len: u64,
    /// The plaintext range that will be produced: the request clamped to `plain_len`.
    pub plain_range: Range<u64>,
    /// Indices of the segments to fetch (empty for an empty range).
    pub segments: Range<u64>,
    /// The object bytes to fetch, e.g. as an HTTP `Range: bytes=start-(end-1)` (empty for an
    /// empty range).
    pub cipher_range: Range<u64>,
}

impl Layout {
    /// Plans reading plaintext bytes `plain` of an object of `cipher_len` bytes.
    ///
    /// The end of `plain` is clamped to the plaintext length, so `start..u64::MAX` means "to the
    /// end"; a start at or beyond the end gives an empty plan.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] if the start lies after the end, or any error of
    /// [`Layout::plain_len`] for an impossible `cipher_len`.
    pub fn plan_range(self, cipher_len: u64, plain: Range<u64>) -> Result<RangePlan, Error> {
        if plain.start > plain.end {
            return Err(Error::InvalidRange {
                start: plain.start,
                end: plain.end,
            });
        }
        let plain_len = self.plain_len(cipher_len)?;
        let end = plain.end.min(plain_len);
        let start = plain.start.min(end);
        if start == end {
            return Ok(RangePlan {
                plain_len,
                plain_range: start..start,
                segments: 0..0,
                cipher_range: HEADER_LEN as u64..HEADER_LEN as u64,
            });
        }
        let s = self.segment_size();
        let full = self.sealed_segment_size();
        let first = start / s;
        let last = (end - 1) / s;
        let header = HEADER_LEN as u64;
        Ok(RangePlan {
            plain_len,
            plain_range: start..end,
            segments: first..last + 1,
            cipher_range: header + first * full..(header + (last + 1) * full).min(cipher_len),
        })
    }
}

/// Decryptor for the ciphertext bytes [`RangePlan::cipher_range`] of an object (sans-IO; see
/// [`Transform`] for the adapters). It outputs exactly [`RangePlan::plain_range`].
///
/// Feed it those bytes and nothing else; `finish` fails if any are missing, `push` if more
/// arrive.
pub struct RangeOpener {
    cipher: SegmentCipher,
    header: Header,
    layout: Layout,
    plan: RangePlan,
    segment_count: u64,
    body_len: u64,
    index: u64,
    pending: Vec<u8>,
    scratch: Vec<u8>,
    seen: u64,
    done: bool,
}

impl RangeOpener {
    /// Plans and prepares a ranged read of `plain` from the object `object_name`, given its
    /// first 52 bytes (`header`, longer input is fine) and its total length `cipher_len`.
    ///
    /// # Errors
    /// Header errors (`BadHeader`, `UnsupportedVersion`, `WrongKey`, `Truncated` for fewer than
    /// 52 bytes) and the errors of [`Layout::plan_range`].
    pub fn new(
        master: &MasterKey,
        object_name: &str,
        header: &[u8],
        cipher_len: u64,
        plain: Range<u64>,
    ) -> Result<RangeOpener, Error> {
        let (parsed, cipher) = cipher_for(master, object_name, header)?;
        let layout = parsed.layout();
        let plan = layout.plan_range(cipher_len, plain)?;
        Ok(RangeOpener {
            cipher,
            header: parsed,
            layout,
            segment_count: layout.segment_count(plan.plain_len),
            body_len: cipher_len - HEADER_LEN as u64,
            index: plan.segments.start,
            pending: Vec::new(),
            scratch: Vec::new(),
            seen: 0,
            done: false,
            plan,
        })
    }

    /// What to fetch and what will come out.
    pub fn plan(&self) -> &RangePlan {
        &self.plan
    }

    /// The object's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Opens one whole sealed segment and appends its part of the requested range.
    fn open_segment(&mut self, sealed: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let last = self.index + 1 == self.segment_count;
        self.scratch.clear();
        if !self
            .cipher
            .open_into(self.index, last, sealed, &mut self.scratch)
        {
            return Err(Error::AuthenticationFailed {
                segment: self.index,
            });
        }
        let offset = self.index * self.layout.segment_size();
        let seg_end = offset + self.scratch.len() as u64;
        let hi = self
            .plan
            .plain_range
            .end
            .min(seg_end)
            .saturating_sub(offset) as usize;
        let lo = (self.plan.plain_range.start.max(offset) - offset) as usize;
        out.extend_from_slice(&self.scratch[lo.min(hi)..hi]);
        self.index += 1;
        Ok(())
    }

    fn push_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.seen += input.len() as u64;
        while !input.is_empty() {
            if self.index >= self.plan.segments.end {
                return Err(Error::TrailingData {
                    segment: self.plan.segments.end.saturating_sub(1),
                });
            }
            let need = self
                .layout
                .sealed_segment_len(self.index, self.segment_count, self.body_len)
                as usize;
            if self.pending.is_empty() && input.len() >= need {
                self.open_segment(&input[..need], out)?;
                input = &input[need..];
                continue;
            }
            let take = (need - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() == need {
                let pending = std::mem::take(&mut self.pending);
                let opened = self.open_segment(&pending, out);
                self.pending = pending;
                self.pending.clear();
                opened?;
            }
        }
        Ok(())
    }
}

impl Transform for RangeOpener {
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.done {
            return Err(Error::Finished("range opener"));
        }
        let result = self.push_inner(input, out);
        self.done = result.is_err();
        result
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), Error> {
        if self.done {
            return Err(Error::Finished("range opener"));
        }
        self.done = true;
        if self.index < self.plan.segments.end {
            return Err(Error::Truncated {
                len: self.plan.cipher_range.start + self.seen,
            });
        }
        Ok(())
    }
}

impl std::fmt::Debug for RangeOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeOpener")
            .field("header", &self.header)
            .field("plan", &self.plan)
            .field("segment", &self.index)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1 << 16;
    const FULL: u64 = S + 16;

    #[test]
    fn plan_covers_the_segments_of_the_range() {
        let c = crate::sealed_len(3 * S + 10).unwrap();
        let plan = Layout::WRITE.plan_range(c, S - 1..S + 1).unwrap();
        assert_eq!(plan.segments, 0..2);
        assert_eq!(plan.cipher_range, 52..52 + 2 * FULL);
        assert_eq!(plan.plain_range, S - 1..S + 1);

        let plan = Layout::WRITE.plan_range(c, 3 * S..u64::MAX).unwrap();
        assert_eq!(plan.segments, 3..4);
        assert_eq!(plan.cipher_range, 52 + 3 * FULL..c);
        assert_eq!(plan.plain_range, 3 * S..3 * S + 10);
        assert_eq!(plan.plain_len, 3 * S + 10);
    }

    #[test]
    fn empty_and_inverted_ranges() {
        let c = crate::sealed_len(10).unwrap();
        let plan = Layout::WRITE.plan_range(c, 10..20).unwrap();
        assert!(plan.segments.is_empty() && plan.cipher_range.is_empty());
        assert!(matches!(
            Layout::WRITE.plan_range(c, Range { start: 5, end: 4 }),
            Err(Error::InvalidRange { start: 5, end: 4 })
        ));
        assert!(matches!(
            Layout::WRITE.plan_range(52 + FULL + 16, 0..1),
            Err(Error::BadLength { .. })
        ));
    }
}

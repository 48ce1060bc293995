//! Test content and the keys that name it.
//!
//! Content is pseudo-random but reproducible from a seed, so a failure can be replayed, and each
//! run mixes a per-run nonce into the seed: the MD5 in the key then differs between runs, and a
//! store that kept objects from an earlier run cannot make an "absent" check pass by accident.

use md5::{Digest, Md5};
use remote_proto::Key;

/// A small xorshift64* generator: fast enough for 64 MiB and good enough for test data (the
/// point is that bytes differ, not that they are unpredictable).
struct Prng(u64);

impl Prng {
    fn new(seed: u64) -> Prng {
        // xorshift has a fixed point at 0.
        Prng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// FNV-1a over a string: turns a test's label into a seed.
fn seed_of(label: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `len` reproducible bytes for `label`.
pub fn bytes(label: &str, len: usize) -> Vec<u8> {
    let mut prng = Prng::new(seed_of(label));
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&prng.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Lower-case hex of `data`'s MD5.
pub fn md5_hex(data: &[u8]) -> String {
    let digest = Md5::digest(data);
    let mut s = String::with_capacity(32);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The `MD5E` key git-annex would give `data` in a file ending in `ext` (`.bin`, or empty).
pub fn md5e_key(data: &[u8], ext: &str) -> Key {
    let text = format!("MD5E-s{}--{}{ext}", data.len(), md5_hex(data));
    Key::parse(&text).expect("an MD5E key built from a length and a hex digest is valid")
}

/// Lower-case hex digits, reproducible from `label` (for GPGHMAC names).
pub fn hex(label: &str, digits: usize) -> String {
    let raw = bytes(label, digits.div_ceil(2));
    let mut s = String::with_capacity(digits + 1);
    for b in raw {
        s.push_str(&format!("{b:02x}"));
    }
    s.truncate(digits);
    s
}

/// Formats a byte count the way the report shows sizes: `0`, `1`, `1MiB-1`, `64MiB`.
pub fn size_label(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    const KIB: u64 = 1 << 10;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{}MiB", n / MIB)
    } else if n > MIB && (n - 1).is_multiple_of(MIB) {
        format!("{}MiB+1", n / MIB)
    } else if n >= MIB - 1 && (n + 1).is_multiple_of(MIB) {
        format!("{}MiB-1", (n + 1) / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{}KiB", n / KIB)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_reproducible_and_differ_by_label() {
        assert_eq!(bytes("a", 1000), bytes("a", 1000));
        assert_ne!(bytes("a", 1000), bytes("b", 1000));
        assert_eq!(bytes("a", 13).len(), 13);
        assert_eq!(&bytes("a", 1000)[..13], &bytes("a", 13)[..]);
    }

    #[test]
    fn md5e_keys_carry_size_and_digest() {
        let k = md5e_key(b"", ".bin");
        assert_eq!(k.as_str(), "MD5E-s0--d41d8cd98f00b204e9800998ecf8427e.bin");
        assert_eq!(k.size(), Some(0));
    }

    #[test]
    fn size_labels() {
        assert_eq!(size_label(0), "0");
        assert_eq!(size_label(1), "1");
        assert_eq!(size_label((1 << 20) - 1), "1MiB-1");
        assert_eq!(size_label(1 << 20), "1MiB");
        assert_eq!(size_label((1 << 20) + 1), "1MiB+1");
        assert_eq!(size_label(64 << 20), "64MiB");
        assert_eq!(size_label(4096), "4KiB");
    }
}

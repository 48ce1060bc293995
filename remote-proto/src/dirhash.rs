//! git-annex's two hash-directory schemes, computed locally (no DIRHASH round trip).
//!
//! Both hash the key with its chunk fields removed, so every chunk of a key lands in its
//! parent's directory, and both always give two levels with a trailing `/`, whatever the
//! local repository's `annex.tune.*` settings say (git-annex answers the protocol's DIRHASH
//! with its default).

use md5::{Digest, Md5};

use crate::key::Key;

/// The alphabet of `hashdirmixed`: 32 symbols, one per 5-bit value.
const MIXED_ALPHABET: &[u8; 32] = b"0123456789zqjxkmvwgpfZQJXKMVWGPF";

fn md5_of(key: &Key) -> [u8; 16] {
    Md5::digest(key.without_chunk().as_bytes()).into()
}

/// `hashdirlower` (`DIRHASH-LOWER`): the first 3 and next 3 hex digits of the key's MD5,
/// e.g. `f87/4d5/`.
pub fn hashdir_lower(key: &Key) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let d = md5_of(key);
    let hex: Vec<u8> = d[..3]
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
        .collect();
    let mut out = String::with_capacity(8);
    for (i, &c) in hex.iter().enumerate() {
        out.push(char::from(c));
        if i == 2 || i == 5 {
            out.push('/');
        }
    }
    out
}

/// `hashdirmixed` (`DIRHASH`): four 5-bit groups of the MD5's first little-endian word, in the
/// pairwise-swapped order git-annex uses, e.g. `pX/ZJ/`.
pub fn hashdir_mixed(key: &Key) -> String {
    let d = md5_of(key);
    let w = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
    let c = |i: u32| char::from(MIXED_ALPHABET[((w >> (6 * i)) & 31) as usize]);
    [c(1), c(0), '/', c(3), c(2), '/'].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        Key::parse(s).unwrap()
    }

    // Vectors from `git annex examinekey` (shared/protocol.md §13).
    #[test]
    fn matches_git_annex_examples() {
        let cases = [
            (
                "SHA256E-s0--e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "f87/4d5/",
                "pX/ZJ/",
            ),
            (
                "SHA256E-s6--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.txt",
                "d91/b11/",
                "mK/4w/",
            ),
            (
                "SHA256E-s2621440--c848d87f8cc8f8f8d8f08a696b9fe7775d807434730a33e195d1266ec91d17a0.bin",
                "834/690/",
                "M3/44/",
            ),
            (
                "SHA256E-s2621440-S1048576-C2--c848d87f8cc8f8f8d8f08a696b9fe7775d807434730a33e195d1266ec91d17a0.bin",
                "834/690/",
                "M3/44/",
            ),
            (
                "GPGHMACSHA1--e27f2ddf0506a7c8d94a074940f7a4fb0690de9b",
                "16a/86a/",
                "0Q/Mz/",
            ),
            ("WORM-s2-m1795485860--worm,32file.txt", "886/602/", "M8/06/"),
            (
                "MD5E-s4--ba1f2511fc30423bdbb183fe33f3dd0f.txt",
                "98d/6ca/",
                "MX/gx/",
            ),
            (
                "VURL-s6--http://127.0.0.1:8765/hello.txt",
                "8ff/95c/",
                "6m/Jm/",
            ),
        ];
        for (key, lower, mixed) in cases {
            assert_eq!(hashdir_lower(&k(key)), lower, "lower {key}");
            assert_eq!(hashdir_mixed(&k(key)), mixed, "mixed {key}");
        }
    }
}

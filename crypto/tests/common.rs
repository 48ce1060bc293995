//! Shared inputs (the §12 ones) and helpers.

use ferry_crypto::{Algorithm, Error, MasterKey, Opener, Sealer, Transform};

/// Segment size of v1 writers.
pub const S: usize = 1 << 16;
/// Sealed size of a full segment.
pub const FULL: usize = S + 16;
/// The §12 git-annex key.
pub const ANNEX_KEY: &str =
    "SHA256E-s5--2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.txt";
/// Its HMACSHA256 object name, which the content vectors are bound to.
pub const NAME: &str =
    "FERRYHMACSHA256--acf2ff4f365c39abcfcde67a65b4fb3d88f50bf401824b8c353e225cc26e636d";
/// Another valid object name, for swaps.
pub const OTHER_NAME: &str =
    "FERRYHMACSHA256--23ee332ea253fd500d7ee386a18f8c53cb49d207b60fcd80f7ba0c10ce97108c";

pub const ALGS: [Algorithm; 2] = [Algorithm::Aes256Gcm, Algorithm::ChaCha20Poly1305];

/// master_key = 00 01 … 1f.
pub fn master() -> MasterKey {
    MasterKey::from_bytes(&std::array::from_fn(|i| i as u8))
}

/// salt = a0 a1 … bf.
pub fn salt() -> [u8; 32] {
    std::array::from_fn(|i| 0xa0 + i as u8)
}

/// byte[i] = i mod 251.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Seals `plain` under the vector master key and salt.
pub fn seal_fixed(alg: Algorithm, name: &str, plain: &[u8]) -> Vec<u8> {
    seal_with(&master(), alg, name, salt(), plain)
}

pub fn seal_with(
    master: &MasterKey,
    alg: Algorithm,
    name: &str,
    salt: [u8; 32],
    plain: &[u8],
) -> Vec<u8> {
    let mut sealer = Sealer::with_salt(master, name, alg, salt);
    let mut out = Vec::new();
    sealer.push(plain, &mut out).unwrap();
    sealer.finish(&mut out).unwrap();
    out
}

/// Opens `object` by pushing it in `chunk`-byte pieces; returns the released plaintext too.
pub fn open_chunked(
    master: &MasterKey,
    name: &str,
    object: &[u8],
    chunk: usize,
) -> (Vec<u8>, Result<(), Error>) {
    let mut opener = Opener::new(master, name);
    let mut out = Vec::new();
    for piece in object.chunks(chunk.max(1)) {
        if let Err(e) = opener.push(piece, &mut out) {
            return (out, Err(e));
        }
    }
    let result = opener.finish(&mut out);
    (out, result)
}

/// Opens `object` in memory and streaming with several chunkings; all must agree on the
/// outcome's kind. Returns the in-memory result and the streaming error (if any).
pub fn open_every_way(name: &str, object: &[u8]) -> (Result<Vec<u8>, Error>, Option<Error>) {
    let mk = master();
    let whole = ferry_crypto::open(&mk, name, object);
    let mut stream_err: Option<Error> = None;
    for chunk in [1usize, 13, 4096, FULL - 1, FULL, FULL + 1, object.len()] {
        // Byte-at-a-time only for small objects: it is slow in debug builds and adds nothing more.
        if chunk == 1 && object.len() > 1024 {
            continue;
        }
        let (_, res) = open_chunked(&mk, name, object, chunk);
        match (&stream_err, res) {
            (_, Ok(())) => assert!(whole.is_ok(), "streaming accepted what open rejected"),
            (None, Err(e)) => stream_err = Some(e),
            (Some(prev), Err(e)) => assert_eq!(
                std::mem::discriminant(prev),
                std::mem::discriminant(&e),
                "chunk size {chunk} changed the error: {prev} vs {e}"
            ),
        }
    }
    (whole, stream_err)
}

/// Splits a sealed object into header and sealed segments.
pub fn split(object: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let header = object[..52].to_vec();
    let segments = object[52..].chunks(FULL).map(<[u8]>::to_vec).collect();
    (header, segments)
}

/// `assert_eq!` for byte strings that reports the first difference instead of dumping
/// megabytes.
#[track_caller]
pub fn assert_same(got: &[u8], want: &[u8], what: impl std::fmt::Display) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {first:?}",
            got.len(),
            want.len()
        );
    }
}

//! An independent model of the v1 format, written from the spec's Appendix A with the RustCrypto
//! primitives directly (no ferry-crypto code). It cross-checks the sealer and produces objects
//! v1 writers never make: other segment sizes and non-canonical segmentations.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::array::Array;
use aes_gcm::aead::{AeadInOut, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use sha2::Sha256;

use super::common;

pub fn hkdf(ikm: &[u8], salt: &[u8], info: &[u8], n: usize) -> Vec<u8> {
    let salt = (!salt.is_empty()).then_some(salt);
    let mut out = vec![0; n];
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

pub fn key_id(mk: &[u8]) -> Vec<u8> {
    hkdf(mk, b"", b"ferry/v1/key-id", 8)
}

pub fn header(alg: u8, seg_log2: u8, kid: &[u8], salt: &[u8]) -> Vec<u8> {
    [&b"\x89FERRY\r\n"[..], &[1, alg, seg_log2, 0], kid, salt].concat()
}

pub fn file_key(mk: &[u8], hdr: &[u8], name: &str) -> Vec<u8> {
    let info = [&b"ferry/v1/file-key\x00"[..], &hdr[..20], name.as_bytes()].concat();
    hkdf(mk, &hdr[20..52], &info, 32)
}

pub fn nonce(i: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&i.to_be_bytes());
    n[11] = last as u8;
    n
}

pub fn seal_segment(alg: u8, key: &[u8], i: u64, last: bool, pt: &[u8]) -> Vec<u8> {
    let mut buf = pt.to_vec();
    let nonce = Array::from(nonce(i, last));
    let tag = match alg {
        1 => Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt_inout_detached(&nonce, b"", buf.as_mut_slice().into())
            .unwrap(),
        _ => ChaCha20Poly1305::new_from_slice(key)
            .unwrap()
            .encrypt_inout_detached(&nonce, b"", buf.as_mut_slice().into())
            .unwrap(),
    };
    buf.extend_from_slice(&tag);
    buf
}

/// Appendix A's `encrypt`, any segment size, under the vector master key.
pub fn encrypt(alg: u8, seg_log2: u8, salt: &[u8], name: &str, pt: &[u8]) -> Vec<u8> {
    let mk = common::master();
    let mk = mk.expose_bytes();
    let hdr = header(alg, seg_log2, &key_id(mk), salt);
    let key = file_key(mk, &hdr, name);
    let s = 1usize << seg_log2;
    let n = pt.len().div_ceil(s).max(1);
    let mut out = hdr;
    for i in 0..n {
        let seg = &pt[(i * s).min(pt.len())..((i + 1) * s).min(pt.len())];
        out.extend(seal_segment(alg, &key, i as u64, i == n - 1, seg));
    }
    out
}

/// An object made of the given (plaintext, last) segments in order, properly keyed: for
/// encodings no writer produces but an attacker with the key could.
pub fn encrypt_segments(alg: u8, name: &str, segments: &[(&[u8], bool)]) -> Vec<u8> {
    let mk = common::master();
    let mk = mk.expose_bytes();
    let hdr = header(alg, 16, &key_id(mk), &common::salt());
    let key = file_key(mk, &hdr, name);
    let mut out = hdr;
    for (i, (pt, last)) in segments.iter().enumerate() {
        out.extend(seal_segment(alg, &key, i as u64, *last, pt));
    }
    out
}

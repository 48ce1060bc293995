//! The segment layer: one AEAD keyed with an object's file key, sealing and opening segment `i`
//! under `nonce_i` with empty associated data (§6.2).
//!
//! Crate-private on purpose: sealing the same index twice with different plaintext under one file
//! key would reuse a nonce, so only [`Sealer`](crate::Sealer), which counts indices itself, may
//! seal.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::array::Array;
use aes_gcm::aead::{AeadInOut, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;

use crate::format::{Algorithm, TAG_LEN, nonce};

/// An AEAD instance for one object.
pub(crate) enum SegmentCipher {
    // Boxed: the AES key schedule and GHASH state are several times larger than ChaCha's key.
    Aes(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

impl SegmentCipher {
    pub(crate) fn new(algorithm: Algorithm, file_key: &[u8; 32]) -> SegmentCipher {
        // `new_from_slice` builds the cipher straight from our zeroizing buffer, leaving no stray
        // copy of the key in a temporary array.
        match algorithm {
            Algorithm::Aes256Gcm => SegmentCipher::Aes(Box::new(
                Aes256Gcm::new_from_slice(file_key).expect("a 32-byte key fits AES-256"),
            )),
            Algorithm::ChaCha20Poly1305 => SegmentCipher::ChaCha(Box::new(
                ChaCha20Poly1305::new_from_slice(file_key).expect("a 32-byte key fits ChaCha20"),
            )),
        }
    }

    /// Encrypts `buf` in place as segment `index` and returns its tag.
    pub(crate) fn seal(&self, index: u64, last: bool, buf: &mut [u8]) -> [u8; TAG_LEN] {
        let nonce = Array::from(nonce(index, last));
        let tag = match self {
            SegmentCipher::Aes(c) => c.encrypt_inout_detached(&nonce, b"", buf.into()),
            SegmentCipher::ChaCha(c) => c.encrypt_inout_detached(&nonce, b"", buf.into()),
        }
        // Both AEADs only refuse messages of gigabytes; a segment is at most 1 MiB.
        .expect("a segment of at most 1 MiB is within the AEAD's message limit");
        tag.into()
    }

    /// Verifies `tag` over `buf` as segment `index` and, only if it verifies, decrypts `buf` in
    /// place. Returns `false` (with `buf` to be discarded by the caller) when it does not.
    #[must_use]
    pub(crate) fn open(&self, index: u64, last: bool, buf: &mut [u8], tag: &[u8]) -> bool {
        let nonce = Array::from(nonce(index, last));
        let Ok(tag) = Array::try_from(tag) else {
            return false;
        };
        match self {
            SegmentCipher::Aes(c) => c.decrypt_inout_detached(&nonce, b"", buf.into(), &tag),
            SegmentCipher::ChaCha(c) => c.decrypt_inout_detached(&nonce, b"", buf.into(), &tag),
        }
        .is_ok()
    }

    /// Appends segment `index` of `sealed` (ciphertext ‖ tag) to `out` as plaintext. On failure
    /// `out` is left as it was, so no unverified byte is ever released.
    pub(crate) fn open_into(
        &self,
        index: u64,
        last: bool,
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(split) = sealed.len().checked_sub(TAG_LEN) else {
            return false;
        };
        let (ciphertext, tag) = sealed.split_at(split);
        let start = out.len();
        out.extend_from_slice(ciphertext);
        if self.open(index, last, &mut out[start..], tag) {
            true
        } else {
            out.truncate(start);
            false
        }
    }

    /// Appends segment `index` sealed from `plain` (ciphertext ‖ tag) to `out`.
    ///
    /// Copy, then encrypt in place: measured no slower than encrypting from `plain` into a
    /// zero-filled `out`, since the cipher crates copy in→out internally for split buffers.
    pub(crate) fn seal_into(&self, index: u64, last: bool, plain: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(plain);
        let tag = self.seal(index, last, &mut out[start..]);
        out.extend_from_slice(&tag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Header, MasterKey};
    use aead_stream::{NewStream, StreamBE32, StreamPrimitive};

    /// §3: ferry's segment layer is aead-stream's `StreamBE32` with an all-zero 7-byte prefix,
    /// for every index below 2^32. Reproduces the §12 content vectors through it.
    #[test]
    fn aead_stream_interop() {
        let mk = MasterKey::from_bytes(&std::array::from_fn(|i| i as u8));
        let name =
            "FERRYHMACSHA256--acf2ff4f365c39abcfcde67a65b4fb3d88f50bf401824b8c353e225cc26e636d";
        let salt: [u8; 32] = std::array::from_fn(|i| 0xa0 + i as u8);
        let plain: Vec<u8> = (0..65537u32).map(|i| (i % 251) as u8).collect();
        for alg in [Algorithm::Aes256Gcm, Algorithm::ChaCha20Poly1305] {
            let header = Header::new(alg, mk.key_id(), salt).to_bytes();
            let key = mk.file_key(&header, name);
            let object = crate::Sealer::with_salt(&mk, name, alg, salt);
            let mut ours = Vec::new();
            let mut sealer = object;
            crate::Transform::push(&mut sealer, &plain, &mut ours).unwrap();
            crate::Transform::finish(&mut sealer, &mut ours).unwrap();

            let segments: Vec<Vec<u8>> = match alg {
                Algorithm::Aes256Gcm => {
                    let s = StreamBE32::from_aead(
                        Aes256Gcm::new_from_slice(key.as_ref()).unwrap(),
                        &Default::default(),
                    );
                    vec![
                        s.encrypt(0, false, &plain[..65536]).unwrap(),
                        s.encrypt(1, true, &plain[65536..]).unwrap(),
                        s.encrypt(0, true, &b"hello"[..]).unwrap(),
                    ]
                }
                Algorithm::ChaCha20Poly1305 => {
                    let s = StreamBE32::from_aead(
                        ChaCha20Poly1305::new_from_slice(key.as_ref()).unwrap(),
                        &Default::default(),
                    );
                    vec![
                        s.encrypt(0, false, &plain[..65536]).unwrap(),
                        s.encrypt(1, true, &plain[65536..]).unwrap(),
                        s.encrypt(0, true, &b"hello"[..]).unwrap(),
                    ]
                }
            };
            let theirs = [&header[..], &segments[0], &segments[1]].concat();
            assert_eq!(ours, theirs, "{alg}");
            let hello = match alg {
                Algorithm::Aes256Gcm => "a5dc125638d39b367849deb54ffb442c17093264e4",
                Algorithm::ChaCha20Poly1305 => "fbf385ba8e0fdea6e9a94100df9f0b5e8fa6d9d7e7",
            };
            assert_eq!(hex::encode(&segments[2]), hello, "{alg}");
        }
    }

    #[test]
    fn open_leaves_output_untouched_on_failure() {
        let cipher = SegmentCipher::new(Algorithm::Aes256Gcm, &[7; 32]);
        let mut sealed = Vec::new();
        cipher.seal_into(3, false, b"secret data", &mut sealed);
        let mut out = b"kept".to_vec();
        assert!(!cipher.open_into(3, true, &sealed, &mut out));
        assert!(!cipher.open_into(4, false, &sealed, &mut out));
        assert!(!cipher.open_into(3, false, &sealed[..10], &mut out));
        assert_eq!(out, b"kept");
        assert!(cipher.open_into(3, false, &sealed, &mut out));
        assert_eq!(out, b"keptsecret data");
    }
}

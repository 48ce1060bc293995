//! Content checks for hash keys: git-annex's `SHA256E-s5--<hex>.txt` names the content's digest,
//! so a fetched object can be proven right, not just the right size.
//!
//! Supported backends (with and without the `E` that keeps the extension): MD5, SHA1, SHA224,
//! SHA256, SHA384, SHA512. Others (WORM, URL, SHA3, BLAKE2, SKEIN) are checked by size only.

use std::fmt::Write as _;

use remote_proto::Key;

/// A running digest of one of the supported algorithms.
///
/// md-5 comes from the workspace at digest 0.10 and sha1/sha2 at digest 0.11; the enum keeps the
/// two trait versions apart, so each arm names its own crate's `Digest`.
#[derive(Clone)]
enum Digester {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Digester {
    fn for_variety(variety: &str) -> Option<(Digester, usize)> {
        use md5::Digest as _;
        use sha2::Digest as _;
        let base = variety.strip_suffix('E').unwrap_or(variety);
        Some(match base {
            "MD5" => (Digester::Md5(md5::Md5::new()), 16),
            "SHA1" => (Digester::Sha1(sha1::Sha1::new()), 20),
            "SHA224" => (Digester::Sha224(sha2::Sha224::new()), 28),
            "SHA256" => (Digester::Sha256(sha2::Sha256::new()), 32),
            "SHA384" => (Digester::Sha384(sha2::Sha384::new()), 48),
            "SHA512" => (Digester::Sha512(sha2::Sha512::new()), 64),
            _ => return None,
        })
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Digester::Md5(d) => md5::Digest::update(d, data),
            Digester::Sha1(d) => sha2::Digest::update(d, data),
            Digester::Sha224(d) => sha2::Digest::update(d, data),
            Digester::Sha256(d) => sha2::Digest::update(d, data),
            Digester::Sha384(d) => sha2::Digest::update(d, data),
            Digester::Sha512(d) => sha2::Digest::update(d, data),
        }
    }

    fn finish_hex(self) -> String {
        let bytes: Vec<u8> = match self {
            Digester::Md5(d) => md5::Digest::finalize(d).to_vec(),
            Digester::Sha1(d) => sha2::Digest::finalize(d).to_vec(),
            Digester::Sha224(d) => sha2::Digest::finalize(d).to_vec(),
            Digester::Sha256(d) => sha2::Digest::finalize(d).to_vec(),
            Digester::Sha384(d) => sha2::Digest::finalize(d).to_vec(),
            Digester::Sha512(d) => sha2::Digest::finalize(d).to_vec(),
        };
        let mut hex = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            let _ = write!(hex, "{b:02x}");
        }
        hex
    }
}

/// Checks content against the digest its key names, fed in order, chunk by chunk.
#[derive(Clone)]
pub struct ContentCheck {
    algorithm: String,
    expected: String,
    digester: Digester,
}

/// Content whose digest is not the key's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("its {algorithm} is {actual}, but the key says {expected}")]
pub struct Mismatch {
    /// The backend, e.g. `SHA256E`.
    pub algorithm: String,
    /// The digest in the key.
    pub expected: String,
    /// The digest of the content.
    pub actual: String,
}

impl ContentCheck {
    /// The check for `key`'s whole content, `None` when its backend names no digest ferry
    /// computes. For a chunk key this is the check of the whole key (feed every chunk in order).
    pub fn for_key(key: &Key) -> Option<ContentCheck> {
        let (digester, len) = Digester::for_variety(key.variety())?;
        let name = key.name();
        let hex = name.get(..2 * len)?;
        let rest = &name[2 * len..];
        let is_e = key.variety().ends_with('E');
        // Non-E keys are exactly the digest; E keys may add an extension after a dot.
        let shaped = if is_e {
            rest.is_empty() || rest.starts_with('.')
        } else {
            rest.is_empty()
        };
        if !shaped || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(ContentCheck {
            algorithm: key.variety().to_owned(),
            expected: hex.to_ascii_lowercase(),
            digester,
        })
    }

    /// Feeds the next bytes of the content.
    pub fn update(&mut self, data: &[u8]) {
        self.digester.update(data);
    }

    /// Compares the digest of everything fed with the key's.
    ///
    /// # Errors
    /// [`Mismatch`].
    pub fn finish(self) -> Result<(), Mismatch> {
        let actual = self.digester.finish_hex();
        if actual == self.expected {
            Ok(())
        } else {
            Err(Mismatch {
                algorithm: self.algorithm,
                expected: self.expected,
                actual,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &str, content: &[u8]) -> Option<Result<(), Mismatch>> {
        let mut c = ContentCheck::for_key(&Key::parse(key).unwrap())?;
        c.update(content);
        Some(c.finish())
    }

    #[test]
    fn known_digests_of_hello() {
        // Digests of "hello" from coreutils (md5sum, sha1sum, sha256sum, sha512sum).
        let cases = [
            "MD5E-s5--5d41402abc4b2a76b9719d911017c592.txt",
            "MD5-s5--5d41402abc4b2a76b9719d911017c592",
            "SHA1-s5--aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
            "SHA256E-s5--2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.tar.gz",
            "SHA512-s5--9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043",
        ];
        for key in cases {
            assert_eq!(check(key, b"hello"), Some(Ok(())), "{key}");
            assert!(matches!(check(key, b"hellO"), Some(Err(_))), "{key}");
        }
        let err = check(cases[3], b"x").unwrap().unwrap_err();
        assert!(err.to_string().contains("2cf24dba"), "{err}");
    }

    #[test]
    fn keys_without_a_computable_digest_are_size_only() {
        for key in [
            "WORM-s5-m1--hello.txt",
            "URL--http://example.org/x",
            "SHA3_256-s5--3338be694f50c5f338814986cdf0686453a888b84f424d792af4b9202398f392",
            "SHA256E-s5--nothex.txt",
            "SHA256-s5--2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.txt",
        ] {
            assert!(check(key, b"hello").is_none(), "{key}");
        }
    }
}

//! The key hierarchy (§4) and `ferry_key` tokens (§8.2, §8.3).
//!
//! ```text
//! master_key   32 bytes from the OS, one per remote
//! key_id       = HKDF(master_key, "", "ferry/v1/key-id", 8)
//! name_key     = HKDF(master_key, "", "ferry/v1/name-key/" ‖ mac, 32 or 64)
//! file_key     = HKDF(master_key, header.salt, "ferry/v1/file-key" ‖ 0x00 ‖ header[0..20] ‖ object_name, 32)
//! ```

use std::fmt;
use std::str::FromStr;

use argon2::{Argon2, Params};
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::array::Array;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::format::{HEADER_LEN, TAG_LEN};
use crate::names::{Mac, NameKey};
use crate::secret::Secret;

/// Length of a master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

const PLAIN_PREFIX: &str = "ferry1:plain:";
const ARGON2ID_PREFIX: &str = "ferry1:argon2id:";
const ARGON2_SALT_LEN: usize = 16;
const WRAPPED_LEN: usize = MASTER_KEY_LEN + TAG_LEN;

/// HKDF-SHA-256 extract-then-expand; an empty salt means "no salt", as RFC 5869 defines it.
pub(crate) fn hkdf(ikm: &[u8], salt: &[u8], info: &[&[u8]], out: &mut [u8]) {
    let salt = if salt.is_empty() { None } else { Some(salt) };
    Hkdf::<Sha256>::new(salt, ikm)
        .expand_multi_info(info, out)
        .expect("HKDF outputs of at most 64 bytes are within RFC 5869's 255*32-byte limit");
}

/// The 8-byte identifier of a master key, recorded in every header and in `ferry_keyid`.
///
/// Not secret: it is an HKDF output that reveals nothing about the key, and it lets a reader
/// tell "wrong key" from "corrupt". `Display` and `FromStr` use 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The key id with these bytes.
    pub fn from_bytes(bytes: [u8; 8]) -> KeyId {
        KeyId(bytes)
    }

    /// The key id's bytes.
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = KeyError;

    /// Parses exactly 16 lowercase hex digits, the form `ferry_keyid` is stored in.
    fn from_str(s: &str) -> Result<KeyId, KeyError> {
        let bytes = decode_lower_hex::<8>(s).ok_or(KeyError::BadKeyId)?;
        Ok(KeyId(bytes))
    }
}

/// A remote's 32-byte master key. Zeroed on drop; `Debug` shows only its key id.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; MASTER_KEY_LEN]>,
}

impl MasterKey {
    /// A fresh master key: 32 bytes from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`KeyError::Random`] if the OS generator fails.
    pub fn generate() -> Result<MasterKey, KeyError> {
        let mut bytes = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        getrandom::fill(bytes.as_mut()).map_err(KeyError::Random)?;
        Ok(MasterKey { bytes })
    }

    /// The master key with these bytes (for tests, vectors and key caches).
    pub fn from_bytes(bytes: &[u8; MASTER_KEY_LEN]) -> MasterKey {
        MasterKey {
            bytes: Zeroizing::new(*bytes),
        }
    }

    /// The raw key, for the one place that must store it (the unlock cache).
    pub fn expose_bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.bytes
    }

    /// `key_id = HKDF(master_key, "", "ferry/v1/key-id", 8)`.
    pub fn key_id(&self) -> KeyId {
        let mut id = [0u8; 8];
        hkdf(self.bytes.as_ref(), b"", &[b"ferry/v1/key-id"], &mut id);
        KeyId(id)
    }

    /// The HMAC key that turns git-annex keys into object names for `mac` (§5).
    ///
    /// Derive it once per remote and reuse it: each derivation costs an HKDF.
    pub fn name_key(&self, mac: Mac) -> NameKey {
        let mut key = Zeroizing::new(vec![0u8; mac.key_len()]);
        let label = format!("ferry/v1/name-key/{}", mac.as_str());
        hkdf(self.bytes.as_ref(), b"", &[label.as_bytes()], &mut key);
        NameKey::new(mac, key)
    }

    /// `file_key = HKDF(master, salt, "ferry/v1/file-key" ‖ 0x00 ‖ header[0..20] ‖ object_name, 32)`.
    ///
    /// Every header byte goes in, the first 20 through `info` and the salt as the HKDF salt, so
    /// editing any of them (or moving the object to another name) gives an unrelated key.
    pub(crate) fn file_key(
        &self,
        header: &[u8; HEADER_LEN],
        object_name: &str,
    ) -> Zeroizing<[u8; 32]> {
        let mut key = Zeroizing::new([0u8; 32]);
        hkdf(
            self.bytes.as_ref(),
            &header[20..],
            &[
                b"ferry/v1/file-key\x00",
                &header[..20],
                object_name.as_bytes(),
            ],
            key.as_mut(),
        );
        key
    }

    /// The plain-mode token `ferry1:plain:<64 hex>` (§8.2). Anyone holding it can decrypt.
    pub fn to_plain_token(&self) -> Secret<Zeroizing<String>> {
        let mut token = Zeroizing::new(String::with_capacity(PLAIN_PREFIX.len() + 64));
        token.push_str(PLAIN_PREFIX);
        token.push_str(&Zeroizing::new(hex::encode(self.bytes.as_ref())));
        Secret::new(token)
    }

    /// Wraps this key under `passphrase` with Argon2id and a fresh 16-byte salt (§8.3).
    ///
    /// Runs Argon2id with `params`: with the defaults that is 256 MiB and about half a second.
    ///
    /// # Errors
    /// [`KeyError::ParamsTooWeak`] below m=65536, t=3; [`KeyError::ParamsTooExpensive`] above
    /// the reader limits (the token would be unreadable); [`KeyError::Random`];
    /// [`KeyError::Argon2`].
    pub fn wrap(&self, passphrase: &[u8], params: Argon2Params) -> Result<WrappedKey, KeyError> {
        let mut salt = [0u8; ARGON2_SALT_LEN];
        getrandom::fill(&mut salt).map_err(KeyError::Random)?;
        self.wrap_with_salt(passphrase, params, salt)
    }

    /// [`MasterKey::wrap`] with a given salt, for test vectors. Real wraps MUST use a fresh salt,
    /// because the wrapping nonce is fixed at zero.
    ///
    /// # Errors
    /// As [`MasterKey::wrap`], except `Random`.
    pub fn wrap_with_salt(
        &self,
        passphrase: &[u8],
        params: Argon2Params,
        salt: [u8; ARGON2_SALT_LEN],
    ) -> Result<WrappedKey, KeyError> {
        params.check_writable()?;
        params.check_readable()?;
        let mut key = WrappedKey {
            params,
            salt,
            wrapped: [0; WRAPPED_LEN],
        };
        let kek = kek(passphrase, &params, &salt)?;
        let cipher =
            ChaCha20Poly1305::new_from_slice(kek.as_ref()).expect("a 32-byte key fits ChaCha20");
        let mut sealed = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        sealed.copy_from_slice(self.bytes.as_ref());
        let tag = cipher
            .encrypt_inout_detached(
                &Array::from([0u8; 12]),
                key.prefix().as_bytes(),
                sealed.as_mut().into(),
            )
            .expect("32 bytes are within ChaCha20-Poly1305's message limit");
        key.wrapped[..MASTER_KEY_LEN].copy_from_slice(sealed.as_ref());
        key.wrapped[MASTER_KEY_LEN..].copy_from_slice(&tag);
        Ok(key)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey {{ key_id: {}, key: *** }}", self.key_id())
    }
}

/// Argon2id cost parameters of a wrapped key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Argon2Params {
    /// Memory in KiB (`m`).
    pub memory_kib: u32,
    /// Passes (`t`).
    pub iterations: u32,
    /// Lanes (`p`).
    pub parallelism: u32,
}

impl Argon2Params {
    /// Largest memory a reader agrees to spend: 4 GiB.
    pub const MAX_MEMORY_KIB: u32 = 4_194_304;
    /// Most passes a reader agrees to run.
    pub const MAX_ITERATIONS: u32 = 16;
    /// Most lanes a reader agrees to use.
    pub const MAX_PARALLELISM: u32 = 16;
    /// Least memory a writer may use: 64 MiB.
    pub const MIN_MEMORY_KIB: u32 = 65_536;
    /// Fewest passes a writer may use.
    pub const MIN_ITERATIONS: u32 = 3;

    /// Refuses parameters above the reader limits, so a tampered config cannot exhaust memory.
    fn check_readable(&self) -> Result<(), KeyError> {
        if self.memory_kib > Self::MAX_MEMORY_KIB
            || self.iterations > Self::MAX_ITERATIONS
            || self.parallelism > Self::MAX_PARALLELISM
        {
            return Err(KeyError::ParamsTooExpensive {
                memory_kib: self.memory_kib,
                iterations: self.iterations,
                parallelism: self.parallelism,
            });
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<(), KeyError> {
        if self.memory_kib < Self::MIN_MEMORY_KIB || self.iterations < Self::MIN_ITERATIONS {
            return Err(KeyError::ParamsTooWeak {
                memory_kib: self.memory_kib,
                iterations: self.iterations,
            });
        }
        Ok(())
    }
}

impl Default for Argon2Params {
    /// m = 262144 (256 MiB), t = 3, p = 4.
    fn default() -> Argon2Params {
        Argon2Params {
            memory_kib: 262_144,
            iterations: 3,
            parallelism: 4,
        }
    }
}

/// The key-encryption key: Argon2id v0x13 over the passphrase, 32 bytes out.
pub(crate) fn kek(
    passphrase: &[u8],
    params: &Argon2Params,
    salt: &[u8; ARGON2_SALT_LEN],
) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let argon_params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(KeyError::Argon2)?;
    let argon = Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut kek = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase, salt, kek.as_mut())
        .map_err(KeyError::Argon2)?;
    Ok(kek)
}

/// A passphrase-wrapped master key, `ferry1:argon2id:<m>:<t>:<p>:<salt hex>:<96 hex>` (§8.3).
///
/// Not secret by itself (it lives in `remote.log`); `Display` prints the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    params: Argon2Params,
    salt: [u8; ARGON2_SALT_LEN],
    wrapped: [u8; WRAPPED_LEN],
}

impl WrappedKey {
    /// The Argon2id parameters unwrapping will run.
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// The token text up to and including the last `:`; it is the wrapping's associated data,
    /// which binds the KDF parameters and the salt.
    fn prefix(&self) -> String {
        format!(
            "{ARGON2ID_PREFIX}{}:{}:{}:{}:",
            self.params.memory_kib,
            self.params.iterations,
            self.params.parallelism,
            hex::encode(self.salt)
        )
    }

    /// Recovers the master key with `passphrase` (exact bytes; see [`strip_passphrase_newline`]).
    ///
    /// Runs Argon2id with the token's parameters, which the parser has already bounded.
    ///
    /// # Errors
    /// [`KeyError::WrongPassphrase`] when the tag does not verify; [`KeyError::Argon2`].
    pub fn unlock(&self, passphrase: &[u8]) -> Result<MasterKey, KeyError> {
        self.params.check_readable()?;
        let kek = kek(passphrase, &self.params, &self.salt)?;
        let cipher =
            ChaCha20Poly1305::new_from_slice(kek.as_ref()).expect("a 32-byte key fits ChaCha20");
        let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        key.copy_from_slice(&self.wrapped[..MASTER_KEY_LEN]);
        let tag = Array::try_from(&self.wrapped[MASTER_KEY_LEN..])
            .expect("the wrapped part holds a 16-byte tag after the key");
        cipher
            .decrypt_inout_detached(
                &Array::from([0u8; 12]),
                self.prefix().as_bytes(),
                key.as_mut().into(),
                &tag,
            )
            .map_err(|_| KeyError::WrongPassphrase)?;
        Ok(MasterKey { bytes: key })
    }
}

impl fmt::Display for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.prefix(), hex::encode(self.wrapped))
    }
}

/// A parsed `ferry_key` value.
#[derive(Debug, Clone)]
pub enum KeyToken {
    /// `ferry1:plain:<64 hex>`: the key itself.
    Plain(MasterKey),
    /// `ferry1:argon2id:…`: the key wrapped under a passphrase.
    Wrapped(WrappedKey),
}

impl KeyToken {
    /// Parses a token strictly: lowercase hex of exact lengths, decimal numbers without leading
    /// zeros, Argon2id parameters within the reader limits.
    ///
    /// Strict because the wrapped form authenticates its own text: a re-cased salt would only
    /// surface later as a misleading "wrong passphrase".
    ///
    /// # Errors
    /// [`KeyError::BadToken`] (the message never quotes the token) or
    /// [`KeyError::ParamsTooExpensive`].
    pub fn parse(token: &str) -> Result<KeyToken, KeyError> {
        let bad = |reason| KeyError::BadToken { reason };
        if let Some(hex) = token.strip_prefix(PLAIN_PREFIX) {
            let bytes = Zeroizing::new(
                decode_lower_hex::<MASTER_KEY_LEN>(hex)
                    .ok_or(bad("the plain key must be 64 lowercase hex digits"))?,
            );
            return Ok(KeyToken::Plain(MasterKey::from_bytes(&bytes)));
        }
        if let Some(rest) = token.strip_prefix(ARGON2ID_PREFIX) {
            let fields: Vec<&str> = rest.split(':').collect();
            let [m, t, p, salt, wrapped] = fields[..] else {
                return Err(bad(
                    "an argon2id token has five fields after ferry1:argon2id:",
                ));
            };
            let params = Argon2Params {
                memory_kib: parse_decimal(m).ok_or(bad("m is not a decimal number"))?,
                iterations: parse_decimal(t).ok_or(bad("t is not a decimal number"))?,
                parallelism: parse_decimal(p).ok_or(bad("p is not a decimal number"))?,
            };
            params.check_readable()?;
            let salt = decode_lower_hex::<ARGON2_SALT_LEN>(salt)
                .ok_or(bad("the salt must be 32 lowercase hex digits"))?;
            let wrapped = decode_lower_hex::<WRAPPED_LEN>(wrapped).ok_or(bad(
                "the wrapped key must be exactly 96 lowercase hex digits",
            ))?;
            return Ok(KeyToken::Wrapped(WrappedKey {
                params,
                salt,
                wrapped,
            }));
        }
        if token.starts_with("ferry") && !token.starts_with("ferry1:") {
            return Err(bad("unknown token version; upgrade ferry"));
        }
        Err(bad("unknown token kind"))
    }
}

impl FromStr for KeyToken {
    type Err = KeyError;

    fn from_str(token: &str) -> Result<KeyToken, KeyError> {
        KeyToken::parse(token)
    }
}

/// A passphrase read from a file or stdin, less one trailing `\n` or `\r\n` (and nothing else:
/// no trimming, no Unicode normalisation), as §8.3 prescribes.
pub fn strip_passphrase_newline(passphrase: &[u8]) -> &[u8] {
    passphrase
        .strip_suffix(b"\r\n")
        .or_else(|| passphrase.strip_suffix(b"\n"))
        .unwrap_or(passphrase)
}

/// Exactly `2*N` lowercase hex digits.
fn decode_lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// A decimal u32 without sign or leading zeros (the token's text is authenticated as written).
fn parse_decimal(s: &str) -> Option<u32> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_master() -> MasterKey {
        MasterKey::from_bytes(&std::array::from_fn(|i| i as u8))
    }

    /// §12: file keys for both algorithms, from the vector header (salt a0..bf) and the
    /// HMACSHA256 name of the SHA256E key.
    #[test]
    fn file_key_vectors() {
        let name =
            "FERRYHMACSHA256--acf2ff4f365c39abcfcde67a65b4fb3d88f50bf401824b8c353e225cc26e636d";
        let salt: [u8; 32] = std::array::from_fn(|i| 0xa0 + i as u8);
        let mk = vector_master();
        for (alg, want) in [
            (
                crate::Algorithm::Aes256Gcm,
                "acbeb1cf479614fe3fbd226add8749a8fb8a5b31a999593487c7d08c30192b33",
            ),
            (
                crate::Algorithm::ChaCha20Poly1305,
                "9e5ded8a2da511750aa0d478188b9c990c9b78b216407face176b0a180e189dc",
            ),
        ] {
            let header = crate::Header::new(alg, mk.key_id(), salt).to_bytes();
            assert_eq!(
                hex::encode(mk.file_key(&header, name).as_ref()),
                want,
                "{alg}"
            );
        }
    }

    /// §12: the Argon2id KEK of the token vector (m=262144 t=3 p=4, salt c0..cf).
    #[test]
    fn kek_vector() {
        let salt: [u8; 16] = std::array::from_fn(|i| 0xc0 + i as u8);
        let kek = kek(
            b"correct horse battery staple",
            &Argon2Params::default(),
            &salt,
        )
        .unwrap();
        assert_eq!(
            hex::encode(kek.as_ref()),
            "922f8ff1fca433e4f0c2f24cfd4fd774549ab386c3a7bfd79bccf1591166747d"
        );
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let mk = vector_master();
        let shown = format!("{mk:?} {:?} {}", mk.to_plain_token(), mk.to_plain_token());
        assert!(!shown.contains("000102"), "{shown}");
        assert!(shown.contains("c4e89cc483f1d7a8"));
        let named = format!("{:?}", mk.name_key(Mac::HmacSha256));
        assert!(!named.contains("a694"), "{named}");
    }

    #[test]
    fn key_id_parses_only_16_lowercase_hex() {
        let id: KeyId = "c4e89cc483f1d7a8".parse().unwrap();
        assert_eq!(id, vector_master().key_id());
        assert_eq!(id.to_string(), "c4e89cc483f1d7a8");
        for bad in [
            "C4E89CC483F1D7A8",
            "c4e89cc483f1d7a",
            "c4e89cc483f1d7a80",
            "g4e89cc483f1d7a8",
        ] {
            assert!(
                matches!(bad.parse::<KeyId>(), Err(KeyError::BadKeyId)),
                "{bad}"
            );
        }
    }

    #[test]
    fn plain_token_round_trips_and_is_strict() {
        let mk = vector_master();
        let token = mk.to_plain_token();
        let KeyToken::Plain(back) = KeyToken::parse(token.expose()).unwrap() else {
            panic!("plain token parsed as wrapped");
        };
        assert_eq!(back.expose_bytes(), mk.expose_bytes());
        for bad in [
            "ferry1:plain:",
            "ferry1:plain:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
            "ferry1:plain:000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
            "ferry1:plain:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00",
            "ferry1:plain: 00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "ferry2:plain:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "",
        ] {
            let err = KeyToken::parse(bad).unwrap_err();
            assert!(matches!(err, KeyError::BadToken { .. }), "{bad}");
            assert!(
                !err.to_string().contains("0a0b0c"),
                "error quotes the token: {err}"
            );
        }
    }

    #[test]
    fn decimal_fields_are_canonical() {
        assert_eq!(parse_decimal("262144"), Some(262_144));
        assert_eq!(parse_decimal("0"), Some(0));
        for bad in ["", "04", "+4", "-4", "4 ", "4294967296", "0x10"] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn reader_limits_are_enforced_before_any_kdf_runs() {
        let salt = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";
        let wrapped = "00".repeat(48);
        for (m, t, p) in [(4_194_305, 3, 4), (262_144, 17, 4), (262_144, 3, 17)] {
            let token = format!("ferry1:argon2id:{m}:{t}:{p}:{salt}:{wrapped}");
            assert!(matches!(
                KeyToken::parse(&token),
                Err(KeyError::ParamsTooExpensive { .. })
            ));
        }
        let at_limit = format!("ferry1:argon2id:4194304:16:16:{salt}:{wrapped}");
        assert!(matches!(
            KeyToken::parse(&at_limit),
            Ok(KeyToken::Wrapped(_))
        ));
    }

    #[test]
    fn writer_floors_are_enforced() {
        let mk = vector_master();
        for (m, t) in [(65_535, 3), (262_144, 2)] {
            let params = Argon2Params {
                memory_kib: m,
                iterations: t,
                parallelism: 4,
            };
            assert!(matches!(
                mk.wrap_with_salt(b"x", params, [0; 16]),
                Err(KeyError::ParamsTooWeak { .. })
            ));
        }
    }

    #[test]
    fn passphrase_loses_exactly_one_newline() {
        assert_eq!(strip_passphrase_newline(b"pw\n"), b"pw");
        assert_eq!(strip_passphrase_newline(b"pw\r\n"), b"pw");
        assert_eq!(strip_passphrase_newline(b"pw\n\n"), b"pw\n");
        assert_eq!(strip_passphrase_newline(b" pw \r"), b" pw \r");
        assert_eq!(strip_passphrase_newline(b""), b"");
    }
}

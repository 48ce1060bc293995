//! Object names: the HMAC of a git-annex key under the remote's name key (§5).
//!
//! `object_name = "FERRY" ‖ mac ‖ "--" ‖ lowercase_hex(HMAC-mac(name_key, annex_key_bytes))`.
//! Directory hashing must be computed on this name, never on the plaintext key.

use std::fmt;
use std::str::FromStr;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac as _};
use sha2::{Sha256, Sha512};
use zeroize::Zeroizing;

use crate::error::ConfigError;

/// The MAC that names objects, config key `ferry_mac`. Fixed when the remote is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mac {
    /// HMAC-SHA-256, 64 hex digits (the default).
    #[default]
    HmacSha256,
    /// HMAC-SHA-512, 128 hex digits.
    HmacSha512,
}

impl Mac {
    /// The config word and name infix: `HMACSHA256` or `HMACSHA512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mac::HmacSha256 => "HMACSHA256",
            Mac::HmacSha512 => "HMACSHA512",
        }
    }

    /// Length of the name key, which equals the digest length: 32 or 64 bytes.
    pub(crate) fn key_len(self) -> usize {
        match self {
            Mac::HmacSha256 => 32,
            Mac::HmacSha512 => 64,
        }
    }

    /// The prefix of every object name under this MAC, e.g. `FERRYHMACSHA256--`.
    pub fn name_prefix(self) -> &'static str {
        match self {
            Mac::HmacSha256 => "FERRYHMACSHA256--",
            Mac::HmacSha512 => "FERRYHMACSHA512--",
        }
    }

    /// Length of an object name under this MAC: 81 or 145 characters.
    pub fn name_len(self) -> usize {
        self.name_prefix().len() + 2 * self.key_len()
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mac {
    type Err = ConfigError;

    /// Parses a `ferry_mac` value; spelled exactly as git-annex spells its `mac=` values.
    fn from_str(s: &str) -> Result<Mac, ConfigError> {
        match s {
            "HMACSHA256" => Ok(Mac::HmacSha256),
            "HMACSHA512" => Ok(Mac::HmacSha512),
            _ => Err(ConfigError {
                key: "ferry_mac",
                value: s.to_owned(),
                expected: "HMACSHA256 or HMACSHA512",
            }),
        }
    }
}

/// The HMAC key for object names, derived from the master key with
/// [`MasterKey::name_key`](crate::MasterKey::name_key). Zeroed on drop, never printed.
#[derive(Clone)]
pub struct NameKey {
    mac: Mac,
    key: Zeroizing<Vec<u8>>,
}

impl NameKey {
    pub(crate) fn new(mac: Mac, key: Zeroizing<Vec<u8>>) -> NameKey {
        debug_assert_eq!(key.len(), mac.key_len());
        NameKey { mac, key }
    }

    /// The MAC this key is for.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// The raw key, for test vectors.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.key
    }

    /// The storage name of a git-annex key: `FERRYHMACSHA256--<64 hex>` or
    /// `FERRYHMACSHA512--<128 hex>`.
    ///
    /// `annex_key` is the exact bytes git-annex sent (chunk keys included), never normalised.
    pub fn object_name(&self, annex_key: &[u8]) -> String {
        let digest = match self.mac {
            Mac::HmacSha256 => {
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
                    .expect("HMAC accepts keys of any length");
                mac.update(annex_key);
                hex::encode(mac.finalize().into_bytes())
            }
            Mac::HmacSha512 => {
                let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(&self.key)
                    .expect("HMAC accepts keys of any length");
                mac.update(annex_key);
                hex::encode(mac.finalize().into_bytes())
            }
        };
        format!("{}{digest}", self.mac.name_prefix())
    }
}

impl fmt::Debug for NameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameKey({}, ***)", self.mac)
    }
}

/// The storage name of `annex_key` under `name_key` (same as [`NameKey::object_name`]).
pub fn object_name(name_key: &NameKey, annex_key: &[u8]) -> String {
    name_key.object_name(annex_key)
}

/// Which MAC made `name`, if it is a well-formed ferry object name (prefix and exact count of
/// lowercase hex digits). Lets `ferry recover` pick ferry objects out of a bare listing.
pub fn parse_object_name(name: &str) -> Option<Mac> {
    [Mac::HmacSha256, Mac::HmacSha512].into_iter().find(|mac| {
        name.strip_prefix(mac.name_prefix()).is_some_and(|hex| {
            hex.len() == 2 * mac.key_len()
                && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parses_the_config_words_and_names_them_on_error() {
        assert_eq!("HMACSHA256".parse::<Mac>().unwrap(), Mac::HmacSha256);
        assert_eq!("HMACSHA512".parse::<Mac>().unwrap(), Mac::HmacSha512);
        let err = "hmacsha256".parse::<Mac>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown ferry_mac=hmacsha256; expected HMACSHA256 or HMACSHA512"
        );
        assert_eq!(Mac::default().to_string(), "HMACSHA256");
    }

    #[test]
    fn object_names_are_recognised_exactly() {
        let ok256 = format!("FERRYHMACSHA256--{}", "ab".repeat(32));
        let ok512 = format!("FERRYHMACSHA512--{}", "0f".repeat(64));
        assert_eq!(parse_object_name(&ok256), Some(Mac::HmacSha256));
        assert_eq!(parse_object_name(&ok512), Some(Mac::HmacSha512));
        assert_eq!(ok256.len(), Mac::HmacSha256.name_len());
        assert_eq!(ok512.len(), Mac::HmacSha512.name_len());
        for bad in [
            format!("FERRYHMACSHA256--{}", "AB".repeat(32)),
            format!("FERRYHMACSHA256--{}", "ab".repeat(31)),
            format!("FERRYHMACSHA512--{}", "ab".repeat(32)),
            format!("GPGHMACSHA256--{}", "ab".repeat(32)),
            "SHA256E-s5--abc.txt".to_owned(),
        ] {
            assert_eq!(parse_object_name(&bad), None, "{bad}");
        }
    }
}

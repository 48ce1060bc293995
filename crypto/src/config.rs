//! Typed config values: `ferry_encryption` here; `ferry_mac` is [`Mac`](crate::Mac).

use std::fmt;
use std::str::FromStr;

use crate::error::ConfigError;
use crate::format::Algorithm;

/// The `ferry_encryption` setting: whether ferry encrypts, and with which AEAD new objects are
/// sealed. It may change at any time, because each object records its own algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encryption {
    /// `none` (the default): ferry stores what git-annex sends as it is.
    #[default]
    None,
    /// `aes256gcm`.
    Aes256Gcm,
    /// `chacha20poly1305`.
    ChaCha20Poly1305,
}

impl Encryption {
    /// The config word.
    pub fn as_str(self) -> &'static str {
        match self {
            Encryption::None => "none",
            Encryption::Aes256Gcm => "aes256gcm",
            Encryption::ChaCha20Poly1305 => "chacha20poly1305",
        }
    }

    /// The algorithm new objects are sealed with, or `None` when ferry does not encrypt.
    pub fn algorithm(self) -> Option<Algorithm> {
        match self {
            Encryption::None => None,
            Encryption::Aes256Gcm => Some(Algorithm::Aes256Gcm),
            Encryption::ChaCha20Poly1305 => Some(Algorithm::ChaCha20Poly1305),
        }
    }
}

impl From<Algorithm> for Encryption {
    fn from(algorithm: Algorithm) -> Encryption {
        match algorithm {
            Algorithm::Aes256Gcm => Encryption::Aes256Gcm,
            Algorithm::ChaCha20Poly1305 => Encryption::ChaCha20Poly1305,
        }
    }
}

impl fmt::Display for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Encryption {
    type Err = ConfigError;

    /// Parses `none`, `aes256gcm` or `chacha20poly1305` (exact, lowercase, like the other
    /// lowercase git-annex config words).
    fn from_str(s: &str) -> Result<Encryption, ConfigError> {
        match s {
            "none" => Ok(Encryption::None),
            "aes256gcm" => Ok(Encryption::Aes256Gcm),
            "chacha20poly1305" => Ok(Encryption::ChaCha20Poly1305),
            _ => Err(ConfigError {
                key: "ferry_encryption",
                value: s.to_owned(),
                expected: "none, aes256gcm or chacha20poly1305",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_round_trips_its_words() {
        for e in [
            Encryption::None,
            Encryption::Aes256Gcm,
            Encryption::ChaCha20Poly1305,
        ] {
            assert_eq!(e.as_str().parse::<Encryption>().unwrap(), e);
        }
        assert_eq!(Encryption::default(), Encryption::None);
        assert_eq!(
            Encryption::Aes256Gcm.algorithm(),
            Some(Algorithm::Aes256Gcm)
        );
        assert_eq!(Encryption::None.algorithm(), None);
    }

    #[test]
    fn encryption_error_names_the_valid_values() {
        let err = "aes".parse::<Encryption>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown ferry_encryption=aes; expected none, aes256gcm or chacha20poly1305"
        );
    }
}

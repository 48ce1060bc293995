//! ferry's own encryption: object format v1 (specified in `shared/crypto-format.md`).
//!
//! When a remote has `ferry_encryption=aes256gcm` (or `chacha20poly1305`), ferry stores each
//! git-annex key under an HMAC-derived **object name** and its content as a **sealed object**:
//!
//! ```text
//! object = header (52 B) ‖ segment_0 ‖ … ‖ segment_{n-1}      segment = AEAD(64 KiB plaintext) ‖ tag
//! ```
//!
//! Each object has its own key, `HKDF(master, salt, header ‖ object name)`, so objects cannot be
//! swapped, spliced or edited undetected; the segment nonces (STREAM: index ‖ last flag) catch
//! truncation, reordering and appending. Plaintext is released only segment by verified segment.
//!
//! Main types:
//! - [`MasterKey`] (one per remote), its [`KeyId`], and the `ferry_key` tokens [`KeyToken`] /
//!   [`WrappedKey`] (plain or Argon2id passphrase-wrapped).
//! - [`NameKey`] and [`NameKey::object_name`]: `FERRYHMACSHA256--<hex>` storage names ([`Mac`]).
//! - [`Sealer`] (encrypt), [`Opener`] (decrypt a whole object), [`RangeOpener`] (decrypt a
//!   plaintext range or resume): sans-IO cores with bounded memory, driven through the
//!   [`Transform`] trait directly or via its `Read` ([`TransformReader`]), `Write`
//!   ([`TransformWriter`]) and `futures::Stream` ([`TransformStream`]) adapters. [`seal`] and
//!   [`open`] do whole objects in memory.
//! - Length arithmetic: [`sealed_len`] (announce a size before encrypting) and [`plain_len`].
//! - Config values: [`Encryption`] (`ferry_encryption`) and [`Mac`] (`ferry_mac`).
//! - Errors: [`Error`] (format), [`KeyError`] (keys and tokens), [`ConfigError`]. None carries a
//!   secret; [`Secret`] redacts anything that is one.
//!
//! Streaming a store and a retrieve:
//!
//! ```
//! use ferry_crypto::{Algorithm, Mac, MasterKey, Opener, Sealer, Transform};
//! use std::io::{Read, Write};
//!
//! let master = MasterKey::generate()?;
//! let name = master.name_key(Mac::HmacSha256).object_name(b"SHA256E-s5--2cf2.txt");
//!
//! let mut writer = Sealer::new(&master, &name, Algorithm::Aes256Gcm)?.writer(Vec::new());
//! writer.write_all(b"hello")?;
//! let object = writer.finish()?;
//! assert_eq!(object.len() as u64, ferry_crypto::sealed_len(5)?);
//!
//! let mut plain = Vec::new();
//! Opener::new(&master, &name).reader(&object[..]).read_to_end(&mut plain)?;
//! assert_eq!(plain, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! No feature flags. Ciphers come from RustCrypto (`aes-gcm`, `chacha20poly1305`), which pick
//! AES-NI/PCLMULQDQ or AVX2 at run time.

mod adapters;
mod cipher;
mod config;
mod error;
mod format;
mod keys;
mod names;
mod open;
mod range;
mod seal;
mod secret;

pub use adapters::{Transform, TransformReader, TransformStream, TransformWriter};
pub use config::Encryption;
pub use error::{ConfigError, Error, HeaderError, KeyError};
pub use format::{
    Algorithm, EMPTY_OBJECT_LEN, HEADER_LEN, Header, Layout, MAGIC, MAX_SEGMENT_LOG2, MAX_SEGMENTS,
    MIN_SEGMENT_LOG2, SALT_LEN, TAG_LEN, VERSION, WRITE_SEGMENT_LOG2, plain_len, sealed_len,
};
pub use keys::{
    Argon2Params, KeyId, KeyToken, MASTER_KEY_LEN, MasterKey, WrappedKey, strip_passphrase_newline,
};
pub use names::{Mac, NameKey, object_name, parse_object_name};
pub use open::{Opener, open};
pub use range::{RangeOpener, RangePlan};
pub use seal::{Sealer, seal};
pub use secret::Secret;

//! git-annex keys: `VARIETY[-sSIZE][-mMTIME][-SCHUNKSIZE-CCHUNKNUM]--NAME`.
//!
//! A [`Key`] keeps the exact text git-annex sent, because every reply must echo the key byte for
//! byte (a reply naming a different key is a protocol error), and exposes the parsed fields.

use std::fmt;
use std::str::FromStr;

/// The chunk fields of a chunk key (`-S<size>-C<number>`), added by git-annex's `chunk=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chunk {
    /// The nominal chunk size in bytes (the last chunk may be shorter).
    pub size: u64,
    /// The chunk number, counting from 1.
    pub number: u64,
}

/// A git-annex key, parsed into its fields, that remembers its exact wire text.
///
/// ```
/// use remote_proto::Key;
/// let key: Key = "SHA256E-s2621440-S1048576-C3--abc.bin".parse().unwrap();
/// assert_eq!(key.variety(), "SHA256E");
/// assert_eq!(key.size(), Some(2621440));
/// assert_eq!(key.chunk().map(|c| c.number), Some(3));
/// assert_eq!(key.name(), "abc.bin");
/// assert_eq!(key.without_chunk(), "SHA256E-s2621440--abc.bin");
/// // the last chunk holds what is left: 2621440 - 2 * 1048576
/// assert_eq!(key.expected_object_len(), Some(524288));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    raw: String,
    variety_len: usize,
    size: Option<u64>,
    mtime: Option<i64>,
    chunk_size: Option<u64>,
    chunk_number: Option<u64>,
    name_start: usize,
}

/// Why a string is not a git-annex key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key was empty.
    #[error("empty key")]
    Empty,
    /// Keys never contain whitespace or control characters; git-annex refuses such keys itself.
    #[error("key contains whitespace or a control character")]
    Whitespace,
    /// The `--` that separates the fields from the name is missing.
    #[error("key has no `--` before its name")]
    NoName,
    /// The backend name (variety) before the first `-` is empty.
    #[error("key has an empty backend name")]
    EmptyVariety,
    /// A field (`-s`, `-m`, `-S`, `-C`) is unknown, repeated, out of order or not a number.
    #[error("key field `{0}` is unknown, out of order or not a number")]
    BadField(String),
}

impl Key {
    /// Parses a key as git-annex serializes it. Fields must come in git-annex's order.
    ///
    /// # Errors
    /// [`KeyError`] says what is wrong with the text.
    pub fn parse(s: &str) -> Result<Key, KeyError> {
        if s.is_empty() {
            return Err(KeyError::Empty);
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(KeyError::Whitespace);
        }
        let sep = s.find("--").ok_or(KeyError::NoName)?;
        let head = &s[..sep];
        let name_start = sep + 2;
        let mut parts = head.split('-');
        let variety = parts.next().unwrap_or_default();
        if variety.is_empty() {
            return Err(KeyError::EmptyVariety);
        }
        let mut key = Key {
            raw: s.to_owned(),
            variety_len: variety.len(),
            size: None,
            mtime: None,
            chunk_size: None,
            chunk_number: None,
            name_start,
        };
        // git-annex's parser is strict about order: s, m, S, C.
        let mut order = 0u8;
        for field in parts {
            let bad = || KeyError::BadField(field.to_owned());
            let mut chars = field.chars();
            let letter = chars.next().ok_or_else(bad)?;
            let value = chars.as_str();
            let rank = match letter {
                's' => 1,
                'm' => 2,
                'S' => 3,
                'C' => 4,
                _ => return Err(bad()),
            };
            if rank <= order || value.is_empty() {
                return Err(bad());
            }
            order = rank;
            if letter == 'm' {
                key.mtime = Some(value.parse().map_err(|_| bad())?);
                continue;
            }
            if !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let number: u64 = value.parse().map_err(|_| bad())?;
            match letter {
                's' => key.size = Some(number),
                'S' => key.chunk_size = Some(number),
                _ => key.chunk_number = Some(number),
            }
        }
        Ok(key)
    }

    /// The key exactly as git-annex sent it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The backend that made the key (`SHA256E`, `WORM`, `GPGHMACSHA512`, …).
    pub fn variety(&self) -> &str {
        &self.raw[..self.variety_len]
    }

    /// The size of the whole content in bytes, when the key records it (`-s`).
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The modification time recorded by WORM keys (`-m`).
    pub fn mtime(&self) -> Option<i64> {
        self.mtime
    }

    /// The chunk fields, when this is a chunk key with both `-S` and `-C`.
    pub fn chunk(&self) -> Option<Chunk> {
        match (self.chunk_size, self.chunk_number) {
            (Some(size), Some(number)) => Some(Chunk { size, number }),
            _ => None,
        }
    }

    /// The name part after the first `--` (hash and extension, URL, file name…).
    pub fn name(&self) -> &str {
        &self.raw[self.name_start..]
    }

    /// True for keys of content that git-annex encrypted (`GPGHMAC…`) before storing.
    pub fn is_encrypted(&self) -> bool {
        self.variety().starts_with("GPGHMAC")
    }

    /// The key with its chunk fields removed (git-annex's `nonChunkKey`), the text that both
    /// directory hashes are computed over, so that all chunks of a key share one directory.
    pub fn without_chunk(&self) -> String {
        if self.chunk_size.is_none() && self.chunk_number.is_none() {
            return self.raw.clone();
        }
        let mut out = String::with_capacity(self.raw.len());
        out.push_str(self.variety());
        if let Some(size) = self.size {
            out.push_str(&format!("-s{size}"));
        }
        if let Some(mtime) = self.mtime {
            out.push_str(&format!("-m{mtime}"));
        }
        out.push_str("--");
        out.push_str(self.name());
        out
    }

    /// How many bytes the stored object must have, when the key says: the whole size for a
    /// plain key, the chunk's share of it for a chunk key. `None` when the key has no size
    /// (encrypted, URL and some WORM keys).
    pub fn expected_object_len(&self) -> Option<u64> {
        let size = self.size?;
        match self.chunk() {
            None => Some(size),
            Some(Chunk {
                size: chunk,
                number,
            }) => {
                if chunk == 0 || number == 0 {
                    return None;
                }
                let before = chunk.checked_mul(number - 1)?;
                // git-annex stores one empty chunk for an empty file.
                if size == 0 && number == 1 {
                    return Some(0);
                }
                if before >= size {
                    return None;
                }
                Some((size - before).min(chunk))
            }
        }
    }

    /// git-annex's object-file escaping (`keyFile`): `&`→`&a`, `%`→`&s`, `:`→`&c`, `/`→`%`.
    /// The result never contains `/`, so it is safe as a single path segment.
    pub fn file_name(&self) -> String {
        let mut out = String::with_capacity(self.raw.len());
        for c in self.raw.chars() {
            match c {
                '&' => out.push_str("&a"),
                '%' => out.push_str("&s"),
                ':' => out.push_str("&c"),
                '/' => out.push('%'),
                c => out.push(c),
            }
        }
        out
    }
}

impl FromStr for Key {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Key, KeyError> {
        Key::parse(s)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_sha256e_key() {
        let k = Key::parse("SHA256E-s12--a948.txt").unwrap();
        assert_eq!(k.variety(), "SHA256E");
        assert_eq!(k.size(), Some(12));
        assert_eq!(k.mtime(), None);
        assert_eq!(k.chunk(), None);
        assert_eq!(k.name(), "a948.txt");
        assert_eq!(k.to_string(), "SHA256E-s12--a948.txt");
    }

    #[test]
    fn parses_worm_key_with_mtime_and_dashes_in_name() {
        let k = Key::parse("WORM-s5-m1795479798--Weird,32Name-x--y.TXT").unwrap();
        assert_eq!(k.mtime(), Some(1795479798));
        assert_eq!(k.name(), "Weird,32Name-x--y.TXT");
    }

    #[test]
    fn parses_keys_without_size() {
        let k = Key::parse("URL--http://example.org/a&b%c").unwrap();
        assert_eq!(k.size(), None);
        assert_eq!(k.name(), "http://example.org/a&b%c");
        let g = Key::parse("GPGHMACSHA1--e27f2ddf0506a7c8d94a074940f7a4fb0690de9b").unwrap();
        assert!(g.is_encrypted());
        assert_eq!(g.expected_object_len(), None);
    }

    #[test]
    fn chunk_fields_are_dropped_for_hashing() {
        let k = Key::parse("SHA256E-s2621440-S1048576-C2--c848.bin").unwrap();
        assert_eq!(
            k.chunk(),
            Some(Chunk {
                size: 1048576,
                number: 2
            })
        );
        assert_eq!(k.without_chunk(), "SHA256E-s2621440--c848.bin");
        assert_eq!(k.expected_object_len(), Some(1048576));
    }

    #[test]
    fn expected_len_of_empty_file_chunk_is_zero() {
        let k = Key::parse("SHA256E-s0-S1048576-C1--e3b0.dat").unwrap();
        assert_eq!(k.expected_object_len(), Some(0));
    }

    #[test]
    fn rejects_malformed_keys() {
        assert_eq!(Key::parse(""), Err(KeyError::Empty));
        assert_eq!(Key::parse("SHA256E-s1--a b"), Err(KeyError::Whitespace));
        assert_eq!(Key::parse("SHA256E-s1-x"), Err(KeyError::NoName));
        assert_eq!(Key::parse("-s1--x"), Err(KeyError::EmptyVariety));
        assert!(matches!(
            Key::parse("SHA256E-x1--x"),
            Err(KeyError::BadField(_))
        ));
        assert!(matches!(
            Key::parse("SHA256E-S1-s1--x"),
            Err(KeyError::BadField(_))
        ));
        assert!(matches!(
            Key::parse("SHA256E-s--x"),
            Err(KeyError::BadField(_))
        ));
        assert!(matches!(
            Key::parse("SHA256E-s+1--x"),
            Err(KeyError::BadField(_))
        ));
        assert!(matches!(
            Key::parse("SHA256E-s1\r--x"),
            Err(KeyError::Whitespace)
        ));
    }

    #[test]
    fn file_name_escapes_like_git_annex() {
        let k = Key::parse("VURL--file:///tmp/t/a&b%c").unwrap();
        assert_eq!(k.file_name(), "VURL--file&c%%%tmp%t%a&ab&sc");
    }
}

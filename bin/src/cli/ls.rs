//! `ferry ls`: the objects in a remote's store, with the git-annex key each one holds.

use std::collections::BTreeMap;

use ferry_backends::{Backend, ObjectPath};
use remote_proto::Key;
use serde::Serialize;

/// One stored object.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Listed {
    /// Its path in the store (under the prefix).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// The git-annex key it holds, read back from its name; `None` for names that are not keys
    /// (exported files, foreign files).
    pub key: Option<String>,
}

/// Undoes git-annex's object-file escaping (`%`→`/`, `&c`→`:`, `&s`→`%`, `&a`→`&`).
pub fn unescape_key(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => out.push('/'),
            '&' => match chars.next()? {
                'c' => out.push(':'),
                's' => out.push('%'),
                'a' => out.push('&'),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    Some(out)
}

/// Lists every object of `backend`, sorted by path. A name that is a key (plain stores) gives
/// the key; otherwise `known` (from [`Store::known_objects`](crate::cli::store::Store::known_objects))
/// maps it, which is how HMAC-named objects of encrypted stores get their keys back.
///
/// # Errors
/// The store cannot be listed (unreachable, no permission, listing unsupported).
pub async fn ls(
    backend: &dyn Backend,
    known: Option<&BTreeMap<ObjectPath, Key>>,
) -> anyhow::Result<Vec<Listed>> {
    let mut entries = backend.list(None).await?;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries
        .into_iter()
        .map(|e| {
            // HMAC object names parse as keys too (FERRYHMACSHA256--<hex>), so they are never
            // taken for the key they stand for.
            let key = known
                .and_then(|m| m.get(&e.path))
                .map(ToString::to_string)
                .or_else(|| {
                    unescape_key(e.path.file_name()).filter(|k| {
                        Key::parse(k).is_ok() && ferry_crypto::parse_object_name(k).is_none()
                    })
                });
            Listed {
                path: e.path.to_string(),
                size: e.meta.len,
                key,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_reverses_git_annex_escaping() {
        let key = remote_proto::Key::parse("VURL--file:///tmp/a&b%c").unwrap();
        assert_eq!(
            unescape_key(&key.file_name()).as_deref(),
            Some(key.as_str())
        );
        assert_eq!(unescape_key("bad&x"), None);
    }
}

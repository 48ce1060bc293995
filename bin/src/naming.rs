//! Where a git-annex key's object lives on a ferry store: the one rule shared by the remote
//! ([`crate::remote`]) and the `ferry` command ([`crate::cli::store`]), so that both always
//! look in the same place.
//!
//! A plain remote keeps key `K` at `layout(K)`. With ferry's encryption the key is first turned
//! into its HMAC object name `N` (`FERRYHMACSHA256--…`), and the layout places `N` as if it were
//! a key: its directory hashes are those of the name, so nothing on the store derives from `K`.

use ferry_backends::layout::{self, Layout};
use ferry_backends::{ObjectPath, PathError};
use ferry_crypto::NameKey;
use remote_proto::Key;

/// Why a key has no object path.
#[derive(Debug, thiserror::Error)]
pub enum NamingError {
    /// The HMAC object name does not parse as a key (a bug: names are made to be keys).
    #[error(
        "ferry made the object name {name} for {key}, which is not a key ({reason}); this is a bug in ferry"
    )]
    NameNotAKey {
        /// The key being named.
        key: String,
        /// The name made for it.
        name: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The layout cannot place the key (a `\` in it).
    #[error("ferry cannot name an object for key {key}: {source}")]
    Unplaceable {
        /// The key (or its object name).
        key: String,
        /// The layout's reason.
        #[source]
        source: PathError,
    },
}

/// The path of `key`'s object under `layout` (without the store's prefix, which the backend
/// applies); `names` is the remote's name key when ferry encrypts it.
///
/// # Errors
/// See [`NamingError`].
pub fn object_path(
    layout: Layout,
    names: Option<&NameKey>,
    key: &Key,
) -> Result<ObjectPath, NamingError> {
    let named;
    let placed = match names {
        Some(names) => {
            let name = names.object_name(key.as_str().as_bytes());
            named = Key::parse(&name).map_err(|e| NamingError::NameNotAKey {
                key: key.to_string(),
                reason: e.to_string(),
                name,
            })?;
            &named
        }
        None => key,
    };
    layout::object_path(layout, None, placed).map_err(|source| NamingError::Unplaceable {
        key: key.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_crypto::{Mac, MasterKey};

    #[test]
    fn plain_keys_are_laid_out_as_they_are() {
        let key = Key::parse("SHA256E-s5--abc.txt").unwrap();
        assert_eq!(
            object_path(Layout::Lower, None, &key).unwrap(),
            layout::object_path(Layout::Lower, None, &key).unwrap()
        );
    }

    #[test]
    fn encrypted_keys_are_placed_by_their_hmac_name() {
        let master = MasterKey::generate().unwrap();
        let names = master.name_key(Mac::HmacSha256);
        let key = Key::parse("SHA256E-s5--abc.txt").unwrap();
        let name = names.object_name(key.as_str().as_bytes());
        let path = object_path(Layout::Lower, Some(&names), &key).unwrap();
        assert_eq!(path.file_name(), name);
        // The directories are the name's, not the key's.
        assert_eq!(
            path,
            layout::object_path(Layout::Lower, None, &Key::parse(&name).unwrap()).unwrap()
        );
        assert!(!path.as_str().contains("abc"));
        let other = master.name_key(Mac::HmacSha512);
        assert_ne!(
            object_path(Layout::Lower, Some(&other), &key).unwrap(),
            path
        );
    }
}

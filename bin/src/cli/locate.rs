//! `ferry locate`: where a key's object lives in a store, for every layout or one.

use ferry_backends::ObjectPath;
use ferry_backends::layout::{ALL_LAYOUTS, Layout, object_path};
use remote_proto::Key;
use serde::Serialize;

/// Where one key lives under one layout.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Located {
    /// The git-annex key.
    pub key: String,
    /// The layout.
    pub layout: String,
    /// The object's path in the store (prefix included).
    pub path: String,
}

/// The object paths of `keys` under `prefix`, for every layout (or just `layout`).
///
/// # Errors
/// A key that does not parse, or a prefix that is not a safe relative path.
pub fn locate_all(
    keys: &[String],
    layout: Option<Layout>,
    prefix: Option<&str>,
) -> anyhow::Result<Vec<Located>> {
    let prefix = prefix
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
        .map(ObjectPath::new)
        .transpose()
        .map_err(|e| anyhow::anyhow!("bad --prefix: {e}"))?;
    let mut out = Vec::new();
    for raw in keys {
        let key =
            Key::parse(raw).map_err(|e| anyhow::anyhow!("{raw} is not a git-annex key: {e}"))?;
        let layouts: Vec<Layout> = layout.map_or_else(|| ALL_LAYOUTS.to_vec(), |l| vec![l]);
        for l in layouts {
            let path = object_path(l, prefix.as_ref(), &key)
                .map_err(|e| anyhow::anyhow!("{raw} cannot be stored by ferry: {e}"))?;
            out.push(Located {
                key: raw.clone(),
                layout: l.to_string(),
                path: path.to_string(),
            });
        }
    }
    Ok(out)
}

/// The object paths of `keys` under `prefix`, one line per key and layout
/// (`layout<TAB>path`, or just `path` when one layout is asked for).
///
/// # Errors
/// As [`locate_all`].
pub fn locate(
    keys: &[String],
    layout: Option<Layout>,
    prefix: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    Ok(locate_all(keys, layout, prefix)?
        .into_iter()
        .map(|l| {
            if layout.is_some() {
                l.path
            } else {
                format!("{}\t{}", l.layout, l.path)
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_a_key_in_every_layout() {
        let key =
            "SHA256E-s12--a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447.txt";
        let lines = locate(&[key.to_owned()], None, Some("/annex/")).unwrap();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], format!("lower\tannex/e7d/d01/{key}"));
        assert_eq!(lines[3], format!("mixed\tannex/J7/0G/{key}"));
        let one = locate(&[key.to_owned()], Some(Layout::Nodir), None).unwrap();
        assert_eq!(one, vec![key.to_owned()]);
        assert!(locate(&["no key".to_owned()], None, None).is_err());
    }
}

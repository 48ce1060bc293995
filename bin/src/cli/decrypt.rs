//! `ferry decrypt`: decrypts one object file copied out of a store by any means (a file manager,
//! `rclone copy`, a bucket download), with bounded memory; the output file appears only once the
//! whole object has verified.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ferry_crypto::{MasterKey, Opener, Transform, parse_object_name};
use serde::Serialize;

use crate::cli::outfile::{Mode, OutFile};
use crate::cli::progress;

/// A decrypted object.
#[derive(Debug, Serialize)]
pub struct Decrypted {
    /// The object file read.
    pub object: PathBuf,
    /// The object name it was opened under.
    pub name: String,
    /// The plaintext file written.
    pub out: PathBuf,
    /// Plaintext bytes.
    pub bytes: u64,
}

/// The name an object file is opened under: `name` when given, else the file's base name. The
/// name is bound into the object (a file moved to another name does not open), so it has to be
/// the name it had in the store.
///
/// # Errors
/// The base name is not a ferry object name and no `name` was given.
pub fn object_name_of(object: &Path, name: Option<&str>) -> anyhow::Result<String> {
    if let Some(name) = name {
        return Ok(name.to_owned());
    }
    let base = object
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if parse_object_name(&base).is_none() {
        bail!(
            "{} is not named like a ferry object (FERRYHMACSHA256--<64 hex digits>); the name is \
             part of the encryption, so give the name the object had in the store with --name",
            object.display()
        );
    }
    Ok(base)
}

/// Decrypts `object` (stored as `name`) with `master` into `out`.
///
/// # Errors
/// The object cannot be read, was written under another key, fails authentication or is
/// truncated (then no output file is left), or `out` cannot be written.
pub fn decrypt(
    master: &MasterKey,
    object: &Path,
    name: &str,
    out: &Path,
    overwrite: bool,
) -> anyhow::Result<Decrypted> {
    let file = std::fs::File::open(object)
        .with_context(|| format!("cannot open the object file {}", object.display()))?;
    let len = file.metadata().map(|m| m.len()).ok();
    let mut output = OutFile::create(out, overwrite, Mode::Data)?;
    let bar = progress::bytes(len, "decrypting");
    let mut plain = Opener::new(master, name).reader(bar.wrap_read(file));
    let mut buf = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = match plain.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                bar.abandon();
                // `output` is dropped here: the partial plaintext is deleted.
                return Err(match ferry_crypto::Error::from_io(&e) {
                    Some(err) => anyhow::anyhow!(
                        "cannot decrypt {} (as {name}): {err}; nothing was written to {}",
                        object.display(),
                        out.display()
                    ),
                    None => anyhow::anyhow!(
                        "cannot read {}: {e}; nothing was written to {}",
                        object.display(),
                        out.display()
                    ),
                });
            }
        };
        output
            .write_all(&buf[..n])
            .with_context(|| format!("cannot write {}; is the disk full?", out.display()))?;
        bytes += n as u64;
    }
    output.commit()?;
    bar.finish_and_clear();
    Ok(Decrypted {
        object: object.to_path_buf(),
        name: name.to_owned(),
        out: out.to_path_buf(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_crypto::{Algorithm, Mac, seal};

    #[test]
    fn decrypts_and_refuses_tampering_without_leaving_output() {
        let dir = tempfile::tempdir().unwrap();
        let master = MasterKey::generate().unwrap();
        let name = master.name_key(Mac::HmacSha256).object_name(b"WORM--x");
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let object = seal(&master, &name, Algorithm::Aes256Gcm, &plain).unwrap();
        let obj_path = dir.path().join(&name);
        std::fs::write(&obj_path, &object).unwrap();

        let out = dir.path().join("plain");
        let name_used = object_name_of(&obj_path, None).unwrap();
        let done = decrypt(&master, &obj_path, &name_used, &out, false).unwrap();
        assert_eq!(done.bytes, plain.len() as u64);
        assert_eq!(std::fs::read(&out).unwrap(), plain);

        let mut bad = object.clone();
        bad[100_000] ^= 1;
        std::fs::write(&obj_path, &bad).unwrap();
        let out2 = dir.path().join("plain2");
        let err = decrypt(&master, &obj_path, &name_used, &out2, false).unwrap_err();
        assert!(err.to_string().contains("authentication"), "{err}");
        assert!(!out2.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

        assert!(object_name_of(Path::new("/x/photo.jpg"), None).is_err());
        assert_eq!(
            object_name_of(Path::new("/x/photo.jpg"), Some("N")).unwrap(),
            "N"
        );
    }
}

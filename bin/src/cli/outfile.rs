//! Output files that appear only when complete: bytes go to a temporary file beside the target,
//! which is renamed into place by [`OutFile::commit`]. Dropping an `OutFile` without committing
//! deletes the temporary file, so a failed decryption or a corrupt download never leaves a
//! plausible-looking file behind.

use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Who may read a finished output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Key material: the owner only (0600).
    Secret,
    /// Ordinary content: readable by everyone, like a file `cp` makes (0644).
    Data,
}

/// A file being written; see the module docs.
#[derive(Debug)]
pub struct OutFile {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
    overwrite: bool,
}

impl OutFile {
    /// Starts writing `target`. Without `overwrite`, an existing `target` is refused now, before
    /// any work, and again at commit (in case it appeared meanwhile).
    ///
    /// # Errors
    /// `target` exists (without `overwrite`), or its directory is not writable.
    pub fn create(target: &Path, overwrite: bool, mode: Mode) -> anyhow::Result<OutFile> {
        if !overwrite && target.symlink_metadata().is_ok() {
            bail!(
                "{} already exists; choose another --out, remove it, or add --force to replace it",
                target.display()
            );
        }
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // NamedTempFile is created 0600, so key material is never readable by others, even
        // for a moment.
        let tmp = tempfile::Builder::new()
            .prefix(".ferry-out-")
            .tempfile_in(dir)
            .with_context(|| {
                format!(
                    "cannot create a file in {}; check that the directory exists and is writable",
                    dir.display()
                )
            })?;
        if mode == Mode::Data {
            tmp.as_file()
                .set_permissions(Permissions::from_mode(0o644))
                .with_context(|| format!("cannot set permissions on {}", tmp.path().display()))?;
        }
        Ok(OutFile {
            tmp,
            target: target.to_path_buf(),
            overwrite,
        })
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes to disk and renames the file into place.
    ///
    /// # Errors
    /// The disk is full or failing, or (without `overwrite`) `target` appeared meanwhile.
    pub fn commit(mut self) -> anyhow::Result<()> {
        let target = self.target.clone();
        self.tmp
            .flush()
            .and_then(|()| self.tmp.as_file().sync_all())
            .with_context(|| format!("cannot write {}; is the disk full?", target.display()))?;
        let result = if self.overwrite {
            self.tmp.persist(&target).map(drop)
        } else {
            self.tmp.persist_noclobber(&target).map(drop)
        };
        result.map_err(|e| {
            anyhow::anyhow!(
                "cannot put the finished file at {}: {}",
                target.display(),
                e.error
            )
        })
    }
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tmp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tmp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_until_commit_and_drop_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let mut out = OutFile::create(&target, false, Mode::Secret).unwrap();
        out.write_all(b"abc").unwrap();
        assert!(!target.exists());
        drop(out);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let mut out = OutFile::create(&target, false, Mode::Secret).unwrap();
        out.write_all(b"abc").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"abc");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let err = OutFile::create(&target, false, Mode::Data).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        let mut out = OutFile::create(&target, true, Mode::Data).unwrap();
        out.write_all(b"new").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}

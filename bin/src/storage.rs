//! Opens the storage that [`Settings`] name, as a shared [`Backend`].

use std::sync::Arc;

use ferry_backends::Backend;
use ferry_backends::directory::{DirectoryBackend, DirectoryOptions};

use crate::settings::{Settings, Storage};

/// The backend for `settings`. Opening never touches the store (a directory on an unplugged
/// disk opens fine; each operation then reports it unreachable).
pub fn open(settings: &Settings) -> Arc<dyn Backend> {
    match &settings.storage {
        Storage::Directory { path, fsync } => Arc::new(DirectoryBackend::new(
            path.clone(),
            settings.prefix.clone(),
            DirectoryOptions { fsync: *fsync },
        )),
    }
}

//! Paths to folder ids. Drive has no paths: every file names its parent folder by id, so
//! `e7d/d01/KEY` means "the folder `e7d` in the root, the folder `d01` in that, the file `KEY`
//! in that", one search per level. The answers are cached for the life of the storage, since
//! ferry's folders (layout hash directories) never move.
//!
//! Drive allows two folders of one name in one parent. Two jobs that both find `e7d` missing
//! would each create one, and objects would then be spread over both. So creation takes a lock
//! per folder path (within this process), looks again, and only then creates; among folders
//! made by others (another process, rclone) the oldest is used, so every job picks the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::client::{DriveClient, DriveFile, Failure, Retry, q_named};

/// The folder-id cache of one storage.
#[derive(Debug)]
pub(crate) struct Folders {
    root: String,
    /// Folder path (segments joined by `/`, relative to the root) → folder id.
    ids: Mutex<HashMap<String, String>>,
    /// One lock per folder path being created.
    creating: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn key(segments: &[&str]) -> String {
    segments.join("/")
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each map update is a single insert or remove, so a panic elsewhere cannot leave one
    // half-done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Among same-named folders, the oldest: the one every job (and earlier runs) settled on.
/// The name is compared again here in case Drive's search matched it more loosely (by case).
fn oldest(folders: Vec<DriveFile>, name: &str) -> Option<DriveFile> {
    folders
        .iter()
        .filter(|f| f.is_folder() && f.name == name)
        .min_by(DriveFile::age_order)
        .cloned()
}

impl Folders {
    /// The cache for a store whose top folder is `root` (`root` for My Drive, a folder id, or a
    /// shared drive's id).
    pub(crate) fn new(root: String) -> Folders {
        Folders {
            root,
            ids: Mutex::new(HashMap::new()),
            creating: Mutex::new(HashMap::new()),
        }
    }

    /// The id of the top folder.
    pub(crate) fn root(&self) -> &str {
        &self.root
    }

    fn cached(&self, segments: &[&str]) -> Option<String> {
        if segments.is_empty() {
            return Some(self.root.clone());
        }
        lock(&self.ids).get(&key(segments)).cloned()
    }

    /// How many leading segments are cached, and the id of the deepest of them.
    fn deepest_cached(&self, segments: &[&str]) -> (usize, String) {
        let ids = lock(&self.ids);
        for depth in (1..=segments.len()).rev() {
            if let Some(id) = ids.get(&key(&segments[..depth])) {
                return (depth, id.clone());
            }
        }
        (0, self.root.clone())
    }

    fn remember(&self, segments: &[&str], id: &str) {
        lock(&self.ids).insert(key(segments), id.to_owned());
    }

    /// Forgets the folder at `segments` and everything below it (after trashing it, or when
    /// Drive no longer knows its id).
    pub(crate) fn forget(&self, segments: &[&str]) {
        let gone = key(segments);
        let below = format!("{gone}/");
        lock(&self.ids).retain(|path, _| *path != gone && !path.starts_with(&below));
    }

    async fn lookup(
        &self,
        client: &DriveClient,
        parent: &str,
        name: &str,
    ) -> Result<Option<DriveFile>, Failure> {
        Ok(oldest(
            client.search(&q_named(parent, name, true)).await?,
            name,
        ))
    }

    /// The id of the folder at `segments`, or `None` when some folder on the way is missing.
    pub(crate) async fn find(
        &self,
        client: &DriveClient,
        segments: &[&str],
    ) -> Result<Option<String>, Failure> {
        let (start, mut id) = self.deepest_cached(segments);
        for depth in start..segments.len() {
            match self.lookup(client, &id, segments[depth]).await? {
                Some(folder) => {
                    self.remember(&segments[..=depth], &folder.id);
                    id = folder.id;
                }
                None => return Ok(None),
            }
        }
        Ok(Some(id))
    }

    /// The id of the folder at `segments`, creating whatever is missing on the way.
    pub(crate) async fn ensure(
        &self,
        client: &DriveClient,
        segments: &[&str],
    ) -> Result<String, Failure> {
        let (start, mut id) = self.deepest_cached(segments);
        for depth in start..segments.len() {
            let path = &segments[..=depth];
            id = match self.lookup(client, &id, segments[depth]).await? {
                Some(folder) => folder.id,
                None => self.create(client, &id, path).await?,
            };
            self.remember(path, &id);
        }
        Ok(id)
    }

    /// Creates the folder `path` (its last segment, in `parent`) unless someone else has by the
    /// time this job holds the path's lock.
    async fn create(
        &self,
        client: &DriveClient,
        parent: &str,
        path: &[&str],
    ) -> Result<String, Failure> {
        let path_key = key(path);
        let gate = lock(&self.creating)
            .entry(path_key.clone())
            .or_default()
            .clone();
        let result = {
            let _held = gate.lock().await;
            match self.cached(path) {
                // Another job of this process made it while this one waited.
                Some(id) => Ok(id),
                None => {
                    let created = self.create_once(client, parent, path).await;
                    // Cached before the lock is released, so that the next holder sees it
                    // without asking Drive (whose searches may lag behind a creation).
                    if let Ok(id) = &created {
                        self.remember(path, id);
                    }
                    created
                }
            }
        };
        {
            let mut creating = lock(&self.creating);
            // The map's copy and ours: nobody else waits, so the entry can go. A job that
            // took a copy before this finds the folder in the cache once it holds the lock.
            if Arc::strong_count(&gate) == 2 {
                creating.remove(&path_key);
            }
        }
        result
    }

    /// Looks for the folder, creates it if absent, and after a failed creation looks again
    /// before retrying (the failed call may have made it).
    async fn create_once(
        &self,
        client: &DriveClient,
        parent: &str,
        path: &[&str],
    ) -> Result<String, Failure> {
        let name = path[path.len() - 1];
        let mut attempt = 0;
        loop {
            if let Some(folder) = self.lookup(client, parent, name).await? {
                return Ok(folder.id);
            }
            let failure = match client.create_folder(parent, name).await {
                Ok(folder) => {
                    tracing::debug!(folder = %key(path), "created a Drive folder");
                    return Ok(folder.id);
                }
                Err(failure) => failure,
            };
            if failure.retry() == Retry::Never || attempt + 1 >= client.retry.attempts {
                return Err(failure);
            }
            tokio::time::sleep(client.retry.delay(attempt, None)).await;
            attempt += 1;
        }
    }
}

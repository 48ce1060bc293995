//! An in-memory storage for tests: the engine's tests, the behavior suite, fault injection.
//!
//! Same promises as a real store: a put becomes visible only once its last byte arrived, and
//! a simulated outage ([`MemoryBackend::set_unreachable`]) makes every call fail with
//! [`ErrorKind::Unreachable`] instead of answering "absent".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::{
    Backend, BackendError, ByteStream, Capabilities, Description, ErrorKind, ListEntry, ObjectMeta,
    ObjectPath, Progress,
};

/// Size of the pieces [`Backend::get`] hands out, so that readers see a multi-chunk stream.
const GET_CHUNK: usize = 64 * 1024;

const STORAGE: &str = "memory store";

/// A store that keeps objects in a map; everything is lost when it is dropped.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    objects: Mutex<BTreeMap<ObjectPath, Stored>>,
    unreachable: AtomicBool,
}

#[derive(Debug, Clone)]
struct Stored {
    data: Bytes,
    modified: SystemTime,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    /// Simulates an outage (`true`) or its end (`false`): while unreachable, every operation
    /// fails with [`ErrorKind::Unreachable`] and nothing changes.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.unreachable.store(unreachable, Ordering::SeqCst);
    }

    /// How many objects are stored.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no object is stored.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<ObjectPath, Stored>> {
        // A panic while holding the lock cannot leave the map half-updated (every change is a
        // single insert or remove), so a poisoned lock is still consistent.
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn reachable(&self, op: &'static str, location: &str) -> Result<(), BackendError> {
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(
                BackendError::new(ErrorKind::Unreachable, op, location, STORAGE)
                    .with_cause("simulated outage"),
            );
        }
        Ok(())
    }

    fn not_found(op: &'static str, path: &ObjectPath) -> BackendError {
        BackendError::not_found(op, path.as_str(), STORAGE)
    }
}

#[async_trait::async_trait]
impl Backend for MemoryBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rename: true,
            list: true,
            local: true,
        }
    }

    fn describe(&self) -> Description {
        Description {
            storage: "memory",
            location: "(memory)".to_owned(),
        }
    }

    async fn check(&self) -> Result<(), BackendError> {
        self.reachable("use", "")
    }

    async fn stat(&self, path: &ObjectPath) -> Result<Option<ObjectMeta>, BackendError> {
        self.reachable("look up", path.as_str())?;
        Ok(self.lock().get(path).map(|s| ObjectMeta {
            len: s.data.len() as u64,
            modified: Some(s.modified),
        }))
    }

    async fn put(
        &self,
        path: &ObjectPath,
        mut body: ByteStream,
        len: u64,
        progress: Progress<'_>,
    ) -> Result<(), BackendError> {
        const OP: &str = "store";
        self.reachable(OP, path.as_str())?;
        let fail = |why: String| {
            BackendError::new(ErrorKind::Local, OP, path.as_str(), STORAGE).with_cause(why)
        };
        // Capacity from `len` is capped: it comes from the caller and is only a hint.
        let mut data = BytesMut::with_capacity(usize::try_from(len.min(1 << 24)).unwrap_or(0));
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| fail(e.to_string()))?;
            if data.len() as u64 + chunk.len() as u64 > len {
                return Err(fail(format!(
                    "the data to store is longer than the announced {len} bytes"
                )));
            }
            data.extend_from_slice(&chunk);
            progress(data.len() as u64);
        }
        if data.len() as u64 != len {
            return Err(fail(format!(
                "the data to store ended after {} of {len} bytes",
                data.len()
            )));
        }
        // An outage that began during the upload fails it, as it would on a real store.
        self.reachable(OP, path.as_str())?;
        self.lock().insert(
            path.clone(),
            Stored {
                data: data.freeze(),
                modified: SystemTime::now(),
            },
        );
        Ok(())
    }

    async fn get(&self, path: &ObjectPath, offset: u64) -> Result<ByteStream, BackendError> {
        self.reachable("retrieve", path.as_str())?;
        let data = self
            .lock()
            .get(path)
            .map(|s| s.data.clone())
            .ok_or_else(|| Self::not_found("retrieve", path))?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let rest = data.slice(start..);
        let chunks: Vec<std::io::Result<Bytes>> = (0..rest.len())
            .step_by(GET_CHUNK)
            .map(|at| Ok(rest.slice(at..(at + GET_CHUNK).min(rest.len()))))
            .collect();
        Ok(Box::pin(futures::stream::iter(chunks)))
    }

    async fn delete(&self, path: &ObjectPath) -> Result<(), BackendError> {
        self.reachable("delete", path.as_str())?;
        self.lock().remove(path);
        Ok(())
    }

    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ListEntry>, BackendError> {
        self.reachable("list", prefix.map(ObjectPath::as_str).unwrap_or(""))?;
        Ok(self
            .lock()
            .iter()
            .filter(|(path, _)| prefix.is_none_or(|p| path.starts_with(p) && *path != p))
            .map(|(path, s)| ListEntry {
                path: path.clone(),
                meta: ObjectMeta {
                    len: s.data.len() as u64,
                    modified: Some(s.modified),
                },
            })
            .collect())
    }

    async fn rename(&self, from: &ObjectPath, to: &ObjectPath) -> Result<(), BackendError> {
        self.reachable("rename", from.as_str())?;
        let mut objects = self.lock();
        let stored = objects
            .remove(from)
            .ok_or_else(|| Self::not_found("rename", from))?;
        objects.insert(to.clone(), stored);
        Ok(())
    }

    async fn remove_empty_dir(&self, dir: &ObjectPath) -> Result<(), BackendError> {
        // Directories exist only as prefixes of object paths here: nothing to remove.
        self.reachable("remove directory", dir.as_str())
    }
}

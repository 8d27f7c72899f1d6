//! A bounded in-process cache of users for GetUser, kept coherent by the writer: after a batch
//! commits, and before any of its writes is answered, the users it touched are dropped from the
//! cache. A reader that fetched a row from the database offers it to the cache only if no batch
//! has invalidated anything since it started reading, so a row read before a commit can never
//! be cached after that commit.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::domain::{User, UserId};

pub(super) struct UserCache {
    inner: RwLock<Inner>,
    capacity: usize,
}

impl std::fmt::Debug for UserCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

struct Inner {
    users: HashMap<UserId, Arc<User>>,
    /// Moves with every invalidation.
    generation: u64,
}

impl UserCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            inner: RwLock::new(Inner {
                users: HashMap::with_capacity(capacity.min(1 << 16)),
                generation: 0,
            }),
            capacity,
        }
    }

    pub(super) fn get(&self, id: &UserId) -> Option<Arc<User>> {
        self.inner.read().ok()?.users.get(id).cloned()
    }

    /// How many users are cached.
    pub(super) fn len(&self) -> usize {
        self.inner.read().map_or(0, |inner| inner.users.len())
    }

    /// To be read before fetching a row that may be offered.
    pub(super) fn generation(&self) -> u64 {
        self.inner.read().map_or(u64::MAX, |inner| inner.generation)
    }

    /// Caches a row fetched after `generation` was read, unless an invalidation came since.
    pub(super) fn offer(&self, user: Arc<User>, generation: u64) {
        if self.capacity == 0 {
            return;
        }
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        if inner.generation != generation {
            return;
        }
        if inner.users.len() >= self.capacity && !inner.users.contains_key(&user.id) {
            // Bounded memory: make room by dropping an arbitrary entry.
            if let Some(victim) = inner.users.keys().next().cloned() {
                inner.users.remove(&victim);
            }
        }
        inner.users.insert(user.id.clone(), user);
    }

    /// Drops the given users; called by the writer after a commit, before answering.
    pub(super) fn invalidate(&self, ids: &[UserId]) {
        if ids.is_empty() {
            return;
        }
        // A poisoned lock means a panic mid-update: start afresh rather than trust the map.
        let mut inner = match self.inner.write() {
            Ok(inner) => inner,
            Err(poisoned) => {
                let mut inner = poisoned.into_inner();
                inner.users.clear();
                inner
            }
        };
        for id in ids {
            inner.users.remove(id);
        }
        inner.generation = inner.generation.wrapping_add(1);
    }
}

//! A bounded in-process cache of users for GetUser, kept coherent by the writer.
//!
//! After a batch commits, and before any of its writes is answered, the writer drops the users it
//! changed and marks them as changed at a new generation. A reader notes the generation before
//! it fetches a row from the database and may cache the row only if that user has not been marked
//! since: a row read before a commit can never be cached after it. Marks are per user, so writes
//! to some users do not stop others from being cached. The most recent marks are kept (a bounded
//! FIFO); forgetting the oldest raises a floor that refuses every reader older than it, so no
//! stale row can slip in however long a reader takes. Users are bounded by the capacity: when it
//! is full an arbitrary user makes room.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::domain::{User, UserId};
use crate::store::CacheStats;

/// How many recent invalidations are remembered per user (older ones become the floor).
const MARKS: usize = 8192;

pub(super) struct UserCache {
    inner: RwLock<Inner>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for UserCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    users: HashMap<UserId, Arc<User>>,
    /// The generation at which each recently changed user was last changed ...
    marks: HashMap<UserId, u64>,
    /// ... and the order marks were made in, oldest first.
    order: VecDeque<(UserId, u64)>,
    /// Moves with every batch that changed users.
    generation: u64,
    /// Readers that started before this generation may not cache anything.
    floor: u64,
}

impl UserCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            inner: RwLock::new(Inner {
                users: HashMap::with_capacity(capacity.min(1 << 16)),
                ..Inner::default()
            }),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub(super) fn get(&self, id: &UserId) -> Option<Arc<User>> {
        let found = self.inner.read().ok()?.users.get(id).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub(super) fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.len(),
            capacity: self.capacity,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// How many users the cache holds.
    pub(super) fn len(&self) -> usize {
        self.inner.read().map_or(0, |inner| inner.users.len())
    }

    /// To be read before fetching a row that may be offered.
    pub(super) fn generation(&self) -> u64 {
        self.inner.read().map_or(0, |inner| inner.generation)
    }

    /// Caches a row fetched after `started` was read, unless its user changed since.
    pub(super) fn offer(&self, user: Arc<User>, started: u64) {
        if self.capacity == 0 {
            return;
        }
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        if started < inner.floor || inner.marks.get(&user.id).is_some_and(|at| *at > started) {
            return;
        }
        if inner.users.len() >= self.capacity
            && !inner.users.contains_key(&user.id)
            && let Some(victim) = inner.users.keys().next().cloned()
        {
            inner.users.remove(&victim);
        }
        inner.users.insert(user.id.clone(), user);
    }

    /// Drops and marks the given users; called by the writer after a commit, before answering.
    pub(super) fn invalidate(&self, ids: &[UserId]) {
        if ids.is_empty() || self.capacity == 0 {
            return;
        }
        // A poisoned lock means a panic mid-update: start afresh rather than trust the maps.
        let mut inner = match self.inner.write() {
            Ok(inner) => inner,
            Err(poisoned) => {
                let mut inner = poisoned.into_inner();
                let generation = inner.generation + 1;
                *inner = Inner {
                    generation,
                    floor: generation,
                    ..Inner::default()
                };
                inner
            }
        };
        inner.generation += 1;
        let at = inner.generation;
        for id in ids {
            inner.users.remove(id);
            inner.marks.insert(id.clone(), at);
            inner.order.push_back((id.clone(), at));
        }
        while inner.order.len() > MARKS {
            let Some((old, old_at)) = inner.order.pop_front() else {
                break;
            };
            if inner.marks.get(&old) == Some(&old_at) {
                inner.marks.remove(&old);
            }
            inner.floor = inner.floor.max(old_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, NewUser, Timestamp, UserType};

    fn user(id: &UserId, name: &str) -> Arc<User> {
        let mut user = NewUser {
            email: Email::parse("a@example.com").unwrap(),
            user_type: UserType::AppUser,
            first_name: None,
            last_name: None,
            api_access: None,
            api_access_principal_arn: None,
        }
        .into_user(id.clone(), Timestamp::now());
        user.first_name = crate::domain::FirstName::parse(name).ok();
        Arc::new(user)
    }

    #[test]
    fn a_row_read_before_a_commit_is_not_cached_after_it() {
        let cache = UserCache::new(10);
        let id = UserId::generate();
        let started = cache.generation();
        cache.invalidate(std::slice::from_ref(&id)); // a write commits meanwhile
        cache.offer(user(&id, "Old"), started);
        assert!(cache.get(&id).is_none(), "the stale row was refused");

        let started = cache.generation();
        cache.offer(user(&id, "New"), started);
        assert!(
            cache.get(&id).is_some(),
            "a row read after the commit is cached"
        );
    }

    #[test]
    fn writes_to_others_do_not_stop_a_user_being_cached() {
        let cache = UserCache::new(10);
        let (id, other) = (UserId::generate(), UserId::generate());
        let started = cache.generation();
        cache.invalidate(std::slice::from_ref(&other));
        cache.offer(user(&id, "Kept"), started);
        assert!(cache.get(&id).is_some());
    }

    #[test]
    fn forgetting_old_marks_refuses_older_readers() {
        let cache = UserCache::new(4);
        let id = UserId::generate();
        let started = cache.generation();
        cache.invalidate(std::slice::from_ref(&id));
        // Enough later writes to push the mark for `id` out of the remembered ones.
        let others: Vec<UserId> = (0..MARKS).map(|_| UserId::generate()).collect();
        cache.invalidate(&others);
        cache.offer(user(&id, "Stale"), started); // read before the mark's commit
        assert!(cache.get(&id).is_none(), "the floor refused the stale row");
        cache.offer(user(&id, "Fresh"), cache.generation());
        assert!(
            cache.get(&id).is_some(),
            "a reader after the writes may cache"
        );
    }

    #[test]
    fn users_are_bounded_by_the_capacity() {
        let cache = UserCache::new(3);
        for _ in 0..10 {
            let id = UserId::generate();
            cache.offer(user(&id, "Any"), cache.generation());
        }
        assert_eq!(cache.len(), 3);
    }
}

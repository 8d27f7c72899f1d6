//! A bounded in-process cache of users for GetUser, kept coherent by the writer.
//!
//! After a batch commits, and before any of its writes is answered, the writer marks the users it
//! changed as invalidated at a new generation. A reader notes the generation before it fetches a
//! row from the database and may cache the row only if that user has not been invalidated since:
//! a row read before a commit can never be cached after it. Marks are per user, so writes to
//! some users do not stop others from being cached. Memory is bounded: when the cache is full an
//! arbitrary entry makes room; if that entry is a mark, every reader that started before it is
//! refused (the floor), so forgetting a mark can never let a stale row in.

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

enum Slot {
    User(Arc<User>),
    /// Changed by a write committed at this generation.
    Invalidated(u64),
}

#[derive(Default)]
struct Inner {
    slots: HashMap<UserId, Slot>,
    /// Moves with every batch that changed users.
    generation: u64,
    /// Readers that started before this generation may not cache anything.
    floor: u64,
}

impl Inner {
    /// Makes room for one more entry if the cache is full.
    fn make_room(&mut self, capacity: usize, for_id: &UserId) {
        if self.slots.len() < capacity || self.slots.contains_key(for_id) {
            return;
        }
        let Some(victim) = self.slots.keys().next().cloned() else {
            return;
        };
        if let Some(Slot::Invalidated(at)) = self.slots.remove(&victim) {
            self.floor = self.floor.max(at);
        }
    }
}

impl UserCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            inner: RwLock::new(Inner {
                slots: HashMap::with_capacity(capacity.min(1 << 16)),
                ..Inner::default()
            }),
            capacity,
        }
    }

    pub(super) fn get(&self, id: &UserId) -> Option<Arc<User>> {
        match self.inner.read().ok()?.slots.get(id) {
            Some(Slot::User(user)) => Some(user.clone()),
            _ => None,
        }
    }

    /// How many entries (users and marks) the cache holds.
    pub(super) fn len(&self) -> usize {
        self.inner.read().map_or(0, |inner| inner.slots.len())
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
        if started < inner.floor {
            return;
        }
        if let Some(Slot::Invalidated(at)) = inner.slots.get(&user.id)
            && *at > started
        {
            return;
        }
        inner.make_room(self.capacity, &user.id);
        inner.slots.insert(user.id.clone(), Slot::User(user));
    }

    /// Marks the given users as changed; called by the writer after a commit, before answering.
    pub(super) fn invalidate(&self, ids: &[UserId]) {
        if ids.is_empty() || self.capacity == 0 {
            return;
        }
        // A poisoned lock means a panic mid-update: start afresh rather than trust the map.
        let mut inner = match self.inner.write() {
            Ok(inner) => inner,
            Err(poisoned) => {
                let mut inner = poisoned.into_inner();
                let next = inner.generation + 1;
                inner.slots.clear();
                inner.floor = next;
                inner
            }
        };
        inner.generation += 1;
        let at = inner.generation;
        for id in ids {
            inner.make_room(self.capacity, id);
            inner.slots.insert(id.clone(), Slot::Invalidated(at));
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
    fn forgetting_a_mark_to_make_room_refuses_older_readers() {
        let cache = UserCache::new(1);
        let (id, other) = (UserId::generate(), UserId::generate());
        let started = cache.generation();
        cache.invalidate(std::slice::from_ref(&id)); // the only slot: a mark for `id`
        cache.offer(user(&other, "Other"), cache.generation()); // evicts the mark
        cache.offer(user(&id, "Stale"), started); // read before the mark's commit
        assert!(cache.get(&id).is_none(), "the floor refused the stale row");
        assert!(cache.len() <= 1, "bounded");
    }
}

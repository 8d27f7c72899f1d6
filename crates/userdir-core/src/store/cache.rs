//! A bounded in-process cache of users for GetUser, kept coherent by the writer.
//!
//! A layer any backend may take or leave, under one condition: the process holding it is the
//! database's only writer, since only its own writes invalidate it. `Backend::open` hands one only
//! to a backend whose claim on the database is exclusive (SQLite's directory lock), and the
//! backend's writer calls `invalidate` after each commit and before acknowledging it.
//!
//! After a batch commits, and before any of its writes is answered, the writer drops the users it
//! changed and marks them as changed at a new generation. A reader notes the generation before
//! it fetches a row from the database and may cache the row only if that user has not been marked
//! since: a row read before a commit can never be cached after it. Marks are per user, so writes
//! to some users do not stop others from being cached. The most recent marks are kept (a bounded
//! FIFO); forgetting the oldest raises a floor that refuses every reader older than it, so no
//! stale row can slip in however long a reader takes. Offers and invalidations take the marks'
//! lock, so each is atomic with respect to the other; lookups take no lock at all.
//!
//! The users themselves live in quick_cache's S3-FIFO cache, which keeps the users read often
//! (real directory traffic is skewed) where an arbitrary victim would as likely be a hot one.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use quick_cache::sync::Cache;

use crate::domain::{User, UserId};
use crate::store::CacheStats;

/// How many recent invalidations are remembered per user (older ones become the floor).
const MARKS: usize = 8192;

pub struct UserCache {
    /// `None` when the cache is configured off.
    users: Option<Cache<UserId, Arc<User>>>,
    marks: RwLock<Marks>,
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
struct Marks {
    /// The generation at which each recently changed user was last changed ...
    at: HashMap<UserId, u64>,
    /// ... and the order marks were made in, oldest first.
    order: VecDeque<(UserId, u64)>,
    /// Moves with every batch that changed users.
    generation: u64,
    /// Readers that started before this generation may not cache anything.
    floor: u64,
}

impl UserCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            users: (capacity > 0).then(|| Cache::new(capacity)),
            marks: RwLock::new(Marks::default()),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn get(&self, id: &UserId) -> Option<Arc<User>> {
        let found = self.users.as_ref().and_then(|users| users.get(id));
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.len(),
            capacity: self.capacity,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// How many users the cache holds.
    pub fn len(&self) -> usize {
        self.users.as_ref().map_or(0, Cache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// To be read before fetching a row that may be offered.
    pub fn generation(&self) -> u64 {
        self.marks.read().map_or(0, |marks| marks.generation)
    }

    /// Caches a row fetched after `started` was read, unless its user changed since.
    pub fn offer(&self, user: Arc<User>, started: u64) {
        let Some(users) = &self.users else {
            return;
        };
        let Ok(marks) = self.marks.write() else {
            return;
        };
        if started < marks.floor || marks.at.get(&user.id).is_some_and(|at| *at > started) {
            return;
        }
        users.insert(user.id.clone(), user);
    }

    /// Drops and marks the given users; called by the writer after a commit, before answering.
    pub fn invalidate(&self, ids: &[UserId]) {
        let Some(users) = &self.users else {
            return;
        };
        if ids.is_empty() {
            return;
        }
        // A poisoned lock means a panic mid-update: start afresh rather than trust the marks.
        let mut marks = match self.marks.write() {
            Ok(marks) => marks,
            Err(poisoned) => {
                let mut marks = poisoned.into_inner();
                let generation = marks.generation + 1;
                *marks = Marks {
                    generation,
                    floor: generation,
                    ..Marks::default()
                };
                users.clear();
                marks
            }
        };
        marks.generation += 1;
        let at = marks.generation;
        for id in ids {
            users.remove(id);
            marks.at.insert(id.clone(), at);
            marks.order.push_back((id.clone(), at));
        }
        while marks.order.len() > MARKS {
            let Some((old, old_at)) = marks.order.pop_front() else {
                break;
            };
            if marks.at.get(&old) == Some(&old_at) {
                marks.at.remove(&old);
            }
            marks.floor = marks.floor.max(old_at);
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

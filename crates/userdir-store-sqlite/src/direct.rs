//! GetUser's reads of users the cache does not hold, and ListUsers' pages, made on the request's
//! own thread.
//!
//! sqlx runs each SQLite connection on a thread of its own: a read through it is a crossing to
//! that thread and back, two wake-ups and two context switches, which cost a cache miss several
//! times the read itself (a primary-key look-up in pages the OS has cached takes microseconds).
//! These connections (rusqlite's, over the same library) are used by whichever thread asks,
//! one at a time, and kept between reads. A read here blocks its thread for as long as SQLite
//! takes, as a short computation would; where SQLite would have to wait (a lock held during WAL
//! recovery), the read is not made here and the caller goes the other way: GetUser's gathered
//! look-ups (`lookups.rs`), ListUsers' pool. A page of 100 users read here took a ListUsers
//! request 0.7× the server CPU it did through the pool, which also had SQLite build the page as
//! JSON for the crossing and this side parse it back.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use userdir_core::domain::{User, UserId};
use userdir_core::store::rows::UserRow;
use userdir_core::store::{BackendError, StoreError};

/// One user's row, its columns in `UserRow`'s order.
const ONE_USER: &str =
    "SELECT user_id, email, user_type, status, api_access, api_access_principal_arn,
      first_name, last_name, create_time, last_enabled_time, last_disabled_time,
      last_modified_time, last_login_time
  FROM users WHERE user_id = ?1";

/// A page of users after a user id, in id order, their columns in `UserRow`'s order.
const USERS_AFTER: &str =
    "SELECT user_id, email, user_type, status, api_access, api_access_principal_arn,
      first_name, last_name, create_time, last_enabled_time, last_disabled_time,
      last_modified_time, last_login_time
  FROM users WHERE user_id > ?1 ORDER BY user_id LIMIT CAST(?2 AS INTEGER)";

/// Read-only connections to one database, each used by one thread at a time.
#[derive(Debug)]
pub(super) struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    closed: AtomicBool,
}

impl DirectReads {
    pub(super) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// The user with `id`, if any; `None` where the read could not be made here at once (the
    /// database is busy, or the store is closing), to be made the gathered way instead.
    pub(super) fn user(&self, id: &UserId) -> Option<Result<Option<User>, StoreError>> {
        self.read(|connection| read_user(connection, id))
    }

    /// Up to `limit` users whose ids sort after `after` (`""`: from the first), in id order;
    /// `None` where the read could not be made here at once, to be made through the pool instead.
    pub(super) fn users_after(
        &self,
        after: &str,
        limit: u32,
    ) -> Option<Result<Vec<User>, StoreError>> {
        self.read(|connection| read_users_after(connection, after, limit))
    }

    fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<Result<T, StoreError>>,
    ) -> Option<Result<T, StoreError>> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let idle = self.idle().pop();
        let made = idle.map_or_else(|| self.open(), Ok).and_then(|connection| {
            let value = read(&connection)?;
            // A connection that failed is dropped (closed) instead: the next read opens another.
            if !self.closed.load(Ordering::Acquire) {
                self.idle().push(connection);
            }
            Ok(value)
        });
        match made {
            Ok(value) => Some(value),
            Err(error) if waited(&error) => None,
            Err(error) => Some(Err(read_error(&error))),
        }
    }

    /// Closes the idle connections; no more reads are made here.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle().clear();
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        // Only pushed to and popped from: a panic elsewhere cannot leave it inconsistent.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // The writer made the file and set WAL mode, which is kept in the file.
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait on a lock on the request's thread: a busy database is read the other way.
        connection.busy_timeout(std::time::Duration::ZERO)?;
        connection.pragma_update(None, "query_only", true)?;
        Ok(connection)
    }
}

fn read_user(
    connection: &Connection,
    id: &UserId,
) -> rusqlite::Result<Result<Option<User>, StoreError>> {
    let mut statement = connection.prepare_cached(ONE_USER)?;
    let row = statement.query_row([id.as_str()], user_row).optional()?;
    Ok(row.map(User::try_from).transpose())
}

fn read_users_after(
    connection: &Connection,
    after: &str,
    limit: u32,
) -> rusqlite::Result<Result<Vec<User>, StoreError>> {
    let mut statement = connection.prepare_cached(USERS_AFTER)?;
    let rows = statement
        .query_map(rusqlite::params![after, limit], user_row)?
        .collect::<rusqlite::Result<Vec<UserRow>>>()?;
    Ok(rows.into_iter().map(User::try_from).collect())
}

fn user_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        user_id: row.get(0)?,
        email: row.get(1)?,
        user_type: row.get(2)?,
        status: row.get(3)?,
        api_access: row.get(4)?,
        api_access_principal_arn: row.get(5)?,
        first_name: row.get(6)?,
        last_name: row.get(7)?,
        create_time: row.get(8)?,
        last_enabled_time: row.get(9)?,
        last_disabled_time: row.get(10)?,
        last_modified_time: row.get(11)?,
        last_login_time: row.get(12)?,
    })
}

/// Whether SQLite refused because it would have had to wait for a lock.
fn waited(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn read_error(error: &rusqlite::Error) -> StoreError {
    StoreError::Internal(BackendError::from_error(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(dir: &Path) -> PathBuf {
        let path = dir.join("userdir.db");
        let setup = Connection::open(&path).expect("opens");
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE users (user_id TEXT PRIMARY KEY, email, user_type, status,
                   api_access, api_access_principal_arn, first_name, last_name, create_time,
                   last_enabled_time, last_disabled_time, last_modified_time, last_login_time);",
            )
            .expect("schema");
        path
    }

    #[test]
    fn a_database_that_would_make_the_read_wait_is_left_to_the_gathered_reads() {
        let dir = tempfile::tempdir().expect("dir");
        let path = database(dir.path());
        let holder = Connection::open(&path).expect("opens");
        holder
            .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;")
            .expect("locked");
        let reads = DirectReads::new(&path);
        let id = UserId::generate();
        let started = std::time::Instant::now();
        assert!(
            reads.user(&id).is_none(),
            "a locked database is not waited for"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));

        drop(holder);
        assert!(
            matches!(reads.user(&id), Some(Ok(None))),
            "read here once the lock is gone"
        );

        reads.close();
        assert!(
            reads.user(&id).is_none(),
            "nothing is read here once closed"
        );
    }

    #[test]
    fn a_database_that_cannot_be_opened_is_an_error_not_a_detour() {
        let dir = tempfile::tempdir().expect("dir");
        let reads = DirectReads::new(&dir.path().join("missing.db"));
        assert!(
            matches!(
                reads.user(&UserId::generate()),
                Some(Err(StoreError::Internal(_)))
            ),
            "no database is made, and the failure is said"
        );
        assert!(!dir.path().join("missing.db").exists());
    }
}

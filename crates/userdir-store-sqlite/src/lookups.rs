//! GetUser's reads of users the cache does not hold where a read on the request's own thread
//! (`direct.rs`) would have to wait for a lock, gathered (`userdir_core::store::Lookups`):
//! sqlx runs each SQLite connection on a thread of its own, and every statement's crossing there
//! and back cost a cache miss several times what the rest of its request did. One statement
//! answers a group, its result one JSON value.

use std::collections::HashMap;

use sqlx::SqlitePool;
use userdir_core::domain::{User, UserId};
use userdir_core::store::{Lookups, StoreError};

use super::users_from_json;
use crate::db_error;

/// Starts the gatherer over the read connections, one statement per connection at most.
pub(super) fn start(reader: SqlitePool, connections: u32) -> Lookups {
    let in_flight = usize::try_from(connections).unwrap_or(usize::MAX);
    Lookups::start(move |ids| fetch(reader.clone(), ids), in_flight)
}

async fn fetch(reader: SqlitePool, ids: Vec<UserId>) -> Result<HashMap<UserId, User>, StoreError> {
    let ids = serde_json::to_string(&ids.iter().map(UserId::as_str).collect::<Vec<_>>())
        .map_err(|e| StoreError::internal(format!("serializing user ids: {e}")))?;
    let rows = sqlx::query_scalar!(
        r#"SELECT json_group_array(json_array(
                  user_id, email, user_type, status, api_access, api_access_principal_arn,
                  first_name, last_name, create_time, last_enabled_time, last_disabled_time,
                  last_modified_time, last_login_time)) AS "users!: String"
           FROM users WHERE user_id IN (SELECT value FROM json_each(?1))"#,
        ids
    )
    .fetch_one(&reader)
    .await
    .map_err(db_error)?;
    Ok(users_from_json(&rows, "users looked up")?
        .into_iter()
        .map(|user| (user.id.clone(), user))
        .collect())
}

#[cfg(test)]
mod tests {
    use tokio::task::JoinSet;
    use userdir_core::domain::UserId;

    use crate::test_support::{insert_users, open_store};

    /// This way's statement and its JSON trip. GetUser takes it only where a read on the request's
    /// thread would wait for a lock, which a test through the store cannot bring about: no other
    /// connection can hold a WAL database exclusively while the store has it open.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gathered_lookups_each_get_their_own_user() {
        let dir = tempfile::tempdir().expect("dir");
        let store = open_store(dir.path()).await;
        let users = insert_users(&store, 300).await;

        // At once, so that lookups wait together and leave in shared statements; some users are
        // asked for twice, and some ids are no one's.
        let mut lookups = JoinSet::new();
        for user in users.iter().chain(users.iter().take(50)).cloned() {
            let gathered = store.lookups.clone();
            lookups.spawn(async move {
                let found = gathered.get(&user.id).await.expect("read");
                assert_eq!(found.as_ref(), Some(&user), "{}", user.id);
            });
            let gathered = store.lookups.clone();
            lookups.spawn(async move {
                let missing = UserId::generate();
                assert!(gathered.get(&missing).await.expect("read").is_none());
            });
        }
        while let Some(done) = lookups.join_next().await {
            done.expect("lookup task");
        }
        store.close().await;
    }
}

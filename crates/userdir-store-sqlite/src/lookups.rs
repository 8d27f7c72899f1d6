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

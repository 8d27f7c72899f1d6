//! GetUser's reads, gathered (`userdir_core::store::Lookups`): a primary-key select costs
//! PostgreSQL a round trip and a statement's fixed work (parse of the portal, executor start,
//! the snapshot), more than the row itself. Lookups waiting at the same time share one
//! `= ANY($1)` statement. Nothing is cached: each statement is sent after every lookup it answers
//! was asked, so it reads whatever any instance acknowledged before.

use std::collections::HashMap;

use sqlx::PgPool;
use userdir_core::domain::{User, UserId};
use userdir_core::store::rows::UserRow;
use userdir_core::store::{Lookups, StoreError};

use super::db_error;

/// Starts the gatherer; a quarter of the pool's connections at most run its statements, so that
/// lookups arriving under load leave in groups (and writes find a connection).
pub(super) fn start(pool: PgPool, connections: u32) -> Lookups {
    let in_flight = usize::try_from(connections.div_ceil(4)).unwrap_or(1);
    Lookups::start(move |ids| fetch(pool.clone(), ids), in_flight)
}

async fn fetch(pool: PgPool, ids: Vec<UserId>) -> Result<HashMap<UserId, User>, StoreError> {
    let ids: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
    let rows = sqlx::query_as!(
        UserRow,
        "SELECT user_id, email, user_type, status, api_access, api_access_principal_arn,
                first_name, last_name, create_time, last_enabled_time, last_disabled_time,
                last_modified_time, last_login_time
         FROM users WHERE user_id = ANY($1)",
        &ids
    )
    .fetch_all(&pool)
    .await
    .map_err(db_error)?;
    rows.into_iter()
        .map(|row| User::try_from(row).map(|user| (user.id.clone(), user)))
        .collect()
}

//! Users: create, read (through the cache), update, the lifecycle's activation, status
//! changes, authorization profiles and server keys.

use crate::db_error;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::SqliteConnection;
use tracing::instrument;

use super::writer::{AheadInsert, Isolation};
use super::{
    MIN_FREE_BYTES, SqliteStore, corrupt, free_bytes, is_unique_violation, parse_user_id,
    users_from_json,
};
use userdir_core::domain::{
    ApiAccess, FirstName, LastName, RoleArn, StatusChange, Timestamp, User, UserChanges, UserId,
    UserStatus, UserType,
};
use userdir_core::store::rows::ProfileRow;
use userdir_core::store::{
    AuditRecord, CacheStats, CallerProfile, CommitObserver, Creations, PoolStats, Resource,
    StatusCounts, StoreError, UserStore, WriteContext, Written,
};

#[async_trait]
impl UserStore for SqliteStore {
    #[instrument(skip_all, fields(user_id = %user.id))]
    async fn insert_user(
        &self,
        user: &User,
        max_users: u64,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError> {
        let insert = AheadInsert {
            user: user.id.clone(),
            row: crate::import::row(user)?,
            max_users,
        };
        let user = user.clone();
        let written = self
            .write_once_inserting(
                Isolation::SingleStatement,
                ctx,
                Some(insert),
                parse_user_id,
                move |tx, batch| {
                    Box::pin(async move {
                        if !batch.take_inserted_ahead(&user.id) {
                            insert_row(tx, &user, max_users).await?;
                        }
                        Ok((user.id.clone(), user.id.as_str().to_owned()))
                    })
                },
            )
            .await;
        if let Ok(Written::Applied(_)) = &written {
            self.creations.signal();
        }
        written
    }

    #[instrument(skip_all, fields(users = users.len()))]
    async fn import_users(
        &self,
        users: Vec<User>,
        max_users: u64,
        audit: &AuditRecord,
    ) -> Result<u64, StoreError> {
        self.import(users, max_users, audit).await
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn get_user(&self, id: &UserId) -> Result<Option<Arc<User>>, StoreError> {
        if let Some(user) = self.cache.get(id) {
            return Ok(Some(user));
        }
        let generation = self.cache.generation();
        let found = match self.direct.user(id) {
            Some(read) => read?,
            None => self.lookups.get(id).await?,
        };
        let Some(user) = found else {
            return Ok(None);
        };
        let user = Arc::new(user);
        self.cache.offer(user.clone(), generation);
        Ok(Some(user))
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn update_user(
        &self,
        id: &UserId,
        changes: &UserChanges,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError> {
        let id = id.clone();
        let changes = changes.clone();
        self.write_once(
            Isolation::SingleStatement,
            ctx,
            parse_user_id,
            move |tx, batch| {
                Box::pin(async move {
                    let updated = sqlx::query!(
                        "UPDATE users SET
                         user_type = COALESCE(?2, user_type),
                         first_name = COALESCE(?3, first_name),
                         last_name = COALESCE(?4, last_name),
                         credential_generation = credential_generation + (
                             (?5 IS 'DISABLED' AND api_access IS NOT 'DISABLED')
                             OR (?6 IS NOT NULL AND ?6 IS NOT api_access_principal_arn)),
                         api_access = COALESCE(?5, api_access),
                         api_access_principal_arn = COALESCE(?6, api_access_principal_arn),
                         last_modified_time = MAX(?7, last_modified_time + 1)
                     WHERE user_id = ?1",
                        id.as_str(),
                        changes.user_type.map(UserType::as_str),
                        changes.first_name.as_ref().map(FirstName::as_str),
                        changes.last_name.as_ref().map(LastName::as_str),
                        changes.api_access.map(ApiAccess::as_str),
                        changes
                            .api_access_principal_arn
                            .as_ref()
                            .map(RoleArn::as_str),
                        now.as_millis(),
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if updated.rows_affected() == 0 {
                        return Err(StoreError::NotFound(Resource::User));
                    }

                    batch.touch(&id);
                    Ok((id.clone(), id.as_str().to_owned()))
                })
            },
        )
        .await
    }

    #[instrument(skip_all)]
    async fn activate_users(
        &self,
        created_by: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let now = now.as_millis();
        let created_by = created_by.as_millis();
        self.writer
            .write(Isolation::SingleStatement, None, move |tx, batch| {
                Box::pin(async move {
                    let enabled = sqlx::query_scalar!(
                        "UPDATE users SET status = 'ENABLED',
                             last_enabled_time = MAX(?1, last_modified_time + 1),
                             last_modified_time = MAX(?1, last_modified_time + 1)
                         WHERE status = 'CREATING' AND create_time <= ?2
                         RETURNING user_id",
                        now,
                        created_by,
                    )
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    for id in &enabled {
                        if let Ok(id) = UserId::parse(id) {
                            batch.touch(&id);
                        }
                    }
                    Ok(enabled.len() as u64)
                })
            })
            .await
    }

    #[instrument(skip_all)]
    async fn oldest_creating(&self) -> Result<Option<Timestamp>, StoreError> {
        let oldest = sqlx::query_scalar!(
            "SELECT create_time FROM users WHERE status = 'CREATING'
             ORDER BY create_time LIMIT 1"
        )
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?;
        Ok(oldest.map(Timestamp::from_millis))
    }

    async fn stored_tokens(&self) -> Result<u64, StoreError> {
        let n = sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM idempotency_tokens"#)
            .fetch_one(&self.reader)
            .await
            .map_err(db_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    #[instrument(skip_all)]
    async fn purge_expired_tokens(&self, now: Timestamp) -> Result<u64, StoreError> {
        let now = now.as_millis();
        self.writer
            .write(Isolation::SingleStatement, None, move |tx, _| {
                Box::pin(async move {
                    let done =
                        sqlx::query!("DELETE FROM idempotency_tokens WHERE expires_at <= ?1", now)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }

    /// Reads work, the database's filesystem has room, and writes work unless the last batch
    /// failed for want of disk; then a probe write tells whether they work again.
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query_scalar!("SELECT 1 AS one")
            .fetch_one(&self.reader)
            .await
            .map_err(db_error)?;
        if let Some(free) = free_bytes(&self.dir).filter(|free| *free < MIN_FREE_BYTES) {
            return Err(StoreError::unavailable(format!(
                "{free} bytes free on {}",
                self.dir.display()
            )));
        }
        if self.writer.stats().unwritable() {
            self.writer
                .write(Isolation::SingleStatement, None, |tx, _| {
                    Box::pin(async move {
                        sqlx::query!("UPDATE entity_counts SET n = n WHERE kind = 'users'")
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                        Ok(())
                    })
                })
                .await?;
        }
        Ok(())
    }

    #[instrument(skip_all)]
    async fn list_users(
        &self,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError> {
        let after = after.map_or("", UserId::as_str);
        if let Some(page) = self.direct.users_after(after, limit) {
            return page;
        }
        // The database is busy (or the store closing): through the pool, which waits its turn.
        // The page comes back as one JSON value rather than a row per user: the driver copies
        // every value of every row it returns, which cost more than the rest of a page together.
        // (The aggregate's order is SQLite's to choose, so the rows are sorted here.)
        let page = sqlx::query_scalar!(
            r#"SELECT json_group_array(json_array(
                      user_id, email, user_type, status, api_access, api_access_principal_arn,
                      first_name, last_name, create_time, last_enabled_time, last_disabled_time,
                      last_modified_time, last_login_time)) AS "page!: String"
               FROM (SELECT * FROM users WHERE user_id > ?1 ORDER BY user_id
                     LIMIT CAST(?2 AS INTEGER))"#,
            after,
            limit,
        )
        .fetch_one(&self.reader)
        .await
        .map_err(db_error)?;
        users_from_json(&page, "a page of users")
    }

    #[instrument(skip_all, fields(user_id = %id, ?change))]
    async fn change_status(
        &self,
        id: &UserId,
        change: StatusChange,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError> {
        let id = id.clone();
        self.write_once(
            Isolation::SingleStatement,
            ctx,
            parse_user_id,
            move |tx, batch| {
                Box::pin(async move {
                    let current = sqlx::query_scalar!(
                        "SELECT status FROM users WHERE user_id = ?1",
                        id.as_str()
                    )
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .ok_or(StoreError::NotFound(Resource::User))?;
                    let current =
                        UserStatus::parse(&current).map_err(|v| corrupt("users.status", v))?;
                    let next = current
                        .after(change)
                        .map_err(StoreError::ForbiddenInStatus)?;

                    let now = now.as_millis();
                    match next {
                        Some(UserStatus::Enabled) => {
                            sqlx::query!(
                                "UPDATE users SET status = 'ENABLED',
                                 last_enabled_time = MAX(?2, last_modified_time + 1),
                                 last_modified_time = MAX(?2, last_modified_time + 1)
                             WHERE user_id = ?1",
                                id.as_str(),
                                now,
                            )
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                        }
                        Some(UserStatus::Disabled) => {
                            sqlx::query!(
                                "UPDATE users SET status = 'DISABLED',
                                 last_disabled_time = MAX(?2, last_modified_time + 1),
                                 last_modified_time = MAX(?2, last_modified_time + 1),
                                 credential_generation = credential_generation + 1
                             WHERE user_id = ?1",
                                id.as_str(),
                                now,
                            )
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                        }
                        // Already there (or CREATING, which `after` never yields): nothing to
                        // write.
                        Some(UserStatus::Creating) | None => {}
                    }
                    batch.touch(&id);
                    Ok((id.clone(), id.as_str().to_owned()))
                })
            },
        )
        .await
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn caller_profile(&self, id: &UserId) -> Result<Option<CallerProfile>, StoreError> {
        let row = sqlx::query_as!(
            ProfileRow,
            r#"SELECT u.user_type AS "user_type!", u.status AS "status!",
                      u.api_access AS "api_access!",
                      u.credential_generation AS "credential_generation!",
                      group_concat(g.application_permissions) AS "permissions: String"
               FROM users u
               LEFT JOIN permission_group_members m ON m.user_id = u.user_id
               LEFT JOIN permission_groups g ON g.permission_group_id = m.permission_group_id
               WHERE u.user_id = ?1
               GROUP BY u.user_id"#,
            id.as_str()
        )
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?;
        row.map(CallerProfile::try_from).transpose()
    }

    #[instrument(skip_all)]
    async fn users_of_principal(
        &self,
        arn: &RoleArn,
        limit: u32,
    ) -> Result<Vec<UserId>, StoreError> {
        let ids = sqlx::query_scalar!(
            "SELECT user_id FROM users WHERE api_access_principal_arn = ?1 ORDER BY user_id
             LIMIT CAST(?2 AS INTEGER)",
            arn.as_str(),
            limit,
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        ids.iter()
            .map(|id| UserId::parse(id).map_err(|v| corrupt("users.user_id", v)))
            .collect()
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        Some(self.cache.stats())
    }

    async fn users_by_status(&self) -> Result<StatusCounts, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(db_error)?;
        let total = sqlx::query_scalar!("SELECT n FROM entity_counts WHERE kind = 'users'")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
        let creating = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!: i64" FROM users WHERE status = 'CREATING'"#
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
        let disabled = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!: i64" FROM users WHERE status = 'DISABLED'"#
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
        Ok(StatusCounts::from_total(total, creating, disabled))
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        [("read", &self.reader), ("write", &self.write_pool)]
            .into_iter()
            .map(|(name, pool)| PoolStats {
                name,
                open: pool.size(),
                idle: pool.num_idle() as u32,
                max: pool.options().get_max_connections(),
            })
            .collect()
    }

    fn observe_commits(&self, observer: Arc<dyn CommitObserver>) {
        self.writer.stats().watch.set(observer);
    }

    fn creations(&self) -> Arc<dyn Creations> {
        self.creations.clone()
    }

    async fn server_key(&self, purpose: &str, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        let purpose = purpose.to_owned();
        let now = self.clock.now().as_millis();
        let key = self
            .writer
            .write(Isolation::SingleStatement, None, move |tx, _| {
                Box::pin(async move {
                    let fresh = fresh.as_slice();
                    sqlx::query!(
                        "INSERT INTO server_keys (purpose, key, create_time) VALUES (?1, ?2, ?3)
                         ON CONFLICT (purpose) DO NOTHING",
                        purpose,
                        fresh,
                        now,
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let key = sqlx::query_scalar!(
                        "SELECT key FROM server_keys WHERE purpose = ?1",
                        purpose
                    )
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    Ok((purpose, key))
                })
            })
            .await?;
        let (purpose, key) = key;
        <[u8; 32]>::try_from(key.as_slice()).map_err(|_| {
            StoreError::internal(format!(
                "stored data is invalid: server_keys.key of {purpose}"
            ))
        })
    }
}

/// Inserts a new user's row; `EmailTaken` if its email is registered in any case,
/// `LimitExceeded` if `max_users` exist already (checked by the INSERT itself: one statement, one
/// round trip).
pub(super) async fn insert_row(
    tx: &mut SqliteConnection,
    user: &User,
    max_users: u64,
) -> Result<(), StoreError> {
    let limit = i64::try_from(max_users).unwrap_or(i64::MAX);
    let inserted = sqlx::query!(
        "INSERT INTO users (
         user_id, email, user_type, status, api_access,
         api_access_principal_arn, first_name, last_name, create_time,
         last_enabled_time, last_disabled_time, last_modified_time,
         last_login_time)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13
     WHERE (SELECT n FROM entity_counts WHERE kind = 'users') < ?14",
        user.id.as_str(),
        user.email.as_str(),
        user.user_type.as_str(),
        user.status.as_str(),
        user.api_access.as_str(),
        user.api_access_principal_arn.as_ref().map(RoleArn::as_str),
        user.first_name.as_ref().map(FirstName::as_str),
        user.last_name.as_ref().map(LastName::as_str),
        user.create_time.as_millis(),
        user.last_enabled_time.map(Timestamp::as_millis),
        user.last_disabled_time.map(Timestamp::as_millis),
        user.last_modified_time.as_millis(),
        user.last_login_time.map(Timestamp::as_millis),
        limit,
    )
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(StoreError::EmailTaken),
        Ok(done) if done.rows_affected() == 0 => Err(StoreError::LimitExceeded(max_users)),
        other => other.map(drop).map_err(db_error),
    }
}

#[cfg(test)]
mod tests {
    use userdir_core::domain::User;
    use userdir_core::store::UserStore;

    use crate::SqliteStore;
    use crate::test_support::{insert_users, open_store};

    /// Every page of the directory, `size` users at a time, as the store lists them.
    async fn pages(store: &SqliteStore, size: u32) -> Vec<Vec<User>> {
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let page = store.list_users(after.as_ref(), size).await.expect("list");
            let Some(last) = page.last() else {
                return pages;
            };
            after = Some(last.id.clone());
            pages.push(page);
        }
    }

    /// ListUsers reads on the request's thread, and through the pool only where that would wait
    /// for a lock (which a test through the store cannot bring about: see `lookups.rs`). With the
    /// direct reads closed, the pool's pages must be the very same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_through_the_pool_are_the_pages_read_directly() {
        let dir = tempfile::tempdir().expect("dir");
        let store = open_store(dir.path()).await;
        let mut users = insert_users(&store, 230).await;
        users.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));

        let direct = pages(&store, 100).await;
        assert_eq!(
            direct.iter().map(Vec::len).collect::<Vec<_>>(),
            [100, 100, 30]
        );
        assert_eq!(direct.concat(), users, "every user, in id order");

        store.direct.close();
        assert!(store.direct.users_after("", 1).is_none(), "closed");
        assert_eq!(pages(&store, 100).await, direct);
        assert_eq!(pages(&store, 7).await.concat(), users);
        store.close().await;
    }
}

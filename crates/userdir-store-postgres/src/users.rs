//! Users: create, read, update, the lifecycle's activation, status changes, authorization
//! profiles and server keys.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::PgConnection;
use tracing::instrument;
use userdir_core::domain::{
    ApiAccess, FirstName, LastName, RoleArn, StatusChange, Timestamp, User, UserChanges, UserId,
    UserStatus, UserType,
};
use userdir_core::store::rows::{ProfileRow, UserRow, corrupt, parse_user_id};
use userdir_core::store::{
    AuditRecord, CallerProfile, CommitObserver, Creations, PoolStats, Resource, StatusCounts,
    StoreError, UserStore, WriteContext, Written,
};

use super::counts::{Kind, count_in, random_slot};
use super::together::Outcome;
use super::write::{Retry, retry_or_fail, retrying};
use super::{PostgresStore, db_error, has_code, is_unique_violation};

#[async_trait]
impl UserStore for PostgresStore {
    #[instrument(skip_all, fields(user_id = %user.id))]
    async fn insert_user(
        &self,
        user: &User,
        max_users: u64,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError> {
        let written = match self.together.create(user, max_users, ctx).await? {
            Outcome::Applied => Ok(Written::Applied(user.id.clone())),
            Outcome::Earlier {
                fingerprint,
                result,
            } => match &ctx.claim {
                Some(claim) if claim.fingerprint == fingerprint => {
                    parse_user_id(result).map(Written::Replayed)
                }
                Some(_) => Err(StoreError::TokenMismatch),
                None => Err(StoreError::internal(
                    "userdir_create_users answered a token's claim for a create without one",
                )),
            },
            Outcome::EmailTaken => Err(StoreError::EmailTaken),
            Outcome::Alone => retrying(|| self.create_user_once(user, max_users, ctx)).await,
        };
        if let Ok(Written::Applied(_)) = &written {
            self.creations.announce().await;
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
        Ok(self.lookups.get(id).await?.map(Arc::new))
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn update_user(
        &self,
        id: &UserId,
        changes: &UserChanges,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError> {
        self.write_once(ctx, parse_user_id, |tx| {
            let (id, changes) = (id.clone(), changes.clone());
            Box::pin(async move {
                let updated = sqlx::query!(
                    "UPDATE users SET
                         user_type = COALESCE($2, user_type),
                         first_name = COALESCE($3, first_name),
                         last_name = COALESCE($4, last_name),
                         credential_generation = credential_generation + CASE
                             WHEN ($5::TEXT = 'DISABLED' AND api_access <> 'DISABLED')
                               OR ($6::TEXT IS NOT NULL
                                   AND $6::TEXT IS DISTINCT FROM api_access_principal_arn)
                             THEN 1 ELSE 0 END,
                         api_access = COALESCE($5, api_access),
                         api_access_principal_arn = COALESCE($6, api_access_principal_arn),
                         last_modified_time = GREATEST($7, last_modified_time + 1)
                     WHERE user_id = $1",
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
                Ok((id.clone(), id.as_str().to_owned()))
            })
        })
        .await
    }

    #[instrument(skip_all)]
    async fn activate_users(
        &self,
        created_by: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        // Instances racing on one user: the second waits for the first's row lock, finds the user
        // no longer CREATING, and leaves it; each user is enabled once.
        self.write(|tx| {
            Box::pin(async move {
                let enabled = sqlx::query!(
                    "UPDATE users SET status = 'ENABLED',
                         last_enabled_time = GREATEST($1, last_modified_time + 1),
                         last_modified_time = GREATEST($1, last_modified_time + 1)
                     WHERE status = 'CREATING' AND create_time <= $2",
                    now.as_millis(),
                    created_by.as_millis(),
                )
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                Ok(enabled.rows_affected())
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
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(oldest.map(Timestamp::from_millis))
    }

    async fn stored_tokens(&self) -> Result<u64, StoreError> {
        let n = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM idempotency_tokens"#)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    #[instrument(skip_all)]
    async fn purge_expired_tokens(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.write(|tx| {
            Box::pin(async move {
                let done = sqlx::query!(
                    "DELETE FROM idempotency_tokens WHERE expires_at <= $1",
                    now.as_millis()
                )
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                Ok(done.rows_affected())
            })
        })
        .await
    }

    /// The database answers a read and takes a write (a server in recovery or read-only, or out of
    /// disk, fails the latter).
    async fn ping(&self) -> Result<(), StoreError> {
        self.write(|tx| {
            Box::pin(async move {
                sqlx::query!("UPDATE entity_counts SET n = n WHERE kind = 'users' AND slot = 0")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                Ok(())
            })
        })
        .await
    }

    #[instrument(skip_all)]
    async fn list_users(
        &self,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query_as!(
            UserRow,
            "SELECT user_id, email, user_type, status, api_access, api_access_principal_arn,
                    first_name, last_name, create_time, last_enabled_time, last_disabled_time,
                    last_modified_time, last_login_time
             FROM users WHERE user_id > $1 ORDER BY user_id LIMIT $2",
            after.map_or("", UserId::as_str),
            i64::from(limit),
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.into_iter().map(User::try_from).collect()
    }

    #[instrument(skip_all, fields(user_id = %id, ?change))]
    async fn change_status(
        &self,
        id: &UserId,
        change: StatusChange,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError> {
        self.write_once(ctx, parse_user_id, |tx| {
            let id = id.clone();
            Box::pin(async move {
                // FOR UPDATE: a concurrent change (or the lifecycle) waits, so the transition is
                // decided on the status it applies to.
                let current = sqlx::query_scalar!(
                    "SELECT status FROM users WHERE user_id = $1 FOR UPDATE",
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
                                 last_enabled_time = GREATEST($2, last_modified_time + 1),
                                 last_modified_time = GREATEST($2, last_modified_time + 1)
                             WHERE user_id = $1",
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
                                 last_disabled_time = GREATEST($2, last_modified_time + 1),
                                 last_modified_time = GREATEST($2, last_modified_time + 1),
                                 credential_generation = credential_generation + 1
                             WHERE user_id = $1",
                            id.as_str(),
                            now,
                        )
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    }
                    // Already there (or CREATING, which `after` never yields).
                    Some(UserStatus::Creating) | None => {}
                }
                Ok((id.clone(), id.as_str().to_owned()))
            })
        })
        .await
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn caller_profile(&self, id: &UserId) -> Result<Option<CallerProfile>, StoreError> {
        let row = sqlx::query_as!(
            ProfileRow,
            r#"SELECT u.user_type AS "user_type!", u.status AS "status!",
                      u.api_access AS "api_access!",
                      u.credential_generation AS "credential_generation!",
                      string_agg(g.application_permissions, ',') AS permissions
               FROM users u
               LEFT JOIN permission_group_members m ON m.user_id = u.user_id
               LEFT JOIN permission_groups g ON g.permission_group_id = m.permission_group_id
               WHERE u.user_id = $1
               GROUP BY u.user_id"#,
            id.as_str()
        )
        .fetch_optional(&self.pool)
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
            "SELECT user_id FROM users WHERE api_access_principal_arn = $1 ORDER BY user_id
             LIMIT $2",
            arn.as_str(),
            i64::from(limit),
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        ids.iter()
            .map(|id| UserId::parse(id).map_err(|v| corrupt("users.user_id", v)))
            .collect()
    }

    fn creations(&self) -> Arc<dyn Creations> {
        self.creations.clone()
    }

    async fn users_by_status(&self) -> Result<StatusCounts, StoreError> {
        let counts = sqlx::query!(
            r#"SELECT (SELECT COALESCE(sum(n), 0)::BIGINT FROM entity_counts
                       WHERE kind = 'users') AS "total!",
                      (SELECT count(*) FROM users WHERE status = 'CREATING') AS "creating!",
                      (SELECT count(*) FROM users WHERE status = 'DISABLED') AS "disabled!""#
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(StatusCounts::from_total(
            counts.total,
            counts.creating,
            counts.disabled,
        ))
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        vec![PoolStats {
            name: "main",
            open: self.pool.size(),
            idle: self.pool.num_idle() as u32,
            max: self.pool.options().get_max_connections(),
        }]
    }

    fn observe_commits(&self, observer: Arc<dyn CommitObserver>) {
        self.watch.set(observer);
    }

    async fn server_key(&self, purpose: &str, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        let now = self.clock.now().as_millis();
        // The first instance to store a key wins; every other reads the same one.
        let key = self
            .write(|tx| {
                let purpose = purpose.to_owned();
                Box::pin(async move {
                    sqlx::query!(
                        "INSERT INTO server_keys (purpose, key, create_time) VALUES ($1, $2, $3)
                         ON CONFLICT (purpose) DO NOTHING",
                        purpose,
                        fresh.as_slice(),
                        now,
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    sqlx::query_scalar!("SELECT key FROM server_keys WHERE purpose = $1", purpose)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_error)
                })
            })
            .await?;
        <[u8; 32]>::try_from(key.as_slice()).map_err(|_| {
            StoreError::internal(format!(
                "stored data is invalid: server_keys.key of {purpose}"
            ))
        })
    }
}

/// Inserts a new user's row and counts it, in a SCIM create's transaction (CreateUser's own is
/// `userdir_create_user`); `EmailTaken` if its email is registered in any case,
/// `LimitExceeded` if `max_users` exist already.
pub(super) async fn insert_row(
    tx: &mut PgConnection,
    user: &User,
    max_users: u64,
) -> Result<(), StoreError> {
    let inserted = sqlx::query!(
        "INSERT INTO users (
             user_id, email, user_type, status, api_access, api_access_principal_arn,
             first_name, last_name, create_time, last_enabled_time, last_disabled_time,
             last_modified_time, last_login_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
    )
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(StoreError::EmailTaken),
        other => other.map_err(db_error)?,
    };
    // Counted after the insert: a create refused for its email waits on no slot.
    count_in(&mut *tx, Kind::Users, 1, max_users).await?;
    Ok(())
}

impl PostgresStore {
    /// CreateUser as one call of `userdir_create_user` (migration 0006): the clientToken's claim,
    /// the user, its count, the audit entry and the token's answer in one round trip and one
    /// transaction, where separate statements took eight.
    async fn create_user_once(
        &self,
        user: &User,
        max_users: u64,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, Retry> {
        let started = std::time::Instant::now();
        let claim = ctx.claim.as_ref();
        let audit = &ctx.audit;
        let earlier = sqlx::query!(
            r#"SELECT earlier_fingerprint AS "fingerprint!", earlier_result AS "result!"
               FROM userdir_create_user(
                   $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                   $18, $19, $20, $21, $22, $23, $24, $25, $26)"#,
            claim.map(|c| c.operation),
            claim.map(|c| c.token.as_str()),
            claim.map(|c| c.fingerprint.as_str()),
            claim.map(|c| c.now.as_millis()),
            claim.map(|c| c.expires_at.as_millis()),
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
            random_slot(),
            i64::try_from(max_users).unwrap_or(i64::MAX),
            audit.time.as_millis(),
            audit.request_id,
            audit.caller,
            audit.operation,
            audit.target,
            audit.detail,
        )
        .fetch_optional(&self.pool)
        .await;
        let earlier = match earlier {
            Err(e) if is_unique_violation(&e) => return Err(Retry::Fail(StoreError::EmailTaken)),
            Err(e) if has_code(&e, LIMIT_REACHED) => {
                return Err(Retry::Fail(StoreError::LimitExceeded(max_users)));
            }
            other => other.map_err(retry_or_fail)?,
        };
        match (earlier, claim) {
            (None, _) => {
                self.watch.committed(1, started.elapsed());
                Ok(Written::Applied(user.id.clone()))
            }
            (Some(earlier), Some(claim)) if earlier.fingerprint == claim.fingerprint => {
                parse_user_id(earlier.result)
                    .map(Written::Replayed)
                    .map_err(Retry::Fail)
            }
            (Some(_), Some(_)) => Err(Retry::Fail(StoreError::TokenMismatch)),
            (Some(_), None) => Err(Retry::Fail(StoreError::internal(
                "userdir_create_user answered a token's claim for a create without one",
            ))),
        }
    }
}

/// The SQLSTATE `userdir_create_user` raises when the limit of users is reached.
const LIMIT_REACHED: &str = "UDLIM";

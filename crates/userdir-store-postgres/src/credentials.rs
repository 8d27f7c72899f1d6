//! Passwords (argon2id hashes only) and sign-in records.

use async_trait::async_trait;
use tracing::instrument;
use userdir_core::domain::{Email, Timestamp, UserId, UserStatus};
use userdir_core::store::rows::{SignInRow, corrupt};
use userdir_core::store::{
    CredentialStore, Resource, StoreError, StoredPassword, WriteContext, Written,
};

use super::{PostgresStore, db_error};

#[async_trait]
impl CredentialStore for PostgresStore {
    #[instrument(skip_all, fields(user_id = %id))]
    async fn set_temporary_password(
        &self,
        id: &UserId,
        hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
        seed: &str,
        ctx: &WriteContext,
    ) -> Result<Written<String>, StoreError> {
        self.write_once(ctx, Ok, |tx| {
            let (id, hash, seed) = (id.clone(), hash.to_owned(), seed.to_owned());
            Box::pin(async move {
                // FOR SHARE: a concurrent DisableUser waits, or is waited for.
                let status = sqlx::query_scalar!(
                    "SELECT status FROM users WHERE user_id = $1 FOR SHARE",
                    id.as_str()
                )
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?
                .ok_or(StoreError::NotFound(Resource::User))?;
                let status = UserStatus::parse(&status).map_err(|v| corrupt("users.status", v))?;
                if status == UserStatus::Disabled {
                    return Err(StoreError::ForbiddenInStatus(status));
                }
                sqlx::query!(
                    "INSERT INTO user_passwords
                         (user_id, password_hash, temporary, expires_at, set_time)
                     VALUES ($1, $2, TRUE, $3, $4)
                     ON CONFLICT (user_id) DO UPDATE SET
                         password_hash = EXCLUDED.password_hash,
                         temporary = TRUE,
                         expires_at = EXCLUDED.expires_at,
                         set_time = EXCLUDED.set_time",
                    id.as_str(),
                    hash,
                    expires_at.as_millis(),
                    now.as_millis(),
                )
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                Ok((seed.clone(), seed))
            })
        })
        .await
    }

    #[instrument(skip_all)]
    async fn password_for(&self, email: &Email) -> Result<Option<StoredPassword>, StoreError> {
        let row = sqlx::query_as!(
            SignInRow,
            "SELECT u.user_id, u.status, p.password_hash, p.temporary, p.expires_at
             FROM users u JOIN user_passwords p ON p.user_id = u.user_id
             WHERE lower(u.email) = lower($1)",
            email.as_str()
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(StoredPassword::try_from).transpose()
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn record_sign_in(&self, id: &UserId, ctx: &WriteContext) -> Result<(), StoreError> {
        let now = ctx.audit.time.as_millis();
        self.write_once(
            ctx,
            |_| Ok(()),
            |tx| {
                let id = id.clone();
                Box::pin(async move {
                    sqlx::query!(
                        "UPDATE users SET last_login_time = $2 WHERE user_id = $1",
                        id.as_str(),
                        now,
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    Ok(((), id.as_str().to_owned()))
                })
            },
        )
        .await
        .map(|_| ())
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn replace_password(
        &self,
        id: &UserId,
        current_hash: &str,
        new_hash: &str,
        ctx: &WriteContext,
    ) -> Result<(), StoreError> {
        let now = ctx.audit.time.as_millis();
        self.write_once(
            ctx,
            |_| Ok(()),
            |tx| {
                let id = id.clone();
                let (current_hash, new_hash) = (current_hash.to_owned(), new_hash.to_owned());
                Box::pin(async move {
                    // Compare-and-set on the hash: of two concurrent uses of one temporary
                    // password, one wins (the other waits on the row, then finds it changed).
                    let replaced = sqlx::query!(
                        "UPDATE user_passwords SET password_hash = $3, temporary = FALSE,
                             expires_at = NULL, set_time = $4
                         WHERE user_id = $1 AND password_hash = $2",
                        id.as_str(),
                        current_hash,
                        new_hash,
                        now,
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if replaced.rows_affected() == 0 {
                        return Err(StoreError::PasswordChanged);
                    }
                    sqlx::query!(
                        "UPDATE users SET last_login_time = $2 WHERE user_id = $1",
                        id.as_str(),
                        now
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    Ok(((), id.as_str().to_owned()))
                })
            },
        )
        .await
        .map(|_| ())
    }
}

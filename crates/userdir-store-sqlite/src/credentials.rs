//! Passwords (argon2id hashes only) and sign-in records.

use crate::db_error;
use async_trait::async_trait;
use tracing::instrument;

use super::writer::Isolation;
use super::{SqliteStore, corrupt};
use userdir_core::domain::{Email, Timestamp, UserId, UserStatus};
use userdir_core::store::rows::SignInRow;
use userdir_core::store::{
    CredentialStore, Resource, StoreError, StoredPassword, WriteContext, Written,
};

#[async_trait]
impl CredentialStore for SqliteStore {
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
        let id = id.clone();
        let hash = hash.to_owned();
        let seed = seed.to_owned();
        self.write_once(Isolation::SingleStatement, ctx, Ok, move |tx, _| {
            Box::pin(async move {
                let status =
                    sqlx::query_scalar!("SELECT status FROM users WHERE user_id = ?1", id.as_str())
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
                     VALUES (?1, ?2, 1, ?3, ?4)
                     ON CONFLICT (user_id) DO UPDATE SET
                         password_hash = excluded.password_hash,
                         temporary = 1,
                         expires_at = excluded.expires_at,
                         set_time = excluded.set_time",
                    id.as_str(),
                    hash,
                    expires_at.as_millis(),
                    now.as_millis(),
                )
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                Ok((seed.to_owned(), seed.clone()))
            })
        })
        .await
    }

    #[instrument(skip_all)]
    async fn password_for(&self, email: &Email) -> Result<Option<StoredPassword>, StoreError> {
        let row = sqlx::query_as!(
            SignInRow,
            r#"SELECT u.user_id AS "user_id!", u.status AS "status!",
                      p.password_hash AS "password_hash!", p.temporary AS "temporary!: bool",
                      p.expires_at
               FROM users u JOIN user_passwords p ON p.user_id = u.user_id
               WHERE u.email = ?1 COLLATE NOCASE"#,
            email.as_str()
        )
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?;
        row.map(StoredPassword::try_from).transpose()
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn record_sign_in(&self, id: &UserId, ctx: &WriteContext) -> Result<(), StoreError> {
        let id = id.clone();
        let now_millis = ctx.audit.time.as_millis();
        self.write_once(
            Isolation::SingleStatement,
            ctx,
            |_| Ok(()),
            move |tx, batch| {
                Box::pin(async move {
                    sqlx::query!(
                        "UPDATE users SET last_login_time = ?2 WHERE user_id = ?1",
                        id.as_str(),
                        now_millis,
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    batch.touch(&id);
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
        let id = id.clone();
        let current_hash = current_hash.to_owned();
        let new_hash = new_hash.to_owned();
        let now_millis = ctx.audit.time.as_millis();
        self.write_once(
            Isolation::Savepoint,
            ctx,
            |_| Ok(()),
            move |tx, batch| {
                Box::pin(async move {
                    // Compare-and-set on the hash: of two concurrent uses of one temporary
                    // password, one wins.
                    let replaced = sqlx::query!(
                    "UPDATE user_passwords SET password_hash = ?3, temporary = 0, expires_at = NULL,
                         set_time = ?4
                     WHERE user_id = ?1 AND password_hash = ?2",
                    id.as_str(),
                    current_hash,
                    new_hash,
                    now_millis,
                )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if replaced.rows_affected() == 0 {
                        return Err(StoreError::PasswordChanged);
                    }
                    sqlx::query!(
                        "UPDATE users SET last_login_time = ?2 WHERE user_id = ?1",
                        id.as_str(),
                        now_millis
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    batch.touch(&id);
                    Ok(((), id.as_str().to_owned()))
                })
            },
        )
        .await
        .map(|_| ())
    }
}

//! SCIM clients' bearer tokens: made and revoked in one audited transaction; read from the pool, so
//! a token revoked through any instance is refused by every other at once.

use async_trait::async_trait;
use tracing::instrument;

use super::{PostgresStore, db_error, is_unique_violation};
use userdir_core::domain::ScimTokenName;
use userdir_core::store::rows::{ScimTokenRow, convert_all};
use userdir_core::store::{Resource, ScimTokenRecord, ScimTokenStore, StoreError, WriteContext};

#[async_trait]
impl ScimTokenStore for PostgresStore {
    #[instrument(skip_all)]
    async fn insert_scim_token(
        &self,
        token: &ScimTokenRecord,
        ctx: &WriteContext,
    ) -> Result<(), StoreError> {
        self.write_once(
            ctx,
            |_| Ok(()),
            |tx| {
                let token = token.clone();
                Box::pin(async move {
                    let inserted = sqlx::query!(
                        "INSERT INTO scim_tokens (token_id, name, secret_hash, create_time)
                         VALUES ($1, $2, $3, $4)",
                        token.id,
                        token.name.as_str(),
                        token.secret_hash.as_slice(),
                        token.create_time.as_millis(),
                    )
                    .execute(&mut *tx)
                    .await;
                    match inserted {
                        Err(e) if is_unique_violation(&e) => Err(StoreError::ScimTokenNameTaken),
                        other => other.map(|_| ((), String::new())).map_err(db_error),
                    }
                })
            },
        )
        .await
        .map(|_| ())
    }

    #[instrument(skip_all)]
    async fn revoke_scim_token(
        &self,
        name: &ScimTokenName,
        ctx: &WriteContext,
    ) -> Result<(), StoreError> {
        let now = ctx.audit.time.as_millis();
        self.write_once(
            ctx,
            |_| Ok(()),
            |tx| {
                let name = name.clone();
                Box::pin(async move {
                    let revoked = sqlx::query!(
                        r#"UPDATE scim_tokens SET revoke_time = $2
                         WHERE lower(name COLLATE "C") = lower($1 COLLATE "C")
                           AND revoke_time IS NULL"#,
                        name.as_str(),
                        now,
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if revoked.rows_affected() == 0 {
                        return Err(StoreError::NotFound(Resource::ScimToken));
                    }
                    Ok(((), String::new()))
                })
            },
        )
        .await
        .map(|_| ())
    }

    #[instrument(skip_all)]
    async fn list_scim_tokens(&self) -> Result<Vec<ScimTokenRecord>, StoreError> {
        let rows = sqlx::query_as!(
            ScimTokenRow,
            "SELECT token_id, name, secret_hash, create_time, revoke_time
             FROM scim_tokens ORDER BY create_time, token_id"
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    #[instrument(skip_all)]
    async fn scim_token(&self, id: &str) -> Result<Option<ScimTokenRecord>, StoreError> {
        let row = sqlx::query_as!(
            ScimTokenRow,
            "SELECT token_id, name, secret_hash, create_time, revoke_time
             FROM scim_tokens WHERE token_id = $1",
            id
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(ScimTokenRecord::try_from).transpose()
    }
}

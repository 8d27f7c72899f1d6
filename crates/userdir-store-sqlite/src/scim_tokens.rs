//! SCIM clients' bearer tokens: made and revoked through the writer (audited in the same
//! transaction), read from the readers.

use async_trait::async_trait;
use tracing::instrument;

use super::writer::Isolation;
use super::{SqliteStore, db_error, is_unique_violation};
use userdir_core::domain::ScimTokenName;
use userdir_core::store::rows::{ScimTokenRow, convert_all};
use userdir_core::store::{Resource, ScimTokenRecord, ScimTokenStore, StoreError, WriteContext};

#[async_trait]
impl ScimTokenStore for SqliteStore {
    #[instrument(skip_all)]
    async fn insert_scim_token(
        &self,
        token: &ScimTokenRecord,
        ctx: &WriteContext,
    ) -> Result<(), StoreError> {
        let token = token.clone();
        self.write_once(
            Isolation::SingleStatement,
            ctx,
            |_| Ok(()),
            move |tx, _| {
                Box::pin(async move {
                    let hash = token.secret_hash.as_slice();
                    let created = token.create_time.as_millis();
                    let inserted = sqlx::query!(
                        "INSERT INTO scim_tokens (token_id, name, secret_hash, create_time)
                         VALUES (?1, ?2, ?3, ?4)",
                        token.id,
                        token.name.as_str(),
                        hash,
                        created,
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
        let name = name.clone();
        let now = ctx.audit.time.as_millis();
        self.write_once(
            Isolation::SingleStatement,
            ctx,
            |_| Ok(()),
            move |tx, _| {
                Box::pin(async move {
                    let revoked = sqlx::query!(
                        "UPDATE scim_tokens SET revoke_time = ?2
                         WHERE name = ?1 COLLATE NOCASE AND revoke_time IS NULL",
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
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    #[instrument(skip_all)]
    async fn scim_token(&self, id: &str) -> Result<Option<ScimTokenRecord>, StoreError> {
        let row = sqlx::query_as!(
            ScimTokenRow,
            "SELECT token_id, name, secret_hash, create_time, revoke_time
             FROM scim_tokens WHERE token_id = ?1",
            id
        )
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?;
        row.map(ScimTokenRecord::try_from).transpose()
    }
}

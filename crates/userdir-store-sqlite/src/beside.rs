//! SCIM tokens made, revoked and listed beside a serving process: a token's row and its audit
//! entry are written through a connection of the command's own, in one transaction, while the
//! server goes on. SQLite takes writers from several processes one at a time (the busy timeout
//! waits out the server's commits), and the server caches nothing of these tables: it reads a
//! token's row on every request, so a revocation holds from its next one. Users stay the serving
//! process's alone (its GetUser cache is kept coherent by its own writer only).

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::sync::Mutex;

use super::{db_error, is_unique_violation};
use userdir_core::domain::ScimTokenName;
use userdir_core::store::rows::{ScimTokenRow, convert_all};
use userdir_core::store::{
    AuditRecord, NoDatabase, Resource, ScimTokenRecord, ScimTokenStore, StoreError, WriteContext,
};

pub struct TokensBeside {
    conn: Mutex<SqliteConnection>,
}

impl TokensBeside {
    /// Opens the database at `path` for its SCIM tokens, beside whatever process serves it.
    pub async fn open(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::NoDatabase(NoDatabase {
                path: path.to_owned(),
                hint: "",
            }));
        }
        let mut conn = SqliteConnectOptions::new()
            .filename(path)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(busy_timeout)
            .connect()
            .await
            .map_err(db_error)?;
        // A server of a version from before SCIM tokens may hold a database without them.
        let has_tokens = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!: i64" FROM sqlite_master
               WHERE type = 'table' AND name = 'scim_tokens'"#
        )
        .fetch_one(&mut conn)
        .await
        .map_err(db_error)?;
        if has_tokens == 0 {
            return Err(StoreError::internal(
                "this database's schema predates SCIM tokens: stop its server and run `userdir \
                 migrate`",
            ));
        }
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    pub async fn close(self) {
        let _ = self.conn.into_inner().close().await;
    }
}

async fn append_audit(conn: &mut SqliteConnection, audit: &AuditRecord) -> Result<(), StoreError> {
    let time = audit.time.as_millis();
    sqlx::query!(
        "INSERT INTO audit_events (time, request_id, caller, operation, target, outcome, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, 'SUCCESS', ?6)",
        time,
        audit.request_id,
        audit.caller,
        audit.operation,
        audit.target,
        audit.detail,
    )
    .execute(&mut *conn)
    .await
    .map(drop)
    .map_err(db_error)
}

#[async_trait]
impl ScimTokenStore for TokensBeside {
    async fn insert_scim_token(
        &self,
        token: &ScimTokenRecord,
        ctx: &WriteContext,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.lock().await;
        let mut tx = conn.begin().await.map_err(db_error)?;
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
            Err(e) if is_unique_violation(&e) => return Err(StoreError::ScimTokenNameTaken),
            other => other.map_err(db_error)?,
        };
        append_audit(&mut tx, &ctx.audit).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn revoke_scim_token(
        &self,
        name: &ScimTokenName,
        ctx: &WriteContext,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.lock().await;
        let mut tx = conn.begin().await.map_err(db_error)?;
        let now = ctx.audit.time.as_millis();
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
        append_audit(&mut tx, &ctx.audit).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn list_scim_tokens(&self) -> Result<Vec<ScimTokenRecord>, StoreError> {
        let mut conn = self.conn.lock().await;
        let rows = sqlx::query_as!(
            ScimTokenRow,
            "SELECT token_id, name, secret_hash, create_time, revoke_time
             FROM scim_tokens ORDER BY create_time, token_id"
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    async fn scim_token(&self, id: &str) -> Result<Option<ScimTokenRecord>, StoreError> {
        let mut conn = self.conn.lock().await;
        let row = sqlx::query_as!(
            ScimTokenRow,
            "SELECT token_id, name, secret_hash, create_time, revoke_time
             FROM scim_tokens WHERE token_id = ?1",
            id
        )
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
        row.map(ScimTokenRecord::try_from).transpose()
    }
}

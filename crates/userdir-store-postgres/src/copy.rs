//! `userdir copy` to and from PostgreSQL: pages of each table in key order, and pages written
//! with `ON CONFLICT DO NOTHING`; the counts behind the limits grow by the rows written, and the
//! audit sequence continues after the highest copied entry.

use async_trait::async_trait;
use userdir_core::store::StoreError;
use userdir_core::store::copy::{CopyStore, Records, Table, TokenRecord, rows_json};
use userdir_core::store::rows::{
    GroupRow, KeyRow, MembershipRow, PasswordRow, ScimGroupRow, ScimTokenRow,
    ScimUserAttributesRow, TokenRow, UserRecordRow, convert_all,
};

use super::audit::audit_page;
use super::counts::count_copied;
use super::{PostgresStore, db_error, is_unique_violation};

#[async_trait]
impl CopyStore for PostgresStore {
    async fn export(
        &self,
        table: Table,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Records, StoreError> {
        let after = after.unwrap_or("");
        let page_size = limit;
        let limit = i64::from(limit);
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        Ok(match table {
            Table::ServerKeys => Records::ServerKeys(convert_all(
                sqlx::query_as!(
                    KeyRow,
                    "SELECT purpose, key, create_time FROM server_keys WHERE purpose > $1
                     ORDER BY purpose LIMIT $2",
                    after,
                    limit,
                )
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?,
            )?),
            Table::Users => Records::Users(convert_all(
                sqlx::query_as!(
                    UserRecordRow,
                    "SELECT user_id, email, user_type, status, api_access, api_access_principal_arn,
                            first_name, last_name, create_time, last_enabled_time,
                            last_disabled_time, last_modified_time, last_login_time,
                            credential_generation
                     FROM users WHERE user_id > $1 ORDER BY user_id LIMIT $2",
                    after,
                    limit,
                )
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?,
            )?),
            Table::PermissionGroups => Records::PermissionGroups(convert_all(
                sqlx::query_as!(
                    GroupRow,
                    "SELECT permission_group_id, name, description, application_permissions,
                            create_time, last_modified_time
                     FROM permission_groups WHERE permission_group_id > $1
                     ORDER BY permission_group_id LIMIT $2",
                    after,
                    limit,
                )
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?,
            )?),
            Table::Memberships => {
                let (group, user) = after.split_once(' ').unwrap_or((after, ""));
                Records::Memberships(convert_all(
                    sqlx::query_as!(
                        MembershipRow,
                        "SELECT permission_group_id, user_id, membership_status, added_time
                         FROM permission_group_members
                         WHERE (permission_group_id, user_id) > ($1, $2)
                         ORDER BY permission_group_id, user_id LIMIT $3",
                        group,
                        user,
                        limit,
                    )
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_error)?,
                )?)
            }
            Table::Passwords => Records::Passwords(convert_all(
                sqlx::query_as!(
                    PasswordRow,
                    r#"SELECT user_id, password_hash, temporary, expires_at, set_time
                       FROM user_passwords WHERE user_id > $1 ORDER BY user_id LIMIT $2"#,
                    after,
                    limit,
                )
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?,
            )?),
            Table::IdempotencyTokens => {
                let (operation, token) = after.split_once('\u{0}').unwrap_or((after, ""));
                let rows = sqlx::query_as!(
                    TokenRow,
                    r#"SELECT operation, client_token, fingerprint, result, created_at, expires_at
                     FROM idempotency_tokens WHERE (operation COLLATE "C", client_token COLLATE "C") > ($1, $2)
                     ORDER BY operation COLLATE "C", client_token COLLATE "C" LIMIT $3"#,
                    operation,
                    token,
                    limit,
                )
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?;
                Records::IdempotencyTokens(rows.into_iter().map(TokenRecord::from).collect())
            }
            Table::AuditEvents => {
                let after = if after.is_empty() {
                    0
                } else {
                    after
                        .parse()
                        .map_err(|_| StoreError::internal("an audit page key is a number"))?
                };
                Records::AuditEvents(audit_page(&mut conn, after, page_size).await?)
            }
            Table::ScimTokens => Records::ScimTokens(convert_all(
                sqlx::query_as!(
                    ScimTokenRow,
                    r#"SELECT token_id, name, secret_hash, create_time, revoke_time
                     FROM scim_tokens WHERE token_id COLLATE "C" > $1
                     ORDER BY token_id COLLATE "C" LIMIT $2"#,
                    after,
                    limit,
                )
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?,
            )?),
            Table::ScimUsers => Records::ScimUsers(convert_all(
                sqlx::query_as!(
                    ScimUserAttributesRow,
                    "SELECT user_id, external_id, delete_time
                     FROM scim_users WHERE user_id > $1
                     ORDER BY user_id LIMIT $2",
                    after,
                    limit,
                )
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?,
            )?),
            Table::ScimGroups => Records::ScimGroups(convert_all(
                sqlx::query_as!(
                    ScimGroupRow,
                    "SELECT permission_group_id, external_id
                     FROM scim_groups WHERE permission_group_id > $1
                     ORDER BY permission_group_id LIMIT $2",
                    after,
                    limit,
                )
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?,
            )?),
        })
    }

    async fn absorb(&self, records: Records) -> Result<u64, StoreError> {
        let json = rows_json(&records);
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = match &records {
            Records::ServerKeys(keys) => {
                let mut new = 0;
                for key in keys {
                    new += sqlx::query!(
                        "INSERT INTO server_keys (purpose, key, create_time) VALUES ($1, $2, $3)
                         ON CONFLICT DO NOTHING",
                        key.purpose,
                        key.key.as_slice(),
                        key.create_time.as_millis(),
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                }
                tx.commit().await.map_err(db_error)?;
                return Ok(new);
            }
            Records::ScimTokens(tokens) => {
                let mut new = 0;
                for token in tokens {
                    new += sqlx::query!(
                        // A token there already takes on a revocation made on the source
                        // since; a name another token has is an error.
                        "INSERT INTO scim_tokens
                             (token_id, name, secret_hash, create_time, revoke_time)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (token_id) DO UPDATE SET revoke_time = excluded.revoke_time
                             WHERE scim_tokens.revoke_time IS NULL
                               AND excluded.revoke_time IS NOT NULL",
                        token.id,
                        token.name.as_str(),
                        token.secret_hash.as_slice(),
                        token.create_time.as_millis(),
                        token.revoke_time.map(|t| t.as_millis()),
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::ScimTokenNameTaken
                        } else {
                            db_error(e)
                        }
                    })?
                    .rows_affected();
                }
                tx.commit().await.map_err(db_error)?;
                return Ok(new);
            }
            Records::Users(_) => {
                sqlx::query!(
                    "INSERT INTO users (user_id, email, user_type, status, api_access,
                     api_access_principal_arn, first_name, last_name, create_time,
                     last_enabled_time, last_disabled_time, last_modified_time, last_login_time,
                     credential_generation)
                 SELECT r.user_id, r.email, r.user_type, r.status, r.api_access,
                        r.api_access_principal_arn, r.first_name, r.last_name, r.create_time,
                        r.last_enabled_time, r.last_disabled_time, r.last_modified_time,
                        r.last_login_time, r.credential_generation
                 FROM jsonb_to_recordset($1::TEXT::JSONB) AS r (
                     user_id TEXT, email TEXT, user_type TEXT, status TEXT, api_access TEXT,
                     api_access_principal_arn TEXT, first_name TEXT, last_name TEXT,
                     create_time BIGINT, last_enabled_time BIGINT, last_disabled_time BIGINT,
                     last_modified_time BIGINT, last_login_time BIGINT,
                     credential_generation BIGINT)
                 ON CONFLICT DO NOTHING",
                    json
                )
                .execute(&mut *tx)
                .await
            }
            Records::PermissionGroups(_) => {
                sqlx::query!(
                "INSERT INTO permission_groups (permission_group_id, name, name_key, description,
                     application_permissions, create_time, last_modified_time)
                 SELECT r.permission_group_id, r.name, r.name_key, r.description,
                        r.application_permissions, r.create_time, r.last_modified_time
                 FROM jsonb_to_recordset($1::TEXT::JSONB) AS r (
                     permission_group_id TEXT, name TEXT, name_key TEXT, description TEXT,
                     application_permissions TEXT, create_time BIGINT, last_modified_time BIGINT)
                 ON CONFLICT DO NOTHING",
                json
            )
                .execute(&mut *tx)
                .await
            }
            Records::Memberships(_) => {
                sqlx::query!(
                    "INSERT INTO permission_group_members (permission_group_id, user_id,
                     membership_status, added_time)
                 SELECT r.permission_group_id, r.user_id, r.membership_status, r.added_time
                 FROM jsonb_to_recordset($1::TEXT::JSONB) AS r (
                     permission_group_id TEXT, user_id TEXT, membership_status TEXT,
                     added_time BIGINT)
                 ON CONFLICT DO NOTHING",
                    json
                )
                .execute(&mut *tx)
                .await
            }
            Records::Passwords(_) => {
                sqlx::query!(
                    "INSERT INTO user_passwords (user_id, password_hash, temporary, expires_at,
                     set_time)
                 SELECT r.user_id, r.password_hash, r.temporary, r.expires_at, r.set_time
                 FROM jsonb_to_recordset($1::TEXT::JSONB) AS r (
                     user_id TEXT, password_hash TEXT, temporary BOOLEAN, expires_at BIGINT,
                     set_time BIGINT)
                 ON CONFLICT DO NOTHING",
                    json
                )
                .execute(&mut *tx)
                .await
            }
            Records::IdempotencyTokens(_) => {
                sqlx::query!(
                    "INSERT INTO idempotency_tokens (operation, client_token, fingerprint, result,
                     created_at, expires_at)
                 SELECT r.operation, r.client_token, r.fingerprint, r.result, r.created_at,
                        r.expires_at
                 FROM jsonb_to_recordset($1::TEXT::JSONB) AS r (
                     operation TEXT, client_token TEXT, fingerprint TEXT, result TEXT,
                     created_at BIGINT, expires_at BIGINT)
                 ON CONFLICT DO NOTHING",
                    json
                )
                .execute(&mut *tx)
                .await
            }
            Records::ScimUsers(_) => {
                sqlx::query!(
                    "INSERT INTO scim_users (user_id, external_id, delete_time)
                 SELECT r.user_id, r.external_id, r.delete_time
                 FROM jsonb_to_recordset($1::TEXT::JSONB) AS r (
                     user_id TEXT, external_id TEXT, delete_time BIGINT)
                 ON CONFLICT DO NOTHING",
                    json
                )
                .execute(&mut *tx)
                .await
            }
            Records::ScimGroups(_) => {
                sqlx::query!(
                    "INSERT INTO scim_groups (permission_group_id, external_id)
                 SELECT r.permission_group_id, r.external_id
                 FROM jsonb_to_recordset($1::TEXT::JSONB) AS r (
                     permission_group_id TEXT, external_id TEXT)
                 ON CONFLICT DO NOTHING",
                    json
                )
                .execute(&mut *tx)
                .await
            }
            Records::AuditEvents(_) => {
                sqlx::query!(
                    "INSERT INTO audit_events (seq, time, request_id, caller, operation, target,
                     outcome, detail)
                 OVERRIDING SYSTEM VALUE
                 SELECT r.seq, r.time, r.request_id, r.caller, r.operation, r.target, r.outcome,
                        r.detail
                 FROM jsonb_to_recordset($1::TEXT::JSONB) AS r (
                     seq BIGINT, time BIGINT, request_id TEXT, caller TEXT, operation TEXT,
                     target TEXT, outcome TEXT, detail TEXT)
                 ON CONFLICT DO NOTHING",
                    json
                )
                .execute(&mut *tx)
                .await
            }
        };
        let new = done.map_err(db_error)?.rows_affected();
        let added = i64::try_from(new).unwrap_or(i64::MAX);
        // Copied rows count toward the limits like created ones.
        match &records {
            Records::Users(_) => count_copied(&mut tx, "users", added).await?,
            Records::PermissionGroups(_) => {
                count_copied(&mut tx, "permission_groups", added).await?
            }
            Records::AuditEvents(_) => {
                // New entries continue after the highest copied one.
                sqlx::query_scalar!(
                    "SELECT setval(pg_get_serial_sequence('audit_events', 'seq'),
                                   GREATEST((SELECT max(seq) FROM audit_events), 1))"
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
            }
            _ => {}
        }
        tx.commit().await.map_err(db_error)?;
        Ok(new)
    }

    async fn count(&self, table: Table) -> Result<u64, StoreError> {
        let n = match table {
            Table::ServerKeys => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM server_keys"#)
                    .fetch_one(&self.pool)
                    .await
            }
            Table::Users => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM users"#)
                    .fetch_one(&self.pool)
                    .await
            }
            Table::PermissionGroups => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM permission_groups"#)
                    .fetch_one(&self.pool)
                    .await
            }
            Table::Memberships => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM permission_group_members"#)
                    .fetch_one(&self.pool)
                    .await
            }
            Table::Passwords => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM user_passwords"#)
                    .fetch_one(&self.pool)
                    .await
            }
            Table::IdempotencyTokens => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM idempotency_tokens"#)
                    .fetch_one(&self.pool)
                    .await
            }
            Table::AuditEvents => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM audit_events"#)
                    .fetch_one(&self.pool)
                    .await
            }
            Table::ScimTokens => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM scim_tokens"#)
                    .fetch_one(&self.pool)
                    .await
            }
            Table::ScimUsers => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM scim_users"#)
                    .fetch_one(&self.pool)
                    .await
            }
            Table::ScimGroups => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM scim_groups"#)
                    .fetch_one(&self.pool)
                    .await
            }
        }
        .map_err(db_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

//! `userdir copy` to and from SQLite: pages of each table in key order, and pages written with
//! `ON CONFLICT DO NOTHING` (the triggers keep the counts behind the limits).

use async_trait::async_trait;
use userdir_core::store::StoreError;
use userdir_core::store::copy::{CopyStore, Records, Table, TokenRecord, rows_json};
use userdir_core::store::rows::{
    GroupRow, KeyRow, MembershipRow, PasswordRow, ScimGroupRow, ScimTokenRow,
    ScimUserAttributesRow, TokenRow, UserRecordRow, convert_all,
};

use super::audit::audit_page;
use super::writer::Isolation;
use super::{SqliteStore, db_error, is_unique_violation};

#[async_trait]
impl CopyStore for SqliteStore {
    async fn export(
        &self,
        table: Table,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Records, StoreError> {
        let after = after.unwrap_or("");
        let page_size = limit;
        let mut conn = self.reader.acquire().await.map_err(db_error)?;
        Ok(match table {
            Table::ServerKeys => Records::ServerKeys(convert_all(
                sqlx::query_as!(
                    KeyRow,
                    "SELECT purpose, key, create_time FROM server_keys WHERE purpose > ?1
                     ORDER BY purpose LIMIT CAST(?2 AS INTEGER)",
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
                     FROM users WHERE user_id > ?1 ORDER BY user_id LIMIT CAST(?2 AS INTEGER)",
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
                     FROM permission_groups WHERE permission_group_id > ?1
                     ORDER BY permission_group_id LIMIT CAST(?2 AS INTEGER)",
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
                         WHERE (permission_group_id, user_id) > (?1, ?2)
                         ORDER BY permission_group_id, user_id LIMIT CAST(?3 AS INTEGER)",
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
                    r#"SELECT user_id, password_hash, temporary AS "temporary: bool", expires_at, set_time
                       FROM user_passwords WHERE user_id > ?1 ORDER BY user_id LIMIT CAST(?2 AS INTEGER)"#,
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
                     FROM idempotency_tokens WHERE (operation, client_token) > (?1, ?2)
                     ORDER BY operation, client_token LIMIT CAST(?3 AS INTEGER)"#,
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
                    "SELECT token_id, name, secret_hash, create_time, revoke_time
                     FROM scim_tokens WHERE token_id > ?1
                     ORDER BY token_id LIMIT CAST(?2 AS INTEGER)",
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
                     FROM scim_users WHERE user_id > ?1
                     ORDER BY user_id LIMIT CAST(?2 AS INTEGER)",
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
                     FROM scim_groups WHERE permission_group_id > ?1
                     ORDER BY permission_group_id LIMIT CAST(?2 AS INTEGER)",
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
        self.writer
            .write(Isolation::Savepoint, None, move |tx, _| {
                Box::pin(async move {
                    let done = match records {
                        Records::ServerKeys(keys) => {
                            let mut new = 0;
                            for key in keys {
                                let bytes = key.key.as_slice();
                                let millis = key.create_time.as_millis();
                                new += sqlx::query!(
                                    "INSERT INTO server_keys (purpose, key, create_time)
                                     VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                                    key.purpose,
                                    bytes,
                                    millis,
                                )
                                .execute(&mut *tx)
                                .await
                                .map_err(db_error)?
                                .rows_affected();
                            }
                            return Ok(new);
                        }
                        Records::ScimTokens(tokens) => {
                            let mut new = 0;
                            for token in tokens {
                                let hash = token.secret_hash.as_slice();
                                let created = token.create_time.as_millis();
                                let revoked = token.revoke_time.map(|t| t.as_millis());
                                new += sqlx::query!(
                                    // A token there already takes on a revocation made on
                                    // the source since; a name another token has is an error.
                                    "INSERT INTO scim_tokens
                                         (token_id, name, secret_hash, create_time, revoke_time)
                                     VALUES (?1, ?2, ?3, ?4, ?5)
                                     ON CONFLICT (token_id) DO UPDATE
                                         SET revoke_time = excluded.revoke_time
                                         WHERE scim_tokens.revoke_time IS NULL
                                           AND excluded.revoke_time IS NOT NULL",
                                    token.id,
                                    token.name.as_str(),
                                    hash,
                                    created,
                                    revoked,
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
                            return Ok(new);
                        }
                        Records::Users(_) => {
                            sqlx::query!(
                                "INSERT INTO users (user_id, email, user_type, status, api_access,
                                 api_access_principal_arn, first_name, last_name, create_time,
                                 last_enabled_time, last_disabled_time, last_modified_time,
                                 last_login_time, credential_generation)
                             SELECT value ->> '$.user_id', value ->> '$.email',
                                    value ->> '$.user_type', value ->> '$.status',
                                    value ->> '$.api_access',
                                    value ->> '$.api_access_principal_arn',
                                    value ->> '$.first_name', value ->> '$.last_name',
                                    value ->> '$.create_time', value ->> '$.last_enabled_time',
                                    value ->> '$.last_disabled_time',
                                    value ->> '$.last_modified_time',
                                    value ->> '$.last_login_time',
                                    value ->> '$.credential_generation'
                             FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING",
                                json
                            )
                            .execute(&mut *tx)
                            .await
                        }
                        Records::PermissionGroups(_) => {
                            sqlx::query!(
                            "INSERT INTO permission_groups (permission_group_id, name, name_key,
                                 description, application_permissions, create_time,
                                 last_modified_time)
                             SELECT value ->> '$.permission_group_id', value ->> '$.name',
                                    value ->> '$.name_key', value ->> '$.description',
                                    value ->> '$.application_permissions',
                                    value ->> '$.create_time', value ->> '$.last_modified_time'
                             FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING",
                            json
                        )
                            .execute(&mut *tx)
                            .await
                        }
                        Records::Memberships(_) => {
                            sqlx::query!(
                            "INSERT INTO permission_group_members (permission_group_id, user_id,
                                 membership_status, added_time)
                             SELECT value ->> '$.permission_group_id', value ->> '$.user_id',
                                    value ->> '$.membership_status', value ->> '$.added_time'
                             FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING",
                            json
                        )
                            .execute(&mut *tx)
                            .await
                        }
                        Records::Passwords(_) => {
                            sqlx::query!(
                                "INSERT INTO user_passwords (user_id, password_hash, temporary,
                                 expires_at, set_time)
                             SELECT value ->> '$.user_id', value ->> '$.password_hash',
                                    value ->> '$.temporary', value ->> '$.expires_at',
                                    value ->> '$.set_time'
                             FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING",
                                json
                            )
                            .execute(&mut *tx)
                            .await
                        }
                        Records::IdempotencyTokens(_) => {
                            sqlx::query!(
                                "INSERT INTO idempotency_tokens (operation, client_token,
                                 fingerprint, result, created_at, expires_at)
                             SELECT value ->> '$.operation', value ->> '$.client_token',
                                    value ->> '$.fingerprint', value ->> '$.result',
                                    value ->> '$.created_at', value ->> '$.expires_at'
                             FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING",
                                json
                            )
                            .execute(&mut *tx)
                            .await
                        }
                        Records::ScimUsers(_) => {
                            sqlx::query!(
                                "INSERT INTO scim_users (user_id, external_id, delete_time)
                             SELECT value ->> '$.user_id', value ->> '$.external_id',
                                    value ->> '$.delete_time'
                             FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING",
                                json
                            )
                            .execute(&mut *tx)
                            .await
                        }
                        Records::ScimGroups(_) => {
                            sqlx::query!(
                                "INSERT INTO scim_groups (permission_group_id, external_id)
                             SELECT value ->> '$.permission_group_id', value ->> '$.external_id'
                             FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING",
                                json
                            )
                            .execute(&mut *tx)
                            .await
                        }
                        Records::AuditEvents(_) => {
                            sqlx::query!(
                            "INSERT INTO audit_events (seq, time, request_id, caller, operation,
                                 target, outcome, detail)
                             SELECT value ->> '$.seq', value ->> '$.time',
                                    value ->> '$.request_id', value ->> '$.caller',
                                    value ->> '$.operation', value ->> '$.target',
                                    value ->> '$.outcome', value ->> '$.detail'
                             FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING",
                            json
                        )
                            .execute(&mut *tx)
                            .await
                        }
                    };
                    Ok(done.map_err(db_error)?.rows_affected())
                })
            })
            .await
    }

    async fn count(&self, table: Table) -> Result<u64, StoreError> {
        let n = match table {
            Table::ServerKeys => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM server_keys"#)
                    .fetch_one(&self.reader)
                    .await
            }
            Table::Users => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM users"#)
                    .fetch_one(&self.reader)
                    .await
            }
            Table::PermissionGroups => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM permission_groups"#)
                    .fetch_one(&self.reader)
                    .await
            }
            Table::Memberships => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM permission_group_members"#)
                    .fetch_one(&self.reader)
                    .await
            }
            Table::Passwords => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM user_passwords"#)
                    .fetch_one(&self.reader)
                    .await
            }
            Table::IdempotencyTokens => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM idempotency_tokens"#)
                    .fetch_one(&self.reader)
                    .await
            }
            Table::AuditEvents => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM audit_events"#)
                    .fetch_one(&self.reader)
                    .await
            }
            Table::ScimTokens => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM scim_tokens"#)
                    .fetch_one(&self.reader)
                    .await
            }
            Table::ScimUsers => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM scim_users"#)
                    .fetch_one(&self.reader)
                    .await
            }
            Table::ScimGroups => {
                sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM scim_groups"#)
                    .fetch_one(&self.reader)
                    .await
            }
        }
        .map_err(db_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

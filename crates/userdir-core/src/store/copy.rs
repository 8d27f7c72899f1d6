//! A whole directory moved from one backend to another (`userdir copy`): every table, row for
//! row, in pages. Writing keeps what the target has already, so a copy that stopped halfway is
//! finished by running it again.

use async_trait::async_trait;

use super::{AuditEvent, ScimTokenRecord, StoreError};
use crate::domain::{
    ExternalId, MembershipStatus, PermissionGroup, PermissionGroupId, Timestamp, User, UserId,
};

/// The tables, in the order a copy writes them (a row's references come before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    ServerKeys,
    Users,
    PermissionGroups,
    Memberships,
    Passwords,
    IdempotencyTokens,
    AuditEvents,
    ScimTokens,
    ScimUsers,
    ScimGroups,
}

impl Table {
    pub const ALL: [Table; 10] = [
        Table::ServerKeys,
        Table::Users,
        Table::PermissionGroups,
        Table::Memberships,
        Table::Passwords,
        Table::IdempotencyTokens,
        Table::AuditEvents,
        Table::ScimTokens,
        Table::ScimUsers,
        Table::ScimGroups,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::ServerKeys => "server_keys",
            Table::Users => "users",
            Table::PermissionGroups => "permission_groups",
            Table::Memberships => "permission_group_members",
            Table::Passwords => "user_passwords",
            Table::IdempotencyTokens => "idempotency_tokens",
            Table::AuditEvents => "audit_events",
            Table::ScimTokens => "scim_tokens",
            Table::ScimUsers => "scim_users",
            Table::ScimGroups => "scim_groups",
        }
    }
}

/// A user with what only the store keeps of it.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: User,
    pub credential_generation: i64,
}

#[derive(Debug, Clone)]
pub struct MembershipRecord {
    pub group: PermissionGroupId,
    pub user: UserId,
    pub status: MembershipStatus,
    pub added_time: Timestamp,
}

/// A password as stored: its argon2id hash, never the password.
#[derive(Debug, Clone)]
pub struct PasswordRecord {
    pub user: UserId,
    pub hash: String,
    pub temporary: bool,
    pub expires_at: Option<Timestamp>,
    pub set_time: Timestamp,
}

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub operation: String,
    pub client_token: String,
    pub fingerprint: String,
    pub result: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Clone)]
pub struct KeyRecord {
    pub purpose: String,
    pub key: [u8; 32],
    pub create_time: Timestamp,
}

/// The key itself never reaches a log.
impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("purpose", &self.purpose)
            .field("create_time", &self.create_time)
            .finish_non_exhaustive()
    }
}

/// What SCIM keeps beside a user.
#[derive(Debug, Clone)]
pub struct ScimUserRecord {
    pub user: UserId,
    pub external_id: Option<ExternalId>,
    pub delete_time: Option<Timestamp>,
}

/// What SCIM keeps beside a permission group.
#[derive(Debug, Clone)]
pub struct ScimGroupRecord {
    pub group: PermissionGroupId,
    pub external_id: ExternalId,
}

/// One page of one table's rows.
#[derive(Debug, Clone)]
pub enum Records {
    ServerKeys(Vec<KeyRecord>),
    Users(Vec<UserRecord>),
    PermissionGroups(Vec<PermissionGroup>),
    Memberships(Vec<MembershipRecord>),
    Passwords(Vec<PasswordRecord>),
    IdempotencyTokens(Vec<TokenRecord>),
    AuditEvents(Vec<AuditEvent>),
    ScimTokens(Vec<ScimTokenRecord>),
    ScimUsers(Vec<ScimUserRecord>),
    ScimGroups(Vec<ScimGroupRecord>),
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Records::ServerKeys(rows) => rows.len(),
            Records::Users(rows) => rows.len(),
            Records::PermissionGroups(rows) => rows.len(),
            Records::Memberships(rows) => rows.len(),
            Records::Passwords(rows) => rows.len(),
            Records::IdempotencyTokens(rows) => rows.len(),
            Records::AuditEvents(rows) => rows.len(),
            Records::ScimTokens(rows) => rows.len(),
            Records::ScimUsers(rows) => rows.len(),
            Records::ScimGroups(rows) => rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key of the page's last row: where the next page starts (keys order the pages).
    pub fn last_key(&self) -> Option<String> {
        match self {
            Records::ServerKeys(rows) => rows.last().map(|r| r.purpose.clone()),
            Records::Users(rows) => rows.last().map(|r| r.user.id.as_str().to_owned()),
            Records::PermissionGroups(rows) => rows.last().map(|r| r.id.as_str().to_owned()),
            Records::Memberships(rows) => rows
                .last()
                .map(|r| membership_key(r.group.as_str(), r.user.as_str())),
            Records::Passwords(rows) => rows.last().map(|r| r.user.as_str().to_owned()),
            Records::IdempotencyTokens(rows) => rows
                .last()
                .map(|r| token_key(&r.operation, &r.client_token)),
            Records::AuditEvents(rows) => rows.last().map(|r| format!("{:020}", r.seq)),
            Records::ScimTokens(rows) => rows.last().map(|r| r.id.clone()),
            Records::ScimUsers(rows) => rows.last().map(|r| r.user.as_str().to_owned()),
            Records::ScimGroups(rows) => rows.last().map(|r| r.group.as_str().to_owned()),
        }
    }
}

/// The paging key of a membership: ids are ASCII alphanumerics, so a space sorts before any.
pub fn membership_key(group: &str, user: &str) -> String {
    format!("{group} {user}")
}

/// The paging key of a token: the operation (letters only) and the token after a NUL, which
/// sorts before any character of either.
pub fn token_key(operation: &str, token: &str) -> String {
    format!("{operation}\u{0}{token}")
}

/// What a backend offers `userdir copy`, as a source and as a target.
#[async_trait]
pub trait CopyStore: Send + Sync + 'static {
    /// Up to `limit` rows of `table` whose key comes after `after` (from the first if `None`),
    /// in key order.
    async fn export(
        &self,
        table: Table,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Records, StoreError>;

    /// Writes `records` in one transaction, leaving rows the target has already as they are;
    /// returns how many were new. Counts behind the limits follow (no limit is applied: the
    /// source held these rows).
    async fn absorb(&self, records: Records) -> Result<u64, StoreError>;

    /// How many rows `table` holds.
    async fn count(&self, table: Table) -> Result<u64, StoreError>;
}

/// Rows (all but server keys and SCIM tokens, whose bytes are bound one by one) as a JSON array of objects named
/// by their columns, for a backend to unpack in one statement.
pub fn rows_json(records: &Records) -> String {
    use serde_json::json;
    let ms = |t: Option<Timestamp>| t.map(Timestamp::as_millis);
    let rows: Vec<serde_json::Value> = match records {
        Records::ServerKeys(_) | Records::ScimTokens(_) => Vec::new(),
        Records::Users(rows) => rows
            .iter()
            .map(|r| {
                let u = &r.user;
                json!({
                    "user_id": u.id.as_str(),
                    "email": u.email.as_str(),
                    "user_type": u.user_type.as_str(),
                    "status": u.status.as_str(),
                    "api_access": u.api_access.as_str(),
                    "api_access_principal_arn": u.api_access_principal_arn.as_ref().map(|a| a.as_str()),
                    "first_name": u.first_name.as_ref().map(|n| n.as_str()),
                    "last_name": u.last_name.as_ref().map(|n| n.as_str()),
                    "create_time": u.create_time.as_millis(),
                    "last_enabled_time": ms(u.last_enabled_time),
                    "last_disabled_time": ms(u.last_disabled_time),
                    "last_modified_time": u.last_modified_time.as_millis(),
                    "last_login_time": ms(u.last_login_time),
                    "credential_generation": r.credential_generation,
                })
            })
            .collect(),
        Records::PermissionGroups(rows) => rows
            .iter()
            .map(|g| {
                json!({
                    "permission_group_id": g.id.as_str(),
                    "name": g.name.as_str(),
                    "name_key": g.name.unique_key(),
                    "description": g.description.as_ref().map(|d| d.as_str()),
                    "application_permissions": g.application_permissions.to_stored(),
                    "create_time": g.create_time.as_millis(),
                    "last_modified_time": g.last_modified_time.as_millis(),
                })
            })
            .collect(),
        Records::Memberships(rows) => rows
            .iter()
            .map(|m| {
                json!({
                    "permission_group_id": m.group.as_str(),
                    "user_id": m.user.as_str(),
                    "membership_status": m.status.as_str(),
                    "added_time": m.added_time.as_millis(),
                })
            })
            .collect(),
        Records::Passwords(rows) => rows
            .iter()
            .map(|p| {
                json!({
                    "user_id": p.user.as_str(),
                    "password_hash": p.hash,
                    "temporary": p.temporary,
                    "expires_at": ms(p.expires_at),
                    "set_time": p.set_time.as_millis(),
                })
            })
            .collect(),
        Records::IdempotencyTokens(rows) => rows
            .iter()
            .map(|t| {
                json!({
                    "operation": t.operation,
                    "client_token": t.client_token,
                    "fingerprint": t.fingerprint,
                    "result": t.result,
                    "created_at": t.created_at.as_millis(),
                    "expires_at": t.expires_at.as_millis(),
                })
            })
            .collect(),
        Records::AuditEvents(rows) => rows
            .iter()
            .map(|e| {
                json!({
                    "seq": e.seq,
                    "time": e.record.time.as_millis(),
                    "request_id": e.record.request_id,
                    "caller": e.record.caller,
                    "operation": e.record.operation,
                    "target": e.record.target,
                    "outcome": e.outcome,
                    "detail": e.record.detail,
                })
            })
            .collect(),
        Records::ScimUsers(rows) => rows
            .iter()
            .map(|r| {
                json!({
                    "user_id": r.user.as_str(),
                    "external_id": r.external_id.as_ref().map(|e| e.as_str()),
                    "delete_time": ms(r.delete_time),
                })
            })
            .collect(),
        Records::ScimGroups(rows) => rows
            .iter()
            .map(|r| {
                json!({
                    "permission_group_id": r.group.as_str(),
                    "external_id": r.external_id.as_str(),
                })
            })
            .collect(),
    };
    serde_json::Value::Array(rows).to_string()
}

//! Persistence behind traits, so that the service never sees SQL: a backend crate
//! (`userdir-store-sqlite`, …) implements them, and the binary picks one.

mod cache;
pub mod copy;
mod lookups;
pub mod rows;
mod scim;

use std::sync::Arc;

use async_trait::async_trait;

pub use cache::UserCache;
pub use lookups::Lookups;
pub use scim::{
    MemberChanges, ScimGroup, ScimGroupState, ScimStore, ScimUser, ScimUserChange, ScimUserState,
    ScimWritePlan,
};

use crate::domain::{
    ApiAccess, ApplicationPermissions, ClientToken, Email, MembershipStatus, PermissionGroup,
    PermissionGroupChanges, PermissionGroupId, PermissionGroupName, RoleArn, ScimTokenName,
    StatusChange, Timestamp, User, UserChanges, UserId, UserStatus, UserType,
};

/// What a store answers besides success: the domain's outcomes, and two opaque failures whose
/// detail is the backend's, kept for the log. No backend type appears here.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such {0:?}")]
    NotFound(Resource),
    #[error("the email address is already registered")]
    EmailTaken,
    /// A user id given to an import is taken.
    #[error("the user id is already taken")]
    IdTaken,
    #[error("the permission group name is taken")]
    GroupNameTaken,
    #[error("a SCIM token of that name exists")]
    ScimTokenNameTaken,
    #[error("the user is {0:?}, which forbids this change")]
    ForbiddenInStatus(UserStatus),
    #[error("the user is already a member of the group")]
    AlreadyMember,
    #[error("the user is not a member of the group")]
    NotMember,
    /// The resource changed since the version a write was computed from.
    #[error("the resource changed meanwhile")]
    Changed,
    #[error("the password was changed meanwhile")]
    PasswordChanged,
    #[error("the limit of {0} is reached")]
    LimitExceeded(u64),
    #[error("the idempotency token was used before with different parameters")]
    TokenMismatch,
    /// A command was pointed at a database that is not there.
    #[error(transparent)]
    NoDatabase(#[from] NoDatabase),
    /// Another process holds the database (a backend that allows one process at a time).
    #[error("{0}")]
    InUse(String),
    /// The database's files could not be used (permissions, a full or read-only filesystem).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The store cannot serve the call for now (its disk is full, it is closing, it cannot be
    /// reached); nothing of the call took effect, and a later one may succeed.
    #[error("the store is unavailable: {0}")]
    Unavailable(BackendError),
    /// The store aborted the call for a concurrent one (a deadlock, a serialization failure);
    /// nothing of it took effect, and the same call again may succeed. Backends that can meet it
    /// try again a few times before they answer it.
    #[error("the store aborted the call for a concurrent one: {0}")]
    Contended(BackendError),
    /// The store failed for a reason no caller can fix (or holds data it cannot read).
    #[error("the store failed: {0}")]
    Internal(BackendError),
}

/// A backend's failure, opaque above the store: its message with every cause, for the log.
#[derive(Debug, Clone)]
pub struct BackendError(Arc<str>);

impl BackendError {
    pub fn new(detail: impl std::fmt::Display) -> Self {
        Self(detail.to_string().into())
    }

    /// The error and its causes, as one line.
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> Self {
        Self(crate::report::error_chain(error).into())
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StoreError {
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(BackendError::new(detail))
    }

    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        Self::Unavailable(BackendError::new(detail))
    }
}

/// A command was pointed at a database that is not there.
#[derive(Debug, thiserror::Error)]
#[error(
    "no database at {path}: set database.path (USERDIR__DATABASE__PATH) or --config to point at \
     the right one{hint}"
)]
pub struct NoDatabase {
    pub path: std::path::PathBuf,
    pub hint: &'static str,
}

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied now, in order.
    pub applied: Vec<i64>,
    /// The newest version the database is at afterwards.
    pub now_at: Option<i64>,
}

/// What a `NotFound` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    User,
    PermissionGroup,
    ScimToken,
}

/// A user's password as stored (an argon2id PHC string), with the user's status.
#[derive(Debug, Clone)]
pub struct StoredPassword {
    pub user_id: UserId,
    pub status: UserStatus,
    pub hash: String,
    pub temporary: bool,
    pub expires_at: Option<Timestamp>,
}

/// A write's claim on an idempotency token, checked and recorded in the same transaction as the
/// write itself, so that concurrent calls with one token cannot both take effect.
#[derive(Debug, Clone)]
pub struct TokenClaim {
    pub operation: &'static str,
    pub token: ClientToken,
    /// Hash of the request's parameters: a reuse with other parameters is refused.
    pub fingerprint: String,
    pub now: Timestamp,
    pub expires_at: Timestamp,
}

/// What the audit trail records of a call (never a secret or a password).
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub time: Timestamp,
    pub request_id: String,
    pub caller: String,
    pub operation: String,
    pub target: Option<String>,
    /// Written by the server, never taken from request input (e.g. issued credentials' expiry).
    pub detail: Option<String>,
}

/// An audit-trail entry as stored.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub seq: i64,
    pub record: AuditRecord,
    pub outcome: String,
}

/// Everything a write carries besides its data: the idempotency claim it is made under, if any,
/// and the audit record written in the same transaction as its effect.
#[derive(Debug, Clone)]
pub struct WriteContext {
    pub claim: Option<TokenClaim>,
    pub audit: AuditRecord,
}

/// How a write went: carried out now, or answered from an earlier call with the same token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written<T> {
    Applied(T),
    Replayed(T),
}

impl<T> Written<T> {
    pub fn into_inner(self) -> T {
        match self {
            Written::Applied(value) | Written::Replayed(value) => value,
        }
    }
}

/// Users by status (metrics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatusCounts {
    pub creating: u64,
    pub enabled: u64,
    pub disabled: u64,
}

impl StatusCounts {
    /// From the total and the two rarer statuses (ENABLED is the rest).
    pub fn from_total(total: i64, creating: i64, disabled: i64) -> Self {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Self {
            creating: count(creating),
            disabled: count(disabled),
            enabled: count(total - creating - disabled),
        }
    }
}

/// A connection pool's figures (metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// Which pool: "read", "write" (SQLite) or "main" (PostgreSQL).
    pub name: &'static str,
    /// Connections open, idle among them, and the most it opens.
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// Told of every write transaction committed: a group commit of `writes` writes on SQLite; on
/// PostgreSQL the creates made together, else one write. Called on the write path, so it must be
/// cheap.
pub trait CommitObserver: Send + Sync + 'static {
    fn committed(&self, writes: usize, took: std::time::Duration);
}

/// Where a store keeps its commit observer: set once, after the store is opened.
#[derive(Default)]
pub struct CommitWatch(std::sync::OnceLock<Arc<dyn CommitObserver>>);

impl CommitWatch {
    /// The first observer set stays (a store is observed by the one server that opened it).
    pub fn set(&self, observer: Arc<dyn CommitObserver>) {
        let _ = self.0.set(observer);
    }

    pub fn committed(&self, writes: usize, took: std::time::Duration) {
        if let Some(observer) = self.0.get() {
            observer.committed(writes, took);
        }
    }
}

impl std::fmt::Debug for CommitWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitWatch")
            .field("observed", &self.0.get().is_some())
            .finish()
    }
}

#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Stores a new user; `EmailTaken` if another user has the address in any case,
    /// `LimitExceeded` if `max_users` exist already.
    async fn insert_user(
        &self,
        user: &User,
        max_users: u64,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError>;

    /// Stores `users` as they are (ids, statuses and times included) in one transaction with
    /// `audit`: all of them, or none if an email or id is taken (`EmailTaken`, `IdTaken`) or
    /// more than `max_users` would exist. The bulk-load path of `userdir import` and of seeding.
    async fn import_users(
        &self,
        users: Vec<User>,
        max_users: u64,
        audit: &AuditRecord,
    ) -> Result<u64, StoreError>;

    /// Shared, since a store may hand out the same user to many readers (from a cache).
    async fn get_user(&self, id: &UserId) -> Result<Option<Arc<User>>, StoreError>;

    /// Applies the given changes and moves lastModifiedTime; `NotFound` if there is no such user.
    async fn update_user(
        &self,
        id: &UserId,
        changes: &UserChanges,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError>;

    /// Promotes every user CREATING since `created_by` or earlier to ENABLED; returns how many.
    async fn activate_users(
        &self,
        created_by: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError>;

    /// The creation time of the oldest user still CREATING, if any.
    async fn oldest_creating(&self) -> Result<Option<Timestamp>, StoreError>;

    /// How many idempotency tokens are kept (live, or expired and not yet purged).
    async fn stored_tokens(&self) -> Result<u64, StoreError>;

    /// Forgets idempotency tokens whose lifetime is over; returns how many.
    async fn purge_expired_tokens(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Proves the database answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Up to `limit` users with ids after `after`, in id order (keyset pagination).
    async fn list_users(&self, after: Option<&UserId>, limit: u32)
    -> Result<Vec<User>, StoreError>;

    /// Enables or disables a user as `UserStatus::after` allows; a refused transition is
    /// `ForbiddenInStatus` with the current status.
    async fn change_status(
        &self,
        id: &UserId,
        change: StatusChange,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError>;

    /// What authorization needs to know of a calling user: its type, status, API access and the
    /// union of its groups' permissions.
    async fn caller_profile(&self, id: &UserId) -> Result<Option<CallerProfile>, StoreError>;

    /// The users whose apiAccessPrincipalArn is `arn` (at most `limit`).
    async fn users_of_principal(
        &self,
        arn: &RoleArn,
        limit: u32,
    ) -> Result<Vec<UserId>, StoreError>;

    /// Where the lifecycle task learns that users were created, by this process or (on a shared
    /// backend) by another.
    fn creations(&self) -> Arc<dyn Creations>;

    /// The key stored for `purpose`; `fresh` is stored first if there is none yet.
    async fn server_key(&self, purpose: &str, fresh: [u8; 32]) -> Result<[u8; 32], StoreError>;

    /// How the GetUser cache is doing, for a store that keeps one.
    fn cache_stats(&self) -> Option<CacheStats> {
        None
    }

    /// Users by status, cheaply (a kept count and indexes on the rarer statuses, not a scan).
    async fn users_by_status(&self) -> Result<StatusCounts, StoreError>;

    /// The store's connection pools.
    fn pool_stats(&self) -> Vec<PoolStats>;

    /// From now on, tells `observer` of every write transaction committed.
    fn observe_commits(&self, observer: Arc<dyn CommitObserver>);
}

/// Wakes the lifecycle task when users may have been created. A backend served by one process
/// (SQLite) signals its own inserts; a shared one must also hear other processes' (PostgreSQL:
/// LISTEN/NOTIFY), and the task scans on a timer besides.
#[async_trait]
pub trait Creations: Send + Sync + 'static {
    /// Returns once a user was created since the last call (at once if one was meanwhile).
    async fn created(&self);
}

/// Creations signalled within this process.
#[derive(Debug, Default)]
pub struct LocalCreations(tokio::sync::Notify);

impl LocalCreations {
    pub fn signal(&self) {
        // One stored permit: creations while nobody waits wake the next wait once.
        self.0.notify_one();
    }
}

#[async_trait]
impl Creations for LocalCreations {
    async fn created(&self) {
        self.0.notified().await;
    }
}

/// The GetUser cache's size and its hits and misses since the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub capacity: usize,
    pub hits: u64,
    pub misses: u64,
}

/// The facts about a user that decide what it may do.
#[derive(Debug, Clone)]
pub struct CallerProfile {
    pub user_type: UserType,
    pub status: UserStatus,
    pub api_access: ApiAccess,
    pub permissions: ApplicationPermissions,
    /// Moves on when the user is disabled, loses API access or changes principal; temporary
    /// credentials issued under an earlier generation are refused.
    pub credential_generation: i64,
}

#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends a record of a call that had no effect (refused, failed, or not authenticated).
    async fn append_audit(&self, record: &AuditRecord, outcome: &str) -> Result<(), StoreError>;

    /// Deletes up to `limit` of the oldest entries made before `before`; returns how many.
    async fn prune_audit(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError>;

    /// Up to `limit` entries after sequence number `after`, oldest first.
    async fn list_audit(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
}

#[async_trait]
pub trait CredentialStore: Send + Sync + 'static {
    /// Replaces the user's password with a temporary one (refused for a DISABLED user). The claim
    /// records `seed`, from which a replay regenerates the same password; a replay answers the
    /// seed recorded first.
    async fn set_temporary_password(
        &self,
        id: &UserId,
        hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
        seed: &str,
        ctx: &WriteContext,
    ) -> Result<Written<String>, StoreError>;

    /// The password of the user registered with `email` (in any case), if both exist.
    async fn password_for(&self, email: &Email) -> Result<Option<StoredPassword>, StoreError>;

    /// Records a successful sign-in.
    async fn record_sign_in(&self, id: &UserId, ctx: &WriteContext) -> Result<(), StoreError>;

    /// Replaces the password whose hash is `current_hash` with a permanent one and records the
    /// sign-in; `PasswordChanged` if it was replaced meanwhile (a temporary password works once).
    async fn replace_password(
        &self,
        id: &UserId,
        current_hash: &str,
        new_hash: &str,
        ctx: &WriteContext,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait GroupStore: Send + Sync + 'static {
    /// Stores a new group; `GroupNameTaken` if another group has the name in any case.
    async fn insert_group(
        &self,
        group: &PermissionGroup,
        max_groups: u64,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError>;

    async fn get_group(
        &self,
        id: &PermissionGroupId,
    ) -> Result<Option<PermissionGroup>, StoreError>;

    async fn update_group(
        &self,
        id: &PermissionGroupId,
        changes: &PermissionGroupChanges,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError>;

    /// Deletes the group and its memberships in one transaction.
    async fn delete_group(
        &self,
        id: &PermissionGroupId,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError>;

    async fn list_groups(
        &self,
        after: Option<&PermissionGroupId>,
        limit: u32,
    ) -> Result<Vec<PermissionGroup>, StoreError>;

    async fn add_member(
        &self,
        group: &PermissionGroupId,
        user: &UserId,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError>;

    async fn remove_member(
        &self,
        group: &PermissionGroupId,
        user: &UserId,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError>;

    /// The user's groups after `after`, in id order; `NotFound(User)` if there is no such user.
    async fn groups_of_user(
        &self,
        user: &UserId,
        after: Option<&PermissionGroupId>,
        limit: u32,
    ) -> Result<Vec<(PermissionGroupId, PermissionGroupName, MembershipStatus)>, StoreError>;

    /// The group's members after `after`, in id order; `NotFound(PermissionGroup)` if there is no
    /// such group.
    async fn members_of_group(
        &self,
        group: &PermissionGroupId,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<Vec<(User, MembershipStatus)>, StoreError>;
}

/// A SCIM client's token as stored: its secret never, only the secret's hash.
#[derive(Clone, PartialEq, Eq)]
pub struct ScimTokenRecord {
    pub id: String,
    pub name: ScimTokenName,
    pub secret_hash: [u8; 32],
    pub create_time: Timestamp,
    pub revoke_time: Option<Timestamp>,
}

impl std::fmt::Debug for ScimTokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimTokenRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("create_time", &self.create_time)
            .field("revoke_time", &self.revoke_time)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait ScimTokenStore: Send + Sync + 'static {
    /// Stores a new token, audited; `ScimTokenNameTaken` if another has its name (in any case).
    async fn insert_scim_token(
        &self,
        token: &ScimTokenRecord,
        ctx: &WriteContext,
    ) -> Result<(), StoreError>;

    /// Revokes the live token of that name (in any case) at the audit record's time, audited;
    /// `NotFound(ScimToken)` if there is none.
    async fn revoke_scim_token(
        &self,
        name: &ScimTokenName,
        ctx: &WriteContext,
    ) -> Result<(), StoreError>;

    /// Every token, live or revoked, oldest first.
    async fn list_scim_tokens(&self) -> Result<Vec<ScimTokenRecord>, StoreError>;

    /// The token with this id, revoked or not.
    async fn scim_token(&self, id: &str) -> Result<Option<ScimTokenRecord>, StoreError>;
}

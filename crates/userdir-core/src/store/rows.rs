//! Stored rows into domain values, for every backend: a value the model would refuse is reported
//! as corrupt data, never passed on.

use crate::domain::{
    ApiAccess, ApplicationPermissions, Email, ExternalId, FirstName, LastName, MembershipStatus,
    PermissionGroup, PermissionGroupDescription, PermissionGroupId, PermissionGroupName, RoleArn,
    ScimTokenName, Timestamp, User, UserId, UserStatus, UserType, Violation,
};
use crate::store::copy::{
    KeyRecord, MembershipRecord, PasswordRecord, ScimGroupRecord, ScimUserRecord, TokenRecord,
    UserRecord,
};
use crate::store::{
    AuditEvent, AuditRecord, CallerProfile, ScimGroup, ScimTokenRecord, ScimUser, StoreError,
    StoredPassword,
};

/// Stored data the model refuses: a failure of the store, never the caller's.
pub fn corrupt(column: &str, violation: Violation) -> StoreError {
    StoreError::internal(format!("stored data is invalid: {column}: {violation}"))
}

/// A user id recorded as an idempotency token's answer.
pub fn parse_user_id(result: String) -> Result<UserId, StoreError> {
    UserId::parse(&result).map_err(|v| corrupt("idempotency_tokens.result", v))
}

/// A group id recorded as an idempotency token's answer.
pub fn parse_group_id(result: String) -> Result<PermissionGroupId, StoreError> {
    PermissionGroupId::parse(&result).map_err(|v| corrupt("idempotency_tokens.result", v))
}

pub fn membership_status(stored: &str) -> Result<MembershipStatus, StoreError> {
    MembershipStatus::parse(stored)
        .map_err(|v| corrupt("permission_group_members.membership_status", v))
}

/// A `users` row, as every backend stores it (times in epoch milliseconds); deserializable from a
/// JSON array of the columns in this order, for backends that return pages as one value.
#[derive(Debug, serde::Deserialize)]
pub struct UserRow {
    pub user_id: String,
    pub email: String,
    pub user_type: String,
    pub status: String,
    pub api_access: String,
    pub api_access_principal_arn: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub create_time: i64,
    pub last_enabled_time: Option<i64>,
    pub last_disabled_time: Option<i64>,
    pub last_modified_time: i64,
    pub last_login_time: Option<i64>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        let ts = |millis: Option<i64>| millis.map(Timestamp::from_millis);
        Ok(User {
            id: UserId::parse(&row.user_id).map_err(|v| corrupt("users.user_id", v))?,
            email: Email::parse(&row.email).map_err(|v| corrupt("users.email", v))?,
            user_type: UserType::parse(&row.user_type)
                .map_err(|v| corrupt("users.user_type", v))?,
            status: UserStatus::parse(&row.status).map_err(|v| corrupt("users.status", v))?,
            api_access: ApiAccess::parse(&row.api_access)
                .map_err(|v| corrupt("users.api_access", v))?,
            api_access_principal_arn: row
                .api_access_principal_arn
                .as_deref()
                .map(RoleArn::parse)
                .transpose()
                .map_err(|v| corrupt("users.api_access_principal_arn", v))?,
            first_name: row
                .first_name
                .as_deref()
                .map(FirstName::parse)
                .transpose()
                .map_err(|v| corrupt("users.first_name", v))?,
            last_name: row
                .last_name
                .as_deref()
                .map(LastName::parse)
                .transpose()
                .map_err(|v| corrupt("users.last_name", v))?,
            create_time: Timestamp::from_millis(row.create_time),
            last_enabled_time: ts(row.last_enabled_time),
            last_disabled_time: ts(row.last_disabled_time),
            last_modified_time: Timestamp::from_millis(row.last_modified_time),
            last_login_time: ts(row.last_login_time),
        })
    }
}

/// A `permission_groups` row.
#[derive(Debug)]
pub struct GroupRow {
    pub permission_group_id: String,
    pub name: String,
    pub description: Option<String>,
    pub application_permissions: String,
    pub create_time: i64,
    pub last_modified_time: i64,
}

impl TryFrom<GroupRow> for PermissionGroup {
    type Error = StoreError;

    fn try_from(row: GroupRow) -> Result<Self, Self::Error> {
        Ok(PermissionGroup {
            id: PermissionGroupId::parse(&row.permission_group_id)
                .map_err(|v| corrupt("permission_groups.permission_group_id", v))?,
            name: PermissionGroupName::parse(&row.name)
                .map_err(|v| corrupt("permission_groups.name", v))?,
            description: row
                .description
                .as_deref()
                .map(PermissionGroupDescription::parse)
                .transpose()
                .map_err(|v| corrupt("permission_groups.description", v))?,
            application_permissions: ApplicationPermissions::from_stored(
                &row.application_permissions,
            )
            .map_err(|v| corrupt("permission_groups.application_permissions", v))?,
            create_time: Timestamp::from_millis(row.create_time),
            last_modified_time: Timestamp::from_millis(row.last_modified_time),
        })
    }
}

/// A `users` row with more columns after it: the struct a backend's `query_as!` fills, and its
/// split into the user's row and the rest.
macro_rules! user_row_with {
    ($(#[$meta:meta])* $name:ident { $($extra:ident: $ty:ty),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name {
            pub user_id: String,
            pub email: String,
            pub user_type: String,
            pub status: String,
            pub api_access: String,
            pub api_access_principal_arn: Option<String>,
            pub first_name: Option<String>,
            pub last_name: Option<String>,
            pub create_time: i64,
            pub last_enabled_time: Option<i64>,
            pub last_disabled_time: Option<i64>,
            pub last_modified_time: i64,
            pub last_login_time: Option<i64>,
            $(pub $extra: $ty),+
        }

        impl $name {
            fn split(self) -> (UserRow, ($($ty,)+)) {
                (
                    UserRow {
                        user_id: self.user_id,
                        email: self.email,
                        user_type: self.user_type,
                        status: self.status,
                        api_access: self.api_access,
                        api_access_principal_arn: self.api_access_principal_arn,
                        first_name: self.first_name,
                        last_name: self.last_name,
                        create_time: self.create_time,
                        last_enabled_time: self.last_enabled_time,
                        last_disabled_time: self.last_disabled_time,
                        last_modified_time: self.last_modified_time,
                        last_login_time: self.last_login_time,
                    },
                    ($(self.$extra,)+),
                )
            }
        }
    };
}

user_row_with!(
    /// A user with its credential generation, as `userdir copy` moves it.
    UserRecordRow { credential_generation: i64 }
);

impl TryFrom<UserRecordRow> for UserRecord {
    type Error = StoreError;

    fn try_from(row: UserRecordRow) -> Result<Self, Self::Error> {
        let (user, (credential_generation,)) = row.split();
        Ok(UserRecord {
            user: User::try_from(user)?,
            credential_generation,
        })
    }
}

user_row_with!(
    /// A member of a group, with its membership's status.
    MemberRow { membership_status: String }
);

impl TryFrom<MemberRow> for (User, MembershipStatus) {
    type Error = StoreError;

    fn try_from(row: MemberRow) -> Result<Self, Self::Error> {
        let (user, (status,)) = row.split();
        Ok((User::try_from(user)?, membership_status(&status)?))
    }
}

/// One of a user's groups, with the membership's status.
#[derive(Debug)]
pub struct GroupOfUserRow {
    pub permission_group_id: String,
    pub name: String,
    pub membership_status: String,
}

impl TryFrom<GroupOfUserRow> for (PermissionGroupId, PermissionGroupName, MembershipStatus) {
    type Error = StoreError;

    fn try_from(row: GroupOfUserRow) -> Result<Self, Self::Error> {
        Ok((
            PermissionGroupId::parse(&row.permission_group_id)
                .map_err(|v| corrupt("permission_groups.permission_group_id", v))?,
            PermissionGroupName::parse(&row.name)
                .map_err(|v| corrupt("permission_groups.name", v))?,
            membership_status(&row.membership_status)?,
        ))
    }
}

/// What authorization reads of a caller (permissions: its groups', joined by commas).
#[derive(Debug)]
pub struct ProfileRow {
    pub user_type: String,
    pub status: String,
    pub api_access: String,
    pub credential_generation: i64,
    pub permissions: Option<String>,
}

impl TryFrom<ProfileRow> for CallerProfile {
    type Error = StoreError;

    fn try_from(row: ProfileRow) -> Result<Self, Self::Error> {
        Ok(CallerProfile {
            user_type: UserType::parse(&row.user_type)
                .map_err(|v| corrupt("users.user_type", v))?,
            status: UserStatus::parse(&row.status).map_err(|v| corrupt("users.status", v))?,
            api_access: ApiAccess::parse(&row.api_access)
                .map_err(|v| corrupt("users.api_access", v))?,
            permissions: ApplicationPermissions::from_stored(
                row.permissions.as_deref().unwrap_or(""),
            )
            .map_err(|v| corrupt("permission_groups.application_permissions", v))?,
            credential_generation: row.credential_generation,
        })
    }
}

/// A user's password as sign-in reads it.
#[derive(Debug)]
pub struct SignInRow {
    pub user_id: String,
    pub status: String,
    pub password_hash: String,
    pub temporary: bool,
    pub expires_at: Option<i64>,
}

impl TryFrom<SignInRow> for StoredPassword {
    type Error = StoreError;

    fn try_from(row: SignInRow) -> Result<Self, Self::Error> {
        Ok(StoredPassword {
            user_id: UserId::parse(&row.user_id).map_err(|v| corrupt("users.user_id", v))?,
            status: UserStatus::parse(&row.status).map_err(|v| corrupt("users.status", v))?,
            hash: row.password_hash,
            temporary: row.temporary,
            expires_at: row.expires_at.map(Timestamp::from_millis),
        })
    }
}

/// A `permission_group_members` row.
#[derive(Debug)]
pub struct MembershipRow {
    pub permission_group_id: String,
    pub user_id: String,
    pub membership_status: String,
    pub added_time: i64,
}

impl TryFrom<MembershipRow> for MembershipRecord {
    type Error = StoreError;

    fn try_from(row: MembershipRow) -> Result<Self, Self::Error> {
        Ok(MembershipRecord {
            group: PermissionGroupId::parse(&row.permission_group_id)
                .map_err(|v| corrupt("permission_group_members.permission_group_id", v))?,
            user: UserId::parse(&row.user_id)
                .map_err(|v| corrupt("permission_group_members.user_id", v))?,
            status: membership_status(&row.membership_status)?,
            added_time: Timestamp::from_millis(row.added_time),
        })
    }
}

/// A `user_passwords` row.
#[derive(Debug)]
pub struct PasswordRow {
    pub user_id: String,
    pub password_hash: String,
    pub temporary: bool,
    pub expires_at: Option<i64>,
    pub set_time: i64,
}

impl TryFrom<PasswordRow> for PasswordRecord {
    type Error = StoreError;

    fn try_from(row: PasswordRow) -> Result<Self, Self::Error> {
        Ok(PasswordRecord {
            user: UserId::parse(&row.user_id).map_err(|v| corrupt("user_passwords.user_id", v))?,
            hash: row.password_hash,
            temporary: row.temporary,
            expires_at: row.expires_at.map(Timestamp::from_millis),
            set_time: Timestamp::from_millis(row.set_time),
        })
    }
}

/// An `idempotency_tokens` row.
#[derive(Debug)]
pub struct TokenRow {
    pub operation: String,
    pub client_token: String,
    pub fingerprint: String,
    pub result: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<TokenRow> for TokenRecord {
    fn from(row: TokenRow) -> Self {
        TokenRecord {
            operation: row.operation,
            client_token: row.client_token,
            fingerprint: row.fingerprint,
            result: row.result,
            created_at: Timestamp::from_millis(row.created_at),
            expires_at: Timestamp::from_millis(row.expires_at),
        }
    }
}

/// A `server_keys` row.
pub struct KeyRow {
    pub purpose: String,
    pub key: Vec<u8>,
    pub create_time: i64,
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> Result<Self, Self::Error> {
        Ok(KeyRecord {
            key: <[u8; 32]>::try_from(row.key.as_slice()).map_err(|_| {
                StoreError::internal(format!(
                    "stored data is invalid: server_keys.key of {}",
                    row.purpose
                ))
            })?,
            purpose: row.purpose,
            create_time: Timestamp::from_millis(row.create_time),
        })
    }
}

/// A `scim_tokens` row.
pub struct ScimTokenRow {
    pub token_id: String,
    pub name: String,
    pub secret_hash: Vec<u8>,
    pub create_time: i64,
    pub revoke_time: Option<i64>,
}

impl TryFrom<ScimTokenRow> for ScimTokenRecord {
    type Error = StoreError;

    fn try_from(row: ScimTokenRow) -> Result<Self, Self::Error> {
        Ok(ScimTokenRecord {
            secret_hash: <[u8; 32]>::try_from(row.secret_hash.as_slice()).map_err(|_| {
                StoreError::internal(format!(
                    "stored data is invalid: scim_tokens.secret_hash of {}",
                    row.token_id
                ))
            })?,
            name: ScimTokenName::parse(&row.name).map_err(|v| corrupt("scim_tokens.name", v))?,
            id: row.token_id,
            create_time: Timestamp::from_millis(row.create_time),
            revoke_time: row.revoke_time.map(Timestamp::from_millis),
        })
    }
}

user_row_with!(
    /// A user with what SCIM keeps beside it (`scim_users`, joined: absent when SCIM never wrote
    /// the user).
    ScimUserRow { external_id: Option<String>, delete_time: Option<i64> }
);

impl TryFrom<ScimUserRow> for ScimUser {
    type Error = StoreError;

    fn try_from(row: ScimUserRow) -> Result<Self, Self::Error> {
        let (user, (external_id, delete_time)) = row.split();
        Ok(ScimUser {
            user: User::try_from(user)?,
            external_id: external_id
                .as_deref()
                .map(ExternalId::parse)
                .transpose()
                .map_err(|v| corrupt("scim_users.external_id", v))?,
            delete_time: delete_time.map(Timestamp::from_millis),
        })
    }
}

/// A `permission_groups` row with its `scim_groups` externalId (joined).
#[derive(Debug)]
pub struct ScimGroupFullRow {
    pub permission_group_id: String,
    pub name: String,
    pub description: Option<String>,
    pub application_permissions: String,
    pub create_time: i64,
    pub last_modified_time: i64,
    pub external_id: Option<String>,
}

impl TryFrom<ScimGroupFullRow> for ScimGroup {
    type Error = StoreError;

    fn try_from(row: ScimGroupFullRow) -> Result<Self, Self::Error> {
        let external_id = row
            .external_id
            .as_deref()
            .map(ExternalId::parse)
            .transpose()
            .map_err(|v| corrupt("scim_groups.external_id", v))?;
        let group = PermissionGroup::try_from(GroupRow {
            permission_group_id: row.permission_group_id,
            name: row.name,
            description: row.description,
            application_permissions: row.application_permissions,
            create_time: row.create_time,
            last_modified_time: row.last_modified_time,
        })?;
        Ok(ScimGroup { group, external_id })
    }
}

/// A member of a group as SCIM lists it.
#[derive(Debug)]
pub struct ScimMemberRow {
    pub user_id: String,
    pub email: String,
}

impl TryFrom<ScimMemberRow> for (UserId, Email) {
    type Error = StoreError;

    fn try_from(row: ScimMemberRow) -> Result<Self, Self::Error> {
        Ok((
            UserId::parse(&row.user_id).map_err(|v| corrupt("users.user_id", v))?,
            Email::parse(&row.email).map_err(|v| corrupt("users.email", v))?,
        ))
    }
}

/// A `scim_users` row.
#[derive(Debug)]
pub struct ScimUserAttributesRow {
    pub user_id: String,
    pub external_id: Option<String>,
    pub delete_time: Option<i64>,
}

impl TryFrom<ScimUserAttributesRow> for ScimUserRecord {
    type Error = StoreError;

    fn try_from(row: ScimUserAttributesRow) -> Result<Self, Self::Error> {
        Ok(ScimUserRecord {
            user: UserId::parse(&row.user_id).map_err(|v| corrupt("scim_users.user_id", v))?,
            external_id: row
                .external_id
                .as_deref()
                .map(ExternalId::parse)
                .transpose()
                .map_err(|v| corrupt("scim_users.external_id", v))?,
            delete_time: row.delete_time.map(Timestamp::from_millis),
        })
    }
}

/// A `scim_groups` row.
#[derive(Debug)]
pub struct ScimGroupRow {
    pub permission_group_id: String,
    pub external_id: String,
}

impl TryFrom<ScimGroupRow> for ScimGroupRecord {
    type Error = StoreError;

    fn try_from(row: ScimGroupRow) -> Result<Self, Self::Error> {
        Ok(ScimGroupRecord {
            group: PermissionGroupId::parse(&row.permission_group_id)
                .map_err(|v| corrupt("scim_groups.permission_group_id", v))?,
            external_id: ExternalId::parse(&row.external_id)
                .map_err(|v| corrupt("scim_groups.external_id", v))?,
        })
    }
}

/// An `audit_events` row.
#[derive(Debug)]
pub struct AuditRow {
    pub seq: i64,
    pub time: i64,
    pub request_id: String,
    pub caller: String,
    pub operation: String,
    pub target: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        AuditEvent {
            seq: row.seq,
            record: AuditRecord {
                time: Timestamp::from_millis(row.time),
                request_id: row.request_id,
                caller: row.caller,
                operation: row.operation,
                target: row.target,
                detail: row.detail,
            },
            outcome: row.outcome,
        }
    }
}

/// Every row converted, or the first row's failure.
pub fn convert_all<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

//! Stored rows into domain values, for every backend: a value the model would refuse is reported
//! as corrupt data, never passed on.

use crate::domain::{
    ApiAccess, ApplicationPermissions, Email, FirstName, LastName, MembershipStatus,
    PermissionGroup, PermissionGroupDescription, PermissionGroupId, PermissionGroupName, RoleArn,
    Timestamp, User, UserId, UserStatus, UserType, Violation,
};
use crate::store::StoreError;

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

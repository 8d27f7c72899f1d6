//! Stored rows into domain values: a value the model would refuse is reported as corrupt data,
//! never passed on.

use userdir_core::domain::{
    ApiAccess, Email, FirstName, LastName, RoleArn, Timestamp, User, UserId, UserStatus, UserType,
    Violation,
};
use userdir_core::store::StoreError;

pub(super) fn parse_user_id(result: String) -> Result<UserId, StoreError> {
    UserId::parse(&result).map_err(|v| corrupt("idempotency_tokens.result", v))
}

pub(super) fn corrupt(column: &str, violation: Violation) -> StoreError {
    StoreError::internal(format!("stored data is invalid: {column}: {violation}"))
}

/// A `users` row: from `query_as!`, or (for pages) from a JSON array of the same columns in the
/// same order, which serde reads into a struct field by field.
#[derive(serde::Deserialize)]
pub(super) struct UserRow {
    pub(super) user_id: String,
    pub(super) email: String,
    pub(super) user_type: String,
    pub(super) status: String,
    pub(super) api_access: String,
    pub(super) api_access_principal_arn: Option<String>,
    pub(super) first_name: Option<String>,
    pub(super) last_name: Option<String>,
    pub(super) create_time: i64,
    pub(super) last_enabled_time: Option<i64>,
    pub(super) last_disabled_time: Option<i64>,
    pub(super) last_modified_time: i64,
    pub(super) last_login_time: Option<i64>,
}

/// Users from a JSON array of `UserRow`s (as `json_group_array(json_array(...))` gives them),
/// in user id order.
pub(super) fn users_from_json(json: &str, what: &str) -> Result<Vec<User>, StoreError> {
    let mut rows: Vec<UserRow> = serde_json::from_str(json)
        .map_err(|e| StoreError::internal(format!("stored data is invalid: {what}: {e}")))?;
    rows.sort_unstable_by(|a, b| a.user_id.cmp(&b.user_id));
    rows.into_iter().map(User::try_from).collect()
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

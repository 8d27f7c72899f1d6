//! Pages of users that SQLite returns as one JSON value, into domain values.

use userdir_core::domain::User;
use userdir_core::store::StoreError;
use userdir_core::store::rows::UserRow;

/// Users from a JSON array of `UserRow`s (as `json_group_array(json_array(...))` gives them),
/// in user id order.
pub(super) fn users_from_json(json: &str, what: &str) -> Result<Vec<User>, StoreError> {
    let mut rows: Vec<UserRow> = serde_json::from_str(json)
        .map_err(|e| StoreError::internal(format!("stored data is invalid: {what}: {e}")))?;
    rows.sort_unstable_by(|a, b| a.user_id.cmp(&b.user_id));
    rows.into_iter().map(User::try_from).collect()
}

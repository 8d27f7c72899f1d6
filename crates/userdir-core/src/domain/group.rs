use std::collections::BTreeSet;
use std::fmt;

use ulid::Ulid;

use super::Timestamp;
use super::enums::wire_enum;
use super::rule::{NOT_BLANK, Pattern, Violation, anchored, redacted_debug, text_shape};

/// A permission group's identifier: 1–26 non-blank characters in the model; issued as ULIDs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PermissionGroupId(String);

impl PermissionGroupId {
    pub fn generate() -> Self {
        Self(Ulid::generate().to_string())
    }

    pub fn parse(value: &str) -> Result<Self, Violation> {
        Self::TEXT.check(value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PermissionGroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A group's name (1–255 characters, not blank). Names are unique regardless of case.
#[derive(Clone, PartialEq, Eq)]
pub struct PermissionGroupName(String);

impl PermissionGroupName {
    pub fn parse(value: &str) -> Result<Self, Violation> {
        Self::TEXT.check(value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is decided on: Unicode lower case, so "Admins" and "ADMINS" clash.
    pub fn unique_key(&self) -> String {
        self.0.to_lowercase()
    }
}

redacted_debug!(PermissionGroupName, PermissionGroupDescription);

static ANY_TEXT: Pattern = Pattern::new(r"[\s\S]*", || anchored(r"[\s\S]*"));

/// A group's description (1–4000 characters of anything).
#[derive(Clone, PartialEq, Eq)]
pub struct PermissionGroupDescription(String);

impl PermissionGroupDescription {
    pub fn parse(value: &str) -> Result<Self, Violation> {
        Self::TEXT.check(value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_shape!(PermissionGroupId, 1..=26, Some(&NOT_BLANK));
text_shape!(PermissionGroupName, 1..=255, Some(&NOT_BLANK));
text_shape!(PermissionGroupDescription, 1..=4000, Some(&ANY_TEXT));

wire_enum!(
    /// What membership of a group allows.
    ApplicationPermission {
        CreateDataset => "CreateDataset",
        ManageClusters => "ManageClusters",
        ManageUsersAndGroups => "ManageUsersAndGroups",
        ManageAttributeSets => "ManageAttributeSets",
        ViewAuditData => "ViewAuditData",
        AccessNotebooks => "AccessNotebooks",
        GetTemporaryCredentials => "GetTemporaryCredentials",
    }
);

impl PartialOrd for ApplicationPermission {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ApplicationPermission {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

/// A set of permissions: duplicates collapse, order is the model's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplicationPermissions(BTreeSet<ApplicationPermission>);

impl ApplicationPermissions {
    pub fn iter(&self) -> impl Iterator<Item = ApplicationPermission> + '_ {
        self.0.iter().copied()
    }

    pub fn contains(&self, permission: ApplicationPermission) -> bool {
        self.0.contains(&permission)
    }

    /// The stored form: names joined by commas, in the model's order.
    pub fn to_stored(&self) -> String {
        self.iter()
            .map(ApplicationPermission::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn from_stored(stored: &str) -> Result<Self, Violation> {
        stored
            .split(',')
            .filter(|s| !s.is_empty())
            .map(ApplicationPermission::parse)
            .collect()
    }
}

impl FromIterator<ApplicationPermission> for ApplicationPermissions {
    fn from_iter<I: IntoIterator<Item = ApplicationPermission>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

wire_enum!(
    /// Where a user's membership of a group stands. userdir applies memberships synchronously, so
    /// a stored membership is always ADDITION_SUCCESS; the other values exist in the model only.
    MembershipStatus as "PermissionGroupMembershipStatus" {
        AdditionInProgress => "ADDITION_IN_PROGRESS",
        AdditionSuccess => "ADDITION_SUCCESS",
        RemovalInProgress => "REMOVAL_IN_PROGRESS",
    }
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionGroup {
    pub id: PermissionGroupId,
    pub name: PermissionGroupName,
    pub description: Option<PermissionGroupDescription>,
    pub application_permissions: ApplicationPermissions,
    pub create_time: Timestamp,
    pub last_modified_time: Timestamp,
}

/// What UpdatePermissionGroup may change; `None` leaves a member as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionGroupChanges {
    pub name: Option<PermissionGroupName>,
    pub description: Option<PermissionGroupDescription>,
    pub application_permissions: Option<ApplicationPermissions>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_collapse_duplicates_and_keep_model_order() {
        let set: ApplicationPermissions = [
            ApplicationPermission::ViewAuditData,
            ApplicationPermission::CreateDataset,
            ApplicationPermission::ViewAuditData,
        ]
        .into_iter()
        .collect();
        assert_eq!(set.to_stored(), "CreateDataset,ViewAuditData");
        assert_eq!(
            ApplicationPermissions::from_stored(&set.to_stored()),
            Ok(set)
        );
        assert_eq!(
            ApplicationPermissions::from_stored(""),
            Ok(ApplicationPermissions::default())
        );
    }

    #[test]
    fn group_names_clash_regardless_of_case() {
        let a = PermissionGroupName::parse("Équipe Admins").unwrap();
        let b = PermissionGroupName::parse("ÉQUIPE ADMINS").unwrap();
        assert_eq!(a.unique_key(), b.unique_key());
        assert!(PermissionGroupName::parse(" ").is_err());
        assert!(PermissionGroupName::parse(&"n".repeat(256)).is_err());
    }

    #[test]
    fn descriptions_may_span_lines_but_are_bounded() {
        assert!(PermissionGroupDescription::parse("line one\nline two").is_ok());
        assert!(PermissionGroupDescription::parse("").is_err());
        assert!(PermissionGroupDescription::parse(&"d".repeat(4001)).is_err());
    }
}

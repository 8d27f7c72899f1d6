//! Users as SCIM resources (RFC 7643 §4.1), both ways: a stored user becomes its representation,
//! and a request's representation becomes typed values (attribute names in any case, as the RFC
//! has them). FinSpace members with no SCIM counterpart live in an extension schema of ours.

use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::ScimError;
use super::filter::{GROUP_SCHEMA, USER_SCHEMA};
use userdir_core::domain::{
    ApiAccess, ApplicationPermission, ApplicationPermissions, Email, ExternalId, FirstName,
    LastName, NewUser, PermissionGroupDescription, PermissionGroupName, RoleArn, Timestamp, UserId,
    UserStatus, UserType, Violation,
};
use userdir_core::store::{ScimGroup, ScimGroupState, ScimUser, ScimUserState};

/// Our extension of the User resource: the FinSpace members SCIM has no name for.
pub const USER_EXTENSION: &str = "urn:userdir:scim:schemas:extension:finspace:2.0:User";

/// An instant as SCIM writes it (xsd:dateTime, UTC, milliseconds).
pub fn date_time(time: Timestamp) -> String {
    DateTime::from_timestamp_millis(time.as_millis())
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The user's representation, `meta.version` included, under `base` (the URL of the prefix).
pub fn user_resource(scim: &ScimUser, base: &str) -> Value {
    let user = &scim.user;
    let mut resource = json!({
        "schemas": [USER_SCHEMA, USER_EXTENSION],
        "id": user.id.as_str(),
        "userName": user.email.as_str(),
        "emails": [{"value": user.email.as_str(), "type": "work", "primary": true}],
        "active": user.status != UserStatus::Disabled,
        "meta": {
            "resourceType": "User",
            "created": date_time(user.create_time),
            "lastModified": date_time(user.last_modified_time),
            "location": format!("{base}/Users/{}", user.id.as_str()),
        },
    });
    let object = resource.as_object_mut().expect("a JSON object literal");
    if let Some(external_id) = &scim.external_id {
        object.insert("externalId".into(), external_id.as_str().into());
    }
    let mut name = Map::new();
    if let Some(first) = &user.first_name {
        name.insert("givenName".into(), first.as_str().into());
    }
    if let Some(last) = &user.last_name {
        name.insert("familyName".into(), last.as_str().into());
    }
    if !name.is_empty() {
        object.insert("name".into(), Value::Object(name));
    }
    // Status and its times are FinSpace's to show (`active` says what SCIM needs); read-only
    // members a client did not set only make its own writes come back different.
    let mut extension = Map::new();
    extension.insert("type".into(), user.user_type.as_str().into());
    extension.insert("apiAccess".into(), user.api_access.as_str().into());
    if let Some(arn) = &user.api_access_principal_arn {
        extension.insert("apiAccessPrincipalArn".into(), arn.as_str().into());
    }
    if let Some(time) = user.last_login_time {
        extension.insert("lastLoginTime".into(), date_time(time).into());
    }
    object.insert(USER_EXTENSION.into(), Value::Object(extension));
    let version = version_of(&resource);
    resource["meta"]["version"] = version.into();
    resource
}

/// A weak ETag of a representation (without its own version, and without its location, which
/// depends on the host name a client used): it changes whenever anything else a client can see
/// does.
pub fn version_of(resource: &Value) -> String {
    let mut hashed = resource.clone();
    if let Some(meta) = hashed.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("location");
        meta.remove("version");
    }
    let digest = Sha256::digest(hashed.to_string().as_bytes());
    format!("W/\"{}\"", hex::encode(&digest[..12]))
}

/// A member of a JSON object, its name matched without case (RFC 7643 §2.1).
pub fn member<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    let object = object.as_object()?;
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// A member that is there and not null.
fn given<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    member(object, name).filter(|v| !v.is_null())
}

/// What a create or replace asks for, parsed.
#[derive(Debug, Clone)]
pub struct UserInput {
    pub email: Email,
    pub first_name: Option<FirstName>,
    pub last_name: Option<LastName>,
    /// Absent: true for a new user, as it is for an existing one.
    pub active: Option<bool>,
    pub external_id: Option<ExternalId>,
    /// Our extension's members, if the request carries the extension.
    pub extension: Option<ExtensionInput>,
}

#[derive(Debug, Clone, Default)]
pub struct ExtensionInput {
    pub user_type: Option<UserType>,
    pub api_access: Option<ApiAccess>,
    pub api_access_principal_arn: Option<RoleArn>,
}

fn text<'a>(value: &'a Value, attribute: &str) -> Result<&'a str, ScimError> {
    value
        .as_str()
        .ok_or_else(|| ScimError::invalid_value(format!("{attribute} must be a string")))
}

fn parsed<T>(
    value: &Value,
    attribute: &str,
    parse: fn(&str) -> Result<T, Violation>,
) -> Result<T, ScimError> {
    parse(text(value, attribute)?)
        .map_err(|v| ScimError::invalid_value(format!("{attribute}: {}", v.rule())))
}

/// A boolean as SCIM clients send it: true/false, or (Entra ID) the strings "True"/"False".
pub fn boolean(value: &Value, attribute: &str) -> Result<bool, ScimError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::invalid_value(format!(
            "{attribute} must be a boolean"
        ))),
    }
}

impl UserInput {
    /// Reads a User representation. Read-only attributes (`id`, `meta`, the extension's times
    /// and status) are ignored, as RFC 7644 §3.5.1 has it; so are attributes this directory does
    /// not keep (it keeps one email address, the userName, and no other contact data).
    pub fn parse(body: &Value) -> Result<Self, ScimError> {
        if let Some(schemas) = given(body, "schemas") {
            let listed = schemas
                .as_array()
                .is_some_and(|s| s.iter().all(Value::is_string));
            if !listed {
                return Err(ScimError::invalid_syntax(
                    "schemas must be an array of strings",
                ));
            }
        }
        let user_name = given(body, "userName")
            .ok_or_else(|| ScimError::invalid_value("userName is required"))?;
        let email = parsed(user_name, "userName", Email::parse)?;
        let (mut first_name, mut last_name) = (None, None);
        if let Some(name) = given(body, "name") {
            if !name.is_object() {
                return Err(ScimError::invalid_value("name must be an object"));
            }
            first_name = given(name, "givenName")
                .map(|v| parsed(v, "name.givenName", FirstName::parse))
                .transpose()?;
            last_name = given(name, "familyName")
                .map(|v| parsed(v, "name.familyName", LastName::parse))
                .transpose()?;
        }
        if let Some(emails) = given(body, "emails")
            && !emails.is_array()
        {
            return Err(ScimError::invalid_value("emails must be an array"));
        }
        let active = given(body, "active")
            .map(|v| boolean(v, "active"))
            .transpose()?;
        let external_id = given(body, "externalId")
            .map(|v| parsed(v, "externalId", ExternalId::parse))
            .transpose()?;
        let extension = given(body, USER_EXTENSION)
            .map(ExtensionInput::parse)
            .transpose()?;
        Ok(Self {
            email,
            first_name,
            last_name,
            active,
            external_id,
            extension,
        })
    }

    /// Reads a user as a PATCH leaves it: what a user always has (`active`, and our extension's
    /// `type` and `apiAccess`) cannot have been removed.
    pub fn parse_whole(body: &Value) -> Result<Self, ScimError> {
        let input = Self::parse(body)?;
        let extension = input.extension.as_ref();
        let kept = input.active.is_some()
            && extension.is_some_and(|e| e.user_type.is_some() && e.api_access.is_some());
        if !kept {
            return Err(ScimError::mutability(format!(
                "active, and {USER_EXTENSION}'s type and apiAccess, cannot be removed: a user \
                 always has them (replace them instead)"
            )));
        }
        Ok(input)
    }

    /// The user a create makes: APP_USER with API access off unless the extension says.
    pub fn into_new_user(self) -> (NewUser, bool, Option<ExternalId>) {
        let extension = self.extension.unwrap_or_default();
        let user = NewUser {
            email: self.email,
            user_type: extension.user_type.unwrap_or(UserType::AppUser),
            first_name: self.first_name,
            last_name: self.last_name,
            api_access: extension.api_access,
            api_access_principal_arn: extension.api_access_principal_arn,
        };
        (user, self.active.unwrap_or(true), self.external_id)
    }

    /// The state a replace sets `current` to. The userName is the user's FinSpace email address,
    /// which never changes (it may be sent in another case). A request without our extension
    /// leaves its members as they are (most clients know nothing of it); with it, a principal it
    /// does not name is cleared, and a type or API access it does not name is kept.
    pub fn into_state(self, current: &ScimUser) -> Result<ScimUserState, ScimError> {
        if !self
            .email
            .as_str()
            .eq_ignore_ascii_case(current.user.email.as_str())
        {
            return Err(ScimError::mutability(
                "userName is the user's FinSpace emailAddress, which cannot change",
            ));
        }
        let user = &current.user;
        let (extension, principal) = match self.extension {
            Some(extension) => {
                let principal = extension.api_access_principal_arn.clone();
                (extension, principal)
            }
            None => (
                ExtensionInput::default(),
                user.api_access_principal_arn.clone(),
            ),
        };
        Ok(ScimUserState {
            user_type: extension.user_type.unwrap_or(user.user_type),
            first_name: self.first_name,
            last_name: self.last_name,
            api_access: extension.api_access.unwrap_or(user.api_access),
            api_access_principal_arn: principal,
            active: self.active.unwrap_or(user.status != UserStatus::Disabled),
            external_id: self.external_id,
        })
    }
}

impl ExtensionInput {
    fn parse(extension: &Value) -> Result<Self, ScimError> {
        if !extension.is_object() {
            return Err(ScimError::invalid_value(format!(
                "{USER_EXTENSION} must be an object"
            )));
        }
        Ok(Self {
            user_type: given(extension, "type")
                .map(|v| parsed(v, "type", UserType::parse))
                .transpose()?,
            api_access: given(extension, "apiAccess")
                .map(|v| parsed(v, "apiAccess", ApiAccess::parse))
                .transpose()?,
            api_access_principal_arn: given(extension, "apiAccessPrincipalArn")
                .map(|v| parsed(v, "apiAccessPrincipalArn", RoleArn::parse))
                .transpose()?,
        })
    }
}

/// Our extension of the Group resource: a permission group's FinSpace members.
pub const GROUP_EXTENSION: &str = "urn:userdir:scim:schemas:extension:finspace:2.0:Group";

/// A group's representation, its members included (they are part of its version).
pub fn group_resource(scim: &ScimGroup, members: &[(UserId, Email)], base: &str) -> Value {
    // `display` is not sent: a member's userName is one GET away, and a derived read-only value
    // only makes a client's round trip of its own PATCH disagree with what comes back.
    let group = &scim.group;
    let members: Vec<Value> = members
        .iter()
        .map(|(id, _)| {
            json!({
                "value": id.as_str(),
                "$ref": format!("{base}/Users/{}", id.as_str()),
                "type": "User",
            })
        })
        .collect();
    let mut extension = Map::new();
    if let Some(description) = &group.description {
        extension.insert("description".into(), description.as_str().into());
    }
    let permissions: Vec<Value> = group
        .application_permissions
        .iter()
        .map(|p| Value::from(p.as_str()))
        .collect();
    if !permissions.is_empty() {
        extension.insert("applicationPermissions".into(), permissions.into());
    }
    let mut resource = json!({
        "schemas": [GROUP_SCHEMA, GROUP_EXTENSION],
        "id": group.id.as_str(),
        "displayName": group.name.as_str(),
        "members": members,
        "meta": {
            "resourceType": "Group",
            "created": date_time(group.create_time),
            "lastModified": date_time(group.last_modified_time),
            "location": format!("{base}/Groups/{}", group.id.as_str()),
        },
    });
    // Unassigned, a group's FinSpace members are left out, as SCIM leaves out what is unassigned.
    if !extension.is_empty() {
        resource[GROUP_EXTENSION] = Value::Object(extension);
    }
    if let Some(external_id) = &scim.external_id {
        resource["externalId"] = external_id.as_str().into();
    }
    let version = version_of(&resource);
    resource["meta"]["version"] = version.into();
    resource
}

/// What a group create or replace asks for, parsed.
#[derive(Debug, Clone)]
pub struct GroupInput {
    pub name: PermissionGroupName,
    pub external_id: Option<ExternalId>,
    pub members: Vec<UserId>,
    pub description: Option<Option<PermissionGroupDescription>>,
    pub application_permissions: Option<ApplicationPermissions>,
}

impl GroupInput {
    pub fn parse(body: &Value) -> Result<Self, ScimError> {
        let name = given(body, "displayName")
            .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
        let name = parsed(name, "displayName", PermissionGroupName::parse)?;
        let external_id = given(body, "externalId")
            .map(|v| parsed(v, "externalId", ExternalId::parse))
            .transpose()?;
        let mut members = Vec::new();
        // A set beside the list: a group may have very many members.
        let mut listed_once = std::collections::HashSet::new();
        if let Some(listed) = given(body, "members") {
            let listed = listed
                .as_array()
                .ok_or_else(|| ScimError::invalid_value("members must be an array"))?;
            for member in listed {
                if let Some(kind) = given(member, "type").and_then(Value::as_str)
                    && !kind.eq_ignore_ascii_case("User")
                {
                    return Err(ScimError::invalid_value(
                        "members: only users can be members (groups do not nest here)",
                    ));
                }
                let value = given(member, "value")
                    .ok_or_else(|| ScimError::invalid_value("members[].value is required"))?;
                let id = text(value, "members[].value")?;
                let id = UserId::parse(id).map_err(|_| {
                    ScimError::invalid_value(
                        "members: every value must be the id of a user of this directory",
                    )
                })?;
                if listed_once.insert(id.clone()) {
                    members.push(id);
                }
            }
        }
        let (mut description, mut application_permissions) = (None, None);
        if let Some(extension) = given(body, GROUP_EXTENSION) {
            if !extension.is_object() {
                return Err(ScimError::invalid_value(format!(
                    "{GROUP_EXTENSION} must be an object"
                )));
            }
            description = Some(
                given(extension, "description")
                    .map(|v| parsed(v, "description", PermissionGroupDescription::parse))
                    .transpose()?,
            );
            if let Some(permissions) = given(extension, "applicationPermissions") {
                let permissions = permissions.as_array().ok_or_else(|| {
                    ScimError::invalid_value("applicationPermissions must be an array")
                })?;
                application_permissions = Some(
                    permissions
                        .iter()
                        .map(|p| parsed(p, "applicationPermissions", ApplicationPermission::parse))
                        .collect::<Result<ApplicationPermissions, _>>()?,
                );
            }
        }
        Ok(Self {
            name,
            external_id,
            members,
            description,
            application_permissions,
        })
    }

    /// Reads a whole representation, as a PATCH leaves it: what it does not carry of our
    /// extension (the extension itself, or one of its members) was removed, so is cleared.
    pub fn parse_whole(body: &Value) -> Result<Self, ScimError> {
        let mut input = Self::parse(body)?;
        input.description.get_or_insert(None);
        input
            .application_permissions
            .get_or_insert_with(ApplicationPermissions::default);
        Ok(input)
    }

    /// The state a create or replace sets: without our extension, a new group has no
    /// description and no permissions, and an existing one keeps its own.
    pub fn state(&self, current: Option<&ScimGroup>) -> ScimGroupState {
        let group = current.map(|c| &c.group);
        ScimGroupState {
            name: self.name.clone(),
            description: match &self.description {
                Some(description) => description.clone(),
                None => group.and_then(|g| g.description.clone()),
            },
            application_permissions: match &self.application_permissions {
                Some(permissions) => permissions.clone(),
                None => group
                    .map(|g| g.application_permissions.clone())
                    .unwrap_or_default(),
            },
            external_id: self.external_id.clone(),
        }
    }
}

//! The permission-group operations.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::input::{Checked, Members, all_valid, read_body};
use super::invocation::Called;
use super::users::UserOutput;
use userdir_core::domain::Invocation;
use userdir_core::domain::{
    ApplicationPermission, ApplicationPermissions, ClientToken, MembershipStatus, PermissionGroup,
    PermissionGroupChanges, PermissionGroupDescription, PermissionGroupId, PermissionGroupName,
    UserId,
};

/// The `permissionGroupId` path member.
fn group_id(members: &Members, value: &str) -> Checked<PermissionGroupId> {
    members.path("permissionGroupId", value, PermissionGroupId::parse)
}

/// `POST /permission-group`
pub async fn create_permission_group(
    req: HttpRequest,
    payload: web::Payload,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, state.body).await?;
    let mut members = Members::from_json(&req, &body)?;
    let (name, description, permissions, client_token) = all_valid((
        members.required("name", PermissionGroupName::parse),
        members.optional("description", PermissionGroupDescription::parse),
        members.required_list("applicationPermissions", ApplicationPermission::parse),
        members.optional("clientToken", ClientToken::parse),
    ))?;
    let id = state
        .groups
        .create_group(
            &invocation,
            name,
            description,
            permissions.into_iter().collect(),
            client_token,
        )
        .await?;
    Ok(HttpResponse::Ok().json(GroupIdOutput {
        permission_group_id: id.as_str(),
    }))
}

/// `GET /permission-group/{permissionGroupId}`
pub async fn get_permission_group(
    path: web::Path<String>,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (id,) = all_valid((group_id(&Members::new(), &path),))?;
    let group = state.groups.get_group(&invocation, &id).await?;
    Ok(HttpResponse::Ok().json(GetGroupOutput {
        permission_group: GroupOutput::from(&group),
    }))
}

/// `PUT /permission-group/{permissionGroupId}`
pub async fn update_permission_group(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, state.body).await?;
    let mut members = Members::from_json(&req, &body)?;
    let (id, name, description, permissions, client_token) = all_valid((
        group_id(&members, &path),
        members.optional("name", PermissionGroupName::parse),
        members.optional("description", PermissionGroupDescription::parse),
        members.optional_list("applicationPermissions", ApplicationPermission::parse),
        members.optional("clientToken", ClientToken::parse),
    ))?;
    let changes = PermissionGroupChanges {
        name,
        description,
        application_permissions: permissions
            .map(|list| list.into_iter().collect::<ApplicationPermissions>()),
    };
    let id = state
        .groups
        .update_group(&invocation, &id, changes, client_token)
        .await?;
    Ok(HttpResponse::Ok().json(GroupIdOutput {
        permission_group_id: id.as_str(),
    }))
}

/// `DELETE /permission-group/{permissionGroupId}?clientToken`
pub async fn delete_permission_group(
    req: HttpRequest,
    path: web::Path<String>,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let members = Members::new().with_query(&req)?;
    let (id, client_token) = all_valid((
        group_id(&members, &path),
        members.optional_query("clientToken", ClientToken::parse),
    ))?;
    let id = state
        .groups
        .delete_group(&invocation, &id, client_token)
        .await?;
    Ok(HttpResponse::Ok().json(GroupIdOutput {
        permission_group_id: id.as_str(),
    }))
}

/// `GET /permission-group?maxResults&nextToken`
pub async fn list_permission_groups(
    req: HttpRequest,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (size, next_token) = all_valid(Members::new().with_query(&req)?.page())?;
    let page = state
        .groups
        .list_groups(&invocation, size, next_token.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(ListGroupsOutput {
        permission_groups: page.items.iter().map(GroupOutput::from).collect(),
        next_token: page.next_token.as_deref(),
    }))
}

/// `POST /permission-group/{permissionGroupId}/users/{userId}` (clientToken in the body).
pub async fn associate_user(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, state.body).await?;
    let mut members = Members::from_json(&req, &body)?;
    let client_token = members.optional("clientToken", ClientToken::parse);
    change_membership(&invocation, &members, &path, client_token, &state, true).await
}

/// `DELETE /permission-group/{permissionGroupId}/users/{userId}?clientToken`
pub async fn disassociate_user(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let members = Members::new().with_query(&req)?;
    let client_token = members.optional_query("clientToken", ClientToken::parse);
    change_membership(&invocation, &members, &path, client_token, &state, false).await
}

async fn change_membership(
    invocation: &Invocation,
    members: &Members,
    (group, user): &(String, String),
    client_token: Checked<Option<ClientToken>>,
    state: &AppState,
    add: bool,
) -> Result<HttpResponse, ApiError> {
    let (group, user, client_token) = all_valid((
        group_id(members, group),
        members.path("userId", user, UserId::parse),
        client_token,
    ))?;
    state
        .groups
        .change_membership(invocation, &group, &user, add, client_token)
        .await?;
    // The model binds the response's statusCode member to the HTTP status: 200 is the answer.
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

/// `GET /user/{userId}/permission-groups?maxResults&nextToken`
pub async fn list_permission_groups_by_user(
    req: HttpRequest,
    path: web::Path<String>,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let members = Members::new().with_query(&req)?;
    let (size, next_token) = members.page();
    let (user, size, next_token) = all_valid((
        members.path("userId", &path, UserId::parse),
        size,
        next_token,
    ))?;
    let page = state
        .groups
        .groups_of_user(&invocation, &user, size, next_token.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(GroupsByUserOutput {
        permission_groups: page
            .items
            .iter()
            .map(|(id, name, status)| GroupByUserOutput {
                permission_group_id: id.as_str(),
                name: name.as_str(),
                membership_status: status.as_str(),
            })
            .collect(),
        next_token: page.next_token.as_deref(),
    }))
}

/// `GET /permission-group/{permissionGroupId}/users?maxResults&nextToken`
pub async fn list_users_by_permission_group(
    req: HttpRequest,
    path: web::Path<String>,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let members = Members::new().with_query(&req)?;
    let (size, next_token) = members.page();
    let (group, size, next_token) = all_valid((group_id(&members, &path), size, next_token))?;
    let page = state
        .groups
        .members_of_group(&invocation, &group, size, next_token.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(UsersByGroupOutput {
        users: page
            .items
            .iter()
            .map(|(user, status)| UserByGroupOutput::new(UserOutput::from(user), *status))
            .collect(),
        next_token: page.next_token.as_deref(),
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupIdOutput<'a> {
    permission_group_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GetGroupOutput<'a> {
    permission_group: GroupOutput<'a>,
}

/// The `PermissionGroup` shape. membershipStatus only has meaning relative to a user, so it is
/// omitted here.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupOutput<'a> {
    permission_group_id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    application_permissions: Vec<&'static str>,
    create_time: i64,
    last_modified_time: i64,
}

impl<'a> From<&'a PermissionGroup> for GroupOutput<'a> {
    fn from(group: &'a PermissionGroup) -> Self {
        Self {
            permission_group_id: group.id.as_str(),
            name: group.name.as_str(),
            description: group
                .description
                .as_ref()
                .map(PermissionGroupDescription::as_str),
            application_permissions: group
                .application_permissions
                .iter()
                .map(ApplicationPermission::as_str)
                .collect(),
            create_time: group.create_time.as_millis(),
            last_modified_time: group.last_modified_time.as_millis(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListGroupsOutput<'a> {
    permission_groups: Vec<GroupOutput<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupByUserOutput<'a> {
    permission_group_id: &'a str,
    name: &'a str,
    membership_status: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupsByUserOutput<'a> {
    permission_groups: Vec<GroupByUserOutput<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

/// The `UserByPermissionGroup` shape: a subset of the user plus the membership status.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserByGroupOutput<'a> {
    user_id: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<&'a str>,
    email_address: &'a str,
    #[serde(rename = "type")]
    user_type: &'static str,
    api_access: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_access_principal_arn: Option<&'a str>,
    membership_status: &'static str,
}

impl<'a> UserByGroupOutput<'a> {
    fn new(user: UserOutput<'a>, status: MembershipStatus) -> Self {
        Self {
            user_id: user.user_id,
            status: user.status,
            first_name: user.first_name,
            last_name: user.last_name,
            email_address: user.email_address,
            user_type: user.user_type,
            api_access: user.api_access,
            api_access_principal_arn: user.api_access_principal_arn,
            membership_status: status.as_str(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsersByGroupOutput<'a> {
    users: Vec<UserByGroupOutput<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::catalog::{PERMISSION_GROUP, Structure, USER_BY_PERMISSION_GROUP, assert_wire};

    #[test]
    fn the_group_shapes_are_what_is_sent() {
        let full = GroupOutput {
            permission_group_id: "g",
            name: "Analysts",
            description: Some("d"),
            application_permissions: vec!["CreateDataset"],
            create_time: 1,
            last_modified_time: 2,
        };
        let least = GroupOutput {
            description: None,
            application_permissions: vec![],
            ..full
        };
        // membershipStatus belongs to a group only as seen from a user: never sent here.
        let group = Structure {
            name: PERMISSION_GROUP.name,
            members: &PERMISSION_GROUP.members[..6],
        };
        assert_eq!(PERMISSION_GROUP.members[6].name, "membershipStatus");
        assert_wire(&group, &full, &least);

        let user = |optional: bool| UserOutput {
            user_id: "u",
            status: "ENABLED",
            first_name: optional.then_some("Ada"),
            last_name: optional.then_some("Lovelace"),
            email_address: "ada@example.com",
            user_type: "APP_USER",
            api_access: "ENABLED",
            api_access_principal_arn: optional.then_some("arn:aws:iam::123456789012:role/R"),
            create_time: 1,
            last_enabled_time: None,
            last_disabled_time: None,
            last_modified_time: 4,
            last_login_time: None,
        };
        assert_wire(
            &USER_BY_PERMISSION_GROUP,
            &UserByGroupOutput::new(user(true), MembershipStatus::AdditionSuccess),
            &UserByGroupOutput::new(user(false), MembershipStatus::AdditionSuccess),
        );
    }
}

//! CreateUser, GetUser and UpdateUser: wire members in, typed values to the service, wire shapes out.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::input::{Members, all_valid, read_body};
use super::invocation::Called;
use userdir_core::domain::Invocation;
use userdir_core::domain::{
    ApiAccess, ClientToken, Email, FirstName, LastName, NewUser, RoleArn, StatusChange, Timestamp,
    User, UserChanges, UserId, UserType,
};

/// `POST /user`
pub async fn create_user(
    req: HttpRequest,
    payload: web::Payload,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, state.body).await?;
    let mut members = Members::from_json(&req, &body)?;
    let (email, user_type, first_name, last_name, api_access, api_access_principal_arn, token) =
        all_valid((
            members.required("emailAddress", Email::parse),
            members.required("type", UserType::parse),
            members.optional("firstName", FirstName::parse),
            members.optional("lastName", LastName::parse),
            // Older documentation and SDKs spell this member "ApiAccess".
            members.optional_aliased("apiAccess", "ApiAccess", ApiAccess::parse),
            members.optional("apiAccessPrincipalArn", RoleArn::parse),
            members.optional("clientToken", ClientToken::parse),
        ))?;

    let new_user = NewUser {
        email,
        user_type,
        first_name,
        last_name,
        api_access,
        api_access_principal_arn,
    };
    let user_id = state
        .users
        .create_user(&invocation, new_user, token)
        .await?;
    Ok(HttpResponse::Ok().json(UserIdOutput::new(&user_id)))
}

/// `GET /user/{userId}`
pub async fn get_user(
    path: web::Path<String>,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (user_id,) = all_valid((Members::new().path("userId", &path, UserId::parse),))?;
    let user = state.users.get_user(&invocation, &user_id).await?;
    Ok(HttpResponse::Ok().json(UserOutput::from(user.as_ref())))
}

/// `PUT /user/{userId}`
pub async fn update_user(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, state.body).await?;
    let mut members = Members::from_json(&req, &body)?;
    let (user_id, user_type, first_name, last_name, api_access, api_access_principal_arn, token) =
        all_valid((
            members.path("userId", &path, UserId::parse),
            members.optional("type", UserType::parse),
            members.optional("firstName", FirstName::parse),
            members.optional("lastName", LastName::parse),
            members.optional("apiAccess", ApiAccess::parse),
            members.optional("apiAccessPrincipalArn", RoleArn::parse),
            members.optional("clientToken", ClientToken::parse),
        ))?;
    let changes = UserChanges {
        user_type,
        first_name,
        last_name,
        api_access,
        api_access_principal_arn,
    };

    let user_id = state
        .users
        .update_user(&invocation, &user_id, changes, token)
        .await?;
    Ok(HttpResponse::Ok().json(UserIdOutput::new(&user_id)))
}

/// `GET /user?maxResults&nextToken`
pub async fn list_users(
    req: HttpRequest,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (size, next_token) = all_valid(Members::new().with_query(&req)?.page())?;
    let page = state
        .users
        .list_users(&invocation, size, next_token.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(ListUsersOutput {
        users: page.items.iter().map(UserOutput::from).collect(),
        next_token: page.next_token.as_deref(),
    }))
}

/// `POST /user/{userId}/enable`
pub async fn enable_user(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    change_status(req, path, payload, invocation, state, StatusChange::Enable).await
}

/// `POST /user/{userId}/disable`
pub async fn disable_user(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    change_status(req, path, payload, invocation, state, StatusChange::Disable).await
}

async fn change_status(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    invocation: Invocation,
    state: web::Data<AppState>,
    change: StatusChange,
) -> Result<HttpResponse, ApiError> {
    let (user_id, client_token) = user_and_token(&req, &path, payload, &state).await?;
    let user_id = state
        .users
        .change_status(&invocation, &user_id, change, client_token)
        .await?;
    Ok(HttpResponse::Ok().json(UserIdOutput::new(&user_id)))
}

/// `POST /user/{userId}/password`
pub async fn reset_user_password(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, client_token) = user_and_token(&req, &path, payload, &state).await?;
    let password = state
        .passwords
        .reset_password(&invocation, &user_id, client_token)
        .await?;
    Ok(HttpResponse::Ok().json(ResetUserPasswordOutput {
        user_id: user_id.as_str(),
        temporary_password: password.expose(),
    }))
}

/// The members of operations that take only a userId (path) and a clientToken (body).
async fn user_and_token(
    req: &HttpRequest,
    path: &str,
    payload: web::Payload,
    state: &AppState,
) -> Result<(UserId, Option<ClientToken>), ApiError> {
    let body = read_body(req, payload, state.body).await?;
    let mut members = Members::from_json(req, &body)?;
    all_valid((
        members.path("userId", path, UserId::parse),
        members.optional("clientToken", ClientToken::parse),
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListUsersOutput<'a> {
    users: Vec<UserOutput<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResetUserPasswordOutput<'a> {
    user_id: &'a str,
    temporary_password: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdOutput<'a> {
    user_id: &'a str,
}

impl<'a> UserIdOutput<'a> {
    fn new(id: &'a UserId) -> Self {
        Self {
            user_id: id.as_str(),
        }
    }
}

/// The `User` shape (also GetUserResponse): absent members are omitted, times are epoch millis.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserOutput<'a> {
    pub(super) user_id: &'a str,
    pub(super) status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) last_name: Option<&'a str>,
    pub(super) email_address: &'a str,
    #[serde(rename = "type")]
    pub(super) user_type: &'static str,
    pub(super) api_access: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) api_access_principal_arn: Option<&'a str>,
    pub(super) create_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) last_enabled_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) last_disabled_time: Option<i64>,
    pub(super) last_modified_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) last_login_time: Option<i64>,
}

impl<'a> From<&'a User> for UserOutput<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            user_id: user.id.as_str(),
            status: user.status.as_str(),
            first_name: user.first_name.as_ref().map(FirstName::as_str),
            last_name: user.last_name.as_ref().map(LastName::as_str),
            email_address: user.email.as_str(),
            user_type: user.user_type.as_str(),
            api_access: user.api_access.as_str(),
            api_access_principal_arn: user.api_access_principal_arn.as_ref().map(RoleArn::as_str),
            create_time: user.create_time.as_millis(),
            last_enabled_time: user.last_enabled_time.map(Timestamp::as_millis),
            last_disabled_time: user.last_disabled_time.map(Timestamp::as_millis),
            last_modified_time: user.last_modified_time.as_millis(),
            last_login_time: user.last_login_time.map(Timestamp::as_millis),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::catalog::{USER, assert_wire};

    #[test]
    fn the_user_shape_is_what_is_sent() {
        let full = UserOutput {
            user_id: "u",
            status: "ENABLED",
            first_name: Some("Ada"),
            last_name: Some("Lovelace"),
            email_address: "ada@example.com",
            user_type: "APP_USER",
            api_access: "ENABLED",
            api_access_principal_arn: Some("arn:aws:iam::123456789012:role/R"),
            create_time: 1,
            last_enabled_time: Some(2),
            last_disabled_time: Some(3),
            last_modified_time: 4,
            last_login_time: Some(5),
        };
        let least = UserOutput {
            first_name: None,
            last_name: None,
            api_access_principal_arn: None,
            last_enabled_time: None,
            last_disabled_time: None,
            last_login_time: None,
            ..full
        };
        assert_wire(&USER, &full, &least);
    }
}

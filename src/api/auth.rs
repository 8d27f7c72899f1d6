//! The sign-in extension (not part of the FinSpace model): users authenticate with email and
//! password, and trade a temporary password from ResetUserPassword for one they choose.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::input::{Members, all_valid, read_body};
use super::invocation::request_id;
use userdir_core::domain::{Email, Password};
use userdir_core::service::SignedIn;

/// `POST /auth/sign-in` `{emailAddress, password}`
pub async fn sign_in(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, state.body).await?;
    let mut members = Members::from_json(&req, &body)?;
    let (email, password) = all_valid((
        members.required("emailAddress", Email::parse),
        members.required("password", Password::parse_offered),
    ))?;
    let client = state
        .clients
        .resolve(req.peer_addr().map(|a| a.ip()), req.headers());
    let signed_in = state
        .passwords
        .sign_in(&request_id(&req), &email, &password, client)
        .await?;
    Ok(HttpResponse::Ok().json(SignedInOutput::from(&signed_in)))
}

/// `POST /auth/password` `{emailAddress, password, newPassword}`
pub async fn change_password(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, state.body).await?;
    let mut members = Members::from_json(&req, &body)?;
    let (email, current, chosen) = all_valid((
        members.required("emailAddress", Email::parse),
        members.required("password", Password::parse_offered),
        members.required("newPassword", Password::parse_chosen),
    ))?;
    let client = state
        .clients
        .resolve(req.peer_addr().map(|a| a.ip()), req.headers());
    let signed_in = state
        .passwords
        .change_password(&request_id(&req), &email, &current, &chosen, client)
        .await?;
    Ok(HttpResponse::Ok().json(SignedInOutput::from(&signed_in)))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignedInOutput<'a> {
    user_id: &'a str,
    last_login_time: i64,
}

impl<'a> From<&'a SignedIn> for SignedInOutput<'a> {
    fn from(signed_in: &'a SignedIn) -> Self {
        Self {
            user_id: signed_in.user_id.as_str(),
            last_login_time: signed_in.at.as_millis(),
        }
    }
}

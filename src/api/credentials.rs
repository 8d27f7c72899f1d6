//! GetProgrammaticAccessCredentials and the audit-trail listing (an endpoint of our own).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::input::{Members, all_valid};
use super::invocation::Called;
use userdir_core::domain::{IntegerRule, TextRule, Violation};

/// `durationInMinutes`: the model's `SessionDuration`, 1–60.
pub(super) const SESSION_DURATION: IntegerRule = IntegerRule { min: 1, max: 60 };

/// `environmentId`: the model's `IdType`, 1–26 characters.
pub(super) const ENVIRONMENT_ID: TextRule = TextRule {
    min: 1,
    max: 26,
    pattern: None,
};

fn duration_minutes(value: &str) -> Result<u32, Violation> {
    let minutes = SESSION_DURATION.parse(value)?;
    // In 1..=60 once checked, so the conversion cannot fail.
    Ok(u32::try_from(minutes).unwrap_or(60))
}

fn environment_id(value: &str) -> Result<String, Violation> {
    ENVIRONMENT_ID.check(value)?;
    Ok(value.to_owned())
}

/// `GET /credentials/programmatic?environmentId&durationInMinutes`
pub async fn get_programmatic_access_credentials(
    req: HttpRequest,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let members = Members::new().with_query(&req)?;
    let (environment, duration) = all_valid((
        members.required_query("environmentId", environment_id),
        members.optional_query("durationInMinutes", duration_minutes),
    ))?;
    let issued = state
        .credentials
        .issue(&invocation, &environment, duration)
        .await?;
    Ok(HttpResponse::Ok().json(CredentialsOutput {
        credentials: CredentialsShape {
            access_key_id: &issued.access_key_id,
            secret_access_key: &issued.secret_access_key,
            session_token: &issued.session_token,
        },
        duration_in_minutes: issued.duration_minutes,
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialsOutput<'a> {
    credentials: CredentialsShape<'a>,
    duration_in_minutes: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialsShape<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
}

/// `GET /audit?maxResults&nextToken` (extension): the audit trail, oldest first; needs
/// ViewAuditData.
pub async fn list_audit_events(
    req: HttpRequest,
    Called(invocation): Called,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (size, next_token) = all_valid(Members::new().with_query(&req)?.page())?;
    let page = state
        .audit
        .list(&invocation, size, next_token.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(AuditOutput {
        events: page
            .items
            .iter()
            .map(|e| AuditEventOutput {
                seq: e.seq,
                time: e.record.time.as_millis(),
                request_id: &e.record.request_id,
                caller: &e.record.caller,
                operation: &e.record.operation,
                target: e.record.target.as_deref(),
                outcome: &e.outcome,
                detail: e.record.detail.as_deref(),
            })
            .collect(),
        next_token: page.next_token.as_deref(),
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditOutput<'a> {
    events: Vec<AuditEventOutput<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditEventOutput<'a> {
    seq: i64,
    time: i64,
    request_id: &'a str,
    caller: &'a str,
    operation: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    outcome: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::catalog::{AUDIT_EVENT, assert_wire};

    #[test]
    fn the_audit_event_shape_is_what_is_sent() {
        let full = AuditEventOutput {
            seq: 1,
            time: 2,
            request_id: "r",
            caller: "root",
            operation: "CreateUser",
            target: Some("u"),
            outcome: "ok",
            detail: Some("{}"),
        };
        let least = AuditEventOutput {
            target: None,
            detail: None,
            ..full
        };
        assert_wire(&AUDIT_EVENT, &full, &least);
    }
}

//! What every SCIM resource endpoint does alike: who is calling, where the prefix is as the
//! client reached it, preconditions on versions, and a resource's response with its headers.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use serde_json::Value;

use super::list::Projection;
use super::{Prefix, ScimError, respond};
use crate::api::AppState;
use crate::api::invocation::request_id;
use userdir_core::domain::{Caller, Invocation};
use userdir_core::store::AuditRecord;

pub fn invocation(req: &HttpRequest) -> Result<Invocation, ScimError> {
    let caller = req
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ScimError::internal("no authenticated caller on a SCIM route"))?;
    Ok(Invocation {
        caller,
        request_id: request_id(req),
    })
}

/// The URL of the SCIM prefix as the client reached it.
pub fn base(req: &HttpRequest, prefix: &Prefix) -> String {
    let connection = req.connection_info();
    format!(
        "{}://{}{}",
        connection.scheme(),
        connection.host(),
        prefix.as_str()
    )
}

/// The ETags a precondition header lists (weakness ignored, as for If-Match on weak ETags
/// RFC 7644 §3.14 asks), or `*`.
pub fn listed(req: &HttpRequest, name: header::HeaderName) -> Option<Vec<String>> {
    let value = req.headers().get(name)?;
    // A header that cannot be read names no version: a condition on it holds for none.
    let Ok(value) = value.to_str() else {
        return Some(Vec::new());
    };
    Some(
        value
            .split(',')
            .map(|tag| tag.trim().trim_start_matches("W/").to_owned())
            .filter(|tag| !tag.is_empty())
            .collect(),
    )
}

/// 304: the client's copy (named by If-None-Match) is current.
pub fn not_modified(version: &str) -> HttpResponse {
    let mut response = HttpResponse::NotModified().finish();
    if let Ok(value) = header::HeaderValue::from_str(version) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

pub fn version_matches(tags: &[String], version: &str) -> bool {
    let version = version.trim_start_matches("W/");
    tags.iter().any(|tag| tag == "*" || tag == version)
}

pub fn found(
    status: StatusCode,
    resource: &Value,
    projection: &Projection,
    schemas: &[&str],
    location: bool,
) -> HttpResponse {
    let version = resource["meta"]["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let url = resource["meta"]["location"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut response = respond(status, &projection.apply(resource.clone(), schemas));
    if let Ok(value) = header::HeaderValue::from_str(&version) {
        response.headers_mut().insert(header::ETAG, value);
    }
    if location && let Ok(value) = header::HeaderValue::from_str(&url) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A write that had nothing to change is answered without touching the store, and recorded
/// here, so that it is in the audit trail as every other use of a token.
pub async fn audit_unchanged(
    state: &AppState,
    invocation: &Invocation,
    operation: &'static str,
    target: &str,
) {
    let record = AuditRecord {
        time: state.clock.now(),
        request_id: invocation.request_id.clone(),
        caller: invocation.caller.to_string(),
        operation: operation.to_owned(),
        target: Some(target.to_owned()),
        detail: Some("nothing to change".to_owned()),
    };
    state.audit.record_refusal(record, "SUCCESS").await;
}

//! Gives every request an id (sent back as `x-amzn-RequestId`) and a tracing span carrying it,
//! logs each request once when it completes — including the detail of any error it ended with —
//! and records refused writes and failed authentications in the audit trail.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use tracing::Instrument;
use ulid::Ulid;

use super::authenticate::{ClaimedKey, FailureCharged};
use super::error::ERROR_TYPE;
use super::invocation::RequestId;
use super::scim::ScimOperation;
use super::{AppState, operation_of};
use userdir_core::domain::Caller;
use userdir_core::service::failures::Verdict;
use userdir_core::store::AuditRecord;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = Ulid::generate();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        route = tracing::field::Empty,
        operation = tracing::field::Empty,
        caller = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let started = Instant::now();
    req.extensions_mut().insert(RequestId(request_id));
    let mut res = next
        .call(req)
        .instrument(span.clone())
        .await?
        .map_into_boxed_body();
    let request = res.request().clone();

    let status = res.status();
    let took = started.elapsed();
    let operation = operation_name(&request);
    if let Some(state) = request.app_data::<web::Data<AppState>>() {
        let outcome = match res.headers().get(&ERROR_TYPE) {
            Some(error) => error.to_str().unwrap_or("Error"),
            None if status.is_success() => "Success",
            None => status.canonical_reason().unwrap_or("Error"),
        };
        state.metrics.observe_request(operation, outcome, took);
    }
    // The route pattern is built on demand (it walks the route table): only for a span recorded.
    if !span.is_disabled() {
        let pattern = request.match_pattern();
        span.record("route", pattern.as_deref().unwrap_or("unmatched"));
        span.record("operation", operation);
        span.record("status", status.as_u16());
        span.record("latency_ms", took.as_secs_f64() * 1000.0);
    }
    let mut text = [0u8; ulid::ULID_LEN];
    if let Ok(value) = HeaderValue::from_str(request_id.array_to_str(&mut text)) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    let unrecorded = matches!(
        request.extensions().get::<FailureCharged>(),
        Some(FailureCharged(Verdict::Count { .. }))
    );
    {
        let _entered = span.enter();
        match res.response().error() {
            Some(error) if status.is_server_error() => {
                tracing::error!(error = %error, "request failed")
            }
            // Only counted: an attack would otherwise fill the log as it would the trail.
            Some(error) if unrecorded => tracing::debug!(error = %error, "request refused"),
            Some(error) => tracing::info!(error = %error, "request refused"),
            None => tracing::info!("request completed"),
        }
    }
    if (status.is_client_error() || status.is_server_error()) && !unrecorded {
        audit_refusal(&request, &res, request_id.to_string())
            .instrument(span)
            .await;
    }
    Ok(res)
}

/// The operation a request is: a SCIM one as the SCIM layer named it, else the FinSpace
/// operation its path names.
fn operation_name(request: &HttpRequest) -> &'static str {
    match request.extensions().get::<ScimOperation>() {
        Some(ScimOperation(name)) => name,
        None => operation_of(request.method().as_str(), request.path()),
    }
}

/// Writes that were refused or failed, and every failed authentication, go to the audit trail.
/// (Writes that succeed are recorded by the store in their own transaction.)
async fn audit_refusal(request: &HttpRequest, res: &ServiceResponse<BoxBody>, request_id: String) {
    let outcome = res
        .headers()
        .get(&ERROR_TYPE)
        .and_then(|v| v.to_str().ok())
        .or_else(|| res.status().canonical_reason())
        .unwrap_or("Error")
        .to_owned();
    let claimed = request.extensions().get::<ClaimedKey>().cloned();
    let caller = request.extensions().get::<Caller>().cloned();
    // Refused by the authentication layer itself (a sign-in's 403 is the sign-in's own answer).
    let authentication_failed = caller.is_none()
        && matches!(
            res.status(),
            actix_web::http::StatusCode::FORBIDDEN | actix_web::http::StatusCode::UNAUTHORIZED
        )
        && request.extensions().contains::<FailureCharged>();
    let operation = if authentication_failed {
        "Authenticate"
    } else {
        operation_name(request)
    };
    // SCIM's reads are audited by its own layer.
    if request
        .extensions()
        .get::<ScimOperation>()
        .is_some_and(|operation| operation.is_read())
        && !authentication_failed
    {
        return;
    }
    // Reads are not audited, except a request for credentials: who was refused keys matters.
    if *request.method() == Method::GET
        && !authentication_failed
        && operation != "GetProgrammaticAccessCredentials"
    {
        return;
    }
    let Some(state) = request.app_data::<web::Data<AppState>>() else {
        return;
    };
    // A refusal without a caller (a failed sign-in, say) that authentication did not charge yet
    // is charged now: anonymous requests never cost more than the failure budget allows.
    if caller.is_none() && request.extensions().get::<FailureCharged>().is_none() {
        let client = state
            .clients
            .resolve(request.peer_addr().map(|a| a.ip()), request.headers());
        if state.failures.charge(client, state.clock.now()) != Verdict::Record {
            return;
        }
    }
    let caller = match (caller, claimed) {
        (Some(caller), _) => caller.to_string(),
        (None, Some(key)) => format!("unauthenticated:{}", key.0),
        (None, None) => "unauthenticated".to_owned(),
    };
    let target = ["userId", "permissionGroupId"]
        .iter()
        .find_map(|name| request.match_info().get(name))
        .map(|id| id.chars().take(64).collect());
    let record = AuditRecord {
        time: state.clock.now(),
        request_id,
        caller,
        operation: operation.to_owned(),
        target,
        detail: None,
    };
    state.audit.record_refusal(record, &outcome).await;
}

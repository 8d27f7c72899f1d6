//! The bearer check in front of every SCIM route: `Authorization: Bearer <token>` naming a live
//! token (looked up on every request, so a revocation holds at once on every instance), each
//! token held to the request rate as a caller of its own, and each use in the audit trail.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use governor::clock::{Clock, DefaultClock};

use super::{Prefix, ScimError, operation_of};
use crate::api::AppState;
use crate::api::authenticate::{ClaimedKey, FailureCharged};
use userdir_core::domain::{Caller, ScimToken};
use userdir_core::service::failures::Verdict;
use userdir_core::store::AuditRecord;

/// The SCIM operation a request is (set before authentication, so that a refusal is named too).
#[derive(Debug, Clone, Copy)]
pub struct ScimOperation(pub &'static str);

impl ScimOperation {
    /// Reads (a GET, or a POST to `.search`) are audited here, whatever their outcome; the
    /// request context audits the refused writes.
    pub fn is_read(&self) -> bool {
        self.0.starts_with("ScimGet")
            || self.0.starts_with("ScimList")
            || self.0.starts_with("ScimSearch")
    }
}

pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let (Some(state), Some(prefix)) = (
        req.app_data::<web::Data<AppState>>().cloned(),
        req.app_data::<web::Data<Prefix>>().cloned(),
    ) else {
        let missing = ScimError::internal("application state missing");
        return Ok(req.error_response(missing).map_into_right_body());
    };
    let rest = req.path().strip_prefix(prefix.as_str()).unwrap_or_default();
    let operation = ScimOperation(operation_of(req.method().as_str(), rest));
    req.extensions_mut().insert(operation);
    // Writes are recorded by the store with their effect, refusals by the request context;
    // reads are recorded here, so that every use of a token is in the trail.
    match admit(&state, &req).await {
        Ok(caller) => {
            let res = next.call(req).await?;
            if operation.is_read() {
                audit_read(&state, res.request(), res.status(), caller, operation.0).await;
            }
            Ok(res.map_into_left_body())
        }
        Err(refusal) => {
            let caller = req.extensions().get::<Caller>().cloned();
            match caller {
                // Known, but over its rate (or the check failed inside).
                Some(caller) if operation.is_read() => {
                    audit_read(&state, req.request(), refusal.status, caller, operation.0).await;
                }
                Some(_) => {}
                None => {
                    let refusal = charge_failure(&state, &req, refusal);
                    return Ok(req.error_response(refusal).map_into_right_body());
                }
            }
            Ok(req.error_response(refusal).map_into_right_body())
        }
    }
}

/// The caller a request's bearer token stands for, within its rate.
async fn admit(state: &AppState, req: &ServiceRequest) -> Result<Caller, ScimError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(ScimError::unauthorized(
            "Authorization: Bearer <token> is required, once (make a token with `userdir \
             scim-token create`)",
        ));
    };
    let presented = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| ScimError::unauthorized("The Authorization header is not a bearer token"))?;
    if let Some(token) = ScimToken::parse(presented) {
        req.extensions_mut()
            .insert(ClaimedKey(format!("scim-token:{}", token.id())));
    }
    let name = state
        .scim
        .token_name(presented)
        .await
        .map_err(ScimError::from)?
        .ok_or_else(|| ScimError::unauthorized("The bearer token is not a live SCIM token"))?;
    let caller = Caller::Scim(name);
    tracing::Span::current().record("caller", tracing::field::display(&caller));
    req.extensions_mut().insert(caller.clone());
    if let Err(not_until) = state.throttle.check_key(&caller) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        return Err(ScimError::throttled("Rate exceeded", wait.as_secs()));
    }
    Ok(caller)
}

/// A failed authentication costs its client address as SigV4's do: answered and recorded within
/// the address's budget, only counted past it (and answered 429 if that address is over).
fn charge_failure(state: &AppState, req: &ServiceRequest, refusal: ScimError) -> ScimError {
    let client = state
        .clients
        .resolve(req.peer_addr().map(|a| a.ip()), req.headers());
    let verdict = state.failures.charge(client, state.clock.now());
    req.extensions_mut().insert(FailureCharged(verdict));
    match verdict {
        Verdict::Count { limited: true } => {
            ScimError::throttled("Too many failed authentications from this address", 60)
        }
        _ => refusal,
    }
}

async fn audit_read(
    state: &AppState,
    request: &actix_web::HttpRequest,
    status: actix_web::http::StatusCode,
    caller: Caller,
    operation: &'static str,
) {
    let outcome = if status.is_success() || status == actix_web::http::StatusCode::NOT_MODIFIED {
        "SUCCESS".to_owned()
    } else {
        status.canonical_reason().unwrap_or("Error").to_owned()
    };
    let record = AuditRecord {
        time: state.clock.now(),
        request_id: crate::api::invocation::request_id(request),
        caller: caller.to_string(),
        operation: operation.to_owned(),
        target: ["userId", "permissionGroupId"]
            .iter()
            .find_map(|name| request.match_info().get(name))
            .map(|id| id.chars().take(64).collect()),
        detail: None,
    };
    state.audit.record_refusal(record, &outcome).await;
}

//! Authentication of the FinSpace operations: every request must carry a valid SigV4 signature
//! (unless the anonymous mode is configured), and each caller is held to a request rate.

use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use governor::clock::{Clock, DefaultClock};

use super::AppState;
use super::error::ApiError;
use super::input::read_stream;
use super::sigv4::{self, Authorization, SignatureFailure};
use crate::config::AuthMode;
use userdir_core::domain::Caller;
use userdir_core::service::credentials::KeyFailure;
use userdir_core::service::failures::Verdict;

/// The access key id a request claimed, kept for the audit trail when authentication fails.
#[derive(Debug, Clone)]
pub struct ClaimedKey(pub String);

/// How a request refused before it had a caller was charged to its client address's failure
/// budget (see `FailedAuthentications`): recorded in the audit trail, or only counted.
#[derive(Debug, Clone, Copy)]
pub struct FailureCharged(pub Verdict);

pub async fn authenticate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let missing = ApiError::Internal("application state missing".into());
        return Ok(req.error_response(missing).map_into_right_body());
    };
    // Refusals are answered here rather than passed up as errors, so that the request-context
    // middleware sees them as ordinary responses.
    match admit(&state, &mut req).await {
        Ok(caller) => {
            // Who made the request, on every line logged while it is served.
            tracing::Span::current().record("caller", tracing::field::display(&caller));
            req.extensions_mut().insert(caller);
            Ok(next.call(req).await?.map_into_left_body())
        }
        // A known caller over its rate: not a failure of authentication.
        Err(refusal @ ApiError::Throttling { .. }) => {
            Ok(req.error_response(refusal).map_into_right_body())
        }
        // Anything else was refused before the request had a caller (a bad signature, a body
        // too large or too slow): it costs an audit entry only within the address's budget.
        Err(refusal) => {
            let refusal = charge_failure(&state, &req, refusal);
            Ok(req.error_response(refusal).map_into_right_body())
        }
    }
}

/// Charges a failed authentication to its client address: within the budgets it is answered and
/// recorded as it is; past them it is only counted, and answered 429 if its address is the one
/// over budget.
fn charge_failure(state: &AppState, req: &ServiceRequest, refusal: ApiError) -> ApiError {
    let client = state
        .clients
        .resolve(req.peer_addr().map(|a| a.ip()), req.headers());
    let verdict = state.failures.charge(client, state.clock.now());
    req.extensions_mut().insert(FailureCharged(verdict));
    match verdict {
        Verdict::Record => refusal,
        Verdict::Count { limited } => {
            if limited {
                ApiError::Throttling {
                    message: "Too many failed authentications from this address".into(),
                    retry_after_secs: 60,
                }
            } else {
                refusal
            }
        }
    }
}

/// Authenticates the request and charges its caller's rate.
async fn admit(state: &AppState, req: &mut ServiceRequest) -> Result<Caller, ApiError> {
    let caller = match state.auth.mode {
        AuthMode::Anonymous => Caller::Anonymous,
        AuthMode::Sigv4 if has_body(req.headers()) => {
            let declared = req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let body = read_stream(req.take_payload(), declared, state.body).await?;
            let caller = verify(state, req, &body).await?;
            req.set_payload(Payload::from(body));
            caller
        }
        AuthMode::Sigv4 => verify(state, req, &[]).await?,
    };
    throttle(state, caller)
}

/// A request carries each header of its signature at most once: two copies make an ambiguous
/// request, which a proxy and this server might read differently, so it is refused before any
/// of it is trusted.
fn refuse_repeated_signing_headers(headers: &header::HeaderMap) -> Result<(), SignatureFailure> {
    for name in [
        &header::AUTHORIZATION,
        &sigv4::names::X_AMZ_DATE,
        &sigv4::names::X_AMZ_SECURITY_TOKEN,
        &sigv4::names::X_AMZ_CONTENT_SHA256,
    ] {
        if headers.get_all(name).nth(1).is_some() {
            return Err(SignatureFailure::Incomplete(format!(
                "The request carries the {name} header more than once"
            )));
        }
    }
    Ok(())
}

/// HTTP/1.1: a request with neither header has no body (the usual GET), and nothing to read.
fn has_body(headers: &header::HeaderMap) -> bool {
    headers.contains_key(header::CONTENT_LENGTH) || headers.contains_key(header::TRANSFER_ENCODING)
}

/// Charges the caller's rate.
fn throttle(state: &AppState, caller: Caller) -> Result<Caller, ApiError> {
    if let Err(not_until) = state.throttle.check_key(&caller) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        return Err(ApiError::Throttling {
            message: "Rate exceeded".into(),
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    Ok(caller)
}

async fn verify(state: &AppState, req: &ServiceRequest, body: &[u8]) -> Result<Caller, ApiError> {
    refuse_repeated_signing_headers(req.headers())?;
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(SignatureFailure::Missing)?
        .to_str()
        .map_err(|_| {
            SignatureFailure::Incomplete("The Authorization header is not ASCII".into())
        })?;
    let authorization = Authorization::parse(header)?;
    let verified = verify_claim(state, req, body, &authorization).await;
    if verified.is_err() {
        req.extensions_mut()
            .insert(ClaimedKey(authorization.access_key_id.into_owned()));
    }
    verified
}

/// Checks a parsed claim: its time, its key, its signature, and the key's standing.
async fn verify_claim(
    state: &AppState,
    req: &ServiceRequest,
    body: &[u8],
    authorization: &Authorization<'_>,
) -> Result<Caller, ApiError> {
    let time = sigv4::request_time(
        req.headers(),
        authorization,
        Duration::from_secs(state.auth.max_skew_secs),
        state.clock.now().into(),
    )?;
    let session_token = req
        .headers()
        .get(&sigv4::names::X_AMZ_SECURITY_TOKEN)
        .map(|v| v.to_str())
        .transpose()
        .map_err(|_| SignatureFailure::Incomplete("X-Amz-Security-Token is not ASCII".into()))?;
    let key = state
        .credentials
        .signing_key(&authorization.access_key_id, session_token)?;
    let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let signed = sigv4::Signed {
        method: req.method().as_str(),
        path_and_query,
        headers: req.headers(),
        body,
        authorization,
        stamp: time.stamp,
        session_token,
    };
    state.signatures.verify(&signed, &key.secret, time.time)?;
    state.credentials.confirm(&key).await?;
    Ok(key.caller)
}

impl From<SignatureFailure> for ApiError {
    fn from(failure: SignatureFailure) -> Self {
        let error_type = match failure {
            SignatureFailure::Missing => "MissingAuthenticationTokenException",
            SignatureFailure::Incomplete(_) => "IncompleteSignatureException",
            SignatureFailure::Invalid(_) => "InvalidSignatureException",
        };
        ApiError::Unauthenticated {
            error_type,
            message: failure.to_string(),
        }
    }
}

impl From<KeyFailure> for ApiError {
    fn from(failure: KeyFailure) -> Self {
        let error_type = match failure {
            KeyFailure::UnknownKey => "UnrecognizedClientException",
            KeyFailure::Expired => "ExpiredTokenException",
        };
        ApiError::Unauthenticated {
            error_type,
            message: failure.to_string(),
        }
    }
}

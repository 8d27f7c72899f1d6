//! Gives every request an id (sent back as `x-amzn-RequestId`) and a tracing span carrying it, and
//! logs each request once when it completes — including the detail of any error it ended with.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use ulid::Ulid;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = Ulid::generate().to_string();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        route = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;

    let status = res.status();
    span.record(
        "route",
        res.request()
            .match_pattern()
            .as_deref()
            .unwrap_or("unmatched"),
    );
    span.record("status", status.as_u16());
    span.record("latency_ms", started.elapsed().as_secs_f64() * 1000.0);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    let _entered = span.enter();
    match res.response().error() {
        Some(error) if status.is_server_error() => {
            tracing::error!(error = %error, "request failed")
        }
        Some(error) => tracing::info!(error = %error, "request refused"),
        None => tracing::info!("request completed"),
    }
    Ok(res)
}

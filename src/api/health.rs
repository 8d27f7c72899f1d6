//! Probes for orchestrators: liveness does no I/O, readiness asks the database.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::telemetry::error_chain;

/// `GET /health/live`
pub async fn live() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(r#"{"status":"live"}"#)
}

/// `GET /health/ready`
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.users.ready().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(error) => {
            tracing::warn!(error = %error_chain(&error), "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable" }))
        }
    }
}

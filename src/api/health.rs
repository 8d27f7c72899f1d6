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

/// `GET /metrics`: the GetUser cache's figures in the Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    use std::fmt::Write;
    let mut text = String::new();
    if let Some(cache) = state.users.cache_stats() {
        for (name, kind, help, value) in [
            (
                "userdir_user_cache_entries",
                "gauge",
                "Users held by the GetUser cache.",
                cache.entries as u64,
            ),
            (
                "userdir_user_cache_capacity",
                "gauge",
                "Users the GetUser cache may hold.",
                cache.capacity as u64,
            ),
            (
                "userdir_user_cache_hits_total",
                "counter",
                "GetUser reads answered from the cache.",
                cache.hits,
            ),
            (
                "userdir_user_cache_misses_total",
                "counter",
                "GetUser reads that went to the database.",
                cache.misses,
            ),
        ] {
            let _ = write!(
                text,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        }
    }
    match state.users.stored_tokens().await {
        Ok(tokens) => {
            let name = "userdir_idempotency_tokens";
            let _ = write!(
                text,
                "# HELP {name} clientTokens remembered (live, or expired and not yet purged).\n\
                 # TYPE {name} gauge\n{name} {tokens}\n"
            );
        }
        Err(error) => {
            tracing::warn!(error = %error_chain(&error), "counting idempotency tokens failed")
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}

//! A SCIM request's body: `application/scim+json` or `application/json` (or no type: clients
//! differ), read under the server's size and time limits, and a JSON object.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, web};
use serde_json::Value;

use super::ScimError;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::input::read_body;

pub async fn json_object(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Value, ScimError> {
    if let Some(value) = req.headers().get(header::CONTENT_TYPE) {
        let essence = value
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != super::CONTENT_TYPE && essence != "application/json" {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                "A SCIM request body is application/scim+json (or application/json)",
            ));
        }
    }
    let bytes = read_body(req, payload, state.body)
        .await
        .map_err(|e| match e {
            ApiError::PayloadTooLarge { limit } => ScimError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                format!("The request body exceeds the limit of {limit} bytes"),
            ),
            ApiError::RequestTimeout { secs } => ScimError::new(
                StatusCode::REQUEST_TIMEOUT,
                None,
                format!("The request body was not received within {secs} seconds"),
            ),
            other => ScimError::invalid_syntax(other.to_string()),
        })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ScimError::invalid_syntax(format!(
            "The body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if !value.is_object() {
        return Err(ScimError::invalid_syntax("The body must be a JSON object"));
    }
    Ok(value)
}

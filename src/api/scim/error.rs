//! SCIM's error shape (RFC 7644 §3.12): `status` (a string), `scimType` for the 400s and 409 it
//! names, and a `detail` that names the rule, never the offending value.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use scim_v2::models::errors::ScimHttpError;

use super::CONTENT_TYPE;
use userdir_core::service::ServiceError;

/// A SCIM error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {}: {detail}{}", scim_type.unwrap_or("-"), cause.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// How long to wait before retrying (429, 503).
    pub retry_after_secs: Option<u64>,
    /// What went wrong inside, for the log only (a 5xx's detail is generic).
    pub cause: Option<String>,
    /// The methods a path allows (405).
    pub allow: Option<String>,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            retry_after_secs: None,
            cause: None,
            allow: None,
        }
    }

    fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    /// The filter is not valid, or names what cannot be filtered on.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request("invalidFilter", detail)
    }

    /// A value is not valid for its attribute, or a required one is missing.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request("invalidValue", detail)
    }

    /// The filter would make the server read more than it will (RFC 7644 §3.12).
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::bad_request("tooMany", detail)
    }

    /// The body is not JSON of the expected shape.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request("invalidSyntax", detail)
    }

    /// A PATCH path is not valid.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request("invalidPath", detail)
    }

    /// A PATCH path's filter matched nothing.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request("noTarget", detail)
    }

    /// An attempt to change what cannot change.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request("mutability", detail)
    }

    /// A parameter is not valid.
    pub fn invalid_parameter(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, None, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }

    /// The resource is not at the version the request named (If-Match).
    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            "The resource changed: its version is not the one If-Match names",
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, None, detail)
    }

    pub fn throttled(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, None, detail)
        }
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "The request failed because of an error inside the service",
            )
        }
    }

    /// The body of the response.
    pub fn body(&self) -> ScimHttpError {
        ScimHttpError {
            scim_type: self.scim_type.map(str::to_owned),
            detail: Some(self.detail.clone()),
            status: self.status.as_u16().to_string(),
            ..ScimHttpError::default()
        }
    }
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, CONTENT_TYPE));
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"userdir SCIM\""));
        }
        if let Some(allow) = &self.allow {
            response.insert_header((header::ALLOW, allow.as_str()));
        }
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.body(serde_json::to_vec(&self.body()).unwrap_or_default())
    }
}

impl From<ServiceError> for ScimError {
    fn from(error: ServiceError) -> Self {
        let message = error.to_string();
        match error {
            ServiceError::UserNotFound(_) | ServiceError::GroupNotFound(_) => {
                Self::not_found(message)
            }
            ServiceError::EmailTaken => {
                Self::uniqueness("A user with this userName (email address) exists already")
            }
            ServiceError::GroupNameTaken => {
                Self::uniqueness("A group with this displayName exists already")
            }
            ServiceError::AlreadyMember { .. } | ServiceError::NotMember { .. } => {
                Self::new(StatusCode::CONFLICT, None, message)
            }
            ServiceError::Changed => Self::precondition_failed(),
            ServiceError::MemberNotFound => Self::invalid_value(
                "members: every value must be the id of a user of this directory",
            ),
            ServiceError::ForbiddenInStatus { .. } => {
                Self::new(StatusCode::CONFLICT, None, message)
            }
            ServiceError::LimitExceeded(_) => Self::new(StatusCode::FORBIDDEN, None, message),
            ServiceError::AccessDenied(_) => Self::new(StatusCode::FORBIDDEN, None, message),
            ServiceError::Throttled { retry_after } => {
                Self::throttled(message, retry_after.as_secs())
            }
            ServiceError::Unavailable(detail) => Self {
                retry_after_secs: Some(5),
                cause: Some(detail),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "The service cannot take writes for now; retry later",
                )
            },
            other => Self::internal(crate::telemetry::error_chain(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_rfcs_shape() {
        let body = serde_json::to_value(ScimError::invalid_filter("bad").body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "scimType": "invalidFilter",
                "detail": "bad",
                "status": "400"
            })
        );
    }

    #[test]
    fn an_internal_error_keeps_its_cause_out_of_the_body() {
        let error = ScimError::internal("disk on fire");
        let body = serde_json::to_string(&error.body()).unwrap();
        assert!(!body.contains("disk"), "{body}");
        assert!(error.to_string().contains("disk on fire"));
    }
}

//! The one error type of the HTTP layer, rendered in the AWS rest-json error format: the model's
//! status code, `x-amzn-ErrorType: <ErrorName>` and a JSON body with `message` (and `reason`
//! where the model has one).

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderName;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use userdir_core::service::ServiceError;

/// The header naming an error's type, as AWS sends it (`x-amzn-ErrorType`; names are case-blind).
pub const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Validation {
        message: String,
        reason: &'static str,
    },
    /// A body over the configured limit: a validation failure, answered with 413.
    #[error("The request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The client did not send its body in time.
    #[error("The request body was not received within {secs} seconds")]
    RequestTimeout { secs: f64 },
    #[error("{message}")]
    ResourceNotFound {
        message: String,
        reason: &'static str,
    },
    #[error("{message}")]
    Conflict {
        message: String,
        reason: &'static str,
    },
    #[error("No operation matches {0}")]
    UnknownOperation(String),
    /// A known path asked with a method none of its operations has.
    #[error("No operation matches {request}; this path allows {allow}")]
    MethodNotAllowed { request: String, allow: String },
    /// Sign-in extension: the credentials were not accepted.
    #[error("{0}")]
    NotAuthorized(String),
    /// Sign-in extension: a temporary password must be traded for a chosen one first.
    #[error("{0}")]
    PasswordResetRequired(String),
    #[error("{0}")]
    AccessDenied(String),
    /// Authentication failed; `error_type` is the AWS common error name for the case.
    #[error("{message}")]
    Unauthenticated {
        error_type: &'static str,
        message: String,
    },
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{message}")]
    Throttling {
        message: String,
        retry_after_secs: u64,
    },
    /// Anything the client cannot fix. Its detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
    /// The service cannot take writes for now (its disk is full); the detail is logged, never
    /// sent. Answered 503 with Retry-After, which the SDKs retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl ApiError {
    pub fn validation(reason: &'static str, message: impl Into<String>) -> Self {
        ApiError::Validation {
            message: message.into(),
            reason,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            ApiError::Validation { .. } | ApiError::PayloadTooLarge { .. } => "ValidationException",
            ApiError::ResourceNotFound { .. } => "ResourceNotFoundException",
            ApiError::RequestTimeout { .. } => "RequestTimeoutException",
            ApiError::Conflict { .. } => "ConflictException",
            ApiError::UnknownOperation(_) | ApiError::MethodNotAllowed { .. } => {
                "UnknownOperationException"
            }
            ApiError::NotAuthorized(_) => "NotAuthorizedException",
            ApiError::PasswordResetRequired(_) => "PasswordResetRequiredException",
            ApiError::AccessDenied(_) => "AccessDeniedException",
            ApiError::Unauthenticated { error_type, .. } => error_type,
            ApiError::LimitExceeded(_) => "LimitExceededException",
            ApiError::Throttling { .. } => "ThrottlingException",
            ApiError::Internal(_) | ApiError::Unavailable(_) => "InternalServerException",
        }
    }

    fn reason(&self) -> Option<&'static str> {
        match self {
            ApiError::Validation { reason, .. }
            | ApiError::ResourceNotFound { reason, .. }
            | ApiError::Conflict { reason, .. } => Some(reason),
            _ => None,
        }
    }

    fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => {
                "The request processing has failed because of an unknown error, exception or failure."
                    .to_owned()
            }
            ApiError::Unavailable(_) => {
                "The service cannot take writes for now; retry later".to_owned()
            }
            other => other.to_string(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::ResourceNotFound { .. } | ApiError::UnknownOperation(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::NotAuthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::PasswordResetRequired(_)
            | ApiError::AccessDenied(_)
            | ApiError::Unauthenticated { .. } => StatusCode::FORBIDDEN,
            ApiError::LimitExceeded(_) => StatusCode::BAD_REQUEST,
            ApiError::Throttling { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((ERROR_TYPE, self.error_type()));
        let retry_after = match self {
            ApiError::Throttling {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            ApiError::Unavailable(_) => Some(5),
            _ => None,
        };
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            response.insert_header((actix_web::http::header::ALLOW, allow.as_str()));
        }
        if let Some(secs) = retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        response.json(ErrorBody {
            message: self.public_message(),
            reason: self.reason(),
        })
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        let message = error.to_string();
        let conflict = |reason| ApiError::Conflict {
            message: message.clone(),
            reason,
        };
        let not_found = |reason| ApiError::ResourceNotFound {
            message: message.clone(),
            reason,
        };
        match &error {
            ServiceError::UserNotFound(_) => not_found("USER_NOT_FOUND"),
            ServiceError::GroupNotFound(_) => not_found("PERMISSION_GROUP_NOT_FOUND"),
            ServiceError::EmailTaken => conflict("EMAIL_ALREADY_REGISTERED"),
            ServiceError::GroupNameTaken => conflict("PERMISSION_GROUP_NAME_TAKEN"),
            ServiceError::TokenMismatch(_) => conflict("IDEMPOTENCY_TOKEN_REUSED"),
            ServiceError::ForbiddenInStatus { .. } => conflict("INVALID_USER_STATUS"),
            ServiceError::AlreadyMember { .. } => conflict("ALREADY_A_MEMBER"),
            ServiceError::NotMember { .. } => conflict("NOT_A_MEMBER"),
            ServiceError::Changed => conflict("RESOURCE_CHANGED"),
            ServiceError::MemberNotFound => not_found("USER_NOT_FOUND"),
            ServiceError::InvalidNextToken(_) => ApiError::Validation {
                message: format!(
                    "1 validation error detected: Value at 'nextToken' failed to satisfy constraint: {message}"
                ),
                reason: "INVALID_PAGINATION_TOKEN",
            },
            ServiceError::SignInFailed => ApiError::NotAuthorized(message),
            ServiceError::PasswordChangeRequired => ApiError::PasswordResetRequired(message),
            ServiceError::SignInNotAllowed(_) => ApiError::AccessDenied(message),
            ServiceError::Throttled { retry_after } => ApiError::Throttling {
                message,
                retry_after_secs: retry_after.as_secs().max(1),
            },
            ServiceError::AccessDenied(_) => ApiError::AccessDenied(message),
            ServiceError::LimitExceeded(_) => ApiError::LimitExceeded(message),
            ServiceError::InvalidEnvironment(_) => ApiError::Validation {
                message: format!(
                    "1 validation error detected: Value at 'environmentId' failed to satisfy constraint: {message}"
                ),
                reason: "UNKNOWN_ENVIRONMENT",
            },
            ServiceError::CredentialsRevoked => ApiError::Unauthenticated {
                error_type: "UnrecognizedClientException",
                message,
            },
            ServiceError::Unavailable(detail) => ApiError::Unavailable(detail.clone()),
            ServiceError::Store(_) | ServiceError::Internal(_) => {
                ApiError::Internal(crate::telemetry::error_chain(&error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::catalog::{ERROR_BODY, assert_wire};

    #[test]
    fn the_error_shape_is_what_is_sent() {
        let full = ErrorBody {
            message: "m".to_owned(),
            reason: Some("r"),
        };
        let least = ErrorBody {
            message: "m".to_owned(),
            reason: None,
        };
        assert_wire(&ERROR_BODY, &full, &least);
    }
}

//! The one error type of the HTTP layer, rendered in the AWS rest-json error format: the model's
//! status code, `x-amzn-ErrorType: <ErrorName>` and a JSON body with `message` (and `reason`
//! where the model has one).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::service::ServiceError;

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
    /// Anything the client cannot fix. Its detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
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
            ApiError::Conflict { .. } => "ConflictException",
            ApiError::UnknownOperation(_) => "UnknownOperationException",
            ApiError::Internal(_) => "InternalServerException",
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
            ApiError::ResourceNotFound { .. } | ApiError::UnknownOperation(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .insert_header(("x-amzn-ErrorType", self.error_type()))
            .json(ErrorBody {
                message: self.public_message(),
                reason: self.reason(),
            })
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::UserNotFound(_) => ApiError::ResourceNotFound {
                message: error.to_string(),
                reason: "USER_NOT_FOUND",
            },
            ServiceError::EmailTaken => ApiError::Conflict {
                message: error.to_string(),
                reason: "EMAIL_ALREADY_REGISTERED",
            },
            ServiceError::TokenMismatch(_) => ApiError::Conflict {
                message: error.to_string(),
                reason: "IDEMPOTENCY_TOKEN_REUSED",
            },
            ServiceError::Store(_) => {
                ApiError::Internal(crate::service::idempotency::error_chain(&error))
            }
        }
    }
}

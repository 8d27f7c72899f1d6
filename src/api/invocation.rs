//! Hands each handler the call's invocation: its request id and its authenticated caller.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use ulid::Ulid;

use super::error::ApiError;
use userdir_core::domain::{Caller, Invocation};

/// The request id given by the request-context middleware (written out only where it is used).
#[derive(Debug, Clone, Copy)]
pub struct RequestId(pub Ulid);

pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|id| id.0.to_string())
        .unwrap_or_default()
}

/// Extracts the call's [`Invocation`] (an extractor of ours: the type itself is the core's).
pub struct Called(pub Invocation);

impl FromRequest for Called {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = req.extensions().get::<Caller>().cloned();
        ready(match caller {
            Some(caller) => Ok(Called(Invocation {
                caller,
                request_id: request_id(req),
            })),
            // Only routes behind the authentication middleware take an invocation.
            None => Err(ApiError::Internal(
                "no authenticated caller on this route".into(),
            )),
        })
    }
}

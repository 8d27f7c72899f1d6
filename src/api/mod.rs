//! The HTTP layer: AWS rest-json routes, wire members, and the AWS error format.

mod error;
mod health;
mod input;
mod request_context;
mod users;

use actix_web::{HttpRequest, HttpResponse, web};

pub use error::ApiError;
pub use request_context::request_context;

use crate::service::UserService;

/// What every handler shares.
pub struct AppState {
    pub users: UserService,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
}

/// Routes of the FinSpace Data user API plus the health probes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(health::live))
        .route("/health/ready", web::get().to(health::ready))
        .route("/user", web::post().to(users::create_user))
        .route("/user/{userId}", web::get().to(users::get_user))
        .route("/user/{userId}", web::put().to(users::update_user))
        .default_service(web::to(unknown_operation));
}

async fn unknown_operation(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::UnknownOperation(format!(
        "{} {}",
        req.method(),
        req.path()
    )))
}

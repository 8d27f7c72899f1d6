//! The HTTP layer: AWS rest-json routes, wire members, and the AWS error format.

mod auth;
mod error;
mod groups;
mod health;
mod input;
mod request_context;
mod users;

use actix_web::{HttpRequest, HttpResponse, web};

pub use error::ApiError;
pub use request_context::request_context;

use crate::service::{GroupService, PasswordService, UserService};

/// What every handler shares.
pub struct AppState {
    pub users: UserService,
    pub groups: GroupService,
    pub passwords: PasswordService,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
}

/// Routes of the FinSpace Data user API plus the health probes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(health::live))
        .route("/health/ready", web::get().to(health::ready))
        .route("/user", web::post().to(users::create_user))
        .route("/user", web::get().to(users::list_users))
        .route("/user/{userId}", web::get().to(users::get_user))
        .route("/user/{userId}", web::put().to(users::update_user))
        .route("/user/{userId}/enable", web::post().to(users::enable_user))
        .route(
            "/user/{userId}/disable",
            web::post().to(users::disable_user),
        )
        .route(
            "/user/{userId}/password",
            web::post().to(users::reset_user_password),
        )
        .route(
            "/user/{userId}/permission-groups",
            web::get().to(groups::list_permission_groups_by_user),
        )
        .route(
            "/permission-group",
            web::post().to(groups::create_permission_group),
        )
        .route(
            "/permission-group",
            web::get().to(groups::list_permission_groups),
        )
        .route(
            "/permission-group/{permissionGroupId}",
            web::get().to(groups::get_permission_group),
        )
        .route(
            "/permission-group/{permissionGroupId}",
            web::put().to(groups::update_permission_group),
        )
        .route(
            "/permission-group/{permissionGroupId}",
            web::delete().to(groups::delete_permission_group),
        )
        .route(
            "/permission-group/{permissionGroupId}/users",
            web::get().to(groups::list_users_by_permission_group),
        )
        .route(
            "/permission-group/{permissionGroupId}/users/{userId}",
            web::post().to(groups::associate_user),
        )
        .route(
            "/permission-group/{permissionGroupId}/users/{userId}",
            web::delete().to(groups::disassociate_user),
        )
        .route("/auth/sign-in", web::post().to(auth::sign_in))
        .route("/auth/password", web::post().to(auth::change_password))
        .default_service(web::to(unknown_operation));
}

async fn unknown_operation(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::UnknownOperation(format!(
        "{} {}",
        req.method(),
        req.path()
    )))
}

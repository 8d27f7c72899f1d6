//! The HTTP layer: AWS rest-json routes, wire members, SigV4 authentication, and the AWS error
//! format.

mod auth;
mod authenticate;
pub mod catalog;
mod client_address;
mod credentials;
mod error;
mod groups;
mod health;
mod input;
mod invocation;
mod metrics;
pub mod openapi;
mod request_context;
pub mod scim;
pub mod sigv4;
mod users;

use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use governor::DefaultKeyedRateLimiter;

pub use client_address::{BadProxy, ClientAddresses};
pub use error::ApiError;
pub use input::BodyLimits;
pub use metrics::{Metrics, separate_listener};
pub use request_context::request_context;

use crate::config::{AuthMode, MetricsAccess};
use userdir_core::domain::{Caller, SharedClock};
use userdir_core::service::audit::AuditService;
use userdir_core::service::credentials::CredentialService;
use userdir_core::service::failures::FailedAuthentications;
use userdir_core::service::{GroupService, PasswordService, ScimService, UserService};

/// How requests are authenticated.
#[derive(Debug, Clone, Copy)]
pub struct AuthPolicy {
    pub mode: AuthMode,
    pub max_skew_secs: u64,
}

/// What every handler shares.
pub struct AppState {
    pub users: UserService,
    pub groups: GroupService,
    pub passwords: PasswordService,
    pub credentials: CredentialService,
    pub audit: AuditService,
    pub auth: AuthPolicy,
    /// Requests per caller (token bucket).
    pub throttle: Arc<DefaultKeyedRateLimiter<Caller>>,
    /// How large a request body may be, and how long it may take to arrive.
    pub body: BodyLimits,
    pub clock: SharedClock,
    /// Checks SigV4 signatures (and keeps the derived signing keys).
    pub signatures: sigv4::Verifier,
    /// Who the client is, behind trusted proxies.
    pub clients: ClientAddresses,
    /// Failed authentications per client address.
    pub failures: Arc<FailedAuthentications>,
    /// What `GET /metrics` shows.
    pub metrics: Metrics,
    /// SCIM's rules and its bearer tokens.
    pub scim: ScimService,
}

/// The operation a request's method and path name, for the audit trail, the log and the metrics:
/// read from the path's segments (an id segment is any non-empty one, as the routes' `{userId}`
/// matches), which costs no walk of the route table and no allocation.
pub fn operation_of(method: &str, path: &str) -> &'static str {
    let Some(rest) = path.strip_prefix('/') else {
        return "Unknown";
    };
    let mut parts: [&str; 5] = [""; 5];
    let mut count = 0;
    for segment in rest.split('/') {
        if count == parts.len() || segment.is_empty() {
            return "Unknown";
        }
        parts[count] = segment;
        count += 1;
    }
    match (method, &parts[..count]) {
        ("POST", ["user"]) => "CreateUser",
        ("GET", ["user"]) => "ListUsers",
        ("GET", ["user", _]) => "GetUser",
        ("PUT", ["user", _]) => "UpdateUser",
        ("POST", ["user", _, "enable"]) => "EnableUser",
        ("POST", ["user", _, "disable"]) => "DisableUser",
        ("POST", ["user", _, "password"]) => "ResetUserPassword",
        ("GET", ["user", _, "permission-groups"]) => "ListPermissionGroupsByUser",
        ("POST", ["permission-group"]) => "CreatePermissionGroup",
        ("GET", ["permission-group"]) => "ListPermissionGroups",
        ("GET", ["permission-group", _]) => "GetPermissionGroup",
        ("PUT", ["permission-group", _]) => "UpdatePermissionGroup",
        ("DELETE", ["permission-group", _]) => "DeletePermissionGroup",
        ("GET", ["permission-group", _, "users"]) => "ListUsersByPermissionGroup",
        ("POST", ["permission-group", _, "users", _]) => "AssociateUserToPermissionGroup",
        ("DELETE", ["permission-group", _, "users", _]) => "DisassociateUserFromPermissionGroup",
        ("GET", ["credentials", "programmatic"]) => "GetProgrammaticAccessCredentials",
        ("GET", ["audit"]) => "ListAuditEvents",
        ("POST", ["auth", "sign-in"]) => "SignIn",
        ("POST", ["auth", "password"]) => "ChangePassword",
        ("GET", ["health", "live" | "ready"]) => "Health",
        ("GET", ["metrics"]) => "Metrics",
        ("GET", ["openapi.json"]) => "OpenApi",
        _ => "Unknown",
    }
}

/// Routes of the FinSpace Data user API (authenticated), plus the health probes and the sign-in
/// extension (not), `/metrics` as `metrics` says, and SCIM under its prefix if it is served.
pub fn routes(
    metrics: MetricsAccess,
    scim: Option<scim::Prefix>,
) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg| {
        if let Some(prefix) = &scim {
            scim::routes(cfg, prefix.clone());
        }
        api_routes(cfg, metrics)
    }
}

fn api_routes(cfg: &mut web::ServiceConfig, metrics: MetricsAccess) {
    cfg.route("/health/live", web::get().to(health::live))
        .route("/health/ready", web::get().to(health::ready))
        .route("/openapi.json", web::get().to(openapi::serve));
    if metrics == MetricsAccess::Open {
        cfg.route("/metrics", web::get().to(metrics::open));
    }
    let mut authenticated = web::scope("").wrap(from_fn(authenticate::authenticate));
    if metrics == MetricsAccess::Root {
        authenticated = authenticated.route("/metrics", web::get().to(metrics::root_only));
    }
    cfg.route("/auth/sign-in", web::post().to(auth::sign_in))
        .route("/auth/password", web::post().to(auth::change_password));
    let metrics_routed = metrics != MetricsAccess::Off;
    let unknown = move |req: HttpRequest| async move { unknown_operation(&req, metrics_routed) };
    // An open path asked with a method it does not have: 405, with no signature needed to learn
    // what the published document says anyway.
    for operation in catalog::OPERATIONS {
        let open = match operation.access {
            catalog::Access::Open => true,
            catalog::Access::Metrics => metrics == MetricsAccess::Open,
            catalog::Access::Signed => false,
        };
        if open {
            cfg.route(operation.path, web::route().to(unknown));
        }
    }
    cfg.service(
        authenticated
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
            .route(
                "/credentials/programmatic",
                web::get().to(credentials::get_programmatic_access_credentials),
            )
            .route("/audit", web::get().to(credentials::list_audit_events))
            .default_service(web::to(unknown)),
    );
}

/// What no route answers: a known path with another method (405, with the methods it allows), or
/// no operation at all (404).
fn unknown_operation(req: &HttpRequest, metrics_routed: bool) -> Result<HttpResponse, ApiError> {
    let request = format!("{} {}", req.method(), req.path());
    let allowed = catalog::methods_at(req.path(), metrics_routed);
    if allowed.is_empty() {
        return Err(ApiError::UnknownOperation(request));
    }
    let allow = allowed
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Err(ApiError::MethodNotAllowed { request, allow })
}

#[cfg(test)]
mod tests {
    use super::operation_of;

    #[test]
    fn a_path_names_its_operation_as_the_routes_match_it() {
        for (method, path, operation) in [
            ("POST", "/user", "CreateUser"),
            ("GET", "/user", "ListUsers"),
            ("GET", "/user/01ARZ3NDEKTSV4RRFFQ69G5FAV", "GetUser"),
            ("PUT", "/user/x", "UpdateUser"),
            ("POST", "/user/x/enable", "EnableUser"),
            ("POST", "/user/x/disable", "DisableUser"),
            ("POST", "/user/x/password", "ResetUserPassword"),
            (
                "GET",
                "/user/x/permission-groups",
                "ListPermissionGroupsByUser",
            ),
            ("POST", "/permission-group", "CreatePermissionGroup"),
            ("GET", "/permission-group", "ListPermissionGroups"),
            ("GET", "/permission-group/g", "GetPermissionGroup"),
            ("PUT", "/permission-group/g", "UpdatePermissionGroup"),
            ("DELETE", "/permission-group/g", "DeletePermissionGroup"),
            (
                "GET",
                "/permission-group/g/users",
                "ListUsersByPermissionGroup",
            ),
            (
                "POST",
                "/permission-group/g/users/u",
                "AssociateUserToPermissionGroup",
            ),
            (
                "DELETE",
                "/permission-group/g/users/u",
                "DisassociateUserFromPermissionGroup",
            ),
            (
                "GET",
                "/credentials/programmatic",
                "GetProgrammaticAccessCredentials",
            ),
            ("GET", "/audit", "ListAuditEvents"),
            ("POST", "/auth/sign-in", "SignIn"),
            ("POST", "/auth/password", "ChangePassword"),
            ("GET", "/health/live", "Health"),
            ("GET", "/metrics", "Metrics"),
            ("GET", "/openapi.json", "OpenApi"),
            // What no route matches.
            ("GET", "/user/", "Unknown"),
            ("POST", "/user//enable", "Unknown"),
            ("GET", "//user", "Unknown"),
            ("GET", "user", "Unknown"),
            ("GET", "", "Unknown"),
            ("GET", "/user/x/y", "Unknown"),
            ("PATCH", "/user/x", "Unknown"),
            ("GET", "/permission-group/g/users/u/v/w", "Unknown"),
            ("GET", "/metrics/", "Unknown"),
        ] {
            assert_eq!(operation_of(method, path), operation, "{method} {path}");
        }
    }
}

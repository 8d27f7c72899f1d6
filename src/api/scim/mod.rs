//! SCIM 2.0 (RFC 7643, RFC 7644), the provisioning protocol identity providers speak: the same
//! users and permission groups as the FinSpace operations, under a prefix of their own, to bearer
//! tokens made with `userdir scim-token`.

mod auth;
mod body;
mod discovery;
pub mod error;
mod exchange;
pub mod filter;
mod groups;
mod list;
pub mod patch;
mod resource;
mod users;

use actix_web::http::{StatusCode, header};
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

pub use auth::ScimOperation;
pub use error::ScimError;

/// The media type of SCIM messages (RFC 7644 §3.1); plain JSON is taken too.
pub const CONTENT_TYPE: &str = "application/scim+json";

/// Where SCIM is served: `/` and one or more segments of unreserved characters, no trailing `/`,
/// clear of the FinSpace API's own paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix(String);

impl Prefix {
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err("it must start with '/'".into());
        };
        let segments: Vec<&str> = rest.split('/').collect();
        let unreserved = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-');
        if segments
            .iter()
            .any(|s| s.is_empty() || s.chars().any(|c| !unreserved(c)) || *s == "." || *s == "..")
        {
            return Err(
                "its segments must be non-empty letters, digits, '.', '_', '~' and '-', with no \
                 trailing '/'"
                    .into(),
            );
        }
        let first = segments[0];
        let taken = [
            "user",
            "permission-group",
            "credentials",
            "audit",
            "auth",
            "health",
            "metrics",
            "openapi.json",
        ];
        if taken.contains(&first) {
            return Err(format!("/{first} is a path of the API itself"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The routes under `prefix`, every one behind the bearer check.
pub fn routes(cfg: &mut web::ServiceConfig, prefix: Prefix) {
    let users = "/Users/{userId}";
    let groups = "/Groups/{permissionGroupId}";
    cfg.service(
        web::scope(prefix.as_str())
            .app_data(web::Data::new(prefix.clone()))
            .wrap(from_fn(auth::authenticate))
            .route(
                "/ServiceProviderConfig",
                web::get().to(discovery::service_provider_config),
            )
            .route("/Schemas", web::get().to(discovery::schemas))
            .route("/Schemas/{schemaId}", web::get().to(discovery::schema))
            .route("/ResourceTypes", web::get().to(discovery::resource_types))
            .route(
                "/ResourceTypes/{name}",
                web::get().to(discovery::resource_type),
            )
            .route("/.search", web::post().to(search_all))
            .route("/Users", web::get().to(users::list))
            .route("/Users", web::post().to(users::create))
            .route("/Users/.search", web::post().to(users::search))
            .route(users, web::get().to(users::get))
            .route(users, web::put().to(users::replace))
            .route(users, web::patch().to(users::patch))
            .route(users, web::delete().to(users::delete))
            .route("/Groups", web::get().to(groups::list))
            .route("/Groups", web::post().to(groups::create))
            .route("/Groups/.search", web::post().to(groups::search))
            .route(groups, web::get().to(groups::get))
            .route(groups, web::put().to(groups::replace))
            .route(groups, web::patch().to(groups::patch))
            .route(groups, web::delete().to(groups::delete))
            .default_service(web::to(unknown)),
    );
}

/// The operation a SCIM request is, by its method and its path after the prefix: for the audit
/// trail, the log and the metrics.
pub fn operation_of(method: &str, rest: &str) -> &'static str {
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["ServiceProviderConfig"]) => "ScimGetServiceProviderConfig",
        ("POST", [".search"]) => "ScimSearchAll",
        ("GET", ["Schemas"] | ["Schemas", _]) => "ScimGetSchemas",
        ("GET", ["ResourceTypes"] | ["ResourceTypes", _]) => "ScimGetResourceTypes",
        ("GET", ["Users"]) => "ScimListUsers",
        ("POST", ["Users"]) => "ScimCreateUser",
        ("POST", ["Users", ".search"]) => "ScimSearchUsers",
        ("GET", ["Users", id]) if !id.is_empty() => "ScimGetUser",
        ("PUT", ["Users", id]) if !id.is_empty() => "ScimReplaceUser",
        ("PATCH", ["Users", id]) if !id.is_empty() => "ScimPatchUser",
        ("DELETE", ["Users", id]) if !id.is_empty() => "ScimDeleteUser",
        ("GET", ["Groups"]) => "ScimListGroups",
        ("POST", ["Groups"]) => "ScimCreateGroup",
        ("POST", ["Groups", ".search"]) => "ScimSearchGroups",
        ("GET", ["Groups", id]) if !id.is_empty() => "ScimGetGroup",
        ("PUT", ["Groups", id]) if !id.is_empty() => "ScimReplaceGroup",
        ("PATCH", ["Groups", id]) if !id.is_empty() => "ScimPatchGroup",
        ("DELETE", ["Groups", id]) if !id.is_empty() => "ScimDeleteGroup",
        _ => "ScimUnknown",
    }
}

/// No route matched: a known path asked with another method (405), or no endpoint at all (404).
async fn unknown(req: HttpRequest, prefix: web::Data<Prefix>) -> Result<HttpResponse, ScimError> {
    let rest = req.path().strip_prefix(prefix.as_str()).unwrap_or_default();
    let allowed: Vec<&str> = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        .into_iter()
        .filter(|method| operation_of(method, rest) != "ScimUnknown")
        .collect();
    Err(if allowed.is_empty() {
        ScimError::not_found("No SCIM endpoint at this path")
    } else {
        ScimError {
            allow: Some(allowed.join(", ")),
            ..ScimError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                None,
                format!("{} is not supported at this path", req.method()),
            )
        }
    })
}

/// The resource types a query runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Users,
    Groups,
}

impl Kind {
    /// Its core schema and our extension, which name its attributes.
    fn schemas(self) -> [&'static str; 2] {
        match self {
            Kind::Users => [filter::USER_SCHEMA, resource::USER_EXTENSION],
            Kind::Groups => [filter::GROUP_SCHEMA, resource::GROUP_EXTENSION],
        }
    }

    /// How many of this type match `filter`, and the representations `skip` and `count` pick.
    async fn matching(
        self,
        state: &crate::api::AppState,
        invocation: &userdir_core::domain::Invocation,
        base: &str,
        filter: Option<&scim_v2::filter::Filter>,
        skip: u64,
        count: u32,
    ) -> Result<(u64, Vec<Value>), ScimError> {
        match self {
            Kind::Users => users::matching(state, invocation, base, filter, skip, count).await,
            Kind::Groups => groups::matching(state, invocation, base, filter, skip, count).await,
        }
    }

    /// A list or search of this type answered: its page, projected, in a ListResponse.
    async fn answer(
        self,
        req: &HttpRequest,
        state: &crate::api::AppState,
        prefix: &Prefix,
        query: list::Query,
    ) -> Result<HttpResponse, ScimError> {
        Kind::answer_all(&[self], req, state, prefix, query).await
    }

    /// As `answer`, over several types one after another (the root `/.search`): each takes the
    /// page from where the one before it ended.
    async fn answer_all(
        kinds: &[Kind],
        req: &HttpRequest,
        state: &crate::api::AppState,
        prefix: &Prefix,
        query: list::Query,
    ) -> Result<HttpResponse, ScimError> {
        let invocation = exchange::invocation(req)?;
        let base = exchange::base(req, prefix);
        let filter = query.filter.as_ref();
        let mut skip = query.start_index - 1;
        let mut total = 0;
        let mut page = Vec::new();
        for kind in kinds {
            let left = query.count.saturating_sub(page.len() as u32);
            let (matched, found) = kind
                .matching(state, &invocation, &base, filter, skip, left)
                .await?;
            skip = skip.saturating_sub(matched);
            total += matched;
            let schemas = kind.schemas();
            page.extend(
                found
                    .into_iter()
                    .map(|r| query.projection.apply(r, &schemas)),
            );
        }
        Ok(respond(
            StatusCode::OK,
            &list::list_response(total, query.start_index, page),
        ))
    }
}

/// `POST /.search` at the root (RFC 7644 §3.4.3): users, then groups, as one list.
async fn search_all(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<crate::api::AppState>,
    prefix: web::Data<Prefix>,
) -> Result<HttpResponse, ScimError> {
    let body = body::json_object(&req, payload, &state).await?;
    let query = list::Query::from_search(&body)?;
    Kind::answer_all(&[Kind::Users, Kind::Groups], &req, &state, &prefix, query).await
}

/// A SCIM response: the JSON with SCIM's media type.
pub(crate) fn respond(status: StatusCode, value: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .body(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_a_clean_path_clear_of_the_api() {
        for good in ["/scim/v2", "/scim", "/idp/scim-2.0", "/a~b"] {
            assert!(Prefix::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/",
            "scim",
            "/scim/",
            "//scim",
            "/scim//v2",
            "/sc im",
            "/user",
            "/user/scim",
            "/health",
            "/a/../b",
            "/é",
        ] {
            assert!(Prefix::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn requests_are_named_by_method_and_path() {
        for (method, rest, operation) in [
            ("GET", "/Users", "ScimListUsers"),
            ("POST", "/Users", "ScimCreateUser"),
            ("POST", "/Users/.search", "ScimSearchUsers"),
            ("GET", "/Users/01ARZ3NDEKTSV4RRFFQ69G5FAV", "ScimGetUser"),
            ("PATCH", "/Users/x", "ScimPatchUser"),
            ("PUT", "/Users/x", "ScimReplaceUser"),
            ("DELETE", "/Users/x", "ScimDeleteUser"),
            ("GET", "/Groups", "ScimListGroups"),
            ("PATCH", "/Groups/g", "ScimPatchGroup"),
            ("POST", "/Groups/.search", "ScimSearchGroups"),
            ("GET", "/Schemas/urn:x", "ScimGetSchemas"),
            (
                "GET",
                "/ServiceProviderConfig",
                "ScimGetServiceProviderConfig",
            ),
            ("GET", "/Users/", "ScimUnknown"),
            ("GET", "/Users/x/y", "ScimUnknown"),
            ("POST", "/Nothing", "ScimUnknown"),
        ] {
            assert_eq!(operation_of(method, rest), operation, "{method} {rest}");
        }
    }
}

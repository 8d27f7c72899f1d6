//! What a client learns of this service provider (RFC 7644 §4): the features it offers, the
//! schemas of its resources (only the attributes it keeps), and its resource types.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::exchange::base;
use super::filter::{GROUP_SCHEMA, USER_SCHEMA};
use super::list::{MAX_RESULTS, list_response};
use super::resource::{GROUP_EXTENSION, USER_EXTENSION};
use super::{Prefix, ScimError, respond};
use userdir_core::domain::ApplicationPermission;

const SERVICE_PROVIDER_CONFIG: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

pub async fn service_provider_config(req: HttpRequest, prefix: web::Data<Prefix>) -> HttpResponse {
    let base = base(&req, &prefix);
    respond(
        StatusCode::OK,
        &json!({
            "schemas": [SERVICE_PROVIDER_CONFIG],
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A token made with `userdir scim-token create`, sent as \
                                Authorization: Bearer <token>",
                "primary": true
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{base}/ServiceProviderConfig"),
            }
        }),
    )
}

fn attribute(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none"
    })
}

fn with(mut attribute: Value, changes: Value) -> Value {
    if let (Value::Object(a), Value::Object(c)) = (&mut attribute, changes) {
        a.extend(c);
    }
    attribute
}

fn user_schema() -> Value {
    json!({
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A FinSpace user: userName is its email address (unique regardless of case, never changed)",
        "attributes": [
            with(attribute("id", "string", "The user's id (a ULID)"),
                 json!({"mutability": "readOnly", "returned": "always", "caseExact": true, "uniqueness": "server"})),
            with(attribute("externalId", "string", "The client's own id for the user"),
                 json!({"caseExact": true})),
            with(attribute("userName", "string", "The user's email address (FinSpace emailAddress); set when the user is created, never changed"),
                 json!({"required": true, "mutability": "immutable", "uniqueness": "server"})),
            with(attribute("name", "complex", "The user's name"), json!({"subAttributes": [
                attribute("givenName", "string", "FinSpace firstName (1-50 characters)"),
                attribute("familyName", "string", "FinSpace lastName (1-50 characters)"),
            ]})),
            with(attribute("emails", "complex", "The user's one email address, its userName (other addresses sent are not kept)"),
                 json!({"multiValued": true, "mutability": "readOnly", "subAttributes": [
                     attribute("value", "string", "The address"),
                     attribute("type", "string", "Always work"),
                     attribute("primary", "boolean", "Always true"),
                 ]})),
            attribute("active", "boolean", "ENABLED (or CREATING, for a moment after it is made) when true; DISABLED when false"),
        ],
        "meta": {"resourceType": "Schema"}
    })
}

fn extension_schema() -> Value {
    let read_only = json!({"mutability": "readOnly"});
    json!({
        "id": USER_EXTENSION,
        "name": "FinSpaceUser",
        "description": "The FinSpace members of a user that SCIM has no name for",
        "attributes": [
            with(attribute("type", "string", "SUPER_USER or APP_USER (APP_USER when not given)"),
                 json!({"canonicalValues": ["SUPER_USER", "APP_USER"], "caseExact": true})),
            with(attribute("apiAccess", "string", "ENABLED or DISABLED"),
                 json!({"canonicalValues": ["ENABLED", "DISABLED"], "caseExact": true})),
            with(attribute("apiAccessPrincipalArn", "string", "The IAM role ARN of programmatic access"),
                 json!({"caseExact": true})),
            with(attribute("lastLoginTime", "dateTime", "When the user last signed in"), read_only),
        ],
        "meta": {"resourceType": "Schema"}
    })
}

fn group_schema() -> Value {
    json!({
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "A FinSpace permission group: displayName is its name (unique regardless of case)",
        "attributes": [
            with(attribute("id", "string", "The group's id (a ULID)"),
                 json!({"mutability": "readOnly", "returned": "always", "caseExact": true, "uniqueness": "server"})),
            with(attribute("externalId", "string", "The client's own id for the group"),
                 json!({"caseExact": true})),
            with(attribute("displayName", "string", "FinSpace name (1-255 characters)"),
                 json!({"required": true, "uniqueness": "server"})),
            with(attribute("members", "complex", "The users in the group (groups do not nest)"),
                 json!({"multiValued": true, "subAttributes": [
                     with(attribute("value", "string", "A user's id"), json!({"caseExact": true, "mutability": "immutable"})),
                     with(attribute("$ref", "reference", "The user's URL"), json!({"mutability": "immutable", "referenceTypes": ["User"]})),
                     with(attribute("type", "string", "Always User"), json!({"canonicalValues": ["User"], "mutability": "immutable"})),
                 ]})),
        ],
        "meta": {"resourceType": "Schema"}
    })
}

fn group_extension_schema() -> Value {
    json!({
        "id": GROUP_EXTENSION,
        "name": "FinSpacePermissionGroup",
        "description": "The FinSpace members of a permission group that SCIM has no name for",
        "attributes": [
            attribute("description", "string", "FinSpace description (1-4000 characters)"),
            with(attribute("applicationPermissions", "string", "What members may do (none when not given)"),
                 json!({"multiValued": true, "caseExact": true, "canonicalValues": ApplicationPermission::VALUES})),
        ],
        "meta": {"resourceType": "Schema"}
    })
}

fn schemas_with_locations(base: &str) -> Vec<Value> {
    [
        user_schema(),
        extension_schema(),
        group_schema(),
        group_extension_schema(),
    ]
    .into_iter()
    .map(|mut schema| {
        let id = schema["id"].as_str().unwrap_or_default().to_owned();
        schema["schemas"] = json!([SCHEMA]);
        schema["meta"]["location"] = format!("{base}/Schemas/{id}").into();
        schema
    })
    .collect()
}

pub async fn schemas(req: HttpRequest, prefix: web::Data<Prefix>) -> HttpResponse {
    let all = schemas_with_locations(&base(&req, &prefix));
    respond(StatusCode::OK, &list_response(all.len() as u64, 1, all))
}

pub async fn schema(
    req: HttpRequest,
    prefix: web::Data<Prefix>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    schemas_with_locations(&base(&req, &prefix))
        .into_iter()
        .find(|s| {
            s["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(&id))
        })
        .map(|s| respond(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::not_found("No such schema"))
}

fn resource_types_at(base: &str) -> Vec<Value> {
    vec![
        json!({
        "schemas": [RESOURCE_TYPE],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "FinSpace users",
        "schema": USER_SCHEMA,
        "schemaExtensions": [{"schema": USER_EXTENSION, "required": false}],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}
        }),
        json!({
            "schemas": [RESOURCE_TYPE],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "FinSpace permission groups",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [{"schema": GROUP_EXTENSION, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}
        }),
    ]
}

pub async fn resource_types(req: HttpRequest, prefix: web::Data<Prefix>) -> HttpResponse {
    let all = resource_types_at(&base(&req, &prefix));
    respond(StatusCode::OK, &list_response(all.len() as u64, 1, all))
}

pub async fn resource_type(
    req: HttpRequest,
    prefix: web::Data<Prefix>,
    name: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    resource_types_at(&base(&req, &prefix))
        .into_iter()
        .find(|t| {
            t["id"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(&name))
        })
        .map(|t| respond(StatusCode::OK, &t))
        .ok_or_else(|| ScimError::not_found("No such resource type"))
}

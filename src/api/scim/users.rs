//! `/Users`: the FinSpace users as SCIM resources. Reads answer from the same store as GetUser
//! and ListUsers; every write is one transaction, made against the version it was computed from
//! (a concurrent change makes it start again, or fail with 412 if the client named a version).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::exchange::{
    audit_unchanged, base, found, invocation, listed, not_modified, version_matches,
};
use super::filter::{self, USER_SCHEMA, UserLookup, core_case_exact};
use super::list::{Projection, Query};
use super::resource::{USER_EXTENSION, UserInput, user_resource};
use super::{Kind, Prefix, ScimError, body, patch};
use crate::api::AppState;
use userdir_core::domain::{Email, ExternalId, Invocation, UserId};
use userdir_core::service::{Created, ServiceError};
use userdir_core::store::{ScimUser, ScimUserChange};

/// How often a write computed from a version that changed meanwhile is computed again.
const ATTEMPTS: usize = 5;
/// Users read at a time when a filter must be evaluated on each.
const SCAN_BATCH: u32 = 500;
/// The most users one request evaluates a filter on: past it, a filter no index answers is
/// refused (400 tooMany), so that no request reads a large directory whole.
pub const MAX_SCANNED: u64 = 100_000;
const SCHEMAS: [&str; 2] = [USER_SCHEMA, USER_EXTENSION];

/// SCIM ids are opaque to clients: one that is not a user id names no user.
fn user_id(text: &str) -> Result<UserId, ScimError> {
    UserId::parse(text).map_err(|_| ScimError::not_found("No user has this id"))
}

pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    prefix: web::Data<Prefix>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let invocation = invocation(&req)?;
    let projection = Projection::from_query_string(req.query_string())?;
    let user = state.scim.user(&invocation, &user_id(&id)?).await?;
    let resource = user_resource(&user, &base(&req, &prefix));
    if let Some(tags) = listed(&req, header::IF_NONE_MATCH)
        && version_matches(
            &tags,
            resource["meta"]["version"].as_str().unwrap_or_default(),
        )
    {
        return Ok(not_modified(
            resource["meta"]["version"].as_str().unwrap_or_default(),
        ));
    }
    Ok(found(
        StatusCode::OK,
        &resource,
        &projection,
        &SCHEMAS,
        false,
    ))
}

pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    prefix: web::Data<Prefix>,
) -> Result<HttpResponse, ScimError> {
    let invocation = invocation(&req)?;
    let projection = Projection::from_query_string(req.query_string())?;
    let body = body::json_object(&req, payload, &state).await?;
    let (user, active, external_id) = UserInput::parse(&body)?.into_new_user();
    let id = match state
        .scim
        .create_user(&invocation, user, active, external_id)
        .await?
    {
        Created::New(id) | Created::Restored(id) => id,
    };
    let user = state.scim.user(&invocation, &id).await?;
    let resource = user_resource(&user, &base(&req, &prefix));
    Ok(found(
        StatusCode::CREATED,
        &resource,
        &projection,
        &SCHEMAS,
        true,
    ))
}

/// How a write is worked out from the user as it is now.
enum Write {
    Replace(UserInput),
    Patch(Value),
    Delete,
}

pub async fn replace(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    prefix: web::Data<Prefix>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let body = body::json_object(&req, payload, &state).await?;
    let input = UserInput::parse(&body)?;
    write(&req, &state, &prefix, &id, Write::Replace(input)).await
}

pub async fn patch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    prefix: web::Data<Prefix>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let body = body::json_object(&req, payload, &state).await?;
    write(&req, &state, &prefix, &id, Write::Patch(body)).await
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    prefix: web::Data<Prefix>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    write(&req, &state, &prefix, &id, Write::Delete).await
}

async fn write(
    req: &HttpRequest,
    state: &AppState,
    prefix: &Prefix,
    id: &str,
    write: Write,
) -> Result<HttpResponse, ScimError> {
    let invocation = invocation(req)?;
    let projection = Projection::from_query_string(req.query_string())?;
    let id = user_id(id)?;
    let base = base(req, prefix);
    let if_match = listed(req, header::IF_MATCH);
    let operation = match write {
        Write::Replace(_) => "ScimReplaceUser",
        Write::Patch(_) => "ScimPatchUser",
        Write::Delete => "ScimDeleteUser",
    };
    for _ in 0..ATTEMPTS {
        let current = state.scim.user(&invocation, &id).await?;
        let resource = user_resource(&current, &base);
        let version = resource["meta"]["version"].as_str().unwrap_or_default();
        if let Some(tags) = &if_match
            && !version_matches(tags, version)
        {
            return Err(ScimError::precondition_failed());
        }
        let change = match &write {
            Write::Replace(input) => ScimUserChange::Replace(input.clone().into_state(&current)?),
            Write::Patch(request) => {
                let mut patched = resource.clone();
                patch::apply(&mut patched, request, USER_SCHEMA, &["emails"])?;
                let wanted = UserInput::parse_whole(&patched)?.into_state(&current)?;
                if wanted == unchanged(&current)? {
                    // Nothing to write: the resource as it is.
                    audit_unchanged(state, &invocation, operation, id.as_str()).await;
                    return Ok(found(
                        StatusCode::OK,
                        &resource,
                        &projection,
                        &SCHEMAS,
                        false,
                    ));
                }
                ScimUserChange::Replace(wanted)
            }
            Write::Delete => ScimUserChange::Delete,
        };
        let written = state
            .scim
            .change_user(
                &invocation,
                operation,
                &id,
                current.user.last_modified_time,
                &change,
            )
            .await;
        match written {
            Ok(_) => {}
            Err(ServiceError::Changed) if if_match.is_none() => continue,
            Err(error) => return Err(error.into()),
        }
        if matches!(write, Write::Delete) {
            return Ok(HttpResponse::NoContent().finish());
        }
        let user = state.scim.user(&invocation, &id).await?;
        return Ok(found(
            StatusCode::OK,
            &user_resource(&user, &base),
            &projection,
            &SCHEMAS,
            false,
        ));
    }
    Err(ScimError::new(
        StatusCode::CONFLICT,
        None,
        "The user kept changing while this request was applied; retry it",
    ))
}

/// The state a user is in, as a replace would set it.
fn unchanged(current: &ScimUser) -> Result<userdir_core::store::ScimUserState, ScimError> {
    UserInput::parse(&user_resource(current, ""))?.into_state(current)
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    prefix: web::Data<Prefix>,
) -> Result<HttpResponse, ScimError> {
    let query = Query::from_query_string(req.query_string())?;
    Kind::Users.answer(&req, &state, &prefix, query).await
}

pub async fn search(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    prefix: web::Data<Prefix>,
) -> Result<HttpResponse, ScimError> {
    let body = body::json_object(&req, payload, &state).await?;
    let query = Query::from_search(&body)?;
    Kind::Users.answer(&req, &state, &prefix, query).await
}

/// How many users match `filter`, and the representations of those `skip` and `count` pick.
pub async fn matching(
    state: &AppState,
    invocation: &Invocation,
    base: &str,
    filter: Option<&scim_v2::filter::Filter>,
    skip: u64,
    count: u32,
) -> Result<(u64, Vec<Value>), ScimError> {
    let limit = count;
    let count = count as usize;
    Ok(match filter {
        None => {
            let total = state.scim.user_count(invocation).await?;
            let page = if count == 0 {
                Vec::new()
            } else {
                state.scim.users(invocation, None, skip, limit).await?
            };
            let page = page.iter().map(|u| user_resource(u, base)).collect();
            (total, page)
        }
        Some(filter) => {
            let candidates = match filter::user_lookup(filter) {
                Some(lookup) => looked_up(state, invocation, lookup).await?,
                None => Vec::new(),
            };
            let indexed = filter::user_lookup(filter).is_some();
            let mut matched = 0u64;
            let mut page = Vec::new();
            let mut consider = |resource: Value| {
                if filter::matches(filter, &resource, core_case_exact) {
                    matched += 1;
                    if matched > skip && page.len() < count {
                        page.push(resource);
                    }
                }
            };
            if indexed {
                for user in &candidates {
                    consider(user_resource(user, base));
                }
            } else {
                let mut after: Option<UserId> = None;
                let mut scanned = 0u64;
                loop {
                    if scanned >= MAX_SCANNED {
                        return Err(ScimError::too_many(format!(
                            "This filter would be evaluated on more than {MAX_SCANNED} users; \
                             filter with eq on userName, emails.value, externalId or id (alone \
                             or and-ed with the rest), which an index answers"
                        )));
                    }
                    let batch = state
                        .scim
                        .users(invocation, after.as_ref(), 0, SCAN_BATCH)
                        .await?;
                    scanned += batch.len() as u64;
                    for user in &batch {
                        consider(user_resource(user, base));
                    }
                    match batch.last() {
                        Some(last) if batch.len() == SCAN_BATCH as usize => {
                            after = Some(last.user.id.clone())
                        }
                        _ => break,
                    }
                }
            }
            (matched, page)
        }
    })
}

/// The users an indexed equality can match (the whole filter is then checked on each).
async fn looked_up(
    state: &AppState,
    invocation: &Invocation,
    lookup: UserLookup,
) -> Result<Vec<ScimUser>, ScimError> {
    // Every userName is an email address: a value that is not one matches no user.
    Ok(match lookup {
        UserLookup::Id(id) => match UserId::parse(&id) {
            Ok(id) => match state.scim.user(invocation, &id).await {
                Ok(user) => vec![user],
                Err(ServiceError::UserNotFound(_)) => Vec::new(),
                Err(error) => return Err(error.into()),
            },
            Err(_) => Vec::new(),
        },
        UserLookup::UserName(email) | UserLookup::Email(email) => match Email::parse(&email) {
            Ok(email) => state
                .scim
                .user_by_email(invocation, &email)
                .await?
                .into_iter()
                .collect(),
            Err(_) => Vec::new(),
        },
        UserLookup::ExternalId(external_id) => match ExternalId::parse(&external_id) {
            Ok(external_id) => {
                state
                    .scim
                    .users_by_external_id(invocation, &external_id, super::list::MAX_RESULTS)
                    .await?
            }
            Err(_) => Vec::new(),
        },
    })
}

//! `/Groups`: the permission groups as SCIM resources, their members the users SCIM sees. Each
//! write is one transaction against the version it was computed from; members change by what
//! joins and what leaves, so a membership made meanwhile through FinSpace is never undone.

use std::collections::HashSet;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::exchange::{
    audit_unchanged, base, found, invocation, listed, not_modified, version_matches,
};
use super::filter::{self, GROUP_SCHEMA, GroupLookup, core_case_exact};
use super::list::{Projection, Query};
use super::resource::{GROUP_EXTENSION, GroupInput, group_resource};
use super::{Kind, Prefix, ScimError, body, patch};
use crate::api::AppState;
use userdir_core::domain::{
    ExternalId, Invocation, PermissionGroupId, PermissionGroupName, UserId,
};
use userdir_core::service::ServiceError;
use userdir_core::store::{MemberChanges, ScimGroup};

const ATTEMPTS: usize = 5;
const SCAN_BATCH: u32 = 200;
const SCHEMAS: [&str; 2] = [GROUP_SCHEMA, GROUP_EXTENSION];

fn group_id(text: &str) -> Result<PermissionGroupId, ScimError> {
    PermissionGroupId::parse(text).map_err(|_| ScimError::not_found("No group has this id"))
}

/// The group's full representation (members read with it).
async fn represented(
    state: &AppState,
    invocation: &Invocation,
    group: &ScimGroup,
    base: &str,
) -> Result<Value, ScimError> {
    let members = state
        .scim
        .group_members(invocation, &group.group.id)
        .await?;
    Ok(group_resource(group, &members, base))
}

pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    prefix: web::Data<Prefix>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let invocation = invocation(&req)?;
    let projection = Projection::from_query_string(req.query_string())?;
    let group = state.scim.group(&invocation, &group_id(&id)?).await?;
    let resource = represented(&state, &invocation, &group, &base(&req, &prefix)).await?;
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
    let input = GroupInput::parse(&body)?;
    let id = state
        .scim
        .create_group(&invocation, input.state(None), &input.members)
        .await?;
    let group = state.scim.group(&invocation, &id).await?;
    let resource = represented(&state, &invocation, &group, &base(&req, &prefix)).await?;
    Ok(found(
        StatusCode::CREATED,
        &resource,
        &projection,
        &SCHEMAS,
        true,
    ))
}

enum Write {
    Replace(GroupInput),
    Patch(Value),
}

pub async fn replace(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    prefix: web::Data<Prefix>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let body = body::json_object(&req, payload, &state).await?;
    let input = GroupInput::parse(&body)?;
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
    let invocation = invocation(&req)?;
    let id = group_id(&id)?;
    if let Some(tags) = listed(&req, header::IF_MATCH) {
        let group = state.scim.group(&invocation, &id).await?;
        let resource = represented(&state, &invocation, &group, &base(&req, &prefix)).await?;
        if !version_matches(
            &tags,
            resource["meta"]["version"].as_str().unwrap_or_default(),
        ) {
            return Err(ScimError::precondition_failed());
        }
    }
    state.scim.delete_group(&invocation, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Who joins and who leaves, from the members SCIM saw to the members asked for.
fn member_changes(seen: &[UserId], wanted: &[UserId]) -> MemberChanges {
    let (seen_set, wanted_set): (HashSet<&UserId>, HashSet<&UserId>) =
        (seen.iter().collect(), wanted.iter().collect());
    MemberChanges {
        added: wanted
            .iter()
            .filter(|u| !seen_set.contains(u))
            .cloned()
            .collect(),
        removed: seen
            .iter()
            .filter(|u| !wanted_set.contains(u))
            .cloned()
            .collect(),
    }
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
    let id = group_id(id)?;
    let base = base(req, prefix);
    let if_match = listed(req, header::IF_MATCH);
    let operation = match write {
        Write::Replace(_) => "ScimReplaceGroup",
        Write::Patch(_) => "ScimPatchGroup",
    };
    for _ in 0..ATTEMPTS {
        let current = state.scim.group(&invocation, &id).await?;
        let members = state.scim.group_members(&invocation, &id).await?;
        let resource = group_resource(&current, &members, &base);
        if let Some(tags) = &if_match
            && !version_matches(
                tags,
                resource["meta"]["version"].as_str().unwrap_or_default(),
            )
        {
            return Err(ScimError::precondition_failed());
        }
        let input = match &write {
            Write::Replace(input) => input.clone(),
            Write::Patch(request) => {
                let mut patched = resource.clone();
                patch::apply(&mut patched, request, GROUP_SCHEMA, &["members"])?;
                GroupInput::parse_whole(&patched)?
            }
        };
        let seen: Vec<UserId> = members.into_iter().map(|(id, _)| id).collect();
        let changes = member_changes(&seen, &input.members);
        let wanted = input.state(Some(&current));
        let unchanged = wanted == GroupInput::parse_whole(&resource)?.state(Some(&current));
        if unchanged && changes == MemberChanges::default() {
            audit_unchanged(state, &invocation, operation, id.as_str()).await;
            return Ok(found(
                StatusCode::OK,
                &resource,
                &projection,
                &SCHEMAS,
                false,
            ));
        }
        let written = state
            .scim
            .change_group(
                &invocation,
                operation,
                &id,
                current.group.last_modified_time,
                &wanted,
                &changes,
            )
            .await;
        match written {
            Ok(_) => {}
            Err(ServiceError::Changed) if if_match.is_none() => continue,
            Err(error) => return Err(error.into()),
        }
        let group = state.scim.group(&invocation, &id).await?;
        let resource = represented(state, &invocation, &group, &base).await?;
        return Ok(found(
            StatusCode::OK,
            &resource,
            &projection,
            &SCHEMAS,
            false,
        ));
    }
    Err(ScimError::new(
        StatusCode::CONFLICT,
        None,
        "The group kept changing while this request was applied; retry it",
    ))
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    prefix: web::Data<Prefix>,
) -> Result<HttpResponse, ScimError> {
    let query = Query::from_query_string(req.query_string())?;
    Kind::Groups.answer(&req, &state, &prefix, query).await
}

pub async fn search(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    prefix: web::Data<Prefix>,
) -> Result<HttpResponse, ScimError> {
    let body = body::json_object(&req, payload, &state).await?;
    let query = Query::from_search(&body)?;
    Kind::Groups.answer(&req, &state, &prefix, query).await
}

/// How many groups match `filter`, and the representations of those `skip` and `count` pick.
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
    let (total, page) = match filter {
        None => {
            let total = state.scim.group_count(invocation).await?;
            let page = if count == 0 {
                Vec::new()
            } else {
                state.scim.groups(invocation, None, skip, limit).await?
            };
            (total, page)
        }
        Some(filter) => {
            // Members are read for a group only if the filter looks at them.
            let with_members = filter::mentions(filter, "members");
            let mut matched = 0u64;
            let mut page = Vec::new();
            let mut consider = async |group: ScimGroup| -> Result<(), ScimError> {
                let members = if with_members {
                    state
                        .scim
                        .group_members(invocation, &group.group.id)
                        .await?
                } else {
                    Vec::new()
                };
                let resource = group_resource(&group, &members, base);
                if filter::matches(filter, &resource, core_case_exact) {
                    matched += 1;
                    if matched > skip && page.len() < count {
                        page.push(group);
                    }
                }
                Ok(())
            };
            match filter::group_lookup(filter) {
                Some(lookup) => {
                    for group in looked_up(state, invocation, lookup).await? {
                        consider(group).await?;
                    }
                }
                None => {
                    let mut after: Option<PermissionGroupId> = None;
                    loop {
                        let batch = state
                            .scim
                            .groups(invocation, after.as_ref(), 0, SCAN_BATCH)
                            .await?;
                        let full = batch.len() == SCAN_BATCH as usize;
                        after = batch.last().map(|g| g.group.id.clone());
                        for group in batch {
                            consider(group).await?;
                        }
                        if !full {
                            break;
                        }
                    }
                }
            }
            (matched, page)
        }
    };
    let mut resources = Vec::with_capacity(page.len());
    for group in &page {
        resources.push(represented(state, invocation, group, base).await?);
    }
    Ok((total, resources))
}

async fn looked_up(
    state: &AppState,
    invocation: &Invocation,
    lookup: GroupLookup,
) -> Result<Vec<ScimGroup>, ScimError> {
    Ok(match lookup {
        GroupLookup::Id(id) => match PermissionGroupId::parse(&id) {
            Ok(id) => match state.scim.group(invocation, &id).await {
                Ok(group) => vec![group],
                Err(ServiceError::GroupNotFound(_)) => Vec::new(),
                Err(error) => return Err(error.into()),
            },
            Err(_) => Vec::new(),
        },
        GroupLookup::DisplayName(name) => match PermissionGroupName::parse(&name) {
            Ok(name) => state
                .scim
                .group_by_name(invocation, &name)
                .await?
                .into_iter()
                .collect(),
            Err(_) => Vec::new(),
        },
        GroupLookup::ExternalId(external_id) => match ExternalId::parse(&external_id) {
            Ok(external_id) => {
                state
                    .scim
                    .groups_by_external_id(invocation, &external_id, super::list::MAX_RESULTS)
                    .await?
            }
            Err(_) => Vec::new(),
        },
    })
}

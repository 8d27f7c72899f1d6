use aws_sdk_finspacedata::types::{ApplicationPermission, PermissionGroupMembershipStatus};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, failure, spawn_app, unique_email};

async fn create_group(app: &TestApp, name: &str, permissions: &[ApplicationPermission]) -> String {
    app.sdk
        .create_permission_group()
        .name(name)
        .set_application_permissions(Some(permissions.to_vec()))
        .send()
        .await
        .expect("CreatePermissionGroup")
        .permission_group_id()
        .expect("permissionGroupId")
        .to_owned()
}

#[tokio::test]
async fn a_group_is_created_read_updated_and_listed() {
    let app = spawn_app().await;
    let group_id = app
        .sdk
        .create_permission_group()
        .name("Analysts")
        .description("People who read data")
        .application_permissions(ApplicationPermission::ViewAuditData)
        .application_permissions(ApplicationPermission::CreateDataset)
        .application_permissions(ApplicationPermission::ViewAuditData)
        .send()
        .await
        .expect("CreatePermissionGroup")
        .permission_group_id()
        .expect("id")
        .to_owned();
    assert_eq!(group_id.len(), 26);

    let group = app
        .sdk
        .get_permission_group()
        .permission_group_id(&group_id)
        .send()
        .await
        .expect("Get");
    let group = group.permission_group().expect("permissionGroup");
    assert_eq!(group.name(), Some("Analysts"));
    assert_eq!(group.description(), Some("People who read data"));
    assert_eq!(
        group.application_permissions(),
        &[
            ApplicationPermission::CreateDataset,
            ApplicationPermission::ViewAuditData
        ],
        "duplicates collapse; the model's order"
    );
    assert!(group.create_time() > 0 && group.create_time() == group.last_modified_time());

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.sdk
        .update_permission_group()
        .permission_group_id(&group_id)
        .name("Senior Analysts")
        .application_permissions(ApplicationPermission::ManageUsersAndGroups)
        .send()
        .await
        .expect("Update");
    let updated = app
        .sdk
        .get_permission_group()
        .permission_group_id(&group_id)
        .send()
        .await
        .expect("Get");
    let updated = updated.permission_group().expect("permissionGroup");
    assert_eq!(updated.name(), Some("Senior Analysts"));
    assert_eq!(
        updated.description(),
        Some("People who read data"),
        "not given, not changed"
    );
    assert_eq!(
        updated.application_permissions(),
        &[ApplicationPermission::ManageUsersAndGroups]
    );
    assert!(updated.last_modified_time() > group.last_modified_time());

    create_group(&app, "Second", &[ApplicationPermission::AccessNotebooks]).await;
    create_group(&app, "Third", &[]).await;
    let listed: Vec<String> = app
        .sdk
        .list_permission_groups()
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|g| {
            g.expect("item")
                .permission_group_id()
                .expect("id")
                .to_owned()
        })
        .collect();
    assert_eq!(listed.len(), 3, "every group listed once: {listed:?}");
    assert_eq!(listed[0], group_id);
}

#[tokio::test]
async fn group_names_are_unique_regardless_of_case() {
    let app = spawn_app().await;
    create_group(
        &app,
        "Admins",
        &[ApplicationPermission::ManageUsersAndGroups],
    )
    .await;
    let other = create_group(&app, "Others", &[]).await;

    let create = app
        .sdk
        .create_permission_group()
        .name("ADMINS")
        .set_application_permissions(Some(vec![]))
        .send()
        .await
        .expect_err("clash")
        .into_service_error();
    let rename = app
        .sdk
        .update_permission_group()
        .permission_group_id(&other)
        .name("admins")
        .send()
        .await
        .expect_err("clash")
        .into_service_error();

    assert!(create.is_conflict_exception(), "{create:?}");
    assert!(rename.is_conflict_exception(), "{rename:?}");
}

#[tokio::test]
async fn memberships_are_added_listed_and_removed() {
    let app = spawn_app().await;
    let user = app.create_user(&unique_email("member")).await;
    let group = create_group(&app, "Readers", &[ApplicationPermission::CreateDataset]).await;

    let added = app
        .sdk
        .associate_user_to_permission_group()
        .permission_group_id(&group)
        .user_id(&user)
        .send()
        .await
        .expect("Associate");
    assert_eq!(
        added.status_code(),
        200,
        "statusCode is bound to the HTTP status"
    );

    let twice = app
        .sdk
        .associate_user_to_permission_group()
        .permission_group_id(&group)
        .user_id(&user)
        .send()
        .await
        .expect_err("already a member")
        .into_service_error();
    assert!(twice.is_conflict_exception(), "{twice:?}");

    let by_user = app
        .sdk
        .list_permission_groups_by_user()
        .user_id(&user)
        .max_results(10)
        .send()
        .await
        .expect("by user");
    assert_eq!(by_user.permission_groups().len(), 1);
    let membership = &by_user.permission_groups()[0];
    assert_eq!(membership.permission_group_id(), Some(group.as_str()));
    assert_eq!(membership.name(), Some("Readers"));
    assert_eq!(
        membership.membership_status(),
        Some(&PermissionGroupMembershipStatus::AdditionSuccess)
    );

    let by_group = app
        .sdk
        .list_users_by_permission_group()
        .permission_group_id(&group)
        .max_results(10)
        .send()
        .await
        .expect("by group");
    assert_eq!(by_group.users().len(), 1);
    assert_eq!(by_group.users()[0].user_id(), Some(user.as_str()));
    assert!(by_group.users()[0].email_address().is_some());
    assert_eq!(
        by_group.users()[0].membership_status(),
        Some(&PermissionGroupMembershipStatus::AdditionSuccess)
    );

    let removed = app
        .sdk
        .disassociate_user_from_permission_group()
        .permission_group_id(&group)
        .user_id(&user)
        .send()
        .await
        .expect("Disassociate");
    assert_eq!(removed.status_code(), 200);
    let again = app
        .sdk
        .disassociate_user_from_permission_group()
        .permission_group_id(&group)
        .user_id(&user)
        .send()
        .await
        .expect_err("not a member")
        .into_service_error();
    assert!(again.is_conflict_exception(), "{again:?}");
}

#[tokio::test]
async fn unknown_users_and_groups_are_not_found() {
    let app = spawn_app().await;
    let user = app.create_user(&unique_email("lonely")).await;
    let group = create_group(&app, "Real", &[]).await;
    let missing = ulid::Ulid::generate().to_string();

    let cases = [
        app.sdk
            .associate_user_to_permission_group()
            .permission_group_id(&missing)
            .user_id(&user)
            .send()
            .await
            .map(|_| ()),
        app.sdk
            .associate_user_to_permission_group()
            .permission_group_id(&group)
            .user_id(&missing)
            .send()
            .await
            .map(|_| ()),
    ];
    for case in cases {
        assert_eq!(failure(case, "404"), "ResourceNotFoundException");
    }
    let sdk = &app.sdk;
    let codes = [
        failure(
            sdk.get_permission_group()
                .permission_group_id(&missing)
                .send()
                .await,
            "GetPermissionGroup",
        ),
        failure(
            sdk.list_permission_groups_by_user()
                .user_id(&missing)
                .max_results(5)
                .send()
                .await,
            "ListPermissionGroupsByUser",
        ),
        failure(
            sdk.list_users_by_permission_group()
                .permission_group_id(&missing)
                .max_results(5)
                .send()
                .await,
            "ListUsersByPermissionGroup",
        ),
        failure(
            sdk.delete_permission_group()
                .permission_group_id(&missing)
                .send()
                .await,
            "DeletePermissionGroup",
        ),
    ];
    assert_eq!(codes, ["ResourceNotFoundException"; 4]);
}

#[tokio::test]
async fn deleting_a_group_removes_its_memberships() {
    let app = spawn_app().await;
    let group = create_group(&app, "Doomed", &[ApplicationPermission::AccessNotebooks]).await;
    let keep = create_group(&app, "Kept", &[]).await;
    let mut users = Vec::new();
    for i in 0..3 {
        let user = app.create_user(&unique_email(&format!("doomed{i}"))).await;
        for g in [&group, &keep] {
            app.sdk
                .associate_user_to_permission_group()
                .permission_group_id(g)
                .user_id(&user)
                .send()
                .await
                .expect("Associate");
        }
        users.push(user);
    }

    let deleted = app
        .sdk
        .delete_permission_group()
        .permission_group_id(&group)
        .send()
        .await
        .expect("Delete");

    assert_eq!(deleted.permission_group_id(), Some(group.as_str()));
    for user in &users {
        let groups = app
            .sdk
            .list_permission_groups_by_user()
            .user_id(user)
            .max_results(10)
            .send()
            .await
            .expect("by user");
        let ids: Vec<_> = groups
            .permission_groups()
            .iter()
            .filter_map(|g| g.permission_group_id())
            .collect();
        assert_eq!(
            ids,
            vec![keep.as_str()],
            "only the kept group remains for {user}"
        );
    }
    assert_eq!(
        app.integrity_problems().await,
        Vec::<String>::new(),
        "no membership outlives its group"
    );
    let get = app
        .sdk
        .get_permission_group()
        .permission_group_id(&group)
        .send()
        .await
        .expect_err("gone")
        .into_service_error();
    assert!(get.is_resource_not_found_exception());
}

#[tokio::test]
async fn group_members_are_validated_on_the_wire() {
    let app = spawn_app().await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"applicationPermissions": []}),
            "'name'",
            "must not be null",
        ),
        (
            json!({"name": "x"}),
            "'applicationPermissions'",
            "must not be null",
        ),
        (
            json!({"name": "x", "applicationPermissions": ["Everything"]}),
            "'applicationPermissions'",
            "enum value set",
        ),
        (
            json!({"name": "x", "applicationPermissions": "CreateDataset"}),
            "'applicationPermissions'",
            "must be a list",
        ),
        (
            json!({"name": "x", "applicationPermissions": [1]}),
            "'applicationPermissions'",
            "list of strings",
        ),
        (
            json!({"name": " ", "applicationPermissions": []}),
            "'name'",
            "regular expression",
        ),
        (
            json!({"name": "n".repeat(256), "applicationPermissions": []}),
            "'name'",
            "less than or equal to 255",
        ),
        (
            json!({"name": "x", "description": "", "applicationPermissions": []}),
            "'description'",
            "greater than or equal to 1",
        ),
        (
            json!({"name": "x", "description": "d".repeat(4001), "applicationPermissions": []}),
            "'description'",
            "less than or equal to 4000",
        ),
    ];

    for (body, member, rule) in cases {
        let response = app
            .request(reqwest::Method::POST, "/permission-group")
            .json(&body)
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.expect("JSON");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(member) && message.contains(rule),
            "{body}: {message}"
        );
    }
    let long_id = app
        .request(
            reqwest::Method::GET,
            &format!("/permission-group/{}", "G".repeat(27)),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(long_id.status(), StatusCode::BAD_REQUEST);
}

use std::time::Duration;

use aws_sdk_finspacedata::types::{ApiAccess, UserStatus, UserType};

use crate::helpers::{failure, spawn_app, unique_email};

#[tokio::test]
async fn update_changes_only_the_given_members() {
    // Arrange
    let app = spawn_app().await;
    let email = unique_email("update");
    let created = app
        .sdk
        .create_user()
        .email_address(&email)
        .r#type(UserType::AppUser)
        .first_name("Grace")
        .last_name("Hopper")
        .send()
        .await
        .expect("CreateUser");
    let user_id = created.user_id().expect("userId").to_owned();
    app.wait_for_status(&user_id, UserStatus::Enabled).await;
    let before = app.get_user(&user_id).await;
    tokio::time::sleep(Duration::from_millis(5)).await; // so that a moved lastModifiedTime shows

    // Act
    let updated = app
        .sdk
        .update_user()
        .user_id(&user_id)
        .r#type(UserType::SuperUser)
        .last_name("Brewster Hopper")
        .api_access(ApiAccess::Enabled)
        .api_access_principal_arn("arn:aws:iam::123456789012:role/Navy")
        .send()
        .await
        .expect("UpdateUser succeeds");

    // Assert
    assert_eq!(updated.user_id(), Some(user_id.as_str()));
    let after = app.get_user(&user_id).await;
    assert_eq!(after.r#type(), Some(&UserType::SuperUser));
    assert_eq!(after.last_name(), Some("Brewster Hopper"));
    assert_eq!(after.api_access(), Some(&ApiAccess::Enabled));
    assert_eq!(
        after.api_access_principal_arn(),
        Some("arn:aws:iam::123456789012:role/Navy")
    );
    assert_eq!(
        after.first_name(),
        Some("Grace"),
        "members not given stay as they were"
    );
    assert_eq!(
        after.email_address(),
        Some(email.as_str()),
        "email never changes"
    );
    assert_eq!(
        after.status(),
        before.status(),
        "status is not an UpdateUser member"
    );
    assert_eq!(after.create_time(), before.create_time());
    assert!(
        after.last_modified_time() > before.last_modified_time(),
        "lastModifiedTime moves: {} -> {}",
        before.last_modified_time(),
        after.last_modified_time()
    );
}

#[tokio::test]
async fn updating_an_unknown_user_is_resource_not_found() {
    let app = spawn_app().await;

    assert_eq!(
        failure(
            app.sdk
                .update_user()
                .user_id(ulid::Ulid::generate().to_string())
                .first_name("Nobody")
                .send()
                .await,
            "no such user"
        ),
        "ResourceNotFoundException"
    );
}

#[tokio::test]
async fn invalid_update_members_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let user_id = app.create_user(&unique_email("invalid-update")).await;
    app.wait_for_status(&user_id, UserStatus::Enabled).await; // the lifecycle task modifies too
    let before = app.get_user(&user_id).await;

    let err = app
        .sdk
        .update_user()
        .user_id(&user_id)
        .first_name("Valid")
        .api_access_principal_arn("arn:aws:iam::123:role/short-account")
        .send()
        .await
        .expect_err("invalid ARN")
        .into_service_error();

    assert!(
        err.is_validation_exception(),
        "expected ValidationException, got {err:?}"
    );
    let message = err.meta().message().unwrap_or_default();
    assert!(
        message.contains("apiAccessPrincipalArn"),
        "names the field: {message}"
    );
    let after = app.get_user(&user_id).await;
    assert_eq!(after.first_name(), before.first_name(), "no partial write");
    assert_eq!(after.last_modified_time(), before.last_modified_time());
}

use aws_sdk_finspacedata::types::{ApiAccess, UserStatus, UserType};

use crate::helpers::{failure, spawn_app, spawn_app_with, unique_email};

#[tokio::test]
async fn create_user_returns_a_ulid_and_stores_every_member() {
    // Arrange
    let app = spawn_app().await;
    let email = unique_email("Ada.Lovelace");
    let arn = "arn:aws:iam::123456789012:role/Analyst";

    // Act
    let created = app
        .sdk
        .create_user()
        .email_address(&email)
        .r#type(UserType::SuperUser)
        .first_name("Ada")
        .last_name("Lovelace")
        .api_access(ApiAccess::Enabled)
        .api_access_principal_arn(arn)
        .client_token("create-every-member")
        .send()
        .await
        .expect("CreateUser succeeds");

    // Assert
    let user_id = created.user_id().expect("a userId").to_owned();
    assert_eq!(user_id.len(), 26, "ids are 26-character ULIDs");
    assert!(
        ulid::Ulid::from_string(&user_id).is_ok(),
        "{user_id} is a ULID"
    );
    app.wait_for_status(&user_id, UserStatus::Enabled).await;
    let user = app.get_user(&user_id).await;
    assert_eq!(user.user_id(), Some(user_id.as_str()));
    assert_eq!(
        user.email_address(),
        Some(email.as_str()),
        "email keeps its case"
    );
    assert_eq!(user.r#type(), Some(&UserType::SuperUser));
    assert_eq!(user.first_name(), Some("Ada"));
    assert_eq!(user.last_name(), Some("Lovelace"));
    assert_eq!(user.api_access(), Some(&ApiAccess::Enabled));
    assert_eq!(user.api_access_principal_arn(), Some(arn));
    assert!(user.create_time() > 0);
    assert!(user.last_enabled_time() >= user.create_time());
    assert_eq!(
        user.last_modified_time(),
        user.last_enabled_time(),
        "enabling modifies the user"
    );
    assert_eq!(user.last_disabled_time(), 0, "never disabled");
    assert_eq!(user.last_login_time(), 0, "never signed in");
}

#[tokio::test]
async fn a_new_user_is_creating_until_the_activation_delay_passes() {
    let app = spawn_app_with(|s| s.lifecycle.activation_delay_ms = 3_600_000).await;

    let user_id = app.create_user(&unique_email("pending")).await;

    let user = app.get_user(&user_id).await;
    assert_eq!(user.status(), Some(&UserStatus::Creating));
    assert_eq!(user.create_time(), user.last_modified_time());
    assert_eq!(user.last_enabled_time(), 0, "not enabled yet");
    assert_eq!(
        user.api_access(),
        Some(&ApiAccess::Disabled),
        "API access is off unless asked for"
    );
}

#[tokio::test]
async fn a_short_activation_delay_enables_the_user_without_polling_hot() {
    let app = spawn_app_with(|s| s.lifecycle.activation_delay_ms = 200).await;

    let user_id = app.create_user(&unique_email("soon")).await;

    app.wait_for_status(&user_id, UserStatus::Enabled).await;
    let user = app.get_user(&user_id).await;
    assert!(
        user.last_enabled_time() - user.create_time() >= 200,
        "enabled only after the delay: created {}, enabled {}",
        user.create_time(),
        user.last_enabled_time()
    );
}

#[tokio::test]
async fn an_email_already_registered_in_any_case_is_a_conflict() {
    let app = spawn_app().await;
    let email = unique_email("taken");
    app.create_user(&email).await;

    for variant in [email.clone(), email.to_uppercase()] {
        assert_eq!(
            failure(
                app.sdk
                    .create_user()
                    .email_address(&variant)
                    .r#type(UserType::AppUser)
                    .send()
                    .await,
                "a second user with the same email is refused"
            ),
            "ConflictException",
            "{variant}"
        );
    }
}

#[tokio::test]
async fn invalid_members_are_a_validation_exception() {
    let app = spawn_app().await;

    let err = app
        .sdk
        .create_user()
        .email_address("not-an-email")
        .r#type(UserType::AppUser)
        .send()
        .await
        .expect_err("an invalid email is refused")
        .into_service_error();

    assert!(
        err.is_validation_exception(),
        "expected ValidationException, got {err:?}"
    );
    let message = err.meta().message().unwrap_or_default();
    assert!(
        message.contains("emailAddress"),
        "the message names the field: {message}"
    );
    assert!(
        message.contains("regular expression"),
        "the message names the rule: {message}"
    );
}

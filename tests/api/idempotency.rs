use std::time::Duration;

use aws_sdk_finspacedata::types::UserType;

use crate::helpers::{failure, spawn_app, spawn_app_with, unique_email};

#[tokio::test]
async fn repeating_a_create_with_its_token_returns_the_first_user() {
    let app = spawn_app().await;
    let email = unique_email("retry");
    let create = || {
        app.sdk
            .create_user()
            .email_address(&email)
            .r#type(UserType::AppUser)
            .first_name("Retry")
            .client_token("create-retry-token")
            .send()
    };

    let first = create().await.expect("first CreateUser");
    let second = create()
        .await
        .expect("the repeat is answered, not refused as a duplicate email");

    assert_eq!(
        first.user_id(),
        second.user_id(),
        "the same user is returned"
    );
}

#[tokio::test]
async fn reusing_a_create_token_with_other_parameters_is_a_conflict() {
    let app = spawn_app().await;
    let token = "create-reused-token";
    app.sdk
        .create_user()
        .email_address(unique_email("one"))
        .r#type(UserType::AppUser)
        .client_token(token)
        .send()
        .await
        .expect("first CreateUser");

    let err = app
        .sdk
        .create_user()
        .email_address(unique_email("two"))
        .r#type(UserType::AppUser)
        .client_token(token)
        .send()
        .await
        .expect_err("same token, other email")
        .into_service_error();

    assert!(
        err.is_conflict_exception(),
        "expected ConflictException, got {err:?}"
    );
    let message = err.meta().message().unwrap_or_default();
    assert!(
        message.contains("clientToken"),
        "the message says why: {message}"
    );
}

#[tokio::test]
async fn repeating_an_update_with_its_token_does_not_apply_it_again() {
    let app = spawn_app().await;
    let user_id = app.create_user(&unique_email("update-retry")).await;
    let rename = |name: &'static str, token: Option<&'static str>| {
        app.sdk
            .update_user()
            .user_id(&user_id)
            .first_name(name)
            .set_client_token(token.map(str::to_owned))
            .send()
    };

    rename("First", Some("update-token"))
        .await
        .expect("first update");
    rename("Second", None)
        .await
        .expect("an untokened update in between");
    let replay = rename("First", Some("update-token"))
        .await
        .expect("the repeat is answered");

    assert_eq!(replay.user_id(), Some(user_id.as_str()));
    let user = app.get_user(&user_id).await;
    assert_eq!(
        user.first_name(),
        Some("Second"),
        "the repeat did not modify the user again"
    );

    assert_eq!(
        failure(
            rename("Third", Some("update-token")).await,
            "same token, other change"
        ),
        "ConflictException"
    );
}

#[tokio::test]
async fn an_expired_token_is_purged_and_may_be_used_again() {
    // Short enough that the SDK's signature, made on the real clock, is still within the
    // server's 15-minute skew once the server's clock has moved past it.
    const TTL: Duration = Duration::from_secs(600);
    let app = spawn_app_with(|s| {
        s.idempotency.ttl_secs = TTL.as_secs();
        s.idempotency.purge_interval_secs = 1;
    })
    .await;
    let token = "short-lived-token";
    let create = |email: String| {
        app.sdk
            .create_user()
            .email_address(email)
            .r#type(UserType::AppUser)
            .client_token(token)
            .send()
    };
    let first = create(unique_email("before-expiry"))
        .await
        .expect("first CreateUser");

    // The token's lifetime passes at once; then wait (bounded) for the purge task's next round
    // (every second) to delete it.
    app.clock.advance(TTL + Duration::from_secs(1));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if app.metric("userdir_idempotency_tokens").await == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expired token was not purged within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let second = create(unique_email("after-expiry"))
        .await
        .expect("the token is free again");
    assert_ne!(first.user_id(), second.user_id(), "a new user was created");
}

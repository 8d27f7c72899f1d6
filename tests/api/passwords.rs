use aws_sdk_finspacedata::types::UserStatus;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{
    TestApp, open_store, spawn_app, spawn_app_in, spawn_app_with, test_settings, unique_email,
};

async fn reset(app: &TestApp, user_id: &str, token: Option<&str>) -> String {
    let out = app
        .sdk
        .reset_user_password()
        .user_id(user_id)
        .set_client_token(token.map(str::to_owned))
        .send()
        .await
        .expect("ResetUserPassword");
    assert_eq!(out.user_id(), Some(user_id));
    out.temporary_password()
        .expect("temporaryPassword")
        .to_owned()
}

async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Option<String>, Value) {
    let response = app
        .http
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .expect("answered");
    let status = response.status();
    let error_type = response
        .headers()
        .get("x-amzn-ErrorType")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        status,
        error_type,
        response.json().await.expect("JSON body"),
    )
}

/// The password hash kept for `email` in the (stopped) server's directory.
async fn stored_hash(dir: &TempDir, email: &str) -> String {
    let store = open_store(dir).await;
    let stored = store
        .credentials
        .password_for(&userdir_core::domain::Email::parse(email).expect("email"))
        .await
        .expect("read")
        .expect("a stored password")
        .hash;
    store.close().await;
    stored
}

async fn enabled_user(app: &TestApp, tag: &str) -> (String, String) {
    let email = unique_email(tag);
    let user_id = app.create_user(&email).await;
    app.wait_for_status(&user_id, UserStatus::Enabled).await;
    (user_id, email)
}

#[tokio::test]
async fn a_temporary_password_is_traded_once_for_a_chosen_one_which_signs_in() {
    let app = spawn_app().await;
    let (user_id, email) = enabled_user(&app, "signin").await;
    let temporary = reset(&app, &user_id, None).await;
    assert!((8..=20).contains(&temporary.len()), "{temporary}");
    for class in [
        char::is_ascii_uppercase,
        char::is_ascii_lowercase,
        char::is_ascii_digit,
    ] {
        assert!(
            temporary.chars().any(|c| class(&c)),
            "{temporary} mixes classes"
        );
    }
    assert!(
        temporary.chars().any(|c| !c.is_ascii_alphanumeric()),
        "{temporary} has a symbol"
    );

    // A temporary password does not sign in by itself.
    let (status, error, _) = post(
        &app,
        "/auth/sign-in",
        json!({"emailAddress": email, "password": temporary}),
    )
    .await;
    assert_eq!(
        (status, error.as_deref()),
        (
            StatusCode::FORBIDDEN,
            Some("PasswordResetRequiredException")
        )
    );
    // Audited as the sign-in it was, not as a failed request signature.
    assert!(
        app.audit_events().await.iter().any(|e| e["operation"] == "SignIn"
            && e["outcome"] == "PasswordResetRequiredException"),
        "the refused sign-in is audited as SignIn"
    );

    // A chosen password must meet the policy.
    let (status, _, body) = post(
        &app,
        "/auth/password",
        json!({"emailAddress": email, "password": temporary, "newPassword": "weak"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("'newPassword'")
    );

    let chosen = "Chosen-Password-42";
    let (status, _, body) = post(
        &app,
        "/auth/password",
        json!({"emailAddress": email, "password": temporary, "newPassword": chosen}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["userId"], user_id.as_str());
    let login_time = body["lastLoginTime"].as_i64().expect("lastLoginTime");
    let user = app.get_user(&user_id).await;
    assert_eq!(
        user.last_login_time(),
        login_time,
        "GetUser shows the sign-in"
    );

    // The temporary password worked once.
    let (status, error, _) = post(
        &app,
        "/auth/password",
        json!({"emailAddress": email, "password": temporary, "newPassword": "Another-Password-43"}),
    )
    .await;
    assert_eq!(
        (status, error.as_deref()),
        (StatusCode::UNAUTHORIZED, Some("NotAuthorizedException"))
    );

    let (status, _, body) = post(
        &app,
        "/auth/sign-in",
        json!({"emailAddress": email.to_uppercase(), "password": chosen}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["lastLoginTime"].as_i64().expect("time") >= login_time);
}

#[tokio::test]
async fn failures_do_not_reveal_whether_the_email_exists() {
    let app = spawn_app().await;
    let (user_id, email) = enabled_user(&app, "reveal").await;
    reset(&app, &user_id, None).await;

    let (wrong_status, wrong_type, wrong_body) = post(
        &app,
        "/auth/sign-in",
        json!({"emailAddress": email, "password": "Wrong-Password-1"}),
    )
    .await;
    let (unknown_status, unknown_type, unknown_body) = post(
        &app,
        "/auth/sign-in",
        json!({"emailAddress": unique_email("nobody"), "password": "Wrong-Password-1"}),
    )
    .await;

    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    assert_eq!((wrong_status, wrong_type), (unknown_status, unknown_type));
    assert_eq!(wrong_body["message"], unknown_body["message"]);
}

#[tokio::test]
async fn a_new_reset_invalidates_the_previous_password_and_a_replay_answers_the_same_one() {
    let app = spawn_app().await;
    let (user_id, email) = enabled_user(&app, "reset").await;

    let first = reset(&app, &user_id, Some("reset-token")).await;
    let replay = reset(&app, &user_id, Some("reset-token")).await;
    assert_eq!(
        first, replay,
        "a replay answers the same temporary password"
    );
    let second = reset(&app, &user_id, None).await;
    assert_ne!(first, second);

    let (status, _, _) = post(
        &app,
        "/auth/password",
        json!({"emailAddress": email, "password": first, "newPassword": "Chosen-Password-42"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the earlier password stopped working"
    );
    let (status, _, body) = post(
        &app,
        "/auth/password",
        json!({"emailAddress": email, "password": second, "newPassword": "Chosen-Password-42"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let dir = app.stop().await;
    let stored = stored_hash(&dir, &email).await;
    assert!(
        stored.starts_with("$argon2id$v=19$m=8,t=1,p=1$"),
        "only an argon2id hash is stored, at the configured cost: {stored}"
    );
    assert!(!stored.contains("Chosen-Password-42"));
}

#[tokio::test]
async fn disabled_and_creating_users_cannot_sign_in_and_disabled_ones_cannot_be_reset() {
    let app = spawn_app().await;
    let (user_id, email) = enabled_user(&app, "disabled").await;
    let temporary = reset(&app, &user_id, None).await;
    post(
        &app,
        "/auth/password",
        json!({"emailAddress": email, "password": temporary, "newPassword": "Chosen-Password-42"}),
    )
    .await;
    app.disable_user(&user_id).await;

    let (status, error, _) = post(
        &app,
        "/auth/sign-in",
        json!({"emailAddress": email, "password": "Chosen-Password-42"}),
    )
    .await;
    assert_eq!(
        (status, error.as_deref()),
        (StatusCode::FORBIDDEN, Some("AccessDeniedException"))
    );
    let err = app
        .sdk
        .reset_user_password()
        .user_id(&user_id)
        .send()
        .await
        .expect_err("disabled")
        .into_service_error();
    assert!(err.is_conflict_exception(), "{err:?}");
    assert!(
        err.meta()
            .message()
            .unwrap_or_default()
            .contains("DISABLED")
    );

    let pending = spawn_app_with(|s| s.lifecycle.activation_delay_ms = 3_600_000).await;
    let email = unique_email("creating");
    let user_id = pending.create_user(&email).await;
    let temporary = reset(&pending, &user_id, None).await;
    let (status, _, body) = post(
        &pending,
        "/auth/password",
        json!({"emailAddress": email, "password": temporary, "newPassword": "Chosen-Password-42"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("CREATING")
    );

    let missing = ulid::Ulid::generate().to_string();
    let err = app
        .sdk
        .reset_user_password()
        .user_id(&missing)
        .send()
        .await
        .expect_err("404")
        .into_service_error();
    assert!(err.is_resource_not_found_exception());
}

#[tokio::test]
async fn sign_in_attempts_are_throttled_per_email() {
    let app = spawn_app_with(|s| s.sign_in.attempts_per_email_per_minute = 3).await;
    let email = unique_email("throttled");
    let attempt = json!({"emailAddress": email, "password": "Wrong-Password-1"});

    for _ in 0..3 {
        let (status, _, _) = post(&app, "/auth/sign-in", attempt.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let response = app
        .http
        .post(app.url("/auth/sign-in"))
        .json(&attempt)
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response.headers()["x-amzn-ErrorType"],
        "ThrottlingException"
    );
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let (status, _, _) = post(
        &app,
        "/auth/sign-in",
        json!({"emailAddress": unique_email("other"), "password": "x"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "another email is not throttled"
    );
}

#[tokio::test]
async fn passwords_set_at_one_hashing_cost_still_sign_in_after_it_changes() {
    // The default cost (OWASP's), as an operator starts with.
    let app = spawn_app_with(|s| {
        s.sign_in.password_hash_memory_kib = 19456;
        s.sign_in.password_hash_iterations = 2;
    })
    .await;
    let (user_id, email) = enabled_user(&app, "cost").await;
    let temporary = reset(&app, &user_id, None).await;
    let (status, _, body) = post(
        &app,
        "/auth/password",
        json!({"emailAddress": email, "password": temporary, "newPassword": "Chosen-Password-42"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let dir = app.stop().await;
    let stored = stored_hash(&dir, &email).await;
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );

    // Cheaper from now on: the stored hash keeps its cost and still verifies.
    let cheaper = spawn_app_in(dir, |s| s.sign_in.password_hash_memory_kib = 9216).await;
    let signed_in = |password: &'static str| {
        post(
            &cheaper,
            "/auth/sign-in",
            json!({"emailAddress": email, "password": password}),
        )
    };
    let (status, _, body) = signed_in("Chosen-Password-42").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = signed_in("Chosen-Password-43").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let dir = cheaper.stop().await;

    // A cost argon2 cannot use stops the start, naming the settings.
    let mut settings = test_settings(&dir);
    settings.sign_in.password_hash_memory_kib = 4;
    let refused = userdir::startup::Application::build(&settings).await;
    let message = refused.err().map(|e| format!("{e:#}")).unwrap_or_default();
    assert!(
        message.contains("sign_in.password_hash_memory_kib = 4")
            && message.contains("less than argon2's minimum of 8 KiB"),
        "{message}"
    );
}

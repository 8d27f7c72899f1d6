//! Authentication, authorization, throttling, limits and the audit trail.

use std::time::{Duration, SystemTime};

use aws_sdk_finspacedata::config::retry::RetryConfig;
use aws_sdk_finspacedata::operation::update_user::builders::UpdateUserFluentBuilder;
use aws_sdk_finspacedata::types::{ApiAccess, ApplicationPermission, UserStatus, UserType};
use aws_smithy_async::time::StaticTimeSource;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use userdir::config::PrincipalSettings;

use crate::helpers::{
    Key, ROOT, TestApp, failure, sdk_client_with, skipped_on_postgres, spawn_app, spawn_app_with,
    unique_email, userdir_command,
};

const ARN: &str = "arn:aws:iam::123456789012:role/Analyst";
const PRINCIPAL: Key<'static> = Key {
    access_key_id: "AKIDPRINCIPALTEST",
    secret: "principal-test-secret",
    session_token: None,
};

pub(crate) fn with_principal(settings: &mut userdir::config::Settings) {
    settings.auth.principals = vec![PrincipalSettings {
        arn: ARN.into(),
        access_key_id: PRINCIPAL.access_key_id.into(),
        secret_access_key: PRINCIPAL.secret.into(),
    }];
}

/// The AWS error code of a failed SDK call.
fn code<E: aws_sdk_finspacedata::error::ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("<none>").to_owned()
}

/// Temporary credentials as the SDK returns them.
pub(crate) struct Session {
    access_key_id: String,
    secret: String,
    token: String,
}

impl Session {
    fn key(&self) -> Key<'_> {
        Key {
            access_key_id: &self.access_key_id,
            secret: &self.secret,
            session_token: Some(&self.token),
        }
    }
}

/// Creates a user bound to the test principal and obtains temporary credentials for it.
pub(crate) async fn user_session(
    app: &TestApp,
    user_type: UserType,
    minutes: i64,
) -> (String, Session) {
    let user_id = app
        .sdk
        .create_user()
        .email_address(unique_email("session"))
        .r#type(user_type.clone())
        .api_access(ApiAccess::Enabled)
        .api_access_principal_arn(ARN)
        .send()
        .await
        .expect("CreateUser")
        .user_id()
        .expect("id")
        .to_owned();
    app.wait_for_status(&user_id, UserStatus::Enabled).await;
    if user_type == UserType::AppUser {
        let group = app
            .sdk
            .create_permission_group()
            .name(format!("credentials-{user_id}"))
            .application_permissions(ApplicationPermission::GetTemporaryCredentials)
            .send()
            .await
            .expect("group")
            .permission_group_id()
            .expect("id")
            .to_owned();
        app.sdk
            .associate_user_to_permission_group()
            .permission_group_id(group)
            .user_id(&user_id)
            .send()
            .await
            .expect("associate");
    }
    let principal = sdk_client_with(&app.address, PRINCIPAL, |c| c);
    let issued = principal
        .get_programmatic_access_credentials()
        .environment_id("userdir")
        .duration_in_minutes(minutes)
        .send()
        .await
        .expect("GetProgrammaticAccessCredentials");
    assert_eq!(issued.duration_in_minutes(), Some(minutes));
    let credentials = issued.credentials().expect("credentials");
    let session = Session {
        access_key_id: credentials.access_key_id().expect("key id").to_owned(),
        secret: credentials.secret_access_key().expect("secret").to_owned(),
        token: credentials.session_token().expect("token").to_owned(),
    };
    (user_id, session)
}

#[tokio::test]
async fn bad_signatures_are_refused_with_the_aws_error_for_each_case() {
    let app = spawn_app().await;
    let wrong_secret = sdk_client_with(
        &app.address,
        Key {
            secret: "not-the-secret",
            ..ROOT
        },
        |c| c,
    );
    let unknown_key = sdk_client_with(
        &app.address,
        Key {
            access_key_id: "AKIDNOBODY",
            ..ROOT
        },
        |c| c,
    );
    let stale = sdk_client_with(&app.address, ROOT, |c| {
        c.time_source(StaticTimeSource::new(
            SystemTime::now() - Duration::from_secs(16 * 60),
        ))
    });
    let cases = [
        (wrong_secret, "InvalidSignatureException"),
        (unknown_key, "UnrecognizedClientException"),
        (stale, "InvalidSignatureException"),
    ];

    for (client, expected) in cases {
        let err = client
            .list_users()
            .max_results(5)
            .send()
            .await
            .expect_err("refused");
        let status = err.raw_response().map(|r| r.status().as_u16());
        let err = err.into_service_error();
        assert_eq!(code(&err), expected, "{err:?}");
        assert_eq!(status, Some(403));
        let message =
            aws_sdk_finspacedata::error::ProvideErrorMetadata::message(&err).unwrap_or_default();
        assert!(
            !message.contains(ROOT.secret),
            "the secret never appears in a response"
        );
    }
}

#[tokio::test]
async fn unsigned_tampered_and_incomplete_requests_are_refused() {
    let app = spawn_app().await;
    let body = json!({"emailAddress": unique_email("tamper"), "type": "APP_USER"});

    let unsigned = app
        .request(Method::POST, "/user")
        .json(&body)
        .unsigned()
        .send()
        .await
        .expect("answered");
    let tampered = app
        .request(Method::POST, "/user")
        .json(&body)
        .tampered_body(
            serde_json::to_vec(&json!({"emailAddress": "evil@example.com", "type": "SUPER_USER"}))
                .expect("json"),
        )
        .send()
        .await
        .expect("answered");
    let old = app
        .request(Method::GET, "/user?maxResults=1")
        .signed_at(SystemTime::now() - Duration::from_secs(16 * 60))
        .send()
        .await
        .expect("answered");
    let incomplete = app
        .http
        .get(app.url("/user?maxResults=1"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDUSERDIRTEST",
        )
        .send()
        .await
        .expect("answered");

    for (response, expected) in [
        (unsigned, "MissingAuthenticationTokenException"),
        (tampered, "InvalidSignatureException"),
        (old, "InvalidSignatureException"),
        (incomplete, "IncompleteSignatureException"),
    ] {
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{expected}");
        assert_eq!(response.headers()["x-amzn-ErrorType"], expected);
        assert!(response.headers().contains_key("x-amzn-RequestId"));
    }
    let users = app
        .sdk
        .list_users()
        .max_results(10)
        .send()
        .await
        .expect("ListUsers");
    assert!(users.users().is_empty(), "no refused request had an effect");
}

#[tokio::test]
async fn health_and_sign_in_need_no_signature() {
    let app = spawn_app().await;
    let live = app
        .http
        .get(app.url("/health/live"))
        .send()
        .await
        .expect("answered");
    assert_eq!(live.status(), StatusCode::OK);
}

#[tokio::test]
async fn temporary_credentials_act_as_their_user_and_stop_when_it_is_disabled_or_loses_api_access()
{
    let app = spawn_app_with(with_principal).await;
    let (user_id, session) = user_session(&app, UserType::SuperUser, 15).await;
    let as_user = sdk_client_with(&app.address, session.key(), |c| c);
    assert!(session.access_key_id.starts_with("ASIA"));

    // Works: a SUPER_USER may do everything.
    as_user
        .get_user()
        .user_id(&user_id)
        .send()
        .await
        .expect("GetUser as the user");
    as_user
        .list_users()
        .max_results(5)
        .send()
        .await
        .expect("ListUsers as a SUPER_USER");

    // Disabled: refused at once (the rest of the lifecycle is in the revocation tests).
    app.disable_user(&user_id).await;
    assert_eq!(
        failure(
            as_user.get_user().user_id(&user_id).send().await,
            "disabled"
        ),
        "UnrecognizedClientException"
    );

    // A forged session token is not accepted.
    let forged = Session {
        token: format!("{}x", session.token),
        ..session
    };
    assert_eq!(
        failure(
            sdk_client_with(&app.address, forged.key(), |c| c)
                .get_user()
                .user_id(&user_id)
                .send()
                .await,
            "forged"
        ),
        "UnrecognizedClientException"
    );
}

/// Sends one GetUser with `session`'s credentials; the error code if it was refused.
pub(crate) async fn get_user_as(
    app: &TestApp,
    session: &Session,
    user_id: &str,
) -> Result<(), String> {
    sdk_client_with(&app.address, session.key(), |c| c)
        .get_user()
        .user_id(user_id)
        .send()
        .await
        .map(drop)
        .map_err(|e| code(&e.into_service_error()))
}

/// Obtains fresh credentials for the user bound to the test principal.
async fn fresh_session(app: &TestApp) -> Session {
    let issued = sdk_client_with(&app.address, PRINCIPAL, |c| c)
        .get_programmatic_access_credentials()
        .environment_id("userdir")
        .send()
        .await
        .expect("GetProgrammaticAccessCredentials");
    let credentials = issued.credentials().expect("credentials");
    Session {
        access_key_id: credentials.access_key_id().expect("key id").to_owned(),
        secret: credentials.secret_access_key().expect("secret").to_owned(),
        token: credentials.session_token().expect("token").to_owned(),
    }
}

/// The credentials issued before are refused for good, and fresh ones work; returns the fresh.
async fn assert_revoked_for_good(app: &TestApp, user_id: &str, old: &Session) -> Session {
    assert_eq!(
        get_user_as(app, old, user_id).await,
        Err("UnrecognizedClientException".into()),
        "credentials issued before the change stay revoked after it is undone"
    );
    let new = fresh_session(app).await;
    assert_eq!(get_user_as(app, &new, user_id).await, Ok(()));
    new
}

/// An UpdateUser of the user, changed by `change`.
async fn update(
    app: &TestApp,
    user_id: &str,
    change: impl FnOnce(UpdateUserFluentBuilder) -> UpdateUserFluentBuilder,
) {
    change(app.sdk.update_user().user_id(user_id))
        .send()
        .await
        .expect("UpdateUser");
}

#[tokio::test]
async fn disabling_a_user_ends_its_earlier_credentials_for_good() {
    let app = spawn_app_with(with_principal).await;
    let (user_id, old) = user_session(&app, UserType::SuperUser, 30).await;
    assert_eq!(get_user_as(&app, &old, &user_id).await, Ok(()));

    let disable = app.sdk.disable_user().user_id(&user_id);
    disable.send().await.expect("DisableUser");
    let enable = app.sdk.enable_user().user_id(&user_id);
    enable.clone().send().await.expect("EnableUser");
    let new = assert_revoked_for_good(&app, &user_id, &old).await;

    // An enable of an enabled user, or an update that changes nothing about access, revokes
    // nothing.
    enable.send().await.expect("EnableUser");
    update(&app, &user_id, |u| {
        u.first_name("Renamed")
            .api_access(ApiAccess::Enabled)
            .api_access_principal_arn(ARN)
    })
    .await;
    assert_eq!(get_user_as(&app, &new, &user_id).await, Ok(()));
}

#[tokio::test]
async fn turning_api_access_off_ends_earlier_credentials_for_good() {
    let app = spawn_app_with(with_principal).await;
    let (user_id, old) = user_session(&app, UserType::SuperUser, 30).await;
    for access in [ApiAccess::Disabled, ApiAccess::Enabled] {
        update(&app, &user_id, |u| u.api_access(access)).await;
    }
    assert_revoked_for_good(&app, &user_id, &old).await;
}

#[tokio::test]
async fn binding_a_user_to_another_principal_ends_earlier_credentials_for_good() {
    let app = spawn_app_with(with_principal).await;
    let (user_id, old) = user_session(&app, UserType::SuperUser, 30).await;
    for arn in ["arn:aws:iam::123456789012:role/Elsewhere", ARN] {
        update(&app, &user_id, |u| u.api_access_principal_arn(arn)).await;
    }
    assert_revoked_for_good(&app, &user_id, &old).await;
}

#[tokio::test]
async fn issued_credentials_are_in_the_audit_trail_without_their_secrets() {
    let app = spawn_app_with(with_principal).await;
    let (user_id, session) = user_session(&app, UserType::SuperUser, 15).await;
    let trail = app.audit_events().await;
    let issued: Vec<&Value> = trail
        .iter()
        .filter(|e| e["operation"] == "GetProgrammaticAccessCredentials")
        .collect();
    let [issued] = issued.as_slice() else {
        panic!("one issuance is recorded: {trail:?}");
    };
    assert_eq!(issued["caller"], format!("principal:{ARN}"));
    assert_eq!(issued["target"], user_id.as_str());
    assert_eq!(issued["outcome"], "SUCCESS");
    let detail = issued["detail"].as_str().expect("detail");
    assert!(
        detail.starts_with("durationInMinutes=15 expiresAt="),
        "{detail}"
    );
    let text = Value::from(trail.clone()).to_string();
    for secret in [&session.secret, &session.token, &session.access_key_id] {
        assert!(
            !text.contains(secret.as_str()),
            "{secret} must not be recorded"
        );
    }

    // A refused issuance is recorded too.
    update(&app, &user_id, |u| u.api_access(ApiAccess::Disabled)).await;
    sdk_client_with(&app.address, PRINCIPAL, |c| c)
        .get_programmatic_access_credentials()
        .environment_id("userdir")
        .send()
        .await
        .expect_err("no API access");
    let trail = app.audit_events().await;
    assert!(
        trail
            .iter()
            .any(|e| e["operation"] == "GetProgrammaticAccessCredentials"
                && e["outcome"] == "AccessDeniedException"),
        "{trail:?}"
    );
}

#[tokio::test]
async fn temporary_credentials_stop_working_when_they_expire() {
    let app = spawn_app_with(with_principal).await;
    let (user_id, session) = user_session(&app, UserType::SuperUser, 1).await;
    let as_user = sdk_client_with(&app.address, session.key(), |c| c);
    as_user
        .get_user()
        .user_id(&user_id)
        .send()
        .await
        .expect("works while fresh");

    // The shortest lifetime the model allows is one minute: move the server's clock up to it,
    // then past it.
    app.clock.advance(Duration::from_secs(55));
    as_user
        .get_user()
        .user_id(&user_id)
        .send()
        .await
        .expect("works until its expiry");
    app.clock.advance(Duration::from_secs(6));

    assert_eq!(
        failure(as_user.get_user().user_id(&user_id).send().await, "expired"),
        "ExpiredTokenException"
    );
}

#[tokio::test]
async fn an_app_user_may_manage_users_only_through_a_group_that_grants_it() {
    let app = spawn_app_with(with_principal).await;
    let other = app.create_user(&unique_email("other")).await;
    let (user_id, session) = user_session(&app, UserType::AppUser, 15).await;
    let as_user = sdk_client_with(&app.address, session.key(), |c| c);
    let create = || {
        as_user
            .create_user()
            .email_address(unique_email("by-app-user"))
            .r#type(UserType::AppUser)
            .send()
    };

    assert_eq!(
        failure(create().await, "no ManageUsersAndGroups"),
        "AccessDeniedException"
    );
    as_user
        .get_user()
        .user_id(&user_id)
        .send()
        .await
        .expect("a user may read itself");
    as_user
        .list_permission_groups_by_user()
        .user_id(&user_id)
        .max_results(5)
        .send()
        .await
        .expect("a user may list its own groups");
    assert_eq!(
        failure(
            as_user.get_user().user_id(&other).send().await,
            "another user"
        ),
        "AccessDeniedException"
    );
    let missing = ulid::Ulid::generate().to_string();
    assert_eq!(
        failure(
            as_user.get_user().user_id(&missing).send().await,
            "denied first"
        ),
        "AccessDeniedException",
        "denied before any lookup"
    );

    let admins = app
        .create_group("Admins", ApplicationPermission::ManageUsersAndGroups)
        .await;
    app.associate(&admins, &user_id).await;

    create()
        .await
        .expect("allowed after joining a group that grants ManageUsersAndGroups");
}

#[tokio::test]
async fn principals_may_only_obtain_credentials_and_only_principals_may() {
    let app = spawn_app_with(with_principal).await;
    let principal = sdk_client_with(&app.address, PRINCIPAL, |c| c);

    let credentials = |client: &aws_sdk_finspacedata::Client, environment: &str| {
        client
            .get_programmatic_access_credentials()
            .environment_id(environment)
            .send()
    };
    let denied = "AccessDeniedException";
    let list = principal.list_users().max_results(1).send().await;
    assert_eq!(failure(list, "a principal may not list"), denied);
    let as_root = credentials(&app.sdk, "userdir").await;
    assert_eq!(failure(as_root, "root is no principal"), denied);
    let unbound = credentials(&principal, "userdir").await;
    assert_eq!(failure(unbound, "no user is bound yet"), denied);
    let elsewhere = credentials(&principal, "elsewhere").await;
    assert_eq!(
        failure(elsewhere, "another environment"),
        "ValidationException"
    );
}

#[tokio::test]
async fn throttled_callers_get_429_and_the_sdk_retry_succeeds() {
    // A bucket of two refilled every 100 ms: quick calls in a row run it dry, and the SDK's
    // retries, started 10 ms apart and doubling, wait out a refill in a fraction of a second
    // rather than the second-long back-off of its defaults.
    let app = spawn_app_with(|s| {
        s.throttle.requests_per_second = 10;
        s.throttle.burst = 2;
    })
    .await;

    let mut statuses = Vec::new();
    while !statuses.contains(&StatusCode::TOO_MANY_REQUESTS) {
        assert!(statuses.len() < 50, "never throttled: {statuses:?}");
        let response = app
            .request(Method::GET, "/user?maxResults=1")
            .send()
            .await
            .expect("answered");
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(
                response.headers()["x-amzn-ErrorType"],
                "ThrottlingException"
            );
            assert!(response.headers().contains_key("retry-after"));
        }
    }

    let retrying = sdk_client_with(&app.address, ROOT, |c| {
        c.retry_config(
            RetryConfig::standard()
                .with_max_attempts(10)
                .with_initial_backoff(Duration::from_millis(10)),
        )
    });
    for _ in 0..4 {
        retrying
            .list_users()
            .max_results(1)
            .send()
            .await
            .expect("the SDK's retry gets through");
    }
}

#[tokio::test]
async fn configured_limits_answer_limit_exceeded() {
    let app = spawn_app_with(|s| {
        s.limits.max_users = 2;
        s.limits.max_permission_groups = 1;
    })
    .await;
    app.create_user(&unique_email("one")).await;
    app.create_user(&unique_email("two")).await;

    assert_eq!(
        failure(
            app.sdk
                .create_user()
                .email_address(unique_email("three"))
                .r#type(UserType::AppUser)
                .send()
                .await,
            "over the limit"
        ),
        "LimitExceededException"
    );

    let create_group = |name: &'static str| {
        app.sdk
            .create_permission_group()
            .name(name)
            .set_application_permissions(Some(vec![]))
            .send()
    };
    let only = create_group("only").await.expect("first group");
    assert_eq!(
        failure(create_group("second").await, "over the limit"),
        "LimitExceededException"
    );
    // A deleted group makes room for one more, and only one.
    app.sdk
        .delete_permission_group()
        .permission_group_id(only.permission_group_id().expect("id"))
        .send()
        .await
        .expect("deleted");
    create_group("replacement").await.expect("room again");
    assert_eq!(
        failure(create_group("third").await, "over the limit again"),
        "LimitExceededException"
    );
}

#[tokio::test]
async fn the_audit_trail_records_what_happened_and_never_a_secret() {
    let app = spawn_app().await;
    let email = unique_email("audited");
    let user_id = app.create_user(&email).await;
    app.sdk
        .create_user()
        .email_address(&email)
        .r#type(UserType::AppUser)
        .send()
        .await
        .expect_err("duplicate");
    let temporary = app
        .sdk
        .reset_user_password()
        .user_id(&user_id)
        .send()
        .await
        .expect("reset")
        .temporary_password()
        .expect("password")
        .to_owned();
    sdk_client_with(
        &app.address,
        Key {
            secret: "wrong",
            ..ROOT
        },
        |c| c,
    )
    .get_user()
    .user_id(&user_id)
    .send()
    .await
    .expect_err("bad signature");

    let response = app
        .request(Method::GET, "/audit?maxResults=100")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    let trail: Value = response.json().await.expect("JSON");
    let events = trail["events"].as_array().expect("events");
    let find = |operation: &str, outcome: &str| {
        events
            .iter()
            .find(|e| e["operation"] == operation && e["outcome"] == outcome)
            .cloned()
    };

    let created = find("CreateUser", "SUCCESS").expect("the create is recorded");
    assert_eq!(created["caller"], "root");
    assert_eq!(created["target"], user_id.as_str());
    assert!(
        created["requestId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert!(
        find("CreateUser", "ConflictException").is_some(),
        "the refused create is recorded"
    );
    assert!(find("ResetUserPassword", "SUCCESS").is_some());
    let failed = find("Authenticate", "InvalidSignatureException")
        .expect("the failed signature is recorded");
    assert_eq!(
        failed["caller"],
        format!("unauthenticated:{}", ROOT.access_key_id)
    );
    let text = trail.to_string();
    for secret in [ROOT.secret, temporary.as_str(), "wrong"] {
        assert!(
            !text.contains(secret),
            "{secret:?} must never be in the audit trail"
        );
    }
}

#[tokio::test]
async fn generated_root_credentials_are_kept_owner_only_and_reused() {
    if skipped_on_postgres("a root key generated into a file beside the database") {
        return;
    }
    let dir = std::sync::Arc::new(crate::helpers::tempdir());
    let clear = |s: &mut userdir::config::Settings| {
        s.auth.root_access_key_id.clear();
        s.auth.root_secret_access_key.clear();
    };
    let app = crate::helpers::spawn_app_in(dir.clone(), clear).await;
    let file = dir.path().join("root-credentials");
    let text = std::fs::read_to_string(&file).expect("credentials file written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
        let db = std::fs::metadata(dir.path().join("userdir.db"))
            .expect("database")
            .permissions()
            .mode();
        assert_eq!(
            db & 0o777,
            0o600,
            "the database (hashes, server keys) is its owner's only"
        );
    }
    let value = |key: &str| {
        text.lines()
            .find_map(|l| {
                l.split_once('=')
                    .filter(|(k, _)| k.trim() == key)
                    .map(|(_, v)| v.trim().to_owned())
            })
            .expect("key present")
    };
    let (id, secret) = (value("aws_access_key_id"), value("aws_secret_access_key"));
    let key = Key {
        access_key_id: &id,
        secret: &secret,
        session_token: None,
    };
    sdk_client_with(&app.address, key, |c| c)
        .list_users()
        .max_results(1)
        .send()
        .await
        .expect("generated key works");

    let dir = app.stop().await;
    let app = crate::helpers::spawn_app_in(dir, clear).await;
    sdk_client_with(&app.address, key, |c| c)
        .list_users()
        .max_results(1)
        .send()
        .await
        .expect("the same key after a restart");
}

/// Instances sharing a database must share the root key: on PostgreSQL it comes from
/// configuration, and a start without it is refused saying how to give it.
#[tokio::test]
async fn a_shared_database_needs_a_configured_root_key() {
    if !crate::postgres::enabled() {
        return; // SQLite generates one (the tests above).
    }
    let dir = crate::helpers::tempdir();
    let mut settings = crate::helpers::test_settings(&dir);
    settings.auth.root_access_key_id.clear();
    settings.auth.root_secret_access_key.clear();
    let refused = userdir::startup::Application::build(&settings)
        .await
        .err()
        .expect("no root key, no start");
    let message = format!("{refused:#}");
    assert!(
        message.contains("USERDIR__AUTH__ROOT_ACCESS_KEY_ID")
            && message.contains("the same on every instance"),
        "{message}"
    );
    assert!(!dir.path().join("root-credentials").exists());
}

/// The key pair in a generated root-credentials file.
fn root_key_in(file: &std::path::Path) -> (String, String) {
    let text = std::fs::read_to_string(file).expect("credentials file");
    let value = |key: &str| {
        text.lines()
            .find_map(|l| {
                l.split_once('=')
                    .filter(|(k, _)| k.trim() == key)
                    .map(|(_, v)| v.trim().to_owned())
            })
            .expect("key present")
    };
    (value("aws_access_key_id"), value("aws_secret_access_key"))
}

#[tokio::test]
async fn a_lost_root_key_file_is_not_silently_replaced_and_rotation_is_audited() {
    if skipped_on_postgres("a root key generated into a file beside the database") {
        return;
    }
    let dir = std::sync::Arc::new(crate::helpers::tempdir());
    let clear = |s: &mut userdir::config::Settings| {
        s.auth.root_access_key_id.clear();
        s.auth.root_secret_access_key.clear();
    };
    let app = crate::helpers::spawn_app_in(dir.clone(), clear).await;
    let file = dir.path().join("root-credentials");
    let (old_id, old_secret) = root_key_in(&file);
    let old = Key {
        access_key_id: &old_id,
        secret: &old_secret,
        session_token: None,
    };
    sdk_client_with(&app.address, old, |c| c)
        .create_user()
        .email_address(unique_email("kept"))
        .r#type(UserType::AppUser)
        .send()
        .await
        .expect("CreateUser with the generated key");
    let dir = app.stop().await;

    std::fs::remove_file(&file).expect("the file is lost");
    let mut settings = crate::helpers::test_settings(&dir);
    clear(&mut settings);
    let refused = userdir::startup::Application::build(&settings)
        .await
        .err()
        .expect("no new key is invented for a database with users");
    let message = format!("{refused:#}");
    assert!(
        message.contains("is missing") && message.contains("userdir root-key rotate"),
        "{message}"
    );
    assert!(!file.exists(), "nothing was written");

    // The explicit way out: a new key, recorded in the audit trail.
    let rotated = tokio::process::Command::new(env!("CARGO_BIN_EXE_userdir"))
        .args(["root-key", "rotate"])
        .env("USERDIR__DATABASE__PATH", dir.path().join("userdir.db"))
        .env("USERDIR__LOG__FILTER", "warn")
        .env_remove("USERDIR__AUTH__ROOT_ACCESS_KEY_ID")
        .env_remove("USERDIR__AUTH__ROOT_SECRET_ACCESS_KEY")
        .output()
        .await
        .expect("the command runs");
    assert!(rotated.status.success(), "{rotated:?}");
    let (new_id, new_secret) = root_key_in(&file);
    assert_ne!(new_id, old_id);
    assert!(String::from_utf8_lossy(&rotated.stdout).contains(&new_id));

    let app = crate::helpers::spawn_app_in(dir, clear).await;
    let new = Key {
        access_key_id: &new_id,
        secret: &new_secret,
        session_token: None,
    };
    assert_eq!(
        failure(
            sdk_client_with(&app.address, old, |c| c)
                .list_users()
                .max_results(1)
                .send()
                .await,
            "the old key is gone"
        ),
        "UnrecognizedClientException"
    );
    let trail = tokio::process::Command::new(env!("CARGO_BIN_EXE_userdir"))
        .args(["audit", "--format", "jsonl"])
        .env("USERDIR__DATABASE__PATH", &app.db_path)
        .output()
        .await
        .expect("audit runs");
    let rotation: Value = String::from_utf8_lossy(&trail.stdout)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
        .find(|event| event["operation"] == "RotateRootKey")
        .expect("the rotation is in the audit trail");
    assert_eq!(rotation["caller"], "operator:cli");
    assert_eq!(
        rotation["detail"],
        format!("new root access key id {new_id}")
    );
    assert!(!String::from_utf8_lossy(&trail.stdout).contains(&new_secret));
    let listed = sdk_client_with(&app.address, new, |c| c)
        .list_users()
        .max_results(1)
        .send()
        .await
        .expect("the new key works");
    assert_eq!(listed.users().len(), 1);
}

#[tokio::test]
async fn the_anonymous_mode_serves_loopback_only() {
    let dir = crate::helpers::tempdir();
    let mut settings = crate::helpers::test_settings(&dir);
    settings.auth.mode = userdir::config::AuthMode::Anonymous;
    settings.server.host = "0.0.0.0".into();

    let refused = userdir::startup::Application::build(&settings).await;

    assert!(
        refused.is_err(),
        "anonymous mode must refuse a non-loopback address"
    );
    let app = spawn_app_with(|s| s.auth.mode = userdir::config::AuthMode::Anonymous).await;
    let response = app
        .request(Method::GET, "/user?maxResults=1")
        .unsigned()
        .send()
        .await
        .expect("answered");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "loopback anonymous mode needs no signature"
    );
}

#[tokio::test]
async fn tls_serves_the_sdk_when_a_certificate_is_configured() {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let files = crate::helpers::tempdir();
    let (cert, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("write certificate");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
    let app = spawn_app_with(|s| {
        s.server.tls_cert_file = cert.clone();
        s.server.tls_key_file = key.clone();
    })
    .await;
    assert!(app.address.starts_with("https://"));

    let trust = tls::TrustStore::empty().with_pem_certificate(certified.cert.pem().into_bytes());
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .expect("TLS context"),
        )
        .build_https();
    let client = sdk_client_with(&app.address, ROOT, |c| c.http_client(https));
    client
        .list_users()
        .max_results(1)
        .send()
        .await
        .expect("ListUsers over TLS");

    // The container's health check speaks TLS to a TLS server.
    let port = app.address.rsplit(':').next().expect("port");
    let health = userdir_command(files.path())
        .arg("health")
        .env("USERDIR__SERVER__PORT", port)
        .env("USERDIR__SERVER__TLS_CERT_FILE", &cert)
        .env("USERDIR__SERVER__TLS_KEY_FILE", &key)
        .output()
        .await
        .expect("userdir health runs");
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stderr)
    );
    assert!(String::from_utf8_lossy(&health.stdout).starts_with("https://"));

    let plain = app.address.replacen("https://", "http://", 1);
    let refused = app.http.get(format!("{plain}/health/live")).send().await;
    assert!(
        refused
            .map(|r| r.status() != StatusCode::OK)
            .unwrap_or(true),
        "plain HTTP is not served on the TLS port"
    );
}

#[tokio::test]
async fn a_client_too_slow_to_send_its_body_is_cut_off() {
    let app = spawn_app_with(|s| s.server.body_timeout_ms = 300).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(b"{\"emailAddress\": ".to_vec()))
        .await
        .expect("first chunk");
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));

    let response = app
        .http
        .post(app.url("/user"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(
        response.headers()["x-amzn-ErrorType"],
        "RequestTimeoutException"
    );
    drop(tx);
}

/// A stream of the chunks sent on `rx`, ending when its sender is dropped.
fn tokio_stream_from(
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[tokio::test]
async fn a_signing_header_sent_twice_is_refused_before_anything_else() {
    let app = spawn_app().await;
    let signed = || app.request(reqwest::Method::GET, "/user?maxResults=1");
    let fine = signed().send().await.expect("request");
    assert_eq!(fine.status(), 200, "the same request without a second copy");

    for name in [
        "Authorization",
        "X-Amz-Date",
        "X-Amz-Security-Token",
        "X-Amz-Content-Sha256",
    ] {
        // One copy of a header the signature does not carry, then a second: still two.
        let mut request = signed();
        if matches!(name, "X-Amz-Security-Token" | "X-Amz-Content-Sha256") {
            request = request.extra_header(name, "first");
        }
        let response = request
            .extra_header(name, "garbage")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 403, "{name}");
        assert_eq!(
            response
                .headers()
                .get("x-amzn-ErrorType")
                .and_then(|v| v.to_str().ok()),
            Some("IncompleteSignatureException"),
            "{name}"
        );
        let body = response.text().await.expect("body");
        assert!(body.contains("more than once"), "{name}: {body}");
    }
}

#[tokio::test]
async fn an_overlong_claimed_key_is_refused_and_never_stored() {
    let app = spawn_app().await;
    let key = "K".repeat(30_000);
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={key}/20261130/us-east-1/finspace-api/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=abc"
    );
    let response = app
        .request(Method::GET, "/user?maxResults=1")
        .unsigned()
        .extra_header("authorization", &authorization)
        .extra_header("x-amz-date", "20261130T000000Z")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok()),
        Some("IncompleteSignatureException")
    );

    let events = app.audit_events().await;
    assert_eq!(events.len(), 1, "the refusal is audited: {events:?}");
    let longest = events
        .iter()
        .filter_map(|e| e["caller"].as_str())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(
        longest < 300,
        "the claimed key was stored: {longest} characters"
    );
}

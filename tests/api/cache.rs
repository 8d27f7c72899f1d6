//! The GetUser cache never serves a stale user after an acknowledged write, nor across a restart.

use std::time::Duration;

use aws_sdk_finspacedata::types::{ApiAccess, UserStatus, UserType};
use reqwest::StatusCode;
use serde_json::json;
use tokio::task::JoinSet;

use userdir_core::domain::{FirstName, Timestamp, UserChanges, UserId};

use crate::helpers::{
    open_store, operator_write, spawn_app, spawn_app_in, spawn_app_with, unique_email,
};

#[tokio::test]
async fn every_mutation_of_a_user_is_read_back_at_once() {
    let app = spawn_app().await;
    let email = unique_email("coherent");
    let user_id = app.create_user(&email).await;
    app.wait_for_status(&user_id, UserStatus::Enabled).await;
    let get = || app.sdk.get_user().user_id(&user_id).send();
    get().await.expect("warm the cache");

    app.sdk
        .update_user()
        .user_id(&user_id)
        .first_name("Changed")
        .r#type(UserType::SuperUser)
        .send()
        .await
        .expect("UpdateUser");
    let user = get().await.expect("GetUser");
    assert_eq!(
        (user.first_name(), user.r#type()),
        (Some("Changed"), Some(&UserType::SuperUser))
    );

    app.sdk
        .update_user()
        .user_id(&user_id)
        .api_access(ApiAccess::Enabled)
        .send()
        .await
        .expect("UpdateUser");
    assert_eq!(
        get().await.expect("GetUser").api_access(),
        Some(&ApiAccess::Enabled)
    );

    app.disable_user(&user_id).await;
    assert_eq!(
        get().await.expect("GetUser").status(),
        Some(&UserStatus::Disabled)
    );
    app.enable_user(&user_id).await;
    assert_eq!(
        get().await.expect("GetUser").status(),
        Some(&UserStatus::Enabled)
    );

    let temporary = app
        .sdk
        .reset_user_password()
        .user_id(&user_id)
        .send()
        .await
        .expect("reset");
    let response = app
        .http
        .post(app.url("/auth/password"))
        .json(&json!({"emailAddress": email, "password": temporary.temporary_password(), "newPassword": "Fresh-Password-77"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        get().await.expect("GetUser").last_login_time() > 0,
        "the sign-in is read back"
    );
}

#[tokio::test]
async fn the_lifecycle_task_s_activation_is_read_back() {
    let app = spawn_app_with(|s| s.lifecycle.activation_delay_ms = 300).await;
    let user_id = app.create_user(&unique_email("activated")).await;
    let pending = app.get_user(&user_id).await;
    assert_eq!(
        pending.status(),
        Some(&UserStatus::Creating),
        "cached while CREATING"
    );

    // wait_for_status polls GetUser: it would never see ENABLED through a stale cache.
    app.wait_for_status(&user_id, UserStatus::Enabled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_racing_a_writer_never_see_an_acknowledged_value_undone() {
    // Readers as fast as they can go: no throttling in this test.
    let app = spawn_app_with(|s| {
        s.throttle.requests_per_second = 1_000_000;
        s.throttle.burst = 1_000_000;
    })
    .await;
    let user_id = app.create_user(&unique_email("race")).await;
    let mut readers = JoinSet::new();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for _ in 0..4 {
        let (sdk, id, stop) = (app.sdk.clone(), user_id.clone(), stop.clone());
        readers.spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = sdk.get_user().user_id(&id).send().await;
            }
        });
    }

    for i in 0..100 {
        let name = format!("Version {i}");
        app.sdk
            .update_user()
            .user_id(&user_id)
            .first_name(&name)
            .send()
            .await
            .expect("UpdateUser");
        let read = app.get_user(&user_id).await;
        assert_eq!(
            read.first_name(),
            Some(name.as_str()),
            "read after acknowledged update {i}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    while readers.join_next().await.is_some() {}
}

#[tokio::test]
async fn nothing_cached_survives_a_restart() {
    let app = spawn_app().await;
    let user_id = app.create_user(&unique_email("restart-cache")).await;
    app.wait_for_status(&user_id, UserStatus::Enabled).await;
    // Read until the user is served from the cache (a hit), so that there is something cached
    // which must not survive.
    // (PostgreSQL has no cache: there the test shows the offline edit is read.)
    let cached = !crate::postgres::enabled();
    let hits_before = if cached {
        app.metric("userdir_user_cache_hits_total").await
    } else {
        0
    };
    for _ in 0..2 {
        assert_eq!(app.get_user(&user_id).await.first_name(), None);
    }
    if cached {
        assert!(
            app.metric("userdir_user_cache_hits_total").await > hits_before,
            "the user is cached before the restart"
        );
    }
    let dir = app.stop().await;

    // Changed behind the server's back while it is down.
    let store = open_store(&dir).await;
    let changes = UserChanges {
        first_name: Some(FirstName::parse("Edited offline").expect("name")),
        ..UserChanges::default()
    };
    store
        .users
        .update_user(
            &UserId::parse(&user_id).expect("id"),
            &changes,
            Timestamp::now(),
            &operator_write(),
        )
        .await
        .expect("edit");
    store.close().await;
    tokio::time::sleep(Duration::from_millis(10)).await;

    let app = spawn_app_in(dir, |_| {}).await;
    let user = app.get_user(&user_id).await;
    assert_eq!(user.first_name(), Some("Edited offline"));
}

use std::time::Duration;

use aws_sdk_finspacedata::types::UserStatus;

use crate::helpers::{open_store, operator_write, spawn_app, spawn_app_with, unique_email};

#[tokio::test]
async fn a_creating_user_can_be_neither_enabled_nor_disabled() {
    let app = spawn_app_with(|s| s.lifecycle.activation_delay_ms = 3_600_000).await;
    let user_id = app.create_user(&unique_email("creating")).await;

    let enable = app
        .sdk
        .enable_user()
        .user_id(&user_id)
        .send()
        .await
        .expect_err("refused")
        .into_service_error();
    let disable = app
        .sdk
        .disable_user()
        .user_id(&user_id)
        .send()
        .await
        .expect_err("refused")
        .into_service_error();

    for err in [enable.meta(), disable.meta()] {
        assert_eq!(err.code(), Some("ConflictException"));
        assert!(
            err.message().unwrap_or_default().contains("CREATING"),
            "names the status: {err:?}"
        );
    }
}

#[tokio::test]
async fn enabled_and_disabled_switch_and_repeats_are_harmless() {
    let app = spawn_app().await;
    let user_id = app.create_user(&unique_email("switch")).await;
    app.wait_for_status(&user_id, UserStatus::Enabled).await;
    let get = || app.sdk.get_user().user_id(&user_id).send();
    let enabled = get().await.expect("GetUser");
    let pause = || tokio::time::sleep(Duration::from_millis(5));

    // ENABLED + enable: nothing moves.
    pause().await;
    app.sdk
        .enable_user()
        .user_id(&user_id)
        .send()
        .await
        .expect("EnableUser on ENABLED");
    let same = get().await.expect("GetUser");
    assert_eq!(same.status(), Some(&UserStatus::Enabled));
    assert_eq!(
        same.last_modified_time(),
        enabled.last_modified_time(),
        "a repeat moves nothing"
    );

    // ENABLED + disable: DISABLED, lastDisabledTime and lastModifiedTime move.
    pause().await;
    let out = app.disable_user(&user_id).await;
    assert_eq!(out.user_id(), Some(user_id.as_str()));
    let disabled = get().await.expect("GetUser");
    assert_eq!(disabled.status(), Some(&UserStatus::Disabled));
    assert!(disabled.last_disabled_time() > enabled.last_modified_time());
    assert_eq!(disabled.last_modified_time(), disabled.last_disabled_time());
    assert_eq!(disabled.last_enabled_time(), enabled.last_enabled_time());

    // DISABLED + disable: nothing moves.
    pause().await;
    app.sdk
        .disable_user()
        .user_id(&user_id)
        .send()
        .await
        .expect("DisableUser on DISABLED");
    assert_eq!(
        get().await.expect("GetUser").last_modified_time(),
        disabled.last_modified_time()
    );

    // DISABLED + enable: ENABLED again, lastEnabledTime moves.
    pause().await;
    app.enable_user(&user_id).await;
    let again = get().await.expect("GetUser");
    assert_eq!(again.status(), Some(&UserStatus::Enabled));
    assert!(again.last_enabled_time() > disabled.last_modified_time());
    assert_eq!(again.last_disabled_time(), disabled.last_disabled_time());
}

#[tokio::test]
async fn enabling_or_disabling_an_unknown_user_is_not_found() {
    let app = spawn_app().await;
    let missing = ulid::Ulid::generate().to_string();

    let enable = app
        .sdk
        .enable_user()
        .user_id(&missing)
        .send()
        .await
        .expect_err("404")
        .into_service_error();
    let disable = app
        .sdk
        .disable_user()
        .user_id(&missing)
        .send()
        .await
        .expect_err("404")
        .into_service_error();

    assert!(enable.is_resource_not_found_exception(), "{enable:?}");
    assert!(disable.is_resource_not_found_exception(), "{disable:?}");
}

/// A status change in the very millisecond of the user's last write: lastModifiedTime moves on
/// by a millisecond (it orders a user's versions, SCIM's ETags among them), and the enable or
/// disable time is that same moment, as when they fall in different milliseconds. Driven
/// through the store, whose writes take the time as an argument, so the millisecond is certain.
#[tokio::test]
async fn a_status_change_in_the_millisecond_of_the_last_write_stamps_both_times_alike() {
    use userdir_core::domain::{StatusChange, UserId};

    let app = spawn_app_with(|s| s.lifecycle.activation_delay_ms = 3_600_000).await;
    let id = UserId::parse(&app.create_user(&unique_email("same-ms")).await).expect("an id");
    let dir = app.stop().await;
    let store = open_store(&dir).await;
    let read = || async {
        store
            .users
            .get_user(&id)
            .await
            .expect("read")
            .expect("the user")
    };
    let created = read().await;
    let at = created.create_time;
    assert_eq!(created.last_modified_time, at);

    assert_eq!(
        store.users.activate_users(at, at).await.expect("activated"),
        1
    );
    let enabled = read().await;
    assert_eq!(enabled.last_modified_time.as_millis(), at.as_millis() + 1);
    assert_eq!(enabled.last_enabled_time, Some(enabled.last_modified_time));

    for (change, step) in [(StatusChange::Disable, 2), (StatusChange::Enable, 3)] {
        store
            .users
            .change_status(&id, change, at, &operator_write())
            .await
            .expect("changed");
        let changed = read().await;
        assert_eq!(
            changed.last_modified_time.as_millis(),
            at.as_millis() + step
        );
        let stamped = match change {
            StatusChange::Enable => changed.last_enabled_time,
            StatusChange::Disable => changed.last_disabled_time,
        };
        assert_eq!(stamped, Some(changed.last_modified_time), "{change:?}");
    }
    store.close().await;
}

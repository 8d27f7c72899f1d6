//! Several instances on one PostgreSQL database behave as one service: one truth for emails,
//! tokens, limits, the lifecycle, reads after writes and page tokens; an instance killed under
//! load loses nothing it acknowledged, and the others keep serving.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_finspacedata::types::{UserStatus, UserType};
use tokio::task::JoinSet;

use crate::helpers::{
    ServeProcess, TestApp, failure, sdk_client, spawn_app_in, unique_email, use_an_empty_database,
};

/// `n` in-process instances serving one database (created by the first).
async fn instances(n: usize, adjust: fn(&mut userdir::config::Settings)) -> Vec<TestApp> {
    let dir = Arc::new(crate::helpers::tempdir());
    let mut apps = Vec::new();
    for _ in 0..n {
        apps.push(spawn_app_in(dir.clone(), adjust).await);
    }
    apps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_on_an_empty_database_all_come_up() {
    // The migrator's advisory lock makes them take turns on the schema.
    let dir = Arc::new(crate::helpers::tempdir());
    use_an_empty_database(dir.path());
    let mut starts = JoinSet::new();
    for _ in 0..4 {
        let dir = dir.clone();
        starts.spawn(async move { spawn_app_in(dir, |_| {}).await });
    }
    let mut apps = Vec::new();
    while let Some(app) = starts.join_next().await {
        apps.push(app.expect("an instance starts"));
    }
    let id = apps[0].create_user(&unique_email("together")).await;
    for app in &apps {
        assert_eq!(app.get_user(&id).await.user_id(), Some(id.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_email_created_through_two_instances_at_once_exists_once() {
    let apps = instances(2, |_| {}).await;
    let email = unique_email("race");
    let mut creates = JoinSet::new();
    for i in 0..16 {
        let sdk = apps[i % 2].sdk.clone();
        let email = email.clone();
        creates.spawn(async move {
            sdk.create_user()
                .email_address(email)
                .r#type(UserType::AppUser)
                .send()
                .await
                .map(|out| out.user_id().unwrap_or_default().to_owned())
                .map_err(|e| {
                    aws_sdk_finspacedata::error::ProvideErrorMetadata::code(&e)
                        .unwrap_or("<none>")
                        .to_owned()
                })
        });
    }
    let (mut created, mut conflicts) = (0, 0);
    while let Some(outcome) = creates.join_next().await {
        match outcome.expect("joins") {
            Ok(_) => created += 1,
            Err(code) if code == "ConflictException" => conflicts += 1,
            Err(code) => panic!("unexpected {code}"),
        }
    }
    assert_eq!((created, conflicts), (1, 15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_token_sent_to_two_instances_makes_one_user() {
    let apps = instances(2, |_| {}).await;
    let email = unique_email("token");
    let token = ulid::Ulid::generate().to_string();
    let mut creates = JoinSet::new();
    for i in 0..16 {
        let sdk = apps[i % 2].sdk.clone();
        let (email, token) = (email.clone(), token.clone());
        creates.spawn(async move {
            sdk.create_user()
                .email_address(email)
                .r#type(UserType::AppUser)
                .client_token(token)
                .send()
                .await
                .expect("every caller succeeds")
                .user_id()
                .expect("an id")
                .to_owned()
        });
    }
    let mut ids = HashSet::new();
    while let Some(id) = creates.join_next().await {
        ids.insert(id.expect("joins"));
    }
    assert_eq!(ids.len(), 1, "every caller got the one user's id: {ids:?}");

    // The same token with other parameters, on either instance: a conflict.
    for app in &apps {
        assert_eq!(
            failure(
                app.sdk
                    .create_user()
                    .email_address(unique_email("other"))
                    .r#type(UserType::AppUser)
                    .client_token(&token)
                    .send()
                    .await,
                "the token was used for another email"
            ),
            "ConflictException"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_limit_holds_exactly_across_instances() {
    let apps = instances(2, |s| s.limits.max_users = 20).await;
    let mut creates = JoinSet::new();
    for i in 0..60 {
        let sdk = apps[i % 2].sdk.clone();
        creates.spawn(async move {
            sdk.create_user()
                .email_address(unique_email(&format!("limit{i}")))
                .r#type(UserType::AppUser)
                .send()
                .await
                .map(drop)
                .map_err(|e| {
                    aws_sdk_finspacedata::error::ProvideErrorMetadata::code(&e)
                        .unwrap_or("<none>")
                        .to_owned()
                })
        });
    }
    let (mut created, mut refused) = (0, 0);
    while let Some(outcome) = creates.join_next().await {
        match outcome.expect("joins") {
            Ok(()) => created += 1,
            Err(code) if code == "LimitExceededException" => refused += 1,
            Err(code) => panic!("unexpected {code}"),
        }
    }
    assert_eq!((created, refused), (20, 40));
    let listed = apps[1]
        .sdk
        .list_users()
        .max_results(100)
        .send()
        .await
        .expect("ListUsers");
    assert_eq!(listed.users().len(), 20);
}

/// Creates users through `app` until one is refused; how many were made.
async fn create_until_refused(app: &TestApp, tag: &str) -> usize {
    for made in 0..100 {
        let outcome = app
            .sdk
            .create_user()
            .email_address(unique_email(&format!("{tag}{made}")))
            .r#type(UserType::AppUser)
            .send()
            .await;
        if let Err(error) = outcome {
            let code = aws_sdk_finspacedata::error::ProvideErrorMetadata::code(&error);
            assert_eq!(code, Some("LimitExceededException"), "{error:?}");
            return made;
        }
    }
    panic!("no create through {tag} was refused");
}

/// The count's budgets are shared out for one limit; an instance configured with another (a
/// changed setting, or a rolling restart that changes it) counts exactly against its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_with_different_user_limits_each_hold_their_own_exactly() {
    let dir = Arc::new(crate::helpers::tempdir());
    let wide = spawn_app_in(dir.clone(), |s| s.limits.max_users = 30).await;
    let narrow = spawn_app_in(dir.clone(), |s| s.limits.max_users = 12).await;
    for i in 0..10 {
        wide.create_user(&unique_email(&format!("wide{i}"))).await;
    }
    assert_eq!(create_until_refused(&narrow, "narrow").await, 2);
    assert_eq!(create_until_refused(&wide, "wide-again").await, 18);
    assert_eq!(create_until_refused(&narrow, "narrow-again").await, 0);
    let listed = narrow
        .sdk
        .list_users()
        .max_results(100)
        .send()
        .await
        .expect("ListUsers");
    assert_eq!(listed.users().len(), 30);
}

/// Two instances whose limits differ by one, creating at once: each create of one finds the
/// counts' budgets shared out for the other's limit, so nearly every create counts exactly,
/// locking every count row. Such creates once deadlocked each other (and one came back as a 500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_at_once_under_two_limits_end_within_them_without_errors() {
    let dir = Arc::new(crate::helpers::tempdir());
    let apps = [
        spawn_app_in(dir.clone(), |s| {
            s.limits.max_users = 40;
            s.limits.max_permission_groups = 40;
        })
        .await,
        spawn_app_in(dir.clone(), |s| {
            s.limits.max_users = 41;
            s.limits.max_permission_groups = 41;
        })
        .await,
    ];
    let mut creates = JoinSet::new();
    for i in 0..160 {
        let sdk = apps[i % 2].sdk.clone();
        creates.spawn(async move {
            let outcome = if i % 4 < 2 {
                sdk.create_user()
                    .email_address(unique_email(&format!("two-limits{i}")))
                    .r#type(UserType::AppUser)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| code_of(&e))
            } else {
                sdk.create_permission_group()
                    .name(format!("two-limits-{i}"))
                    .set_application_permissions(Some(vec![]))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| code_of(&e))
            };
            (i % 4 < 2, outcome)
        });
    }
    let (mut users, mut groups) = (0, 0);
    while let Some(joined) = creates.join_next().await {
        match joined.expect("joins") {
            (true, Ok(())) => users += 1,
            (false, Ok(())) => groups += 1,
            (_, Err(code)) => assert_eq!(code, "LimitExceededException"),
        }
    }
    // The last create admitted was counted against 40 or 41.
    assert!((40..=41).contains(&users), "{users} users");
    assert!((40..=41).contains(&groups), "{groups} groups");
    let listed = apps[0]
        .sdk
        .list_users()
        .max_results(100)
        .send()
        .await
        .expect("ListUsers");
    assert_eq!(listed.users().len(), users);
    let listed = apps[1]
        .sdk
        .list_permission_groups()
        .max_results(100)
        .send()
        .await
        .expect("ListPermissionGroups");
    assert_eq!(listed.permission_groups().len(), groups);
}

fn code_of<E: aws_sdk_finspacedata::error::ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("<none>").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_instance_is_read_on_another_at_once() {
    let apps = instances(2, |_| {}).await;
    let (a, b) = (&apps[0], &apps[1]);
    let id = a.create_user(&unique_email("ryw")).await;
    assert_eq!(b.get_user(&id).await.user_id(), Some(id.as_str()));
    for i in 0..20 {
        let name = format!("Name {i}");
        a.sdk
            .update_user()
            .user_id(&id)
            .first_name(&name)
            .send()
            .await
            .expect("UpdateUser");
        assert_eq!(b.get_user(&id).await.first_name(), Some(name.as_str()));
    }
    b.wait_for_status(&id, UserStatus::Enabled).await;
    a.disable_user(&id).await;
    assert_eq!(b.get_user(&id).await.status(), Some(&UserStatus::Disabled));
    let listed = b
        .sdk
        .list_users()
        .max_results(100)
        .send()
        .await
        .expect("ListUsers");
    assert!(listed.users().iter().any(|u| u.user_id() == Some(&id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_token_from_one_instance_works_on_another() {
    let apps = instances(2, |_| {}).await;
    for i in 0..5 {
        apps[0]
            .create_user(&unique_email(&format!("page{i}")))
            .await;
    }
    let first = apps[0]
        .sdk
        .list_users()
        .max_results(2)
        .send()
        .await
        .expect("first page");
    let token = first.next_token().expect("more pages");
    let second = apps[1]
        .sdk
        .list_users()
        .max_results(2)
        .next_token(token)
        .send()
        .await
        .expect("the other instance takes the token");
    assert_eq!(second.users().len(), 2);
    assert_ne!(second.users()[0].user_id(), first.users()[0].user_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_created_on_an_instance_that_stops_at_once_is_enabled_by_another() {
    let apps = instances(2, |s| s.lifecycle.activation_delay_ms = 300).await;
    let mut apps = apps.into_iter();
    let (a, b) = (apps.next().expect("a"), apps.next().expect("b"));
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..10 {
            ids.push(a.create_user(&unique_email(&format!("orphan{i}"))).await);
        }
        ids
    };
    a.stop().await;
    for id in &ids {
        b.wait_for_status(id, UserStatus::Enabled).await;
    }
    // Enabled once: the times stay as the one transition set them.
    let first: Vec<(i64, i64)> =
        futures_util::future::join_all(ids.iter().map(|id| b.get_user(id)))
            .await
            .iter()
            .map(|u| (u.last_enabled_time(), u.last_modified_time()))
            .collect();
    for (enabled, modified) in &first {
        assert!(*enabled > 0);
        assert_eq!(enabled, modified);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again: Vec<(i64, i64)> =
        futures_util::future::join_all(ids.iter().map(|id| b.get_user(id)))
            .await
            .iter()
            .map(|u| (u.last_enabled_time(), u.last_modified_time()))
            .collect();
    assert_eq!(first, again);
}

/// Two real `userdir serve` processes on one database under a create load: one is killed with
/// SIGKILL midway; the other keeps serving, and every create either acknowledged is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_under_load_loses_nothing_and_the_other_keeps_serving() {
    let dir = crate::helpers::tempdir();
    let ServeProcess {
        child: mut victim,
        address: doomed,
    } = ServeProcess::start(dir.path()).await;
    let ServeProcess {
        child: _survivor,
        address: survivor,
    } = ServeProcess::start(dir.path()).await;
    let clients = [sdk_client(&doomed), sdk_client(&survivor)];

    let mut creates = JoinSet::new();
    for i in 0..300 {
        let sdk = clients[i % 2].clone();
        creates.spawn(async move {
            sdk.create_user()
                .email_address(unique_email(&format!("kill{i}")))
                .r#type(UserType::AppUser)
                .send()
                .await
                .map(|out| (i % 2, out.user_id().unwrap_or_default().to_owned()))
        });
    }
    let mut acknowledged = Vec::new();
    let mut killed = false;
    while let Some(done) = creates.join_next().await {
        if let Ok((_, id)) = done.expect("joins") {
            acknowledged.push(id);
        }
        if acknowledged.len() == 100 && !killed {
            victim.start_kill().expect("SIGKILL");
            killed = true;
        }
    }
    victim.wait().await.expect("the killed instance ends");
    assert!(
        acknowledged.len() >= 150,
        "{} acknowledged",
        acknowledged.len()
    );

    // The survivor serves on: new creates, and every acknowledged user.
    let reader = &clients[1];
    reader
        .create_user()
        .email_address(unique_email("after-kill"))
        .r#type(UserType::AppUser)
        .send()
        .await
        .expect("the survivor still creates");
    for id in &acknowledged {
        reader
            .get_user()
            .user_id(id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("acknowledged user {id} lost: {e:?}"));
    }
}

/// PostgreSQL restarted under load (a private cluster, stopped and started again): while it is
/// down every request is answered — a 5xx within the acquire timeout, never a hang — and readiness
/// fails; once it is back, full service, without restarting userdir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_is_answered_5xx_then_served_again() {
    let tag = format!("restart-{}", ulid::Ulid::generate());
    let cluster = crate::postgres::Cluster::start(&tag).expect("a private cluster");
    let url = cluster.new_database();
    let dir = Arc::new(crate::helpers::tempdir());
    let app = spawn_app_in(dir, move |s| {
        s.database.url = url;
        s.database.acquire_timeout_ms = 1_000;
    })
    .await;
    let id = app.create_user(&unique_email("restart")).await;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = JoinSet::new();
    for _ in 0..4 {
        let (sdk, id, stop) = (app.sdk.clone(), id.clone(), stop.clone());
        load.spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = std::time::Instant::now();
                let status = match sdk.get_user().user_id(&id).send().await {
                    Ok(_) => 200,
                    Err(e) => e.raw_response().map_or(0, |r| r.status().as_u16()),
                };
                seen.push((status, sent.elapsed()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.stop().expect("PostgreSQL stops");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let ready = app
        .http
        .get(app.url("/health/ready"))
        .send()
        .await
        .expect("answered");
    assert_eq!(
        ready.status().as_u16(),
        503,
        "not ready while the database is down"
    );

    cluster.start_again().expect("PostgreSQL starts again");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let ready = app.http.get(app.url("/health/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.create_user(&unique_email("after-restart")).await;
    assert_eq!(app.get_user(&id).await.user_id(), Some(id.as_str()));

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = Vec::new();
    while let Some(part) = load.join_next().await {
        seen.extend(part.expect("a load task"));
    }
    let failed: Vec<_> = seen.iter().filter(|(status, _)| *status != 200).collect();
    assert!(!failed.is_empty(), "the outage was seen");
    assert!(
        failed
            .iter()
            .all(|(status, _)| *status == 500 || *status == 503),
        "only 5xx answers while down: {failed:?}"
    );
    let slowest = seen.iter().map(|(_, took)| *took).max().unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(5),
        "nothing hangs past the timeout: {slowest:?}"
    );
}

/// Every member GetUser answers, but its request id.
fn described(user: &aws_sdk_finspacedata::operation::get_user::GetUserOutput) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {} {} {} {} {}",
        user.user_id(),
        user.status(),
        user.first_name(),
        user.last_name(),
        user.email_address(),
        user.r#type(),
        user.api_access(),
        user.api_access_principal_arn(),
        user.create_time(),
        user.last_enabled_time(),
        user.last_disabled_time(),
        user.last_modified_time(),
        user.last_login_time(),
    )
}

/// The upgrade path: a SQLite directory copied into PostgreSQL with `userdir copy` keeps every
/// user with its times, groups and memberships, password hashes (a temporary password still
/// signs in), live idempotency tokens (a retry answers as before), the audit trail, and the
/// server's keys (a page token from the SQLite server works on PostgreSQL). Run again, it copies
/// nothing new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_directory_copied_to_postgres_keeps_everything() {
    let source_dir = Arc::new(crate::helpers::tempdir());
    let sqlite = spawn_app_in(source_dir.clone(), |s| s.database.url.clear()).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(sqlite.create_user(&unique_email(&format!("copy{i}"))).await);
    }
    let email = unique_email("copied-token");
    let token = ulid::Ulid::generate().to_string();
    let create = |app: &TestApp| {
        app.sdk
            .create_user()
            .email_address(&email)
            .r#type(UserType::AppUser)
            .client_token(&token)
            .send()
    };
    let tokened = create(&sqlite)
        .await
        .expect("CreateUser")
        .user_id()
        .expect("id")
        .to_owned();
    sqlite.wait_for_status(&ids[0], UserStatus::Enabled).await;
    let group = sqlite
        .create_group(
            &format!("copied {}", ulid::Ulid::generate()),
            aws_sdk_finspacedata::types::ApplicationPermission::ViewAuditData,
        )
        .await;
    sqlite.associate(&group, &ids[0]).await;
    let temporary = sqlite
        .sdk
        .reset_user_password()
        .user_id(&ids[0])
        .send()
        .await
        .expect("ResetUserPassword")
        .temporary_password()
        .expect("a temporary password")
        .to_owned();
    let page = sqlite
        .sdk
        .list_users()
        .max_results(2)
        .send()
        .await
        .expect("ListUsers");
    let next = page.next_token().expect("more pages").to_owned();
    let before: Vec<_> = futures_util::future::join_all(ids.iter().map(|id| sqlite.get_user(id)))
        .await
        .iter()
        .map(described)
        .collect();
    sqlite.stop().await;
    // What SCIM keeps beside users moves too: an externalId, and a deletion (on a user outside
    // `before`, whose status the deletion changes).
    let source = {
        let mut settings = crate::helpers::test_settings(&source_dir);
        settings.database.url.clear();
        userdir::startup::backend(&settings)
            .open(Arc::new(userdir_core::domain::SystemClock))
            .await
            .expect("the SQLite store opens")
    };
    for change in ["external", "delete"] {
        let id = userdir_core::domain::UserId::parse(&tokened).expect("id");
        let current = source
            .scim
            .scim_user(&id)
            .await
            .expect("read")
            .expect("there");
        let change = if change == "delete" {
            userdir_core::store::ScimUserChange::Delete
        } else {
            userdir_core::store::ScimUserChange::Replace(userdir_core::store::ScimUserState {
                user_type: current.user.user_type,
                first_name: current.user.first_name.clone(),
                last_name: current.user.last_name.clone(),
                api_access: current.user.api_access,
                api_access_principal_arn: current.user.api_access_principal_arn.clone(),
                active: true,
                external_id: Some(
                    userdir_core::domain::ExternalId::parse("okta-00u1").expect("externalId"),
                ),
            })
        };
        source
            .scim
            .scim_change_user(
                &id,
                current.user.last_modified_time,
                &change,
                current.user.last_modified_time,
                &crate::helpers::operator_write(),
            )
            .await
            .expect("SCIM change");
    }
    let scim_user = userdir_core::domain::UserId::parse(&tokened).expect("id");
    let scim_before = source.scim.scim_user(&scim_user).await.expect("read");
    source.close().await;
    // A SCIM token moves too (its hash, so the printed token keeps working).
    let made = crate::helpers::userdir_command(source_dir.path())
        .env_remove("USERDIR__DATABASE__URL")
        .args(["scim-token", "create", "--name", "okta"])
        .output()
        .await
        .expect("userdir scim-token runs");
    assert!(made.status.success(), "{made:?}");
    let scim_token =
        userdir_core::domain::ScimToken::parse(String::from_utf8_lossy(&made.stdout).trim())
            .expect("a token");

    let target_dir = Arc::new(crate::helpers::tempdir());
    let url = crate::helpers::database_url(target_dir.path()).expect("the PostgreSQL run");
    let copy = || {
        crate::helpers::userdir_command(source_dir.path())
            .env_remove("USERDIR__DATABASE__URL")
            .args(["copy", "--to", &url, "--page", "2"])
            .output()
    };
    let first = copy().await.expect("userdir copy runs");
    assert!(first.status.success(), "{first:?}");
    let report = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        report.contains("users: 6 copied (6 new, 0 there already)"),
        "{report}"
    );
    assert!(report.contains("every table's count checked"), "{report}");
    assert!(
        report.contains("scim_tokens: 1 copied (1 new, 0 there already)"),
        "{report}"
    );
    assert!(
        report.contains("scim_users: 1 copied (1 new, 0 there already)"),
        "{report}"
    );
    // Revoked on the source after the first copy: the second carries the revocation.
    let revoked = crate::helpers::userdir_command(source_dir.path())
        .env_remove("USERDIR__DATABASE__URL")
        .args(["scim-token", "revoke", "okta"])
        .output()
        .await
        .expect("userdir scim-token runs");
    assert!(revoked.status.success(), "{revoked:?}");
    let again = copy().await.expect("userdir copy runs again");
    assert!(again.status.success(), "{again:?}");
    let report = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(
        report.contains("users: 6 copied (0 new, 6 there already)"),
        "{report}"
    );

    let target = crate::helpers::open_store(&target_dir).await;
    let scim_after = target.scim.scim_user(&scim_user).await.expect("read");
    target.close().await;
    assert_eq!(
        scim_before, scim_after,
        "externalId and deletion as they were"
    );
    let scim_after = scim_after.expect("copied");
    assert!(scim_after.hidden());
    assert_eq!(
        scim_after.external_id.as_ref().map(|e| e.as_str()),
        Some("okta-00u1")
    );
    let postgres = spawn_app_in(target_dir, |_| {}).await;
    let after: Vec<_> = futures_util::future::join_all(ids.iter().map(|id| postgres.get_user(id)))
        .await
        .iter()
        .map(described)
        .collect();
    assert_eq!(before, after, "every user as it was, every time included");
    let rest = postgres
        .sdk
        .list_users()
        .max_results(2)
        .next_token(&next)
        .send()
        .await
        .expect("the SQLite server's page token works");
    assert_eq!(rest.users().len(), 2);
    assert_eq!(
        create(&postgres).await.expect("a retry").user_id(),
        Some(tokened.as_str()),
        "the token's first answer"
    );
    assert_eq!(members_of(&postgres, &group).await, [ids[0].clone()]);
    let email0 = postgres
        .get_user(&ids[0])
        .await
        .email_address()
        .expect("email")
        .to_owned();
    let signed_in = postgres
        .http
        .post(postgres.url("/auth/password"))
        .json(&serde_json::json!({
            "emailAddress": email0,
            "password": temporary,
            "newPassword": "Chosen-Password-42",
        }))
        .send()
        .await
        .expect("answered");
    assert!(
        signed_in.status().is_success(),
        "the temporary password works"
    );
    let trail = postgres.audit_events().await;
    assert!(trail.iter().any(|e| e["operation"] == "ResetUserPassword"));
    assert!(trail.iter().any(|e| e["operation"] == "CopyDirectory"));
    let store = crate::helpers::open_store(&postgres.dir).await;
    let copied = store
        .scim_tokens
        .scim_token(scim_token.id())
        .await
        .expect("read")
        .expect("copied");
    store.close().await;
    assert!(scim_token.proves(&copied.secret_hash));
    assert_eq!(copied.name.as_str(), "okta");
    assert!(copied.revoke_time.is_some(), "revoked there too");
}

/// Temporary credentials issued by one instance work on another (the keys are shared), and
/// revoking them on one (the user disabled) refuses them on every other at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_one_instance_work_on_another_until_revoked_on_any() {
    let apps = instances(2, crate::security::with_principal).await;
    let (a, b) = (&apps[0], &apps[1]);
    let (user_id, session) = crate::security::user_session(a, UserType::SuperUser, 60).await;
    assert_eq!(
        crate::security::get_user_as(b, &session, &user_id).await,
        Ok(())
    );
    a.disable_user(&user_id).await;
    assert_eq!(
        crate::security::get_user_as(b, &session, &user_id).await,
        Err("UnrecognizedClientException".to_owned()),
        "the other instance's authorization sees the revocation at once"
    );
}

/// The ids of a permission group's members (one page of up to 100).
pub async fn members_of(app: &TestApp, group: &str) -> Vec<String> {
    app.sdk
        .list_users_by_permission_group()
        .permission_group_id(group)
        .max_results(100)
        .send()
        .await
        .expect("ListUsersByPermissionGroup succeeds")
        .users()
        .iter()
        .filter_map(|user| user.user_id().map(str::to_owned))
        .collect()
}

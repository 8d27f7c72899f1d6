//! The SQLite store's batching writer and its GetUser lookups, driven directly through the store.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use userdir_core::domain::{
    ClientToken, Email, FirstName, NewUser, Timestamp, UserChanges, UserId, UserType,
};
use userdir_core::store::{AuditRecord, StoreError, TokenClaim, UserStore, WriteContext, Written};
use userdir_store_sqlite::{SqliteSettings, SqliteStore};

fn unique_email(tag: &str) -> String {
    format!(
        "{tag}.{}@example.com",
        ulid::Ulid::generate().to_string().to_lowercase()
    )
}

async fn open(dir: &tempfile::TempDir) -> Arc<SqliteStore> {
    let settings = SqliteSettings {
        path: dir.path().join("userdir.db"),
        busy_timeout: Duration::from_secs(5),
        read_connections: 2,
    };
    let clock = Arc::new(userdir_core::domain::SystemClock);
    Arc::new(
        SqliteStore::open(
            &settings,
            clock,
            Arc::new(userdir_core::store::UserCache::new(1000)),
        )
        .await
        .expect("store opens"),
    )
}

fn context(token: Option<&str>, fingerprint: &str) -> WriteContext {
    let now = Timestamp::now();
    WriteContext {
        claim: token.map(|token| TokenClaim {
            operation: "CreateUser",
            token: ClientToken::parse(token).expect("token"),
            fingerprint: fingerprint.to_owned(),
            now,
            expires_at: now.plus(Duration::from_secs(600)),
        }),
        audit: AuditRecord {
            time: now,
            request_id: "test".into(),
            caller: "root".into(),
            operation: "CreateUser".into(),
            target: None,
            detail: None,
        },
    }
}

fn new_user(email: &str) -> userdir_core::domain::User {
    NewUser {
        email: Email::parse(email).expect("email"),
        user_type: UserType::AppUser,
        first_name: None,
        last_name: None,
        api_access: None,
        api_access_principal_arn: None,
    }
    .into_user(UserId::generate(), Timestamp::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_emails_in_one_batch_fail_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir).await;
    let shared = unique_email("shared");
    let mut writes = JoinSet::new();
    for i in 0..60 {
        let store = store.clone();
        // Every third write claims the same email; the others are unique.
        let email = if i % 3 == 0 {
            shared.clone()
        } else {
            unique_email(&format!("own{i}"))
        };
        writes.spawn(async move {
            (
                email.clone(),
                store
                    .insert_user(&new_user(&email), u64::MAX, &context(None, ""))
                    .await,
            )
        });
    }

    let (mut shared_ok, mut shared_taken, mut own_ok) = (0, 0, 0);
    while let Some(done) = writes.join_next().await {
        let (email, result) = done.expect("joins");
        match (email == shared, result) {
            (true, Ok(_)) => shared_ok += 1,
            (true, Err(StoreError::EmailTaken)) => shared_taken += 1,
            (false, Ok(_)) => own_ok += 1,
            (is_shared, other) => panic!("unexpected outcome (shared: {is_shared}): {other:?}"),
        }
    }

    assert_eq!(
        (shared_ok, shared_taken),
        (1, 19),
        "one claim of the shared email wins"
    );
    assert_eq!(own_ok, 40, "the duplicates' batch-mates all commit");
    let stats = store.write_stats();
    assert!(
        stats.batches() < stats.writes(),
        "writes were batched: {} batches for {} writes",
        stats.batches(),
        stats.writes()
    );
    let listed = store.list_users(None, 100).await.expect("list");
    assert_eq!(listed.len(), 41, "exactly the acknowledged users exist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_repeated_in_a_batch_takes_effect_once() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir).await;
    let email = unique_email("token");
    let mut writes = JoinSet::new();
    for _ in 0..40 {
        let store = store.clone();
        let email = email.clone();
        writes.spawn(async move {
            store
                .insert_user(
                    &new_user(&email),
                    u64::MAX,
                    &context(Some("same-token"), "same-fingerprint"),
                )
                .await
        });
    }

    let mut ids = std::collections::HashSet::new();
    let mut applied = 0;
    while let Some(done) = writes.join_next().await {
        match done.expect("joins").expect("every repeat is answered") {
            Written::Applied(id) => {
                applied += 1;
                ids.insert(id);
            }
            Written::Replayed(id) => {
                ids.insert(id);
            }
        }
    }

    assert_eq!(applied, 1, "the token took effect once");
    assert_eq!(ids.len(), 1, "every answer names the same user");
}

/// `count` creates sent at once, each with an email of its own and `token` if given: the answers,
/// in no particular order.
async fn create_at_once(
    store: &Arc<SqliteStore>,
    count: usize,
    max_users: u64,
    token: Option<&'static str>,
) -> Vec<Result<Written<UserId>, StoreError>> {
    let mut writes = JoinSet::new();
    for i in 0..count {
        let store = store.clone();
        writes.spawn(async move {
            let user = new_user(&unique_email(&format!("at-once{i}")));
            store
                .insert_user(&user, max_users, &context(token, "same-fingerprint"))
                .await
        });
    }
    writes.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_s_creates_go_in_together_and_every_one_is_stored() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir).await;
    let answers = create_at_once(&store, 60, u64::MAX, None).await;
    assert!(answers.iter().all(|a| matches!(a, Ok(Written::Applied(_)))));
    let stats = store.write_stats();
    assert!(
        stats.rows_inserted_ahead() > 0 && stats.batches() < stats.writes(),
        "batched creates inserted together: {} of {} writes in {} batches",
        stats.rows_inserted_ahead(),
        stats.writes(),
        stats.batches()
    );
    for answer in answers {
        let Ok(Written::Applied(id)) = answer else {
            unreachable!("checked above")
        };
        let user = store.get_user(&id).await.expect("reads").expect("stored");
        assert_eq!(user.id, id);
    }
    assert_eq!(store.list_users(None, 100).await.expect("list").len(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_at_once_past_the_limit_stop_exactly_at_it() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir).await;
    // Up to near the limit, together: 20 then 20 more of 45 (the room is counted once per
    // statement, so the rows of a batch that fits are never cut short by its own first rows).
    let first = create_at_once(&store, 20, 45, None).await;
    assert!(first.iter().all(Result::is_ok));
    let ahead = store.write_stats().rows_inserted_ahead();
    let second = create_at_once(&store, 20, 45, None).await;
    assert!(second.iter().all(Result::is_ok), "{second:?}");
    assert!(store.write_stats().rows_inserted_ahead() > ahead);
    // Then past it: the batches that would cross it fall back to one row at a time, and exactly
    // the room left is taken.
    let answers = create_at_once(&store, 60, 45, None).await;
    let applied = answers.iter().filter(|a| a.is_ok()).count();
    let refused = answers
        .iter()
        .filter(|a| matches!(a, Err(StoreError::LimitExceeded(45))))
        .count();
    assert_eq!((applied, refused), (5, 55), "{answers:?}");
    assert_eq!(store.list_users(None, 100).await.expect("list").len(), 45);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_of_a_stored_token_insert_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir).await;
    let Ok(Written::Applied(first)) = create_at_once(&store, 1, u64::MAX, Some("stored"))
        .await
        .remove(0)
    else {
        panic!("the first create applies")
    };
    // Repeats (each with another email, as a retry after a lost answer may not) beside creates
    // without a token, in the same batches.
    let (repeats, fresh) = tokio::join!(
        create_at_once(&store, 30, u64::MAX, Some("stored")),
        create_at_once(&store, 30, u64::MAX, None),
    );
    for repeat in repeats {
        match repeat {
            Ok(Written::Replayed(id)) => assert_eq!(id, first),
            other => panic!("a repeat is answered from the record: {other:?}"),
        }
    }
    assert!(fresh.iter().all(|a| matches!(a, Ok(Written::Applied(_)))));
    assert_eq!(store.list_users(None, 100).await.expect("list").len(), 31);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_amid_good_ones_is_reported_to_itself_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir).await;
    let mut writes = JoinSet::new();
    for i in 0..30 {
        let store = store.clone();
        writes.spawn(async move {
            if i % 5 == 0 {
                // An update of a user that does not exist: fails inside the batch.
                let changes = UserChanges {
                    first_name: Some(FirstName::parse("Ghost").expect("name")),
                    ..Default::default()
                };
                store
                    .update_user(
                        &UserId::generate(),
                        &changes,
                        Timestamp::now(),
                        &context(None, ""),
                    )
                    .await
                    .map(|_| false)
            } else {
                store
                    .insert_user(
                        &new_user(&unique_email(&format!("good{i}"))),
                        u64::MAX,
                        &context(None, ""),
                    )
                    .await
                    .map(|_| true)
            }
        });
    }

    let (mut inserted, mut not_found) = (0, 0);
    while let Some(done) = writes.join_next().await {
        match done.expect("joins") {
            Ok(true) => inserted += 1,
            Err(StoreError::NotFound(_)) => not_found += 1,
            other => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!((inserted, not_found), (24, 6));
    assert_eq!(store.list_users(None, 100).await.expect("list").len(), 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_commits_what_was_acknowledged_and_refuses_the_rest() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir).await;
    let mut writes = JoinSet::new();
    for i in 0..300 {
        let store = store.clone();
        writes.spawn(async move {
            let user = new_user(&unique_email(&format!("late{i}")));
            let id = user.id.clone();
            store
                .insert_user(&user, u64::MAX, &context(None, ""))
                .await
                .map(|_| id)
        });
    }
    // Close while writes are still queued: some committed already, the rest are in flight.
    while store.write_stats().writes() < 50 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    store.close().await;
    // Once closed, a write is refused, not queued to be lost.
    let late = new_user(&unique_email("after-close"));
    assert!(
        matches!(
            store.insert_user(&late, u64::MAX, &context(None, "")).await,
            Err(StoreError::Unavailable(_))
        ),
        "a write after close is refused as unavailable"
    );

    let mut acknowledged = Vec::new();
    while let Some(done) = writes.join_next().await {
        match done.expect("joins") {
            Ok(id) => acknowledged.push(id),
            Err(StoreError::Unavailable(_) | StoreError::Internal(_)) => {}
            Err(other) => panic!("unexpected: {other:?}"),
        }
    }

    assert!(
        acknowledged.len() >= 50,
        "{} acknowledged",
        acknowledged.len()
    );
    let reopened = open(&dir).await;
    for id in &acknowledged {
        assert!(
            reopened.get_user(id).await.expect("read").is_some(),
            "acknowledged user {id} was lost"
        );
    }
    let stored = reopened.list_users(None, 100).await.expect("list").len();
    assert!(
        stored >= acknowledged.len().min(100),
        "{stored} stored, {} acknowledged",
        acknowledged.len()
    );
}

#[tokio::test]
async fn get_user_is_served_from_the_cache_once_read() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir).await;
    let mut ids = Vec::new();
    for i in 0..200 {
        let user = new_user(&unique_email(&format!("cached{i}")));
        ids.push(user.id.clone());
        store
            .insert_user(&user, u64::MAX, &context(None, ""))
            .await
            .expect("insert");
    }

    for _ in 0..3 {
        for id in &ids {
            assert!(store.get_user(id).await.expect("read").is_some());
        }
    }

    assert_eq!(store.cached_users(), 200, "every user read is cached once");
}

/// Lookups made at the same time, each read on its own task's thread (the gathered way they take
/// where that would wait for a lock is tested in `src/lookups.rs`): each gets its own user (also
/// when several ask for the same one), a user that does not exist is absent, and a name with
/// quotes comes back as stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_each_get_their_own_user() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir).await;
    let mut users = Vec::new();
    for i in 0..300 {
        let mut user = new_user(&unique_email(&format!("look{i}")));
        user.first_name = Some(FirstName::parse(&format!("N\"{i}\\ é")).expect("name"));
        store
            .insert_user(&user, u64::MAX, &context(None, ""))
            .await
            .expect("insert");
        users.push(user);
    }
    let mut lookups = JoinSet::new();
    for user in users.iter().chain(users.iter().take(50)).cloned() {
        let reader = store.clone();
        lookups.spawn(async move {
            let found = reader.get_user(&user.id).await.expect("read");
            assert_eq!(found.as_deref(), Some(&user), "{}", user.id);
        });
        let reader = store.clone();
        lookups.spawn(async move {
            let missing = UserId::generate();
            assert!(reader.get_user(&missing).await.expect("read").is_none());
        });
    }
    while let Some(done) = lookups.join_next().await {
        done.expect("lookup task");
    }
}

//! `check` names what SQLite's own checks find: here a row that breaks a foreign key, which no
//! store method can write (so this test writes it with SQL, as only a backend's own test may).

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

#[tokio::test]
async fn a_membership_of_a_missing_user_and_group_is_named() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("userdir.db");
    userdir_store_sqlite::migrate(&path, true)
        .await
        .expect("migrated");
    let sound = userdir_store_sqlite::check(&path).await.expect("checked");
    assert_eq!(sound, Vec::<String>::new());

    let db = SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(&path)
            .foreign_keys(false),
    )
    .await
    .expect("open");
    sqlx::query(
        "INSERT INTO permission_group_members VALUES \
         ('01ARZ3NDEKTSV4RRFFQ69G5FAV', '01ARZ3NDEKTSV4RRFFQ69G5FAW', 'ADDITION_SUCCESS', 0)",
    )
    .execute(&db)
    .await
    .expect("an orphan membership");
    db.close().await;

    let problems = userdir_store_sqlite::check(&path).await.expect("checked");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("permission_group_members: a row refers to a missing")),
        "{problems:?}"
    );
}

use aws_sdk_finspacedata::types::UserStatus;

use crate::helpers::{skipped_on_postgres, spawn_app_in, spawn_app_with, unique_email};

#[tokio::test]
async fn users_survive_a_restart_and_pending_ones_are_enabled_after_it() {
    // Arrange: users created by a server whose activation delay is too long to pass.
    let app = spawn_app_with(|s| s.lifecycle.activation_delay_ms = 3_600_000).await;
    let emails: Vec<String> = (0..5)
        .map(|i| unique_email(&format!("restart{i}")))
        .collect();
    let mut ids = Vec::new();
    for email in &emails {
        ids.push(app.create_user(email).await);
    }
    let pending = app.get_user(&ids[0]).await;
    assert_eq!(pending.status(), Some(&UserStatus::Creating));

    // Act: stop it and start another server on the same file, with no delay.
    let dir = app.stop().await;
    let app = spawn_app_in(dir, |s| s.lifecycle.activation_delay_ms = 0).await;

    // Assert
    for (id, email) in ids.iter().zip(&emails) {
        let user = app
            .sdk
            .get_user()
            .user_id(id)
            .send()
            .await
            .expect("user survived the restart");
        assert_eq!(user.email_address(), Some(email.as_str()));
        app.wait_for_status(id, UserStatus::Enabled).await;
    }
}

#[tokio::test]
async fn migrate_creates_only_when_told_says_what_it_applied_and_is_repeatable() {
    if skipped_on_postgres("a database file made only with --create") {
        return;
    }
    let dir = crate::helpers::tempdir();
    let path = dir.path().join("nested").join("userdir.db");

    let backend = || {
        let dir = crate::helpers::tempdir();
        let mut settings = crate::helpers::test_settings(&dir);
        settings.database.path = path.clone();
        userdir::startup::backend(&settings)
    };
    let refused = backend()
        .migrate(false)
        .await
        .expect_err("no database, no --create");
    assert!(
        refused.to_string().contains(&path.display().to_string()),
        "{refused}"
    );
    assert!(!path.exists(), "nothing was created");

    let first = backend().migrate(true).await.expect("created");
    assert_eq!(first.applied, vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(first.now_at, Some(7));
    let again = backend().migrate(false).await.expect("again");
    assert!(again.applied.is_empty(), "migrating again is a no-op");
    assert_eq!(again.now_at, Some(7));
}

use crate::helpers::spawn_app;

#[tokio::test]
async fn an_unknown_user_is_resource_not_found() {
    let app = spawn_app().await;

    for user_id in [ulid::Ulid::generate().to_string(), "not-a-ulid".to_owned()] {
        let err = app
            .sdk
            .get_user()
            .user_id(&user_id)
            .send()
            .await
            .expect_err("no such user")
            .into_service_error();
        assert!(
            err.is_resource_not_found_exception(),
            "{user_id}: expected ResourceNotFoundException, got {err:?}"
        );
    }
}

#[tokio::test]
async fn a_user_id_longer_than_26_characters_is_a_validation_exception() {
    let app = spawn_app().await;

    let err = app
        .sdk
        .get_user()
        .user_id("A".repeat(27))
        .send()
        .await
        .expect_err("too long")
        .into_service_error();

    assert!(
        err.is_validation_exception(),
        "expected ValidationException, got {err:?}"
    );
}

//! What the crate's unit tests share: a store over a fresh file, and users written through it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use userdir_core::domain::{
    Email, FirstName, NewUser, SystemClock, Timestamp, User, UserId, UserType,
};
use userdir_core::store::{AuditRecord, UserCache, UserStore, WriteContext};

use crate::{SqliteSettings, SqliteStore};

/// A store over a new database in `dir`, with no GetUser cache: every read reaches the database.
pub(crate) async fn open_store(dir: &Path) -> SqliteStore {
    let settings = SqliteSettings {
        path: dir.join("userdir.db"),
        busy_timeout: Duration::from_secs(5),
        read_connections: 2,
    };
    SqliteStore::open(
        &settings,
        Arc::new(SystemClock),
        Arc::new(UserCache::new(0)),
    )
    .await
    .expect("store opens")
}

/// `count` users created through `store`, each first name with quotes, a backslash and a
/// non-ASCII letter (which must survive any JSON a read goes through).
pub(crate) async fn insert_users(store: &SqliteStore, count: usize) -> Vec<User> {
    let context = WriteContext {
        claim: None,
        audit: AuditRecord {
            time: Timestamp::now(),
            request_id: "test".into(),
            caller: "root".into(),
            operation: "CreateUser".into(),
            target: None,
            detail: None,
        },
    };
    let mut users = Vec::with_capacity(count);
    for i in 0..count {
        let mut user = NewUser {
            email: Email::parse(&format!("user{i}@example.com")).expect("email"),
            user_type: UserType::AppUser,
            first_name: None,
            last_name: None,
            api_access: None,
            api_access_principal_arn: None,
        }
        .into_user(UserId::generate(), Timestamp::now());
        user.first_name = Some(FirstName::parse(&format!("N\"{i}\\ é")).expect("name"));
        store
            .insert_user(&user, u64::MAX, &context)
            .await
            .expect("insert");
        users.push(user);
    }
    users
}

//! GetUser's reads of users the cache does not hold, gathered: every statement crosses to a
//! connection's own thread and back (sqlx runs each SQLite connection on a thread), which cost a
//! cache miss several times what the rest of its request did. Lookups waiting at the same time go
//! to the database as one statement, its result one JSON value; a lookup alone goes alone.

use crate::db_error;
use std::collections::HashMap;
use std::sync::Arc;

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::users_from_json;
use userdir_core::domain::{User, UserId};
use userdir_core::store::StoreError;

/// The most users one statement looks up.
const MAX_LOOKUPS: usize = 128;

type Answer = oneshot::Sender<Result<Option<User>, Arc<str>>>;

#[derive(Debug, Clone)]
pub(super) struct Lookups {
    queue: mpsc::UnboundedSender<(UserId, Answer)>,
}

impl Lookups {
    /// Starts the task that gathers lookups; it ends when the last `Lookups` is dropped.
    pub(super) fn start(reader: SqlitePool) -> Self {
        let (queue, inbox) = mpsc::unbounded_channel();
        tokio::spawn(gather(reader, inbox));
        Self { queue }
    }

    pub(super) async fn get(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send((id.clone(), answer))
            .map_err(|_| StoreError::unavailable("the store is closed"))?;
        match answered.await {
            Ok(Ok(user)) => Ok(user),
            Ok(Err(reason)) => Err(StoreError::internal(format!(
                "reading users failed: {reason}"
            ))),
            Err(_) => Err(StoreError::unavailable("the store is closed")),
        }
    }
}

/// Takes whatever lookups are waiting and sends each group to the database on its own task, so
/// that groups run side by side on the read connections.
async fn gather(reader: SqlitePool, mut inbox: mpsc::UnboundedReceiver<(UserId, Answer)>) {
    while let Some(first) = inbox.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_LOOKUPS {
            match inbox.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        tokio::spawn(answer(reader.clone(), group));
    }
}

async fn answer(reader: SqlitePool, group: Vec<(UserId, Answer)>) {
    let ids = serde_json::Value::Array(
        group
            .iter()
            .map(|(id, _)| serde_json::Value::from(id.as_str()))
            .collect(),
    )
    .to_string();
    let found = fetch(&reader, ids).await;
    match found {
        Ok(users) => {
            // The same user may be asked for more than once in a group.
            for (id, answer) in group {
                let _ = answer.send(Ok(users.get(&id).cloned()));
            }
        }
        Err(error) => {
            let reason: Arc<str> = error.to_string().into();
            for (_, answer) in group {
                let _ = answer.send(Err(reason.clone()));
            }
        }
    }
}

async fn fetch(reader: &SqlitePool, ids: String) -> Result<HashMap<UserId, User>, StoreError> {
    let rows = sqlx::query_scalar!(
        r#"SELECT json_group_array(json_array(
                  user_id, email, user_type, status, api_access, api_access_principal_arn,
                  first_name, last_name, create_time, last_enabled_time, last_disabled_time,
                  last_modified_time, last_login_time)) AS "users!: String"
           FROM users WHERE user_id IN (SELECT value FROM json_each(?1))"#,
        ids
    )
    .fetch_one(reader)
    .await
    .map_err(db_error)?;
    Ok(users_from_json(&rows, "users looked up")?
        .into_iter()
        .map(|user| (user.id.clone(), user))
        .collect())
}

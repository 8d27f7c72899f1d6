//! GetUser's reads of single users, gathered: lookups waiting at the same time go to the database
//! as one statement, and a lookup alone goes alone, at once. Every statement costs a round trip (to
//! a SQLite connection's thread, or to PostgreSQL over a socket) and the database's own per-statement
//! work, which cost a single-row read several times what the rest of its request did.
//!
//! At most `in_flight` statements run at a time; lookups that arrive meanwhile wait in the queue
//! and leave together with the next statement. A lookup is only ever answered by a statement sent
//! after it was asked, so it reads every write acknowledged before it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{BackendError, StoreError};
use crate::domain::{User, UserId};

/// The most users one statement looks up.
const MAX_LOOKUPS: usize = 128;

type Answer = oneshot::Sender<Result<Option<User>, StoreError>>;

/// The sending side of the gatherer; cloned freely, it ends when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Lookups {
    queue: mpsc::UnboundedSender<(UserId, Answer)>,
}

impl Lookups {
    /// Starts the task that gathers lookups and answers them with `fetch`, which returns the
    /// users found among the ids it is given (at most `MAX_LOOKUPS`, possibly repeated).
    pub fn start<F, A>(fetch: F, in_flight: usize) -> Self
    where
        F: Fn(Vec<UserId>) -> A + Send + Sync + 'static,
        A: Future<Output = Result<HashMap<UserId, User>, StoreError>> + Send + 'static,
    {
        let (queue, inbox) = mpsc::unbounded_channel();
        tokio::spawn(gather(Arc::new(fetch), in_flight.max(1), inbox));
        Self { queue }
    }

    pub async fn get(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send((id.clone(), answer))
            .map_err(|_| StoreError::unavailable("the store is closed"))?;
        answered
            .await
            .unwrap_or_else(|_| Err(StoreError::unavailable("the store is closed")))
    }
}

/// Takes whatever lookups are waiting once a statement may start, and sends them on a task of
/// their own, so that statements run side by side up to `in_flight`.
async fn gather<F, A>(
    fetch: Arc<F>,
    in_flight: usize,
    mut inbox: mpsc::UnboundedReceiver<(UserId, Answer)>,
) where
    F: Fn(Vec<UserId>) -> A + Send + Sync + 'static,
    A: Future<Output = Result<HashMap<UserId, User>, StoreError>> + Send + 'static,
{
    let statements = Arc::new(Semaphore::new(in_flight));
    while let Some(first) = inbox.recv().await {
        let Ok(statement) = statements.clone().acquire_owned().await else {
            return;
        };
        let mut group = vec![first];
        while group.len() < MAX_LOOKUPS {
            match inbox.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let found = fetch(group.iter().map(|(id, _)| id.clone()).collect());
        tokio::spawn(async move {
            answer(group, found.await);
            drop(statement);
        });
    }
}

fn answer(group: Vec<(UserId, Answer)>, found: Result<HashMap<UserId, User>, StoreError>) {
    match found {
        // The same user may be asked for more than once in a group.
        Ok(users) => {
            for (id, answer) in group {
                let _ = answer.send(Ok(users.get(&id).cloned()));
            }
        }
        Err(error) => {
            for (_, answer) in group {
                let _ = answer.send(Err(shared(&error)));
            }
        }
    }
}

/// The statement's failure, for each of the lookups it answers.
fn shared(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(detail) => StoreError::Unavailable(detail.clone()),
        StoreError::Contended(detail) => StoreError::Contended(detail.clone()),
        StoreError::Internal(detail) => StoreError::Internal(detail.clone()),
        other => StoreError::Internal(BackendError::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    fn id(n: u32) -> UserId {
        UserId::parse(&format!("{n:0>26}")).expect("a valid id")
    }

    /// A fetch that records the groups it was given and answers after a pause, finding no one.
    fn recording(groups: Arc<Mutex<Vec<usize>>>) -> Lookups {
        Lookups::start(
            move |ids: Vec<UserId>| {
                groups.lock().expect("not poisoned").push(ids.len());
                async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(HashMap::new())
                }
            },
            1,
        )
    }

    #[tokio::test]
    async fn lookups_waiting_for_a_statement_leave_together() {
        let groups = Arc::new(Mutex::new(Vec::new()));
        let lookups = recording(groups.clone());
        let asked: Vec<_> = (0..10)
            .map(|n| {
                let lookups = lookups.clone();
                tokio::spawn(async move { lookups.get(&id(n)).await })
            })
            .collect();
        for lookup in asked {
            assert!(lookup.await.expect("joined").expect("answered").is_none());
        }
        let groups = groups.lock().expect("not poisoned").clone();
        assert_eq!(groups.iter().sum::<usize>(), 10, "{groups:?}");
        assert!(
            groups.len() < 10,
            "no lookup shared a statement: {groups:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_statement_fails_each_of_its_lookups_alike() {
        let lookups = Lookups::start(
            |_ids: Vec<UserId>| async { Err(StoreError::unavailable("down")) },
            2,
        );
        let failed = lookups.get(&id(1)).await;
        assert!(
            matches!(failed, Err(StoreError::Unavailable(_))),
            "{failed:?}"
        );
    }
}

//! GetUser's reads of single users, gathered: lookups waiting at the same time go to the database
//! as one statement, and a lookup alone goes alone, at once. Every statement costs a round trip (to
//! a SQLite connection's thread, or to PostgreSQL over a socket) and the database's own per-statement
//! work, which cost a single-row read several times what the rest of its request did.
//!
//! At most `in_flight` statements run at a time; lookups that arrive meanwhile wait in the queue
//! and leave together with the next statement. A lookup is only ever answered by a statement sent
//! after it was asked, so it reads every write acknowledged before it.
//!
//! There is no task of its own: whichever waiting request gets a statement's turn takes the queue
//! and runs the statement in its own task, answering the others. A gathering task cost each read
//! two extra crossings between threads, which was most of what the gathering saved. The price: a
//! request that goes away mid-statement takes the statement with it, and its lookups are sent again.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};

use super::{BackendError, StoreError};
use crate::domain::{User, UserId};

/// The most users one statement looks up.
const MAX_LOOKUPS: usize = 128;

type Answer = oneshot::Sender<Result<Option<User>, StoreError>>;
type Found = Result<HashMap<UserId, User>, StoreError>;
type Fetch = dyn Fn(Vec<UserId>) -> Pin<Box<dyn Future<Output = Found> + Send>> + Send + Sync;

/// The gatherer; cloned freely.
#[derive(Clone)]
pub struct Lookups {
    shared: Arc<Shared>,
}

struct Shared {
    fetch: Box<Fetch>,
    waiting: Mutex<VecDeque<(UserId, Answer)>>,
    statements: Arc<Semaphore>,
    /// Told when a statement puts its lookups back in the queue, and how many times one has.
    put_back: Notify,
    put_backs: AtomicU64,
}

impl std::fmt::Debug for Lookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookups")
            .field("waiting", &self.shared.queue().len())
            .field(
                "free_statements",
                &self.shared.statements.available_permits(),
            )
            .finish()
    }
}

impl Lookups {
    /// A gatherer that answers lookups with `fetch`, which returns the users found among the ids
    /// it is given (at most `MAX_LOOKUPS`, possibly repeated), with at most `in_flight` running.
    pub fn start<F, A>(fetch: F, in_flight: usize) -> Self
    where
        F: Fn(Vec<UserId>) -> A + Send + Sync + 'static,
        A: Future<Output = Found> + Send + 'static,
    {
        Self {
            shared: Arc::new(Shared {
                fetch: Box::new(move |ids| Box::pin(fetch(ids))),
                waiting: Mutex::new(VecDeque::new()),
                statements: Arc::new(Semaphore::new(in_flight.max(1))),
                put_back: Notify::new(),
                put_backs: AtomicU64::new(0),
            }),
        }
    }

    pub async fn get(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let (answer, mut answered) = oneshot::channel();
        self.shared.queue().push_back((id.clone(), answer));
        loop {
            // Read before the queue is looked at: a put-back after it is not missed.
            let put_backs = self.shared.put_backs.load(Ordering::Acquire);
            tokio::select! {
                biased;
                result = &mut answered => return result.unwrap_or_else(|_| Err(closed())),
                permit = self.shared.statements.clone().acquire_owned() => {
                    let permit = permit.map_err(|_| closed())?;
                    match Statement::take(&self.shared, permit) {
                        Some(statement) => statement.run().await,
                        // Ours is in a statement under way: its answer comes, or it is put back.
                        None => {
                            let put_back = self.shared.put_back.notified();
                            tokio::pin!(put_back);
                            put_back.as_mut().enable();
                            if self.shared.put_backs.load(Ordering::Acquire) != put_backs {
                                continue;
                            }
                            tokio::select! {
                                biased;
                                result = &mut answered => {
                                    return result.unwrap_or_else(|_| Err(closed()));
                                }
                                () = put_back => {}
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, VecDeque<(UserId, Answer)>> {
        // The queue is only pushed to and drained: a panic elsewhere cannot leave it inconsistent.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The lookups one statement answers, with its turn. Dropped unanswered because the request that
/// ran it went away, it puts them back at the front of the queue and tells their requests, which
/// may be waiting only for their answers, to compete for a turn again. Dropped by a panic of the
/// fetch, it drops them instead (their requests are told the store is closed): put back, they
/// would be fetched, and panic, again and again.
struct Statement {
    shared: Arc<Shared>,
    group: Vec<(UserId, Answer)>,
    _turn: OwnedSemaphorePermit,
}

impl Statement {
    fn take(shared: &Arc<Shared>, turn: OwnedSemaphorePermit) -> Option<Self> {
        let group: Vec<_> = {
            let mut queue = shared.queue();
            let taken = queue.len().min(MAX_LOOKUPS);
            queue.drain(..taken).collect()
        };
        (!group.is_empty()).then(|| Self {
            shared: shared.clone(),
            group,
            _turn: turn,
        })
    }

    async fn run(mut self) {
        let found =
            (self.shared.fetch)(self.group.iter().map(|(id, _)| id.clone()).collect()).await;
        answer(std::mem::take(&mut self.group), found);
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        if self.group.is_empty() || std::thread::panicking() {
            return;
        }
        let unanswered: Vec<_> = std::mem::take(&mut self.group)
            .into_iter()
            .filter(|(_, answer)| !answer.is_closed())
            .collect();
        if unanswered.is_empty() {
            return;
        }
        {
            let mut queue = self.shared.queue();
            for lookup in unanswered.into_iter().rev() {
                queue.push_front(lookup);
            }
        }
        self.shared.put_backs.fetch_add(1, Ordering::Release);
        self.shared.put_back.notify_waiters();
    }
}

fn closed() -> StoreError {
    StoreError::unavailable("the store is closed")
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::sync::Notify;

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

    /// Asks for user `n` on a task of its own.
    fn ask(lookups: &Lookups, n: u32) -> tokio::task::JoinHandle<Result<Option<User>, StoreError>> {
        let lookups = lookups.clone();
        tokio::spawn(async move { lookups.get(&id(n)).await })
    }

    async fn answered_in_time(
        asked: tokio::task::JoinHandle<Result<Option<User>, StoreError>>,
    ) -> Result<Option<User>, StoreError> {
        tokio::time::timeout(Duration::from_secs(5), asked)
            .await
            .expect("answered in time")
            .expect("joined")
    }

    /// A fetch whose calls are numbered: call `i` first waits for `gates[i]` if there is one;
    /// those in `stuck` never end, those in `panics` panic, and the others find no one.
    fn scripted(
        calls: Arc<AtomicUsize>,
        gates: Vec<Arc<Notify>>,
        stuck: &'static [usize],
        panics: &'static [usize],
        in_flight: usize,
    ) -> Lookups {
        Lookups::start(
            move |_ids: Vec<UserId>| {
                let call = calls.fetch_add(1, Ordering::SeqCst);
                let gate = gates.get(call).cloned();
                async move {
                    if let Some(gate) = gate {
                        gate.notified().await;
                    }
                    if stuck.contains(&call) {
                        std::future::pending::<()>().await;
                    }
                    assert!(!panics.contains(&call), "call {call} panics");
                    Ok(HashMap::new())
                }
            },
            in_flight,
        )
    }

    async fn until_calls(calls: &AtomicUsize, at_least: usize) {
        while calls.load(Ordering::SeqCst) < at_least {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn lookups_waiting_for_a_statement_leave_together() {
        let groups = Arc::new(Mutex::new(Vec::new()));
        let lookups = recording(groups.clone());
        let asked: Vec<_> = (0..10).map(|n| ask(&lookups, n)).collect();
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
    async fn lookups_in_a_statement_whose_request_went_away_are_still_answered() {
        let calls = Arc::new(AtomicUsize::new(0));
        let gates = vec![Arc::new(Notify::new())];
        // The statement of the request that goes away (call 1) never ends by itself.
        let lookups = scripted(calls.clone(), gates.clone(), &[1], &[], 1);
        let first = ask(&lookups, 1);
        until_calls(&calls, 1).await;
        // Both wait for the one turn; the first of them takes both lookups into the next.
        let (goes_away, stays) = (ask(&lookups, 2), ask(&lookups, 3));
        tokio::time::sleep(Duration::from_millis(20)).await;
        gates[0].notify_one();
        assert!(first.await.expect("joined").expect("answered").is_none());
        until_calls(&calls, 2).await;
        goes_away.abort();
        let answered = answered_in_time(stays).await;
        assert!(matches!(answered, Ok(None)), "{answered:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_lookup_waiting_only_for_its_answer_is_sent_again_when_put_back() {
        let calls = Arc::new(AtomicUsize::new(0));
        let gates = vec![Arc::new(Notify::new()), Arc::new(Notify::new())];
        let lookups = scripted(calls.clone(), gates.clone(), &[2], &[], 2);
        // Two statements hold both turns; two more lookups queue behind them.
        let (first, second) = (ask(&lookups, 1), ask(&lookups, 2));
        until_calls(&calls, 2).await;
        let (goes_away, stays) = (ask(&lookups, 3), ask(&lookups, 4));
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The first turn freed: the request that goes away takes both queued lookups (call 2).
        gates[0].notify_one();
        assert!(first.await.expect("joined").expect("answered").is_none());
        until_calls(&calls, 3).await;
        // The second turn freed: the other request finds the queue empty and waits for its answer.
        gates[1].notify_one();
        assert!(second.await.expect("joined").expect("answered").is_none());
        tokio::time::sleep(Duration::from_millis(20)).await;
        goes_away.abort();
        let answered = answered_in_time(stays).await;
        assert!(matches!(answered, Ok(None)), "{answered:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn lookups_of_a_statement_that_panicked_fail_once_and_are_not_sent_again() {
        let calls = Arc::new(AtomicUsize::new(0));
        let gates = vec![Arc::new(Notify::new())];
        let lookups = scripted(calls.clone(), gates.clone(), &[], &[1], 1);
        let first = ask(&lookups, 1);
        until_calls(&calls, 1).await;
        let (panics, other) = (ask(&lookups, 2), ask(&lookups, 3));
        tokio::time::sleep(Duration::from_millis(20)).await;
        gates[0].notify_one();
        assert!(first.await.expect("joined").expect("answered").is_none());
        assert!(panics.await.is_err(), "the statement's request panicked");
        let other = answered_in_time(other).await;
        assert!(
            matches!(other, Err(StoreError::Unavailable(_))),
            "{other:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
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

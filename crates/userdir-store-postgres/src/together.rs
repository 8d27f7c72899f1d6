//! The creates that arrive together at this instance, made in one transaction
//! (`userdir_create_users`, migration 0009): PostgreSQL's work for a create in a transaction of
//! its own is mostly the transaction's, and 64 clients creating at once held userdir to 38% of
//! pgbench's single-row insert rate on the README's 2-core machine.
//!
//! A create waits in a queue while the batches in flight (at most `IN_FLIGHT`) hold PostgreSQL;
//! when one ends, the next takes whatever is waiting (up to `MOST_TOGETHER`, leaving out creates
//! whose caller has gone). Each create's outcome is its own (refused for its email, replayed for
//! its clientToken, or made), and is answered once the batch has committed. When the batch cannot
//! go ahead as one (its count slot has not the budget for all of it, the limit is near, PostgreSQL
//! aborted it for a deadlock or a serialization failure, or refused one create's data), nothing
//! of it was written and each create is made alone, as before. When PostgreSQL cannot be reached,
//! the batch's creates, and those waiting when that was found, are answered 503 at once.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use sqlx::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};
use userdir_core::domain::{FirstName, LastName, RoleArn, Timestamp, User};
use userdir_core::store::{BackendError, CommitWatch, StoreError, WriteContext};

use super::counts::random_slot;
use super::db_error;

/// Creates waiting at most; more wait to join the queue.
const QUEUE: usize = 4096;
/// Creates in one transaction at most: each is a subtransaction, and PostgreSQL keeps 64 of a
/// transaction's subtransactions in shared memory before every snapshot gets slower.
const MOST_TOGETHER: usize = 32;
/// Batches in flight at once, each on a connection of its own. Fewer batches are larger ones:
/// at 64 clients on the README's 2-core machine, two in flight made 6.4k creates/s (p99 19.9 ms),
/// four 5.9k/s and eight 5.7k/s (scripts/bench --backend postgres, paired runs).
const IN_FLIGHT: usize = 2;

/// What became of one create of a batch.
#[derive(Debug)]
pub(super) enum Outcome {
    Applied,
    /// Its clientToken was claimed before: that claim's fingerprint and answer.
    Earlier {
        fingerprint: String,
        result: String,
    },
    EmailTaken,
    /// The batch did not go ahead as one: nothing of it was written; make this create alone.
    Alone,
}

struct Waiting {
    create: serde_json::Value,
    max_users: u64,
    answer: oneshot::Sender<Result<Outcome, StoreError>>,
}

#[derive(Debug, Clone)]
pub(super) struct Together {
    queue: mpsc::Sender<Waiting>,
}

/// How every create of a failed batch is answered: the error's kind, and its detail.
type Failure = (fn(BackendError) -> StoreError, BackendError);

/// Why the last batch found PostgreSQL out of reach, until the creates waiting then are answered.
type Unreachable = Arc<Mutex<Option<BackendError>>>;

impl Together {
    pub(super) fn start(pool: PgPool, watch: Arc<CommitWatch>) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(gather(pool, waiting, watch));
        Self { queue }
    }

    /// Makes `user` in the next batch; answers once that batch has committed (or failed).
    pub(super) async fn create(
        &self,
        user: &User,
        max_users: u64,
        ctx: &WriteContext,
    ) -> Result<Outcome, StoreError> {
        let (answer, answered) = oneshot::channel();
        let waiting = Waiting {
            create: create_of(user, ctx),
            max_users,
            answer,
        };
        self.queue
            .send(waiting)
            .await
            .map_err(|_| StoreError::unavailable("the store is closed"))?;
        answered
            .await
            .map_err(|_| StoreError::internal("the create's batch was not run"))?
    }
}

async fn gather(pool: PgPool, mut waiting: mpsc::Receiver<Waiting>, watch: Arc<CommitWatch>) {
    let turns = Arc::new(Semaphore::new(IN_FLIGHT));
    let unreachable = Unreachable::default();
    loop {
        // A turn first, then the creates: those that arrive while every turn is taken go together.
        let Ok(turn) = turns.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = waiting.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MOST_TOGETHER {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // Nothing of these is written yet: a create whose caller has gone is not made.
        batch.retain(|w| !w.answer.is_closed());
        let down = unreachable.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(detail) = down {
            // They waited behind a batch that found PostgreSQL out of reach: answered as it was,
            // at once, rather than each batch in turn waiting out the pool's timeout.
            for waiting in batch {
                let _ = waiting
                    .answer
                    .send(Err(StoreError::Unavailable(detail.clone())));
            }
            continue;
        }
        if batch.is_empty() {
            continue;
        }
        let (pool, watch, unreachable) = (pool.clone(), watch.clone(), unreachable.clone());
        tokio::spawn(async move {
            commit(&pool, batch, &watch, &unreachable).await;
            drop(turn);
        });
    }
}

/// Runs one batch and answers each of its creates.
async fn commit(
    pool: &PgPool,
    batch: Vec<Waiting>,
    watch: &CommitWatch,
    unreachable: &Unreachable,
) {
    let started = Instant::now();
    // A batch is counted against the smallest limit it was given (one, unless the setting moved).
    let max_users = batch.iter().map(|w| w.max_users).min().unwrap_or(u64::MAX);
    let (creates, answers): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|w| (w.create, w.answer)).unzip();
    let creates = serde_json::Value::Array(creates).to_string();
    let rows = sqlx::query!(
        r#"SELECT create_index AS "create_index!", outcome AS "outcome!",
                  earlier_fingerprint, earlier_result
           FROM userdir_create_users($1::TEXT::JSONB, $2, $3)"#,
        creates,
        random_slot(),
        i64::try_from(max_users).unwrap_or(i64::MAX),
    )
    .fetch_all(pool)
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(error) => {
            let alone = made_nothing(&error);
            // How each create of the batch is answered: None, made alone.
            let failure: Option<Failure> = match db_error(error) {
                // PostgreSQL out of reach: every create fails as one alone would, at once,
                // and so do those waiting now.
                StoreError::Unavailable(detail) => {
                    *unreachable.lock().unwrap_or_else(|e| e.into_inner()) = Some(detail.clone());
                    Some((StoreError::Unavailable, detail))
                }
                // Nothing was written: each create is made alone, and fails alone if it must.
                _ if alone => None,
                // Anything else may have come after the commit: not made again.
                StoreError::Internal(detail) | StoreError::Contended(detail) => {
                    Some((StoreError::Internal, detail))
                }
                other => Some((StoreError::Internal, BackendError::new(other))),
            };
            for answer in answers {
                let _ = answer.send(match &failure {
                    Some((as_error, detail)) => Err(as_error(detail.clone())),
                    None => Ok(Outcome::Alone),
                });
            }
            return;
        }
    };
    let mut outcomes: Vec<Option<Outcome>> = answers.iter().map(|_| None).collect();
    for row in rows {
        let outcome = match row.outcome.as_str() {
            "APPLIED" => Outcome::Applied,
            "EARLIER" => Outcome::Earlier {
                fingerprint: row.earlier_fingerprint.unwrap_or_default(),
                result: row.earlier_result.unwrap_or_default(),
            },
            "EMAIL_TAKEN" => Outcome::EmailTaken,
            _ => continue,
        };
        if let Some(slot) = usize::try_from(row.create_index)
            .ok()
            .and_then(|i| outcomes.get_mut(i))
        {
            *slot = Some(outcome);
        }
    }
    let applied = outcomes
        .iter()
        .filter(|o| matches!(o, Some(Outcome::Applied)))
        .count();
    if applied > 0 {
        watch.committed(applied, started.elapsed());
    }
    for (answer, outcome) in answers.into_iter().zip(outcomes) {
        let _ = answer.send(outcome.ok_or_else(|| {
            StoreError::internal("userdir_create_users gave no outcome for a create")
        }));
    }
}

/// Whether PostgreSQL refused the batch in a way that leaves nothing of it written and that its
/// creates made alone may not meet: no budget for the whole batch (UDALN), a serialization failure
/// or deadlock (class 40), or one create's data refused (classes 22 and 23). The statement is one
/// transaction, and these end it before its commit.
fn made_nothing(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| {
            code == "UDALN" || ["40", "22", "23"].iter().any(|c| code.starts_with(c))
        })
}

/// A create as `userdir_create_users` takes it: `userdir_create_user`'s arguments by name.
fn create_of(user: &User, ctx: &WriteContext) -> serde_json::Value {
    let claim = ctx.claim.as_ref();
    let audit = &ctx.audit;
    serde_json::json!({
        "token_operation": claim.map(|c| c.operation),
        "claimed_token": claim.map(|c| c.token.as_str()),
        "token_fingerprint": claim.map(|c| c.fingerprint.as_str()),
        "token_created_at": claim.map(|c| c.now.as_millis()),
        "token_expires_at": claim.map(|c| c.expires_at.as_millis()),
        "new_user_id": user.id.as_str(),
        "new_email": user.email.as_str(),
        "new_user_type": user.user_type.as_str(),
        "new_status": user.status.as_str(),
        "new_api_access": user.api_access.as_str(),
        "new_principal_arn": user.api_access_principal_arn.as_ref().map(RoleArn::as_str),
        "new_first_name": user.first_name.as_ref().map(FirstName::as_str),
        "new_last_name": user.last_name.as_ref().map(LastName::as_str),
        "new_create_time": user.create_time.as_millis(),
        "new_enabled_time": user.last_enabled_time.map(Timestamp::as_millis),
        "new_disabled_time": user.last_disabled_time.map(Timestamp::as_millis),
        "new_modified_time": user.last_modified_time.as_millis(),
        "new_login_time": user.last_login_time.map(Timestamp::as_millis),
        "audit_time": audit.time.as_millis(),
        "audit_request_id": audit.request_id,
        "audit_caller": audit.caller,
        "audit_operation": audit.operation,
        "audit_target": audit.target,
        "audit_detail": audit.detail,
    })
}

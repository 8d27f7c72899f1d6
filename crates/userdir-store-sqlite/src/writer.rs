//! The single writer: one task owns the one write connection and commits whatever writes are
//! waiting as one transaction ("group commit"), so that a durable commit (an fsync of the WAL) is
//! shared by every write in the batch.
//!
//! Each write runs inside its own savepoint: a write that fails (a duplicate email, a reused
//! token) is rolled back alone and answered alone, and its batch-mates commit. Every write is
//! answered only after its batch has committed; if the commit itself fails, every write of the
//! batch is answered with that failure and none took effect. On shutdown the writes already
//! queued are committed and answered before the writer stops; later ones are refused.
//!
//! The creates of a batch insert their rows together, in one statement run before their jobs
//! (`Batch::insert_ahead`): each statement is a round trip to the connection's thread, and on two
//! cores shared with the clients those round trips, not SQLite's work, set the pace of a batch (a
//! batch of 64 creates one by one took ~8.7 ms with half the machine idle). When the rows cannot
//! all go in (an email taken, also within the batch, or the user limit reached) the statement
//! changes nothing and each create inserts its own row as before, failing alone.
//!
//! A batch that fails because the disk is full (or failing) is answered `Unwritable`, and the
//! writer says so (`WriteStats::unwritable`) until a batch commits again: readiness fails
//! meanwhile, and reads go on.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::pool::PoolConnection;
use sqlx::{Executor, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use userdir_core::domain::{SharedClock, Timestamp, UserId};
use userdir_core::report::error_chain;
use userdir_core::store::{AuditRecord, StoreError, TokenClaim};
use userdir_core::store::{CommitWatch, UserCache};

/// How many writes one transaction takes at most.
const MAX_BATCH: usize = 512;
/// How many writes may wait for the writer before callers wait to enqueue.
const QUEUE: usize = 4096;

type JobFuture<'c> = Pin<Box<dyn Future<Output = Finished> + Send + 'c>>;
type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection, &'c mut Batch) -> JobFuture<'c> + Send>;
type Deliver = Box<dyn FnOnce(Result<(), BatchFailure>) + Send>;

/// Why a batch did not commit.
#[derive(Debug, Clone)]
struct BatchFailure {
    reason: Arc<str>,
    /// The disk is full or failing: the database cannot take writes for now.
    unwritable: bool,
}

/// A write's own outcome, waiting for the outcome of its batch.
struct Finished {
    /// The write failed in a way that may have ended the transaction (I/O, disk full, ...): the
    /// batch must not go on.
    fatal: bool,
    /// It failed because the disk is full or failing.
    unwritable: bool,
    deliver: Deliver,
}

/// SQLITE_FULL, SQLITE_IOERR (and their extended codes), or an I/O error of the driver's own.
pub(super) fn is_unwritable(error: &sqlx::Error) -> bool {
    const SQLITE_IOERR: i32 = 10;
    const SQLITE_FULL: i32 = 13;
    match error {
        sqlx::Error::Io(_) => true,
        other => other
            .as_database_error()
            .and_then(|e| e.code())
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, SQLITE_IOERR | SQLITE_FULL)),
    }
}

/// What the writes of one batch leave to be written at its end, in the same transaction: their
/// idempotency tokens and audit entries, each kind in one statement.
#[derive(Default)]
pub(super) struct Batch {
    /// Live tokens of this batch's writes as stored before it began, and tokens recorded by
    /// earlier writes of this batch: (operation, token) → (fingerprint, result).
    seen: HashMap<TokenKey, (String, String)>,
    tokens: JsonRows,
    audit: JsonRows,
    /// Users whose rows this batch changed: dropped from the cache once it commits.
    touched: Vec<UserId>,
    /// Users whose rows were inserted ahead of their creates' jobs, for those jobs to find.
    inserted_ahead: HashSet<UserId>,
    /// How many rows were inserted ahead.
    rows_ahead: u64,
}

impl Batch {
    /// Whether this user's row was inserted ahead of its create's job (which then must not
    /// insert it); answers true once.
    pub(super) fn take_inserted_ahead(&mut self, user: &UserId) -> bool {
        self.inserted_ahead.remove(user)
    }

    /// Inserts the rows of the batch's creates in one statement, before their jobs run, when
    /// they can all go in. A create takes part only if its job will insert its row: one with no
    /// clientToken, or the first write of the batch to claim a token not stored before (a
    /// later one, or one already stored, is answered from the record instead). Failing because
    /// an email is taken changes nothing (SQLite undoes a failing statement) and the jobs insert
    /// their rows one by one; any other failure fails the batch.
    async fn insert_ahead(
        &mut self,
        conn: &mut SqliteConnection,
        batch: &mut [Queued],
    ) -> Result<(), sqlx::Error> {
        let mut claimed = HashSet::new();
        let mut rows = JsonRows::default();
        let mut users = Vec::new();
        let mut max_users = u64::MAX;
        for queued in batch.iter_mut() {
            let inserts_its_row = match &queued.token {
                None => true,
                Some(key) => claimed.insert(key.clone()) && !self.seen.contains_key(key),
            };
            if let (true, Some(insert)) = (inserts_its_row, queued.insert.take()) {
                rows.push_text(&insert.row);
                users.push(insert.user);
                max_users = max_users.min(insert.max_users);
            }
        }
        if rows.len() < 2 {
            return Ok(());
        }
        match crate::import::insert_all_within_limit(conn, rows, max_users).await {
            Ok(true) => {
                self.rows_ahead = users.len() as u64;
                self.inserted_ahead.extend(users);
            }
            Ok(false) => {}
            Err(error) if crate::is_unique_violation(&error) => {}
            Err(error) => return Err(error),
        }
        Ok(())
    }

    /// Notes that this write changed the user's row.
    pub(super) fn touch(&mut self, user: &UserId) {
        self.touched.push(user.clone());
    }

    /// What was stored, or recorded earlier in this batch, for the claim's token.
    pub(super) fn earlier(&self, claim: &TokenClaim) -> Option<&(String, String)> {
        self.seen
            .get(&(claim.operation, claim.token.as_str().to_owned()))
    }

    /// Loads the live stored tokens the batch's writes claim, in one statement.
    async fn prefetch(
        &mut self,
        conn: &mut SqliteConnection,
        keys: &[&TokenKey],
        now: Timestamp,
    ) -> Result<(), sqlx::Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut wanted = JsonRows::default();
        for (operation, token) in keys {
            wanted
                .push(&WantedToken { operation, token })
                .map_err(|e| sqlx::Error::Encode(e.into()))?;
        }
        let wanted = wanted.into_text();
        let now = now.as_millis();
        // CROSS JOIN keeps jsonb_each as the outer loop: one primary-key probe per wanted token.
        let rows = sqlx::query!(
            r#"SELECT t.operation AS "operation!", t.client_token AS "client_token!",
                      t.fingerprint AS "fingerprint!", t.result AS "result!"
               FROM jsonb_each(?1) AS wanted
               CROSS JOIN idempotency_tokens AS t
                   ON t.operation = wanted.value ->> '$.operation'
                  AND t.client_token = wanted.value ->> '$.token'
               WHERE t.expires_at > ?2"#,
            wanted,
            now
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            let key = keys.iter().find(|(operation, token)| {
                *operation == row.operation && *token == row.client_token
            });
            if let Some(key) = key {
                self.seen
                    .insert((**key).clone(), (row.fingerprint, row.result));
            }
        }
        Ok(())
    }

    /// Records a successful write's token (if any) with its answer, and its audit entry.
    pub(super) fn record(
        &mut self,
        claim: Option<&TokenClaim>,
        audit: &AuditRecord,
        result: &str,
    ) -> Result<(), StoreError> {
        if let Some(claim) = claim {
            self.tokens
                .push(&TokenRow {
                    operation: claim.operation,
                    client_token: claim.token.as_str(),
                    fingerprint: &claim.fingerprint,
                    result,
                    created_at: claim.now.as_millis(),
                    expires_at: claim.expires_at.as_millis(),
                })
                .map_err(unserializable)?;
            self.seen.insert(
                (claim.operation, claim.token.as_str().to_owned()),
                (claim.fingerprint.clone(), result.to_owned()),
            );
        }
        self.audit(audit, "SUCCESS")
    }

    /// Records an audit entry.
    pub(super) fn audit(&mut self, record: &AuditRecord, outcome: &str) -> Result<(), StoreError> {
        self.audit
            .push(&AuditRow {
                time: record.time.as_millis(),
                request_id: &record.request_id,
                caller: &record.caller,
                operation: &record.operation,
                target: record.target.as_deref(),
                outcome,
                detail: record.detail.as_deref(),
            })
            .map_err(unserializable)
    }

    /// Writes the recorded tokens (replacing rows left over from expired uses) and audit entries.
    async fn flush(&mut self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        if !self.tokens.is_empty() {
            let rows = std::mem::take(&mut self.tokens).into_text();
            sqlx::query!(
                "INSERT INTO idempotency_tokens
                     (operation, client_token, fingerprint, result, created_at, expires_at)
                 SELECT value ->> '$.operation', value ->> '$.client_token',
                        value ->> '$.fingerprint', value ->> '$.result',
                        value ->> '$.created_at', value ->> '$.expires_at'
                 FROM jsonb_each(?1) WHERE true
                 ON CONFLICT (operation, client_token) DO UPDATE SET
                     fingerprint = excluded.fingerprint,
                     result = excluded.result,
                     created_at = excluded.created_at,
                     expires_at = excluded.expires_at",
                rows
            )
            .execute(&mut *conn)
            .await?;
        }
        if !self.audit.is_empty() {
            let rows = std::mem::take(&mut self.audit).into_text();
            sqlx::query!(
                "INSERT INTO audit_events
                     (time, request_id, caller, operation, target, outcome, detail)
                 SELECT value ->> '$.time', value ->> '$.request_id', value ->> '$.caller',
                        value ->> '$.operation', value ->> '$.target', value ->> '$.outcome',
                        value ->> '$.detail'
                 FROM jsonb_each(?1)",
                rows
            )
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// The rows of one statement, gathered as the text of a JSON array (which `jsonb_each` unpacks):
/// each row is written out as it comes, not built as a `serde_json::Value` first, whose maps and
/// strings were a tenth of a create's CPU in allocations.
#[derive(Default)]
pub(super) struct JsonRows {
    text: Vec<u8>,
    count: usize,
}

impl JsonRows {
    /// Adds `row`, serialized.
    pub(super) fn push(&mut self, row: &impl serde::Serialize) -> Result<(), serde_json::Error> {
        let start = self.text.len();
        self.text.push(if self.count == 0 { b'[' } else { b',' });
        serde_json::to_writer(&mut self.text, row).inspect_err(|_| self.text.truncate(start))?;
        self.count += 1;
        Ok(())
    }

    /// Adds a row already serialized as one JSON value.
    pub(super) fn push_text(&mut self, row: &str) {
        self.text.push(if self.count == 0 { b'[' } else { b',' });
        self.text.extend_from_slice(row.as_bytes());
        self.count += 1;
    }

    pub(super) fn len(&self) -> usize {
        self.count
    }

    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The JSON array's text.
    pub(super) fn into_text(mut self) -> String {
        if self.count == 0 {
            self.text.push(b'[');
        }
        self.text.push(b']');
        // Only serde_json's output and rows it produced went in.
        String::from_utf8(self.text)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// An idempotency token's row, as `flush` inserts it.
#[derive(serde::Serialize)]
struct TokenRow<'a> {
    operation: &'a str,
    client_token: &'a str,
    fingerprint: &'a str,
    result: &'a str,
    created_at: i64,
    expires_at: i64,
}

fn unserializable(error: serde_json::Error) -> StoreError {
    StoreError::internal(format!("serializing a row: {error}"))
}

/// A token `prefetch` looks up.
#[derive(serde::Serialize)]
struct WantedToken<'a> {
    operation: &'a str,
    token: &'a str,
}

/// An audit entry's row, as `flush` inserts it.
#[derive(serde::Serialize)]
struct AuditRow<'a> {
    time: i64,
    request_id: &'a str,
    caller: &'a str,
    operation: &'a str,
    target: Option<&'a str>,
    outcome: &'a str,
    detail: Option<&'a str>,
}

/// A queued write, with the idempotency token it claims (looked up for the whole batch at once).
struct Queued {
    token: Option<TokenKey>,
    /// The row it inserts, when it creates a user.
    insert: Option<AheadInsert>,
    job: Job,
}

/// The row a create inserts (see [`Batch::insert_ahead`]); its job inserts the row itself unless
/// [`Batch::take_inserted_ahead`] says it is in already.
pub(super) struct AheadInsert {
    pub(super) user: UserId,
    /// The row as `import::row` makes it: the text of a JSON array.
    pub(super) row: String,
    pub(super) max_users: u64,
}

/// (operation, clientToken)
pub(super) type TokenKey = (&'static str, String);

enum Message {
    Write(Queued),
    Close(oneshot::Sender<()>),
}

/// Counts of what the writer committed (for operators, the benchmark and tests).
#[derive(Debug, Default)]
pub struct WriteStats {
    batches: AtomicU64,
    writes: AtomicU64,
    rows_ahead: AtomicU64,
    unwritable: AtomicBool,
    pub(crate) watch: CommitWatch,
}

impl WriteStats {
    /// Transactions committed.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Writes committed (including writes that failed alone inside a committed batch).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Users created with their batch-mates' in one statement (see `Batch::insert_ahead`).
    pub fn rows_inserted_ahead(&self) -> u64 {
        self.rows_ahead.load(Ordering::Relaxed)
    }

    /// The last batch failed because the disk is full or failing.
    pub fn unwritable(&self) -> bool {
        self.unwritable.load(Ordering::Relaxed)
    }
}

/// Queues writes for the writer task.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Message>,
    stats: Arc<WriteStats>,
}

/// A write: runs against the write connection inside the batch transaction.
pub(super) type WriteFuture<'c, T> =
    Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>;

/// How a write keeps its effect all-or-nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Isolation {
    /// The write changes the database with at most one statement, its last before it records:
    /// SQLite undoes a failing statement by itself, so no savepoint is needed.
    SingleStatement,
    /// The write changes the database with several statements: it runs in a savepoint.
    Savepoint,
}

impl Writer {
    pub(super) fn start(
        connection: PoolConnection<Sqlite>,
        cache: Arc<UserCache>,
        clock: SharedClock,
    ) -> Self {
        let (queue, inbox) = mpsc::channel(QUEUE);
        let stats = Arc::new(WriteStats::default());
        tokio::spawn(run(connection, inbox, stats.clone(), cache, clock));
        Self { queue, stats }
    }

    pub(super) fn stats(&self) -> &WriteStats {
        &self.stats
    }

    /// Runs `write` in the next batch and answers once that batch has committed.
    pub(super) async fn write<T, F>(
        &self,
        isolation: Isolation,
        token: Option<TokenKey>,
        write: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection, &'c mut Batch) -> WriteFuture<'c, T>
            + Send
            + 'static,
    {
        self.write_inserting(isolation, token, None, write).await
    }

    /// [`Self::write`] for a write that creates a user with `insert`'s row.
    pub(super) async fn write_inserting<T, F>(
        &self,
        isolation: Isolation,
        token: Option<TokenKey>,
        insert: Option<AheadInsert>,
        write: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection, &'c mut Batch) -> WriteFuture<'c, T>
            + Send
            + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn, batch| {
            Box::pin(async move {
                let savepoint = isolation == Isolation::Savepoint;
                let opened = if savepoint {
                    conn.execute("SAVEPOINT write")
                        .await
                        .map(|_| ())
                        .map_err(crate::db_error)
                } else {
                    Ok(())
                };
                let mut outcome = match opened {
                    Ok(()) => write(&mut *conn, batch).await,
                    Err(e) => Err(e),
                };
                if savepoint {
                    let closed = match outcome {
                        Ok(_) => conn.execute("RELEASE write").await,
                        Err(_) => match conn.execute("ROLLBACK TO write").await {
                            Ok(_) => conn.execute("RELEASE write").await,
                            Err(e) => Err(e),
                        },
                    };
                    if let Err(e) = closed {
                        outcome = Err(crate::db_error(e));
                    }
                }
                Finished {
                    fatal: matches!(
                        outcome,
                        Err(StoreError::Unavailable(_)
                            | StoreError::Internal(_)
                            | StoreError::Io(_))
                    ),
                    unwritable: matches!(
                        outcome,
                        Err(StoreError::Unavailable(_) | StoreError::Io(_))
                    ),
                    deliver: Box::new(move |batch: Result<(), BatchFailure>| {
                        let _ = answer.send(match batch {
                            Ok(()) => outcome,
                            Err(failure) if failure.unwritable => Err(StoreError::unavailable(
                                format!("the write's batch failed: {}", failure.reason),
                            )),
                            Err(failure) => Err(StoreError::internal(format!(
                                "the write's batch failed to commit: {}",
                                failure.reason
                            ))),
                        });
                    }),
                }
            })
        });
        self.queue
            .send(Message::Write(Queued { token, insert, job }))
            .await
            .map_err(|_| StoreError::unavailable("the store is closed"))?;
        answered
            .await
            .map_err(|_| StoreError::internal("the write was not run"))?
    }

    /// Commits what is queued, then stops the writer.
    pub(super) async fn close(&self) {
        let (done, stopped) = oneshot::channel();
        if self.queue.send(Message::Close(done)).await.is_ok() {
            let _ = stopped.await;
        }
    }
}

async fn run(
    mut connection: PoolConnection<Sqlite>,
    mut inbox: mpsc::Receiver<Message>,
    stats: Arc<WriteStats>,
    cache: Arc<UserCache>,
    clock: SharedClock,
) {
    let mut closing = None;
    while closing.is_none() {
        let Some(first) = inbox.recv().await else {
            break;
        };
        let mut batch = Vec::new();
        match first {
            Message::Write(job) => batch.push(job),
            Message::Close(done) => closing = Some(done),
        }
        // Take whatever else is waiting, up to a batch; after a close, take everything.
        while closing.is_some() || batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(Message::Write(job)) => batch.push(job),
                Ok(Message::Close(done)) => closing = Some(done),
                Err(_) => break,
            }
            if closing.is_some() && batch.len() >= MAX_BATCH {
                let batch = std::mem::take(&mut batch);
                commit_batch(&mut connection, batch, &stats, &cache, &clock).await;
            }
        }
        if !batch.is_empty() {
            commit_batch(&mut connection, batch, &stats, &cache, &clock).await;
        }
    }
    inbox.close();
    drop(connection);
    if let Some(done) = closing {
        let _ = done.send(());
    }
    tracing::debug!("writer stopped");
}

async fn commit_batch(
    conn: &mut SqliteConnection,
    mut batch: Vec<Queued>,
    stats: &WriteStats,
    cache: &UserCache,
    clock: &SharedClock,
) {
    let size = batch.len();
    let started = std::time::Instant::now();
    let mut finished = Vec::with_capacity(size);
    let mut pending = Batch::default();
    let outcome = async {
        conn.execute("BEGIN IMMEDIATE").await?;
        let keys: Vec<&TokenKey> = batch.iter().filter_map(|q| q.token.as_ref()).collect();
        pending.prefetch(&mut *conn, &keys, clock.now()).await?;
        pending.insert_ahead(&mut *conn, &mut batch).await?;
        for queued in batch {
            let done = (queued.job)(&mut *conn, &mut pending).await;
            let fatal = done.fatal;
            finished.push(done);
            if fatal {
                // The transaction may be gone: stop, roll back, and fail the batch. Writes not
                // yet run are answered "not run" when their jobs are dropped.
                return Err(sqlx::Error::Protocol("a write failed fatally".into()));
            }
        }
        pending.flush(&mut *conn).await?;
        conn.execute("COMMIT").await?;
        Ok::<_, sqlx::Error>(())
    }
    .await;
    let batch_result = match outcome {
        Ok(()) => {
            stats.batches.fetch_add(1, Ordering::Relaxed);
            stats.writes.fetch_add(size as u64, Ordering::Relaxed);
            stats
                .rows_ahead
                .fetch_add(pending.rows_ahead, Ordering::Relaxed);
            stats.watch.committed(size, started.elapsed());
            if stats.unwritable.swap(false, Ordering::Relaxed) {
                tracing::info!("the database takes writes again");
            }
            Ok(())
        }
        Err(error) => {
            let unwritable = is_unwritable(&error) || finished.iter().any(|f| f.unwritable);
            let reason = error_chain(&error);
            tracing::error!(
                error = %reason,
                size,
                unwritable,
                "a write batch failed; none of it took effect"
            );
            stats.unwritable.store(unwritable, Ordering::Relaxed);
            // Leave no transaction open; there may be none if BEGIN itself failed.
            let _ = conn.execute("ROLLBACK").await;
            Err(BatchFailure {
                reason: Arc::from(reason),
                unwritable,
            })
        }
    };
    // Before any write of the batch is answered: no stale read after an acknowledgement.
    cache.invalidate(&pending.touched);
    for done in finished {
        (done.deliver)(batch_result.clone());
    }
}

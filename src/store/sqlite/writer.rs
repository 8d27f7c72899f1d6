//! The single writer: one task owns the one write connection and commits whatever writes are
//! waiting as one transaction ("group commit"), so that a durable commit (an fsync of the WAL) is
//! shared by every write in the batch.
//!
//! Each write runs inside its own savepoint: a write that fails (a duplicate email, a reused
//! token) is rolled back alone and answered alone, and its batch-mates commit. Every write is
//! answered only after its batch has committed; if the commit itself fails, every write of the
//! batch is answered with that failure and none took effect. On shutdown the writes already
//! queued are committed and answered before the writer stops; later ones are refused.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::pool::PoolConnection;
use sqlx::{Executor, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use crate::service::idempotency::error_chain;
use crate::store::StoreError;

/// How many writes one transaction takes at most.
const MAX_BATCH: usize = 512;
/// How many writes may wait for the writer before callers wait to enqueue.
const QUEUE: usize = 4096;

type JobFuture<'c> = Pin<Box<dyn Future<Output = Finished> + Send + 'c>>;
type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> JobFuture<'c> + Send>;
type Deliver = Box<dyn FnOnce(Result<(), Arc<str>>) + Send>;

/// A write's own outcome, waiting for the outcome of its batch.
struct Finished {
    succeeded: bool,
    deliver: Deliver,
}

enum Message {
    Write(Job),
    Close(oneshot::Sender<()>),
}

/// Counts of what the writer committed (for operators, the benchmark and tests).
#[derive(Debug, Default)]
pub struct WriteStats {
    batches: AtomicU64,
    writes: AtomicU64,
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

impl Writer {
    pub(super) fn start(connection: PoolConnection<Sqlite>) -> Self {
        let (queue, inbox) = mpsc::channel(QUEUE);
        let stats = Arc::new(WriteStats::default());
        tokio::spawn(run(connection, inbox, stats.clone()));
        Self { queue, stats }
    }

    pub(super) fn stats(&self) -> &WriteStats {
        &self.stats
    }

    /// Runs `write` in the next batch and answers once that batch has committed.
    pub(super) async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> WriteFuture<'c, T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let outcome = write(conn).await;
                Finished {
                    succeeded: outcome.is_ok(),
                    deliver: Box::new(move |batch: Result<(), Arc<str>>| {
                        let _ = answer.send(match batch {
                            Ok(()) => outcome,
                            Err(reason) => Err(StoreError::BatchFailed(reason)),
                        });
                    }),
                }
            })
        });
        self.queue
            .send(Message::Write(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        answered
            .await
            .map_err(|_| StoreError::BatchFailed("the write was not run".into()))?
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
                commit_batch(&mut connection, std::mem::take(&mut batch), &stats).await;
            }
        }
        if !batch.is_empty() {
            commit_batch(&mut connection, batch, &stats).await;
        }
    }
    inbox.close();
    drop(connection);
    if let Some(done) = closing {
        let _ = done.send(());
    }
    tracing::debug!("writer stopped");
}

async fn commit_batch(conn: &mut SqliteConnection, batch: Vec<Job>, stats: &WriteStats) {
    let size = batch.len();
    let mut finished = Vec::with_capacity(size);
    let outcome = async {
        conn.execute("BEGIN IMMEDIATE").await?;
        for job in batch {
            conn.execute("SAVEPOINT write").await?;
            let done = job(&mut *conn).await;
            if !done.succeeded {
                conn.execute("ROLLBACK TO write").await?;
            }
            conn.execute("RELEASE write").await?;
            finished.push(done);
        }
        conn.execute("COMMIT").await?;
        Ok::<_, sqlx::Error>(())
    }
    .await;
    let batch_result = match outcome {
        Ok(()) => {
            stats.batches.fetch_add(1, Ordering::Relaxed);
            stats.writes.fetch_add(size as u64, Ordering::Relaxed);
            Ok(())
        }
        Err(error) => {
            let reason = error_chain(&error);
            tracing::error!(error = %reason, size, "a write batch failed; none of it took effect");
            // Leave no transaction open; there may be none if BEGIN itself failed.
            let _ = conn.execute("ROLLBACK").await;
            Err(Arc::<str>::from(reason))
        }
    };
    for done in finished {
        (done.deliver)(batch_result.clone());
    }
}

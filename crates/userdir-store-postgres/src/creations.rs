//! Creations made by any instance reach every instance's lifecycle task: each instance LISTENs on
//! one connection of its own, and a create is acknowledged only once a NOTIFY sent after its
//! commit has been committed too. If the listening connection drops, sqlx reconnects it; what was
//! sent meanwhile is lost, so the lifecycle task also scans on a timer and nothing waits longer
//! than that.
//!
//! The NOTIFY is not sent in the create's own transaction: PostgreSQL serializes the commits of
//! notifying transactions (one lock, held through each one's WAL flush), which held creates to
//! one durable commit at a time — 5.1k/s where the same transactions without it reached 13k/s
//! (pgbench, 64 clients, on the 2-core machine of the README). Here one announcer per instance
//! sends them, one at a time, each covering every create committed before it was sent.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use userdir_core::store::{Creations, StoreError};

use super::db_error;

/// The channel creates are announced on.
pub(super) const CHANNEL: &str = "userdir_user_created";

/// The longest a create's answer waits for its announcement. Past it the create is answered
/// anyway (it is committed); the other instances' timed scans find its user.
const ANNOUNCE_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(super) struct SharedCreations {
    heard: Arc<Notify>,
    listener: JoinHandle<()>,
    /// How many announcements were asked for, and how many of them are sent.
    asked: watch::Sender<u64>,
    sent: watch::Receiver<u64>,
    announcer: JoinHandle<()>,
}

impl SharedCreations {
    pub(super) async fn listen(pool: &PgPool) -> Result<Self, StoreError> {
        let mut listener = PgListener::connect_with(pool).await.map_err(db_error)?;
        listener.listen(CHANNEL).await.map_err(db_error)?;
        let heard = Arc::new(Notify::new());
        let wake = heard.clone();
        let listener = tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    // One stored permit: creations while nobody waits wake the next wait once.
                    Ok(Some(_)) => wake.notify_one(),
                    // The connection was lost and is re-established by the next call; what was
                    // sent meanwhile is lost, and the timed scan covers it. Tell the task anyway.
                    Ok(None) => wake.notify_one(),
                    Err(error) => {
                        tracing::warn!(
                            error = %userdir_core::report::error_chain(&error),
                            "listening for creations failed; retrying"
                        );
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        let (asked, asking) = watch::channel(0);
        let (sending, sent) = watch::channel(0);
        let announcer = tokio::spawn(announce_each(pool.clone(), asking, sending));
        Ok(Self {
            heard,
            listener,
            asked,
            sent,
            announcer,
        })
    }

    /// Tells every instance's lifecycle task of creations just committed: this instance's at
    /// once, the others' through a NOTIFY, which this waits for (up to `ANNOUNCE_WAIT`).
    pub(super) async fn announce(&self) {
        self.heard.notify_one();
        let mut ticket = 0;
        self.asked.send_modify(|asked| {
            *asked += 1;
            ticket = *asked;
        });
        let mut sent = self.sent.clone();
        let _ = tokio::time::timeout(ANNOUNCE_WAIT, sent.wait_for(|sent| *sent >= ticket)).await;
    }

    pub(super) fn stop(&self) {
        self.listener.abort();
        self.announcer.abort();
    }
}

/// Sends a NOTIFY whenever announcements are asked for: one at a time, each answering every
/// request made before it was sent.
async fn announce_each(
    pool: PgPool,
    mut asking: watch::Receiver<u64>,
    sending: watch::Sender<u64>,
) {
    while asking.changed().await.is_ok() {
        let asked = *asking.borrow_and_update();
        if let Err(error) = sqlx::query!("SELECT pg_notify($1, '')", CHANNEL)
            .execute(&pool)
            .await
        {
            // The creations are committed: the other instances' timed scans find them.
            tracing::warn!(
                error = %userdir_core::report::error_chain(&error),
                "announcing creations failed"
            );
        }
        sending.send_replace(asked);
    }
}

#[async_trait]
impl Creations for SharedCreations {
    async fn created(&self) {
        self.heard.notified().await;
    }
}

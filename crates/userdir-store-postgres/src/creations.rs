//! Creations made by any instance reach every instance's lifecycle task: a create sends a NOTIFY
//! in its transaction (delivered when it commits), and each instance LISTENs on one connection of
//! its own. If that connection drops, sqlx reconnects it; what was sent meanwhile is lost, so the
//! lifecycle task also scans on a timer and nothing waits longer than that.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use userdir_core::store::{Creations, StoreError};

use super::db_error;

/// The channel creates are announced on.
pub(super) const CHANNEL: &str = "userdir_user_created";

#[derive(Debug)]
pub(super) struct SharedCreations {
    heard: Arc<Notify>,
    listener: JoinHandle<()>,
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
        Ok(Self { heard, listener })
    }

    /// This instance's own creates wake its task without waiting for the round trip.
    pub(super) fn signal(&self) {
        self.heard.notify_one();
    }

    pub(super) fn stop(&self) {
        self.listener.abort();
    }
}

#[async_trait]
impl Creations for SharedCreations {
    async fn created(&self) {
        self.heard.notified().await;
    }
}

//! The lifecycle task: promotes users from CREATING to ENABLED once the activation delay has passed.
//!
//! It sleeps until the oldest pending user is due, is woken early by each new user (through the
//! store's `Creations`), looks anyway every 30 seconds when idle, and on start picks up users left
//! CREATING by a crash or restart. Shutdown stops it between two passes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::domain::SharedClock;
use crate::report::error_chain;
use crate::store::{Creations, UserStore};

/// The longest the task sleeps without looking, when nobody is waiting.
const IDLE_SCAN: Duration = Duration::from_secs(30);

/// Pause after a failed pass, so that a broken database is not hammered.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

pub fn spawn_activator(
    store: Arc<dyn UserStore>,
    clock: SharedClock,
    delay: Duration,
    creations: Arc<dyn Creations>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let pause = match activate_due_users(store.as_ref(), &clock, delay).await {
                Ok(pause) => pause,
                Err(error) => {
                    tracing::error!(error = %error_chain(&error), "activating users failed");
                    Some(RETRY_AFTER_FAILURE)
                }
            };
            match pause {
                // Someone is waiting: sleep until the oldest is due. Users created meanwhile are
                // due later, so their wake-ups are not needed (and would cost a pass each).
                Some(pause) => tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => break,
                },
                // Nobody is waiting: sleep until a creation is signalled, and scan now and then
                // anyway, so that a signal lost on its way (another process's, on a shared
                // backend) delays a user by a scan at most.
                None => tokio::select! {
                    _ = creations.created() => {}
                    _ = tokio::time::sleep(IDLE_SCAN) => {}
                    _ = shutdown.changed() => break,
                },
            }
        }
        tracing::debug!("activator stopped");
    })
}

/// One pass: enables every user that is due, then tells how long until the next one is (`None`:
/// nobody is waiting, sleep until woken).
async fn activate_due_users(
    store: &dyn UserStore,
    clock: &SharedClock,
    delay: Duration,
) -> Result<Option<Duration>, crate::store::StoreError> {
    let now = clock.now();
    let activated = store.activate_users(now.minus(delay), now).await?;
    if activated > 0 {
        tracing::info!(activated, "users enabled");
    }
    let Some(oldest) = store.oldest_creating().await? else {
        return Ok(None);
    };
    let due = oldest.plus(delay);
    let wait_millis = due
        .as_millis()
        .saturating_sub(clock.now().as_millis())
        .max(0);
    // One extra millisecond: the pass at `due` must see `create_time <= now - delay`.
    Ok(Some(Duration::from_millis(wait_millis.unsigned_abs() + 1)))
}

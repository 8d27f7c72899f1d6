//! Where "now" comes from. The service asks a `Clock` rather than the system, so that tests can
//! move time forward to reach an expiry instead of waiting for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use super::Timestamp;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// A clock shared by every part of one service.
pub type SharedClock = Arc<dyn Clock>;

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The system's clock, moved forward by however much it has been advanced. Time keeps running, so
/// everything that waits on real time (timeouts, background tasks) still works while a test jumps
/// past an expiry.
#[derive(Debug, Default)]
pub struct AdvancingClock {
    ahead_millis: AtomicI64,
}

impl AdvancingClock {
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.ahead_millis.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for AdvancingClock {
    fn now(&self) -> Timestamp {
        Timestamp::now().plus(Duration::from_millis(
            self.ahead_millis.load(Ordering::SeqCst).unsigned_abs(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advancing_clock_moves_by_what_it_is_advanced() {
        let clock = AdvancingClock::default();
        let before = SystemClock.now();
        clock.advance(Duration::from_secs(3600));
        let after = clock.now().as_millis() - before.as_millis();
        assert!((3_600_000..3_660_000).contains(&after), "{after}");
    }
}

//! Failed authentications cost an attacker nothing but may cost the server a durable audit entry
//! each. So each is recorded on its own only within two budgets — per client address, and across
//! all addresses — and past them only counted, in memory, to be written as one summary entry per
//! address (see `AuditService::write_summaries`). The database's growth from failures is then
//! bounded by the budgets' rates, however many requests arrive.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::Timestamp;

/// Addresses counted separately between two summaries; failures from further ones are counted
/// together, so that the tally's memory is bounded too.
const MAX_TALLIED_ADDRESSES: usize = 4096;

/// What to do with one failed authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Answer it as it failed and record it in the audit trail.
    Record,
    /// Only count it; `limited`: its address is over its budget, so answer 429.
    Count { limited: bool },
}

/// The failures counted for one address (or, with no address, for all the others) since the last
/// summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub first: Timestamp,
    pub last: Timestamp,
}

pub struct FailedAuthentications {
    per_client: DefaultKeyedRateLimiter<IpAddr>,
    recorded: DefaultDirectRateLimiter,
    tally: Mutex<HashMap<Option<IpAddr>, Tally>>,
}

impl FailedAuthentications {
    /// `per_client_per_minute` failures per address and `recorded_per_second` in all are
    /// recorded one by one (each also as a burst); 0 counts as 1.
    pub fn new(per_client_per_minute: u32, recorded_per_second: u32) -> Self {
        let at_least_one = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            per_client: RateLimiter::keyed(Quota::per_minute(at_least_one(per_client_per_minute))),
            recorded: RateLimiter::direct(Quota::per_second(at_least_one(recorded_per_second))),
            tally: Mutex::new(HashMap::new()),
        }
    }

    /// Charges one failure from `client` (unknown if `None`).
    pub fn charge(&self, client: Option<IpAddr>, now: Timestamp) -> Verdict {
        let client = client.map(network_of);
        let within_client = client.is_none_or(|c| self.per_client.check_key(&c).is_ok());
        if within_client && self.recorded.check().is_ok() {
            return Verdict::Record;
        }
        self.count(client, now);
        Verdict::Count {
            limited: !within_client,
        }
    }

    fn count(&self, client: Option<IpAddr>, now: Timestamp) {
        // A poisoned lock only means another thread panicked mid-count; the counts stay usable.
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        let key = if tally.len() < MAX_TALLIED_ADDRESSES || tally.contains_key(&client) {
            client
        } else {
            None
        };
        tally
            .entry(key)
            .and_modify(|t| {
                t.count += 1;
                t.last = now;
            })
            .or_insert(Tally {
                count: 1,
                first: now,
                last: now,
            });
    }

    /// The counts since the last call, which start again from nothing.
    pub fn take_tally(&self) -> Vec<(Option<IpAddr>, Tally)> {
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken: Vec<_> = tally.drain().collect();
        taken.sort_by_key(|(_, t)| t.first.as_millis());
        taken
    }

    /// Forgets the budgets of addresses that have recovered, so that many addresses seen once
    /// do not hold memory for good.
    pub fn forget_recovered(&self) {
        self.per_client.retain_recent();
        self.per_client.shrink_to_fit();
    }
}

/// One budget per IPv4 address, and per /64 for IPv6: a single IPv6 host usually holds a whole
/// /64 and could otherwise take a fresh budget for every request.
fn network_of(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn an_address_over_its_budget_is_limited_and_counted_others_are_not() {
        let failures = FailedAuthentications::new(3, 1000);
        let attacker: IpAddr = "192.0.2.1".parse().expect("ip");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..3 {
            assert_eq!(failures.charge(Some(attacker), at(1)), Verdict::Record);
        }
        for ms in 2..102 {
            assert_eq!(
                failures.charge(Some(attacker), at(ms)),
                Verdict::Count { limited: true }
            );
        }
        assert_eq!(failures.charge(Some(other), at(200)), Verdict::Record);
        let tally = failures.take_tally();
        assert_eq!(
            tally,
            vec![(
                Some(attacker),
                Tally {
                    count: 100,
                    first: at(2),
                    last: at(101)
                }
            )]
        );
        assert!(failures.take_tally().is_empty(), "taken means gone");
    }

    #[test]
    fn past_the_global_budget_failures_are_counted_but_not_limited() {
        let failures = FailedAuthentications::new(1000, 2);
        let verdicts: Vec<Verdict> = (0..5u8)
            .map(|i| failures.charge(Some(IpAddr::from([198, 51, 100, i])), at(1)))
            .collect();
        assert_eq!(&verdicts[..2], &[Verdict::Record, Verdict::Record]);
        assert!(
            verdicts[2..]
                .iter()
                .all(|v| *v == Verdict::Count { limited: false })
        );
    }

    #[test]
    fn an_ipv6_host_has_one_budget_for_its_whole_64() {
        let failures = FailedAuthentications::new(1, 1000);
        let first: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let second: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        assert_eq!(failures.charge(Some(first), at(1)), Verdict::Record);
        assert_eq!(
            failures.charge(Some(second), at(2)),
            Verdict::Count { limited: true }
        );
    }

    #[test]
    fn the_tally_keeps_bounded_memory_under_many_addresses() {
        let failures = FailedAuthentications::new(1, 1);
        for i in 0..(MAX_TALLIED_ADDRESSES as u32 + 500) {
            failures.charge(Some(IpAddr::from(i.to_be_bytes())), at(1));
        }
        let tally = failures.take_tally();
        assert!(tally.len() <= MAX_TALLIED_ADDRESSES + 1);
        let total: u64 = tally.iter().map(|(_, t)| t.count).sum();
        assert_eq!(total, u64::from(MAX_TALLIED_ADDRESSES as u32 + 500) - 1);
    }
}

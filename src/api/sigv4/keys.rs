//! Derived signing keys, kept per access key as the SDKs keep them: the four HMACs that turn a
//! secret into the key for one day, region and service are computed once, not on every request.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::SystemTime;

use subtle::ConstantTimeEq;

/// Beyond this many access keys (each set of temporary credentials has its own) the cache starts
/// afresh rather than grow.
const MOST_KEYS: usize = 10_000;

#[derive(Debug, Default)]
pub struct SigningKeys {
    keys: RwLock<HashMap<String, Derived>>,
}

#[derive(Debug)]
struct Derived {
    secret: String,
    date: String,
    region: String,
    key: [u8; 32],
}

impl SigningKeys {
    /// The signing key of `secret` for the scope's day and region, derived by aws-sigv4 the first
    /// time it is needed.
    pub fn get(
        &self,
        access_key_id: &str,
        secret: &str,
        date: &str,
        region: &str,
        service: &str,
        time: SystemTime,
    ) -> [u8; 32] {
        if let Ok(keys) = self.keys.read()
            && let Some(derived) = keys.get(access_key_id)
            && derived.date == date
            && derived.region == region
            && bool::from(derived.secret.as_bytes().ct_eq(secret.as_bytes()))
        {
            return derived.key;
        }
        let mut key = [0u8; 32];
        let fresh = aws_sigv4::sign::v4::generate_signing_key(secret, time, region, service);
        for (byte, derived) in key.iter_mut().zip(fresh.as_ref()) {
            *byte = *derived;
        }
        if let Ok(mut keys) = self.keys.write() {
            if keys.len() >= MOST_KEYS {
                keys.clear();
            }
            keys.insert(
                access_key_id.to_owned(),
                Derived {
                    secret: secret.to_owned(),
                    date: date.to_owned(),
                    region: region.to_owned(),
                    key,
                },
            );
        }
        key
    }
}

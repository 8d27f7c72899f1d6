//! Passwords: temporary ones issued by ResetUserPassword, argon2id hashing, and the sign-in
//! extension (sign in with email and password; trade a temporary password for a chosen one).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, KeyInit, Mac};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use sha2::Sha256;
use tracing::instrument;

use super::access::{Access, Need};
use super::error::{ServiceError, Subject};
use crate::domain::{
    ApplicationPermission::ManageUsersAndGroups, Caller, ClientToken, Email, Invocation, Password,
    Timestamp, UserId, UserStatus,
};
use crate::service::idempotency::{Fingerprint, TokenPolicy};
use crate::store::{CredentialStore, StoreError, Written};

const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"!#%+-=?@^_";
const TEMPORARY_LENGTH: usize = 16;

/// Makes the temporary password for one reset. It is a function of a server key, the user and a
/// random seed: the seed comes from the OS CSPRNG, and is recorded with the reset's clientToken so
/// that a replay can answer the same password without the password itself ever being stored.
#[derive(Clone)]
pub struct TemporaryPasswords {
    keyed: Hmac<Sha256>,
}

impl TemporaryPasswords {
    pub fn new(key: &[u8; 32]) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(Self {
            keyed: <Hmac<Sha256> as KeyInit>::new_from_slice(key)?,
        })
    }

    pub fn fresh_seed() -> String {
        let mut seed = [0u8; 16];
        rand::rng().fill_bytes(&mut seed);
        hex::encode(seed)
    }

    /// 16 characters with at least one upper case letter, lower case letter, digit and symbol
    /// (look-alike characters left out), which common password policies accept.
    pub fn derive(&self, user: &UserId, seed: &str) -> Password {
        let mut mac = self.keyed.clone();
        mac.update(user.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(seed.as_bytes());
        let mut rng = StdRng::from_seed(mac.finalize().into_bytes().into());
        let all: Vec<u8> = [UPPER, LOWER, DIGITS, SYMBOLS].concat();
        let mut chars: Vec<u8> = [UPPER, LOWER, DIGITS, SYMBOLS]
            .iter()
            .filter_map(|class| class.choose(&mut rng).copied())
            .collect();
        while chars.len() < TEMPORARY_LENGTH {
            if let Some(c) = all.choose(&mut rng) {
                chars.push(*c);
            }
        }
        chars.shuffle(&mut rng);
        Password::generated(chars.into_iter().map(char::from).collect())
    }
}

/// How passwords are hashed: argon2id with the configured cost; salts come from the OS CSPRNG.
/// A stored hash carries the parameters it was made with, so changing the cost leaves every
/// stored password verifiable.
#[derive(Clone)]
pub struct PasswordHashing {
    argon2: Argon2<'static>,
}

impl std::fmt::Debug for PasswordHashing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (memory_kib, iterations) = self.key();
        f.debug_struct("PasswordHashing")
            .field("memory_kib", &memory_kib)
            .field("iterations", &iterations)
            .finish()
    }
}

impl Default for PasswordHashing {
    /// OWASP's recommendation, the crate's default: 19 MiB, two passes, one lane.
    fn default() -> Self {
        Self {
            argon2: Argon2::default(),
        }
    }
}

impl PasswordHashing {
    /// The most memory one hash may take: every concurrent sign-in holds that much.
    pub const MAX_MEMORY_KIB: u32 = 1 << 20;

    /// argon2id using `memory_kib` KiB (at least 8) and `iterations` passes (at least 1), one lane.
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self, String> {
        if memory_kib > Self::MAX_MEMORY_KIB {
            return Err(format!(
                "{memory_kib} KiB is more than the {} KiB allowed",
                Self::MAX_MEMORY_KIB
            ));
        }
        let params = Params::new(memory_kib, iterations, 1, None).map_err(|e| match e {
            argon2::Error::MemoryTooLittle => {
                format!(
                    "{memory_kib} KiB is less than argon2's minimum of {} KiB",
                    Params::MIN_M_COST
                )
            }
            argon2::Error::TimeTooSmall => "at least 1 iteration is needed".to_owned(),
            other => other.to_string(),
        })?;
        Ok(Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        })
    }

    /// Whether the cost is below the least OWASP recommends for argon2id (its table trades
    /// memory for passes from 46 MiB x 1 to 7 MiB x 5).
    pub fn below_recommendation(&self) -> bool {
        let params = self.argon2.params();
        u64::from(params.m_cost()) * u64::from(params.t_cost()) < 7 * 1024 * 5
    }

    fn key(&self) -> (u32, u32) {
        let params = self.argon2.params();
        (params.m_cost(), params.t_cost())
    }

    pub fn hash(&self, password: &Password) -> Result<String, ServiceError> {
        self.argon2
            .hash_password(password.expose().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| ServiceError::Internal(format!("hashing a password failed: {e}")))
    }

    /// Checks `password` against `hash` with the parameters recorded in `hash`.
    pub fn verify(&self, hash: &str, password: &Password) -> bool {
        PasswordHash::new(hash).is_ok_and(|parsed| {
            self.argon2
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok()
        })
    }

    /// The hash a sign-in for an email without a password is verified against, so that it takes
    /// as long as one with a password: of a random password nobody knows, at this cost. Made once
    /// per process and cost (every server in the process shares it; tests start hundreds), so
    /// that no server pays the hashing at its start.
    fn decoy(&self) -> Result<Arc<str>, ServiceError> {
        /// (memory KiB, passes) and the decoy hashed at that cost.
        type Decoys = Vec<((u32, u32), Arc<str>)>;
        static DECOYS: Mutex<Decoys> = Mutex::new(Vec::new());
        let key = self.key();
        let mut decoys = DECOYS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, hash)) = decoys.iter().find(|(made_for, _)| *made_for == key) {
            return Ok(hash.clone());
        }
        let hash: Arc<str> = self
            .hash(&Password::generated(TemporaryPasswords::fresh_seed()))?
            .into();
        decoys.push((key, hash.clone()));
        Ok(hash)
    }
}

/// Hashing is deliberately slow: keep it off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ServiceError::Internal(format!("password work failed: {e}")))
}

#[derive(Debug, Clone)]
pub struct SignInSettings {
    pub temporary_password_ttl: Duration,
    /// Attempts per minute for one email address (and the burst allowed).
    pub attempts_per_email_per_minute: u32,
    /// Attempts per minute from one client address.
    pub attempts_per_client_per_minute: u32,
    pub hashing: PasswordHashing,
}

/// Who signed in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user_id: UserId,
    pub at: Timestamp,
}

#[derive(Clone)]
pub struct PasswordService {
    store: Arc<dyn CredentialStore>,
    access: Access,
    tokens: TokenPolicy,
    temporary: TemporaryPasswords,
    settings: SignInSettings,
    per_email: Arc<DefaultKeyedRateLimiter<String>>,
    per_client: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// Verified against when the email has no password, so that failures take the same time.
    decoy_hash: Arc<str>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl PasswordService {
    pub fn new(
        store: Arc<dyn CredentialStore>,
        access: Access,
        tokens: TokenPolicy,
        temporary: TemporaryPasswords,
        settings: SignInSettings,
    ) -> Result<Self, ServiceError> {
        let decoy_hash = settings.hashing.decoy()?;
        Ok(Self {
            store,
            access,
            tokens,
            temporary,
            per_email: Arc::new(RateLimiter::keyed(per_minute(
                settings.attempts_per_email_per_minute,
            ))),
            per_client: Arc::new(RateLimiter::keyed(per_minute(
                settings.attempts_per_client_per_minute,
            ))),
            settings,
            decoy_hash,
        })
    }

    /// ResetUserPassword: a fresh temporary password, valid for the configured time; any earlier
    /// password stops working at once.
    #[instrument(skip_all, fields(user_id = %user))]
    pub async fn reset_password(
        &self,
        invocation: &Invocation,
        user: &UserId,
        token: Option<ClientToken>,
    ) -> Result<Password, ServiceError> {
        const OPERATION: &str = "ResetUserPassword";
        self.access
            .require(invocation, Need::Permission(ManageUsersAndGroups))
            .await?;
        let ctx = self
            .tokens
            .context(invocation, OPERATION, Some(user.as_str()), token, || {
                Fingerprint::default().member("userId", Some(user.as_str()))
            });
        let now = ctx.audit.time;
        let seed = TemporaryPasswords::fresh_seed();
        let password = self.temporary.derive(user, &seed);
        let hash = {
            let password = password.clone();
            let hashing = self.settings.hashing.clone();
            blocking(move || hashing.hash(&password)).await??
        };
        let written = self
            .store
            .set_temporary_password(
                user,
                &hash,
                now.plus(self.settings.temporary_password_ttl),
                now,
                &seed,
                &ctx,
            )
            .await
            .map_err(|e| Subject::new(OPERATION).user(user).error(e))?;
        Ok(match written {
            Written::Applied(_) => password,
            Written::Replayed(first_seed) => self.temporary.derive(user, &first_seed),
        })
    }

    /// Forgets the sign-in budgets of emails and addresses that have recovered: a caller trying
    /// a fresh email each time would otherwise grow them for good.
    pub fn forget_recovered(&self) {
        self.per_email.retain_recent();
        self.per_email.shrink_to_fit();
        self.per_client.retain_recent();
        self.per_client.shrink_to_fit();
    }

    fn throttle(&self, email: &Email, client: Option<IpAddr>) -> Result<(), ServiceError> {
        let now = DefaultClock::default().now();
        let wait = |not_until: governor::NotUntil<_>| ServiceError::Throttled {
            retry_after: not_until.wait_time_from(now),
        };
        self.per_email
            .check_key(&email.as_str().to_ascii_lowercase())
            .map_err(wait)?;
        if let Some(client) = client {
            self.per_client.check_key(&client).map_err(wait)?;
        }
        Ok(())
    }

    /// Checks email and password. Every failure that could tell whether the email exists takes
    /// one argon2 verification and answers the same error.
    async fn authenticate(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<crate::store::StoredPassword, ServiceError> {
        let stored = self
            .store
            .password_for(email)
            .await
            .map_err(|e| Subject::new("SignIn").error(e))?;
        let hash = stored
            .as_ref()
            .map_or_else(|| self.decoy_hash.to_string(), |s| s.hash.clone());
        let offered = password.clone();
        let hashing = self.settings.hashing.clone();
        let matches = blocking(move || hashing.verify(&hash, &offered)).await?;
        let now = self.tokens.clock.now();
        match stored {
            Some(stored)
                if matches
                    && !(stored.temporary && stored.expires_at.is_some_and(|t| t <= now)) =>
            {
                Ok(stored)
            }
            _ => Err(ServiceError::SignInFailed),
        }
    }

    /// A sign-in's write is made by the user who proved its password.
    fn user_context(
        &self,
        request_id: &str,
        operation: &'static str,
        user: &UserId,
    ) -> crate::store::WriteContext {
        let invocation = Invocation {
            caller: Caller::User(user.clone()),
            request_id: request_id.to_owned(),
        };
        self.tokens.context(
            &invocation,
            operation,
            Some(user.as_str()),
            None,
            Fingerprint::default,
        )
    }

    fn require_enabled(status: UserStatus) -> Result<(), ServiceError> {
        match status {
            UserStatus::Enabled => Ok(()),
            other => Err(ServiceError::SignInNotAllowed(other)),
        }
    }

    /// Signs in with a permanent password and records lastLoginTime.
    #[instrument(skip_all)]
    pub async fn sign_in(
        &self,
        request_id: &str,
        email: &Email,
        password: &Password,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, ServiceError> {
        self.throttle(email, client)?;
        let stored = self.authenticate(email, password).await?;
        Self::require_enabled(stored.status)?;
        if stored.temporary {
            return Err(ServiceError::PasswordChangeRequired);
        }
        let ctx = self.user_context(request_id, "SignIn", &stored.user_id);
        let at = ctx.audit.time;
        self.store
            .record_sign_in(&stored.user_id, &ctx)
            .await
            .map_err(|e| Subject::new("SignIn").user(&stored.user_id).error(e))?;
        Ok(SignedIn {
            user_id: stored.user_id,
            at,
        })
    }

    /// Replaces the current (possibly temporary) password with a chosen one, which signs the user
    /// in. A temporary password works for this once.
    #[instrument(skip_all)]
    pub async fn change_password(
        &self,
        request_id: &str,
        email: &Email,
        current: &Password,
        chosen: &Password,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, ServiceError> {
        self.throttle(email, client)?;
        let stored = self.authenticate(email, current).await?;
        Self::require_enabled(stored.status)?;
        let new_hash = {
            let chosen = chosen.clone();
            let hashing = self.settings.hashing.clone();
            blocking(move || hashing.hash(&chosen)).await??
        };
        let ctx = self.user_context(request_id, "ChangePassword", &stored.user_id);
        let at = ctx.audit.time;
        match self
            .store
            .replace_password(&stored.user_id, &stored.hash, &new_hash, &ctx)
            .await
        {
            Ok(()) => Ok(SignedIn {
                user_id: stored.user_id,
                at,
            }),
            // Someone used the same (temporary) password first.
            Err(StoreError::PasswordChanged) => Err(ServiceError::SignInFailed),
            Err(e) => Err(Subject::new("ChangePassword")
                .user(&stored.user_id)
                .error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_passwords_mix_every_class_and_fit_the_model() {
        let generator = TemporaryPasswords::new(&[3; 32]).unwrap();
        let user = UserId::generate();
        for _ in 0..200 {
            let password = generator.derive(&user, &TemporaryPasswords::fresh_seed());
            let text = password.expose();
            assert!(
                Password::parse(text).is_ok(),
                "{text} fits the model's Password shape"
            );
            assert_eq!(text.len(), TEMPORARY_LENGTH);
            for class in [UPPER, LOWER, DIGITS, SYMBOLS] {
                assert!(
                    text.bytes().any(|b| class.contains(&b)),
                    "{text} lacks a class"
                );
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_password_and_another_seed_another() {
        let generator = TemporaryPasswords::new(&[3; 32]).unwrap();
        let user = UserId::generate();
        let a = generator.derive(&user, "seed-a");
        assert_eq!(a, generator.derive(&user, "seed-a"));
        assert_ne!(a, generator.derive(&user, "seed-b"));
        assert_ne!(a, generator.derive(&UserId::generate(), "seed-a"));
    }

    #[test]
    fn hashes_are_argon2id_at_owasp_cost_by_default_and_verify() {
        let hashing = PasswordHashing::default();
        assert!(!hashing.below_recommendation());
        let password = Password::parse("Temp-Pass-1").unwrap();
        let hash = hashing.hash(&password).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hashing.verify(&hash, &password));
        assert!(!hashing.verify(&hash, &Password::parse("Temp-Pass-2").unwrap()));
    }

    #[test]
    fn a_hash_verifies_at_the_cost_it_was_made_with_whatever_the_cost_now() {
        let cheap = PasswordHashing::new(8, 1).unwrap();
        assert!(cheap.below_recommendation());
        let password = Password::parse("Temp-Pass-1").unwrap();
        let hash = cheap.hash(&password).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{hash}");
        assert!(PasswordHashing::default().verify(&hash, &password));
        let costly = PasswordHashing::default().hash(&password).unwrap();
        assert!(cheap.verify(&costly, &password));
    }

    #[test]
    fn a_cost_out_of_bounds_is_refused_with_the_bound() {
        assert_eq!(
            PasswordHashing::new(7, 1).err().unwrap(),
            "7 KiB is less than argon2's minimum of 8 KiB"
        );
        assert_eq!(
            PasswordHashing::new(8, 0).err().unwrap(),
            "at least 1 iteration is needed"
        );
        assert_eq!(
            PasswordHashing::new(2 << 20, 1).err().unwrap(),
            "2097152 KiB is more than the 1048576 KiB allowed"
        );
    }

    #[test]
    fn decoys_are_made_once_per_cost() {
        let cheap = PasswordHashing::new(8, 1).unwrap();
        let again = PasswordHashing::new(8, 1).unwrap();
        let other = PasswordHashing::new(16, 1).unwrap();
        assert!(Arc::ptr_eq(
            &cheap.decoy().unwrap(),
            &again.decoy().unwrap()
        ));
        let other_decoy = other.decoy().unwrap();
        assert!(other_decoy.starts_with("$argon2id$v=19$m=16,t=1,p=1$"));
        assert!(!Arc::ptr_eq(&cheap.decoy().unwrap(), &other_decoy));
    }
}

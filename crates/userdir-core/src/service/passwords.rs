//! Passwords: temporary ones issued by ResetUserPassword, argon2id hashing, and the sign-in
//! extension (sign in with email and password; trade a temporary password for a chosen one).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
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

/// argon2id with the crate's recommended parameters; salts come from the OS CSPRNG.
pub fn hash_password(password: &Password) -> Result<String, ServiceError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| ServiceError::Internal(format!("hashing a password failed: {e}")))
}

fn verify_password(hash: &str, password: &Password) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok()
    })
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

/// The hash a sign-in for an email without a password is verified against, so that it takes as
/// long as one with a password. Made once per process from a random password nobody knows: every
/// server in the process (tests start hundreds) shares it, and none pays the hashing at its start.
static DECOY_HASH: LazyLock<Result<Arc<str>, String>> = LazyLock::new(|| {
    let decoy = Password::generated(TemporaryPasswords::fresh_seed());
    hash_password(&decoy)
        .map(Arc::from)
        .map_err(|e| e.to_string())
});

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
        let decoy_hash = DECOY_HASH.clone().map_err(ServiceError::Internal)?;
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
            blocking(move || hash_password(&password)).await??
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
        let matches = blocking(move || verify_password(&hash, &offered)).await?;
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
            blocking(move || hash_password(&chosen)).await??
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
    fn hashes_are_argon2id_and_verify() {
        let password = Password::parse("Temp-Pass-1").unwrap();
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, &password));
        assert!(!verify_password(
            &hash,
            &Password::parse("Temp-Pass-2").unwrap()
        ));
    }
}

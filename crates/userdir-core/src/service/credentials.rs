//! Who holds which key: the root key, principal keys from configuration, and temporary credentials
//! issued by GetProgrammaticAccessCredentials.
//!
//! Temporary credentials are derived, not stored: the session token carries the user, the expiry
//! and the user's credential generation under a MAC, and the access key id and secret are HMACs of
//! the token's payload under a server key. Nothing usable is kept in the database, and a forged
//! token fails the MAC. Disabling a user (or taking its API access or principal) moves its
//! generation on, which ends every credential issued before, for good.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tracing::instrument;

use super::access::{Access, Need};
use super::error::{ServiceError, Subject};
use super::idempotency::audit_record;
use crate::domain::{
    ApiAccess, ApplicationPermission, Caller, Invocation, RoleArn, SharedClock, Timestamp, UserId,
    UserStatus, UserType,
};
use crate::store::{AuditStore, UserStore};

const TOKEN_VERSION: &str = "v1";
const TOKEN_MAC_LEN: usize = 16;

/// Why a key was not accepted; each maps to one AWS authentication error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFailure {
    #[error("The security token included in the request is invalid")]
    UnknownKey,
    #[error("The security token included in the request is expired")]
    Expired,
}

/// A long-lived key pair.
#[derive(Clone)]
pub struct KeyPair {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// The secret a request must have been signed with, and who signed it if it verifies.
pub struct SigningKey {
    pub secret: String,
    pub caller: Caller,
    /// Set for temporary credentials: the user must still be allowed API access, under the
    /// credential generation the credentials were issued in.
    session_of: Option<(UserId, i64)>,
}

/// Temporary credentials as issued.
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub duration_minutes: u32,
}

#[derive(Clone)]
pub struct CredentialService {
    root: Option<KeyPair>,
    principals: Arc<HashMap<String, (RoleArn, String)>>,
    sessions: Hmac<Sha256>,
    store: Arc<dyn UserStore>,
    audit: Arc<dyn AuditStore>,
    access: Access,
    environment_id: String,
    clock: SharedClock,
}

impl CredentialService {
    pub fn new(
        root: Option<KeyPair>,
        principals: Vec<(RoleArn, KeyPair)>,
        session_key: &[u8; 32],
        store: Arc<dyn UserStore>,
        audit: Arc<dyn AuditStore>,
        environment_id: String,
        clock: SharedClock,
    ) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(Self {
            root,
            principals: Arc::new(
                principals
                    .into_iter()
                    .map(|(arn, key)| (key.access_key_id, (arn, key.secret_access_key)))
                    .collect(),
            ),
            sessions: <Hmac<Sha256> as KeyInit>::new_from_slice(session_key)?,
            access: Access::new(store.clone()),
            store,
            audit,
            environment_id,
            clock,
        })
    }

    fn tag(&self, purpose: &[u8], payload: &str) -> Vec<u8> {
        let mut mac = self.sessions.clone();
        mac.update(purpose);
        mac.update(b"\0");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn derived_key_id(&self, payload: &str) -> String {
        let tag = self.tag(b"access-key-id", payload);
        format!("ASIA{}", hex::encode_upper(&tag[..8]))
    }

    fn derived_secret(&self, payload: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.tag(b"secret-access-key", payload))
    }

    /// The key a request claiming `access_key_id` (and `session_token`) must be signed with.
    pub fn signing_key(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Result<SigningKey, KeyFailure> {
        if let Some(token) = session_token {
            return self.session_key(access_key_id, token, self.clock.now());
        }
        if let Some(root) = &self.root
            && bool::from(
                root.access_key_id
                    .as_bytes()
                    .ct_eq(access_key_id.as_bytes()),
            )
        {
            return Ok(SigningKey {
                secret: root.secret_access_key.clone(),
                caller: Caller::Root,
                session_of: None,
            });
        }
        if let Some((arn, secret)) = self.principals.get(access_key_id) {
            return Ok(SigningKey {
                secret: secret.clone(),
                caller: Caller::Principal(arn.clone()),
                session_of: None,
            });
        }
        Err(KeyFailure::UnknownKey)
    }

    fn session_key(
        &self,
        access_key_id: &str,
        token: &str,
        now: Timestamp,
    ) -> Result<SigningKey, KeyFailure> {
        let mut parts = token.split('.');
        let (Some(TOKEN_VERSION), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyFailure::UnknownKey);
        };
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| KeyFailure::UnknownKey)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|p| String::from_utf8(p).ok())
            .ok_or(KeyFailure::UnknownKey)?;
        let expected = self.tag(b"session-token", &payload);
        if tag.len() != TOKEN_MAC_LEN || !bool::from(expected[..TOKEN_MAC_LEN].ct_eq(&tag)) {
            return Err(KeyFailure::UnknownKey);
        }
        let session = SessionPayload::parse(&payload).ok_or(KeyFailure::UnknownKey)?;
        if self.derived_key_id(&payload) != access_key_id {
            return Err(KeyFailure::UnknownKey);
        }
        if session.expires <= now.as_millis() {
            return Err(KeyFailure::Expired);
        }
        Ok(SigningKey {
            secret: self.derived_secret(&payload),
            caller: Caller::User(session.user.clone()),
            session_of: Some((session.user, session.generation)),
        })
    }

    /// After the signature verified: temporary credentials stop working at once when their user
    /// is disabled or loses API access, and for good once its credential generation moved on.
    pub async fn confirm(&self, key: &SigningKey) -> Result<(), ServiceError> {
        let Some((user, generation)) = &key.session_of else {
            return Ok(());
        };
        let profile = self
            .store
            .caller_profile(user)
            .await
            .map_err(|e| Subject::new("Authenticate").error(e))?;
        match profile {
            Some(p)
                if p.status == UserStatus::Enabled
                    && p.api_access == ApiAccess::Enabled
                    && p.credential_generation == *generation =>
            {
                Ok(())
            }
            _ => Err(ServiceError::CredentialsRevoked),
        }
    }

    /// GetProgrammaticAccessCredentials: temporary credentials for the user bound to the calling
    /// principal, if that user is ENABLED, has API access and may obtain credentials.
    #[instrument(skip_all)]
    pub async fn issue(
        &self,
        invocation: &Invocation,
        environment_id: &str,
        duration_minutes: Option<u32>,
    ) -> Result<TemporaryCredentials, ServiceError> {
        self.access.require(invocation, Need::Principal).await?;
        let Caller::Principal(arn) = &invocation.caller else {
            return Err(ServiceError::AccessDenied(
                "Only a principal may obtain credentials".into(),
            ));
        };
        if !bool::from(
            environment_id
                .as_bytes()
                .ct_eq(self.environment_id.as_bytes()),
        ) {
            return Err(ServiceError::InvalidEnvironment(format!(
                "environmentId {environment_id} is not this environment"
            )));
        }
        let subject = Subject::new("GetProgrammaticAccessCredentials");
        let users = self
            .store
            .users_of_principal(arn, 2)
            .await
            .map_err(|e| subject.error(e))?;
        let [user] = users.as_slice() else {
            return Err(ServiceError::AccessDenied(format!(
                "{} users are bound to this principal; exactly one must be",
                if users.is_empty() { "No" } else { "Several" }
            )));
        };
        let profile = self
            .store
            .caller_profile(user)
            .await
            .map_err(|e| subject.error(e))?
            .ok_or_else(|| ServiceError::AccessDenied("The bound user no longer exists".into()))?;
        if profile.status != UserStatus::Enabled || profile.api_access != ApiAccess::Enabled {
            return Err(ServiceError::AccessDenied(format!(
                "User {user} must be ENABLED with apiAccess ENABLED (is {} with apiAccess {})",
                profile.status.as_str(),
                profile.api_access.as_str()
            )));
        }
        if profile.user_type == UserType::AppUser
            && !profile
                .permissions
                .contains(ApplicationPermission::GetTemporaryCredentials)
        {
            return Err(ServiceError::AccessDenied(
                "User holds no permission group granting GetTemporaryCredentials".into(),
            ));
        }

        let duration_minutes = duration_minutes.unwrap_or(60);
        let expires = self
            .clock
            .now()
            .plus(Duration::from_secs(u64::from(duration_minutes) * 60));
        let payload = SessionPayload {
            user: user.clone(),
            expires: expires.as_millis(),
            generation: profile.credential_generation,
        }
        .to_string();
        let tag = self.tag(b"session-token", &payload);
        let mut record = audit_record(
            invocation,
            "GetProgrammaticAccessCredentials",
            Some(user.as_str()),
            self.clock.now(),
        );
        record.detail = Some(format!(
            "durationInMinutes={duration_minutes} expiresAt={}",
            expires.as_millis()
        ));
        // Credentials nobody could account for are not handed out.
        self.audit
            .append_audit(&record, "SUCCESS")
            .await
            .map_err(|e| subject.error(e))?;
        Ok(TemporaryCredentials {
            access_key_id: self.derived_key_id(&payload),
            secret_access_key: self.derived_secret(&payload),
            session_token: format!(
                "{TOKEN_VERSION}.{}.{}",
                URL_SAFE_NO_PAD.encode(&payload),
                URL_SAFE_NO_PAD.encode(&tag[..TOKEN_MAC_LEN])
            ),
            duration_minutes,
        })
    }
}

/// What a session token vouches for: `user:expiresMillis:generation`.
struct SessionPayload {
    user: UserId,
    expires: i64,
    generation: i64,
}

impl SessionPayload {
    fn parse(payload: &str) -> Option<Self> {
        let mut parts = payload.split(':');
        let (Some(user), Some(expires), Some(generation), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        Some(Self {
            user: UserId::parse(user).ok()?,
            expires: expires.parse().ok()?,
            generation: generation.parse().ok()?,
        })
    }
}

impl std::fmt::Display for SessionPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.user, self.expires, self.generation)
    }
}

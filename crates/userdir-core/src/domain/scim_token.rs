//! The bearer tokens SCIM clients (identity providers) present: named by the operator, shown once
//! when made, kept only as a hash. A token names its row by id and proves itself with a 256-bit
//! random secret, so the check is one lookup and a constant-time comparison; a secret that strong
//! needs no slow hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use ulid::Ulid;

use super::rule::{Violation, redacted_debug};

/// An operator's name for a token (e.g. `okta`, `entra-prod`): 1–64 letters, digits, `.`, `_` and
/// `-`, starting with a letter or digit. Unique regardless of case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScimTokenName(String);

impl ScimTokenName {
    pub fn parse(value: &str) -> Result<Self, Violation> {
        let length = value.chars().count();
        if !(1..=64).contains(&length) {
            return Err(Violation::new("A token name must have 1 to 64 characters"));
        }
        let mut chars = value.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !(first_ok && rest_ok) {
            return Err(Violation::new(
                "A token name must be letters, digits, '.', '_' and '-', starting with a letter or digit",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What every token starts with, so that one found in a log or a repository is recognisable (and
/// secret scanners can be taught it).
const PREFIX: &str = "udscim";
const SECRET_BYTES: usize = 32;

/// A token as made and as presented: `udscim_<id>_<secret>`, the id a ULID, the secret 32 random
/// bytes in unpadded base64url. Not comparable: a secret is checked only by `proves`, in constant
/// time.
#[derive(Clone)]
pub struct ScimToken {
    id: String,
    secret: [u8; SECRET_BYTES],
}

redacted_debug!(ScimToken);

impl ScimToken {
    pub fn generate() -> Self {
        let mut secret = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        Self {
            id: Ulid::generate().to_string(),
            secret,
        }
    }

    /// Reads a presented token; `None` for anything not shaped like one (which is then refused
    /// without a lookup).
    pub fn parse(presented: &str) -> Option<Self> {
        let mut parts = presented.splitn(3, '_');
        let (prefix, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
        // The id as this service writes it (upper case, no overflow), or no lookup at all.
        if prefix != PREFIX || Ulid::from_string(id).ok()?.to_string() != id {
            return None;
        }
        let secret: [u8; SECRET_BYTES] = URL_SAFE_NO_PAD.decode(secret).ok()?.try_into().ok()?;
        Some(Self {
            id: id.to_owned(),
            secret,
        })
    }

    /// The row it names.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What is stored in place of the secret.
    pub fn secret_hash(&self) -> [u8; 32] {
        Sha256::digest(self.secret).into()
    }

    /// Whether the secret is the one whose hash was stored, compared in constant time.
    pub fn proves(&self, stored_hash: &[u8]) -> bool {
        self.secret_hash().ct_eq(stored_hash).into()
    }

    /// The text handed to the operator, once.
    pub fn reveal(&self) -> String {
        format!(
            "{PREFIX}_{}_{}",
            self.id,
            URL_SAFE_NO_PAD.encode(self.secret)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revealed_token_reads_back_and_proves_itself() {
        let token = ScimToken::generate();
        let text = token.reveal();
        assert!(text.starts_with("udscim_"));
        assert_eq!(text.len(), 6 + 1 + 26 + 1 + 43);
        let presented = ScimToken::parse(&text).expect("parses");
        assert_eq!(presented.reveal(), text);
        assert_eq!(presented.id(), token.id());
        assert!(presented.proves(&token.secret_hash()));
        assert!(!ScimToken::generate().proves(&token.secret_hash()));
        assert!(!presented.proves(&[0u8; 31]), "a hash of another length");
    }

    #[test]
    fn what_is_not_a_token_is_refused_before_any_lookup() {
        let good = ScimToken::generate().reveal();
        let (head, secret) = good.split_at(good.len() - 43);
        for bad in [
            String::new(),
            "udscim".into(),
            format!("xxscim{}", &good[6..]),
            format!("{head}{}", &secret[1..]),
            format!("{head}{secret}A"),
            format!("{head}{}!", &secret[..42]),
            format!("udscim_01ARZ3NDEKTSV4RRFFQ69G5FA_{secret}"),
            format!(
                "udscim_{}_{secret}",
                ScimToken::generate().id().to_lowercase()
            ),
            format!("udscim_ZZZZZZZZZZZZZZZZZZZZZZZZZZ_{secret}"),
            good.replace('_', "-"),
        ] {
            assert!(ScimToken::parse(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let token = ScimToken::generate();
        let debug = format!("{token:?}");
        assert!(!debug.contains(&token.reveal()[34..]));
        assert_eq!(debug, "ScimToken(<redacted>)");
    }

    #[test]
    fn names_are_short_plain_words() {
        for ok in ["okta", "entra-prod", "a", "IdP_1.test", &"x".repeat(64)] {
            assert!(ScimTokenName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-okta", ".x", "with space", "é", "a/b", &"x".repeat(65)] {
            assert!(ScimTokenName::parse(bad).is_err(), "{bad}");
        }
    }
}

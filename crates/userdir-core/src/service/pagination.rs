//! Pagination tokens: opaque, versioned and tamper-evident.
//!
//! A token is `1.<payload>.<mac>`: the payload (base64url) names the listing, its scope (the user
//! or group listed) and the last key returned; the MAC is HMAC-SHA256 under a server key, truncated
//! to 128 bits. A forged, truncated or altered token fails the MAC; a token from another listing
//! or scope fails the scope check. Either is a validation error, never a wrong page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::ServiceError;

const VERSION: &str = "1";
const MAC_LEN: usize = 16;
const MAX_TOKEN_LEN: usize = 512;

/// Which listing a token continues.
#[derive(Debug, Clone, Copy)]
pub enum Listing<'a> {
    Users,
    PermissionGroups,
    GroupsOfUser(&'a str),
    MembersOfGroup(&'a str),
    AuditEvents,
}

impl Listing<'_> {
    fn kind_and_scope(&self) -> (&'static str, &str) {
        match self {
            Listing::Users => ("users", ""),
            Listing::PermissionGroups => ("groups", ""),
            Listing::GroupsOfUser(user) => ("groups-of-user", user),
            Listing::MembersOfGroup(group) => ("members-of-group", group),
            Listing::AuditEvents => ("audit-events", ""),
        }
    }
}

#[derive(Clone)]
pub struct PageTokens {
    keyed: Hmac<Sha256>,
}

impl PageTokens {
    pub fn new(key: &[u8; 32]) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(Self {
            keyed: <Hmac<Sha256> as KeyInit>::new_from_slice(key)?,
        })
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.keyed.clone()
    }

    /// The token that continues `listing` after `last_key`.
    pub fn issue(&self, listing: Listing<'_>, last_key: &str) -> String {
        let (kind, scope) = listing.kind_and_scope();
        let payload = URL_SAFE_NO_PAD.encode(format!("{kind}\0{scope}\0{last_key}"));
        let signed = format!("{VERSION}.{payload}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&tag[..MAC_LEN]))
    }

    /// The last key of the previous page, if `token` is genuine and belongs to `listing`.
    pub fn read(&self, token: &str, listing: Listing<'_>) -> Result<String, ServiceError> {
        let invalid = ServiceError::InvalidNextToken;
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid("it is too long"));
        }
        let (signed, tag) = token.rsplit_once('.').ok_or(invalid("it is malformed"))?;
        let (version, payload) = signed.split_once('.').ok_or(invalid("it is malformed"))?;
        if version != VERSION {
            return Err(invalid("its version is unknown"));
        }
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| invalid("it is malformed"))?;
        if tag.len() != MAC_LEN {
            return Err(invalid("it is malformed"));
        }
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        // Constant-time comparison of the truncated tag.
        mac.verify_truncated_left(&tag)
            .map_err(|_| invalid("it was not issued by this server"))?;

        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| invalid("it is malformed"))?;
        let payload = String::from_utf8(payload).map_err(|_| invalid("it is malformed"))?;
        let mut parts = payload.splitn(3, '\0');
        let (Some(kind), Some(scope), Some(last_key)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("it is malformed"));
        };
        if (kind, scope) != listing.kind_and_scope() {
            return Err(invalid("it belongs to another listing"));
        }
        Ok(last_key.to_owned())
    }
}

impl PageTokens {
    /// The key a page continues after: `None` without a token, the parsed key of a genuine one.
    pub fn read_after<T>(
        &self,
        token: Option<&str>,
        listing: Listing<'_>,
        parse: impl Fn(&str) -> Result<T, crate::domain::Violation>,
    ) -> Result<Option<T>, ServiceError> {
        token
            .map(|t| self.read(t, listing))
            .transpose()?
            .map(|key| parse(&key))
            .transpose()
            .map_err(|_| ServiceError::InvalidNextToken("it is malformed"))
    }
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched items: the extra one only tells that more follow.
    pub fn from_fetched(
        mut items: Vec<T>,
        limit: u32,
        tokens: &PageTokens,
        listing: Listing<'_>,
        key_of: impl Fn(&T) -> &str,
    ) -> Self {
        let limit = limit as usize;
        let next_token = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| tokens.issue(listing, key_of(last)))
        } else {
            None
        };
        Self { items, next_token }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> PageTokens {
        PageTokens::new(&[7; 32]).unwrap()
    }

    #[test]
    fn a_token_round_trips_within_its_listing() {
        let token = tokens().issue(Listing::Users, "01ABC");
        assert_eq!(tokens().read(&token, Listing::Users).unwrap(), "01ABC");
    }

    #[test]
    fn forged_truncated_and_foreign_tokens_are_refused() {
        let token = tokens().issue(Listing::GroupsOfUser("U1"), "G9");
        let mut tampered = token.clone().into_bytes();
        tampered[3] ^= 1;
        let cases = [
            String::from_utf8(tampered).unwrap(),
            token[..token.len() - 2].to_owned(),
            format!("2{}", &token[1..]),
            PageTokens::new(&[8; 32])
                .unwrap()
                .issue(Listing::GroupsOfUser("U1"), "G9"),
            "".to_owned(),
            "garbage".to_owned(),
            "1..".to_owned(),
            "x".repeat(600),
        ];
        for bad in cases {
            assert!(
                tokens().read(&bad, Listing::GroupsOfUser("U1")).is_err(),
                "{bad:?}"
            );
        }
        assert!(
            tokens().read(&token, Listing::GroupsOfUser("U2")).is_err(),
            "other scope"
        );
        assert!(
            tokens().read(&token, Listing::Users).is_err(),
            "other listing"
        );
    }
}

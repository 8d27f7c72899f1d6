//! Verification of AWS Signature Version 4 on incoming requests.
//!
//! The request is rebuilt from exactly the headers the client says it signed, signed again with the
//! secret of the claimed key at the claimed time, and the two signatures are compared in constant
//! time. The secret and the expected signature never leave this module.
//!
//! aws-sigv4, the library the AWS SDKs sign with, is the reference: the signing key comes from it
//! (derived once per key and day, as the SDKs cache it, not on every request), and the canonical
//! request is built here the way it builds one, because it offers no way to sign with a derived
//! key; `reference.rs` checks the two against each other on thousands of generated requests. The
//! profile that asked for this: aws-sigv4's `sign` was 137k of 186k instructions per GetUser.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use actix_web::http::header::HeaderMap;
use chrono::{NaiveDate, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

mod canonical;
mod keys;
#[cfg(test)]
mod reference;

pub use canonical::Signed;
use keys::SigningKeys;

/// The names of the headers looked up on every signed request, made once: a name given as text is
/// parsed, and copied to the heap, at every look-up.
pub mod names {
    use actix_web::http::header::HeaderName;

    pub static X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
    pub static X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
    pub static X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");
}

/// The signing name of the FinSpace Data API.
pub const SERVICE: &str = "finspace-api";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The longest access key id accepted (the model's bound for credentials it hands out).
pub const MAX_ACCESS_KEY_ID_CHARS: usize = 255;

/// Why a signature was refused, as the AWS common errors name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureFailure {
    #[error("Missing Authentication Token")]
    Missing,
    #[error("{0}")]
    Incomplete(String),
    #[error("{0}")]
    Invalid(String),
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header, borrowed from it: parsing one
/// allocated a dozen strings per request, a twentieth of a cached GetUser's server CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'h> {
    pub access_key_id: Cow<'h, str>,
    pub date: Cow<'h, str>,
    pub region: Cow<'h, str>,
    pub service: Cow<'h, str>,
    /// The signed header names, lower-cased, as `SignedHeaders` lists them: `;`-separated.
    pub signed_headers: Cow<'h, str>,
    pub signature: Cow<'h, str>,
}

impl<'h> Authorization<'h> {
    pub fn parse(header: &'h str) -> Result<Self, SignatureFailure> {
        let incomplete = |what: &str| {
            SignatureFailure::Incomplete(format!(
                "Authorization header requires {what}. Authorization={}",
                header.chars().take(40).collect::<String>()
            ))
        };
        let rest = header.strip_prefix(ALGORITHM).ok_or_else(|| {
            SignatureFailure::Incomplete(format!("Authorization header must use {ALGORITHM}"))
        })?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed_headers = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {}
            }
        }
        let credential = credential.ok_or_else(|| incomplete("'Credential' parameter"))?;
        let signed_headers =
            signed_headers.ok_or_else(|| incomplete("'SignedHeaders' parameter"))?;
        let signature = signature.ok_or_else(|| incomplete("'Signature' parameter"))?;
        let mut scope = credential.split('/');
        let (
            Some(access_key_id),
            Some(date),
            Some(region),
            Some(service),
            Some("aws4_request"),
            None,
        ) = (
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
        )
        else {
            return Err(incomplete(
                "a Credential of the form <key>/<date>/<region>/<service>/aws4_request",
            ));
        };
        if access_key_id.is_empty() || signature.is_empty() || signed_headers.is_empty() {
            return Err(incomplete("a key, signed headers and a signature"));
        }
        // A claimed key is kept for the audit trail when authentication fails: one longer than
        // any key can be is refused here, before anything of it is kept.
        if access_key_id.chars().count() > MAX_ACCESS_KEY_ID_CHARS {
            return Err(SignatureFailure::Incomplete(format!(
                "The access key id in the Credential is longer than {MAX_ACCESS_KEY_ID_CHARS} \
                 characters"
            )));
        }
        let signed_headers = if signed_headers.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(signed_headers.to_ascii_lowercase())
        } else {
            Cow::Borrowed(signed_headers)
        };
        Ok(Self {
            access_key_id: Cow::Borrowed(access_key_id),
            date: Cow::Borrowed(date),
            region: Cow::Borrowed(region),
            service: Cow::Borrowed(service),
            signed_headers,
            signature: Cow::Borrowed(signature),
        })
    }

    /// The signed header names, lower-cased, in the order listed.
    pub fn signed_headers(&self) -> impl Iterator<Item = &str> {
        self.signed_headers.split(';')
    }
}

/// A request's `X-Amz-Date`, checked against the clock and the credential scope.
pub fn request_time<'h>(
    headers: &'h HeaderMap,
    authorization: &Authorization,
    max_skew: Duration,
    now: SystemTime,
) -> Result<RequestTime<'h>, SignatureFailure> {
    let stamp = headers
        .get(&names::X_AMZ_DATE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            SignatureFailure::Incomplete("The request must carry an X-Amz-Date header".into())
        })?;
    let time = parse_stamp(stamp).ok_or_else(|| {
        SignatureFailure::Incomplete(format!(
            "X-Amz-Date {stamp:?} is not of the form YYYYMMDDTHHMMSSZ"
        ))
    })?;
    if !stamp.starts_with(authorization.date.as_ref()) {
        return Err(SignatureFailure::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from X-Amz-Date: {} != {}",
            authorization.date,
            &stamp[..8.min(stamp.len())]
        )));
    }
    if authorization.service != SERVICE {
        return Err(SignatureFailure::Invalid(format!(
            "Credential should be scoped to correct service: '{SERVICE}'"
        )));
    }
    let skew = match now.duration_since(time) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    if skew > max_skew {
        return Err(SignatureFailure::Invalid(format!(
            "Signature expired: {stamp} is more than {} minutes from the server time",
            max_skew.as_secs() / 60
        )));
    }
    Ok(RequestTime { time, stamp })
}

/// When a request was signed: the time, and the `X-Amz-Date` it was read from.
#[derive(Debug, Clone, Copy)]
pub struct RequestTime<'h> {
    pub time: SystemTime,
    pub stamp: &'h str,
}

/// `YYYYMMDDTHHMMSSZ`, strictly: the one form the signers write, so that the stamp and the time
/// read from it are interchangeable in the string to sign.
fn parse_stamp(stamp: &str) -> Option<SystemTime> {
    let bytes = stamp.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0u32, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(number(0..4)?).ok()?,
        number(4..6)?,
        number(6..8)?,
    )?;
    let time = date.and_hms_opt(number(9..11)?, number(11..13)?, number(13..15)?)?;
    Some(Utc.from_utc_datetime(&time).into())
}

/// Checks signatures, keeping each access key's derived signing key for its day.
#[derive(Debug, Default)]
pub struct Verifier {
    keys: SigningKeys,
}

impl Verifier {
    /// Checks that the request's signature is its signature under `secret`.
    pub fn verify(
        &self,
        request: &Signed<'_>,
        secret: &str,
        time: SystemTime,
    ) -> Result<(), SignatureFailure> {
        let expected = self.signature(request, secret, time)?;
        let mut offered = [0u8; 32];
        let decoded =
            hex::decode_to_slice(request.authorization.signature.as_bytes(), &mut offered).is_ok();
        if decoded && bool::from(expected.ct_eq(&offered)) {
            Ok(())
        } else {
            Err(SignatureFailure::Invalid(MISMATCH.into()))
        }
    }

    /// The signature the request must carry if it was signed with `secret`.
    fn signature(
        &self,
        request: &Signed<'_>,
        secret: &str,
        time: SystemTime,
    ) -> Result<[u8; 32], SignatureFailure> {
        require_signed(request.authorization)?;
        let string_to_sign = request.string_to_sign(SERVICE)?;
        let authorization = request.authorization;
        let key = self.keys.get(
            &authorization.access_key_id,
            secret,
            &authorization.date,
            &authorization.region,
            SERVICE,
            time,
        );
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
            .map_err(|_| SignatureFailure::Invalid("The request cannot be signed".into()))?;
        mac.update(string_to_sign.as_bytes());
        Ok(mac.finalize().into_bytes().into())
    }
}

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.";

fn require_signed(authorization: &Authorization) -> Result<(), SignatureFailure> {
    for required in ["host", "x-amz-date"] {
        if !authorization.signed_headers().any(|h| h == required) {
            return Err(SignatureFailure::Incomplete(format!(
                "The {required} header must be signed"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sdk_authorization_header() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/finspace-api/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=abc123";
        let parsed = Authorization::parse(header).unwrap();
        assert_eq!(parsed.access_key_id, "AKIDEXAMPLE");
        assert_eq!(parsed.date, "20261123");
        assert_eq!(parsed.region, "us-east-1");
        assert_eq!(parsed.service, "finspace-api");
        assert_eq!(
            parsed.signed_headers().collect::<Vec<_>>(),
            ["content-type", "host", "x-amz-date"]
        );
        assert_eq!(parsed.signature, "abc123");
    }

    #[test]
    fn signed_header_names_are_lower_cased() {
        let header = "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/finspace-api/aws4_request, SignedHeaders=Host;X-Amz-Date, Signature=abc123";
        let parsed = Authorization::parse(header).unwrap();
        assert_eq!(
            parsed.signed_headers().collect::<Vec<_>>(),
            ["host", "x-amz-date"]
        );
    }

    #[test]
    fn incomplete_headers_are_refused() {
        for header in [
            "Basic abc",
            "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/finspace-api/aws4_request",
            "AWS4-HMAC-SHA256 Credential=AKID/us-east-1, SignedHeaders=host, Signature=x",
            "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/finspace-api/aws4_request/x, SignedHeaders=host, Signature=x",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=x",
        ] {
            assert!(
                matches!(
                    Authorization::parse(header),
                    Err(SignatureFailure::Incomplete(_))
                ),
                "{header}"
            );
        }
    }
}

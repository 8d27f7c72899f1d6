//! Verification of AWS Signature Version 4 on incoming requests.
//!
//! The canonical request and the signing arithmetic are aws-sigv4's, the library the AWS SDKs sign
//! with: the request is rebuilt from exactly the headers the client says it signed, signed again
//! with the secret of the claimed key at the claimed time, and the two signatures are compared in
//! constant time. The secret and the expected signature never leave this module.

use std::time::{Duration, SystemTime};

use actix_web::http::header::HeaderMap;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use chrono::{NaiveDateTime, TimeZone, Utc};
use subtle::ConstantTimeEq;

/// The signing name of the FinSpace Data API.
pub const SERVICE: &str = "finspace-api";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

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

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl Authorization {
    pub fn parse(header: &str) -> Result<Self, SignatureFailure> {
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
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
            return Err(incomplete(
                "a Credential of the form <key>/<date>/<region>/<service>/aws4_request",
            ));
        };
        if access_key_id.is_empty() || signature.is_empty() || signed_headers.is_empty() {
            return Err(incomplete("a key, signed headers and a signature"));
        }
        Ok(Self {
            access_key_id: (*access_key_id).to_owned(),
            date: (*date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
            signed_headers: signed_headers
                .split(';')
                .map(str::to_ascii_lowercase)
                .collect(),
            signature: signature.to_owned(),
        })
    }
}

/// A request's `X-Amz-Date`, checked against the clock and the credential scope.
pub fn request_time(
    headers: &HeaderMap,
    authorization: &Authorization,
    max_skew: Duration,
    now: SystemTime,
) -> Result<SystemTime, SignatureFailure> {
    let stamp = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            SignatureFailure::Incomplete("The request must carry an X-Amz-Date header".into())
        })?;
    let parsed = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").map_err(|_| {
        SignatureFailure::Incomplete(format!(
            "X-Amz-Date {stamp:?} is not of the form YYYYMMDDTHHMMSSZ"
        ))
    })?;
    let time: SystemTime = Utc.from_utc_datetime(&parsed).into();
    if !stamp.starts_with(&authorization.date) {
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
    Ok(time)
}

/// Checks that `authorization.signature` is the signature of this request under `secret`.
#[allow(clippy::too_many_arguments)]
pub fn verify(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    authorization: &Authorization,
    secret: &str,
    session_token: Option<&str>,
    time: SystemTime,
) -> Result<(), SignatureFailure> {
    for required in ["host", "x-amz-date"] {
        if !authorization.signed_headers.iter().any(|h| h == required) {
            return Err(SignatureFailure::Incomplete(format!(
                "The {required} header must be signed"
            )));
        }
    }
    let mut signed = Vec::with_capacity(authorization.signed_headers.len());
    for name in &authorization.signed_headers {
        let values: Vec<&str> = headers
            .get_all(name.as_str())
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(SignatureFailure::Incomplete(format!(
                "Signed header {name} is missing"
            )));
        }
        signed.push((name.as_str(), values.join(",")));
    }

    let identity: Identity = aws_credential_types::Credentials::new(
        authorization.access_key_id.clone(),
        secret.to_owned(),
        session_token.map(str::to_owned),
        None,
        "userdir",
    )
    .into();
    let mut settings = SigningSettings::default();
    // Sign exactly what the client signed: nothing excluded beyond its own choice.
    settings.excluded_headers = Some(Vec::new());
    let invalid = |e: &dyn std::fmt::Display| {
        SignatureFailure::Invalid(format!("The request cannot be signed: {e}"))
    };
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&authorization.region)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| invalid(&e))?
        .into();
    let signable = SignableRequest::new(
        method,
        path_and_query,
        signed.iter().map(|(name, value)| (*name, value.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| invalid(&e))?;
    let output = sign(signable, &params).map_err(|e| invalid(&e))?;
    let matches: bool = output
        .signature()
        .as_bytes()
        .ct_eq(authorization.signature.as_bytes())
        .into();
    if matches {
        Ok(())
    } else {
        Err(SignatureFailure::Invalid(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
                .into(),
        ))
    }
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
            parsed.signed_headers,
            ["content-type", "host", "x-amz-date"]
        );
        assert_eq!(parsed.signature, "abc123");
    }

    #[test]
    fn incomplete_headers_are_refused() {
        for header in [
            "Basic abc",
            "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/finspace-api/aws4_request",
            "AWS4-HMAC-SHA256 Credential=AKID/us-east-1, SignedHeaders=host, Signature=x",
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

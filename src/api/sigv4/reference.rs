//! The cross-check: on thousands of generated requests, the signature our verifier expects is the
//! signature aws-sigv4 computes for the same request, the same headers and the same secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::Uri;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{Authorization, SERVICE, Signed, Verifier};

/// What aws-sigv4 signs for a received request: exactly the headers the client listed, with
/// their values joined, at the claimed time (the way this service verified before it built the
/// canonical request itself).
fn reference_signature(request: &Signed<'_>, secret: &str, time: SystemTime) -> Option<String> {
    let auth = request.authorization;
    let mut signed = Vec::new();
    for name in auth.signed_headers() {
        let values: Vec<&str> = request
            .headers
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return None;
        }
        signed.push((name, values.join(",")));
    }
    let identity: Identity = aws_credential_types::Credentials::new(
        auth.access_key_id.to_string(),
        secret.to_owned(),
        request.session_token.map(str::to_owned),
        None,
        "reference",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = Some(Vec::new());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&auth.region)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .ok()?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.path_and_query,
        signed.iter().map(|(name, value)| (*name, value.as_str())),
        SignableBody::Bytes(request.body),
    )
    .ok()?;
    sign(signable, &params)
        .ok()
        .map(|output| output.signature().to_owned())
}

const PATH_PIECES: &[&str] = &[
    "user",
    "a",
    "Z9",
    "-",
    "_",
    "~",
    ".",
    "..",
    "",
    "%20",
    "%2F",
    "%25",
    "%C3%A9",
    "%ff",
    "%7e",
    ":",
    "@",
    "!",
    "$",
    "&",
    "'",
    "(",
    ")",
    "*",
    "+",
    ",",
    ";",
    "=",
    "01ABCDEFGHJKMNPQRSTVWXYZ",
];
const QUERY_PIECES: &[&str] = &[
    "maxResults",
    "nextToken",
    "a",
    "B",
    "1",
    "+",
    "%20",
    "%2B",
    "%3D",
    "%26",
    "%C3%A9",
    "%e2%82%ac",
    "%ZZ",
    "-._~",
    "/",
    ":",
    "@",
    "!",
    "*",
    "'",
    "(",
    ")",
    ",",
    ";",
    "$",
    "?",
];
const VALUE_PIECES: &[&str] = &[
    "a", "B c", "  ", " ", "\t", "x=y", "1,2", "\"q\"", "é", "=", ";", "/", "AKID", "%41",
];

fn pick<'a>(rng: &mut StdRng, pieces: &[&'a str]) -> &'a str {
    pieces[rng.random_range(0..pieces.len())]
}

fn joined(rng: &mut StdRng, pieces: &[&str], most: usize) -> String {
    (0..rng.random_range(0..=most))
        .map(|_| pick(rng, pieces))
        .collect()
}

struct Generated {
    method: &'static str,
    path_and_query: String,
    headers: HeaderMap,
    body: Vec<u8>,
    authorization: Authorization<'static>,
    stamp: String,
    session_token: Option<String>,
    secret: String,
    time: SystemTime,
}

impl Generated {
    fn signed(&self) -> Signed<'_> {
        Signed {
            method: self.method,
            path_and_query: &self.path_and_query,
            headers: &self.headers,
            body: &self.body,
            authorization: &self.authorization,
            stamp: &self.stamp,
            session_token: self.session_token.as_deref(),
        }
    }
}

fn generate(rng: &mut StdRng) -> Option<Generated> {
    let method = ["GET", "POST", "PUT", "DELETE", "PATCH"][rng.random_range(0..5)];
    let mut path = String::new();
    for _ in 0..rng.random_range(0..5) {
        path.push('/');
        path.push_str(&joined(rng, PATH_PIECES, 3));
    }
    if path.is_empty() || rng.random_bool(0.1) {
        path.push('/');
    }
    if rng.random_bool(0.6) {
        path.push('?');
        for i in 0..rng.random_range(0..5) {
            if i > 0 {
                path.push('&');
            }
            path.push_str(&joined(rng, QUERY_PIECES, 3));
            if rng.random_bool(0.8) {
                path.push('=');
                path.push_str(&joined(rng, QUERY_PIECES, 3));
            }
        }
    }
    // What actix hands over: the request target as http parsed it.
    let uri: Uri = path.parse().ok()?;
    let path_and_query = uri.path_and_query()?.as_str().to_owned();

    let secs = rng.random_range(1_600_000_000u64..1_900_000_000);
    let time = UNIX_EPOCH + Duration::from_secs(secs);
    let stamp = chrono::DateTime::<chrono::Utc>::from(time)
        .format("%Y%m%dT%H%M%SZ")
        .to_string();

    let mut headers = HeaderMap::new();
    let mut signed = vec!["host".to_owned(), "x-amz-date".to_owned()];
    let host = ["127.0.0.1:8765", "localhost", "userdir.example.com:443"][rng.random_range(0..3)];
    headers.append(
        HeaderName::from_static("host"),
        HeaderValue::from_static(host),
    );
    headers.append(
        HeaderName::from_static("x-amz-date"),
        HeaderValue::from_str(&stamp).ok()?,
    );
    for _ in 0..rng.random_range(0..4) {
        let name = [
            "content-type",
            "x-amz-user-agent",
            "x-custom",
            "amz-sdk-invocation-id",
        ][rng.random_range(0..4)];
        let value = joined(rng, VALUE_PIECES, 4);
        let Ok(value) = HeaderValue::from_str(&value) else {
            continue;
        };
        headers.append(HeaderName::from_static(name), value);
        if rng.random_bool(0.8) {
            signed.push(name.to_owned());
        }
    }
    let session_token = rng.random_bool(0.3).then(|| {
        format!(
            "v1.{}.{}",
            joined(rng, &["a", "B", "0", "-", "_"], 20),
            rng.random::<u32>()
        )
    });
    if let Some(token) = &session_token {
        headers.append(
            HeaderName::from_static("x-amz-security-token"),
            HeaderValue::from_str(token).ok()?,
        );
        if rng.random_bool(0.8) {
            signed.push("x-amz-security-token".into());
        }
    }
    if rng.random_bool(0.05) {
        // A stale or stray date header listed again, or a name twice.
        signed.push(signed[rng.random_range(0..signed.len())].clone());
    }
    if rng.random_bool(0.3) {
        signed.sort();
    }
    let body: Vec<u8> = (0..rng.random_range(0..200))
        .map(|_| rng.random())
        .collect();
    let region = ["us-east-1", "eu-west-3", "local"][rng.random_range(0..3)];
    let authorization = Authorization {
        access_key_id: format!("AKID{}", rng.random_range(0..5)).into(),
        date: stamp[..8].to_owned().into(),
        region: region.into(),
        service: SERVICE.into(),
        signed_headers: signed.join(";").into(),
        signature: "".into(),
    };
    Some(Generated {
        method,
        path_and_query,
        headers,
        body,
        authorization,
        stamp,
        session_token,
        secret: format!("secret-{}", rng.random_range(0..3)),
        time,
    })
}

#[test]
fn the_verifier_expects_the_signature_aws_sigv4_computes() {
    let verifier = Verifier::default();
    let mut rng = StdRng::seed_from_u64(0x5167_7634);
    let mut compared = 0;
    for _ in 0..5_000 {
        let Some(mut case) = generate(&mut rng) else {
            continue;
        };
        let Some(expected) = reference_signature(&case.signed(), &case.secret, case.time) else {
            continue;
        };
        case.authorization.signature = expected.clone().into();
        let signed = case.signed();
        let ours = verifier
            .signature(&signed, &case.secret, case.time)
            .map(hex::encode);
        assert_eq!(
            ours.as_deref(),
            Ok(expected.as_str()),
            "{} {} signed {:?} headers {:?} token {:?}\ncanonical request:\n{:?}",
            case.method,
            case.path_and_query,
            case.authorization.signed_headers,
            case.headers,
            case.session_token,
            signed.canonical_request()
        );
        assert!(verifier.verify(&signed, &case.secret, case.time).is_ok());
        let wrong = format!("{}x", case.secret);
        assert!(verifier.verify(&signed, &wrong, case.time).is_err());
        compared += 1;
    }
    assert!(compared > 4_000, "only {compared} requests compared");
}

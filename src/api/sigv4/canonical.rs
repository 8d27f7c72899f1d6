//! The canonical request and string to sign of a received request, built the way aws-sigv4 builds
//! them for the request it signs (header-located signatures, the default settings, nothing
//! excluded): the dot segments of the path removed and the path encoded once more, the query
//! decoded, re-encoded and sorted, the signed headers lower-cased, sorted, trimmed and joined, the
//! time's header and the session token as given to the signer. `reference.rs` checks that the
//! two agree on thousands of generated requests.

use std::borrow::Cow;

use actix_web::http::header::HeaderMap;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use sha2::{Digest, Sha256};

use super::{Authorization, SignatureFailure, names};

/// The characters the AWS SDKs percent-encode in query keys and values.
const QUERY_SET: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'/')
    .add(b':')
    .add(b',')
    .add(b'?')
    .add(b'#')
    .add(b'[')
    .add(b']')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'@')
    .add(b'!')
    .add(b'$')
    .add(b'&')
    .add(b'\'')
    .add(b'(')
    .add(b')')
    .add(b'*')
    .add(b'+')
    .add(b';')
    .add(b'=')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'"')
    .add(b'^')
    .add(b'`')
    .add(b'\\');

/// The same for a path, whose slashes stay.
const PATH_SET: &AsciiSet = &QUERY_SET.remove(b'/');

/// A signed header's name and one of its values (all of a listing, joined), as they enter the
/// canonical request: a name listed twice has two, which the canonical request joins again.
type CanonicalHeader<'a> = (&'a str, Cow<'a, str>);

/// What a request's signature is computed over.
pub struct Signed<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub authorization: &'a Authorization<'a>,
    /// The request's `X-Amz-Date`, exactly as sent (already checked to be `YYYYMMDDTHHMMSSZ`).
    pub stamp: &'a str,
    pub session_token: Option<&'a str>,
}

impl Signed<'_> {
    /// `AWS4-HMAC-SHA256\n<stamp>\n<scope>\n<hex sha256 of the canonical request>`.
    pub fn string_to_sign(&self, service: &str) -> Result<String, SignatureFailure> {
        let canonical = self.canonical_request()?;
        let mut hashed = [0u8; 64];
        hex::encode_to_slice(Sha256::digest(canonical.as_bytes()), &mut hashed)
            .map_err(|_| SignatureFailure::Invalid("The request cannot be signed".into()))?;
        let auth = self.authorization;
        let mut out = String::with_capacity(160);
        for part in [
            "AWS4-HMAC-SHA256\n",
            self.stamp,
            "\n",
            &auth.date,
            "/",
            &auth.region,
            "/",
            service,
            "/aws4_request\n",
            std::str::from_utf8(&hashed).unwrap_or_default(),
        ] {
            out.push_str(part);
        }
        Ok(out)
    }

    pub fn canonical_request(&self) -> Result<String, SignatureFailure> {
        let (path, query) = match self.path_and_query.split_once('?') {
            Some((path, query)) => (path, query),
            None => (self.path_and_query, ""),
        };
        // The SDKs' requests sign six or seven headers, some long: 512 bytes took a reallocation.
        let mut out = String::with_capacity(1024);
        out.push_str(self.method);
        out.push('\n');
        out.extend(utf8_percent_encode(&normalize_path(path), PATH_SET));
        out.push('\n');
        write_query(&mut out, query);
        out.push('\n');
        let headers = self.canonical_headers()?;
        let mut previous: Option<&str> = None;
        for (name, value) in &headers {
            if previous == Some(*name) {
                out.push(',');
            } else {
                if previous.is_some() {
                    out.push('\n');
                }
                out.push_str(name);
                out.push(':');
            }
            out.push_str(value);
            previous = Some(name);
        }
        out.push_str("\n\n");
        let mut previous: Option<&str> = None;
        for (name, _) in &headers {
            if previous != Some(*name) {
                if previous.is_some() {
                    out.push(';');
                }
                out.push_str(name);
            }
            previous = Some(name);
        }
        out.push('\n');
        let mut payload = [0u8; 64];
        hex::encode_to_slice(Sha256::digest(self.body), &mut payload)
            .map_err(|_| SignatureFailure::Invalid("The request cannot be signed".into()))?;
        out.push_str(std::str::from_utf8(&payload).unwrap_or_default());
        Ok(out)
    }

    /// Each listing of a signed header with all its values joined by commas and trimmed, sorted
    /// by name: a header listed twice is given twice, and its line joins both.
    fn canonical_headers(&self) -> Result<Vec<CanonicalHeader<'_>>, SignatureFailure> {
        let mut headers: Vec<CanonicalHeader<'_>> = Vec::with_capacity(8);
        for name in self.authorization.signed_headers() {
            // Found by comparing names: a look-up by text would parse the name and copy it to
            // the heap first, for each of the half-dozen headers the SDKs sign.
            let mut values = self
                .headers
                .iter()
                .filter(|(header, _)| header.as_str() == name)
                .filter_map(|(_, v)| v.to_str().ok());
            let Some(first) = values.next() else {
                return Err(SignatureFailure::Incomplete(format!(
                    "Signed header {name} is missing"
                )));
            };
            let joined = match values.next() {
                None => Cow::Borrowed(first),
                Some(second) => {
                    let mut joined = format!("{first},{second}");
                    for more in values {
                        joined.push(',');
                        joined.push_str(more);
                    }
                    Cow::Owned(joined)
                }
            };
            headers.push((name, trim_all(joined)));
        }
        // The signer sets the time and the session token itself, whether or not they were listed.
        set(&mut headers, names::X_AMZ_DATE.as_str(), self.stamp);
        if let Some(token) = self.session_token {
            set(&mut headers, names::X_AMZ_SECURITY_TOKEN.as_str(), token);
        }
        // Stable: a name listed twice keeps its listings in order.
        headers.sort_by(|a, b| a.0.cmp(b.0));
        Ok(headers)
    }
}

fn set<'a>(headers: &mut Vec<CanonicalHeader<'a>>, name: &'a str, value: &'a str) {
    headers.retain(|(n, _)| *n != name);
    headers.push((name, Cow::Borrowed(value)));
}

/// Removes leading and trailing spaces and collapses runs of spaces (spaces only, as S3 does).
fn trim_all(text: Cow<'_, str>) -> Cow<'_, str> {
    let trimmed = text.trim_matches(' ');
    if !trimmed.contains("  ") {
        return match text {
            Cow::Borrowed(text) => Cow::Borrowed(text.trim_matches(' ')),
            Cow::Owned(ref owned) if owned.len() == trimmed.len() => text,
            Cow::Owned(_) => Cow::Owned(trimmed.to_owned()),
        };
    }
    let mut out = String::with_capacity(trimmed.len());
    let mut previous_space = false;
    for c in trimmed.chars() {
        if !(c == ' ' && previous_space) {
            out.push(c);
        }
        previous_space = c == ' ';
    }
    Cow::Owned(out)
}

/// Removes empty and dot segments (RFC 3986's remove_dot_segments, as the SDKs apply it).
fn normalize_path(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed("/");
    }
    let rooted = if path.starts_with('/') {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(format!("/{path}"))
    };
    if !(rooted.contains('.') || rooted.contains("//")) {
        return rooted;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in rooted.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(rooted.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    let ends_with_slash = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|end| rooted.ends_with(end));
    if ends_with_slash && !out.ends_with('/') {
        out.push('/');
    }
    Cow::Owned(out)
}

/// The query's pairs decoded, encoded the SDKs' way, sorted, and joined.
fn write_query(out: &mut String, query: &str) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(key, value)| {
            (
                utf8_percent_encode(&key, QUERY_SET).to_string(),
                utf8_percent_encode(&value, QUERY_SET).to_string(),
            )
        })
        .collect();
    pairs.sort();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_dot_and_empty_segments() {
        for (path, normal) in [
            ("", "/"),
            ("/", "/"),
            ("/user/a", "/user/a"),
            ("/user//a", "/user/a"),
            ("/user/./a/../b", "/user/b"),
            ("/user/a/.", "/user/a/"),
            ("/..", "/"),
            ("//", "/"),
        ] {
            assert_eq!(normalize_path(path), normal, "{path}");
        }
    }

    #[test]
    fn only_spaces_are_trimmed_and_collapsed() {
        assert_eq!(trim_all("  a   b \t".into()), "a b \t");
        assert_eq!(trim_all("a b".into()), "a b");
    }
}

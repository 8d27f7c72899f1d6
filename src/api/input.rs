//! The edge where bytes become typed values: the body is read under a size limit, checked to be a
//! JSON object, and each member parsed into its domain type. Every broken constraint is collected,
//! so that one response names them all, as AWS does.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::domain::{PageSize, Violation};

/// How large a request body may be, and how long a client may take to send it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: std::time::Duration,
}

/// Reads the whole body, refusing more than `limit` bytes without buffering them.
pub async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: BodyLimits,
) -> Result<web::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    read_stream(payload, declared, limit).await
}

/// Reads a body stream within the limits; a declared length over the limit is refused before
/// anything is read, and a client too slow to send its body is cut off.
pub async fn read_stream<S, E>(
    stream: S,
    declared: Option<usize>,
    limits: BodyLimits,
) -> Result<web::Bytes, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    tokio::time::timeout(
        limits.timeout,
        read_within(stream, declared, limits.max_bytes),
    )
    .await
    .map_err(|_| ApiError::RequestTimeout {
        secs: limits.timeout.as_secs_f64(),
    })?
}

async fn read_within<S, E>(
    mut stream: S,
    declared: Option<usize>,
    limit: usize,
) -> Result<web::Bytes, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::validation(
                "INVALID_BODY",
                format!("The request body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The members of one request (path, query and body), parsed one by one.
pub struct Members {
    body: Map<String, Value>,
    query: Vec<(String, String)>,
    violations: Vec<(&'static str, Violation)>,
}

impl Members {
    /// For operations without a body.
    pub fn new() -> Self {
        Self {
            body: Map::new(),
            query: Vec::new(),
            violations: Vec::new(),
        }
    }

    /// Also reads the members bound to the query string.
    pub fn with_query(mut self, req: &HttpRequest) -> Result<Self, ApiError> {
        self.query = serde_urlencoded::from_str(req.query_string()).map_err(|e| {
            ApiError::validation(
                "INVALID_QUERY",
                format!("The query string is malformed: {e}"),
            )
        })?;
        Ok(self)
    }

    /// A member bound to the query string; a repeated one is refused rather than guessed at.
    pub fn query<T>(
        &mut self,
        name: &'static str,
        required: bool,
        parse: impl FnOnce(&str) -> Result<T, Violation>,
    ) -> Option<T> {
        let mut values = self
            .query
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => self.record(
                name,
                Err(Violation::new("Member must be given at most once")),
            ),
            (Some(value), None) => {
                let parsed = parse(value);
                self.record(name, parsed)
            }
            (None, _) if required => {
                self.record(name, Err(Violation::new("Member must not be null")))
            }
            (None, _) => None,
        }
    }

    /// The paging members of a list operation: `maxResults` (required) and `nextToken`.
    pub fn page(&mut self) -> (Option<PageSize>, Option<String>) {
        let size = self.query("maxResults", true, PageSize::parse);
        let next_token = self.query("nextToken", false, |t| Ok(t.to_owned()));
        (size, next_token)
    }

    /// A required list-of-strings member of the body, each item parsed.
    pub fn required_list<T>(
        &mut self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, Violation>,
    ) -> Option<Vec<T>> {
        match self.body.remove(name) {
            None | Some(Value::Null) => {
                self.record(name, Err(Violation::new("Member must not be null")))
            }
            Some(value) => self.list_items(name, value, parse),
        }
    }

    /// An optional list-of-strings member of the body.
    pub fn optional_list<T>(
        &mut self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, Violation>,
    ) -> Option<Vec<T>> {
        match self.body.remove(name) {
            None | Some(Value::Null) => None,
            Some(value) => self.list_items(name, value, parse),
        }
    }

    fn list_items<T>(
        &mut self,
        name: &'static str,
        value: Value,
        parse: impl Fn(&str) -> Result<T, Violation>,
    ) -> Option<Vec<T>> {
        let Value::Array(items) = value else {
            let kind = json_kind(&value);
            return self.record(
                name,
                Err(Violation::new(format!("Member must be a list, not {kind}"))),
            );
        };
        let parsed: Result<Vec<T>, Violation> = items
            .iter()
            .map(|item| match item {
                Value::String(s) => parse(s),
                other => Err(Violation::new(format!(
                    "Member must be a list of strings, not contain {}",
                    json_kind(other)
                ))),
            })
            .collect();
        self.record(name, parsed)
    }

    /// Parses a JSON object body. An empty body is an empty object.
    pub fn from_json(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        if body.is_empty() {
            return Ok(Self::new());
        }
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::validation(
                "UNSUPPORTED_CONTENT_TYPE",
                format!(
                    "The request body must be sent with Content-Type: application/json (got {:?})",
                    content_type.chars().take(100).collect::<String>()
                ),
            ));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(body)) => Ok(Self {
                body,
                ..Self::new()
            }),
            Ok(_) => Err(ApiError::validation(
                "INVALID_BODY",
                "The request body must be a JSON object",
            )),
            Err(e) => Err(ApiError::validation(
                "INVALID_BODY",
                format!("The request body is not valid JSON: {e}"),
            )),
        }
    }

    /// A member bound to the URI path.
    pub fn path<T>(
        &mut self,
        name: &'static str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, Violation>,
    ) -> Option<T> {
        self.record(name, parse(value))
    }

    /// A required string member of the body.
    pub fn required<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, Violation>,
    ) -> Option<T> {
        match self.string(name) {
            Ok(Some(value)) => self.record(name, parse(&value)),
            Ok(None) => self.record(name, Err(Violation::new("Member must not be null"))),
            Err(violation) => self.record(name, Err(violation)),
        }
    }

    /// An optional string member of the body; absent and `null` are the same.
    pub fn optional<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, Violation>,
    ) -> Option<T> {
        match self.string(name) {
            Ok(Some(value)) => self.record(name, parse(&value)),
            Ok(None) => None,
            Err(violation) => self.record(name, Err(violation)),
        }
    }

    /// An optional member that may arrive under a legacy spelling as well. Both spellings at once
    /// must agree.
    pub fn optional_aliased<T: PartialEq>(
        &mut self,
        name: &'static str,
        alias: &'static str,
        parse: impl Fn(&str) -> Result<T, Violation>,
    ) -> Option<T> {
        let primary = self.optional(name, &parse);
        let legacy = self.optional(alias, &parse);
        match (primary, legacy) {
            (Some(a), Some(b)) if a != b => self.record(
                name,
                Err(Violation::new(format!(
                    "Member must not be given twice with different values (as {name} and {alias})"
                ))),
            ),
            (Some(value), _) | (None, Some(value)) => Some(value),
            (None, None) => None,
        }
    }

    /// Fails with every violation found, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.violations.is_empty() {
            return Ok(());
        }
        let count = self.violations.len();
        let details = self
            .violations
            .iter()
            .map(|(name, v)| format!("Value at '{name}' failed to satisfy constraint: {v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let noun = if count == 1 { "error" } else { "errors" };
        Err(ApiError::validation(
            "FIELD_VALIDATION_FAILED",
            format!("{count} validation {noun} detected: {details}"),
        ))
    }

    fn string(&mut self, name: &str) -> Result<Option<String>, Violation> {
        match self.body.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value)),
            Some(other) => Err(Violation::new(format!(
                "Member must be a string, not {}",
                json_kind(&other)
            ))),
        }
    }

    fn record<T>(&mut self, name: &'static str, parsed: Result<T, Violation>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(violation) => {
                self.violations.push((name, violation));
                None
            }
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

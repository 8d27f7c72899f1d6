//! The edge where bytes become typed values: the body is read under a size limit, checked to be a
//! JSON object, and each member parsed into its domain type. Every broken constraint is collected,
//! so that one response names them all, as AWS does.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use super::error::ApiError;
use userdir_core::domain::{PageSize, Violation};

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

/// A member parsed into its type, or the constraints it broke.
pub type Checked<T> = Result<T, Violations>;

/// Broken constraints, each with the member that broke it, in the order the members were read.
#[derive(Debug, Default)]
pub struct Violations(Vec<(&'static str, Violation)>);

impl Violations {
    fn one(name: &'static str, violation: Violation) -> Self {
        Self(vec![(name, violation)])
    }

    /// The ValidationException that lists them all, as AWS words it.
    fn into_error(self) -> ApiError {
        let count = self.0.len();
        let details = self
            .0
            .iter()
            .map(|(name, v)| format!("Value at '{name}' failed to satisfy constraint: {v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let noun = if count == 1 { "error" } else { "errors" };
        ApiError::validation(
            "FIELD_VALIDATION_FAILED",
            format!("{count} validation {noun} detected: {details}"),
        )
    }
}

/// A tuple of checked members that is either every value or every violation.
pub trait AllValid {
    type Values;
    fn all_valid(self) -> Result<Self::Values, Violations>;
}

macro_rules! all_valid_tuple {
    ($($member:ident),+) => {
        impl<$($member),+> AllValid for ($(Checked<$member>,)+) {
            type Values = ($($member,)+);

            #[allow(non_snake_case)]
            fn all_valid(self) -> Result<Self::Values, Violations> {
                let ($($member,)+) = self;
                let mut broken = Violations::default();
                $(let $member = $member.map_err(|v| broken.0.extend(v.0)).ok();)+
                match ($($member,)+) {
                    ($(Some($member),)+) => Ok(($($member,)+)),
                    _ => Err(broken),
                }
            }
        }
    };
}

all_valid_tuple!(A);
all_valid_tuple!(A, B);
all_valid_tuple!(A, B, C);
all_valid_tuple!(A, B, C, D);
all_valid_tuple!(A, B, C, D, E);
all_valid_tuple!(A, B, C, D, E, F);
all_valid_tuple!(A, B, C, D, E, F, G);

/// The values of a request's members, all of them, or a ValidationException naming every
/// violation: past this point no member can be missing or invalid.
pub fn all_valid<T: AllValid>(checked: T) -> Result<T::Values, ApiError> {
    checked.all_valid().map_err(Violations::into_error)
}

/// The members of one request (path, query and body), parsed one by one.
pub struct Members {
    body: Map<String, Value>,
    query: Vec<(String, String)>,
}

impl Members {
    /// For operations without a body.
    pub fn new() -> Self {
        Self {
            body: Map::new(),
            query: Vec::new(),
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

    /// A required member bound to the query string; a repeated one is refused rather than
    /// guessed at.
    pub fn required_query<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, Violation>,
    ) -> Checked<T> {
        self.optional_query(name, parse)?
            .ok_or_else(|| Violations::one(name, Violation::new("Member must not be null")))
    }

    /// An optional member bound to the query string.
    pub fn optional_query<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, Violation>,
    ) -> Checked<Option<T>> {
        let mut values = self
            .query
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => Err(Violations::one(
                name,
                Violation::new("Member must be given at most once"),
            )),
            (Some(value), None) => checked(name, parse(value)).map(Some),
            (None, _) => Ok(None),
        }
    }

    /// The paging members of a list operation: `maxResults` (required) and `nextToken`.
    pub fn page(&self) -> (Checked<PageSize>, Checked<Option<String>>) {
        (
            self.required_query("maxResults", PageSize::parse),
            self.optional_query("nextToken", |t| Ok(t.to_owned())),
        )
    }

    /// A required list-of-strings member of the body, each item parsed.
    pub fn required_list<T>(
        &mut self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, Violation>,
    ) -> Checked<Vec<T>> {
        self.optional_list(name, parse)?
            .ok_or_else(|| Violations::one(name, Violation::new("Member must not be null")))
    }

    /// An optional list-of-strings member of the body.
    pub fn optional_list<T>(
        &mut self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, Violation>,
    ) -> Checked<Option<Vec<T>>> {
        let value = match self.body.remove(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(value) => value,
        };
        let Value::Array(items) = value else {
            let kind = json_kind(&value);
            return Err(Violations::one(
                name,
                Violation::new(format!("Member must be a list, not {kind}")),
            ));
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
        checked(name, parsed).map(Some)
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
        &self,
        name: &'static str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, Violation>,
    ) -> Checked<T> {
        checked(name, parse(value))
    }

    /// A required string member of the body.
    pub fn required<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, Violation>,
    ) -> Checked<T> {
        self.optional(name, parse)?
            .ok_or_else(|| Violations::one(name, Violation::new("Member must not be null")))
    }

    /// An optional string member of the body; absent and `null` are the same.
    pub fn optional<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, Violation>,
    ) -> Checked<Option<T>> {
        match self.body.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => checked(name, parse(&value)).map(Some),
            Some(other) => Err(Violations::one(
                name,
                Violation::new(format!(
                    "Member must be a string, not {}",
                    json_kind(&other)
                )),
            )),
        }
    }

    /// An optional member that may arrive under a legacy spelling as well. Both spellings at once
    /// must agree.
    pub fn optional_aliased<T: PartialEq>(
        &mut self,
        name: &'static str,
        alias: &'static str,
        parse: impl Fn(&str) -> Result<T, Violation>,
    ) -> Checked<Option<T>> {
        let primary = self.optional(name, &parse);
        let legacy = self.optional(alias, &parse);
        match (primary, legacy) {
            (Err(mut a), Err(b)) => {
                a.0.extend(b.0);
                Err(a)
            }
            (Err(broken), _) | (_, Err(broken)) => Err(broken),
            (Ok(Some(a)), Ok(Some(b))) if a != b => Err(Violations::one(
                name,
                Violation::new(format!(
                    "Member must not be given twice with different values (as {name} and {alias})"
                )),
            )),
            (Ok(primary), Ok(legacy)) => Ok(primary.or(legacy)),
        }
    }
}

fn checked<T>(name: &'static str, parsed: Result<T, Violation>) -> Checked<T> {
    parsed.map_err(|violation| Violations::one(name, violation))
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

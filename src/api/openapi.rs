//! The OpenAPI 3.1 document, generated from the catalog of routes (whose value constraints are the
//! domain types' own rules) and served at `GET /openapi.json`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::header::ContentType;
use userdir_core::domain::{IntegerRule, Rule, TextRule};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, PathsBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ComponentsBuilder, KnownFormat,
    ObjectBuilder, Ref, Schema, SchemaFormat, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    Deprecated, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, RefOr, Required,
};

use super::catalog::{
    Access, At, ERROR_BODY, Failure, HEALTH, Member, Method, NOT_READY, OPERATIONS, Operation,
    Output, Plain, Shape, Structure,
};

const SIGV4: &str = "sigv4";
const EXTENSIONS_TAG: &str = "userdir extensions";

/// The document, as served (and as committed in `docs/openapi.json`).
pub fn document_json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        // Serialising plain data with string keys cannot fail; an empty document would be caught
        // by the tests that read it.
        document().to_pretty_json().unwrap_or_default() + "\n"
    });
    &JSON
}

/// `GET /openapi.json`
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(document_json())
}

/// Builds the document from the catalog.
pub fn document() -> OpenApi {
    let mut schemas = Schemas::default();
    let mut paths: BTreeMap<&str, Vec<(HttpMethod, utoipa::openapi::path::Operation)>> =
        BTreeMap::new();
    for operation in OPERATIONS {
        paths.entry(operation.path).or_default().push((
            http_method(operation.method),
            describe(operation, &mut schemas),
        ));
    }
    let mut builder = PathsBuilder::new();
    for (path, operations) in paths {
        let mut item: Option<PathItem> = None;
        for (method, operation) in operations {
            let next = PathItem::new(method, operation);
            match item.as_mut() {
                Some(item) => item.merge_operations(next),
                None => item = Some(next),
            }
        }
        if let Some(item) = item {
            builder = builder.path(path, item);
        }
    }
    let error = schemas.object(ERROR_BODY.members, At::Body, true);
    let components = schemas
        .0
        .into_iter()
        .fold(ComponentsBuilder::new(), |c, (name, schema)| {
            c.schema(name, schema)
        })
        .schema(ERROR_BODY.name, error)
        .security_scheme(
            SIGV4,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "AWS Signature Version 4 (service `finspace-api`, any region), as every AWS SDK \
                 signs requests; temporary credentials add `X-Amz-Security-Token`.",
            ))),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("userdir")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A self-hosted user directory that speaks the AWS FinSpace Data user API \
                     (2020-07-13, rest-json): point any AWS SDK at it with `--endpoint-url`. \
                     Operations tagged `userdir extensions` are this service's own. Errors carry \
                     their type in the `x-amzn-ErrorType` header, as AWS sends them. SCIM 2.0 \
                     (RFC 7644), for identity providers, is served under its own prefix \
                     (`/scim/v2` by default) and describes itself as SCIM does, at \
                     `/ServiceProviderConfig`, `/Schemas` and `/ResourceTypes` there.",
                ))
                .license(Some(LicenseBuilder::new().name("Apache-2.0").build())),
        )
        .paths(builder.build())
        .components(Some(components))
        .tags(Some(
            ["Users", "Permission groups", "Credentials", EXTENSIONS_TAG]
                .map(|name| TagBuilder::new().name(name).build()),
        ))
        .build()
}

fn http_method(method: Method) -> HttpMethod {
    match method {
        Method::Get => HttpMethod::Get,
        Method::Post => HttpMethod::Post,
        Method::Put => HttpMethod::Put,
        Method::Delete => HttpMethod::Delete,
    }
}

fn tag(operation: &Operation) -> &'static str {
    if operation.extension {
        EXTENSIONS_TAG
    } else if operation.path.starts_with("/user") {
        "Users"
    } else if operation.path.starts_with("/permission-group") {
        "Permission groups"
    } else {
        "Credentials"
    }
}

fn describe(operation: &Operation, schemas: &mut Schemas) -> utoipa::openapi::path::Operation {
    let mut builder = OperationBuilder::new()
        .operation_id(Some(operation_id(operation)))
        .summary(Some(operation.summary))
        .tag(tag(operation));
    if operation.deprecated {
        builder = builder.deprecated(Some(Deprecated::True));
    }
    for member in operation.input.iter().filter(|m| m.at != At::Body) {
        let place = match member.at {
            At::Path => ParameterIn::Path,
            _ => ParameterIn::Query,
        };
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(member.name)
                .parameter_in(place)
                .required(required(member.required))
                .schema(Some(schemas.shape(&member.shape))),
        );
    }
    if operation.has_body() {
        let name = format!("{}Request", operation.name);
        // A request may carry members this service does not know (AWS ignores them too).
        let schema = schemas.object(operation.input, At::Body, false);
        schemas.0.insert(name.clone(), schema);
        builder = builder.request_body(Some(
            RequestBodyBuilder::new()
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(name)))
                        .build(),
                )
                .required(Some(required(
                    operation
                        .input
                        .iter()
                        .any(|m| m.at == At::Body && m.required),
                )))
                .build(),
        ));
    }
    let mut responses = ResponsesBuilder::new().response("200", success(operation, schemas));
    let mut by_status: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
    for Failure { name, status } in operation.failures() {
        let names = by_status.entry(status).or_default();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for (status, names) in by_status {
        responses = responses.response(status.to_string(), failure(status, &names));
    }
    builder = builder.responses(responses.build());
    match operation.access {
        Access::Signed => {
            builder = builder.security(SecurityRequirement::new(SIGV4, Vec::<String>::new()));
        }
        Access::Metrics => {
            builder = builder
                .security(SecurityRequirement::default())
                .security(SecurityRequirement::new(SIGV4, Vec::<String>::new()));
        }
        Access::Open => {}
    }
    builder.build()
}

/// The two health probes share the operation name `Health`; the document needs one id each.
fn operation_id(operation: &Operation) -> String {
    match operation.path {
        "/health/live" => "HealthLive".to_owned(),
        "/health/ready" => "HealthReady".to_owned(),
        _ => operation.name.to_owned(),
    }
}

fn required(yes: bool) -> Required {
    if yes { Required::True } else { Required::False }
}

fn success(operation: &Operation, schemas: &mut Schemas) -> utoipa::openapi::response::Response {
    let (description, content_type, schema): (_, _, RefOr<Schema>) = match operation.output {
        Output::Json(structure) => (
            "Success",
            "application/json",
            schemas.named_structure(structure),
        ),
        Output::Metrics => (
            "The Prometheus text exposition format, version 0.0.4",
            "text/plain",
            ObjectBuilder::new().schema_type(Type::String).into(),
        ),
        Output::OpenApi => (
            "This OpenAPI document",
            "application/json",
            ObjectBuilder::new().schema_type(Type::Object).into(),
        ),
    };
    ResponseBuilder::new()
        .description(description)
        .content(
            content_type,
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .build()
}

fn failure(status: u16, names: &[&'static str]) -> utoipa::openapi::response::Response {
    // The readiness probe answers 503 with its own body, not an error.
    if names == [NOT_READY.name] {
        return ResponseBuilder::new()
            .description("Not ready: the database does not answer")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(HEALTH.name)))
                    .build(),
            )
            .build();
    }
    let mut response = ResponseBuilder::new().description(names.join(", ")).header(
        "x-amzn-ErrorType",
        HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(names.iter().copied())),
            )
            .description(Some("The error's type, as AWS names it"))
            .build(),
    );
    if matches!(status, 429 | 503) {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    response
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ERROR_BODY.name)))
                .build(),
        )
        .build()
}

/// The component schemas, by name.
#[derive(Default)]
struct Schemas(BTreeMap<String, RefOr<Schema>>);

impl Schemas {
    /// A reference to the shape's schema, which is added to the components on first use.
    fn shape(&mut self, shape: &Shape) -> RefOr<Schema> {
        let name = shape.name();
        if !self.0.contains_key(name) {
            let schema = match shape {
                Shape::Value { rule, note, .. } => value(rule, note),
                Shape::Plain { kind, .. } => plain(*kind),
                Shape::List { item, .. } => ArrayBuilder::new().items(self.shape(item)).into(),
                // Responses hold exactly their members.
                Shape::Structure(structure) => self.object(structure.members, At::Body, true),
            };
            self.0.insert(name.to_owned(), schema);
        }
        Ref::from_schema_name(name).into()
    }

    fn named_structure(&mut self, structure: &'static Structure) -> RefOr<Schema> {
        self.shape(&Shape::Structure(structure))
    }

    /// An object of the members found `at` a place; `closed` when no other member may appear.
    fn object(&mut self, members: &[Member], at: At, closed: bool) -> RefOr<Schema> {
        let mut object = ObjectBuilder::new().schema_type(Type::Object);
        for member in members.iter().filter(|m| m.at == at) {
            let mut schema = self.shape(&member.shape);
            if !closed && !member.required {
                // In a request, an optional member given as null is taken as absent.
                schema = AnyOfBuilder::new()
                    .item(schema)
                    .item(ObjectBuilder::new().schema_type(Type::Null))
                    .into();
            }
            object = object.property(member.name, schema);
            if member.required {
                object = object.required(member.name);
            }
        }
        if closed {
            object = object.additional_properties(Some(AdditionalProperties::FreeForm(false)));
        }
        object.into()
    }
}

fn value(rule: &Rule, note: &str) -> RefOr<Schema> {
    let note = (!note.is_empty()).then_some(note);
    match rule {
        Rule::Text(TextRule { min, max, pattern }) => {
            let mut object = ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(usize::try_from(*min).ok().filter(|&m| m > 0))
                .max_length(usize::try_from(*max).ok());
            if let Some(pattern) = pattern {
                object = object.pattern(Some(whole_value(pattern.source())));
            }
            object.description(note).into()
        }
        Rule::OneOf(values) => ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values.iter().copied()))
            .into(),
        Rule::Integer(IntegerRule { min, max }) => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(*min as f64))
            .maximum(Some(*max as f64))
            .into(),
    }
}

fn plain(kind: Plain) -> RefOr<Schema> {
    match kind {
        Plain::String => ObjectBuilder::new().schema_type(Type::String).into(),
        Plain::Long => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .into(),
    }
}

/// AWS matches a model pattern against the whole value, JSON Schema anywhere in it: the published
/// pattern is anchored unless the model's already is.
pub fn whole_value(source: &str) -> String {
    if source.starts_with('^') && source.ends_with('$') {
        source.to_owned()
    } else {
        format!("^(?:{source})$")
    }
}

//! What the API offers, as data: every route with its members, the shapes they carry, its output
//! and its errors. The OpenAPI document is generated from this catalog; the constraints of every
//! value come from the domain types' own rules (the ones their `parse` checks), and tests hold the
//! catalog to the service model, to the route table and to the wire types' serialised form.

use userdir_core::domain::{
    ApiAccess, ApplicationPermission, ClientToken, Email, FirstName, LastName, MembershipStatus,
    Modelled, PageSize, Password, PermissionGroupDescription, PermissionGroupId,
    PermissionGroupName, RoleArn, Rule, TextRule, UserId, UserStatus, UserType,
};

/// The shape of a value on the wire.
#[derive(Clone, Copy)]
pub enum Shape {
    /// A value with the model's constraints, published once under its name.
    Value {
        name: &'static str,
        rule: Rule,
        /// What the rule also asks that JSON Schema cannot say ("" if nothing).
        note: &'static str,
    },
    /// A value the model does not constrain.
    Plain {
        name: &'static str,
        kind: Plain,
    },
    List {
        name: &'static str,
        item: &'static Shape,
    },
    Structure(&'static Structure),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Plain {
    String,
    /// A 64-bit integer (the model's `long`, e.g. epoch milliseconds).
    Long,
}

impl Shape {
    pub fn name(&self) -> &'static str {
        match self {
            Shape::Value { name, .. } | Shape::Plain { name, .. } | Shape::List { name, .. } => {
                name
            }
            Shape::Structure(structure) => structure.name,
        }
    }
}

/// A JSON object of the model.
pub struct Structure {
    pub name: &'static str,
    pub members: &'static [Member],
}

/// Where a request member travels.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum At {
    Path,
    Query,
    Body,
}

/// A member of a request or response. For a response, `required` means "always sent".
#[derive(Clone, Copy)]
pub struct Member {
    pub name: &'static str,
    pub shape: Shape,
    pub required: bool,
    pub at: At,
}

const fn body(name: &'static str, shape: Shape) -> Member {
    Member {
        name,
        shape,
        required: false,
        at: At::Body,
    }
}

const fn required(name: &'static str, shape: Shape) -> Member {
    Member {
        required: true,
        ..body(name, shape)
    }
}

const fn path(name: &'static str, shape: Shape) -> Member {
    Member {
        at: At::Path,
        ..required(name, shape)
    }
}

const fn query(name: &'static str, shape: Shape) -> Member {
    Member {
        at: At::Query,
        ..body(name, shape)
    }
}

const fn required_query(name: &'static str, shape: Shape) -> Member {
    Member {
        at: At::Query,
        ..required(name, shape)
    }
}

/// A domain type's shape, with the rule its `parse` enforces.
const fn of<T: Modelled>() -> Shape {
    Shape::Value {
        name: T::SHAPE,
        rule: T::RULE,
        note: "",
    }
}

const fn text(name: &'static str, rule: TextRule) -> Shape {
    Shape::Value {
        name,
        rule: Rule::Text(rule),
        note: "",
    }
}

const fn plain(name: &'static str, kind: Plain) -> Shape {
    Shape::Plain { name, kind }
}

// Values.
const EMAIL: Shape = of::<Email>();
const USER_ID: Shape = of::<UserId>();
const CLIENT_TOKEN: Shape = of::<ClientToken>();
const FIRST_NAME: Shape = of::<FirstName>();
const LAST_NAME: Shape = of::<LastName>();
const ROLE_ARN: Shape = of::<RoleArn>();
const USER_TYPE: Shape = of::<UserType>();
const USER_STATUS: Shape = of::<UserStatus>();
const API_ACCESS: Shape = of::<ApiAccess>();
const PASSWORD: Shape = of::<Password>();
const GROUP_ID: Shape = of::<PermissionGroupId>();
const GROUP_NAME: Shape = of::<PermissionGroupName>();
const GROUP_DESCRIPTION: Shape = of::<PermissionGroupDescription>();
const PERMISSION: Shape = of::<ApplicationPermission>();
const MEMBERSHIP_STATUS: Shape = of::<MembershipStatus>();
const RESULT_LIMIT: Shape = of::<PageSize>();
const PERMISSIONS: Shape = Shape::List {
    name: "ApplicationPermissionList",
    item: &PERMISSION,
};
const TIMESTAMP: Shape = plain("TimestampEpoch", Plain::Long);
const PAGINATION_TOKEN: Shape = plain("PaginationToken", Plain::String);
const ENVIRONMENT_ID: Shape = text("IdType", super::credentials::ENVIRONMENT_ID);
const SESSION_DURATION: Shape = Shape::Value {
    name: "SessionDuration",
    rule: Rule::Integer(super::credentials::SESSION_DURATION),
    note: "",
};
const ACCESS_KEY_ID: Shape = text(
    "stringValueLength1to255",
    TextRule {
        min: 1,
        max: 255,
        pattern: None,
    },
);
const SECRET: Shape = text(
    "stringValueMaxLength1000",
    TextRule {
        min: 0,
        max: 1000,
        pattern: None,
    },
);
// Extensions' values.
const OFFERED_PASSWORD: Shape = text("OfferedPassword", Password::OFFERED);
const CHOSEN_PASSWORD: Shape = Shape::Value {
    name: "ChosenPassword",
    rule: Rule::Text(Password::CHOSEN),
    note: "Must also mix at least three of: lower case, upper case, digits, other characters.",
};
const AUDIT_TEXT: Shape = plain("AuditText", Plain::String);
const SEQUENCE: Shape = plain("AuditSequence", Plain::Long);

// Structures.
const PAGE_MEMBERS: [Member; 2] = [
    required_query("maxResults", RESULT_LIMIT),
    query("nextToken", PAGINATION_TOKEN),
];

const USER_MEMBERS: &[Member] = &[
    required("userId", USER_ID),
    required("status", USER_STATUS),
    body("firstName", FIRST_NAME),
    body("lastName", LAST_NAME),
    required("emailAddress", EMAIL),
    required("type", USER_TYPE),
    required("apiAccess", API_ACCESS),
    body("apiAccessPrincipalArn", ROLE_ARN),
    required("createTime", TIMESTAMP),
    body("lastEnabledTime", TIMESTAMP),
    body("lastDisabledTime", TIMESTAMP),
    required("lastModifiedTime", TIMESTAMP),
    body("lastLoginTime", TIMESTAMP),
];

pub const USER: Structure = Structure {
    name: "User",
    members: USER_MEMBERS,
};

pub const GET_USER_RESPONSE: Structure = Structure {
    name: "GetUserResponse",
    members: USER_MEMBERS,
};

const USER_ID_ONLY: &[Member] = &[required("userId", USER_ID)];
const GROUP_ID_ONLY: &[Member] = &[required("permissionGroupId", GROUP_ID)];

const fn user_id_response(name: &'static str) -> Structure {
    Structure {
        name,
        members: USER_ID_ONLY,
    }
}

const fn group_id_response(name: &'static str) -> Structure {
    Structure {
        name,
        members: GROUP_ID_ONLY,
    }
}

/// The answer of the membership operations: the model binds its only member, `statusCode`, to
/// the HTTP status, so the body is an empty object.
const fn status_code_response(name: &'static str) -> Structure {
    Structure { name, members: &[] }
}

/// A page of a listing: the items under `member` (a list named `list`), and the token of the next
/// page when there is one.
macro_rules! page_response {
    ($constant:ident, $name:literal, $member:literal, $list:literal, $item:ident) => {
        pub const $constant: Structure = Structure {
            name: $name,
            members: &[
                required(
                    $member,
                    Shape::List {
                        name: $list,
                        item: &Shape::Structure(&$item),
                    },
                ),
                body("nextToken", PAGINATION_TOKEN),
            ],
        };
    };
}

page_response!(
    LIST_USERS_RESPONSE,
    "ListUsersResponse",
    "users",
    "UserList",
    USER
);

pub const RESET_USER_PASSWORD_RESPONSE: Structure = Structure {
    name: "ResetUserPasswordResponse",
    members: &[
        required("userId", USER_ID),
        required("temporaryPassword", PASSWORD),
    ],
};

/// `membershipStatus` only has meaning relative to a user: a group on its own never carries it.
pub const PERMISSION_GROUP: Structure = Structure {
    name: "PermissionGroup",
    members: &[
        required("permissionGroupId", GROUP_ID),
        required("name", GROUP_NAME),
        body("description", GROUP_DESCRIPTION),
        required("applicationPermissions", PERMISSIONS),
        required("createTime", TIMESTAMP),
        required("lastModifiedTime", TIMESTAMP),
        body("membershipStatus", MEMBERSHIP_STATUS),
    ],
};

pub const GET_PERMISSION_GROUP_RESPONSE: Structure = Structure {
    name: "GetPermissionGroupResponse",
    members: &[required(
        "permissionGroup",
        Shape::Structure(&PERMISSION_GROUP),
    )],
};

page_response!(
    LIST_PERMISSION_GROUPS_RESPONSE,
    "ListPermissionGroupsResponse",
    "permissionGroups",
    "PermissionGroupList",
    PERMISSION_GROUP
);

pub const PERMISSION_GROUP_BY_USER: Structure = Structure {
    name: "PermissionGroupByUser",
    members: &[
        required("permissionGroupId", GROUP_ID),
        required("name", GROUP_NAME),
        required("membershipStatus", MEMBERSHIP_STATUS),
    ],
};

page_response!(
    LIST_PERMISSION_GROUPS_BY_USER_RESPONSE,
    "ListPermissionGroupsByUserResponse",
    "permissionGroups",
    "PermissionGroupByUserList",
    PERMISSION_GROUP_BY_USER
);

pub const USER_BY_PERMISSION_GROUP: Structure = Structure {
    name: "UserByPermissionGroup",
    members: &[
        required("userId", USER_ID),
        required("status", USER_STATUS),
        body("firstName", FIRST_NAME),
        body("lastName", LAST_NAME),
        required("emailAddress", EMAIL),
        required("type", USER_TYPE),
        required("apiAccess", API_ACCESS),
        body("apiAccessPrincipalArn", ROLE_ARN),
        required("membershipStatus", MEMBERSHIP_STATUS),
    ],
};

page_response!(
    LIST_USERS_BY_PERMISSION_GROUP_RESPONSE,
    "ListUsersByPermissionGroupResponse",
    "users",
    "UserByPermissionGroupList",
    USER_BY_PERMISSION_GROUP
);

pub const CREDENTIALS: Structure = Structure {
    name: "Credentials",
    members: &[
        required("accessKeyId", ACCESS_KEY_ID),
        required("secretAccessKey", SECRET),
        required("sessionToken", SECRET),
    ],
};

pub const GET_PROGRAMMATIC_ACCESS_CREDENTIALS_RESPONSE: Structure = Structure {
    name: "GetProgrammaticAccessCredentialsResponse",
    members: &[
        required("credentials", Shape::Structure(&CREDENTIALS)),
        required("durationInMinutes", SESSION_DURATION),
    ],
};

pub const AUDIT_EVENT: Structure = Structure {
    name: "AuditEvent",
    members: &[
        required("seq", SEQUENCE),
        required("time", TIMESTAMP),
        required("requestId", AUDIT_TEXT),
        required("caller", AUDIT_TEXT),
        required("operation", AUDIT_TEXT),
        body("target", AUDIT_TEXT),
        required("outcome", AUDIT_TEXT),
        body("detail", AUDIT_TEXT),
    ],
};

page_response!(
    LIST_AUDIT_EVENTS_RESPONSE,
    "ListAuditEventsResponse",
    "events",
    "AuditEventList",
    AUDIT_EVENT
);

pub const SIGNED_IN: Structure = Structure {
    name: "SignInResponse",
    members: &[
        required("userId", USER_ID),
        required("lastLoginTime", TIMESTAMP),
    ],
};

pub const HEALTH: Structure = Structure {
    name: "Health",
    members: &[required(
        "status",
        Shape::Value {
            name: "HealthStatus",
            rule: Rule::OneOf(&["live", "ready", "unavailable"]),
            note: "",
        },
    )],
};

/// The body of every error response; its type is in the `x-amzn-ErrorType` header.
pub const ERROR_BODY: Structure = Structure {
    name: "Error",
    members: &[
        required("message", plain("errorMessage", Plain::String)),
        body("reason", plain("errorReason", Plain::String)),
    ],
};

/// An error of the model (or of this service), with the status it is sent with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Failure {
    pub name: &'static str,
    pub status: u16,
}

const fn failure(name: &'static str, status: u16) -> Failure {
    Failure { name, status }
}

pub const VALIDATION: Failure = failure("ValidationException", 400);
pub const LIMIT_EXCEEDED: Failure = failure("LimitExceededException", 400);
pub const ACCESS_DENIED: Failure = failure("AccessDeniedException", 403);
pub const NOT_FOUND: Failure = failure("ResourceNotFoundException", 404);
pub const CONFLICT: Failure = failure("ConflictException", 409);
pub const THROTTLING: Failure = failure("ThrottlingException", 429);
pub const INTERNAL: Failure = failure("InternalServerException", 500);
/// Signature and key failures of SigV4 authentication.
pub const AUTHENTICATION: &[Failure] = &[
    failure("MissingAuthenticationTokenException", 403),
    failure("IncompleteSignatureException", 403),
    failure("InvalidSignatureException", 403),
    failure("UnrecognizedClientException", 403),
    failure("ExpiredTokenException", 403),
];
/// What reading a request body can fail with.
pub const BODY_FAILURES: &[Failure] = &[
    failure("ValidationException", 413),
    failure("RequestTimeoutException", 408),
];
/// The database cannot take writes for now (e.g. a full disk): retry later.
pub const UNAVAILABLE: Failure = failure("InternalServerException", 503);
/// The readiness probe's "not ready": its own body, no error type.
pub const NOT_READY: Failure = failure("", 503);
pub const NOT_AUTHORIZED: Failure = failure("NotAuthorizedException", 401);
pub const PASSWORD_RESET_REQUIRED: Failure = failure("PasswordResetRequiredException", 403);
pub const UNKNOWN_OPERATION: Failure = failure("UnknownOperationException", 404);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// SigV4-signed requests only.
    Signed,
    /// Anyone who reaches the port.
    Open,
    /// As `[metrics] access` says: open, root key only, or not served.
    Metrics,
}

#[derive(Clone, Copy)]
pub enum Output {
    Json(&'static Structure),
    /// The Prometheus text exposition format.
    Metrics,
    /// This document.
    OpenApi,
}

/// One route.
pub struct Operation {
    pub name: &'static str,
    pub method: Method,
    pub path: &'static str,
    pub summary: &'static str,
    /// An endpoint of this service, not of the FinSpace model.
    pub extension: bool,
    /// The model marks every user operation deprecated (FinSpace is retired); the API lives on here.
    pub deprecated: bool,
    pub access: Access,
    pub input: &'static [Member],
    pub output: Output,
    /// The errors the model declares (extensions: the ones they answer with), beyond those every
    /// operation of its kind can meet (see `Operation::failures`).
    pub errors: &'static [Failure],
}

impl Operation {
    /// Whether the operation reads a JSON body.
    pub fn has_body(&self) -> bool {
        self.input.iter().any(|m| m.at == At::Body)
    }

    /// Every error this operation can answer with: its own, those of reading a body, of
    /// authentication and throttling, and of a database that cannot take writes.
    pub fn failures(&self) -> Vec<Failure> {
        let mut all = self.errors.to_vec();
        if !self.input.is_empty() {
            all.push(VALIDATION);
        }
        if self.has_body() {
            all.extend_from_slice(BODY_FAILURES);
        }
        match self.access {
            Access::Signed => {
                all.extend_from_slice(AUTHENTICATION);
                all.push(THROTTLING);
            }
            Access::Metrics => {
                all.extend_from_slice(AUTHENTICATION);
                all.push(ACCESS_DENIED);
                all.push(UNKNOWN_OPERATION);
            }
            Access::Open => {}
        }
        // What reads no input and needs no signature (the probes, the document) touches no
        // database that could fail it.
        if !(self.access == Access::Open && self.input.is_empty()) {
            all.push(INTERNAL);
            all.push(UNAVAILABLE);
        }
        let mut unique = Vec::with_capacity(all.len());
        for failure in all {
            if !unique.contains(&failure) {
                unique.push(failure);
            }
        }
        unique
    }
}

/// The methods the routes allow at a concrete path (a `{member}` segment matches any non-empty
/// one); empty when no route has that path. `/metrics` counts only where it is routed.
pub fn methods_at(path: &str, metrics_routed: bool) -> Vec<Method> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut methods: Vec<Method> = OPERATIONS
        .iter()
        .filter(|operation| operation.access != Access::Metrics || metrics_routed)
        .filter(|operation| {
            let template: Vec<&str> = operation.path.split('/').collect();
            template.len() == segments.len()
                && template
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        })
        .map(|operation| operation.method)
        .collect();
    methods.sort();
    methods.dedup();
    methods
}

const fn finspace(
    name: &'static str,
    method: Method,
    path: &'static str,
    summary: &'static str,
    input: &'static [Member],
    output: &'static Structure,
    errors: &'static [Failure],
) -> Operation {
    Operation {
        name,
        method,
        path,
        summary,
        extension: false,
        deprecated: true,
        access: Access::Signed,
        input,
        output: Output::Json(output),
        errors,
    }
}

const USER_ERRORS: &[Failure] = &[INTERNAL, VALIDATION, THROTTLING, ACCESS_DENIED];
const WITH_NOT_FOUND: &[Failure] = &[INTERNAL, VALIDATION, THROTTLING, ACCESS_DENIED, NOT_FOUND];
const WITH_CONFLICT: &[Failure] = &[
    INTERNAL,
    VALIDATION,
    THROTTLING,
    ACCESS_DENIED,
    NOT_FOUND,
    CONFLICT,
];
const WITH_LIMIT: &[Failure] = &[
    INTERNAL,
    VALIDATION,
    THROTTLING,
    ACCESS_DENIED,
    LIMIT_EXCEEDED,
    CONFLICT,
];

/// Every route this service answers, the FinSpace operations first.
pub const OPERATIONS: &[Operation] = &[
    finspace(
        "CreateUser",
        Method::Post,
        "/user",
        "Creates a user (status CREATING, ENABLED moments later).",
        &[
            required("emailAddress", EMAIL),
            required("type", USER_TYPE),
            body("firstName", FIRST_NAME),
            body("lastName", LAST_NAME),
            body("apiAccess", API_ACCESS),
            body("apiAccessPrincipalArn", ROLE_ARN),
            body("clientToken", CLIENT_TOKEN),
        ],
        &user_id_response("CreateUserResponse"),
        WITH_LIMIT,
    ),
    finspace(
        "ListUsers",
        Method::Get,
        "/user",
        "Lists users, a page at a time.",
        &PAGE_MEMBERS,
        &LIST_USERS_RESPONSE,
        &[INTERNAL, VALIDATION, THROTTLING, ACCESS_DENIED],
    ),
    finspace(
        "GetUser",
        Method::Get,
        "/user/{userId}",
        "Gets a user.",
        &[path("userId", USER_ID)],
        &GET_USER_RESPONSE,
        WITH_NOT_FOUND,
    ),
    finspace(
        "UpdateUser",
        Method::Put,
        "/user/{userId}",
        "Changes a user's type, names or programmatic access.",
        &[
            path("userId", USER_ID),
            body("type", USER_TYPE),
            body("firstName", FIRST_NAME),
            body("lastName", LAST_NAME),
            body("apiAccess", API_ACCESS),
            body("apiAccessPrincipalArn", ROLE_ARN),
            body("clientToken", CLIENT_TOKEN),
        ],
        &user_id_response("UpdateUserResponse"),
        WITH_CONFLICT,
    ),
    finspace(
        "EnableUser",
        Method::Post,
        "/user/{userId}/enable",
        "Enables a disabled user.",
        &[path("userId", USER_ID), body("clientToken", CLIENT_TOKEN)],
        &user_id_response("EnableUserResponse"),
        &[
            INTERNAL,
            VALIDATION,
            THROTTLING,
            ACCESS_DENIED,
            NOT_FOUND,
            CONFLICT,
            LIMIT_EXCEEDED,
        ],
    ),
    finspace(
        "DisableUser",
        Method::Post,
        "/user/{userId}/disable",
        "Disables a user: it can no longer sign in or call the API.",
        &[path("userId", USER_ID), body("clientToken", CLIENT_TOKEN)],
        &user_id_response("DisableUserResponse"),
        WITH_CONFLICT,
    ),
    finspace(
        "ResetUserPassword",
        Method::Post,
        "/user/{userId}/password",
        "Issues a temporary password the user must replace at first sign-in.",
        &[path("userId", USER_ID), body("clientToken", CLIENT_TOKEN)],
        &RESET_USER_PASSWORD_RESPONSE,
        WITH_CONFLICT,
    ),
    finspace(
        "ListPermissionGroupsByUser",
        Method::Get,
        "/user/{userId}/permission-groups",
        "Lists the permission groups a user belongs to.",
        &[path("userId", USER_ID), PAGE_MEMBERS[0], PAGE_MEMBERS[1]],
        &LIST_PERMISSION_GROUPS_BY_USER_RESPONSE,
        WITH_NOT_FOUND,
    ),
    finspace(
        "CreatePermissionGroup",
        Method::Post,
        "/permission-group",
        "Creates a permission group.",
        &[
            required("name", GROUP_NAME),
            body("description", GROUP_DESCRIPTION),
            required("applicationPermissions", PERMISSIONS),
            body("clientToken", CLIENT_TOKEN),
        ],
        &group_id_response("CreatePermissionGroupResponse"),
        WITH_LIMIT,
    ),
    finspace(
        "ListPermissionGroups",
        Method::Get,
        "/permission-group",
        "Lists permission groups, a page at a time.",
        &PAGE_MEMBERS,
        &LIST_PERMISSION_GROUPS_RESPONSE,
        USER_ERRORS,
    ),
    finspace(
        "GetPermissionGroup",
        Method::Get,
        "/permission-group/{permissionGroupId}",
        "Gets a permission group.",
        &[path("permissionGroupId", GROUP_ID)],
        &GET_PERMISSION_GROUP_RESPONSE,
        WITH_NOT_FOUND,
    ),
    finspace(
        "UpdatePermissionGroup",
        Method::Put,
        "/permission-group/{permissionGroupId}",
        "Changes a permission group's name, description or permissions.",
        &[
            path("permissionGroupId", GROUP_ID),
            body("name", GROUP_NAME),
            body("description", GROUP_DESCRIPTION),
            body("applicationPermissions", PERMISSIONS),
            body("clientToken", CLIENT_TOKEN),
        ],
        &group_id_response("UpdatePermissionGroupResponse"),
        WITH_CONFLICT,
    ),
    finspace(
        "DeletePermissionGroup",
        Method::Delete,
        "/permission-group/{permissionGroupId}",
        "Deletes a permission group and its memberships.",
        &[
            path("permissionGroupId", GROUP_ID),
            query("clientToken", CLIENT_TOKEN),
        ],
        &group_id_response("DeletePermissionGroupResponse"),
        &[
            INTERNAL,
            VALIDATION,
            THROTTLING,
            ACCESS_DENIED,
            NOT_FOUND,
            CONFLICT,
            LIMIT_EXCEEDED,
        ],
    ),
    finspace(
        "ListUsersByPermissionGroup",
        Method::Get,
        "/permission-group/{permissionGroupId}/users",
        "Lists the users of a permission group.",
        &[
            path("permissionGroupId", GROUP_ID),
            PAGE_MEMBERS[0],
            PAGE_MEMBERS[1],
        ],
        &LIST_USERS_BY_PERMISSION_GROUP_RESPONSE,
        WITH_NOT_FOUND,
    ),
    finspace(
        "AssociateUserToPermissionGroup",
        Method::Post,
        "/permission-group/{permissionGroupId}/users/{userId}",
        "Adds a user to a permission group.",
        &[
            path("permissionGroupId", GROUP_ID),
            path("userId", USER_ID),
            body("clientToken", CLIENT_TOKEN),
        ],
        &status_code_response("AssociateUserToPermissionGroupResponse"),
        WITH_CONFLICT,
    ),
    finspace(
        "DisassociateUserFromPermissionGroup",
        Method::Delete,
        "/permission-group/{permissionGroupId}/users/{userId}",
        "Removes a user from a permission group.",
        &[
            path("permissionGroupId", GROUP_ID),
            path("userId", USER_ID),
            query("clientToken", CLIENT_TOKEN),
        ],
        &status_code_response("DisassociateUserFromPermissionGroupResponse"),
        WITH_CONFLICT,
    ),
    finspace(
        "GetProgrammaticAccessCredentials",
        Method::Get,
        "/credentials/programmatic",
        "Issues temporary credentials for the caller.",
        &[
            required_query("environmentId", ENVIRONMENT_ID),
            query("durationInMinutes", SESSION_DURATION),
        ],
        &GET_PROGRAMMATIC_ACCESS_CREDENTIALS_RESPONSE,
        USER_ERRORS,
    ),
    Operation {
        name: "ListAuditEvents",
        method: Method::Get,
        path: "/audit",
        summary: "Lists the audit trail, oldest first (needs ViewAuditData).",
        extension: true,
        deprecated: false,
        access: Access::Signed,
        input: &PAGE_MEMBERS,
        output: Output::Json(&LIST_AUDIT_EVENTS_RESPONSE),
        errors: &[ACCESS_DENIED],
    },
    Operation {
        name: "SignIn",
        method: Method::Post,
        path: "/auth/sign-in",
        summary: "Signs a user in with email address and password.",
        extension: true,
        deprecated: false,
        access: Access::Open,
        input: &[
            required("emailAddress", EMAIL),
            required("password", OFFERED_PASSWORD),
        ],
        output: Output::Json(&SIGNED_IN),
        // AccessDenied: the user is not ENABLED.
        errors: &[
            NOT_AUTHORIZED,
            PASSWORD_RESET_REQUIRED,
            ACCESS_DENIED,
            THROTTLING,
        ],
    },
    Operation {
        name: "ChangePassword",
        method: Method::Post,
        path: "/auth/password",
        summary: "Replaces a user's password (e.g. a temporary one) with one the user chooses.",
        extension: true,
        deprecated: false,
        access: Access::Open,
        input: &[
            required("emailAddress", EMAIL),
            required("password", OFFERED_PASSWORD),
            required("newPassword", CHOSEN_PASSWORD),
        ],
        output: Output::Json(&SIGNED_IN),
        errors: &[NOT_AUTHORIZED, ACCESS_DENIED, THROTTLING],
    },
    Operation {
        name: "Health",
        method: Method::Get,
        path: "/health/live",
        summary: "Liveness: the process answers (no I/O).",
        extension: true,
        deprecated: false,
        access: Access::Open,
        input: &[],
        output: Output::Json(&HEALTH),
        errors: &[],
    },
    Operation {
        name: "Health",
        method: Method::Get,
        path: "/health/ready",
        summary: "Readiness: the database answers (503 when it does not).",
        extension: true,
        deprecated: false,
        access: Access::Open,
        input: &[],
        output: Output::Json(&HEALTH),
        errors: &[NOT_READY],
    },
    Operation {
        name: "Metrics",
        method: Method::Get,
        path: "/metrics",
        summary: "Prometheus metrics (open, root key only, or off as `[metrics] access` says).",
        extension: true,
        deprecated: false,
        access: Access::Metrics,
        input: &[],
        output: Output::Metrics,
        errors: &[],
    },
    Operation {
        name: "OpenApi",
        method: Method::Get,
        path: "/openapi.json",
        summary: "This document.",
        extension: true,
        deprecated: false,
        access: Access::Open,
        input: &[],
        output: Output::OpenApi,
        errors: &[],
    },
];

/// Checks a wire type against its structure: serialised with every optional member set, it has
/// exactly the structure's members; with none set, exactly the always-sent ones.
#[cfg(test)]
pub fn assert_wire(
    structure: &Structure,
    full: &impl serde::Serialize,
    least: &impl serde::Serialize,
) {
    use std::collections::BTreeSet;
    let all: BTreeSet<&str> = structure.members.iter().map(|m| m.name).collect();
    let always: BTreeSet<&str> = structure
        .members
        .iter()
        .filter(|m| m.required)
        .map(|m| m.name)
        .collect();
    let full = serde_json::to_value(full).unwrap_or_default();
    let least = serde_json::to_value(least).unwrap_or_default();
    let names = |value: &serde_json::Value| -> BTreeSet<String> {
        value
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let own =
        |set: &BTreeSet<&str>| -> BTreeSet<String> { set.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        names(&full),
        own(&all),
        "{}: every member set",
        structure.name
    );
    assert_eq!(
        names(&least),
        own(&always),
        "{}: only the always-sent members",
        structure.name
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_route_is_the_operation_its_path_names() {
        for operation in OPERATIONS {
            let path = operation
                .path
                .replace("{userId}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
                .replace("{permissionGroupId}", "g");
            assert_eq!(
                super::super::operation_of(operation.method.as_str(), &path),
                operation.name,
                "{} {}",
                operation.method.as_str(),
                operation.path
            );
        }
    }

    #[test]
    fn the_methods_of_a_path_are_its_routes() {
        assert_eq!(methods_at("/user", true), [Method::Get, Method::Post]);
        assert_eq!(methods_at("/user/u", true), [Method::Get, Method::Put]);
        assert_eq!(
            methods_at("/permission-group/g/users/u", true),
            [Method::Post, Method::Delete]
        );
        assert_eq!(methods_at("/health/live", true), [Method::Get]);
        assert_eq!(methods_at("/metrics", true), [Method::Get]);
        assert!(methods_at("/metrics", false).is_empty());
        assert!(methods_at("/user//enable", true).is_empty());
        assert!(methods_at("/nothing", true).is_empty());
    }

    #[test]
    fn routes_and_path_members_agree() {
        let mut seen = BTreeSet::new();
        for operation in OPERATIONS {
            assert!(
                seen.insert((operation.method, operation.path)),
                "{} {} twice",
                operation.method.as_str(),
                operation.path
            );
            let in_path: BTreeSet<&str> = operation
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            let members: BTreeSet<&str> = operation
                .input
                .iter()
                .filter(|m| m.at == At::Path)
                .map(|m| m.name)
                .collect();
            assert_eq!(in_path, members, "{}", operation.path);
        }
    }
}

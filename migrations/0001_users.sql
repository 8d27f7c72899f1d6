-- Users and the idempotency tokens of the calls that change them.
--
-- Times are epoch milliseconds (the wire format). Tables are STRICT so that a value of the wrong
-- type can never be stored, and the CHECKs repeat the model's enums as a last line of defence.

CREATE TABLE users (
    -- A ULID: 26 characters, sortable by creation time.
    user_id                  TEXT    NOT NULL PRIMARY KEY CHECK (length(user_id) = 26),
    -- As registered; uniqueness ignores ASCII case (see users_email_nocase).
    email                    TEXT    NOT NULL,
    user_type                TEXT    NOT NULL CHECK (user_type IN ('SUPER_USER', 'APP_USER')),
    status                   TEXT    NOT NULL CHECK (status IN ('CREATING', 'ENABLED', 'DISABLED')),
    api_access               TEXT    NOT NULL CHECK (api_access IN ('ENABLED', 'DISABLED')),
    api_access_principal_arn TEXT,
    first_name               TEXT,
    last_name                TEXT,
    create_time              INTEGER NOT NULL,
    last_enabled_time        INTEGER,
    last_disabled_time       INTEGER,
    last_modified_time       INTEGER NOT NULL,
    last_login_time          INTEGER
) STRICT, WITHOUT ROWID;

-- Emails are unique regardless of case. The model's email pattern is ASCII-only, so NOCASE (which
-- folds ASCII letters) is exactly case-insensitivity here.
CREATE UNIQUE INDEX users_email_nocase ON users (email COLLATE NOCASE);

-- The lifecycle task looks for users still CREATING; a partial index keeps that cheap however many
-- users there are.
CREATE INDEX users_creating ON users (create_time) WHERE status = 'CREATING';

-- One row per (operation, clientToken) seen within the token's lifetime. `fingerprint` is a hash of
-- the request's parameters; `result` is what the first call answered (the affected resource id).
CREATE TABLE idempotency_tokens (
    operation    TEXT    NOT NULL,
    client_token TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,
    result       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (operation, client_token)
) STRICT, WITHOUT ROWID;

CREATE INDEX idempotency_tokens_expiry ON idempotency_tokens (expires_at);

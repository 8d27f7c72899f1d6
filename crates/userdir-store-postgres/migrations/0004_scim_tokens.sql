-- Bearer tokens of SCIM clients (identity providers). A token is shown once, when it is made; only
-- the SHA-256 of its 256-bit random secret is kept. A request names its token by id and proves it
-- with the secret. Revoking keeps the row (listed, with the time), and the token is never accepted
-- again.
CREATE TABLE scim_tokens (
    token_id    TEXT    NOT NULL PRIMARY KEY CHECK (length(token_id) = 26),
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    secret_hash BYTEA   NOT NULL CHECK (length(secret_hash) = 32),
    create_time BIGINT  NOT NULL,
    revoke_time BIGINT
);

-- Names are unique regardless of case. They are ASCII, folded as ASCII whatever the database's
-- locale (under a Turkish one, plain lower('I') would not be 'i').
CREATE UNIQUE INDEX scim_tokens_name ON scim_tokens (lower(name COLLATE "C"));

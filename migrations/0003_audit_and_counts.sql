-- The audit trail, and counts that make the configured limits cheap to check.

-- One row per mutating call (written in the same transaction as the call's effect) and per refused
-- call or authentication failure. Never a secret or a password.
CREATE TABLE audit_events (
    seq         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    time        INTEGER NOT NULL,
    request_id  TEXT    NOT NULL,
    -- "root", "anonymous", "principal:<arn>", "user:<userId>", or "unauthenticated[:<accessKeyId>]"
    caller      TEXT    NOT NULL,
    operation   TEXT    NOT NULL,
    -- The id of the user or group acted on, if any.
    target      TEXT,
    -- "SUCCESS" or the AWS error name the call ended with.
    outcome     TEXT    NOT NULL
) STRICT;

-- Row counts kept by triggers in the writing transaction itself, so that a limit check is one
-- point read however large the tables grow.
CREATE TABLE entity_counts (
    kind  TEXT    NOT NULL PRIMARY KEY,
    n     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO entity_counts (kind, n) SELECT 'users', count(*) FROM users;
INSERT INTO entity_counts (kind, n) SELECT 'permission_groups', count(*) FROM permission_groups;

CREATE TRIGGER users_counted_in AFTER INSERT ON users
BEGIN UPDATE entity_counts SET n = n + 1 WHERE kind = 'users'; END;
CREATE TRIGGER users_counted_out AFTER DELETE ON users
BEGIN UPDATE entity_counts SET n = n - 1 WHERE kind = 'users'; END;
CREATE TRIGGER permission_groups_counted_in AFTER INSERT ON permission_groups
BEGIN UPDATE entity_counts SET n = n + 1 WHERE kind = 'permission_groups'; END;
CREATE TRIGGER permission_groups_counted_out AFTER DELETE ON permission_groups
BEGIN UPDATE entity_counts SET n = n - 1 WHERE kind = 'permission_groups'; END;

-- GetProgrammaticAccessCredentials finds the user bound to a principal.
CREATE INDEX users_by_principal ON users (api_access_principal_arn)
    WHERE api_access_principal_arn IS NOT NULL;

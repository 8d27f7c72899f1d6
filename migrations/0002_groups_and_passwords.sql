-- Permission groups and their members, user passwords, and the server's own keys.

CREATE TABLE permission_groups (
    -- A ULID, like user ids.
    permission_group_id     TEXT    NOT NULL PRIMARY KEY CHECK (length(permission_group_id) = 26),
    name                    TEXT    NOT NULL,
    -- Unicode lower case of the name: names are unique regardless of case, in any script (NOCASE
    -- would only fold ASCII).
    name_key                TEXT    NOT NULL,
    description             TEXT,
    -- ApplicationPermission names joined by commas, each at most once, in the model's order.
    application_permissions TEXT    NOT NULL,
    create_time             INTEGER NOT NULL,
    last_modified_time      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE UNIQUE INDEX permission_groups_name_key ON permission_groups (name_key);

-- Deleting a group or a user deletes its memberships in the same statement (and so transaction).
CREATE TABLE permission_group_members (
    permission_group_id TEXT    NOT NULL
        REFERENCES permission_groups (permission_group_id) ON DELETE CASCADE,
    user_id             TEXT    NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    membership_status   TEXT    NOT NULL CHECK (membership_status IN
                                   ('ADDITION_IN_PROGRESS', 'ADDITION_SUCCESS', 'REMOVAL_IN_PROGRESS')),
    added_time          INTEGER NOT NULL,
    PRIMARY KEY (permission_group_id, user_id)
) STRICT, WITHOUT ROWID;

-- ListPermissionGroupsByUser walks a user's groups in id order.
CREATE INDEX permission_group_members_by_user
    ON permission_group_members (user_id, permission_group_id);

-- At most one password per user: setting one replaces (and so invalidates) the previous one.
-- Only an argon2id hash is stored, never the password.
CREATE TABLE user_passwords (
    user_id       TEXT    NOT NULL PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    password_hash TEXT    NOT NULL,
    -- 1: issued by ResetUserPassword; usable once, to choose a new password, until expires_at.
    temporary     INTEGER NOT NULL CHECK (temporary IN (0, 1)),
    expires_at    INTEGER,
    set_time      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Random keys the server generates on first start (e.g. to sign pagination tokens). They never
-- leave the server.
CREATE TABLE server_keys (
    purpose     TEXT    NOT NULL PRIMARY KEY,
    key         BLOB    NOT NULL CHECK (length(key) = 32),
    create_time INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

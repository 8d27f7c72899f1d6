-- What SCIM keeps beside the FinSpace members of users and permission groups: the identity
-- provider's own id for each (`externalId`: case-exact, found by equality, at most 1,024 bytes so
-- that any value fits an index entry), and for a user, when a SCIM DELETE disabled and hid it.
-- FinSpace has no deletion, so the user stays (DISABLED, with its memberships and audit trail);
-- SCIM no longer sees it until it is enabled again after that time, through FinSpace's EnableUser
-- or a SCIM create of its email. A row exists only for resources SCIM wrote; it goes with its
-- user or group.
CREATE TABLE scim_users (
    user_id     TEXT    COLLATE "C" NOT NULL PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    external_id TEXT    CHECK (octet_length(external_id) BETWEEN 1 AND 1024),
    delete_time BIGINT
);

CREATE INDEX scim_users_external_id ON scim_users (external_id) WHERE external_id IS NOT NULL;
-- The few users SCIM deleted, so that counting them reads no others.
CREATE INDEX scim_users_deleted ON scim_users (delete_time) WHERE delete_time IS NOT NULL;

CREATE TABLE scim_groups (
    permission_group_id TEXT COLLATE "C" NOT NULL PRIMARY KEY
        REFERENCES permission_groups (permission_group_id) ON DELETE CASCADE,
    external_id         TEXT NOT NULL CHECK (octet_length(external_id) BETWEEN 1 AND 1024)
);

CREATE INDEX scim_groups_external_id ON scim_groups (external_id);

-- Limits checked without reading every slot. A create added one to a random slot of its kind and
-- then summed all 128, and the sum (128 rows that every create updates, each with its dead
-- versions) was most of a create's work in PostgreSQL: pgbench, 64 clients, durable, ran
-- userdir_create_user at ~4.3k calls/s, ~5.9k without the sum and ~6.5k without any count.
--
-- Now each slot also holds a budget: how far its count may grow. The budgets of a kind add up to
-- the limit they were shared out for (`budget_for`), so while every slot stays within its own
-- budget the kind stays within the limit, and a create only touches its own slot. A create whose
-- slot has no budget left (or whose limit is not the one shared out: the setting was changed)
-- locks every slot of the kind in slot order, reads the exact count, refuses if the limit is
-- reached, and otherwise adds itself and shares out what is left of the limit again, evenly.
-- Removing one (a deleted group) lowers a count and never needs a budget.
ALTER TABLE entity_counts ADD COLUMN budget BIGINT NOT NULL DEFAULT 0;
ALTER TABLE entity_counts ADD COLUMN budget_for BIGINT NOT NULL DEFAULT -1;

-- Adds `added` to `counted_slot` of `counted_kind` if at most `max_count` of the kind then exist:
-- true, and counted (in the caller's transaction); false, and nothing counted, otherwise.
CREATE FUNCTION userdir_count(counted_kind TEXT, counted_slot SMALLINT, added BIGINT,
                              max_count BIGINT)
RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
    total BIGINT;
    slots BIGINT;
    headroom BIGINT;
BEGIN
    -- Within the slot's budget: one row, locked until the caller commits. (A call waiting here
    -- for another's lock checks the budget again on the row as that one left it.)
    UPDATE entity_counts SET n = n + added
    WHERE kind = counted_kind AND slot = counted_slot
      AND budget_for = max_count AND n + added <= budget;
    IF FOUND THEN
        RETURN TRUE;
    END IF;

    -- Every slot, in slot order (so that two calls doing this cannot deadlock): the exact count.
    PERFORM 1 FROM entity_counts WHERE kind = counted_kind ORDER BY slot FOR UPDATE;
    SELECT sum(n), count(*) INTO total, slots FROM entity_counts WHERE kind = counted_kind;
    IF total + added > max_count THEN
        RETURN FALSE;
    END IF;
    UPDATE entity_counts SET n = n + added WHERE kind = counted_kind AND slot = counted_slot;
    headroom := max_count - total - added;
    UPDATE entity_counts
    SET budget = n + headroom / slots + CASE WHEN slot < headroom % slots THEN 1 ELSE 0 END,
        budget_for = max_count
    WHERE kind = counted_kind;
    RETURN TRUE;
END
$$;

-- CreateUser as one call (migration 0006), counting through userdir_count: the creates that may
-- be in flight elsewhere no longer matter, so the call no longer takes their number.
DROP FUNCTION userdir_create_user;

CREATE FUNCTION userdir_create_user(
    -- The clientToken's claim (all NULL for a create without one).
    token_operation    TEXT,
    claimed_token      TEXT,
    token_fingerprint  TEXT,
    token_created_at   BIGINT,
    token_expires_at   BIGINT,
    -- The user.
    new_user_id        TEXT,
    new_email          TEXT,
    new_user_type      TEXT,
    new_status         TEXT,
    new_api_access     TEXT,
    new_principal_arn  TEXT,
    new_first_name     TEXT,
    new_last_name      TEXT,
    new_create_time    BIGINT,
    new_enabled_time   BIGINT,
    new_disabled_time  BIGINT,
    new_modified_time  BIGINT,
    new_login_time     BIGINT,
    -- The count: the slot to add to, and the limit.
    count_slot         SMALLINT,
    max_users          BIGINT,
    -- The audit entry.
    audit_time         BIGINT,
    audit_request_id   TEXT,
    audit_caller       TEXT,
    audit_operation    TEXT,
    audit_target       TEXT,
    audit_detail       TEXT
) RETURNS TABLE (earlier_fingerprint TEXT, earlier_result TEXT)
LANGUAGE plpgsql AS $$
BEGIN
    IF claimed_token IS NOT NULL THEN
        -- The token's answer (the new user's id) is written with the claim: a caller waiting on
        -- this row reads it once this transaction commits, and nothing of it stays if it rolls
        -- back. An expired row left for the purger is taken over; a live one is left as it is.
        INSERT INTO idempotency_tokens AS t
            (operation, client_token, fingerprint, result, created_at, expires_at)
        VALUES (token_operation, claimed_token, token_fingerprint, new_user_id, token_created_at,
                token_expires_at)
        ON CONFLICT (operation, client_token) DO UPDATE SET
            fingerprint = EXCLUDED.fingerprint,
            result = EXCLUDED.result,
            created_at = EXCLUDED.created_at,
            expires_at = EXCLUDED.expires_at
        WHERE t.expires_at <= EXCLUDED.created_at;
        IF NOT FOUND THEN
            RETURN QUERY
                SELECT t.fingerprint, t.result FROM idempotency_tokens t
                WHERE t.operation = token_operation AND t.client_token = claimed_token;
            RETURN;
        END IF;
    END IF;

    -- A taken email raises unique_violation here, which undoes the claim with everything else.
    INSERT INTO users (
        user_id, email, user_type, status, api_access, api_access_principal_arn, first_name,
        last_name, create_time, last_enabled_time, last_disabled_time, last_modified_time,
        last_login_time)
    VALUES (new_user_id, new_email, new_user_type, new_status, new_api_access, new_principal_arn,
            new_first_name, new_last_name, new_create_time, new_enabled_time, new_disabled_time,
            new_modified_time, new_login_time);

    -- Counted after the insert: a create refused for its email waits on no slot.
    IF NOT userdir_count('users', count_slot, 1, max_users) THEN
        RAISE EXCEPTION USING ERRCODE = 'UDLIM', MESSAGE = 'the limit of users is reached';
    END IF;

    INSERT INTO audit_events (time, request_id, caller, operation, target, outcome, detail)
    VALUES (audit_time, audit_request_id, audit_caller, audit_operation, audit_target, 'SUCCESS',
            audit_detail);
END
$$;

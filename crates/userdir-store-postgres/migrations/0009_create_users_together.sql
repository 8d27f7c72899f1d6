-- CreateUser for the creates that arrive together at one instance, in one transaction: each is
-- made as userdir_create_user makes it, in a subtransaction of its own, so a create refused for
-- its email is undone alone and its batch-mates commit.
--
-- Why: PostgreSQL's work for one create in a transaction of its own is mostly the transaction's
-- (its snapshot, its commit record, its WAL flush). pgbench on the 2-core machine of the README,
-- durable: userdir_create_user alone at 64 clients, 4.1k creates/s; the same creates eight to a
-- transaction at 8 clients, 12.3k/s, and sixteen to a transaction, 14.1k/s.
--
-- userdir_create_user (migration 0007) again, with one more argument, `counted`, which the
-- batch sets to false: a batch counts its users once, at its end, in one slot. Counted per
-- create, a batch would hold its slot's row while its later creates wait on other transactions'
-- emails and tokens, and a create waiting on that slot while holding one of those would deadlock
-- with it (migration 0008 made single creates count only after every wait, for the same reason).
-- A call with the 26 arguments of before gets `counted` true: instances not yet upgraded go on.
DROP FUNCTION userdir_create_user(TEXT, TEXT, TEXT, BIGINT, BIGINT, TEXT, TEXT, TEXT, TEXT, TEXT,
                                  TEXT, TEXT, TEXT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT,
                                  SMALLINT, BIGINT, BIGINT, TEXT, TEXT, TEXT, TEXT, TEXT);

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
    audit_detail       TEXT,
    -- Whether to count the user here; userdir_create_users counts a batch's users once.
    counted            BOOLEAN DEFAULT TRUE
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
    IF counted AND NOT userdir_count('users', count_slot, 1, max_users) THEN
        RAISE EXCEPTION USING ERRCODE = 'UDLIM', MESSAGE = 'the limit of users is reached';
    END IF;

    INSERT INTO audit_events (time, request_id, caller, operation, target, outcome, detail)
    VALUES (audit_time, audit_request_id, audit_caller, audit_operation, audit_target, 'SUCCESS',
            audit_detail);
END
$$;

-- `batch` is a JSON array of creates, each an object whose members are userdir_create_user's
-- arguments by name (but the count's). One row per create, by its place in the array (from 0):
--   * APPLIED: created, with its audit entry and the token's answer;
--   * EARLIER: its clientToken was claimed before (by an earlier or concurrent call, or by an
--     earlier create of this batch): that claim's fingerprint and answer; nothing was written;
--   * EMAIL_TAKEN: refused; nothing of it was written.
-- The users made are then counted together in `count_slot` against `max_users`. The batch goes
-- ahead only if that slot's budget (migration 0007) takes all of it: checked first, before any
-- write or lock, and by the count itself at the end. Otherwise it raises UDALN and nothing of it
-- stays; the caller then makes the creates one by one, which share out the budgets again and
-- refuse exactly the creates past the limit. A deadlock or serialization failure aborts the whole
-- call too, and the caller also makes them one by one.
CREATE FUNCTION userdir_create_users(batch JSONB, count_slot SMALLINT, max_users BIGINT)
RETURNS TABLE (create_index INT, outcome TEXT, earlier_fingerprint TEXT, earlier_result TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    c JSONB;
    i INT := 0;
    applied BIGINT := 0;
    earlier RECORD;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM entity_counts
        WHERE kind = 'users' AND slot = count_slot AND budget_for = max_users
          AND n + jsonb_array_length(batch) <= budget
    ) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'UDALN',
            MESSAGE = 'count slot ' || count_slot || ' has no budget for the whole batch';
    END IF;
    FOR c IN SELECT value FROM jsonb_array_elements(batch) LOOP
        create_index := i;
        earlier_fingerprint := NULL;
        earlier_result := NULL;
        BEGIN
            SELECT * INTO earlier FROM userdir_create_user(
                c ->> 'token_operation', c ->> 'claimed_token', c ->> 'token_fingerprint',
                (c ->> 'token_created_at')::BIGINT, (c ->> 'token_expires_at')::BIGINT,
                c ->> 'new_user_id', c ->> 'new_email', c ->> 'new_user_type',
                c ->> 'new_status', c ->> 'new_api_access', c ->> 'new_principal_arn',
                c ->> 'new_first_name', c ->> 'new_last_name',
                (c ->> 'new_create_time')::BIGINT, (c ->> 'new_enabled_time')::BIGINT,
                (c ->> 'new_disabled_time')::BIGINT, (c ->> 'new_modified_time')::BIGINT,
                (c ->> 'new_login_time')::BIGINT,
                count_slot, max_users,
                (c ->> 'audit_time')::BIGINT, c ->> 'audit_request_id', c ->> 'audit_caller',
                c ->> 'audit_operation', c ->> 'audit_target', c ->> 'audit_detail',
                FALSE);
            IF FOUND THEN
                outcome := 'EARLIER';
                earlier_fingerprint := earlier.earlier_fingerprint;
                earlier_result := earlier.earlier_result;
            ELSE
                outcome := 'APPLIED';
                applied := applied + 1;
            END IF;
        EXCEPTION
            WHEN unique_violation THEN
                outcome := 'EMAIL_TAKEN';
        END;
        RETURN NEXT;
        i := i + 1;
    END LOOP;

    -- After every wait of the batch, as a single create counts after its own.
    IF applied > 0 AND NOT userdir_count('users', count_slot, applied, max_users) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'UDALN',
            MESSAGE = 'the limit of users leaves no room for the whole batch';
    END IF;
END
$$;

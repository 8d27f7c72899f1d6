-- CreateUser in one round trip. Made of separate statements, a create was eight round trips
-- (BEGIN, the clientToken's claim, the insert, a savepoint, the count, its release, the token's
-- answer with the audit entry, COMMIT), each a wait for the network and for PostgreSQL's turn on a
-- busy CPU, while the transaction held its row locks. This function makes the same statements in
-- the same order, called as one statement in a transaction of its own (committed, durably, before
-- the call returns).
--
-- Its outcomes:
--   * no row: the user was created (with its count, audit entry and the token's answer);
--   * one row: the clientToken was claimed before (by an earlier or a concurrent call, which this
--     one waited for): its fingerprint and answer, to replay or to refuse; nothing was written;
--   * SQLSTATE 23505 (unique_violation): the email is taken; nothing was written;
--   * SQLSTATE UDLIM: the limit of users is reached; nothing was written.
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
    -- The count: the slot to add to, the limit, and how many creates may be in flight elsewhere
    -- (the server's max_connections; see counts.rs).
    count_slot         SMALLINT,
    max_users          BIGINT,
    in_flight          BIGINT,
    -- The audit entry.
    audit_time         BIGINT,
    audit_request_id   TEXT,
    audit_caller       TEXT,
    audit_operation    TEXT,
    audit_target       TEXT,
    audit_detail       TEXT
) RETURNS TABLE (earlier_fingerprint TEXT, earlier_result TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    total BIGINT;
BEGIN
    IF claimed_token IS NOT NULL THEN
        -- An expired row left for the purger is taken over; a live one is left as it is.
        INSERT INTO idempotency_tokens AS t
            (operation, client_token, fingerprint, result, created_at, expires_at)
        VALUES (token_operation, claimed_token, token_fingerprint, '', token_created_at,
                token_expires_at)
        ON CONFLICT (operation, client_token) DO UPDATE SET
            fingerprint = EXCLUDED.fingerprint,
            result = '',
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

    -- Counted after the insert: a create refused for its email waits on no slot. The block is a
    -- subtransaction: when the slot's count is too close to the limit to decide, raising undoes
    -- the bump and releases the slot's row before every slot is locked in order.
    BEGIN
        UPDATE entity_counts SET n = n + 1 WHERE kind = 'users' AND slot = count_slot;
        SELECT sum(n) INTO total FROM entity_counts WHERE kind = 'users';
        IF total + in_flight > max_users THEN
            RAISE EXCEPTION USING ERRCODE = 'UDNRL', MESSAGE = 'near the limit of users';
        END IF;
    EXCEPTION WHEN SQLSTATE 'UDNRL' THEN
        PERFORM 1 FROM entity_counts WHERE kind = 'users' ORDER BY slot FOR UPDATE;
        SELECT sum(n) INTO total FROM entity_counts WHERE kind = 'users';
        IF total + 1 > max_users THEN
            RAISE EXCEPTION USING ERRCODE = 'UDLIM', MESSAGE = 'the limit of users is reached';
        END IF;
        UPDATE entity_counts SET n = n + 1 WHERE kind = 'users' AND slot = count_slot;
    END;

    INSERT INTO audit_events (time, request_id, caller, operation, target, outcome, detail)
    VALUES (audit_time, audit_request_id, audit_caller, audit_operation, audit_target, 'SUCCESS',
            audit_detail);
    IF claimed_token IS NOT NULL THEN
        UPDATE idempotency_tokens t SET result = new_user_id
        WHERE t.operation = token_operation AND t.client_token = claimed_token;
    END IF;
END
$$;

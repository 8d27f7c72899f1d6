-- CreateUser for the creates that arrive together at one instance, in one transaction: each is
-- made exactly as userdir_create_user (migration 0008) makes it, in a subtransaction of its own,
-- so a create refused for its email or the limit is undone alone and its batch-mates commit.
--
-- Why: PostgreSQL's work for one create in a transaction of its own is mostly the transaction's
-- (its snapshot, its commit record, its WAL flush). pgbench on the 2-core machine of the README,
-- durable: userdir_create_user alone at 64 clients, 4.1k creates/s; the same creates eight to a
-- transaction at 8 clients, 12.3k/s, and sixteen to a transaction, 14.1k/s.
--
-- `batch` is a JSON array of creates, each an object whose members are userdir_create_user's
-- arguments by name. One row per create, by its place in the array (from 0):
--   * APPLIED: created, with its count, audit entry and the token's answer;
--   * EARLIER: its clientToken was claimed before (by an earlier or concurrent call, or by an
--     earlier create of this batch): that claim's fingerprint and answer; nothing was written;
--   * EMAIL_TAKEN or LIMIT_REACHED: refused; nothing of it was written.
-- Every create of the batch is counted in one slot, `count_slot`: a transaction holding several
-- slots could deadlock with another. And the batch goes ahead only if that slot's budget
-- (migration 0007) takes all of it: otherwise, or when near the limit, it raises UDALN before
-- writing or locking anything, and the caller makes the creates one by one, which share out the
-- budgets again. A deadlock or serialization failure (a budget spent concurrently after all)
-- aborts the whole call, as it would a single create; the caller then also makes them one by one.
CREATE FUNCTION userdir_create_users(batch JSONB, count_slot SMALLINT, max_users BIGINT)
RETURNS TABLE (create_index INT, outcome TEXT, earlier_fingerprint TEXT, earlier_result TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    c JSONB;
    i INT := 0;
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
                c ->> 'audit_operation', c ->> 'audit_target', c ->> 'audit_detail');
            IF FOUND THEN
                create_index := i;
                outcome := 'EARLIER';
                earlier_fingerprint := earlier.earlier_fingerprint;
                earlier_result := earlier.earlier_result;
            ELSE
                create_index := i;
                outcome := 'APPLIED';
                earlier_fingerprint := NULL;
                earlier_result := NULL;
            END IF;
        EXCEPTION
            WHEN unique_violation THEN
                create_index := i;
                outcome := 'EMAIL_TAKEN';
                earlier_fingerprint := NULL;
                earlier_result := NULL;
            WHEN SQLSTATE 'UDLIM' THEN
                create_index := i;
                outcome := 'LIMIT_REACHED';
                earlier_fingerprint := NULL;
                earlier_result := NULL;
        END;
        RETURN NEXT;
        i := i + 1;
    END LOOP;
END
$$;

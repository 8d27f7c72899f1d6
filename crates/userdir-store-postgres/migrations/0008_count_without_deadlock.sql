-- userdir_count (migration 0007) could deadlock two creates near a limit. An UPDATE that waits
-- for another transaction's row and then finds the row no longer matches its WHERE (the other
-- spent the slot's budget) still holds that row's lock until its transaction ends. So a create
-- could enter the every-slot path already holding its own slot, and two such creates, each
-- holding a slot the other had still to lock, waited for each other until PostgreSQL aborted
-- one (40P01). Seen in CI: two instances, a limit of 20, 60 creates at once; the third deadlock
-- of one create surfaced as a 500.
--
-- Now the every-slot path is entered holding no slot: the budget is read first, without a lock,
-- and a slot without budget goes straight there. Only when the budget was there when read and
-- gone once the row's lock was had (another create spent it meanwhile) does the update fail, and
-- then, holding the row, the call gives up with serialization_failure (40001): its transaction
-- rolls back, releasing the row, and the caller tries the whole create again.
CREATE OR REPLACE FUNCTION userdir_count(counted_kind TEXT, counted_slot SMALLINT, added BIGINT,
                                         max_count BIGINT)
RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
    within_budget BOOLEAN;
    total BIGINT;
    slots BIGINT;
    headroom BIGINT;
BEGIN
    SELECT budget_for = max_count AND n + added <= budget INTO within_budget
    FROM entity_counts WHERE kind = counted_kind AND slot = counted_slot;

    IF within_budget THEN
        UPDATE entity_counts SET n = n + added
        WHERE kind = counted_kind AND slot = counted_slot
          AND budget_for = max_count AND n + added <= budget;
        IF FOUND THEN
            RETURN TRUE;
        END IF;
        RAISE EXCEPTION USING
            ERRCODE = 'serialization_failure',
            MESSAGE = 'a concurrent create spent the budget of count slot ' || counted_slot;
    END IF;

    -- Every slot, in slot order (so that two calls doing this, neither holding a slot before,
    -- cannot deadlock): the exact count.
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

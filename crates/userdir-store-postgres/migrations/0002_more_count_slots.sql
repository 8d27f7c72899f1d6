-- More slots for the counts behind the limits: with 16, concurrent creates often drew the same
-- slot and each waited for the other's commit (its WAL flush). With 128 they rarely meet; the sum
-- stays one index range scan.
ALTER TABLE entity_counts DROP CONSTRAINT entity_counts_slot_check;
ALTER TABLE entity_counts ADD CONSTRAINT entity_counts_slot_check CHECK (slot >= 0 AND slot < 128);

INSERT INTO entity_counts (kind, slot, n)
SELECT kind, slot, 0
FROM (VALUES ('users'), ('permission_groups')) AS kinds (kind), generate_series(16, 127) AS slot;

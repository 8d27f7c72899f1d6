-- Users by status for the metrics, without a scan: the total is kept (entity_counts), CREATING users
-- have their index (users_creating), and this one counts the DISABLED ones. Disabled users are few,
-- so it costs writes little; ENABLED is the rest.
CREATE INDEX users_disabled ON users (user_id) WHERE status = 'DISABLED';

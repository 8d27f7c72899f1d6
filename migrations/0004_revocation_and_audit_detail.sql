-- Revocation of temporary credentials, and what an audit entry says beyond its target.

-- Moves on whenever a user is disabled, loses API access or is bound to another principal. Every
-- temporary credential carries the generation it was issued under (inside its MAC'd session token)
-- and is refused once the user's generation has moved past it: re-enabling a user does not bring
-- old credentials back.
ALTER TABLE users ADD COLUMN credential_generation INTEGER NOT NULL DEFAULT 0
    CHECK (credential_generation >= 0);

-- Written by the server, never copied from request input; bounded by what the server writes (for
-- issued credentials: their lifetime and expiry; for coalesced failures: their count and span).
ALTER TABLE audit_events ADD COLUMN detail TEXT;

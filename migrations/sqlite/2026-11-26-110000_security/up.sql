-- Security hardening (issue 11).

-- Sessions that can be ended on every store (logout, "log out everywhere", a new password):
-- the session cookie carries a random token; only its SHA-256 (hex) is kept here.
CREATE TABLE user_sessions (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);

-- A registered account is usable once the emailed link is followed.
ALTER TABLE users ADD COLUMN verified BOOLEAN NOT NULL DEFAULT TRUE;
CREATE TABLE email_verifications (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX email_verifications_user ON email_verifications (user_id);

-- A refund that leaves nothing of an order takes back the charity hours the order earned.
CREATE TABLE charity_hour_reversals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    order_id BIGINT NOT NULL UNIQUE REFERENCES orders (id),
    tenths BIGINT NOT NULL CHECK (tenths > 0),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX charity_hour_reversals_user ON charity_hour_reversals (user_id, id);

-- Welfare points an organisation grants: paid from its budget; above its approval threshold
-- they wait for another admin (rows_json holds the checked rows until then).
CREATE TABLE org_points_grants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    granted_by BIGINT NOT NULL REFERENCES users (id),
    status TEXT NOT NULL CHECK (status IN ('granted', 'pending', 'rejected')),
    members BIGINT NOT NULL CHECK (members > 0),
    points BIGINT NOT NULL CHECK (points > 0),
    cost_fen BIGINT NOT NULL CHECK (cost_fen >= 0),
    rows_json TEXT NOT NULL,
    decided_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    CHECK (decided_by IS NULL OR decided_by <> granted_by)
);
CREATE INDEX org_points_grants_org ON org_points_grants (org_id, id);

-- The credit ledger: every paid line, refund, points donation and charity pledge, credited to
-- its campaign, cooperative and county. Each entry carries the SHA-256 of its canonical
-- encoding, which includes the previous entry's hash; the head row serialises appends.

CREATE TABLE donation_projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    description_zh TEXT NOT NULL DEFAULT '',
    description_en TEXT NOT NULL DEFAULT '',
    -- each multiple of this amount is a milestone ("a love library per ¥10,000")
    milestone_fen BIGINT NOT NULL CHECK (milestone_fen > 0),
    organiser_email TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE
);

-- A cooperative's pledge per unit sold, to a named charity project.
ALTER TABLE skus ADD COLUMN charity_project_id BIGINT REFERENCES donation_projects (id);

CREATE TABLE donations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES donation_projects (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    points BIGINT NOT NULL CHECK (points > 0 AND points % 50 = 0),
    value_fen BIGINT NOT NULL CHECK (value_fen > 0),
    province_id BIGINT REFERENCES provinces (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX donations_project ON donations (project_id);
CREATE INDEX donations_user ON donations (user_id, id);

-- One row per milestone reached: the primary key makes each crossing fire once.
CREATE TABLE donation_milestones (
    project_id BIGINT NOT NULL REFERENCES donation_projects (id),
    milestone BIGINT NOT NULL CHECK (milestone > 0),
    donation_id BIGINT NOT NULL REFERENCES donations (id),
    reached_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, milestone)
);

CREATE TABLE credit_entries (
    seq BIGINT PRIMARY KEY CHECK (seq > 0),
    kind TEXT NOT NULL CHECK (kind IN ('sale', 'sale_reversal', 'charity', 'charity_reversal', 'donation')),
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    producer_id BIGINT REFERENCES producers (id),
    county_id BIGINT REFERENCES counties (id),
    org_id BIGINT REFERENCES organisations (id),
    project_id BIGINT REFERENCES donation_projects (id),
    channel TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('direct_purchase', 'helped_sales', 'donation')),
    amount_fen BIGINT NOT NULL CHECK (amount_fen <> 0),
    order_line_id BIGINT REFERENCES order_lines (id),
    refund_id BIGINT REFERENCES refunds (id),
    donation_id BIGINT REFERENCES donations (id),
    created_at TIMESTAMP NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);
-- Every paid line is credited once, and each refund reverses a line once.
CREATE UNIQUE INDEX credit_entries_sale ON credit_entries (kind, order_line_id) WHERE refund_id IS NULL AND order_line_id IS NOT NULL;
CREATE UNIQUE INDEX credit_entries_reversal ON credit_entries (kind, order_line_id, refund_id) WHERE refund_id IS NOT NULL;
CREATE INDEX credit_entries_campaign ON credit_entries (campaign_id, created_at);
CREATE INDEX credit_entries_line ON credit_entries (order_line_id);

CREATE TRIGGER credit_entries_no_update BEFORE UPDATE ON credit_entries
BEGIN SELECT RAISE(ABORT, 'credit_entries is append-only'); END;
CREATE TRIGGER credit_entries_no_delete BEFORE DELETE ON credit_entries
BEGIN SELECT RAISE(ABORT, 'credit_entries is append-only'); END;

-- The chain's head: appends lock this row, so entries link in commit order.
CREATE TABLE ledger_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    entries BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO ledger_head (id, entries, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Signed statements "the ledger had this many entries and this head", published for anyone.
CREATE TABLE ledger_checkpoints (
    entries BIGINT PRIMARY KEY,
    head TEXT NOT NULL,
    signed_at TIMESTAMP NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- Charity hours in tenths: 1 per paid assistance order, 1 per donation.
CREATE TABLE charity_hours (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    tenths BIGINT NOT NULL CHECK (tenths > 0),
    order_id BIGINT REFERENCES orders (id),
    donation_id BIGINT REFERENCES donations (id),
    created_at TIMESTAMP NOT NULL,
    CHECK ((order_id IS NULL) <> (donation_id IS NULL))
);
CREATE UNIQUE INDEX charity_hours_order ON charity_hours (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX charity_hours_user ON charity_hours (user_id, id);

-- Settlement with the cooperatives (issue 14): an append-only earnings ledger per producer,
-- statements per period, payouts, bank details.

-- The rate fixed on each line when its order was placed.
CREATE TABLE settlement_line_terms (
    order_line_id BIGINT PRIMARY KEY REFERENCES order_lines (id),
    fee_bps BIGINT NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000)
);

-- One row per producer: the cached balances (the sums of its entries) and its bank details.
-- Every earnings change locks this row (last in the lock order).
CREATE TABLE earnings_accounts (
    producer_id BIGINT PRIMARY KEY REFERENCES producers (id),
    -- the platform's rate, in basis points (832: none), fixed on each line when placed
    fee_bps BIGINT NOT NULL DEFAULT 0 CHECK (fee_bps BETWEEN 0 AND 10000),
    pending_fen BIGINT NOT NULL DEFAULT 0,
    available_fen BIGINT NOT NULL DEFAULT 0,
    in_payout_fen BIGINT NOT NULL DEFAULT 0 CHECK (in_payout_fen >= 0),
    paid_out_fen BIGINT NOT NULL DEFAULT 0 CHECK (paid_out_fen >= 0),
    fees_fen BIGINT NOT NULL DEFAULT 0,
    account_name TEXT,
    bank TEXT,
    account_no TEXT,
    bank_changed_at TIMESTAMP,
    payouts_held_until TIMESTAMP
);
INSERT INTO earnings_accounts (producer_id) SELECT id FROM producers;

CREATE TABLE settlement_statements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    producer_id BIGINT NOT NULL REFERENCES producers (id),
    period_start DATE,
    period_end DATE NOT NULL,
    opening_fen BIGINT NOT NULL,
    closing_fen BIGINT NOT NULL,
    payable_fen BIGINT NOT NULL CHECK (payable_fen >= 0 AND payable_fen <= MAX(closing_fen, 0)),
    status TEXT NOT NULL CHECK (status IN ('open', 'confirmed', 'disputed')),
    note TEXT,
    created_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    decided_by BIGINT REFERENCES users (id),
    UNIQUE (producer_id, period_end)
);

CREATE TABLE payouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    statement_id BIGINT NOT NULL UNIQUE REFERENCES settlement_statements (id),
    producer_id BIGINT NOT NULL REFERENCES producers (id),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    status TEXT NOT NULL CHECK (status IN ('queued', 'paid', 'failed')),
    account_name TEXT,
    bank TEXT,
    account_no TEXT,
    bank_reference TEXT,
    reason TEXT,
    created_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    decided_by BIGINT REFERENCES users (id)
);
CREATE INDEX payouts_status ON payouts (status, id);

-- Every movement of a producer's money, never updated: each names the buckets it moves
-- (pending, available, in payout, paid out, fees) and the amount shown on a statement.
CREATE TABLE earnings_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    producer_id BIGINT NOT NULL REFERENCES producers (id),
    kind TEXT NOT NULL CHECK (kind IN ('earning', 'platform_fee', 'channel_fee', 'refund', 'clawback',
        'platform_fee_reversal', 'channel_fee_reversal', 'available', 'payout_hold', 'payout', 'payout_failed')),
    campaign_id BIGINT REFERENCES campaigns (id),
    order_line_id BIGINT REFERENCES order_lines (id),
    refund_id BIGINT REFERENCES refunds (id),
    statement_id BIGINT REFERENCES settlement_statements (id),
    payout_id BIGINT REFERENCES payouts (id),
    amount_fen BIGINT NOT NULL,
    pending_fen BIGINT NOT NULL DEFAULT 0,
    available_fen BIGINT NOT NULL DEFAULT 0,
    in_payout_fen BIGINT NOT NULL DEFAULT 0,
    paid_out_fen BIGINT NOT NULL DEFAULT 0,
    fees_fen BIGINT NOT NULL DEFAULT 0,
    -- the cash part of the line or refund (for the channel fee)
    cash_fen BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    -- what every entry moves adds up to nothing but what entered or left: earnings enter
    -- pending, refunds leave; the rest move between buckets
    CHECK (kind IN ('earning', 'refund', 'clawback')
        OR pending_fen + available_fen + in_payout_fen + paid_out_fen + fees_fen = 0)
);
CREATE UNIQUE INDEX earnings_entries_line ON earnings_entries (kind, order_line_id) WHERE refund_id IS NULL AND order_line_id IS NOT NULL;
CREATE UNIQUE INDEX earnings_entries_refund ON earnings_entries (kind, order_line_id, refund_id) WHERE refund_id IS NOT NULL;
CREATE UNIQUE INDEX earnings_entries_payout ON earnings_entries (kind, payout_id) WHERE payout_id IS NOT NULL;
CREATE INDEX earnings_entries_producer ON earnings_entries (producer_id, id);
CREATE INDEX earnings_entries_order_line ON earnings_entries (order_line_id);
CREATE TRIGGER earnings_entries_no_update BEFORE UPDATE ON earnings_entries
BEGIN SELECT RAISE(ABORT, 'earnings_entries is append-only'); END;
CREATE TRIGGER earnings_entries_no_delete BEFORE DELETE ON earnings_entries
BEGIN SELECT RAISE(ABORT, 'earnings_entries is append-only'); END;

-- Which statement shows an entry: each entry is on one statement at most.
CREATE TABLE statement_lines (
    statement_id BIGINT NOT NULL REFERENCES settlement_statements (id),
    entry_id BIGINT NOT NULL UNIQUE REFERENCES earnings_entries (id),
    PRIMARY KEY (statement_id, entry_id)
);

-- A payout marked paid is posted to the credit ledger's chain: the producer, its period, the
-- amount and the SHA-256 of the bank's reference (never the account number). It belongs to
-- no campaign; its canonical text adds payout_id|period_end|reference_hash (ARCHITECTURE.md).
-- SQLite changes a column's constraints by rebuilding the table.
CREATE TABLE credit_entries_new (
    seq BIGINT PRIMARY KEY CHECK (seq > 0),
    kind TEXT NOT NULL CHECK (kind IN ('sale', 'sale_reversal', 'charity', 'charity_reversal', 'donation', 'payout')),
    campaign_id BIGINT REFERENCES campaigns (id),
    producer_id BIGINT REFERENCES producers (id),
    county_id BIGINT REFERENCES counties (id),
    org_id BIGINT REFERENCES organisations (id),
    project_id BIGINT REFERENCES donation_projects (id),
    channel TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('direct_purchase', 'helped_sales', 'donation', 'payout')),
    amount_fen BIGINT NOT NULL CHECK (amount_fen <> 0),
    order_line_id BIGINT REFERENCES order_lines (id),
    refund_id BIGINT REFERENCES refunds (id),
    donation_id BIGINT REFERENCES donations (id),
    created_at TIMESTAMP NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    payout_id BIGINT REFERENCES payouts (id),
    period_end DATE,
    reference_hash TEXT,
    CHECK ((kind = 'payout') = (campaign_id IS NULL)
        AND (kind = 'payout') = (payout_id IS NOT NULL AND period_end IS NOT NULL AND reference_hash IS NOT NULL))
);
INSERT INTO credit_entries_new (seq, kind, campaign_id, producer_id, county_id, org_id, project_id, channel, category,
    amount_fen, order_line_id, refund_id, donation_id, created_at, prev_hash, hash)
SELECT seq, kind, campaign_id, producer_id, county_id, org_id, project_id, channel, category,
    amount_fen, order_line_id, refund_id, donation_id, created_at, prev_hash, hash FROM credit_entries;
DROP TABLE credit_entries;
ALTER TABLE credit_entries_new RENAME TO credit_entries;
CREATE UNIQUE INDEX credit_entries_sale ON credit_entries (kind, order_line_id) WHERE refund_id IS NULL AND order_line_id IS NOT NULL;
CREATE UNIQUE INDEX credit_entries_reversal ON credit_entries (kind, order_line_id, refund_id) WHERE refund_id IS NOT NULL;
CREATE INDEX credit_entries_campaign ON credit_entries (campaign_id, created_at);
CREATE INDEX credit_entries_line ON credit_entries (order_line_id);
CREATE UNIQUE INDEX credit_entries_payout ON credit_entries (payout_id) WHERE payout_id IS NOT NULL;
CREATE TRIGGER credit_entries_no_update BEFORE UPDATE ON credit_entries
BEGIN SELECT RAISE(ABORT, 'credit_entries is append-only'); END;
CREATE TRIGGER credit_entries_no_delete BEFORE DELETE ON credit_entries
BEGIN SELECT RAISE(ABORT, 'credit_entries is append-only'); END;

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
    id BIGSERIAL PRIMARY KEY,
    producer_id BIGINT NOT NULL REFERENCES producers (id),
    period_start DATE,
    period_end DATE NOT NULL,
    opening_fen BIGINT NOT NULL,
    closing_fen BIGINT NOT NULL,
    payable_fen BIGINT NOT NULL CHECK (payable_fen >= 0 AND payable_fen <= GREATEST(closing_fen, 0)),
    status TEXT NOT NULL CHECK (status IN ('open', 'confirmed', 'disputed')),
    note TEXT,
    created_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    decided_by BIGINT REFERENCES users (id),
    UNIQUE (producer_id, period_end)
);

CREATE TABLE payouts (
    id BIGSERIAL PRIMARY KEY,
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
    id BIGSERIAL PRIMARY KEY,
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
CREATE TRIGGER earnings_entries_append_only BEFORE UPDATE OR DELETE ON earnings_entries
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER earnings_entries_no_truncate BEFORE TRUNCATE ON earnings_entries
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- Which statement shows an entry: each entry is on one statement at most.
CREATE TABLE statement_lines (
    statement_id BIGINT NOT NULL REFERENCES settlement_statements (id),
    entry_id BIGINT NOT NULL UNIQUE REFERENCES earnings_entries (id),
    PRIMARY KEY (statement_id, entry_id)
);

-- A payout marked paid is posted to the credit ledger's chain: the producer, its period, the
-- amount and the SHA-256 of the bank's reference (never the account number). It belongs to
-- no campaign; its canonical text adds payout_id|period_end|reference_hash (ARCHITECTURE.md).
ALTER TABLE credit_entries ALTER COLUMN campaign_id DROP NOT NULL;
ALTER TABLE credit_entries DROP CONSTRAINT credit_entries_kind_check;
ALTER TABLE credit_entries ADD CONSTRAINT credit_entries_kind_check
    CHECK (kind IN ('sale', 'sale_reversal', 'charity', 'charity_reversal', 'donation', 'payout'));
ALTER TABLE credit_entries DROP CONSTRAINT credit_entries_category_check;
ALTER TABLE credit_entries ADD CONSTRAINT credit_entries_category_check
    CHECK (category IN ('direct_purchase', 'helped_sales', 'donation', 'payout'));
ALTER TABLE credit_entries ADD COLUMN payout_id BIGINT REFERENCES payouts (id);
ALTER TABLE credit_entries ADD COLUMN period_end DATE;
ALTER TABLE credit_entries ADD COLUMN reference_hash TEXT;
ALTER TABLE credit_entries ADD CONSTRAINT credit_entries_campaign_or_payout
    CHECK ((kind = 'payout') = (campaign_id IS NULL)
        AND (kind = 'payout') = (payout_id IS NOT NULL AND period_end IS NOT NULL AND reference_hash IS NOT NULL));
CREATE UNIQUE INDEX credit_entries_payout ON credit_entries (payout_id) WHERE payout_id IS NOT NULL;

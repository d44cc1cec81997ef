-- Rebuilds credit_entries as it was (payout entries cannot be kept: the insert below
-- fails on the old CHECK if there are any, and the migration is rolled back).
CREATE TABLE credit_entries_old (
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
INSERT INTO credit_entries_old (seq, kind, campaign_id, producer_id, county_id, org_id, project_id, channel, category,
    amount_fen, order_line_id, refund_id, donation_id, created_at, prev_hash, hash)
SELECT seq, kind, campaign_id, producer_id, county_id, org_id, project_id, channel, category,
    amount_fen, order_line_id, refund_id, donation_id, created_at, prev_hash, hash FROM credit_entries;
DROP TABLE credit_entries;
ALTER TABLE credit_entries_old RENAME TO credit_entries;
-- Every paid line is credited once, and each refund reverses a line once.
CREATE UNIQUE INDEX credit_entries_sale ON credit_entries (kind, order_line_id) WHERE refund_id IS NULL AND order_line_id IS NOT NULL;
CREATE UNIQUE INDEX credit_entries_reversal ON credit_entries (kind, order_line_id, refund_id) WHERE refund_id IS NOT NULL;
CREATE INDEX credit_entries_campaign ON credit_entries (campaign_id, created_at);
CREATE INDEX credit_entries_line ON credit_entries (order_line_id);

CREATE TRIGGER credit_entries_no_update BEFORE UPDATE ON credit_entries
BEGIN SELECT RAISE(ABORT, 'credit_entries is append-only'); END;
CREATE TRIGGER credit_entries_no_delete BEFORE DELETE ON credit_entries
BEGIN SELECT RAISE(ABORT, 'credit_entries is append-only'); END;
DROP TABLE statement_lines;
DROP TABLE earnings_entries;
DROP TABLE payouts;
DROP TABLE settlement_statements;
DROP TABLE earnings_accounts;
DROP TABLE settlement_line_terms;

-- Settlement, the rest of issue 14: each producer's settlement period (the automatic runs),
-- the admin's decision on a disputed statement, and who funds each points lot.

-- A producer's statements close weekly (Monday to Sunday) or monthly (calendar months), in
-- the store's time zone.
ALTER TABLE producers ADD COLUMN settlement_period TEXT NOT NULL DEFAULT 'monthly'
    CHECK (settlement_period IN ('weekly', 'monthly'));

-- A disputed statement is held until an admin upholds it (it becomes a payout when payable)
-- or voids it (its entries return for the next run; the hold goes back to available).
ALTER TABLE settlement_statements ADD COLUMN resolution TEXT
    CHECK (resolution IS NULL OR (resolution IN ('upheld', 'voided') AND status = 'disputed'));
ALTER TABLE settlement_statements ADD COLUMN resolution_note TEXT;
ALTER TABLE settlement_statements ADD COLUMN resolved_at TIMESTAMP;
ALTER TABLE settlement_statements ADD COLUMN resolved_by BIGINT REFERENCES users (id);

-- A voided statement's hold comes back to available: `hold_released` (in payout → available).
-- SQLite changes a column's constraints by rebuilding the table; statement_lines, its only
-- child, is rebuilt with it so no row ever points at a dropped table.
CREATE TABLE earnings_entries_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    producer_id BIGINT NOT NULL REFERENCES producers (id),
    kind TEXT NOT NULL CHECK (kind IN ('earning', 'platform_fee', 'channel_fee', 'refund', 'clawback',
        'platform_fee_reversal', 'channel_fee_reversal', 'available', 'payout_hold', 'payout', 'payout_failed',
        'hold_released')),
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
    cash_fen BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    CHECK (kind IN ('earning', 'refund', 'clawback')
        OR pending_fen + available_fen + in_payout_fen + paid_out_fen + fees_fen = 0)
);
INSERT INTO earnings_entries_new SELECT id, producer_id, kind, campaign_id, order_line_id, refund_id, statement_id,
    payout_id, amount_fen, pending_fen, available_fen, in_payout_fen, paid_out_fen, fees_fen, cash_fen, created_at
    FROM earnings_entries;
CREATE TABLE statement_lines_new (
    statement_id BIGINT NOT NULL REFERENCES settlement_statements (id),
    entry_id BIGINT NOT NULL UNIQUE REFERENCES earnings_entries_new (id),
    PRIMARY KEY (statement_id, entry_id)
);
INSERT INTO statement_lines_new SELECT statement_id, entry_id FROM statement_lines;
DROP TABLE statement_lines;
DROP TABLE earnings_entries;
ALTER TABLE earnings_entries_new RENAME TO earnings_entries;
ALTER TABLE statement_lines_new RENAME TO statement_lines;
CREATE UNIQUE INDEX earnings_entries_line ON earnings_entries (kind, order_line_id) WHERE refund_id IS NULL AND order_line_id IS NOT NULL;
CREATE UNIQUE INDEX earnings_entries_refund ON earnings_entries (kind, order_line_id, refund_id) WHERE refund_id IS NOT NULL;
CREATE UNIQUE INDEX earnings_entries_payout ON earnings_entries (kind, payout_id) WHERE payout_id IS NOT NULL;
CREATE INDEX earnings_entries_producer ON earnings_entries (producer_id, id);
CREATE INDEX earnings_entries_order_line ON earnings_entries (order_line_id);
CREATE TRIGGER earnings_entries_no_update BEFORE UPDATE ON earnings_entries
BEGIN SELECT RAISE(ABORT, 'earnings_entries is append-only'); END;
CREATE TRIGGER earnings_entries_no_delete BEFORE DELETE ON earnings_entries
BEGIN SELECT RAISE(ABORT, 'earnings_entries is append-only'); END;

-- Who funds a points lot: the organisation that granted it as welfare (it prepaid the points
-- from its budget), or the platform (an admin's grant, the demo's).
ALTER TABLE points_lots ADD COLUMN funder TEXT NOT NULL DEFAULT 'platform'
    CHECK (funder IN ('platform', 'organisation'));
ALTER TABLE points_lots ADD COLUMN funder_org_id BIGINT REFERENCES organisations (id)
    CHECK ((funder = 'organisation') = (funder_org_id IS NOT NULL));
-- Existing lots: an organisation's welfare grant is named "<organisation>: <reason>" and was
-- made by one of its admins; the seeded demo points (no granter) are welfare of the member's
-- first organisation; everything else (platform admins' grants) stays the platform's.
UPDATE points_lots SET funder = 'organisation', funder_org_id = (
    SELECT o.id FROM organisations o JOIN memberships m ON m.org_id = o.id AND m.user_id = points_lots.granted_by
    WHERE substr(points_lots.reason, 1, length(o.name_zh) + 2) = o.name_zh || ': '
    ORDER BY length(o.name_zh) DESC, o.id LIMIT 1)
WHERE granted_by IS NOT NULL AND EXISTS (
    SELECT 1 FROM organisations o JOIN memberships m ON m.org_id = o.id AND m.user_id = points_lots.granted_by
    WHERE substr(points_lots.reason, 1, length(o.name_zh) + 2) = o.name_zh || ': ');
UPDATE points_lots SET funder = 'organisation', funder_org_id = (
    SELECT m.org_id FROM points_accounts a JOIN memberships m ON m.user_id = a.user_id
    WHERE a.id = points_lots.account_id ORDER BY m.org_id LIMIT 1)
WHERE granted_by IS NULL AND reason = 'demo welfare points / 示例福利积分' AND EXISTS (
    SELECT 1 FROM points_accounts a JOIN memberships m ON m.user_id = a.user_id WHERE a.id = points_lots.account_id);
CREATE INDEX points_lots_funder ON points_lots (funder_org_id) WHERE funder_org_id IS NOT NULL;
CREATE INDEX points_entries_lot ON points_entries (lot_id, created_at);

-- Settlement, the rest of issue 14: each producer's settlement period (the automatic runs),
-- the admin's decision on a disputed statement, and who funds each points lot.

-- A producer's statements close weekly (Monday to Sunday) or monthly (calendar months), in
-- the store's time zone.
ALTER TABLE producers ADD COLUMN settlement_period TEXT NOT NULL DEFAULT 'monthly'
    CHECK (settlement_period IN ('weekly', 'monthly'));

-- A disputed statement is held until an admin upholds it (it becomes a payout when payable)
-- or voids it (its entries return for the next run; the hold goes back to available).
ALTER TABLE settlement_statements ADD COLUMN resolution TEXT CHECK (resolution IN ('upheld', 'voided'));
ALTER TABLE settlement_statements ADD COLUMN resolution_note TEXT;
ALTER TABLE settlement_statements ADD COLUMN resolved_at TIMESTAMP;
ALTER TABLE settlement_statements ADD COLUMN resolved_by BIGINT REFERENCES users (id);
ALTER TABLE settlement_statements ADD CONSTRAINT settlement_statements_resolution
    CHECK (resolution IS NULL OR (status = 'disputed' AND resolution_note IS NOT NULL AND resolved_at IS NOT NULL));

-- A voided statement's hold comes back to available: `hold_released` (in payout → available).
ALTER TABLE earnings_entries DROP CONSTRAINT earnings_entries_kind_check;
ALTER TABLE earnings_entries ADD CONSTRAINT earnings_entries_kind_check
    CHECK (kind IN ('earning', 'platform_fee', 'channel_fee', 'refund', 'clawback', 'platform_fee_reversal',
        'channel_fee_reversal', 'available', 'payout_hold', 'payout', 'payout_failed', 'hold_released'));

-- Who funds a points lot: the organisation that granted it as welfare (it prepaid the points
-- from its budget), or the platform (an admin's grant, the demo's).
ALTER TABLE points_lots ADD COLUMN funder TEXT NOT NULL DEFAULT 'platform'
    CHECK (funder IN ('platform', 'organisation'));
ALTER TABLE points_lots ADD COLUMN funder_org_id BIGINT REFERENCES organisations (id);
ALTER TABLE points_lots ADD CONSTRAINT points_lots_funder
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

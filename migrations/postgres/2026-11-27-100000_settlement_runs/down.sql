DROP INDEX points_entries_lot;
DROP INDEX points_lots_funder;
ALTER TABLE points_lots DROP CONSTRAINT points_lots_funder;
ALTER TABLE points_lots DROP COLUMN funder_org_id;
ALTER TABLE points_lots DROP COLUMN funder;
ALTER TABLE earnings_entries DROP CONSTRAINT earnings_entries_kind_check;
ALTER TABLE earnings_entries ADD CONSTRAINT earnings_entries_kind_check
    CHECK (kind IN ('earning', 'platform_fee', 'channel_fee', 'refund', 'clawback', 'platform_fee_reversal',
        'channel_fee_reversal', 'available', 'payout_hold', 'payout', 'payout_failed'));
ALTER TABLE settlement_statements DROP CONSTRAINT settlement_statements_resolution;
ALTER TABLE settlement_statements DROP COLUMN resolved_by;
ALTER TABLE settlement_statements DROP COLUMN resolved_at;
ALTER TABLE settlement_statements DROP COLUMN resolution_note;
ALTER TABLE settlement_statements DROP COLUMN resolution;
ALTER TABLE producers DROP COLUMN settlement_period;

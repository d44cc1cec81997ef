DROP INDEX points_entries_lot;
DROP INDEX points_lots_funder;
ALTER TABLE points_lots DROP COLUMN funder_org_id;
ALTER TABLE points_lots DROP COLUMN funder;
-- The earnings_entries kind list keeps hold_released (rebuilding it back would refuse rows
-- of that kind anyway).
ALTER TABLE settlement_statements DROP COLUMN resolved_by;
ALTER TABLE settlement_statements DROP COLUMN resolved_at;
ALTER TABLE settlement_statements DROP COLUMN resolution_note;
ALTER TABLE settlement_statements DROP COLUMN resolution;
ALTER TABLE producers DROP COLUMN settlement_period;

-- Payout entries cannot be kept once the payouts are gone: the chain is rebuilt without them
-- only by restoring a backup, so this refuses when there are any.
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM credit_entries WHERE kind = 'payout') THEN
        RAISE EXCEPTION 'the credit ledger holds payout entries; restore a backup instead';
    END IF;
END $$;
DROP INDEX credit_entries_payout;
ALTER TABLE credit_entries DROP CONSTRAINT credit_entries_campaign_or_payout;
ALTER TABLE credit_entries DROP COLUMN reference_hash;
ALTER TABLE credit_entries DROP COLUMN period_end;
ALTER TABLE credit_entries DROP COLUMN payout_id;
ALTER TABLE credit_entries DROP CONSTRAINT credit_entries_category_check;
ALTER TABLE credit_entries ADD CONSTRAINT credit_entries_category_check
    CHECK (category IN ('direct_purchase', 'helped_sales', 'donation'));
ALTER TABLE credit_entries DROP CONSTRAINT credit_entries_kind_check;
ALTER TABLE credit_entries ADD CONSTRAINT credit_entries_kind_check
    CHECK (kind IN ('sale', 'sale_reversal', 'charity', 'charity_reversal', 'donation'));
ALTER TABLE credit_entries ALTER COLUMN campaign_id SET NOT NULL;
DROP TABLE statement_lines;
DROP TABLE earnings_entries;
DROP TABLE payouts;
DROP TABLE settlement_statements;
DROP TABLE earnings_accounts;
DROP TABLE settlement_line_terms;

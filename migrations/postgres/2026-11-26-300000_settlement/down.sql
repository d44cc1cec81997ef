DROP TABLE statement_lines;
DROP TABLE earnings_entries;
DROP TABLE payouts;
DROP TABLE settlement_statements;
DROP TABLE earnings_accounts;
DROP TABLE settlement_line_terms;

DROP TABLE statement_dispute_lines;
DROP TABLE statement_reviews;
DROP TABLE procurement_targets;
DROP TABLE invoices;
DROP TABLE invoice_request_parts;
DROP TABLE invoice_requests;
DROP TABLE invoice_titles;

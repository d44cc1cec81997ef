DROP TABLE procurement_targets;
DROP TABLE invoices;
DROP TABLE invoice_request_parts;
DROP TABLE invoice_requests;
DROP TABLE invoice_titles;

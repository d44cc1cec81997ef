ALTER TABLE order_lines DROP COLUMN recipient_id;
DROP TABLE order_recipients;

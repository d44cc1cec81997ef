DROP TABLE product_images;
DROP INDEX order_lines_producer;
DROP TABLE shipments;
ALTER TABLE stock_movements DROP COLUMN stock_after;
ALTER TABLE stock_movements DROP COLUMN stock_before;

ALTER TABLE orders DROP COLUMN stock_reserved;
DROP TABLE flash_orders;
DROP TABLE flash_sales;

DROP INDEX stock_movements_order;
DROP FUNCTION take_stock_for_sale(BIGINT, BIGINT, BIGINT, BIGINT, TIMESTAMP);

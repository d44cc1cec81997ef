DROP INDEX stock_movements_order;

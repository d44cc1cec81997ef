-- SQLite serialises writers, so an order's stock is taken by ordinary statements inside its
-- transaction (PostgreSQL's take_stock_for_sale has no counterpart here). The index is the same
-- on both.
CREATE INDEX stock_movements_order ON stock_movements (order_id);

-- An order's last statements: take each SKU's units for a sale and write the history row, or
-- fail with `out_of_stock:` (the caller then rolls back). Called in the same round trip as the
-- COMMIT (inventory::model::take_for_sale_and_commit_pg), so a hot SKU's row lock is held only
-- while the commit is flushed, never while the client is scheduled.
CREATE FUNCTION take_stock_for_sale(p_sku BIGINT, p_quantity BIGINT, p_order BIGINT, p_user BIGINT, p_at TIMESTAMP)
RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
    left_after BIGINT;
BEGIN
    UPDATE skus SET stock = stock - p_quantity WHERE id = p_sku AND stock >= p_quantity
        RETURNING stock INTO left_after;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'out_of_stock: SKU % does not have % left', p_sku, p_quantity;
    END IF;
    INSERT INTO stock_movements (sku_id, delta, reason, order_id, user_id, created_at, stock_before, stock_after)
        VALUES (p_sku, -p_quantity, 'sale', p_order, p_user, p_at, left_after + p_quantity, left_after);
END
$$;

-- The committed take is read back by its order: its exact stock before and after, for the
-- low-stock alert.
CREATE INDEX stock_movements_order ON stock_movements (order_id);

CREATE OR REPLACE FUNCTION take_stock_for_sale(p_sku BIGINT, p_quantity BIGINT, p_order BIGINT, p_user BIGINT, p_at TIMESTAMP)
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
DROP TABLE stock_alerts;

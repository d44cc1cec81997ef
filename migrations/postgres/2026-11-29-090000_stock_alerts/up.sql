-- What an order's stock take saw when it mattered (the SKU went below its low-stock threshold,
-- or sold out), written by take_stock_for_sale in the order's transaction and handled by the
-- "stock alerts sent" job (inventory::service::send_stock_alerts): the order's round trip
-- that took the stock and committed is then its last, with nothing to read back.
CREATE TABLE stock_alerts (
    id BIGSERIAL PRIMARY KEY,
    sku_id BIGINT NOT NULL REFERENCES skus(id),
    stock_before BIGINT NOT NULL,
    stock_after BIGINT NOT NULL,
    threshold BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE OR REPLACE FUNCTION take_stock_for_sale(p_sku BIGINT, p_quantity BIGINT, p_order BIGINT, p_user BIGINT, p_at TIMESTAMP)
RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
    left_after BIGINT;
    threshold BIGINT;
BEGIN
    UPDATE skus SET stock = stock - p_quantity WHERE id = p_sku AND stock >= p_quantity
        RETURNING stock, low_stock_threshold INTO left_after, threshold;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'out_of_stock: SKU % does not have % left', p_sku, p_quantity;
    END IF;
    INSERT INTO stock_movements (sku_id, delta, reason, order_id, user_id, created_at, stock_before, stock_after)
        VALUES (p_sku, -p_quantity, 'sale', p_order, p_user, p_at, left_after + p_quantity, left_after);
    -- The same test as StockChange::crossed_low, or sold out (a sale always starts above zero).
    IF (left_after + p_quantity >= threshold AND threshold > left_after) OR left_after = 0 THEN
        INSERT INTO stock_alerts (sku_id, stock_before, stock_after, threshold, created_at)
            VALUES (p_sku, left_after + p_quantity, left_after, threshold, p_at);
    END IF;
END
$$;

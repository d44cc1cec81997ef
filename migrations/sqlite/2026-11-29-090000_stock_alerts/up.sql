-- The same queue as on PostgreSQL, where take_stock_for_sale fills it. SQLite takes stock with
-- ordinary statements and alerts at once, so nothing writes here; the job finds it empty.
CREATE TABLE stock_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sku_id BIGINT NOT NULL REFERENCES skus(id),
    stock_before BIGINT NOT NULL,
    stock_after BIGINT NOT NULL,
    threshold BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

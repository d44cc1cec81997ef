-- Flash sales (直播秒杀): a quantity of one SKU set aside from stock for a period, sold at a
-- sale price with a per-buyer limit. `sold` counts the units of orders not cancelled; the
-- database refuses more than `quantity` (CHECK and a conditional update), whatever the
-- admission layer in front of it says. `generation` goes up whenever units come back to the
-- sale (an unpaid order cancelled), so admission state seeded before it is rebuilt.
-- `closed_at` is set once, when what was not sold went back to stock (`returned` units).
CREATE TABLE flash_sales (
    id BIGSERIAL PRIMARY KEY,
    sku_id BIGINT NOT NULL REFERENCES skus (id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    price_fen BIGINT NOT NULL CHECK (price_fen > 0),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    sold BIGINT NOT NULL DEFAULT 0,
    per_buyer_limit BIGINT NOT NULL CHECK (per_buyer_limit > 0),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    stream_url TEXT,
    generation BIGINT NOT NULL DEFAULT 0,
    closed_at TIMESTAMP,
    returned BIGINT NOT NULL DEFAULT 0,
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    CHECK (sold >= 0 AND sold <= quantity),
    CHECK (ends_at > starts_at),
    CHECK (returned >= 0 AND returned <= quantity)
);
CREATE INDEX flash_sales_sku ON flash_sales (sku_id, ends_at);
CREATE INDEX flash_sales_ends ON flash_sales (ends_at);

-- One row per order placed in a sale; `cancelled` once its units went back.
CREATE TABLE flash_orders (
    order_id BIGINT PRIMARY KEY REFERENCES orders (id),
    sale_id BIGINT NOT NULL REFERENCES flash_sales (id),
    buyer_id BIGINT NOT NULL REFERENCES users (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    cancelled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX flash_orders_sale_buyer ON flash_orders (sale_id, buyer_id);

-- An order whose units were set aside before it was placed (a flash sale's reservation):
-- the pipeline took nothing from the shelf, and cancelling it gives nothing back to the shelf
-- (the reservation's owner takes the units back through its order hook).
ALTER TABLE orders ADD COLUMN stock_reserved BOOLEAN NOT NULL DEFAULT FALSE;

-- Cooperative portal: stock history with before/after, shipments per part of an order.

-- Stock before and after each change, so the history reads as a chain. NULL on rows written
-- before this migration.
ALTER TABLE stock_movements ADD COLUMN stock_before BIGINT CHECK (stock_before >= 0);
ALTER TABLE stock_movements ADD COLUMN stock_after BIGINT CHECK (stock_after >= 0);

-- One row per shipped part: an order's lines of one cooperative for one recipient (NULL for
-- ordinary orders). The unique index makes marking a part shipped happen once, even when
-- two requests race; COALESCE because NULLs never collide in a UNIQUE constraint.
CREATE TABLE shipments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    producer_id BIGINT NOT NULL REFERENCES producers (id),
    recipient_id BIGINT REFERENCES order_recipients (id),
    carrier TEXT NOT NULL CHECK (length(carrier) BETWEEN 1 AND 50),
    tracking_no TEXT NOT NULL CHECK (length(tracking_no) BETWEEN 1 AND 64),
    shipped_by BIGINT NOT NULL REFERENCES users (id),
    shipped_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX shipments_part ON shipments (order_id, producer_id, COALESCE(recipient_id, 0));
CREATE INDEX shipments_producer ON shipments (producer_id, shipped_at);

-- The portal lists a cooperative's order lines.
CREATE INDEX order_lines_producer ON order_lines (producer_id, order_id);

-- Product photos: stored on disk under the data directory by content hash (so the same file
-- is kept once and its URL never changes), described here.
CREATE TABLE product_images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    bytes BIGINT NOT NULL CHECK (bytes > 0 AND bytes <= 2097152),
    uploaded_by BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (product_id, file_name)
);

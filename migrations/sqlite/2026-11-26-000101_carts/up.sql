-- The signed-in buyer's cart, kept on the server so it follows the account across devices.
-- An anonymous visitor's cart lives in the session and is merged into this one after login.
CREATE TABLE cart_items (
    user_id BIGINT NOT NULL REFERENCES users (id),
    sku_id BIGINT NOT NULL REFERENCES skus (id),
    quantity BIGINT NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    position BIGINT NOT NULL,
    PRIMARY KEY (user_id, sku_id)
);

-- A buyer's address book; at most one default address per buyer (kept by the service).
CREATE TABLE addresses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    mobile TEXT NOT NULL,
    province TEXT NOT NULL,
    city TEXT NOT NULL,
    district TEXT NOT NULL,
    detail TEXT NOT NULL,
    division_code TEXT NOT NULL DEFAULT '',
    is_default BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX addresses_user ON addresses (user_id, id);

-- The order lifecycle's states (awaiting_approval, partially_shipped, received) and cancelled
-- payments. SQLite cannot alter a CHECK constraint, so orders and payments are rebuilt
-- (https://sqlite.org/lang_altertable.html, "making other kinds of table schema changes").
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE orders_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_no TEXT NOT NULL UNIQUE,
    buyer_id BIGINT NOT NULL REFERENCES users (id),
    org_id BIGINT REFERENCES organisations (id),
    channel TEXT NOT NULL CHECK (channel IN ('employee', 'public', 'union', 'canteen')),
    category TEXT NOT NULL CHECK (category IN ('direct_purchase', 'helped_sales')),
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    status TEXT NOT NULL CHECK (status IN ('pending_payment', 'awaiting_approval', 'paid', 'partially_shipped', 'shipped', 'received', 'completed', 'cancelled', 'partially_refunded', 'refunded')),
    total_fen BIGINT NOT NULL CHECK (total_fen > 0),
    points_used BIGINT NOT NULL CHECK (points_used >= 0),
    points_value_fen BIGINT NOT NULL CHECK (points_value_fen >= 0),
    cash_due_fen BIGINT NOT NULL CHECK (cash_due_fen >= 0),
    refunded_cash_fen BIGINT NOT NULL DEFAULT 0 CHECK (refunded_cash_fen >= 0 AND refunded_cash_fen <= cash_due_fen),
    refunded_points BIGINT NOT NULL DEFAULT 0 CHECK (refunded_points >= 0 AND refunded_points <= points_used),
    address TEXT NOT NULL,
    payment_deadline TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    paid_at TIMESTAMP,
    CHECK (total_fen = points_value_fen + cash_due_fen)
);
INSERT INTO orders_new SELECT * FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
CREATE INDEX orders_buyer ON orders (buyer_id, id);
CREATE INDEX orders_pending ON orders (status, payment_deadline);

CREATE TABLE payments_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id TEXT NOT NULL UNIQUE,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    gateway TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled')),
    created_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP
);
INSERT INTO payments_new SELECT * FROM payments;
DROP TABLE payments;
ALTER TABLE payments_new RENAME TO payments;
CREATE INDEX payments_order ON payments (order_id);

-- Orders waiting for a union admin's approval get their own state.
UPDATE orders SET status = 'awaiting_approval'
WHERE status = 'pending_payment' AND id IN (SELECT order_id FROM order_approvals WHERE status = 'pending');

COMMIT;
PRAGMA foreign_keys = ON;

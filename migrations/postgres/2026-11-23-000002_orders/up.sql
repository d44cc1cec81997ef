-- Orders paid with points plus cash, payments, refunds, stock history, idempotency, mail outbox.

CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    order_no TEXT NOT NULL UNIQUE,
    buyer_id BIGINT NOT NULL REFERENCES users (id),
    org_id BIGINT REFERENCES organisations (id),
    channel TEXT NOT NULL CHECK (channel IN ('employee', 'public', 'union', 'canteen')),
    category TEXT NOT NULL CHECK (category IN ('direct_purchase', 'helped_sales')),
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    status TEXT NOT NULL CHECK (status IN ('pending_payment', 'paid', 'shipped', 'delivered', 'completed', 'cancelled', 'refunded', 'partially_refunded')),
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
CREATE INDEX orders_buyer ON orders (buyer_id, id);
CREATE INDEX orders_pending ON orders (status, payment_deadline);

CREATE TABLE order_lines (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    sku_id BIGINT NOT NULL REFERENCES skus (id),
    producer_id BIGINT NOT NULL REFERENCES producers (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_fen BIGINT NOT NULL CHECK (unit_price_fen > 0),
    line_total_fen BIGINT NOT NULL CHECK (line_total_fen > 0),
    points BIGINT NOT NULL CHECK (points >= 0),
    points_value_fen BIGINT NOT NULL CHECK (points_value_fen >= 0),
    cash_fen BIGINT NOT NULL CHECK (cash_fen >= 0),
    refunded_quantity BIGINT NOT NULL DEFAULT 0 CHECK (refunded_quantity >= 0 AND refunded_quantity <= quantity),
    CHECK (line_total_fen = points_value_fen + cash_fen)
);
CREATE INDEX order_lines_order ON order_lines (order_id);

-- Every status change, with why.
CREATE TABLE order_events (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, id);

CREATE TABLE payments (
    id BIGSERIAL PRIMARY KEY,
    payment_id TEXT NOT NULL UNIQUE,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    gateway TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    created_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP
);
CREATE INDEX payments_order ON payments (order_id);

-- Gateway callbacks already applied: a replayed event id changes nothing.
CREATE TABLE payment_events (
    event_id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);

CREATE TABLE refunds (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    cash_fen BIGINT NOT NULL CHECK (cash_fen >= 0),
    points BIGINT NOT NULL CHECK (points >= 0),
    reason TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE refund_lines (
    refund_id BIGINT NOT NULL REFERENCES refunds (id),
    order_line_id BIGINT NOT NULL REFERENCES order_lines (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    cash_fen BIGINT NOT NULL CHECK (cash_fen >= 0),
    points BIGINT NOT NULL CHECK (points >= 0),
    PRIMARY KEY (refund_id, order_line_id)
);

-- Every change of stock: by a sale, a cancellation, a refund or a manager.
CREATE TABLE stock_movements (
    id BIGSERIAL PRIMARY KEY,
    sku_id BIGINT NOT NULL REFERENCES skus (id),
    delta BIGINT NOT NULL,
    reason TEXT NOT NULL,
    order_id BIGINT REFERENCES orders (id),
    user_id BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX stock_movements_sku ON stock_movements (sku_id, id);

CREATE TABLE idempotency_keys (
    user_id BIGINT NOT NULL REFERENCES users (id),
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);

-- Mail written in the same transaction as what it reports; a worker delivers it.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    template TEXT NOT NULL,
    recipient TEXT NOT NULL,
    context TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    last_error TEXT,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX outbox_due ON outbox (sent_at, next_attempt_at);

-- After the parcel leaves: receipt per parcel, after-sales cases, photos and reviews.

-- What a line has given back so far, by tender: refunds by amount (after-sales) are not
-- whole units, so each line keeps its refunded cash, points and points' value; every refund
-- is computed from these as locked, so a line never gives back more than was paid for it.
ALTER TABLE order_lines ADD COLUMN refunded_cash_fen BIGINT NOT NULL DEFAULT 0 CHECK (refunded_cash_fen BETWEEN 0 AND cash_fen);
ALTER TABLE order_lines ADD COLUMN refunded_points BIGINT NOT NULL DEFAULT 0 CHECK (refunded_points BETWEEN 0 AND points);
ALTER TABLE order_lines ADD COLUMN refunded_pv_fen BIGINT NOT NULL DEFAULT 0 CHECK (refunded_pv_fen BETWEEN 0 AND points_value_fen);
UPDATE order_lines SET
    refunded_cash_fen = COALESCE((SELECT SUM(r.cash_fen) FROM refund_lines r WHERE r.order_line_id = order_lines.id), 0),
    refunded_points = COALESCE((SELECT SUM(r.points) FROM refund_lines r WHERE r.order_line_id = order_lines.id), 0),
    refunded_pv_fen = points_value_fen * refunded_quantity / quantity;

-- A refund by amount names its lines with no units (SQLite cannot alter a CHECK: rebuilt).
CREATE TABLE refund_lines_new (
    refund_id BIGINT NOT NULL REFERENCES refunds (id),
    order_line_id BIGINT NOT NULL REFERENCES order_lines (id),
    quantity BIGINT NOT NULL CHECK (quantity >= 0),
    cash_fen BIGINT NOT NULL CHECK (cash_fen >= 0),
    points BIGINT NOT NULL CHECK (points >= 0),
    PRIMARY KEY (refund_id, order_line_id)
);
INSERT INTO refund_lines_new SELECT refund_id, order_line_id, quantity, cash_fen, points FROM refund_lines;
DROP TABLE refund_lines;
ALTER TABLE refund_lines_new RENAME TO refund_lines;

-- The day every parcel was received (the after-sales window runs from it).
ALTER TABLE orders ADD COLUMN received_at TIMESTAMP;

-- Receipt per parcel; a replacement parcel names its after-sales case.
ALTER TABLE shipments ADD COLUMN received_at TIMESTAMP;
ALTER TABLE shipments ADD COLUMN received_by BIGINT REFERENCES users (id);
ALTER TABLE shipments ADD COLUMN after_sales_id BIGINT;
DROP INDEX shipments_part;
CREATE UNIQUE INDEX shipments_part ON shipments (order_id, producer_id, COALESCE(recipient_id, 0), COALESCE(after_sales_id, 0));
CREATE INDEX shipments_unreceived ON shipments (shipped_at) WHERE received_at IS NULL;

-- Photos uploaded by buyers (for cases and reviews), stored by content hash like product images.
CREATE TABLE photos (
    file_name TEXT PRIMARY KEY,
    content_type TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    bytes BIGINT NOT NULL CHECK (bytes > 0 AND bytes <= 2097152),
    uploaded_by BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE after_sales (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    buyer_id BIGINT NOT NULL REFERENCES users (id),
    producer_id BIGINT NOT NULL REFERENCES producers (id),
    kind TEXT NOT NULL CHECK (kind IN ('refund_only', 'return_refund', 'replacement')),
    status TEXT NOT NULL CHECK (status IN ('requested', 'accepted', 'awaiting_return', 'refunded', 'replaced', 'rejected', 'escalated', 'closed')),
    reason TEXT NOT NULL CHECK (reason IN ('damaged', 'spoiled', 'wrong_item', 'short_delivery', 'other')),
    text TEXT NOT NULL CHECK (length(text) <= 1000),
    amount_fen BIGINT NOT NULL CHECK (amount_fen >= 0),
    agreed_fen BIGINT CHECK (agreed_fen >= 0),
    reply TEXT CHECK (length(reply) <= 1000),
    return_carrier TEXT,
    return_tracking_no TEXT,
    refund_id BIGINT REFERENCES refunds (id),
    admin_note TEXT,
    decided_by BIGINT REFERENCES users (id),
    reply_due_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX after_sales_order ON after_sales (order_id);
CREATE INDEX after_sales_queue ON after_sales (producer_id, status);
CREATE INDEX after_sales_due ON after_sales (status, reply_due_at);
-- A case refunds at most once.
CREATE UNIQUE INDEX after_sales_refund ON after_sales (refund_id);

CREATE TABLE after_sales_lines (
    case_id BIGINT NOT NULL REFERENCES after_sales (id),
    order_line_id BIGINT NOT NULL REFERENCES order_lines (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (case_id, order_line_id)
);

CREATE TABLE after_sales_photos (
    case_id BIGINT NOT NULL REFERENCES after_sales (id),
    position INTEGER NOT NULL CHECK (position BETWEEN 0 AND 5),
    file_name TEXT NOT NULL REFERENCES photos (file_name),
    PRIMARY KEY (case_id, position)
);

CREATE TABLE after_sales_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES after_sales (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    actor_id BIGINT REFERENCES users (id),
    note TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX after_sales_events_case ON after_sales_events (case_id, id);

-- One review per order line, by its buyer, after receipt; hidden (never deleted) by an admin.
CREATE TABLE reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_line_id BIGINT NOT NULL UNIQUE REFERENCES order_lines (id),
    product_id BIGINT NOT NULL REFERENCES products (id),
    buyer_id BIGINT NOT NULL REFERENCES users (id),
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    text TEXT NOT NULL CHECK (length(text) <= 1000),
    reply TEXT CHECK (length(reply) <= 1000),
    replied_by BIGINT REFERENCES users (id),
    replied_at TIMESTAMP,
    hidden_reason TEXT,
    hidden_by BIGINT REFERENCES users (id),
    hidden_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX reviews_product ON reviews (product_id, created_at);

CREATE TABLE review_photos (
    review_id BIGINT NOT NULL REFERENCES reviews (id),
    position INTEGER NOT NULL CHECK (position BETWEEN 0 AND 5),
    file_name TEXT NOT NULL REFERENCES photos (file_name),
    PRIMARY KEY (review_id, position)
);

-- Pre-sale (预售): a SKU sold before harvest. Its stock is the cap on the total sold; each
-- buyer may hold at most per_buyer_limit units across their orders that are not cancelled.
-- Orders are taken until ends_at; the cooperative's queue shows the parcels from ships_from;
-- they must leave by ship_by (plus the grace period, then the buyer may cancel).
CREATE TABLE sku_presales (
    sku_id BIGINT PRIMARY KEY REFERENCES skus (id),
    ends_at TIMESTAMP NOT NULL,
    ships_from DATE NOT NULL,
    ship_by DATE NOT NULL,
    per_buyer_limit BIGINT NOT NULL CHECK (per_buyer_limit BETWEEN 1 AND 9999),
    CHECK (ships_from <= ship_by)
);

-- An order whose pre-sale parcel is late: the buyer was told once that they may cancel.
CREATE TABLE presale_late_notices (
    order_id BIGINT PRIMARY KEY REFERENCES orders (id),
    notified_at TIMESTAMP NOT NULL
);

-- Lucky draws (抽奖) anyone can check. The seed stays secret (only its SHA-256, the
-- commitment, is shown) until the draw closes.
CREATE TABLE draws (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    org_id BIGINT REFERENCES organisations (id),
    created_by BIGINT NOT NULL REFERENCES users (id),
    title TEXT NOT NULL,
    entry_rule TEXT NOT NULL CHECK (entry_rule IN ('paid_order', 'donation')),
    min_points BIGINT,
    opens_at TIMESTAMP NOT NULL,
    closes_at TIMESTAMP NOT NULL,
    seed TEXT NOT NULL,
    commitment TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    closed_at TIMESTAMP,
    ledger_entries BIGINT,
    ledger_head TEXT,
    entries_hash TEXT,
    budget_fen BIGINT NOT NULL DEFAULT 0 CHECK (budget_fen >= 0),
    created_at TIMESTAMP NOT NULL,
    CHECK (opens_at < closes_at)
);
CREATE INDEX draws_open ON draws (status, closes_at);

CREATE TABLE draw_prizes (
    draw_id BIGINT NOT NULL REFERENCES draws (id),
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('points', 'product')),
    points BIGINT CHECK (points > 0),
    sku_id BIGINT REFERENCES skus (id),
    count BIGINT NOT NULL CHECK (count > 0),
    PRIMARY KEY (draw_id, position),
    CHECK ((kind = 'points') = (points IS NOT NULL) AND (kind = 'product') = (sku_id IS NOT NULL))
);

-- The frozen entry list, written once at close.
CREATE TABLE draw_entries (
    draw_id BIGINT NOT NULL REFERENCES draws (id),
    number BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('order', 'donation')),
    ref_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id),
    masked_name TEXT NOT NULL,
    PRIMARY KEY (draw_id, number),
    UNIQUE (draw_id, kind, ref_id)
);

-- rank 1, 2, …: the order winners were drawn in; the prize they won and what it became.
CREATE TABLE draw_winners (
    draw_id BIGINT NOT NULL REFERENCES draws (id),
    rank BIGINT NOT NULL,
    entry_number BIGINT NOT NULL,
    prize_position INTEGER NOT NULL,
    lot_id BIGINT REFERENCES points_lots (id),
    order_id BIGINT REFERENCES orders (id),
    note TEXT,
    PRIMARY KEY (draw_id, rank),
    UNIQUE (draw_id, entry_number)
);

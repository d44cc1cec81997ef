-- Cloud adoption (云认养): a cooperative's offers of adoptable units (a tree, a plot, an
-- animal, a hive…), their delivery plans, the adoptions (one per order), the numbered units,
-- each planned delivery of each adoption (an order line shipped as its own parcel), and the
-- cooperative's updates.
CREATE TABLE adoption_offers (
    id BIGSERIAL PRIMARY KEY,
    producer_id BIGINT NOT NULL REFERENCES producers (id),
    product_id BIGINT NOT NULL REFERENCES products (id),
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    season_start DATE NOT NULL,
    season_end DATE NOT NULL,
    price_fen BIGINT NOT NULL CHECK (price_fen > 0),
    units BIGINT NOT NULL CHECK (units > 0),
    -- Units held by unpaid or paid adoptions (an unpaid one that is cancelled gives them back).
    units_taken BIGINT NOT NULL DEFAULT 0,
    -- Numbers handed out so far: a unit is numbered when its adoption is paid.
    units_numbered BIGINT NOT NULL DEFAULT 0,
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    CHECK (units_taken >= 0 AND units_taken <= units),
    CHECK (units_numbered >= 0 AND units_numbered <= units),
    CHECK (season_end >= season_start)
);
CREATE INDEX adoption_offers_producer ON adoption_offers (producer_id);

-- share_fen: this delivery's share of one unit's price (the shares of an offer add up to it).
CREATE TABLE adoption_deliveries (
    id BIGSERIAL PRIMARY KEY,
    offer_id BIGINT NOT NULL REFERENCES adoption_offers (id),
    seq INTEGER NOT NULL,
    due_on DATE NOT NULL,
    sku_id BIGINT NOT NULL REFERENCES skus (id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    share_fen BIGINT NOT NULL CHECK (share_fen > 0),
    UNIQUE (offer_id, seq)
);

-- status: pending (unpaid) -> paid; pending -> cancelled; paid -> refunded (every line refunded).
CREATE TABLE adoptions (
    id BIGSERIAL PRIMARY KEY,
    offer_id BIGINT NOT NULL REFERENCES adoption_offers (id),
    order_id BIGINT NOT NULL UNIQUE REFERENCES orders (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    org_id BIGINT REFERENCES organisations (id),
    units BIGINT NOT NULL CHECK (units > 0),
    certificate_name TEXT NOT NULL,
    address TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'cancelled', 'refunded')),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX adoptions_offer ON adoptions (offer_id);
CREATE INDEX adoptions_user ON adoptions (user_id);

-- number: 1..N per offer without gaps among paid units, NULL until paid (and for ever when the
-- adoption was cancelled unpaid).
CREATE TABLE adopted_units (
    id BIGSERIAL PRIMARY KEY,
    offer_id BIGINT NOT NULL REFERENCES adoption_offers (id),
    adoption_id BIGINT NOT NULL REFERENCES adoptions (id),
    number BIGINT,
    UNIQUE (offer_id, number)
);
CREATE INDEX adopted_units_adoption ON adopted_units (adoption_id);

-- One row per (adoption, planned delivery): its order line and recipient (the parcel).
-- status: planned (not yet in the shipping queue) -> released (in the queue, addressed) ;
-- planned|released -> failed (the cooperative cannot deliver; the line refunded) ;
-- planned|released -> refunded (the order refunded otherwise).
CREATE TABLE adoption_parcels (
    id BIGSERIAL PRIMARY KEY,
    adoption_id BIGINT NOT NULL REFERENCES adoptions (id),
    delivery_id BIGINT NOT NULL REFERENCES adoption_deliveries (id),
    order_line_id BIGINT NOT NULL UNIQUE REFERENCES order_lines (id),
    recipient_id BIGINT NOT NULL REFERENCES order_recipients (id),
    status TEXT NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'released', 'failed', 'refunded')),
    released_at TIMESTAMP,
    failed_reason TEXT,
    failed_at TIMESTAMP,
    UNIQUE (adoption_id, delivery_id)
);
CREATE INDEX adoption_parcels_delivery ON adoption_parcels (delivery_id, status);

CREATE TABLE adoption_updates (
    id BIGSERIAL PRIMARY KEY,
    offer_id BIGINT NOT NULL REFERENCES adoption_offers (id),
    author_id BIGINT NOT NULL REFERENCES users (id),
    text TEXT NOT NULL,
    photos TEXT NOT NULL DEFAULT '[]',
    all_units BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX adoption_updates_offer ON adoption_updates (offer_id);

CREATE TABLE adoption_update_units (
    update_id BIGINT NOT NULL REFERENCES adoption_updates (id),
    unit_id BIGINT NOT NULL REFERENCES adopted_units (id),
    PRIMARY KEY (update_id, unit_id)
);
CREATE INDEX adoption_update_units_unit ON adoption_update_units (unit_id);

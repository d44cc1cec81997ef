-- Core tables: geography, producers, catalog, campaigns, organisations, users, points.
-- Money is BIGINT fen; points are BIGINT; timestamps are UTC.

CREATE TABLE organisations (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('company', 'union', 'canteen')),
    parent_id BIGINT REFERENCES organisations (id),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL DEFAULT '',
    invoice_title TEXT NOT NULL,
    uscc TEXT NOT NULL CHECK (length(uscc) = 18),
    address TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CHECK ((kind = 'company' AND parent_id IS NULL) OR (kind <> 'company' AND parent_id IS NOT NULL))
);

CREATE TABLE provinces (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL
);

CREATE TABLE counties (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    province_id BIGINT NOT NULL REFERENCES provinces (id),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    aided BOOLEAN NOT NULL DEFAULT FALSE,
    pairing_org_id BIGINT REFERENCES organisations (id),
    description_zh TEXT NOT NULL DEFAULT '',
    description_en TEXT NOT NULL DEFAULT ''
);

CREATE TABLE producers (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    county_id BIGINT NOT NULL REFERENCES counties (id),
    kind TEXT NOT NULL CHECK (kind IN ('cooperative', 'leading_enterprise', 'assistance_workshop')),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    description_zh TEXT NOT NULL DEFAULT '',
    description_en TEXT NOT NULL DEFAULT ''
);

CREATE TABLE products (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    producer_id BIGINT NOT NULL REFERENCES producers (id),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    description_zh TEXT NOT NULL DEFAULT '',
    description_en TEXT NOT NULL DEFAULT '',
    aid_cert_no TEXT,
    aid_cert_expires DATE,
    listed BOOLEAN NOT NULL DEFAULT TRUE,
    -- lower-cased names of the product, its producer and county: what search matches against
    search_text TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX products_producer ON products (producer_id);

CREATE TABLE skus (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    product_id BIGINT NOT NULL REFERENCES products (id),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    unit_zh TEXT NOT NULL,
    unit_en TEXT NOT NULL,
    price_fen BIGINT NOT NULL CHECK (price_fen > 0),
    stock BIGINT NOT NULL DEFAULT 0 CHECK (stock >= 0),
    max_points_pct INTEGER NOT NULL DEFAULT 0 CHECK (max_points_pct BETWEEN 0 AND 100),
    low_stock_threshold BIGINT NOT NULL DEFAULT 0 CHECK (low_stock_threshold >= 0),
    charity_donation_fen BIGINT NOT NULL DEFAULT 0 CHECK (charity_donation_fen >= 0),
    listed BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX skus_product ON skus (product_id);

CREATE TABLE sku_price_tiers (
    id BIGSERIAL PRIMARY KEY,
    sku_id BIGINT NOT NULL REFERENCES skus (id),
    min_quantity BIGINT NOT NULL CHECK (min_quantity >= 2),
    price_fen BIGINT NOT NULL CHECK (price_fen > 0),
    UNIQUE (sku_id, min_quantity)
);

CREATE TABLE campaigns (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    organiser_org_id BIGINT REFERENCES organisations (id),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    description_zh TEXT NOT NULL DEFAULT '',
    description_en TEXT NOT NULL DEFAULT '',
    starts_on DATE NOT NULL,
    ends_on DATE,
    year_round BOOLEAN NOT NULL DEFAULT FALSE,
    target_fen BIGINT NOT NULL DEFAULT 0 CHECK (target_fen >= 0),
    CHECK (ends_on IS NULL OR ends_on >= starts_on),
    CHECK (year_round OR ends_on IS NOT NULL)
);

CREATE TABLE campaign_products (
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    product_id BIGINT NOT NULL REFERENCES products (id),
    PRIMARY KEY (campaign_id, product_id)
);

CREATE TABLE campaign_prices (
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    sku_id BIGINT NOT NULL REFERENCES skus (id),
    price_fen BIGINT NOT NULL CHECK (price_fen > 0),
    PRIMARY KEY (campaign_id, sku_id)
);

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name TEXT NOT NULL,
    province_id BIGINT REFERENCES provinces (id),
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE user_roles (
    user_id BIGINT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL CHECK (role IN ('buyer', 'employee', 'union_admin', 'canteen_manager', 'coop_manager', 'platform_admin')),
    PRIMARY KEY (user_id, role)
);

CREATE TABLE memberships (
    user_id BIGINT NOT NULL REFERENCES users (id),
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (user_id, org_id)
);

CREATE TABLE producer_managers (
    user_id BIGINT NOT NULL REFERENCES users (id),
    producer_id BIGINT NOT NULL REFERENCES producers (id),
    PRIMARY KEY (user_id, producer_id)
);

-- A points account belongs to a user or to an organisation. The balance is a cache of the
-- ledger below, only ever changed in the same transaction as the entry that explains it.
CREATE TABLE points_accounts (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT UNIQUE REFERENCES users (id),
    org_id BIGINT UNIQUE REFERENCES organisations (id),
    balance BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    CHECK ((user_id IS NULL) <> (org_id IS NULL))
);

-- Points are granted in lots with an expiry; spending draws the earliest-expiring lot first.
CREATE TABLE points_lots (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES points_accounts (id),
    granted BIGINT NOT NULL CHECK (granted > 0),
    remaining BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= granted),
    expires_at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL,
    granted_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX points_lots_account ON points_lots (account_id, expires_at);

-- Append-only: every change of a balance, signed (+ grant/refund, - spend/donation/expiry).
CREATE TABLE points_entries (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES points_accounts (id),
    kind TEXT NOT NULL CHECK (kind IN ('grant', 'spend', 'refund', 'donation', 'expiry', 'adjustment')),
    points BIGINT NOT NULL CHECK (points <> 0),
    lot_id BIGINT REFERENCES points_lots (id),
    reference TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX points_entries_account ON points_entries (account_id, id);

CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER points_entries_append_only BEFORE UPDATE OR DELETE ON points_entries
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- Invoices (发票): titles kept by buyers and organisations, requests per cooperative part of an
-- order or per organisation, cooperative and month, and the e-invoices the cooperative uploads.
CREATE TABLE invoice_titles (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT REFERENCES users (id),
    org_id BIGINT REFERENCES organisations (id),
    kind TEXT NOT NULL CHECK (kind IN ('normal', 'special')),
    name TEXT NOT NULL,
    uscc TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    bank TEXT NOT NULL DEFAULT '',
    account TEXT NOT NULL DEFAULT '',
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    CHECK ((user_id IS NULL) <> (org_id IS NULL))
);
CREATE INDEX invoice_titles_user ON invoice_titles (user_id);
CREATE INDEX invoice_titles_org ON invoice_titles (org_id);

-- status: requested -> issued -> red_needed (a refund after invoicing) -> issued (red uploaded).
CREATE TABLE invoice_requests (
    id BIGSERIAL PRIMARY KEY,
    title_id BIGINT NOT NULL REFERENCES invoice_titles (id),
    requested_by BIGINT NOT NULL REFERENCES users (id),
    org_id BIGINT REFERENCES organisations (id),
    order_id BIGINT REFERENCES orders (id),
    month TEXT,
    producer_id BIGINT NOT NULL REFERENCES producers (id),
    status TEXT NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'issued', 'red_needed')),
    created_at TIMESTAMP NOT NULL,
    CHECK ((order_id IS NULL) <> (month IS NULL))
);
CREATE INDEX invoice_requests_producer ON invoice_requests (producer_id, status);
CREATE INDEX invoice_requests_org ON invoice_requests (org_id);

-- The order parts (order, cooperative) a request covers: each part is invoiced once, by
-- whichever request claimed it first (the primary key refuses a second).
CREATE TABLE invoice_request_parts (
    order_id BIGINT NOT NULL REFERENCES orders (id),
    producer_id BIGINT NOT NULL REFERENCES producers (id),
    request_id BIGINT NOT NULL REFERENCES invoice_requests (id),
    PRIMARY KEY (order_id, producer_id)
);
CREATE INDEX invoice_request_parts_request ON invoice_request_parts (request_id);

-- kind blue: the invoice; red: a credit invoice (红字发票) for what was refunded after it.
CREATE TABLE invoices (
    id BIGSERIAL PRIMARY KEY,
    request_id BIGINT NOT NULL REFERENCES invoice_requests (id),
    kind TEXT NOT NULL CHECK (kind IN ('blue', 'red')),
    number TEXT NOT NULL,
    issued_on DATE NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    file_name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    uploaded_by BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX invoices_request ON invoices (request_id);

-- The aid-procurement baselines an organisation sets for a year and its target shares (whole
-- percent; 10 by default, as the 2022 Ministry of Finance notice asks of canteens).
CREATE TABLE procurement_targets (
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    year INTEGER NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    canteen_budget_fen BIGINT NOT NULL CHECK (canteen_budget_fen >= 0),
    welfare_budget_fen BIGINT NOT NULL CHECK (welfare_budget_fen >= 0),
    canteen_target_pct INTEGER NOT NULL CHECK (canteen_target_pct BETWEEN 0 AND 100),
    welfare_target_pct INTEGER NOT NULL CHECK (welfare_target_pct BETWEEN 0 AND 100),
    updated_by BIGINT NOT NULL REFERENCES users (id),
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, year)
);

-- Reconciliation (对账): an organisation confirms a month's statement or disputes lines of it
-- (the orders named in statement_dispute_lines) with a note. The latest row is the state.
CREATE TABLE statement_reviews (
    id BIGSERIAL PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    month TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('confirmed', 'disputed')),
    note TEXT NOT NULL DEFAULT '',
    decided_by BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX statement_reviews_org ON statement_reviews (org_id, month, id);
CREATE TABLE statement_dispute_lines (
    review_id BIGINT NOT NULL REFERENCES statement_reviews (id),
    order_id BIGINT NOT NULL REFERENCES orders (id),
    PRIMARY KEY (review_id, order_id)
);
CREATE INDEX statement_dispute_lines_order ON statement_dispute_lines (order_id);

-- Organisation buying: welfare budgets, orders on an organisation's account, approvals,
-- recurring canteen orders and member invites.

-- A union's (or canteen's) welfare budget for the current period. Drawn by a conditional
-- update, so it can never be overspent whatever the concurrency.
CREATE TABLE org_budgets (
    org_id BIGINT PRIMARY KEY REFERENCES organisations (id),
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    budget_total_fen BIGINT NOT NULL CHECK (budget_total_fen >= 0),
    budget_used_fen BIGINT NOT NULL DEFAULT 0 CHECK (budget_used_fen >= 0),
    approval_threshold_fen BIGINT CHECK (approval_threshold_fen IS NULL OR approval_threshold_fen >= 0),
    CHECK (budget_used_fen <= budget_total_fen),
    CHECK (period_end >= period_start)
);

-- What an order on an organisation's account adds to the order: who placed it, when the
-- canteen wants it, and how much budget it holds (given back once on cancellation).
CREATE TABLE org_orders (
    order_id BIGINT PRIMARY KEY REFERENCES orders (id),
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    placed_by BIGINT NOT NULL REFERENCES users (id),
    delivery_date DATE,
    budget_fen BIGINT NOT NULL DEFAULT 0 CHECK (budget_fen >= 0),
    budget_released BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX org_orders_org ON org_orders (org_id, order_id);

-- Orders above the threshold wait here (the order stays pending_payment, its deadline the expiry).
CREATE TABLE order_approvals (
    order_id BIGINT PRIMARY KEY REFERENCES orders (id),
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'cancelled')),
    placed_by BIGINT NOT NULL REFERENCES users (id),
    decided_by BIGINT REFERENCES users (id),
    reason TEXT NOT NULL DEFAULT '',
    expires_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    CHECK (decided_by IS NULL OR decided_by <> placed_by)
);
CREATE INDEX order_approvals_org ON order_approvals (org_id, status);

-- Recurring canteen orders.
CREATE TABLE canteen_schedules (
    id BIGSERIAL PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    created_by BIGINT NOT NULL REFERENCES users (id),
    cadence TEXT NOT NULL CHECK (cadence IN ('weekly', 'fortnightly')),
    next_delivery DATE NOT NULL,
    end_date DATE NOT NULL,
    lead_days INTEGER NOT NULL CHECK (lead_days >= 0 AND lead_days <= 30),
    lines TEXT NOT NULL,
    address TEXT NOT NULL,
    campaign_id BIGINT REFERENCES campaigns (id),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX canteen_schedules_due ON canteen_schedules (active, next_delivery);

-- One row per (schedule, delivery date), written in the same transaction as the order: a
-- second run of the job, here or on another instance, fails on the key.
CREATE TABLE schedule_runs (
    id BIGSERIAL PRIMARY KEY,
    schedule_id BIGINT NOT NULL REFERENCES canteen_schedules (id),
    delivery_date DATE NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('placed', 'failed')),
    order_id BIGINT REFERENCES orders (id),
    reason TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    UNIQUE (schedule_id, delivery_date)
);

-- Member invites: only a hash of the emailed token is kept; single use, expiring, revocable.
CREATE TABLE org_invites (
    id BIGSERIAL PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    email TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    invited_by BIGINT NOT NULL REFERENCES users (id),
    expires_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP,
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX org_invites_org ON org_invites (org_id, email);

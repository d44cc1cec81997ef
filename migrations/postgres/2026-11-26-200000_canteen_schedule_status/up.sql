-- A schedule can be paused (and resumed) or cancelled by the canteen's admin; `active` stays the
-- job's switch (false when paused, cancelled or past its end date).
ALTER TABLE canteen_schedules ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'paused', 'cancelled'));

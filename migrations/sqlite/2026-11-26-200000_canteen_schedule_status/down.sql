ALTER TABLE canteen_schedules DROP COLUMN status;

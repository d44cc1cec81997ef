DROP TABLE charity_hours;
DROP TABLE ledger_checkpoints;
DROP TABLE ledger_head;
DROP TABLE credit_entries;
DROP TABLE donation_milestones;
DROP TABLE donations;
ALTER TABLE skus DROP COLUMN charity_project_id;
DROP TABLE donation_projects;

DROP TABLE org_points_grants;
DROP TABLE charity_hour_reversals;
DROP TABLE email_verifications;
ALTER TABLE users DROP COLUMN verified;
DROP TABLE user_sessions;

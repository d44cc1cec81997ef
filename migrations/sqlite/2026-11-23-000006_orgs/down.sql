DROP TABLE org_invites;
DROP TABLE schedule_runs;
DROP TABLE canteen_schedules;
DROP TABLE order_approvals;
DROP TABLE org_orders;
DROP TABLE org_budgets;

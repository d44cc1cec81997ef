//! Integration tests: each spawns the real app on port 0 against a private database (SQLite
//! always; PostgreSQL and Redis when TEST_DATABASE_URL / TEST_REDIS_URL are set).

mod accounts;
mod adoption;
mod after_sales;
mod catalog;
mod coop;
mod credits;
mod database;
mod flash_sales;
mod helpers;
mod inputs;
mod invoice_pages;
mod invoices;
mod layering;
mod lifecycle;
mod ops;
mod orders;
mod orgs;
mod pages;
mod portals;
mod presale_draws;
mod recipient_receipt;
mod scale;
mod security;
mod settlement;
mod settlement_runs;
mod smtp;
mod storefront;

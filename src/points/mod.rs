//! Points (积分): whole numbers, granted in lots with an expiry, kept in an append-only ledger.

pub mod model;
pub mod routes;
pub mod service;

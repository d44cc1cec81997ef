//! Settlement with the cooperatives (issue 14): an append-only earnings ledger per producer
//! (`model.rs`), the rules that post to it from the order lifecycle, close periods into
//! statements and pay them out (`service.rs`), and the API (`routes.rs`).

pub mod funding;
pub mod model;
pub mod pages;
pub mod routes;
pub mod service;

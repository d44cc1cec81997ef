//! Credits: every sale credited to its campaign, cooperative and county in a hash-chained,
//! append-only ledger with signed checkpoints; campaign dashboards and exports; charity hours.

pub mod campaign_offers;
pub mod charts;
pub mod dashboard;
pub mod model;
pub mod routes;
pub mod service;
pub mod verify_page;

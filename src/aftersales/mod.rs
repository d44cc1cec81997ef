//! After the parcel leaves: delivery tracking and receipt per parcel (`delivery`),
//! after-sales cases (`service`), their SQL (`model`) and API (`routes`) and pages (`pages`).

pub mod delivery;
pub mod model;
pub mod pages;
pub mod routes;
pub mod service;

//! Cloud adoption (云认养): offers of adoptable units, adopting through the order pipeline,
//! numbered units and their certificates, the cooperative's updates, and planned deliveries
//! released into the shipping queue on their dates.

pub mod model;
pub mod pages;
pub mod routes;
pub mod service;

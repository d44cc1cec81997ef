//! County products: listing, search, campaigns.

pub mod images;
pub mod model;
pub mod presale;
pub mod routes;
pub mod service;

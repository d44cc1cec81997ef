//! Reviews from verified buyers (评价): one per order line after its parcel was received,
//! 1-5 stars, text and up to 6 photos; the cooperative replies once; a platform admin hides
//! one with a reason (kept, never deleted). Products show the average and count of the
//! visible ones (`catalog::model::ratings`, `catalog::model::reviews_of`).

pub mod model;
pub mod routes;
pub mod service;

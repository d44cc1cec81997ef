//! The cooperative portal: a manager keeps stock and products current, ships orders and
//! reads sales, for their own cooperatives only.

pub mod model;
pub mod routes;
pub mod service;

//! Orders: cart, checkout with points plus cash, payment, cancellation, timeout and refunds.

pub mod model;
pub mod pricing;
pub mod routes;
pub mod service;

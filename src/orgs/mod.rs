//! Buyer organisations: a company, its trade union and its canteens.

pub mod model;
pub mod service;

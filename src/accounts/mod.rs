//! Users: registration, login, sessions, roles and "my account".

pub mod model;
pub mod routes;
pub mod service;
pub mod sessions;

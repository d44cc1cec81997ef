//! Orders: the lifecycle core (`status`, `pricing`, `model`, `service`, `hooks`), its mail
//! (a hook like any other) and its pages and API (`routes`).

pub mod hooks;
pub mod mail;
pub mod model;
pub mod presale;
pub mod pricing;
pub mod routes;
pub mod service;
pub mod status;

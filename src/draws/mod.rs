//! Lucky draws (抽奖) anyone can check: `procedure` (the pure drawing rule, with its byte
//! encoding), `model` (SQL), `service` (create, close once, grant prizes), `routes` (API + page).

pub mod model;
pub mod procedure;
pub mod routes;
pub mod service;

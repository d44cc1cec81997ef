//! Flash sales (直播秒杀): a quantity of one SKU set aside from stock and sold at a sale price
//! for a period with a per-buyer limit, bought admission first (`admission.rs`: Redis or
//! in-process), then through the one placement pipeline (`service.rs`); `routes.rs` holds
//! the API, `pages.rs` what product and campaign pages show.

pub mod admission;
pub mod model;
pub mod pages;
pub mod routes;
pub mod service;

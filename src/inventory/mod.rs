//! Stock: every change to a SKU's stock goes through here (sales, cancellations, refunds,
//! managers' counts and adjustments), each one a conditional update that returns the exact
//! before and after, a `stock_movements` row, and the low-stock alert when it crosses the
//! SKU's threshold.

pub mod model;
pub mod service;

pub use model::StockChange;
pub use service::{adjust, put_back, release, reserve, set, take, take_and_commit, Change, Reason};

//! The cart: in the session for visitors, in `cart_items` for signed-in buyers (merged at the
//! first cart read after signing in), priced by the order's own pricing; and the checkout page.

pub mod model;
pub mod routes;
pub mod service;

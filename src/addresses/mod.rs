//! The buyer's address book: addresses remembered at checkout, one of them the default that
//! the checkout form starts with; a page to add, choose and delete them.

pub mod model;
pub mod routes;

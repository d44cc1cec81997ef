//! Buyer organisations: a company, its trade union and its canteens. Orders on an
//! organisation's account, budgets and approvals (`account`), welfare distribution from a CSV
//! (`distribution`), recurring canteen orders and statements (`canteen`), members (`members`).

pub mod account;
pub mod canteen;
pub mod distribution;
pub mod members;
pub mod model;
pub mod pages;
pub mod routes;
pub mod service;

//! Aidmart: a marketplace for consumer assistance (消费帮扶).

pub mod accounts;
pub mod addresses;
pub mod api;
pub mod app;
pub mod cache;
pub mod cart;
pub mod catalog;
pub mod config;
pub mod coop;
pub mod credits;
pub mod db;
pub mod donations;
pub mod error;
pub mod inventory;
pub mod jobs;
pub mod mail;
pub mod money;
pub mod ops;
pub mod orders;
pub mod orgs;
pub mod payments;
pub mod points;
pub mod seed;
pub mod settlement;
pub mod startup;
pub mod web;

//! The address book page.

use actix_web::web;

pub fn pages(_cfg: &mut web::ServiceConfig) {}

//! The web layer's shared parts: languages, templates, sessions, pages, errors, metrics.

pub mod errors;
pub mod i18n;
pub mod metrics;
pub mod page;
pub mod security;
pub mod session;
pub mod templates;

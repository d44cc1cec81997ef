//! The web layer's shared parts: languages, templates, sessions, who is calling, pages,
//! errors, list envelopes, downloads, metrics.

pub mod auth;
pub mod download;
pub mod errors;
pub mod forms;
pub mod i18n;
pub mod list;
pub mod metrics;
pub mod page;
pub mod security;
pub mod session;
pub mod templates;
pub mod time;

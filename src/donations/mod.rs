//! Points donations (积分捐赠) to campaign projects, with milestones and statistics by province.

pub mod model;
pub mod routes;
pub mod service;

//! The envelope of every list the API answers: `{"items": […]}`, so that paging fields can be
//! added beside `items` without breaking callers.

use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

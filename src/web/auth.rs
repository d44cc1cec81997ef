//! Who is calling, as an extractor: a handler that takes `CurrentUser` is only reached by a
//! logged-in visitor; anyone else gets 401 `unauthenticated`.

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use std::future::{ready, Ready};

use super::session::{self, SessionUser};
use crate::error::AppError;

pub struct CurrentUser(pub SessionUser);

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Ready<Result<CurrentUser, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(session::require_user(&req.get_session()).map(CurrentUser))
    }
}

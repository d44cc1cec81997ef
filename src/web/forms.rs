//! `CsrfForm<T>`: an HTML form's fields, reached only when its `_csrf` token matches the
//! session's. A handler that takes one cannot forget the check.

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::session;
use crate::error::AppError;

/// The most a form may send.
const LIMIT: usize = 64 * 1024;

pub struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct Token {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<CsrfForm<T>, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let form = req.content_type() == "application/x-www-form-urlencoded";
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let invalid = |why: String| AppError::bad_request("invalid_form", why);
            if !form {
                return Err(invalid("send the form as application/x-www-form-urlencoded / 表单格式错误".into()));
            }
            let body = body.await.map_err(|e| invalid(format!("the form cannot be read: {e} / 表单无法读取")))?;
            if body.len() > LIMIT {
                return Err(invalid("the form is too large / 表单过大".into()));
            }
            let token: Token = serde_urlencoded::from_bytes(&body).map_err(|_| AppError::CsrfRejected)?;
            session::verify_csrf(&session, &token.csrf)?;
            serde_urlencoded::from_bytes(&body)
                .map(CsrfForm)
                .map_err(|e| invalid(format!("the form is incomplete or malformed: {e} / 表单内容有误")))
        })
    }
}

//! One error type for the whole app. API callers get `{"error":{"code","message"}}` with the
//! right status; pages get the same error rendered as a friendly page (see `web::errors`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("please log in first / 请先登录")]
    Unauthenticated,
    #[error("wrong email or password / 邮箱或密码错误")]
    InvalidCredentials,
    #[error("you are not allowed to do this / 无权执行此操作")]
    Forbidden,
    /// Forbidden with a reason of its own (e.g. `email_not_verified`).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("not found / 未找到")]
    NotFound,
    #[error("the form has expired, please reload the page and try again / 表单已过期，请刷新页面后重试")]
    CsrfRejected,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("too many attempts, try again later / 尝试次数过多，请稍后再试")]
    RateLimited,
    /// Like `RateLimited`, with the seconds to wait (sent as `Retry-After`).
    #[error("too many attempts, try again later / 尝试次数过多，请稍后再试")]
    Throttled { retry_after_secs: u64 },
    #[error("send the body as {0} / 请求体类型须为 {0}")]
    UnsupportedMediaType(&'static str),
    #[error("the body is too large / 请求体过大")]
    PayloadTooLarge,
    #[error("the service is not ready / 服务暂不可用")]
    Unavailable,
    /// PostgreSQL aborted the transaction as a deadlock victim or a serialization failure;
    /// `db::write_tx` runs it again, so this reaches a client only after several attempts.
    #[error("busy, try again / 系统繁忙，请重试")]
    Contention(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AppError::BadRequest { code, message: message.into() }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Unprocessable { code, message: message.into() }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Conflict { code, message: message.into() }
    }

    #[track_caller]
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let location = std::panic::Location::caller();
        AppError::Internal(format!("{detail} (at {location})"))
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest { code, .. }
            | AppError::Conflict { code, .. }
            | AppError::Unprocessable { code, .. }
            | AppError::Refused { code, .. } => code,
            AppError::Unauthenticated => "unauthenticated",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not_found",
            AppError::CsrfRejected => "csrf_failed",
            AppError::RateLimited | AppError::Throttled { .. } => "rate_limited",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::Unavailable => "unavailable",
            AppError::Contention(_) => "busy",
            AppError::Internal(_) => "internal",
        }
    }

    /// For the command line, where the operator should see the details.
    pub fn public_message_for_cli(&self) -> String {
        match self {
            AppError::Internal(detail) => detail.clone(),
            other => other.to_string(),
        }
    }

    /// What a person is told; internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "something went wrong on our side / 服务器内部错误".to_string(),
            other => other.to_string(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthenticated | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::CsrfRejected | AppError::Refused { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } | AppError::Contention(_) => StatusCode::CONFLICT,
            AppError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::RateLimited | AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::Internal(detail) = self {
            tracing::error!(%detail, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            AppError::Throttled { retry_after_secs } => {
                response.insert_header((actix_web::http::header::RETRY_AFTER, retry_after_secs.max(&1).to_string()));
            }
            AppError::RateLimited => {
                response.insert_header((actix_web::http::header::RETRY_AFTER, "60"));
            }
            _ => {}
        }
        response.json(ErrorBody { error: ErrorDetail { code: self.code(), message: self.public_message() } })
    }
}

impl From<diesel::result::Error> for AppError {
    #[track_caller]
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => AppError::NotFound,
            other if crate::db::is_retryable(&other) => AppError::Contention(other.to_string()),
            other => AppError::internal(format!("database: {other}")),
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        tracing::warn!(error = %e, "no database connection available");
        AppError::Unavailable
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    #[track_caller]
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::internal(e)
    }
}

impl From<handlebars::RenderError> for AppError {
    #[track_caller]
    fn from(e: handlebars::RenderError) -> Self {
        AppError::internal(format!("template: {e}"))
    }
}

impl crate::db::TxError for AppError {
    fn is_retryable(&self) -> bool {
        matches!(self, AppError::Contention(_))
    }
}

pub type AppResult<T> = Result<T, AppError>;

//! The Admin API's errors: `{"error": "...", "error_code": "..."}` with an HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// One failed request.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_code: &'a str,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: a body or parameter that is not what the route takes.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 401: no valid session (missing, malformed, unknown or expired token).
    pub fn invalid_session(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "InvalidSession", message)
    }

    /// 404 for a resource of the given kind (`GroupNotFound`, `AppNotFound`...).
    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 409: the name is taken.
    pub fn name_taken(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "DuplicateName", message)
    }

    /// 500: the hub's storage failed; the message says how.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            error.to_string(),
        )
    }
}

impl From<outpost_storage::Error> for ApiError {
    fn from(error: outpost_storage::Error) -> ApiError {
        ApiError::internal(error)
    }
}

/// Errors of the hub's registry: bad input (a query that does not parse, an empty name) is
/// the client's (400), anything else the hub's.
impl From<outpost_sync::Error> for ApiError {
    fn from(error: outpost_sync::Error) -> ApiError {
        match error.code() {
            2 | 9 | 14 | 15 | 40 | 115 => ApiError::bad_request(error.to_string()),
            _ => ApiError::internal(error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: &self.message,
            error_code: self.code,
        };
        (self.status, Json(body)).into_response()
    }
}

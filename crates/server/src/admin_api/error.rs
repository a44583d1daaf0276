//! The Admin API's errors: `{"error": "...", "error_code": "..."}` with an HTTP status. A
//! refused instance query also says where (Outpost's addition): `query_key`, the collection
//! whose query is wrong, and `query_position`, the byte offset in its RQL text.

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
    /// Where an instance query is wrong: its key and the byte offset in the key's RQL text.
    pub query_at: Option<(String, Option<usize>)>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    query_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query_position: Option<usize>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            query_at: None,
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
            2 | 9 | 14 | 15 | 40 | 115 => ApiError {
                query_at: query_at(&error),
                ..ApiError::bad_request(error.to_string())
            },
            _ => ApiError::internal(error),
        }
    }
}

/// The key of an instance query refused for one of its queries, and the position in that
/// query's text when it is RQL that does not parse or is not supported.
fn query_at(error: &outpost_sync::Error) -> Option<(String, Option<usize>)> {
    use outpost_sync::Error;
    let Error::InQueryFor { key, source } = error else {
        return None;
    };
    let position = match source.as_ref() {
        Error::InvalidQuery { position, .. } | Error::NotSupported { position, .. } => {
            Some(*position)
        }
        _ => None,
    };
    Some((key.clone(), position))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: &self.message,
            error_code: self.code,
            query_key: self.query_at.as_ref().map(|(key, _)| key.as_str()),
            query_position: self.query_at.as_ref().and_then(|(_, position)| *position),
        };
        (self.status, Json(body)).into_response()
    }
}

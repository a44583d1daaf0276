//! Login, session renewal and the bearer check of every other route (see [`super::keys`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::keys::{ApiKeyRecord, TokenError, TokenKind};
use super::{json_body, ApiState};

/// `POST /auth/providers/mongodb-cloud/login`: an API key pair.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    /// The public key.
    username: String,
    /// The private key.
    #[serde(rename = "apiKey")]
    api_key: String,
}

#[derive(Serialize)]
pub(super) struct LoginReply {
    access_token: String,
    refresh_token: String,
    user_id: String,
    /// Atlas answers the zero ObjectId for API key logins (no device).
    device_id: String,
}

#[derive(Serialize)]
pub(super) struct SessionReply {
    access_token: String,
}

pub(super) async fn login(
    State(state): State<Arc<ApiState>>,
    body: Bytes,
) -> ApiResult<Json<LoginReply>> {
    let request: LoginRequest = json_body(&body)?;
    let keys = state.keys.clone();
    // PBKDF2 is slow on purpose: off the runtime's threads.
    let key = tokio::task::spawn_blocking(move || {
        keys.purge_expired()?;
        keys.check(&request.username, &request.api_key)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let Some(key) = key else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidPassword",
            "invalid username/password: no API key with this public and private key",
        ));
    };
    let access_token = issue(&state, &key, TokenKind::Access)?;
    let refresh_token = issue(&state, &key, TokenKind::Refresh)?;
    Ok(Json(LoginReply {
        access_token,
        refresh_token,
        user_id: key.user_id,
        device_id: bson::oid::ObjectId::from_bytes([0; 12]).to_hex(),
    }))
}

/// `POST /auth/session` with `Authorization: Bearer <refresh_token>`: a new access token.
pub(super) async fn renew(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<SessionReply>)> {
    let key = session(&state, &headers, TokenKind::Refresh)?;
    let access_token = issue(&state, &key, TokenKind::Access)?;
    Ok((StatusCode::CREATED, Json(SessionReply { access_token })))
}

/// The bearer check of every protected route: a valid, unexpired access token.
pub(super) async fn require_access_token(
    State(state): State<Arc<ApiState>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    session(&state, request.headers(), TokenKind::Access)?;
    Ok(next.run(request).await)
}

fn issue(state: &ApiState, key: &ApiKeyRecord, kind: TokenKind) -> ApiResult<String> {
    let ttl = match kind {
        TokenKind::Access => Some(state.access_ttl),
        TokenKind::Refresh => Some(state.refresh_ttl),
    };
    state.keys.issue(key, kind, ttl).map_err(ApiError::internal)
}

/// The API key of the request's bearer token of `kind`.
fn session(state: &ApiState, headers: &HeaderMap, kind: TokenKind) -> ApiResult<ApiKeyRecord> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "MissingAuthReq",
            "this route needs 'Authorization: Bearer <access_token>' (log in at \
             /api/admin/v3.0/auth/providers/mongodb-cloud/login)",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_session("malformed Authorization header: expected 'Bearer <token>'")
        })?;
    match state
        .keys
        .session(token, kind)
        .map_err(ApiError::internal)?
    {
        Ok((_, key)) => Ok(key),
        Err(TokenError::Unknown) => {
            Err(ApiError::invalid_session("invalid session: unknown token"))
        }
        Err(TokenError::Expired) => Err(ApiError::invalid_session(match kind {
            TokenKind::Access => {
                "invalid session: the access token expired; renew it at \
                 /api/admin/v3.0/auth/session with the refresh token"
            }
            TokenKind::Refresh => {
                "invalid session: the refresh token expired; log in again at \
                 /api/admin/v3.0/auth/providers/mongodb-cloud/login"
            }
        })),
        Err(TokenError::WrongKind) => match kind {
            TokenKind::Access => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "a refresh token only renews a session (POST /api/admin/v3.0/auth/session); \
                 use an access token",
            )),
            TokenKind::Refresh => Err(ApiError::invalid_session(
                "invalid session: /auth/session takes the refresh token",
            )),
        },
    }
}

//! What every HTTP response and request of the hub goes through: security headers on the way
//! out (a strict Content-Security-Policy: the console's scripts and styles come only from its
//! own files, nothing inline, no framing), and on the way in a refusal of state-changing
//! requests a browser sent from another origin.
//!
//! The Admin API takes its session only as `Authorization: Bearer <token>`, a header a
//! browser never adds by itself (unlike a cookie), and answers no CORS preflight, so another
//! site's page can neither send an authenticated request nor read an answer: that alone
//! defeats CSRF. The origin check is a second line, for any future cookie or form.

use axum::extract::Request;
use axum::http::header::{
    HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, HOST, ORIGIN, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The console's policy, on every response: its own scripts, styles and images only; API
/// calls to the same origin only; never in a frame.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

pub(super) async fn guard(request: Request, next: Next) -> Response {
    let mut response = match check_origin(request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    };
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY_VALUE,
    );
    set(headers, X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, X_FRAME_OPTIONS, "DENY");
    set(headers, REFERRER_POLICY, "no-referrer");
    set(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    // API answers carry tokens and keys: never cached (the console's files say their own).
    if !headers.contains_key(CACHE_CONTROL) {
        set(headers, CACHE_CONTROL, "no-store");
    }
    response
}

/// A state-changing request (anything but GET, HEAD, OPTIONS) a browser says came from
/// another origin is refused (403). Requests without `Origin` (curl, scripts, drivers) pass.
fn check_origin(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok());
    if fetch_site.is_some_and(|site| site != "same-origin" && site != "none") {
        return Err(cross_origin(fetch_site.unwrap_or_default()));
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let host = headers.get(HOST).and_then(|host| host.to_str().ok());
    match (authority, host) {
        (Some(authority), Some(host)) if authority.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(cross_origin(origin)),
    }
}

fn cross_origin(from: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "CrossOriginRequest",
        format!("a state-changing request from another origin ('{from}') is refused"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn only_same_origin_or_origin_less_writes_pass() {
        let post = Method::POST;
        assert!(check_origin(&post, &headers(&[("host", "hub:8080")])).is_ok());
        assert!(check_origin(
            &post,
            &headers(&[("host", "hub:8080"), ("origin", "http://hub:8080")])
        )
        .is_ok());
        assert!(check_origin(
            &post,
            &headers(&[("host", "hub:8080"), ("origin", "http://evil.example")])
        )
        .is_err());
        assert!(check_origin(
            &post,
            &headers(&[("host", "hub:8080"), ("origin", "http://hub:8081")])
        )
        .is_err());
        assert!(
            check_origin(&post, &headers(&[("host", "hub:8080"), ("origin", "null")])).is_err()
        );
        assert!(check_origin(
            &Method::DELETE,
            &headers(&[("host", "hub:8080"), ("sec-fetch-site", "cross-site")])
        )
        .is_err());
        assert!(check_origin(
            &Method::GET,
            &headers(&[("host", "hub:8080"), ("origin", "http://evil.example")])
        )
        .is_ok());
    }
}

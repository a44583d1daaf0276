//! The hub's web console: plain HTML, CSS and JavaScript modules (`crates/server/console/`),
//! embedded in the binary at build time and served on the Admin API's port at `/` and
//! `/console/...`. The console is a client of the Admin API and nothing else: it signs in with
//! an API key pair, keeps the tokens in memory (never the private key) and calls the same
//! routes a script would.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::error::ApiError;
use super::ApiState;

/// One embedded file: its path under `/console/`, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($path:literal, $type:literal) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_str!(concat!("../../console/", $path)),
        }
    };
}

/// Every file of the console (the page first).
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("js/main.js", "text/javascript; charset=utf-8"),
    asset!("js/api.js", "text/javascript; charset=utf-8"),
    asset!("js/dom.js", "text/javascript; charset=utf-8"),
    asset!("js/signin.js", "text/javascript; charset=utf-8"),
    asset!("js/dashboard.js", "text/javascript; charset=utf-8"),
    asset!("js/add-server.js", "text/javascript; charset=utf-8"),
    asset!("js/detail.js", "text/javascript; charset=utf-8"),
    asset!("js/actions.js", "text/javascript; charset=utf-8"),
    asset!("js/chart.js", "text/javascript; charset=utf-8"),
];

/// `/` and `/console/` (the page), `/console/{file}` (its files).
pub(super) fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/", get(index))
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/{*file}", get(file))
}

async fn index() -> Response {
    serve(&ASSETS[0])
}

async fn file(Path(file): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|asset| asset.path == file)
        .map(serve)
        .ok_or_else(|| ApiError::not_found("NotFound", format!("no console file '{file}'")))
}

fn serve(asset: &Asset) -> Response {
    (
        [
            (CONTENT_TYPE, asset.content_type),
            // Embedded in the binary: revalidated so an upgraded hub's files are used at once.
            (CACHE_CONTROL, "no-cache"),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file the page or a module names (`href`, `src`, `import ... from`) is embedded.
    #[test]
    fn every_file_the_console_refers_to_is_embedded() {
        let known = |path: &str| ASSETS.iter().any(|asset| asset.path == path);
        let mut referred = 0;
        for asset in ASSETS {
            let dir = asset.path.rsplit_once('/').map_or("", |(dir, _)| dir);
            for quote in ['"', '\''] {
                for piece in asset.body.split(quote).skip(1).step_by(2) {
                    let path = if let Some(rest) = piece.strip_prefix("/console/") {
                        rest.to_string()
                    } else if let Some(rest) = piece.strip_prefix("./") {
                        if dir.is_empty() {
                            rest.to_string()
                        } else {
                            format!("{dir}/{rest}")
                        }
                    } else {
                        continue;
                    };
                    if path.ends_with(".js") || path.ends_with(".css") || path.ends_with(".svg") {
                        assert!(
                            known(&path),
                            "{} refers to {path}, not embedded",
                            asset.path
                        );
                        referred += 1;
                    }
                }
            }
        }
        // The page's stylesheet, icon and entry module, and the modules' imports.
        assert!(referred >= ASSETS.len() - 1, "{referred}");
    }

    /// No inline script or style: the Content-Security-Policy would block it.
    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let page = ASSETS[0].body;
        assert!(!page.contains("<style"));
        assert!(!page.contains(" style="));
        for (at, _) in page.match_indices(" on") {
            let name: String = page[at + 3..]
                .chars()
                .take_while(char::is_ascii_lowercase)
                .collect();
            assert!(
                !page[at + 3 + name.len()..].starts_with('='),
                "inline event handler on{name}"
            );
        }
        for script in page.split("<script").skip(1) {
            let (open, rest) = script.split_once('>').unwrap();
            assert!(open.contains("src="), "inline script");
            assert!(rest.trim_start().starts_with("</script>"));
        }
    }
}

//! The web console: a single page of hand-written HTML, CSS and JavaScript
//! embedded in the binary (nothing fetched at run time), plus the operator
//! documentation it links to, served as Markdown and rendered in the
//! browser.
//!
//! These routes are not part of the admin API (they carry no data, need no
//! token and are absent from the OpenAPI document); the page talks only to
//! the public admin API, with the session cookie. Every page is served with
//! a strict Content-Security-Policy: scripts and styles only from this
//! origin's files, no inline script or style, no frames.

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};

use crate::{ConsoleDeps, error::ApiError};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../ui/index.html");
const DOCS_HTML: &str = include_str!("../ui/docs.html");

/// Static assets: name, content type, bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/app.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/pages.js"),
    ),
    (
        "markdown.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/markdown.js"),
    ),
    (
        "docs.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/docs.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../ui/app.css"),
    ),
];

/// The documentation pages served under `/console/docs/{page}`.
pub(crate) const DOCS: &[(&str, &str)] = &[
    (
        "operator-guide",
        include_str!("../../../docs/operator-guide.md"),
    ),
    ("errors", include_str!("../../../docs/errors.md")),
    ("console", include_str!("../../../docs/console.md")),
    ("config", include_str!("../../../docs/config.md")),
    ("policy", include_str!("../../../docs/policy.md")),
    ("providers", include_str!("../../../docs/providers.md")),
    ("alerts", include_str!("../../../docs/alerts.md")),
    (
        "observability",
        include_str!("../../../docs/observability.md"),
    ),
    ("traces", include_str!("../../../docs/traces.md")),
    ("review", include_str!("../../../docs/review.md")),
];

/// The console's routes, merged beside the admin API.
pub(crate) fn routes() -> Router<ConsoleDeps> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(index))
        .route("/console/assets/{file}", get(asset))
        .route(
            "/console/docs",
            get(|| async { Redirect::to("/console/docs/operator-guide") }),
        )
        .route("/console/docs/{page}", get(doc))
}

/// Escapes text for an HTML attribute value.
fn escape_attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Headers every console page and asset carries.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn html(page: &str, deps: &ConsoleDeps) -> Response {
    let body = page.replace("{{DOCS_BASE}}", &escape_attr(&deps.docs_base_url));
    secured(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response())
}

pub(crate) async fn index(State(deps): State<ConsoleDeps>) -> Response {
    html(INDEX_HTML, &deps)
}

pub(crate) async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| ApiError::not_found(format_args!("console asset {file:?}")))?;
    Ok(secured(
        ([(header::CONTENT_TYPE, *content_type)], *body).into_response(),
    ))
}

/// `/console/docs/{page}` is the rendered page; `/console/docs/{page}.md`
/// the Markdown it renders.
pub(crate) async fn doc(
    State(deps): State<ConsoleDeps>,
    Path(page): Path<String>,
) -> Result<Response, ApiError> {
    let (name, raw) = match page.strip_suffix(".md") {
        Some(name) => (name, true),
        None => (page.as_str(), false),
    };
    let (_, text) = DOCS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
        let names: Vec<&str> = DOCS.iter().map(|(n, _)| *n).collect();
        ApiError::NotFound(format!(
            "no documentation page {name:?}; pages: {}",
            names.join(", ")
        ))
    })?;
    if raw {
        return Ok(secured(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
                *text,
            )
                .into_response(),
        ));
    }
    Ok(html(DOCS_HTML, &deps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_escaped() {
        assert_eq!(
            escape_attr(r#"https://x/"><script>'"#),
            "https://x/&quot;&gt;&lt;script&gt;&#39;"
        );
    }

    #[test]
    fn pages_load_only_their_own_files() {
        for page in [INDEX_HTML, DOCS_HTML] {
            assert!(!page.contains("<script>"), "no inline script");
            assert!(!page.contains("style="), "no inline style");
            assert!(!page.contains("http://") && !page.contains("https://"));
        }
        assert!(CSP.contains("script-src 'self'") && !CSP.contains("unsafe"));
    }
}

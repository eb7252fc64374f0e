//! The web console's pages, assets and docs: served from the binary with a
//! strict Content-Security-Policy, and the docs base URL in every page.

use axum::http::StatusCode;

use crate::support::*;

#[tokio::test]
async fn console_pages_are_embedded_and_locked_down() {
    let h = Harness::sqlite().await;
    let a = h.send("GET", "/console/", &[], None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.text.contains("/console/assets/app.js"), "{}", a.text);
    assert!(
        a.text.contains(r#"content="/console/docs""#),
        "docs base in the page"
    );
    let csp = a.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(a.headers["x-frame-options"], "DENY");

    for (asset, kind) in [
        ("app.js", "text/javascript"),
        ("pages.js", "text/javascript"),
        ("markdown.js", "text/javascript"),
        ("app.css", "text/css"),
    ] {
        let a = h
            .send("GET", &format!("/console/assets/{asset}"), &[], None)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{asset}");
        assert!(
            a.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert!(a.headers.contains_key("content-security-policy"));
    }
    let a = h
        .send("GET", "/console/assets/secrets.txt", &[], None)
        .await;
    assert_eq!((a.status, a.code()), (StatusCode::NOT_FOUND, "not_found"));

    // The docs ship inside the binary: the page, and the Markdown it renders.
    let a = h.send("GET", "/console/docs/errors", &[], None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.text.contains("/console/assets/docs.js"));
    let a = h.send("GET", "/console/docs/errors.md", &[], None).await;
    assert!(
        a.text.contains("`upstream_timeout`"),
        "the table the links land on"
    );
    let a = h.send("GET", "/console/docs/console.md", &[], None).await;
    assert!(a.text.contains("`forbidden`"), "console codes have entries");
    let a = h.send("GET", "/console/docs/nope", &[], None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.text.contains("operator-guide"), "{}", a.text);
    let a = h.send("GET", "/console", &[], None).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
}

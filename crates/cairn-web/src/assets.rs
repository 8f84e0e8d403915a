//! The page's static files, compiled into the binary: no build step, nothing read from
//! disk at run time.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../assets/app.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../assets/icon.svg"),
    ),
    (
        "folder.svg",
        "image/svg+xml",
        include_str!("../assets/folder.svg"),
    ),
    (
        "file.svg",
        "image/svg+xml",
        include_str!("../assets/file.svg"),
    ),
];

/// `GET /assets/{name}`.
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, text)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *text,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::FILES;

    /// Every `/assets/…` the stylesheet, the script and the pages name is served.
    #[test]
    fn every_asset_named_is_served() {
        let sources = [
            include_str!("../assets/app.css"),
            include_str!("../assets/app.js"),
            include_str!("pages/mod.rs"),
        ];
        let mut named = 0;
        for source in sources {
            for piece in source.split("/assets/").skip(1) {
                let name: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                    .collect();
                if name.is_empty() || !name.contains('.') {
                    continue;
                }
                named += 1;
                assert!(
                    FILES.iter().any(|(n, _, _)| *n == name),
                    "/assets/{name} is not served"
                );
            }
        }
        assert!(named >= 5, "found {named} asset names");
    }
}

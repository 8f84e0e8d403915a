//! What a browser gets when a person opens a share link itself: the pool cannot open the
//! share for anyone (the key after `#` never reaches it), so a plain page says how to open
//! it with Cairn — in the drive's "Open a link" field, or with `cairn get`. The page is the
//! same for every id, real or not (it tells nobody which shares exist), and runs no script.

use axum::http::header;
use axum::response::IntoResponse;

/// No script, nothing loaded, not framed: the page is text and one inline style.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
                      base-uri 'none'; form-action 'none'";

const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>A Cairn share link</title>
<style>
body { font: 1.05rem/1.55 system-ui, sans-serif; max-width: 40rem; margin: 2.5rem auto; padding: 0 1rem; color: #1b1f24; background: #f6f7f9; }
h1 { font-size: 1.5rem; }
code { background: #e6eef9; padding: .1rem .3rem; border-radius: 4px; }
ol li { margin: .5rem 0; }
.hint { color: #566170; }
@media (prefers-color-scheme: dark) { body { color: #e9edf2; background: #14171b; } code { background: #243246; } .hint { color: #a7b0bc; } }
</style>
</head>
<body>
<main>
<h1>Someone shared files with you through Cairn</h1>
<p>This link opens in Cairn, which fetches the files from the peers that keep them and
decrypts them on your own computer. The server that answered this page never sees the files
or their key: the key is the part of the address after <code>#</code>, which your browser
did not send.</p>
<p>To open it, copy the <strong>whole address</strong> from your browser's address bar,
including everything after <code>#</code>, then either:</p>
<ol>
<li>in the Cairn drive (<code>cairn ui</code>), choose <strong>Open a link</strong> and
paste it there — no account is needed; or</li>
<li>on a terminal, run <code>cairn get 'ADDRESS'</code> with the address pasted between the
quotes.</li>
</ol>
<p class="hint">If the link has a password, Cairn asks for it. A link its owner revoked,
or one that expired, opens nothing.</p>
</main>
</body>
</html>
"#;

/// `GET /s/{id}` and `GET /s/{id}/{pool}`.
pub async fn show() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
}

//! The drive's pages, rendered here with `maud` (every text escaped): the layout every
//! page shares, and helpers for paths in addresses, sizes and times.

mod drive;
mod file;
mod network;
mod setup;

use cairn_core::RemotePath;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

pub(crate) use drive::{View, back_to, breadcrumbs, folder, noted, search, trash};
pub(crate) use file::file;
pub(crate) use network::network;
pub(crate) use setup::{phrase_page, recover_page, setup_page, unlock_page};

/// Characters escaped in one path segment of an address.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']')
    .add(b'&')
    .add(b'+')
    .add(b';')
    .add(b'=')
    .add(b'\'');

/// `prefix` followed by `path`, each name escaped: `/drive/my%20docs/a.txt`.
pub(crate) fn href(prefix: &str, path: &RemotePath) -> String {
    let mut out = prefix.trim_end_matches('/').to_owned();
    for name in path.names() {
        out.push('/');
        out.extend(utf8_percent_encode(name.as_str(), SEGMENT));
    }
    if path.is_root() {
        out.push('/');
    }
    out
}

/// Where a folder's page is.
pub(crate) fn folder_href(path: &RemotePath) -> String {
    let mut out = href("/drive", path);
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// A value for a query string.
pub(crate) fn query_value(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// Bytes as a short figure.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A Unix-millisecond time as `YYYY-MM-DD HH:MM` UTC.
pub(crate) fn when(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// A file's time as `YYYY-MM-DD HH:MM` UTC.
pub(crate) fn stamp(t: cairn_core::Timestamp) -> String {
    when(u64::try_from(t.secs).unwrap_or(0).saturating_mul(1000))
}

/// Days since 1970-01-01 to a calendar date (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Which part of the site a page belongs to, for the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Drive,
    Links,
    Trash,
    Network,
    /// Setup and unlock: no navigation yet.
    Outside,
}

/// A note at the top of a page: what just happened, or what went wrong.
pub(crate) enum Note {
    Done(String),
    Problem(String),
}

/// The frame of every page.
pub(crate) fn layout(title: &str, section: Section, note: Option<&Note>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Cairn" }
                link rel="stylesheet" href="/assets/app.css";
                link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
                script src="/assets/app.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/drive/" aria-label="Cairn — my drive" {
                        img src="/assets/icon.svg" alt="" width="28" height="28";
                        span { "Cairn" }
                    }
                    @if section != Section::Outside {
                        form class="search" method="get" action="/search" role="search" {
                            label class="visually-hidden" for="search-box" { "Search by name" }
                            input id="search-box" type="search" name="q" placeholder="Search by name" autocomplete="off";
                            button type="submit" { "Search" }
                        }
                        nav class="sections" aria-label="Sections" {
                            a href="/drive/" aria-current=[(section == Section::Drive).then_some("page")] { "My drive" }
                            a href="/links" aria-current=[(section == Section::Links).then_some("page")] { "Shared links" }
                            a href="/trash" aria-current=[(section == Section::Trash).then_some("page")] { "Trash" }
                            a href="/network" aria-current=[(section == Section::Network).then_some("page")] { "Network" }
                        }
                    }
                }
                @match note {
                    Some(Note::Done(text)) => { div class="note done" role="status" { (text) } }
                    Some(Note::Problem(text)) => { div class="note problem" role="alert" { (text) } }
                    None => {}
                }
                main id="main" tabindex="-1" { (body) }
                @if section != Section::Outside {
                    section id="transfers" class="transfers" aria-label="Transfers" hidden {
                        div class="transfers-head" {
                            h2 id="transfers-title" { "Transfers" }
                            button type="button" id="transfers-toggle" aria-expanded="true" aria-controls="transfer-list" { "Hide" }
                            button type="button" id="transfers-clear" { "Clear finished" }
                        }
                        ul id="transfer-list" aria-live="polite" aria-labelledby="transfers-title" {}
                    }
                }
            }
        }
    }
}

/// A page with one message, for refusals and errors before the drive is open.
pub(crate) fn plain_page(title: &str, message: &str) -> Markup {
    layout(
        title,
        Section::Outside,
        None,
        html! {
            h1 { (title) }
            p { (message) }
        },
    )
}

/// The page of a failed request: what happened and a way on.
pub(crate) fn error_page(message: &str, back: Option<&str>) -> Markup {
    layout(
        "Something went wrong",
        Section::Drive,
        Some(&Note::Problem(message.to_owned())),
        html! {
            h1 { "That did not work" }
            p { (message) }
            p {
                a href=(back.unwrap_or("/drive/")) { "Go back" }
            }
        },
    )
}

/// The icon of a kind of entry (decorative; drawn by the stylesheet, so a long listing
/// carries no pictures of its own).
pub(crate) fn icon(kind: &str) -> PreEscaped<&'static str> {
    PreEscaped(match kind {
        "folder" => r#"<span class="icon folder" aria-hidden="true"></span>"#,
        _ => r#"<span class="icon file" aria-hidden="true"></span>"#,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_addresses_are_escaped_name_by_name() {
        let path = RemotePath::parse("/my docs/a#1?.txt").unwrap();
        assert_eq!(href("/raw", &path), "/raw/my%20docs/a%231%3F.txt");
        assert_eq!(folder_href(&RemotePath::root()), "/drive/");
    }

    #[test]
    fn times_are_calendar_dates() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(1_764_806_400_000), "2025-12-04 00:00 UTC");
    }
}

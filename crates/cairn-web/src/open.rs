//! Opening the drive in the person's browser. The address carries the one-time secret, so
//! it is not passed on a command line (where other users of the machine could read it):
//! a small page only the owner can read redirects to it, and that page's path is what
//! the opener gets.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether a browser can be shown here: on Linux and the BSDs that needs a display.
fn has_display() -> bool {
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Writes the redirect page into `dir`, readable by its owner only.
fn redirect_page(dir: &Path, url: &str) -> std::io::Result<PathBuf> {
    let path = dir.join("open-drive.html");
    let _ = std::fs::remove_file(&path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    let escaped = url.replace('&', "&amp;").replace('"', "&quot;");
    write!(
        file,
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=\"0;url={escaped}\"><title>Cairn</title><a href=\"{escaped}\">Open your drive</a>"
    )?;
    Ok(path)
}

/// Opens `url` in the default browser, through a redirect page written in `dir`. Returns
/// the page (remove it once the address is used), or `None` (and opens nothing) when there
/// is no display or no opener.
pub fn open_browser(url: &str, dir: &Path) -> Option<PathBuf> {
    if !has_display() {
        return None;
    }
    let page = redirect_page(dir, url).ok()?;
    let target = page.display().to_string();
    let mut command = if cfg!(target_os = "macos") {
        let mut c = Command::new("open");
        c.arg(&target);
        c
    } else if cfg!(target_os = "windows") {
        let mut c = Command::new("cmd");
        c.args(["/C", "start", "", &target]);
        c
    } else {
        let mut c = Command::new("xdg-open");
        c.arg(&target);
        c
    };
    match command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(_) => Some(page),
        Err(_) => {
            let _ = std::fs::remove_file(&page);
            None
        }
    }
}

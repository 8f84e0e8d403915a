//! The services without HTTP: a pool's state over a SQLite store in a temporary directory,
//! called directly, time held still by a manual clock.

use super::*;

#[test]
fn prefixes_are_folders() {
    assert!(check_prefix("").is_ok());
    assert!(check_prefix("abc/").is_ok());
    assert!(check_prefix("abc/def/").is_ok());
    assert!(check_prefix("abc").is_err());
    assert!(check_prefix("/").is_err());
    assert!(check_prefix("a%b/").is_err());
}

//! Where a peer's data path is reached: `http://HOST[:PORT]` or `https://HOST[:PORT]`, HOST
//! a DNS name, an IPv4 address or a bracketed IPv6 one. Parsed once where it enters (a
//! registration, a placement answer), so everything after holds a [`PeerAddr`] that is known
//! to be dialable. On the wire it is the same string it always was.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest address accepted (a DNS name is at most 253 characters).
const MAX_ADDR_LEN: usize = 300;

/// Why text is not a peer address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerAddrError {
    /// Neither `http://` nor `https://`.
    #[error("a peer address starts with http:// or https://, not `{0}`")]
    Scheme(String),
    /// No host, or a host that is not a DNS name or an IP address.
    #[error("`{0}` does not name a host (a DNS name, an IPv4 address or a bracketed IPv6 one)")]
    Host(String),
    /// A port that is not a number from 1 to 65535.
    #[error("the port of `{0}` is not a number from 1 to 65535")]
    Port(String),
    /// A path, query, fragment or user name after the host and port.
    #[error("a peer address is scheme://host:port only; `{0}` has more")]
    Extra(String),
    /// Longer than any address.
    #[error("a peer address is at most {MAX_ADDR_LEN} characters")]
    TooLong,
}

/// A peer's address, known to be well formed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PeerAddr {
    /// `scheme://host[:port]`, as given (less a trailing `/`).
    text: String,
    tls: bool,
    /// Where the host starts and ends in `text`.
    host: (usize, usize),
    port: u16,
}

impl PeerAddr {
    /// Parses `text`; a trailing `/` is dropped.
    pub fn parse(text: &str) -> Result<Self, PeerAddrError> {
        if text.len() > MAX_ADDR_LEN {
            return Err(PeerAddrError::TooLong);
        }
        let (tls, rest, scheme_len) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest, "https://".len())
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest, "http://".len())
        } else {
            return Err(PeerAddrError::Scheme(text.to_owned()));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let trimmed = &text[..scheme_len + rest.len()];
        if rest.contains(['/', '?', '#', '@']) {
            return Err(PeerAddrError::Extra(text.to_owned()));
        }
        let (host, port_text) = if let Some(v6) = rest.strip_prefix('[') {
            let (inside, after) = v6
                .split_once(']')
                .ok_or_else(|| PeerAddrError::Host(text.to_owned()))?;
            if inside.parse::<Ipv6Addr>().is_err() {
                return Err(PeerAddrError::Host(text.to_owned()));
            }
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| PeerAddrError::Extra(text.to_owned()))?,
                ),
            };
            (&rest[..inside.len() + 2], port)
        } else {
            let (host, port) = match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            };
            if !is_host_name(host) {
                return Err(PeerAddrError::Host(text.to_owned()));
            }
            (host, port)
        };
        let port = match port_text {
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(digits) => {
                if digits.is_empty()
                    || digits.len() > 5
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(PeerAddrError::Port(text.to_owned()));
                }
                match digits.parse::<u16>() {
                    Ok(port) if port > 0 => port,
                    _ => return Err(PeerAddrError::Port(text.to_owned())),
                }
            }
        };
        Ok(Self {
            text: trimmed.to_owned(),
            tls,
            host: (scheme_len, scheme_len + host.len()),
            port,
        })
    }

    /// The address of a socket, over TLS or not (as a peer advertises its bound address).
    pub fn from_socket(tls: bool, socket: std::net::SocketAddr) -> Self {
        let scheme = if tls { "https://" } else { "http://" };
        let host = match socket.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        Self {
            text: format!("{scheme}{host}:{}", socket.port()),
            tls,
            host: (scheme.len(), scheme.len() + host.len()),
            port: socket.port(),
        }
    }

    /// The address as text, `scheme://host[:port]`, to which request paths are appended.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the peer is dialled over TLS (pinned to its identity).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The host: a DNS name, an IPv4 address, or an IPv6 one in brackets.
    pub fn host(&self) -> &str {
        self.text.get(self.host.0..self.host.1).unwrap_or_default()
    }

    /// The port (the scheme's own if the address names none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `path` (starting with `/`) on this peer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.text)
    }
}

/// A DNS name or an IPv4 address: labels of letters, digits, `-` and `_`, joined by dots.
fn is_host_name(host: &str) -> bool {
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

impl FromStr for PeerAddr {
    type Err = PeerAddrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for PeerAddr {
    type Error = PeerAddrError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<PeerAddr> for String {
    fn from(addr: PeerAddr) -> Self {
        addr.text
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Reads as its text, so code that only looks at an address (compares, prints, checks its
/// scheme) need not care that it is parsed.
impl std::ops::Deref for PeerAddr {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for PeerAddr {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl PartialEq<str> for PeerAddr {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for PeerAddr {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl PartialEq<String> for PeerAddr {
    fn eq(&self, other: &String) -> bool {
        self.text == *other
    }
}

impl PartialEq<PeerAddr> for str {
    fn eq(&self, other: &PeerAddr) -> bool {
        self == other.text
    }
}

impl PartialEq<PeerAddr> for &str {
    fn eq(&self, other: &PeerAddr) -> bool {
        *self == other.text
    }
}

impl PartialEq<PeerAddr> for String {
    fn eq(&self, other: &PeerAddr) -> bool {
        *self == other.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_as_peers_register_them() {
        let a = PeerAddr::parse("http://127.0.0.1:7701").unwrap();
        assert_eq!((a.host(), a.port(), a.is_tls()), ("127.0.0.1", 7701, false));
        assert_eq!(a.url("/v1/status"), "http://127.0.0.1:7701/v1/status");
        let b = PeerAddr::parse("https://peer-3.example.net:443/").unwrap();
        assert_eq!(b.as_str(), "https://peer-3.example.net:443");
        assert_eq!(
            (b.host(), b.port(), b.is_tls()),
            ("peer-3.example.net", 443, true)
        );
        let c = PeerAddr::parse("https://[2001:db8::1]:7700").unwrap();
        assert_eq!((c.host(), c.port()), ("[2001:db8::1]", 7700));
        let d = PeerAddr::parse("https://peer.example.net").unwrap();
        assert_eq!((d.port(), d.as_str()), (443, "https://peer.example.net"));
        assert_eq!(PeerAddr::parse("http://[::1]").unwrap().port(), 80);
    }

    #[test]
    fn a_socket_address_reads_as_its_parse() {
        for (tls, socket) in [
            (false, "127.0.0.1:7701"),
            (true, "[2001:db8::7]:443"),
            (true, "[::ffff:10.0.0.1]:1"),
        ] {
            let addr = PeerAddr::from_socket(tls, socket.parse().unwrap());
            assert_eq!(PeerAddr::parse(addr.as_str()).unwrap(), addr, "{socket}");
        }
    }

    #[test]
    fn garbage_is_refused_with_the_reason() {
        type Expected = fn(&PeerAddrError) -> bool;
        let cases: [(&str, Expected); 11] = [
            ("", |e| matches!(e, PeerAddrError::Scheme(_))),
            ("ftp://x:1", |e| matches!(e, PeerAddrError::Scheme(_))),
            ("127.0.0.1:80", |e| matches!(e, PeerAddrError::Scheme(_))),
            ("http://", |e| matches!(e, PeerAddrError::Host(_))),
            ("http://:80", |e| matches!(e, PeerAddrError::Host(_))),
            ("http://bad host:80", |e| {
                matches!(e, PeerAddrError::Host(_))
            }),
            ("http://[zz::1]:80", |e| matches!(e, PeerAddrError::Host(_))),
            ("http://x:0", |e| matches!(e, PeerAddrError::Port(_))),
            ("http://x:65536", |e| matches!(e, PeerAddrError::Port(_))),
            ("http://x:80/pieces", |e| {
                matches!(e, PeerAddrError::Extra(_))
            }),
            ("https://user@x:80", |e| {
                matches!(e, PeerAddrError::Extra(_))
            }),
        ];
        for (text, expected) in cases {
            let error = PeerAddr::parse(text).unwrap_err();
            assert!(expected(&error), "{text}: {error:?}");
        }
        assert_eq!(
            PeerAddr::parse(&format!("http://{}", "a".repeat(400))),
            Err(PeerAddrError::TooLong)
        );
    }

    #[test]
    fn on_the_wire_it_is_the_same_string() {
        let addr = PeerAddr::parse("https://10.0.0.7:7700").unwrap();
        assert_eq!(
            serde_json::to_string(&addr).unwrap(),
            "\"https://10.0.0.7:7700\""
        );
        let back: PeerAddr = serde_json::from_str("\"https://10.0.0.7:7700\"").unwrap();
        assert_eq!(back, addr);
        assert!(serde_json::from_str::<PeerAddr>("\"not an address\"").is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in ".{0,80}") {
            let _ = PeerAddr::parse(&text);
        }

        #[test]
        fn a_parsed_address_round_trips(
            tls in any::<bool>(),
            labels in proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 1..4),
            port in proptest::option::of(1u16..),
        ) {
            let scheme = if tls { "https" } else { "http" };
            let host = labels.join(".");
            let text = match port {
                Some(port) => format!("{scheme}://{host}:{port}"),
                None => format!("{scheme}://{host}"),
            };
            let addr = PeerAddr::parse(&text).unwrap();
            prop_assert_eq!(addr.as_str(), text.as_str());
            prop_assert_eq!(addr.host(), host.as_str());
            prop_assert_eq!(addr.port(), port.unwrap_or(if tls { 443 } else { 80 }));
            prop_assert_eq!(PeerAddr::parse(&format!("{addr}")).unwrap(), addr.clone());
            let json = serde_json::to_string(&addr).unwrap();
            prop_assert_eq!(serde_json::from_str::<PeerAddr>(&json).unwrap(), addr);
        }
    }
}

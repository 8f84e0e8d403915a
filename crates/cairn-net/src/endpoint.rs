//! Addresses as Cairn writes them: `https://HOST:PORT#ID` (the server's Ed25519 identity as
//! 64 hex digits, which the connection pins), or `http://HOST:PORT` on loopback only.

use std::net::IpAddr;

/// Why an address cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not an `http://` or `https://` URL.
    #[error("`{0}` is not an http:// or https:// address")]
    NotAnAddress(String),
    /// An `https://` address without the server's identity.
    #[error(
        "`{0}` does not say whose it is; add the server's id after a `#` (as `cairn pool` prints it: https://HOST:PORT#ID)"
    )]
    NoIdentity(String),
    /// The identity is not 64 hex digits.
    #[error("the id after `#` in `{0}` is not 64 hex digits")]
    BadIdentity(String),
    /// Plain HTTP to a machine that is not this one.
    #[error("`{0}` is plain http to another machine; use the server's https:// address")]
    PlainRemote(String),
}

/// A parsed server address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host:port`, without the identity, to which request paths are appended.
    pub base: String,
    /// The identity to pin (always present for `https`).
    pub identity: Option<[u8; 32]>,
}

/// Whether `host` (a name or an IP, IPv6 possibly in brackets) is this machine.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

fn host_of(rest: &str) -> &str {
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    }
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Endpoint {
    /// Parses an address; `https` needs the identity, `http` must be loopback.
    pub fn parse(text: &str) -> Result<Self, EndpointError> {
        let (url, fragment) = match text.split_once('#') {
            Some((url, id)) => (url, Some(id)),
            None => (text, None),
        };
        let url = url.trim_end_matches('/');
        let identity = match fragment {
            Some(id) => Some(hex32(id).ok_or_else(|| EndpointError::BadIdentity(text.into()))?),
            None => None,
        };
        if let Some(rest) = url.strip_prefix("https://") {
            if rest.is_empty() {
                return Err(EndpointError::NotAnAddress(text.into()));
            }
            let identity = identity.ok_or_else(|| EndpointError::NoIdentity(text.into()))?;
            Ok(Self {
                base: url.to_owned(),
                identity: Some(identity),
            })
        } else if let Some(rest) = url.strip_prefix("http://") {
            if rest.is_empty() {
                return Err(EndpointError::NotAnAddress(text.into()));
            }
            if !is_loopback(host_of(rest)) {
                return Err(EndpointError::PlainRemote(text.into()));
            }
            Ok(Self {
                base: url.to_owned(),
                identity,
            })
        } else {
            Err(EndpointError::NotAnAddress(text.into()))
        }
    }

    /// Whether connections go over TLS.
    pub fn is_tls(&self) -> bool {
        self.base.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "5ffab182a0a31e961f1dfa472087c394db643d4fdaf209504225dce399d00b86";

    #[test]
    fn https_needs_and_pins_an_identity() {
        let e = Endpoint::parse(&format!("https://203.0.113.5:7700/#{ID}")).unwrap();
        assert_eq!(e.base, "https://203.0.113.5:7700");
        assert_eq!(e.identity.unwrap()[0], 0x5f);
        assert!(e.is_tls());
        assert!(matches!(
            Endpoint::parse("https://203.0.113.5:7700"),
            Err(EndpointError::NoIdentity(_))
        ));
        assert!(matches!(
            Endpoint::parse("https://203.0.113.5:7700#abc"),
            Err(EndpointError::BadIdentity(_))
        ));
    }

    #[test]
    fn plain_http_stays_on_this_machine() {
        for ok in [
            "http://127.0.0.1:7700",
            "http://localhost:1",
            "http://[::1]:80/",
        ] {
            let e = Endpoint::parse(ok).unwrap();
            assert!(!e.is_tls(), "{ok}");
        }
        for bad in [
            "http://203.0.113.5:7700",
            "http://example.com",
            "http://[2001:db8::1]:80",
        ] {
            assert!(
                matches!(Endpoint::parse(bad), Err(EndpointError::PlainRemote(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            Endpoint::parse("ftp://x"),
            Err(EndpointError::NotAnAddress(_))
        ));
        assert!(matches!(
            Endpoint::parse("https://"),
            Err(EndpointError::NotAnAddress(_))
        ));
    }
}

//! Failure domains: which peers are likely to fail together (the same `--zone`, else the same
//! subnet), so placement can spread a segment's pieces across them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Prefix of a domain named by the operator's `--zone`.
const ZONE: &str = "zone:";
/// Prefix of a domain derived from an IP address: its /24 (IPv4) or /64 (IPv6) subnet.
const NET: &str = "net:";
/// Prefix of a domain derived from a host name that is not an IP address.
const HOST: &str = "host:";

/// The failure domain of a peer: `zone:<zone>` when the peer was started with a non-blank
/// `--zone`, else the subnet of its address (`net:10.1.2.0/24`, `net:2001:db8::/64`), else,
/// when the address names a host rather than an IP, `host:<name>` (lowercased).
///
/// `address` is the base URL the peer registered with, such as `http://10.1.2.3:7000` or
/// `http://[2001:db8::1]:7000`; a bare `host:port` or IP works too. The prefixes keep the three
/// kinds apart, so a zone called `10.1.2.0/24` never shares a domain with that subnet. An
/// IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) counts as its IPv4 address. Host names are not
/// resolved (this module does no I/O), so two names for machines on one subnet are two domains.
pub fn failure_domain(zone: Option<&str>, address: &str) -> String {
    if let Some(zone) = zone.map(str::trim).filter(|zone| !zone.is_empty()) {
        return format!("{ZONE}{zone}");
    }
    let host = host_of(address);
    match parse_ip(host) {
        Some(IpAddr::V4(ip)) => subnet_v4(ip),
        Some(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(ip) => subnet_v4(ip),
            None => {
                let [a, b, c, d, ..] = ip.segments();
                format!("{NET}{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
        None => format!("{HOST}{}", host.trim_end_matches('.').to_ascii_lowercase()),
    }
}

fn subnet_v4(ip: Ipv4Addr) -> String {
    let [a, b, c, _] = ip.octets();
    format!("{NET}{a}.{b}.{c}.0/24")
}

/// The host part of a URL or `host:port`: no scheme, user info, port, path, query or brackets.
fn host_of(address: &str) -> &str {
    let address = address.trim();
    let rest = address.split_once("://").map_or(address, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if let Some(inner) = authority.strip_prefix('[') {
        return inner.split(']').next().unwrap_or(inner);
    }
    // A bare IPv6 address has colons of its own and no port.
    if parse_ip(authority).is_some() {
        return authority;
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Parses an IP address, ignoring an IPv6 zone index such as `%eth0`.
fn parse_ip(host: &str) -> Option<IpAddr> {
    host.split('%').next().unwrap_or(host).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_subnets_and_hosts() {
        let cases = [
            (Some("rack-1"), "http://10.1.2.3:7000", "zone:rack-1"),
            (Some("  rack-1 "), "http://10.1.2.3:7000", "zone:rack-1"),
            (Some(""), "http://10.1.2.3:7000", "net:10.1.2.0/24"),
            (Some("   "), "http://10.1.2.3:7000", "net:10.1.2.0/24"),
            (None, "http://10.1.2.3:7000", "net:10.1.2.0/24"),
            (None, "http://10.1.2.200:7000/v1/x?y#z", "net:10.1.2.0/24"),
            (None, "https://user@10.1.3.3", "net:10.1.3.0/24"),
            (None, "10.1.2.3:7000", "net:10.1.2.0/24"),
            (None, "10.1.2.3", "net:10.1.2.0/24"),
            (None, "http://[2001:db8::1]:7000", "net:2001:db8::/64"),
            (
                None,
                "http://[2001:db8:0:0:ffff::1]:7000/",
                "net:2001:db8::/64",
            ),
            (
                None,
                "http://[2001:db8:0:7::1]:7000",
                "net:2001:db8:0:7::/64",
            ),
            (None, "http://[fe80::1%eth0]:7000", "net:fe80::/64"),
            (None, "2001:db8::1", "net:2001:db8::/64"),
            (None, "http://[::ffff:10.1.2.3]:7000", "net:10.1.2.0/24"),
            (
                None,
                "http://Peer.Example.org.:7000/",
                "host:peer.example.org",
            ),
            (None, "peer.example.org", "host:peer.example.org"),
            (None, "", "host:"),
        ];
        for (zone, address, expected) in cases {
            assert_eq!(
                failure_domain(zone, address),
                expected,
                "{zone:?} {address}"
            );
        }
    }

    #[test]
    fn kinds_never_collide() {
        let net = failure_domain(None, "http://10.1.2.3:7000");
        let zone = failure_domain(Some(&net), "http://10.1.2.3:7000");
        assert_ne!(zone, net);
        let zone = failure_domain(Some("peer"), "http://10.1.2.3:7000");
        let host = failure_domain(None, "http://peer:7000");
        assert_ne!(zone, host);
    }
}

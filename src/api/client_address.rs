//! Which address a request comes from. Behind a reverse proxy every peer is the proxy, so a
//! throttle keyed on the peer would put every client in one bucket (one attacker locking everyone
//! out); but a `Forwarded` header from anyone else is just a claim, so it is believed only when the
//! peer is a configured trusted proxy.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

/// The trusted proxies, from `server.trusted_proxies`.
#[derive(Debug, Clone, Default)]
pub struct ClientAddresses {
    trusted: Arc<[IpNet]>,
}

/// A `server.trusted_proxies` entry that is neither an address nor a CIDR block.
#[derive(Debug, thiserror::Error)]
#[error(
    "server.trusted_proxies: {0:?} is neither an IP address nor a CIDR block (e.g. 10.0.0.0/8)"
)]
pub struct BadProxy(String);

impl ClientAddresses {
    /// Parses a comma-separated list of addresses and CIDR blocks.
    pub fn parse(list: &str) -> Result<Self, BadProxy> {
        let trusted = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxy(entry.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            trusted: trusted.into(),
        })
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&address))
    }

    /// The client: the peer, unless the peer is a trusted proxy; then the nearest hop the proxies
    /// name that is not itself trusted (`Forwarded` if present, else `X-Forwarded-For`). A hop a
    /// proxy could not name (`unknown`, an obfuscated id, garbage) ends the walk at that proxy.
    pub fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer.map(|p| p.to_canonical())?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let hops = forwarded_hops(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(address) if self.trusts(*address) => client = *address,
                Some(address) => return Some(*address),
                None => return Some(client),
            }
        }
        Some(client)
    }
}

/// The hops the proxies recorded, nearest last; `None` for one that names no address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, node)| parse_node(node.trim().trim_matches('"')))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|hop| parse_node(hop.trim()))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1` or `[2001:db8::1]:8080`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(address) = node.parse::<IpAddr>() {
        return Some(address.to_canonical());
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (address, _) = rest.split_once(']')?;
        return address.parse::<IpAddr>().ok().map(|a| a.to_canonical());
    }
    let (address, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    address.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("address"))
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let addresses = ClientAddresses::parse("10.0.0.0/8").expect("list");
        let claims = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=1.2.3.4"),
        ]);
        assert_eq!(addresses.resolve(ip("192.0.2.7"), &claims), ip("192.0.2.7"));
        let nobody = ClientAddresses::default();
        assert_eq!(nobody.resolve(ip("10.0.0.1"), &claims), ip("10.0.0.1"));
    }

    #[test]
    fn a_trusted_proxy_names_the_nearest_untrusted_hop() {
        let addresses = ClientAddresses::parse(" 10.0.0.0/8 , ::1").expect("list");
        // The client put a forged hop first; the proxies appended the real ones.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.4, 10.1.1.1")]);
        assert_eq!(
            addresses.resolve(ip("10.0.0.2"), &chain),
            ip("198.51.100.4")
        );
        let forwarded = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https, For=10.2.2.2:80",
        )]);
        assert_eq!(addresses.resolve(ip("::1"), &forwarded), ip("2001:db8::7"));
        // Forwarded wins over X-Forwarded-For.
        let both = headers(&[
            ("forwarded", "for=198.51.100.1"),
            ("x-forwarded-for", "6.6.6.6"),
        ]);
        assert_eq!(addresses.resolve(ip("10.0.0.2"), &both), ip("198.51.100.1"));
    }

    #[test]
    fn a_hop_without_an_address_ends_the_walk_at_the_proxy_that_wrote_it() {
        let addresses = ClientAddresses::parse("10.0.0.0/8").expect("list");
        let unknown = headers(&[("forwarded", "for=198.51.100.1, for=unknown, for=10.0.0.9")]);
        assert_eq!(addresses.resolve(ip("10.0.0.2"), &unknown), ip("10.0.0.9"));
        let none = headers(&[]);
        assert_eq!(addresses.resolve(ip("10.0.0.2"), &none), ip("10.0.0.2"));
        let v4_in_v6 = headers(&[("x-forwarded-for", "::ffff:198.51.100.3")]);
        assert_eq!(
            addresses.resolve(ip("::ffff:10.0.0.2"), &v4_in_v6),
            ip("198.51.100.3")
        );
    }

    #[test]
    fn a_bad_entry_is_named() {
        let error = ClientAddresses::parse("10.0.0.0/8, proxy.local").expect_err("refused");
        assert!(error.to_string().contains("\"proxy.local\""), "{error}");
    }
}

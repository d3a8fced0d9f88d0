//! Who the client of a request is, by address: the peer, or — when the peer is a trusted
//! proxy — the nearest address in `X-Forwarded-For` that is not one of the trusted proxies.
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// A TCP connection's peer, made once per accepted connection. Every request on the connection
/// holds a clone; when the connection is gone and its last request done, the open-connection
/// gauge goes down.
#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    _open: Arc<Open>,
}

#[derive(Debug)]
struct Open;

impl Drop for Open {
    fn drop(&mut self) {
        crate::telemetry::METRICS.connections.dec();
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        crate::telemetry::METRICS.connections.inc();
        Peer { addr: *stream.remote_addr(), _open: Arc::new(Open) }
    }
}

/// `QUANTGRAPH_TRUSTED_PROXIES`: addresses or CIDR blocks, comma-separated.
pub fn parse_proxies(list: Option<&str>) -> anyhow::Result<Vec<ipnet::IpNet>> {
    list.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| anyhow::anyhow!("QUANTGRAPH_TRUSTED_PROXIES: `{s}` is not an address or CIDR block"))
        })
        .collect()
}

/// The client address of a request from `peer`. Entries of `X-Forwarded-For` are read from the
/// right (the hop nearest this server) while they are trusted proxies; anything a client wrote
/// further left is never believed.
pub fn address(headers: &HeaderMap, peer: IpAddr, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_addresses_count_only_through_trusted_proxies() {
        let proxies = parse_proxies(Some("10.0.0.0/8, 192.168.1.5")).unwrap();
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let outsider: IpAddr = "203.0.113.9".parse().unwrap();
        // Through the proxy: the address it saw.
        assert_eq!(address(&headers("198.51.100.7"), proxy, &proxies), "198.51.100.7".parse::<IpAddr>().unwrap());
        // A client's own spoofed entry left of the real one is ignored.
        assert_eq!(
            address(&headers("1.1.1.1, 198.51.100.7"), proxy, &proxies),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // Two trusted hops are walked through.
        assert_eq!(
            address(&headers("198.51.100.7, 192.168.1.5"), proxy, &proxies),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // Not from a trusted proxy: the header is not believed at all.
        assert_eq!(address(&headers("1.1.1.1"), outsider, &proxies), outsider);
        assert!(parse_proxies(Some("not-an-address")).is_err());
    }
}

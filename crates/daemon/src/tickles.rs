//! TCP connections to our public addresses ("tickle lists").
//!
//! The node holding an address reads its established connections from the
//! kernel (`/proc/net/tcp`, `/proc/net/tcp6`) and, when the list changed,
//! sends it to every other node. Whoever takes the address over then sends
//! each client a tickle ACK, so that clients reconnect at once instead of
//! waiting out TCP retransmissions (reference §8.7). CTDB learns the list
//! from Samba or from `ss` in an event script; reading the kernel needs no
//! cooperation from the services.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `(client, server)` pairs.
pub type Conns = Vec<(SocketAddr, SocketAddr)>;

/// Parse one `/proc/net/tcp*` address field: `0100007F:0016`.
fn parse_addr(field: &str) -> Option<SocketAddr> {
    let (host, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
    let ip = match host.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(host)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(&host[i * 8..i * 8 + 8])?);
            }
            let v6 = Ipv6Addr::from(b);
            v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Established connections whose local address is in `ours`, grouped by
/// that address, from the text of `/proc/net/tcp` or `/proc/net/tcp6`.
pub fn parse_proc_tcp(text: &str, ours: &BTreeSet<IpAddr>, out: &mut BTreeMap<IpAddr, Conns>) {
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || f[3] != "01" {
            continue;
        }
        let (Some(local), Some(remote)) = (parse_addr(f[1]), parse_addr(f[2])) else { continue };
        if ours.contains(&local.ip()) {
            out.entry(local.ip()).or_default().push((remote, local));
        }
    }
}

/// Read the kernel's connections to `ours`.
pub fn scan(ours: &BTreeSet<IpAddr>) -> BTreeMap<IpAddr, Conns> {
    let mut out = BTreeMap::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(f) {
            parse_proc_tcp(&text, ours, &mut out);
        }
    }
    for conns in out.values_mut() {
        conns.sort();
        conns.dedup();
    }
    out
}

/// Message payload: the address, then one `client server` pair a line.
pub fn encode(ip: IpAddr, conns: &Conns) -> Vec<u8> {
    let mut s = format!("{ip}\n");
    for (c, srv) in conns {
        s.push_str(&format!("{c} {srv}\n"));
    }
    s.into_bytes()
}

/// Parse a payload; `None` if any part of it is malformed.
pub fn decode(data: &[u8]) -> Option<(IpAddr, Conns)> {
    let text = std::str::from_utf8(data).ok()?;
    let mut lines = text.lines();
    let ip: IpAddr = lines.next()?.parse().ok()?;
    let mut conns = Conns::new();
    for l in lines {
        let (c, s) = l.split_once(' ')?;
        let server: SocketAddr = s.parse().ok()?;
        if server.ip() != ip {
            return None;
        }
        conns.push((c.parse().ok()?, server));
    }
    Some((ip, conns))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 016433C6:01BD 2C0200C0:D431 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 20 4 30 10 -1
   1: 016433C6:01BD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0B0002C0:1117 0C0002C0:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
";

    #[test]
    fn established_connections_to_our_addresses() {
        let ours: BTreeSet<IpAddr> = ["198.51.100.1".parse().unwrap()].into();
        let mut out = BTreeMap::new();
        parse_proc_tcp(TCP, &ours, &mut out);
        let want: Conns = vec![("192.0.2.44:54321".parse().unwrap(), "198.51.100.1:445".parse().unwrap())];
        assert_eq!(out.get(&"198.51.100.1".parse().unwrap()), Some(&want));
        assert_eq!(out.len(), 1, "listeners and other addresses are ignored");
    }

    #[test]
    fn payload_round_trip_and_garbage() {
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        let conns: Conns = vec![("192.0.2.44:54321".parse().unwrap(), "198.51.100.1:445".parse().unwrap())];
        assert_eq!(decode(&encode(ip, &conns)), Some((ip, conns)));
        assert_eq!(decode(b"198.51.100.1\n192.0.2.44:1 198.51.100.2:445\n"), None, "server must be the address");
        assert_eq!(decode(b"\xff\xfe"), None);
        assert_eq!(decode(b"nonsense"), None);
    }

    #[test]
    fn ipv6_fields() {
        // ::ffff:198.51.100.1 port 80 and 2001:db8::1 port 443.
        assert_eq!(parse_addr("0000000000000000FFFF0000016433C6:0050"), Some("198.51.100.1:80".parse().unwrap()));
        assert_eq!(parse_addr("B80D0120000000000000000001000000:01BB"), Some("[2001:db8::1]:443".parse().unwrap()));
        assert_eq!(parse_addr("zz:1"), None);
    }
}

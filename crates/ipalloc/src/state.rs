//! The allocation state shared by all algorithms (§8.2): the merged IP list, who may host
//! what, current owners and coverage, and the common steps built on them.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::net::IpAddr;

use crate::{Input, Level, Pnn};

/// An address as four 32-bit words: IPv4 = (0, 0, 0, addr), IPv6 = its big-endian words.
pub(crate) type Key = [u32; 4];

pub(crate) fn key(ip: &IpAddr) -> Key {
    match ip {
        IpAddr::V4(a) => [0, 0, 0, u32::from(*a)],
        IpAddr::V6(a) => {
            let o = a.octets();
            let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            [w(0), w(4), w(8), w(12)]
        }
    }
}

/// LCP2's distance: leading zero bits of the XOR of each word, summed over all four words
/// (32 for equal words; the sum does not stop at the first differing word).
pub(crate) fn distance(a: &Key, b: &Key) -> u32 {
    (0..4).map(|w| (a[w] ^ b[w]).leading_zeros()).sum()
}

/// Log sink with CTDB's level filter; formats only what will be shown.
pub(crate) struct Logger<'l> {
    max: u32,
    sink: &'l mut dyn FnMut(Level, &str),
    buf: String,
}

impl Logger<'_> {
    pub(crate) fn enabled(&self, level: Level) -> bool {
        level.value() <= self.max
    }

    pub(crate) fn emit(&mut self, level: Level, args: fmt::Arguments<'_>) {
        if self.enabled(level) {
            self.buf.clear();
            let _ = self.buf.write_fmt(args);
            (self.sink)(level, &self.buf);
        }
    }
}

pub(crate) struct State<'l> {
    /// Number of nodes in the node map.
    pub n: usize,
    /// The merged list, in order (descending key).
    pub addrs: Vec<IpAddr>,
    pub keys: Vec<Key>,
    /// Current owner of each address (node index).
    pub owner: Vec<Option<usize>>,
    /// Number of addresses each node currently holds.
    pub coverage: Vec<u32>,
    /// `available[ip * n + node]`: `node` has `ip` in its available list (`can_host`).
    available: Vec<bool>,
    pub no_ip_takeover: bool,
    pub log: Logger<'l>,
}

impl<'l> State<'l> {
    /// Build the merged list: the union of known IPs, the owner being the highest-numbered
    /// node that claims the address for itself, sorted by descending key.
    pub(crate) fn new(input: &Input, max: Level, sink: &'l mut dyn FnMut(Level, &str)) -> State<'l> {
        let n = input.nodes.len();
        let mut index: HashMap<IpAddr, usize> = HashMap::new();
        let mut merged: Vec<(IpAddr, Option<usize>)> = Vec::new();
        for (node, ips) in input.nodes.iter().enumerate() {
            for &(ip, claimed) in &ips.known {
                let i = *index.entry(ip).or_insert_with(|| {
                    merged.push((ip, None));
                    merged.len() - 1
                });
                if claimed != Pnn::UNKNOWN && claimed.0 as usize == node {
                    merged[i].1 = Some(node);
                }
            }
        }
        // Descending key; the only possible tie (an IPv4-compatible IPv6 address and its
        // IPv4 address share a key) puts IPv6 first.
        merged.sort_by(|a, b| key(&b.0).cmp(&key(&a.0)).then(b.0.is_ipv6().cmp(&a.0.is_ipv6())));
        for (pos, (ip, _)) in merged.iter().enumerate() {
            index.insert(*ip, pos);
        }
        let mut available = vec![false; merged.len() * n];
        for (node, ips) in input.nodes.iter().enumerate() {
            for ip in &ips.available {
                // An address no node knows is not in the merged list and is ignored.
                if let Some(&pos) = index.get(ip) {
                    available[pos * n + node] = true;
                }
            }
        }
        let mut coverage = vec![0u32; n];
        for (_, owner) in &merged {
            if let Some(o) = owner {
                coverage[*o] += 1;
            }
        }
        State {
            n,
            keys: merged.iter().map(|(ip, _)| key(ip)).collect(),
            addrs: merged.iter().map(|(ip, _)| *ip).collect(),
            owner: merged.iter().map(|(_, o)| *o).collect(),
            coverage,
            available,
            no_ip_takeover: input.no_ip_takeover,
            log: Logger { max: max.value(), sink, buf: String::new() },
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.addrs.len()
    }

    pub(crate) fn can_host(&self, node: usize, ip: usize) -> bool {
        self.available[ip * self.n + node]
    }

    pub(crate) fn can_takeover(&self, node: usize, ip: usize) -> bool {
        !self.no_ip_takeover && self.can_host(node, ip)
    }

    /// Change an owner, keeping coverage in step.
    pub(crate) fn set_owner(&mut self, ip: usize, owner: Option<usize>) {
        if let Some(old) = self.owner[ip] {
            self.coverage[old] -= 1;
        }
        if let Some(new) = owner {
            self.coverage[new] += 1;
        }
        self.owner[ip] = owner;
    }

    /// Release every address whose owner cannot host it (`can_host`, so NoIPTakeover keeps
    /// addresses where they are still hostable).
    pub(crate) fn unassign_unsuitable(&mut self) {
        for ip in 0..self.len() {
            if let Some(node) = self.owner[ip] {
                if !self.can_host(node, ip) {
                    self.log.emit(Level::Debug, format_args!("Unassign IP: {} from {}", self.addrs[ip], node));
                    self.set_owner(ip, None);
                }
            }
        }
    }

    /// The node with the smallest coverage among those that can take `ip` over, lowest PNN
    /// on ties. Does not assign.
    pub(crate) fn find_takeover_node(&mut self, ip: usize) -> Option<usize> {
        let mut best: Option<usize> = None;
        for node in 0..self.n {
            if self.can_takeover(node, ip) && best.is_none_or(|b| self.coverage[node] < self.coverage[b]) {
                best = Some(node);
            }
        }
        if best.is_none() {
            self.log.emit(
                Level::Warning,
                format_args!("Could not find node to take over public address '{}'", self.addrs[ip]),
            );
        }
        best
    }

    /// Give each unassigned address, in list order, to `find_takeover_node`.
    pub(crate) fn basic_allocate_unassigned(&mut self) {
        for ip in 0..self.len() {
            if self.owner[ip].is_none() {
                match self.find_takeover_node(ip) {
                    Some(node) => self.set_owner(ip, Some(node)),
                    None => self
                        .log
                        .emit(Level::Warning, format_args!("Failed to find node to cover ip {}", self.addrs[ip])),
                }
            }
        }
    }

    pub(crate) fn result(&self) -> Vec<(IpAddr, Option<Pnn>)> {
        self.addrs.iter().zip(&self.owner).map(|(ip, o)| (*ip, o.map(|n| Pnn(n as u32)))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        key(&s.parse().unwrap())
    }

    #[test]
    fn keys() {
        assert_eq!(k("192.168.20.249"), [0, 0, 0, 0xC0A8_14F9]);
        assert_eq!(k("2001:db8::1"), [0x2001_0db8, 0, 0, 1]);
        assert_eq!(k("::ffff:1.2.3.4"), [0, 0, 0xffff, 0x0102_0304]);
    }

    #[test]
    fn distances_from_the_spec() {
        // §8.3: 192.168.20.x vs 192.168.21.y => 96 + 23; .249 vs .250 => 96 + 30.
        assert_eq!(distance(&k("192.168.20.254"), &k("192.168.21.252")), 119);
        assert_eq!(distance(&k("192.168.20.249"), &k("192.168.20.250")), 126);
        assert_eq!(distance(&k("10.0.0.1"), &k("10.0.0.1")), 128);
        assert_eq!(distance(&k("10.0.0.1"), &k("138.0.0.1")), 96);
        // IPv6: words after the first differing one still count.
        assert_eq!(distance(&k("2001:db8::1"), &k("2001:db9::1")), 31 + 32 + 32 + 32);
        assert_eq!(distance(&k("2001:db8::1"), &k("2001:db8::2")), 32 + 32 + 32 + 30);
        // Mixed families: IPv4 words 0..2 are zero.
        assert_eq!(distance(&k("10.0.0.1"), &k("2001:db8::1")), 2 + 32 + 32 + (0x0A00_0001u32 ^ 1).leading_zeros());
    }

    #[test]
    fn merged_order_is_descending_ipv6_first() {
        let ips = ["10.0.0.1", "2001:db8::1", "192.168.1.1", "10.0.0.2", "fe80::1", "::1.2.3.4", "1.2.3.4"];
        let input = Input {
            nodes: vec![crate::NodeIps {
                known: ips.iter().map(|s| (s.parse().unwrap(), Pnn::UNKNOWN)).collect(),
                available: vec![],
            }],
            ..Input::default()
        };
        let mut sink = |_: Level, _: &str| {};
        let st = State::new(&input, Level::Debug, &mut sink);
        let order: Vec<String> = st.addrs.iter().map(|a| a.to_string()).collect();
        let v4compat: IpAddr = "::1.2.3.4".parse().unwrap();
        assert_eq!(
            order,
            ["fe80::1", "2001:db8::1", "192.168.1.1", "10.0.0.2", "10.0.0.1", &v4compat.to_string(), "1.2.3.4"]
        );
    }

    #[test]
    fn highest_self_claim_wins_and_claims_for_others_are_ignored() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let ip2: IpAddr = "10.0.0.2".parse().unwrap();
        let node = |claims: Vec<(IpAddr, u32)>| crate::NodeIps {
            known: claims.into_iter().map(|(i, p)| (i, Pnn(p))).collect(),
            available: vec![],
        };
        let input = Input {
            nodes: vec![node(vec![(ip, 0), (ip2, 2)]), node(vec![(ip, 1), (ip2, 2)]), node(vec![(ip, 0), (ip2, 1)])],
            ..Input::default()
        };
        let mut sink = |_: Level, _: &str| {};
        let st = State::new(&input, Level::Debug, &mut sink);
        assert_eq!(st.addrs, vec![ip2, ip]);
        assert_eq!(st.owner, vec![None, Some(1)]);
        assert_eq!(st.coverage, vec![0, 1, 0]);
    }
}

//! Takeover planning (reference §8.1), pure: from every node's public
//! addresses and flags to the RELEASE_IP and TAKEOVER_IP controls of a
//! takeover run. The allocation itself is `rctdb_ipalloc`.

use rctdb_ipalloc::{Algorithm, Input, Level, NodeIps};
use rctdb_protocol::{NodeFlags, NodeMap, Pnn, PublicIpList};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// TAKEOVER_RUN request payload: the asking node and the srvid to answer
/// on (0: no answer wanted).
pub fn encode_request(pnn: Pnn, reply: u64) -> Vec<u8> {
    let mut v = pnn.0.to_le_bytes().to_vec();
    v.extend_from_slice(&reply.to_le_bytes());
    v
}

pub fn decode_request(b: &[u8]) -> Option<(Pnn, u64)> {
    if b.len() != 12 {
        return None;
    }
    Some((Pnn(u32::from_le_bytes(b[0..4].try_into().ok()?)), u64::from_le_bytes(b[4..12].try_into().ok()?)))
}

/// rctdbd died (kill -9, crash) and can no longer release this node's
/// public addresses: remove every configured one that is still on a local
/// interface, so that the address the leader moves elsewhere is not also
/// answered here. (A whole host that freezes needs fencing instead.)
pub fn drop_public_addresses(why: &str) {
    let paths = rctdb_config::Paths::from_env();
    let Ok(cfg) = rctdb_config::PublicAddresses::load(&paths.public_addresses_file()) else { return };
    let on = rctdb_sys::kernel_addr_ifaces();
    for a in &cfg.addrs {
        let ip = a.net.ip();
        let Some(iface) = on.get(&ip) else { continue };
        match rctdb_sys::remove_addr(ip, a.net.prefix(), Some(iface)) {
            Ok(()) => log::warn!("{why}: removed public address {ip} from {iface}"),
            Err(e) => log::error!("{why}: failed to remove public address {ip}: {e}"),
        }
    }
}

/// Allocation settings from the tunables.
#[derive(Debug, Clone)]
pub struct Policy {
    pub algorithm: Algorithm,
    pub no_ip_failback: bool,
    pub no_ip_takeover: bool,
    pub force_rebalance: Vec<Pnn>,
}

/// The controls of one takeover run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// `(node, ip, new owner)`: every connected node that knows `ip` and
    /// is not its new owner (even if it does not hold it: it records the
    /// new owner).
    pub releases: Vec<(Pnn, IpAddr, Pnn)>,
    /// `(new owner, ip)`.
    pub takes: Vec<(Pnn, IpAddr)>,
    /// Addresses no node can host.
    pub unhosted: Vec<IpAddr>,
    /// Does the result differ from who holds what now?
    pub changed: bool,
}

/// Plan a run. `ips[pnn]` is what node `pnn` reported (None: not
/// connected or not asked); availability counts only for active nodes.
/// Addresses in `held` are left out entirely: nobody takes or releases
/// them, and who holds them does not count as a change.
pub fn plan(
    map: &NodeMap,
    ips: &BTreeMap<Pnn, PublicIpList>,
    held: &BTreeSet<IpAddr>,
    policy: &Policy,
    log: &mut dyn FnMut(Level, &str),
) -> Plan {
    let ips: BTreeMap<Pnn, PublicIpList> = ips
        .iter()
        .map(|(p, l)| {
            let known = l.known.iter().filter(|(i, _)| !held.contains(i)).copied().collect();
            let available = l.available.iter().filter(|i| !held.contains(i)).copied().collect();
            (*p, PublicIpList { known, available })
        })
        .collect();
    let ips = &ips;
    let n = map.nodes.iter().map(|i| i.pnn.0 as usize + 1).max().unwrap_or(0);
    let mut nodes: Vec<NodeIps> = (0..n).map(|_| NodeIps { known: Vec::new(), available: Vec::new() }).collect();
    for info in &map.nodes {
        let Some(list) = ips.get(&info.pnn) else { continue };
        let slot = &mut nodes[info.pnn.0 as usize];
        slot.known = list.known.clone();
        if !info.flags.intersects(NodeFlags::INACTIVE | NodeFlags::DISABLED) {
            slot.available = list.available.clone();
        }
    }
    let input = Input {
        algorithm: policy.algorithm,
        no_ip_failback: policy.no_ip_failback,
        no_ip_takeover: policy.no_ip_takeover,
        nodes,
        force_rebalance: policy.force_rebalance.clone(),
        home_nodes: BTreeMap::new(),
    };
    // Format only the lines the current log level will print: the DEBUG
    // trace of a large allocation costs seconds.
    let max_level = match log::max_level() {
        log::LevelFilter::Trace => Level::Debug,
        log::LevelFilter::Debug => Level::Info,
        log::LevelFilter::Info => Level::Notice,
        log::LevelFilter::Warn => Level::Warning,
        _ => Level::Err,
    };
    let result = rctdb_ipalloc::allocate_filtered(&input, max_level, log);

    // Who claims each address for itself now.
    let mut claims: BTreeMap<IpAddr, BTreeSet<Pnn>> = BTreeMap::new();
    for (pnn, list) in ips {
        for (ip, owner) in &list.known {
            if owner == pnn {
                claims.entry(*ip).or_default().insert(*pnn);
            }
        }
    }
    let mut plan = Plan::default();
    for (ip, owner) in result {
        let new_owner = owner.unwrap_or(Pnn::UNKNOWN);
        for (pnn, list) in ips {
            if Some(*pnn) != owner && list.known.iter().any(|(k, _)| *k == ip) {
                plan.releases.push((*pnn, ip, new_owner));
            }
        }
        match owner {
            Some(o) => plan.takes.push((o, ip)),
            None => plan.unhosted.push(ip),
        }
        let now: Vec<Pnn> = claims.get(&ip).map(|c| c.iter().copied().collect()).unwrap_or_default();
        let wanted: Vec<Pnn> = owner.into_iter().collect();
        if now != wanted {
            plan.changed = true;
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use rctdb_protocol::NodeInfo;

    fn map(flags: &[u32]) -> NodeMap {
        NodeMap {
            nodes: flags
                .iter()
                .enumerate()
                .map(|(i, f)| NodeInfo {
                    pnn: Pnn(i as u32),
                    addr: format!("192.0.2.{}", 11 + i).parse().unwrap(),
                    flags: NodeFlags(*f),
                })
                .collect(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn list(owners: &[(&str, u32)], available: bool) -> PublicIpList {
        let known: Vec<(IpAddr, Pnn)> = owners.iter().map(|(i, o)| (ip(i), Pnn(*o))).collect();
        let available = if available { known.iter().map(|(i, _)| *i).collect() } else { Vec::new() };
        PublicIpList { known, available }
    }

    fn policy() -> Policy {
        Policy { algorithm: Algorithm::Lcp2, no_ip_failback: false, no_ip_takeover: false, force_rebalance: vec![] }
    }

    #[test]
    fn dead_nodes_addresses_move_and_everyone_else_is_told() {
        // Node 1 died: its address is still claimed in nobody's list but its own (not asked).
        let u = Pnn::UNKNOWN.0;
        let m = map(&[0, 0x03, 0]);
        let mut ips = BTreeMap::new();
        ips.insert(Pnn(0), list(&[("198.51.100.1", 0), ("198.51.100.2", 1), ("198.51.100.3", 2)], true));
        ips.insert(Pnn(2), list(&[("198.51.100.1", 0), ("198.51.100.2", 1), ("198.51.100.3", 2)], true));
        let _ = u;
        let p = plan(&m, &ips, &BTreeSet::new(), &policy(), &mut |_, _| {});
        assert!(p.changed);
        assert!(p.unhosted.is_empty());
        let owner_of = |a: &str| p.takes.iter().find(|(_, i)| *i == ip(a)).map(|(o, _)| *o);
        assert_eq!(owner_of("198.51.100.1"), Some(Pnn(0)));
        assert_eq!(owner_of("198.51.100.3"), Some(Pnn(2)));
        assert!(matches!(owner_of("198.51.100.2"), Some(Pnn(0)) | Some(Pnn(2))));
        // Every connected node that knows an address and is not its owner gets a release.
        for (node, a, new_owner) in &p.releases {
            assert_ne!(Some(*node), owner_of(&a.to_string()));
            assert_eq!(Some(*new_owner), owner_of(&a.to_string()));
        }
        assert_eq!(p.releases.len(), 3);
    }

    #[test]
    fn balanced_cluster_needs_no_run() {
        let m = map(&[0, 0]);
        let mut ips = BTreeMap::new();
        ips.insert(Pnn(0), list(&[("198.51.100.1", 0), ("198.51.100.2", 1)], true));
        ips.insert(Pnn(1), list(&[("198.51.100.1", 0), ("198.51.100.2", 1)], true));
        assert!(!plan(&m, &ips, &BTreeSet::new(), &policy(), &mut |_, _| {}).changed);
    }

    #[test]
    fn double_claim_is_a_change() {
        let m = map(&[0, 0]);
        let mut ips = BTreeMap::new();
        ips.insert(Pnn(0), list(&[("198.51.100.1", 0)], true));
        ips.insert(Pnn(1), list(&[("198.51.100.1", 1)], true));
        let p = plan(&m, &ips, &BTreeSet::new(), &policy(), &mut |_, _| {});
        assert!(p.changed);
        assert_eq!(p.takes.len(), 1);
        assert_eq!(p.releases.len(), 1, "the other claimant must release it");
    }

    #[test]
    fn held_addresses_are_neither_taken_nor_released() {
        // Node 1 is lost holding .2; its lease may still run.
        let m = map(&[0, 0x01, 0]);
        let mut ips = BTreeMap::new();
        ips.insert(Pnn(0), list(&[("198.51.100.1", 0), ("198.51.100.2", 1)], true));
        ips.insert(Pnn(2), list(&[("198.51.100.1", 0), ("198.51.100.2", 1)], true));
        let held: BTreeSet<IpAddr> = [ip("198.51.100.2")].into();
        let p = plan(&m, &ips, &held, &policy(), &mut |_, _| {});
        assert!(!p.changed);
        assert!(p.takes.iter().all(|(_, i)| *i != ip("198.51.100.2")));
        assert!(p.releases.iter().all(|(_, i, _)| *i != ip("198.51.100.2")));
        assert!(p.unhosted.is_empty());
        // Once free, it moves.
        let p = plan(&m, &ips, &BTreeSet::new(), &policy(), &mut |_, _| {});
        assert!(p.changed);
        assert!(p.takes.iter().any(|(o, i)| *i == ip("198.51.100.2") && *o != Pnn(1)));
    }

    #[test]
    fn unhealthy_node_hosts_nothing() {
        let m = map(&[0, 0x02]);
        let mut ips = BTreeMap::new();
        ips.insert(Pnn(0), list(&[("198.51.100.1", 1)], true));
        ips.insert(Pnn(1), list(&[("198.51.100.1", 1)], true));
        let p = plan(&m, &ips, &BTreeSet::new(), &policy(), &mut |_, _| {});
        assert_eq!(p.takes, vec![(Pnn(0), ip("198.51.100.1"))]);
        assert!(p.changed);
    }
}

//! This node's public addresses ("VNNs") and their interfaces: which
//! interface an address goes on, who owns it, and what a TAKEOVER_IP or
//! RELEASE_IP asks of us (reference §8.6). Pure: the kernel's view ("is the
//! address on an interface?") comes in as an argument, the events that add
//! and remove addresses are run by the caller.

use rctdb_config::PublicAddresses;
use rctdb_protocol::{IfaceInfo, Pnn, PublicIpInfo};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One public address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vnn {
    pub ip: IpAddr,
    pub bits: u8,
    /// Configured interfaces, in order.
    pub ifaces: Vec<String>,
    /// The interface it is assigned to (counted in its references).
    pub active: Option<String>,
    /// Who holds it, as far as this node knows.
    pub owner: Pnn,
    /// `delip` on an address we hold: gone after its release.
    pub delete_pending: bool,
    /// A takeip/releaseip/updateip event for it is running.
    pub busy: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub link_up: bool,
    pub references: u32,
}

/// What a TAKEOVER_IP needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakePlan {
    /// Already held on the right interface.
    Redundant,
    /// Run `takeip IFACE IP BITS`.
    TakeIp {
        iface: String,
    },
    /// Run `updateip OLD NEW IP BITS` (`__none__` when it had none).
    UpdateIp {
        old: String,
        new: String,
    },
    /// The kernel has it while another node is recorded as owner.
    BanSelf(String),
    Refuse(String),
}

/// What a RELEASE_IP needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleasePlan {
    /// Not ours (or unknown): just record the new owner.
    Redundant,
    /// Run `releaseip IFACE IP BITS`.
    ReleaseIp {
        iface: String,
    },
    Refuse(String),
}

#[derive(Debug, Clone, Default)]
pub struct PublicIps {
    vnns: BTreeMap<IpAddr, Vnn>,
    ifaces: BTreeMap<String, Iface>,
}

impl PublicIps {
    pub fn from_config(cfg: &PublicAddresses) -> PublicIps {
        let mut p = PublicIps::default();
        for a in &cfg.addrs {
            let _ = p.add(a.net.ip(), a.net.prefix(), &a.ifaces);
        }
        p
    }

    pub fn is_empty(&self) -> bool {
        self.vnns.is_empty()
    }

    pub fn get(&self, ip: IpAddr) -> Option<&Vnn> {
        self.vnns.get(&ip)
    }

    pub fn vnns(&self) -> impl Iterator<Item = &Vnn> {
        self.vnns.values()
    }

    /// Every configured address with its recorded owner, in address order.
    pub fn known(&self) -> Vec<(IpAddr, Pnn)> {
        self.vnns.values().map(|v| (v.ip, v.owner)).collect()
    }

    /// The addresses this node could host now, given whether the node
    /// itself may host (RUNNING, not inactive or disabled).
    pub fn available(&self, node_can_host: bool) -> Vec<IpAddr> {
        if !node_can_host {
            return Vec::new();
        }
        self.vnns.values().filter(|v| !v.delete_pending && self.best_iface(v).is_some()).map(|v| v.ip).collect()
    }

    /// Among the configured interfaces with link up: the current one if it
    /// is up and not more loaded than the best by more than one, else the
    /// one with the fewest references (first wins ties).
    fn best_iface(&self, v: &Vnn) -> Option<String> {
        let up = |n: &String| self.ifaces.get(n).is_some_and(|i| i.link_up);
        let refs = |n: &String| self.ifaces.get(n).map(|i| i.references).unwrap_or(0);
        let mut best: Option<&String> = None;
        for n in v.ifaces.iter().filter(|n| up(n)) {
            // Our own reference to the current interface does not count.
            let r = refs(n) - u32::from(v.active.as_ref() == Some(n) && refs(n) > 0);
            if best.is_none_or(|b| {
                let rb = refs(b) - u32::from(v.active.as_ref() == Some(b) && refs(b) > 0);
                r < rb
            }) {
                best = Some(n);
            }
        }
        best.cloned()
    }

    fn assign(&mut self, ip: IpAddr, iface: &str) {
        self.unassign(ip);
        if let Some(i) = self.ifaces.get_mut(iface) {
            i.references += 1;
        }
        if let Some(v) = self.vnns.get_mut(&ip) {
            v.active = Some(iface.to_string());
        }
    }

    fn unassign(&mut self, ip: IpAddr) {
        let Some(v) = self.vnns.get_mut(&ip) else { return };
        if let Some(old) = v.active.take() {
            if let Some(i) = self.ifaces.get_mut(&old) {
                i.references = i.references.saturating_sub(1);
            }
        }
    }

    /// Plan a TAKEOVER_IP for this node (§8.6.2). `kernel_has` is whether
    /// the address is on a local interface now.
    pub fn plan_take(&self, ip: IpAddr, own: Pnn, kernel_has: bool) -> TakePlan {
        let Some(v) = self.vnns.get(&ip) else { return TakePlan::Redundant };
        if v.busy {
            return TakePlan::Refuse(format!("an update of {ip} is already in flight"));
        }
        let Some(best) = self.best_iface(v) else {
            return TakePlan::Refuse(format!("failed to find a usable interface for {ip}"));
        };
        if kernel_has && v.owner != own && v.owner != Pnn::UNKNOWN {
            return TakePlan::BanSelf(format!("{ip} is on a local interface but node {} holds it", v.owner));
        }
        if !kernel_has {
            return TakePlan::TakeIp { iface: best };
        }
        match &v.active {
            None => TakePlan::UpdateIp { old: "__none__".into(), new: best },
            Some(cur) if *cur != best => {
                let cur_up = self.ifaces.get(cur).is_some_and(|i| i.link_up);
                let refs = |n: &String| self.ifaces.get(n).map(|i| i.references).unwrap_or(0);
                if !cur_up || refs(cur) > refs(&best) + 1 {
                    TakePlan::UpdateIp { old: cur.clone(), new: best }
                } else {
                    TakePlan::Redundant
                }
            }
            Some(_) => TakePlan::Redundant,
        }
    }

    /// Plan a RELEASE_IP (§8.6.3).
    pub fn plan_release(&self, ip: IpAddr, kernel_has: bool) -> ReleasePlan {
        let Some(v) = self.vnns.get(&ip) else { return ReleasePlan::Redundant };
        if !kernel_has {
            return ReleasePlan::Redundant;
        }
        if v.busy {
            return ReleasePlan::Refuse(format!("an update of {ip} is in flight"));
        }
        let iface = v.active.clone().or_else(|| v.ifaces.first().cloned()).unwrap_or_else(|| "__none__".into());
        ReleasePlan::ReleaseIp { iface }
    }

    /// Record that `ip` is being changed by an event now.
    pub fn set_busy(&mut self, ip: IpAddr, busy: bool) {
        if let Some(v) = self.vnns.get_mut(&ip) {
            v.busy = busy;
        }
    }

    /// A takeip or updateip succeeded: we hold it on `iface`.
    pub fn taken(&mut self, ip: IpAddr, own: Pnn, iface: &str) {
        self.assign(ip, iface);
        if let Some(v) = self.vnns.get_mut(&ip) {
            v.owner = own;
        }
    }

    /// It is not on this node (any more): record the new owner. A
    /// delete-pending address disappears here. Returns true if deleted.
    pub fn released(&mut self, ip: IpAddr, new_owner: Pnn) -> bool {
        self.unassign(ip);
        let Some(v) = self.vnns.get_mut(&ip) else { return false };
        v.owner = new_owner;
        if v.delete_pending {
            self.remove(ip);
            return true;
        }
        false
    }

    /// Someone else holds it (a redundant TAKEOVER_IP sent to another node
    /// or a release elsewhere): only the record changes.
    #[cfg(test)]
    pub fn set_owner(&mut self, ip: IpAddr, owner: Pnn) {
        if let Some(v) = self.vnns.get_mut(&ip) {
            v.owner = owner;
        }
    }

    pub fn add(&mut self, ip: IpAddr, bits: u8, ifaces: &[String]) -> Result<(), String> {
        if self.vnns.contains_key(&ip) {
            return Err(format!("Node already knows about IP {ip}"));
        }
        for n in ifaces {
            self.ifaces.entry(n.clone()).or_insert(Iface { link_up: true, references: 0 });
        }
        self.vnns.insert(
            ip,
            Vnn {
                ip,
                bits,
                ifaces: ifaces.to_vec(),
                active: None,
                owner: Pnn::UNKNOWN,
                delete_pending: false,
                busy: false,
            },
        );
        Ok(())
    }

    /// `delip`: gone at once unless we hold it, then after its release.
    /// Returns whether it was deleted now.
    pub fn delete(&mut self, ip: IpAddr, own: Pnn, kernel_has: bool) -> Result<bool, String> {
        let Some(v) = self.vnns.get_mut(&ip) else {
            return Err(format!("Node does not know about IP address {ip}"));
        };
        if kernel_has || v.owner == own {
            v.delete_pending = true;
            return Ok(false);
        }
        self.remove(ip);
        Ok(true)
    }

    fn remove(&mut self, ip: IpAddr) {
        self.unassign(ip);
        self.vnns.remove(&ip);
        // Interfaces that back no address any more go away.
        let used: std::collections::BTreeSet<&String> = self.vnns.values().flat_map(|v| v.ifaces.iter()).collect();
        self.ifaces.retain(|n, _| used.contains(n));
    }

    /// Set an interface's link state; `Ok(true)` if it changed.
    pub fn set_link(&mut self, name: &str, up: bool) -> Result<bool, String> {
        let Some(i) = self.ifaces.get_mut(name) else { return Err(format!("Interface {name} not configured")) };
        let changed = i.link_up != up;
        i.link_up = up;
        Ok(changed)
    }

    pub fn ifaces(&self) -> Vec<IfaceInfo> {
        self.ifaces
            .iter()
            .map(|(n, i)| IfaceInfo { name: n.clone(), link_up: i.link_up, references: i.references })
            .collect()
    }

    pub fn info(&self, ip: IpAddr) -> Option<PublicIpInfo> {
        let v = self.vnns.get(&ip)?;
        let ifaces: Vec<IfaceInfo> = v
            .ifaces
            .iter()
            .map(|n| {
                let i = self.ifaces.get(n).cloned().unwrap_or(Iface { link_up: false, references: 0 });
                IfaceInfo { name: n.clone(), link_up: i.link_up, references: i.references }
            })
            .collect();
        let active = v.active.as_ref().and_then(|a| v.ifaces.iter().position(|n| n == a)).map(|p| p as u32);
        Some(PublicIpInfo { ip, bits: v.bits, owner: v.owner, active, ifaces })
    }

    /// Apply a re-read `public_addresses`: (added, removed-or-pending).
    pub fn reload(
        &mut self,
        cfg: &PublicAddresses,
        own: Pnn,
        kernel_has: &dyn Fn(IpAddr) -> bool,
    ) -> (Vec<IpAddr>, Vec<IpAddr>) {
        let mut added = Vec::new();
        let mut removed = Vec::new();
        let wanted: BTreeMap<IpAddr, _> = cfg.addrs.iter().map(|a| (a.net.ip(), a)).collect();
        let current: Vec<IpAddr> = self.vnns.keys().copied().collect();
        for ip in current {
            if !wanted.contains_key(&ip) {
                let _ = self.delete(ip, own, kernel_has(ip));
                removed.push(ip);
            }
        }
        for (ip, a) in wanted {
            if !self.vnns.contains_key(&ip) && self.add(ip, a.net.prefix(), &a.ifaces).is_ok() {
                added.push(ip);
            }
        }
        (added, removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn ips(text: &str) -> PublicIps {
        PublicIps::from_config(&PublicAddresses::parse(text, Path::new("public_addresses")).expect("valid"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    const OWN: Pnn = Pnn(1);

    #[test]
    fn take_picks_the_least_loaded_interface_with_link() {
        let mut p = ips("198.51.100.1/24 eth0,eth1\n198.51.100.2/24 eth0,eth1\n");
        assert_eq!(p.plan_take(ip("198.51.100.1"), OWN, false), TakePlan::TakeIp { iface: "eth0".into() });
        p.taken(ip("198.51.100.1"), OWN, "eth0");
        assert_eq!(p.plan_take(ip("198.51.100.2"), OWN, false), TakePlan::TakeIp { iface: "eth1".into() });
        p.set_link("eth1", false).unwrap();
        assert_eq!(p.plan_take(ip("198.51.100.2"), OWN, false), TakePlan::TakeIp { iface: "eth0".into() });
        p.set_link("eth0", false).unwrap();
        assert!(matches!(p.plan_take(ip("198.51.100.2"), OWN, false), TakePlan::Refuse(_)));
        assert_eq!(p.available(true), Vec::<IpAddr>::new(), "no link: nothing available");
    }

    #[test]
    fn redundant_take_and_conflict() {
        let mut p = ips("198.51.100.1/24 eth0\n");
        p.taken(ip("198.51.100.1"), OWN, "eth0");
        assert_eq!(p.plan_take(ip("198.51.100.1"), OWN, true), TakePlan::Redundant);
        p.set_owner(ip("198.51.100.1"), Pnn(2));
        assert!(matches!(p.plan_take(ip("198.51.100.1"), OWN, true), TakePlan::BanSelf(_)));
        // Owner unknown but the kernel has it: adopt it with updateip.
        let q = ips("198.51.100.1/24 eth0\n");
        assert_eq!(
            q.plan_take(ip("198.51.100.1"), OWN, true),
            TakePlan::UpdateIp { old: "__none__".into(), new: "eth0".into() }
        );
        // Unknown addresses are no business of ours.
        assert_eq!(q.plan_take(ip("198.51.100.9"), OWN, false), TakePlan::Redundant);
    }

    #[test]
    fn move_off_a_dead_link() {
        let mut p = ips("198.51.100.1/24 eth0,eth1\n");
        p.taken(ip("198.51.100.1"), OWN, "eth0");
        p.set_link("eth0", false).unwrap();
        assert_eq!(
            p.plan_take(ip("198.51.100.1"), OWN, true),
            TakePlan::UpdateIp { old: "eth0".into(), new: "eth1".into() }
        );
    }

    #[test]
    fn release_and_delete() {
        let mut p = ips("198.51.100.1/24 eth0\n198.51.100.2/24 eth0\n");
        assert_eq!(p.plan_release(ip("198.51.100.1"), false), ReleasePlan::Redundant);
        p.taken(ip("198.51.100.1"), OWN, "eth0");
        assert_eq!(p.plan_release(ip("198.51.100.1"), true), ReleasePlan::ReleaseIp { iface: "eth0".into() });
        assert!(!p.released(ip("198.51.100.1"), Pnn(2)));
        assert_eq!(p.get(ip("198.51.100.1")).unwrap().owner, Pnn(2));
        assert_eq!(p.ifaces()[0].references, 0);
        // Held: delete is pending until the release.
        p.taken(ip("198.51.100.2"), OWN, "eth0");
        assert_eq!(p.delete(ip("198.51.100.2"), OWN, true), Ok(false));
        assert!(!p.available(true).contains(&ip("198.51.100.2")));
        assert!(p.released(ip("198.51.100.2"), Pnn::UNKNOWN));
        assert!(p.get(ip("198.51.100.2")).is_none());
        assert_eq!(p.delete(ip("198.51.100.1"), OWN, false), Ok(true));
        assert!(p.ifaces().is_empty(), "an interface backing nothing is dropped");
        assert!(p.delete(ip("198.51.100.1"), OWN, false).is_err());
    }

    #[test]
    fn info_and_known() {
        let mut p = ips("198.51.100.2/24 eth1,eth0\n198.51.100.1/24 eth0\n");
        p.taken(ip("198.51.100.2"), OWN, "eth0");
        let i = p.info(ip("198.51.100.2")).unwrap();
        assert_eq!((i.owner, i.active, i.bits), (OWN, Some(1), 24));
        assert_eq!(p.known(), vec![(ip("198.51.100.1"), Pnn::UNKNOWN), (ip("198.51.100.2"), OWN)]);
        assert!(p.available(false).is_empty());
    }
}

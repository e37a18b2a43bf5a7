//! Public addresses on this node: the controls of a takeover run
//! (TAKEOVER_IP, RELEASE_IP, ...), the events that really add and remove
//! the addresses, and the gratuitous ARPs after a takeover. Decisions are
//! in [`crate::publicips`]; this is the glue to the event loop.

use super::{Daemon, Origin, Waiter, EINVAL, ENOENT};
use crate::publicips::{ReleasePlan, TakePlan};
use log::{error, info, warn};
use rctdb_protocol::{Control, ControlError, Event, EventRun, NodeFlags, Pnn, PublicIpList, ReplyData, RunState};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Rounds of gratuitous ARP after a takeover, and their spacing.
const GARP_ROUNDS: u32 = 3;
const GARP_SPACING: Duration = Duration::from_millis(1100);

/// A gratuitous-ARP burst in progress.
pub(super) struct Garp {
    pub ip: IpAddr,
    pub iface: String,
    /// Connections to tickle in each round.
    pub conns: crate::tickles::Conns,
    pub rounds_left: u32,
    pub next_at: Instant,
}

/// How long a snapshot of the kernel's addresses answers TAKEOVER_IP and
/// RELEASE_IP: the bound on how late those controls see a change made
/// outside rctdbd (an operator, a network restart).
const KERNEL_SNAPSHOT_TTL: Duration = Duration::from_millis(100);

/// "Does the kernel hold this address?" for the controls of a takeover
/// run. Every run sends every node a RELEASE_IP or TAKEOVER_IP for every
/// public address, most of them redundant, and one getifaddrs dump costs
/// about half a millisecond with a few hundred addresses: hundreds of
/// milliseconds per run, before the first address moves. So the dump is
/// shared for [`KERNEL_SNAPSHOT_TTL`]. This node's own IP events are what
/// change its public addresses: an address with an event in flight is
/// busy (the controls do not look at the kernel for it), and the end of
/// every IP event drops the snapshot.
#[derive(Default)]
pub(super) struct KernelAddrs {
    snapshot: Option<(Instant, BTreeSet<IpAddr>)>,
}

impl KernelAddrs {
    /// Is `ip` on a local interface, from a snapshot younger than the TTL
    /// or a fresh one made with `read`?
    pub fn has_with(&mut self, now: Instant, ip: IpAddr, read: impl FnOnce() -> BTreeSet<IpAddr>) -> bool {
        match &self.snapshot {
            Some((at, addrs)) if now.saturating_duration_since(*at) < KERNEL_SNAPSHOT_TTL => addrs.contains(&ip),
            _ => {
                let addrs = read();
                let has = addrs.contains(&ip);
                self.snapshot = Some((now, addrs));
                has
            }
        }
    }

    pub fn has(&mut self, ip: IpAddr) -> bool {
        self.has_with(Instant::now(), ip, rctdb_sys::kernel_addrs)
    }

    /// The kernel's addresses have changed (or may have).
    pub fn invalidate(&mut self) {
        self.snapshot = None;
    }
}

/// What an IP event was for.
pub(super) enum IpJob {
    Take { reply: Option<(Origin, u32)>, ip: IpAddr, iface: String },
    Release { reply: Option<(Origin, u32)>, ip: IpAddr, new_owner: Pnn },
}

fn iface_exists(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && std::path::Path::new("/sys/class/net").join(name).exists()
}

impl Daemon {
    /// May this node host public addresses now?
    pub(super) fn can_host(&self) -> bool {
        self.runstate == RunState::Running
            && !self.nodes.own_flags().intersects(NodeFlags::INACTIVE | NodeFlags::DISABLED)
    }

    /// The public-IP controls. `None` = the reply comes when the event ends.
    pub(super) fn ip_control(
        &mut self,
        control: Control,
        origin: Origin,
        reqid: u32,
    ) -> Option<Result<ReplyData, ControlError>> {
        let own = self.nodes.own();
        let result = match control {
            Control::GetPublicIps => Ok(ReplyData::PublicIps(PublicIpList {
                known: self.publicips.known(),
                available: self.publicips.available(self.can_host()),
            })),
            Control::GetPublicIpInfo(ip) => match self.publicips.info(ip) {
                Some(i) => Ok(ReplyData::PublicIpInfo(i)),
                None => Err(ControlError::new(ENOENT, format!("Node {own} does not know about IP {ip}"))),
            },
            Control::GetIfaces => Ok(ReplyData::Ifaces(self.publicips.ifaces())),
            Control::SetIfaceLink { name, up } => match self.publicips.set_link(&name, up) {
                Ok(changed) => {
                    if changed {
                        let word = |u: bool| if u { "up" } else { "down" };
                        info!("iface[{name}] has changed it's link status {} => {}", word(!up), word(up));
                        self.notify_node_map_changed();
                    }
                    Ok(ReplyData::None)
                }
                Err(e) => Err(ControlError::new(ENOENT, format!("{e} on node {own}"))),
            },
            Control::TakeoverIp { ip, owner } => {
                if owner != own {
                    Err(ControlError::new(EINVAL, format!("TAKEOVER_IP for node {owner} sent to node {own}")))
                } else {
                    self.takeover_contact();
                    return self.take_ip(ip, Some((origin, reqid)));
                }
            }
            Control::ReleaseIp { ip, new_owner } => return self.release_ip(ip, new_owner, Some((origin, reqid))),
            Control::AddPublicIp { ip, bits, ifaces } => {
                if let Some(bad) = ifaces.iter().find(|n| !iface_exists(n)) {
                    Err(ControlError::new(ENOENT, format!("Interface {bad} does not exist on node {own}")))
                } else {
                    match self.publicips.add(ip, bits, &ifaces) {
                        Ok(()) => {
                            info!("Added public IP {ip}/{bits} on {}", ifaces.join(","));
                            self.notify_node_map_changed();
                            Ok(ReplyData::None)
                        }
                        Err(e) => Err(ControlError::new(EINVAL, e)),
                    }
                }
            }
            Control::DelPublicIp(ip) => {
                let has = rctdb_sys::kernel_addrs().contains(&ip);
                match self.publicips.delete(ip, own, has) {
                    Ok(now) => {
                        info!("Deleting public IP {ip}{}", if now { "" } else { " once it is released" });
                        self.notify_node_map_changed();
                        Ok(ReplyData::None)
                    }
                    Err(e) => Err(ControlError::new(ENOENT, e)),
                }
            }
            Control::SendGratArp { ip, iface } => {
                if iface_exists(&iface) {
                    self.start_garp(ip, iface);
                    Ok(ReplyData::None)
                } else {
                    Err(ControlError::new(ENOENT, format!("Interface {iface} does not exist on node {own}")))
                }
            }
            Control::ReloadPublicIps => {
                match rctdb_config::PublicAddresses::load(&self.paths.public_addresses_file()) {
                    Ok(cfg) => {
                        let has = rctdb_sys::kernel_addrs();
                        let (added, removed) = self.publicips.reload(&cfg, own, &|ip| has.contains(&ip));
                        for ip in &added {
                            info!("New IP {ip} configured, adding it");
                        }
                        for ip in &removed {
                            info!("IP {ip} no longer configured, deleting it");
                        }
                        self.notify_node_map_changed();
                        Ok(ReplyData::None)
                    }
                    Err(e) => Err(ControlError::new(EINVAL, e.to_string())),
                }
            }
            Control::IpReallocated | Control::StartIpReallocate => {
                let event =
                    if control == Control::IpReallocated { Event::IpReallocated } else { Event::StartIpReallocate };
                if event == Event::StartIpReallocate && self.runstate != RunState::Running {
                    return Some(Ok(ReplyData::None));
                }
                self.submit_event(event, vec![], None, Waiter::Control { origin, reqid });
                return None;
            }
            other => Err(ControlError::new(EINVAL, format!("{} is not a public IP control", other.name()))),
        };
        Some(result)
    }

    fn take_ip(&mut self, ip: IpAddr, reply: Option<(Origin, u32)>) -> Option<Result<ReplyData, ControlError>> {
        let own = self.nodes.own();
        let has = self.kernel.has(ip);
        let Some(bits) = self.publicips.get(ip).map(|v| v.bits) else {
            return Some(Ok(ReplyData::None));
        };
        match self.publicips.plan_take(ip, own, has) {
            TakePlan::Redundant => {
                if has {
                    if let Some(iface) = self.publicips.get(ip).and_then(|v| v.active.clone()) {
                        self.publicips.taken(ip, own, &iface);
                    }
                }
                Some(Ok(ReplyData::None))
            }
            TakePlan::TakeIp { iface } => {
                let args = vec![iface.clone(), ip.to_string(), bits.to_string()];
                self.ip_event(Event::TakeIp, args, IpJob::Take { reply, ip, iface })
            }
            TakePlan::UpdateIp { old, new } => {
                let args = vec![old, new.clone(), ip.to_string(), bits.to_string()];
                self.ip_event(Event::UpdateIp, args, IpJob::Take { reply, ip, iface: new })
            }
            TakePlan::BanSelf(why) => {
                error!("Takeover of {ip} conflicts with the current owner: {why} - banning ourselves");
                let period = self.tunables.duration(rctdb_config::Tunable::RecoveryBanPeriod).as_secs() as u32;
                self.set_ban(period.max(1));
                Some(Err(ControlError::new(EINVAL, why)))
            }
            TakePlan::Refuse(why) => Some(Err(ControlError::new(EINVAL, why))),
        }
    }

    pub(super) fn release_ip(
        &mut self,
        ip: IpAddr,
        new_owner: Pnn,
        reply: Option<(Origin, u32)>,
    ) -> Option<Result<ReplyData, ControlError>> {
        self.garp.retain(|g| g.ip != ip);
        let has = self.kernel.has(ip);
        let Some(bits) = self.publicips.get(ip).map(|v| v.bits) else {
            return Some(Ok(ReplyData::None));
        };
        match self.publicips.plan_release(ip, has) {
            ReleasePlan::Redundant => {
                self.publicips.released(ip, new_owner);
                Some(Ok(ReplyData::None))
            }
            ReleasePlan::ReleaseIp { iface } => {
                info!("Release of IP {ip}/{bits} on interface {iface}  node:{}", new_owner.0 as i32);
                let args = vec![iface, ip.to_string(), bits.to_string()];
                self.ip_event(Event::ReleaseIp, args, IpJob::Release { reply, ip, new_owner })
            }
            ReleasePlan::Refuse(why) => Some(Err(ControlError::new(EINVAL, why))),
        }
    }

    fn ip_event(&mut self, event: Event, args: Vec<String>, job: IpJob) -> Option<Result<ReplyData, ControlError>> {
        if let Err(e) = self.check_event(event, &args) {
            return Some(Err(e));
        }
        let ip = match &job {
            IpJob::Take { ip, .. } | IpJob::Release { ip, .. } => *ip,
        };
        self.publicips.set_busy(ip, true);
        self.submit_event(event, args, None, Waiter::Ip(job));
        None
    }

    /// An IP event finished (`None` = cancelled).
    pub(super) fn ip_event_done(&mut self, job: IpJob, run: Option<&EventRun>) {
        let own = self.nodes.own();
        self.kernel.invalidate();
        let failure = match run {
            None => Some("cancelled".to_string()),
            Some(r) => r.failure().map(|s| format!("script {} {}", s.name, s.status.word())),
        };
        match job {
            IpJob::Take { reply, ip, iface } => {
                self.publicips.set_busy(ip, false);
                let result = match failure {
                    None => {
                        self.publicips.taken(ip, own, &iface);
                        info!("Took over IP {ip} on {iface}");
                        self.start_garp(ip, iface);
                        Ok(ReplyData::None)
                    }
                    Some(why) => {
                        error!("Failed to take over IP {ip}: {why}");
                        Err(ControlError::new(EINVAL, format!("takeip of {ip} failed: {why}")))
                    }
                };
                if let Some((origin, reqid)) = reply {
                    self.send_reply(origin, reqid, result);
                }
            }
            IpJob::Release { reply, ip, new_owner } => {
                self.publicips.set_busy(ip, false);
                // Whatever the script said, the kernel decides.
                let result = if rctdb_sys::kernel_addrs().contains(&ip) {
                    error!("IP {ip} still hosted during release IP callback, failing");
                    Err(ControlError::new(
                        EINVAL,
                        format!("releaseip of {ip} failed ({})", failure.unwrap_or_else(|| "still hosted".into())),
                    ))
                } else {
                    if let Some(why) = failure {
                        warn!("releaseip of {ip} reported {why}, but the address is gone");
                    }
                    if self.publicips.released(ip, new_owner) {
                        info!("Deleted public IP {ip} after its release");
                    }
                    self.maybe_goodbye();
                    Ok(ReplyData::None)
                };
                if let Some((origin, reqid)) = reply {
                    self.send_reply(origin, reqid, result);
                }
            }
        }
    }

    /// Stop or ban: give up every address we hold.
    pub(super) fn release_all_ips(&mut self) {
        self.kernel.invalidate();
        let has = rctdb_sys::kernel_addrs();
        let held: Vec<IpAddr> = self.publicips.vnns().filter(|v| has.contains(&v.ip)).map(|v| v.ip).collect();
        if !held.is_empty() {
            info!("Releasing {} public IPs", held.len());
        }
        for ip in held {
            if let Some(Err(e)) = self.release_ip(ip, Pnn::UNKNOWN, None) {
                error!("Cannot release {ip}: {e}");
            }
        }
    }

    pub(super) fn start_garp(&mut self, ip: IpAddr, iface: String) {
        self.garp.retain(|g| g.ip != ip);
        let conns = self.tickles.get(&ip).cloned().unwrap_or_default();
        if !conns.is_empty() {
            info!("Sending tickle ACKs for {} connections to {ip}", conns.len());
        }
        self.garp.push(Garp { ip, iface, conns, rounds_left: GARP_ROUNDS, next_at: Instant::now() });
        self.garp_timers(Instant::now());
    }

    pub(super) fn garp_timers(&mut self, now: Instant) {
        for g in self.garp.iter_mut().filter(|g| now >= g.next_at) {
            let sent = match g.ip {
                IpAddr::V4(v4) => rctdb_sys::send_gratuitous_arp(&g.iface, v4),
                IpAddr::V6(v6) => rctdb_sys::send_unsolicited_na(&g.iface, v6),
            };
            if let Err(e) = sent {
                warn!("Failed to send gratuitous ARP for {} on {}: {e}", g.ip, g.iface);
            }
            for (client, server) in &g.conns {
                if let Err(e) = rctdb_sys::send_tickle_ack(*server, *client) {
                    warn!("Failed to send a tickle ACK to {client}: {e}");
                }
            }
            g.rounds_left = g.rounds_left.saturating_sub(1);
            g.next_at = now + GARP_SPACING;
        }
        self.garp.retain(|g| g.rounds_left > 0);
    }

    /// Every second: read our connections to the addresses we hold and
    /// send any list that changed to every other node.
    pub(super) fn tickle_timers(&mut self, now: Instant) {
        if now < self.next_tickle_scan {
            return;
        }
        self.next_tickle_scan = now + Duration::from_secs(1);
        let kernel = rctdb_sys::kernel_addrs();
        let own = self.nodes.own();
        let held: std::collections::BTreeSet<IpAddr> =
            self.publicips.vnns().filter(|v| v.owner == own && kernel.contains(&v.ip)).map(|v| v.ip).collect();
        if held.is_empty() {
            return;
        }
        let mut found = crate::tickles::scan(&held);
        for ip in held {
            let conns = found.remove(&ip).unwrap_or_default();
            if self.tickles.get(&ip) != Some(&conns) {
                let m = rctdb_protocol::Message {
                    srvid: rctdb_protocol::srvid::TICKLE_LIST,
                    src: own,
                    dest: Pnn::BROADCAST_CONNECTED,
                    data: crate::tickles::encode(ip, &conns),
                };
                self.tickles.insert(ip, conns);
                self.route_message(m);
            }
        }
    }

    /// A peer's tickle list: kept unless we hold the address ourselves.
    pub(super) fn on_tickle_list(&mut self, m: &rctdb_protocol::Message) {
        let Some((ip, conns)) = crate::tickles::decode(&m.data) else {
            warn!("Malformed tickle list from node {}", m.src);
            return;
        };
        if m.src == self.nodes.own() || self.publicips.get(ip).is_some_and(|v| v.owner == self.nodes.own()) {
            return;
        }
        self.tickles.insert(ip, conns);
    }

    pub(super) fn garp_deadline(&self) -> Option<Instant> {
        self.garp.iter().map(|g| g.next_at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_snapshot_is_shared_for_the_ttl_and_dropped_on_demand() {
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        let b: IpAddr = "198.51.100.2".parse().unwrap();
        let t0 = Instant::now();
        let mut reads = 0;
        let mut k = KernelAddrs::default();
        let mut read = |set: &[IpAddr]| {
            reads += 1;
            set.iter().copied().collect::<BTreeSet<IpAddr>>()
        };
        assert!(k.has_with(t0, a, || read(&[a])));
        // Within the TTL: the same snapshot, whatever the kernel says now.
        assert!(!k.has_with(t0 + Duration::from_millis(99), b, || read(&[a, b])));
        assert!(k.has_with(t0 + Duration::from_millis(99), a, || read(&[])));
        // After it: read again.
        assert!(k.has_with(t0 + KERNEL_SNAPSHOT_TTL, b, || read(&[a, b])));
        // Dropped (an IP event ended): read again at once.
        k.invalidate();
        assert!(!k.has_with(t0 + KERNEL_SNAPSHOT_TTL, a, || read(&[b])));
        assert_eq!(reads, 3);
    }
}

//! Split-brain safety on this node: our lease from the leader (and the
//! grants we give while our recovery daemon leads), the goodbye of a clean
//! shutdown, and the state `rctdb status` shows (addresses the leader holds
//! back, why the recovery daemon sees no leader). Decisions are in
//! [`crate::lease`]; this is the glue to the event loop.

use super::Daemon;
use log::{error, info, warn};
use rctdb_protocol::{srvid, ControlError, Message, PeerLease, Pnn, ReplyData, RunState, Safety};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// What the leader and our recovery daemon told us, for `status`.
#[derive(Default)]
pub(super) struct Reported {
    pub held_back: Vec<rctdb_protocol::HeldBack>,
    pub held_back_at: Option<Instant>,
    pub stuck: Option<String>,
    /// Why we released our addresses by ourselves, while that lasts.
    pub released: Option<String>,
}

fn pnn_of(b: &[u8]) -> Option<Pnn> {
    Some(Pnn(u32::from_le_bytes(b.get(0..4)?.try_into().ok()?)))
}

impl Daemon {
    /// A local client sent a leader broadcast naming us: our recovery
    /// daemon leads, we may grant leases for a while.
    pub(super) fn on_leader_claim(&mut self, token: mio::Token, m: &Message) {
        if m.srvid == srvid::LEADER && pnn_of(&m.data) == Some(self.nodes.own()) {
            let valid = rctdb_lease::claim_validity(self.leader_timeout);
            self.grantor.claim(Instant::now(), valid);
            self.claim_client = Some(token);
        }
    }

    /// The client that claimed leadership is gone: stop granting at once.
    pub(super) fn on_client_closed(&mut self, token: mio::Token) {
        if self.claim_client == Some(token) {
            self.claim_client = None;
            self.grantor.drop_claim();
        }
    }

    /// Messages for rctdbd itself; true if consumed.
    pub(super) fn on_safety_message(&mut self, m: &Message) -> bool {
        let own = self.nodes.own();
        match m.srvid {
            srvid::LEASE_REQUEST => {
                let (Some(pnn), Some(seq)) =
                    (pnn_of(&m.data), m.data.get(4..12).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes))
                else {
                    warn!("Malformed lease request from node {}", m.src);
                    return true;
                };
                if self.grantor.grant(pnn, Instant::now()) {
                    let grant =
                        Message { srvid: srvid::LEASE_GRANT, src: own, dest: pnn, data: seq.to_le_bytes().to_vec() };
                    self.route_message(grant);
                }
                true
            }
            srvid::LEASE_GRANT => {
                match m.data.as_slice().try_into().map(u64::from_le_bytes) {
                    Ok(seq) => {
                        if self.lease.granted(seq) && self.reported.released.take().is_some() {
                            info!("Lease from the leader (node {}) renewed", m.src);
                        }
                    }
                    Err(_) => warn!("Malformed lease grant from node {}", m.src),
                }
                true
            }
            srvid::GOODBYE => {
                if let Some(pnn) = pnn_of(&m.data).filter(|p| *p == m.src && *p != own) {
                    info!("Node {pnn} is shutting down cleanly and holds no public address");
                    if let Some(p) = self.peers.get_mut(&pnn) {
                        p.goodbye = true;
                    }
                    self.notify_node_map_changed();
                }
                true
            }
            srvid::HELD_BACK => {
                match rctdb_protocol::decode_held_back(&m.data) {
                    Some(list) => {
                        self.reported.held_back = list;
                        self.reported.held_back_at = Some(Instant::now());
                    }
                    None => warn!("Malformed held-back list from node {}", m.src),
                }
                true
            }
            srvid::STUCK => {
                if m.src == own {
                    let text = String::from_utf8_lossy(&m.data).into_owned();
                    self.reported.stuck = if text.is_empty() { None } else { Some(text) };
                }
                true
            }
            _ => false,
        }
    }

    /// A TAKEOVER_IP from the leader: it counts as contact (and, on the
    /// leader's node, as a grant).
    pub(super) fn takeover_contact(&mut self) {
        self.lease.takeover_received(Instant::now());
        self.reported.released = None;
    }

    /// The leader's rctdbd forwards a TAKEOVER_IP to `pnn`: record it as
    /// a grant from now (the node counts from its arrival, a little later;
    /// the leader's margin covers that).
    pub(super) fn takeover_forwarded(&mut self, pnn: Pnn) {
        self.grantor.grant(pnn, Instant::now());
    }

    /// Lease timers: ask for renewal, give up addresses when it runs out.
    pub(super) fn lease_timers(&mut self, now: Instant) {
        let own = self.nodes.own();
        if let Some(seq) = self.lease.request_due(now) {
            let mut data = own.0.to_le_bytes().to_vec();
            data.extend_from_slice(&seq.to_le_bytes());
            let m = Message { srvid: srvid::LEASE_REQUEST, src: own, dest: Pnn::BROADCAST_CONNECTED, data };
            self.route_message(m);
        }
        if !self.lease.must_release(now) {
            return;
        }
        // The 100 ms snapshot: this runs at every turn of the loop while the
        // node has no lease, and the margins are far larger.
        let ips: Vec<IpAddr> = self.publicips.vnns().map(|v| v.ip).collect();
        let held: Vec<IpAddr> = ips.into_iter().filter(|ip| self.kernel.has(*ip)).collect();
        if held.is_empty() {
            return;
        }
        if self.reported.released.is_none() {
            let why = match self.leader_heard_ago() {
                Some(ago) => format!("lease expired: no contact with the leader for {:.1}s", ago.as_secs_f64()),
                None => "lease expired: no leader".to_string(),
            };
            error!("{}: releasing all public addresses", capitalise(&why));
            self.reported.released = Some(why);
            self.release_all_ips();
        }
        if self.lease.expired(now) {
            self.kernel.invalidate();
            // The release through the event scripts did not finish in
            // time: take the addresses off the interfaces directly.
            for ip in held {
                let Some(v) = self.publicips.get(ip) else { continue };
                let (bits, iface) = (v.bits, v.active.clone());
                match rctdb_sys::remove_addr(ip, bits, iface.as_deref()) {
                    Ok(()) => warn!("Lease expired: removed {ip} from its interface directly"),
                    Err(e) => error!("Lease expired: cannot remove {ip}: {e}"),
                }
            }
        }
    }

    fn leader_heard_ago(&self) -> Option<Duration> {
        self.leader.is_node().then(|| self.leader_heard.elapsed())
    }

    pub(super) fn lease_deadline(&self, now: Instant) -> Instant {
        self.lease.poll_timeout(now)
    }

    /// Shutting down: once no public address is left on an interface, say
    /// goodbye so that nobody fences us or waits for our lease.
    pub(super) fn maybe_goodbye(&mut self) {
        if self.runstate != RunState::Shutdown || self.goodbye_sent {
            return;
        }
        let kernel = rctdb_sys::kernel_addrs();
        if self.publicips.vnns().any(|v| kernel.contains(&v.ip)) {
            return;
        }
        let own = self.nodes.own();
        self.goodbye_sent = true;
        let m = Message {
            srvid: srvid::GOODBYE,
            src: own,
            dest: Pnn::BROADCAST_CONNECTED,
            data: own.0.to_le_bytes().to_vec(),
        };
        self.route_message(m);
    }

    pub(super) fn safety(&self) -> Result<ReplyData, ControlError> {
        let now = Instant::now();
        // The leader repeats its list; an old one is stale.
        let fresh = self.reported.held_back_at.is_some_and(|t| now.duration_since(t) < self.leader_timeout * 2);
        Ok(ReplyData::Safety(Safety {
            lease_left_ms: self.lease.left(now).map(|d| d.as_millis() as u64),
            released: self.reported.released.clone(),
            held_back: if fresh { self.reported.held_back.clone() } else { Vec::new() },
            stuck: self.reported.stuck.clone(),
        }))
    }

    pub(super) fn leases(&self) -> Result<ReplyData, ControlError> {
        let now = Instant::now();
        let mut list: Vec<PeerLease> = self
            .peers
            .iter()
            .map(|(pnn, p)| PeerLease {
                pnn: *pnn,
                granted_ms_ago: self.grantor.granted_ago(*pnn, now).map(|d| d.as_millis() as u64),
                refused: p.refused,
                goodbye: p.goodbye,
            })
            .collect();
        list.sort_by_key(|l| l.pnn);
        Ok(ReplyData::Leases(list))
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

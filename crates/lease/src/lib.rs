//! Address leases and the hold-back rule, pure (no sockets, no clock of
//! its own): what a node may keep, and when the leader may give a lost
//! node's addresses to another.
//!
//! A node may keep public addresses only while it holds a lease from the
//! leader. The node asks every connected node for one every `lease / 8`;
//! only the node whose recovery daemon leads grants it. A grant names the
//! request it answers, and the lease runs from the moment the node *sent*
//! that request: the leader received the request later than that, so the
//! leader's "last grant + lease" is never earlier than the node's own
//! expiry. The node starts releasing when a quarter of the lease is left;
//! the leader takes the addresses of an unreachable node only after
//! `last grant + lease + lease / 2` (see `docs/fencing.md` for the whole
//! arithmetic, including leader changes).

use rctdb_protocol::Pnn;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Requests remembered for matching grants; older grants are ignored.
const REMEMBERED: usize = 64;

/// The node side: our own lease.
#[derive(Debug)]
pub struct Lease {
    lease_time: Duration,
    sent: VecDeque<(u64, Instant)>,
    next_seq: u64,
    valid_until: Option<Instant>,
    next_request: Instant,
}

impl Lease {
    pub fn new(lease_time: Duration, now: Instant) -> Lease {
        Lease { lease_time, sent: VecDeque::new(), next_seq: 1, valid_until: None, next_request: now }
    }

    fn interval(&self) -> Duration {
        (self.lease_time / 8).max(Duration::from_millis(10))
    }

    /// A request is due: returns its sequence number and remembers when
    /// it was sent.
    pub fn request_due(&mut self, now: Instant) -> Option<u64> {
        if now < self.next_request {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.sent.push_back((seq, now));
        if self.sent.len() > REMEMBERED {
            self.sent.pop_front();
        }
        self.next_request = now + self.interval();
        Some(seq)
    }

    /// A grant for request `seq` arrived. False if it matches no request
    /// we remember (late, duplicated or forged).
    pub fn granted(&mut self, seq: u64) -> bool {
        let Some(&(_, sent)) = self.sent.iter().find(|(s, _)| *s == seq) else {
            return false;
        };
        self.extend(sent + self.lease_time);
        true
    }

    /// The leader sent us an address to take: that counts as contact,
    /// from the moment it arrived (the leader counts from when it sent
    /// it; the margin covers the transit).
    pub fn takeover_received(&mut self, now: Instant) {
        self.extend(now + self.lease_time);
    }

    fn extend(&mut self, until: Instant) {
        if self.valid_until.is_none_or(|v| until > v) {
            self.valid_until = Some(until);
        }
    }

    /// Time left on the lease, `None` if there is none.
    pub fn left(&self, now: Instant) -> Option<Duration> {
        self.valid_until.filter(|v| *v > now).map(|v| v - now)
    }

    /// Must the node give up its addresses now? From the moment a
    /// quarter of the lease is left (or there is no lease), so that the
    /// release is over before the lease runs out.
    pub fn must_release(&self, now: Instant) -> bool {
        match self.valid_until {
            None => true,
            Some(v) => now + self.lease_time / 4 >= v,
        }
    }

    /// Has the lease run out completely (last resort: remove addresses
    /// from the kernel directly)?
    pub fn expired(&self, now: Instant) -> bool {
        self.valid_until.is_none_or(|v| now >= v)
    }

    /// When the event loop must look at us next.
    pub fn poll_timeout(&self, now: Instant) -> Instant {
        let mut t = self.next_request;
        if let Some(v) = self.valid_until {
            let release = v.checked_sub(self.lease_time / 4).unwrap_or(v);
            for d in [release, v] {
                if d > now {
                    t = t.min(d);
                }
            }
        }
        t
    }
}

/// The leader side: who we granted leases to, and whether we may.
#[derive(Debug, Default)]
pub struct Grantor {
    claim_until: Option<Instant>,
    last_grant: HashMap<Pnn, Instant>,
}

impl Grantor {
    /// Our recovery daemon announced that it leads; the claim lasts
    /// `valid` unless renewed (it is renewed with every broadcast).
    pub fn claim(&mut self, now: Instant, valid: Duration) {
        self.claim_until = Some(now + valid);
    }

    /// Our recovery daemon went away or stepped down.
    pub fn drop_claim(&mut self) {
        self.claim_until = None;
    }

    pub fn may_grant(&self, now: Instant) -> bool {
        self.claim_until.is_some_and(|t| now < t)
    }

    /// A request from `pnn` arrived now: grant it if we may.
    pub fn grant(&mut self, pnn: Pnn, now: Instant) -> bool {
        if !self.may_grant(now) {
            return false;
        }
        self.last_grant.insert(pnn, now);
        true
    }

    pub fn granted_ago(&self, pnn: Pnn, now: Instant) -> Option<Duration> {
        self.last_grant.get(&pnn).map(|t| now.saturating_duration_since(*t))
    }
}

/// How often the leader's recovery daemon broadcasts: four times per
/// leader timeout (so one lost broadcast never starts an election),
/// between 20 ms and 1 s.
pub fn broadcast_interval(leader_timeout: Duration) -> Duration {
    (leader_timeout / 4).clamp(Duration::from_millis(20), Duration::from_secs(1))
}

/// How long a leader claim stays valid without renewal: three broadcast
/// intervals.
pub fn claim_validity(leader_timeout: Duration) -> Duration {
    broadcast_interval(leader_timeout) * 3
}

/// What the leader knows about a node that is no longer connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    /// How long ago our rctdbd last granted it a lease.
    pub granted_ago: Option<Duration>,
    /// Its host refused a connection since: rctdbd is not running there
    /// (and its recovery daemon removed the addresses).
    pub refused: bool,
    /// It shut down cleanly, holding nothing.
    pub goodbye: bool,
}

/// The timing inputs of the lease rule.
#[derive(Debug, Clone, Copy)]
pub struct LeaseRule {
    pub lease_time: Duration,
    /// How long a former leader's rctdbd may go on granting after its
    /// recovery daemon stopped claiming the lead.
    pub claim_validity: Duration,
    /// When this recovery daemon became leader.
    pub leader_since: Instant,
}

impl LeaseRule {
    /// Safety margin on top of the lease: clock-rate drift, transit of a
    /// TAKEOVER_IP, scheduling delays.
    pub fn margin(&self) -> Duration {
        self.lease_time / 2
    }
}

/// May the lost node's addresses be assigned elsewhere?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Free,
    /// Not until the fence command has succeeded for it.
    Fence,
    /// Not before this instant: its lease has surely expired then.
    Lease(Instant),
}

/// The hold-back rule (see `docs/fencing.md`).
///
/// * A clean goodbye, or a successful fence: free.
/// * A fence command is configured: fence first, whatever else we know.
/// * No fence command, and the node's host refused a connection: free
///   (rctdbd is gone there and its recovery daemon removed the addresses).
/// * Otherwise wait until its lease has surely expired: it was granted at
///   the latest at our last grant, or, for grants by a former leader, no
///   later than `claim_validity` after we took the lead.
pub fn decide(lost: Lost, fence_configured: bool, fenced: bool, rule: &LeaseRule, now: Instant) -> Decision {
    if lost.goodbye || fenced {
        return Decision::Free;
    }
    if fence_configured {
        return Decision::Fence;
    }
    if lost.refused {
        return Decision::Free;
    }
    let former = rule.leader_since + rule.claim_validity;
    let ours = lost.granted_ago.and_then(|ago| now.checked_sub(ago));
    let last = ours.map_or(former, |g| g.max(former));
    let until = last + rule.lease_time + rule.margin();
    if now >= until {
        Decision::Free
    } else {
        Decision::Lease(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const L: Duration = Duration::from_millis(800);

    #[test]
    fn no_lease_means_release() {
        let t0 = Instant::now();
        let l = Lease::new(L, t0);
        assert!(l.must_release(t0));
        assert!(l.expired(t0));
        assert_eq!(l.left(t0), None);
    }

    #[test]
    fn lease_counts_from_the_request_not_the_grant() {
        let t0 = Instant::now();
        let mut l = Lease::new(L, t0);
        let seq = l.request_due(t0).unwrap();
        // The grant arrives late: the lease still ends at t0 + L.
        assert!(l.granted(seq));
        let late = t0 + Duration::from_millis(300);
        assert_eq!(l.left(late), Some(L - Duration::from_millis(300)));
        assert!(!l.must_release(t0 + L - L / 4 - Duration::from_millis(1)));
        assert!(l.must_release(t0 + L - L / 4));
        assert!(!l.expired(t0 + L - Duration::from_millis(1)));
        assert!(l.expired(t0 + L));
    }

    #[test]
    fn unknown_and_stale_grants_do_not_extend() {
        let t0 = Instant::now();
        let mut l = Lease::new(L, t0);
        assert!(!l.granted(42));
        let first = l.request_due(t0).unwrap();
        let mut t = t0;
        for _ in 0..REMEMBERED {
            t += L;
            l.request_due(t).unwrap();
        }
        assert!(!l.granted(first), "a request we no longer remember cannot be granted");
        // An older grant never shortens a newer one.
        let newest = l.request_due(t + L).unwrap();
        assert!(l.granted(newest));
        let before = l.left(t + L);
        let older = newest - 1;
        assert!(l.granted(older));
        assert_eq!(l.left(t + L), before);
    }

    #[test]
    fn requests_come_every_eighth_of_the_lease() {
        let t0 = Instant::now();
        let mut l = Lease::new(L, t0);
        assert!(l.request_due(t0).is_some());
        assert!(l.request_due(t0 + L / 16).is_none());
        assert!(l.request_due(t0 + L / 8).is_some());
        assert!(l.poll_timeout(t0 + L / 8) <= t0 + L / 4);
    }

    #[test]
    fn grantor_needs_a_fresh_claim() {
        let t0 = Instant::now();
        let mut g = Grantor::default();
        assert!(!g.grant(Pnn(1), t0));
        g.claim(t0, Duration::from_millis(300));
        assert!(g.grant(Pnn(1), t0 + Duration::from_millis(100)));
        assert_eq!(g.granted_ago(Pnn(1), t0 + Duration::from_millis(150)), Some(Duration::from_millis(50)));
        assert!(!g.grant(Pnn(2), t0 + Duration::from_millis(300)));
        g.claim(t0 + Duration::from_millis(400), Duration::from_millis(300));
        g.drop_claim();
        assert!(!g.grant(Pnn(2), t0 + Duration::from_millis(401)));
        assert_eq!(g.granted_ago(Pnn(2), t0), None);
    }

    proptest! {
        /// Whatever the delays and losses, the node's lease never outlives
        /// the bound the leader uses: last grant (receipt of the request)
        /// + lease.
        #[test]
        fn node_expiry_never_exceeds_the_leaders_bound(
            steps in proptest::collection::vec((0u64..200, 0u64..300, any::<bool>()), 1..60),
        ) {
            let t0 = Instant::now();
            let mut l = Lease::new(L, t0);
            let mut g = Grantor::default();
            let mut now = t0;
            let mut in_flight: Vec<(Instant, u64)> = Vec::new();
            for (advance, delay, lost) in steps {
                now += Duration::from_millis(advance);
                // Deliver what is due: the leader grants at receipt.
                let (due, later): (Vec<_>, Vec<_>) = in_flight.into_iter().partition(|(at, _)| *at <= now);
                in_flight = later;
                for (at, seq) in due {
                    g.claim(at, Duration::from_secs(3600));
                    if g.grant(Pnn(1), at) {
                        l.granted(seq);
                    }
                }
                if let Some(seq) = l.request_due(now) {
                    if !lost {
                        in_flight.push((now + Duration::from_millis(delay), seq));
                    }
                }
                if let Some(left) = l.left(now) {
                    let ago = g.granted_ago(Pnn(1), now).expect("a lease implies a grant");
                    // node expiry = now + left <= last grant + L
                    prop_assert!(left + ago <= L);
                }
            }
        }
    }
}

#[cfg(test)]
mod decide_tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn rule(t0: Instant) -> LeaseRule {
        LeaseRule { lease_time: Duration::from_secs(10), claim_validity: Duration::from_secs(3), leader_since: t0 }
    }

    fn lost(ago: Option<u64>) -> Lost {
        Lost { granted_ago: ago.map(Duration::from_secs), refused: false, goodbye: false }
    }

    #[test]
    fn goodbye_and_fenced_nodes_are_free() {
        let t0 = Instant::now();
        let bye = Lost { goodbye: true, ..lost(Some(1)) };
        assert_eq!(decide(bye, true, false, &rule(t0), t0), Decision::Free);
        assert_eq!(decide(lost(Some(1)), true, true, &rule(t0), t0), Decision::Free);
    }

    #[test]
    fn a_fence_command_is_always_awaited() {
        let t0 = Instant::now();
        let refused = Lost { refused: true, ..lost(None) };
        assert_eq!(decide(refused, true, false, &rule(t0), t0 + Duration::from_secs(3600)), Decision::Fence);
    }

    #[test]
    fn without_fence_a_refusing_host_is_free() {
        let t0 = Instant::now();
        let refused = Lost { refused: true, ..lost(Some(0)) };
        assert_eq!(decide(refused, false, false, &rule(t0), t0), Decision::Free);
    }

    #[test]
    fn lease_bound_counts_from_our_last_grant() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(100);
        // Granted 2 s ago: free at now - 2 + 10 + 5.
        assert_eq!(decide(lost(Some(2)), false, false, &rule(t0), now), Decision::Lease(now + Duration::from_secs(13)));
        assert_eq!(decide(lost(Some(15)), false, false, &rule(t0), now), Decision::Free);
    }

    #[test]
    fn a_new_leader_waits_for_grants_of_the_old_one() {
        let t0 = Instant::now();
        // We never granted it anything and became leader 1 s ago: a former
        // leader may have granted until t0 + 3 s.
        let now = t0 + Duration::from_secs(1);
        assert_eq!(decide(lost(None), false, false, &rule(t0), now), Decision::Lease(t0 + Duration::from_secs(18)));
        // Our own old grant does not shorten that.
        assert_eq!(decide(lost(Some(1)), false, false, &rule(t0), now), Decision::Lease(t0 + Duration::from_secs(18)));
    }
}

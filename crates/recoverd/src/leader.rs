//! Leader election (reference §7.3), as a state machine with time as an
//! input and a list of actions out. No I/O, no clock.
//!
//! With a cluster lock, leadership *is* the lock: a node becomes leader
//! only when its lock helper reports the lock held, and stops being leader
//! the moment the lock is lost, released, or its own rctdbd stops
//! answering. Without a lock, CTDB's message election: every eligible node
//! bids; the longest-running one (earliest `priority_time`, ties to the
//! higher PNN) wins when the election period ends.
//!
//! The leader broadcasts `LEADER{own pnn}` every [`Leadership::broadcast_interval`];
//! a node that hears nothing for `leader timeout` starts an election.
//!
//! Invariant (property-tested in `sim.rs` over random schedules): in lock
//! mode, `is_leader()` implies the lock is held by this node.

use rctdb_protocol::Pnn;
use std::time::{Duration, Instant};

/// What the lock helper said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOutcome {
    Held,
    Contended,
    /// No answer within the helper timeout (the helper was killed).
    Timeout,
    Error,
}

/// A bid in a message election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bid {
    pub pnn: Pnn,
    /// Microseconds since the epoch at which the bidder's recovery daemon
    /// started (reset to "now" while the node is inactive).
    pub priority_time_us: u64,
    /// The bidder may not lead (inactive or without leader capability).
    pub ineligible: bool,
}

impl Bid {
    /// Wire form: pnn u32, priority u64, ineligible u8 (little endian).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.pnn.0.to_le_bytes().to_vec();
        v.extend_from_slice(&self.priority_time_us.to_le_bytes());
        v.push(self.ineligible as u8);
        v
    }
    pub fn decode(b: &[u8]) -> Option<Bid> {
        if b.len() != 13 {
            return None;
        }
        Some(Bid {
            pnn: Pnn(u32::from_le_bytes(b[0..4].try_into().ok()?)),
            priority_time_us: u64::from_le_bytes(b[4..12].try_into().ok()?),
            ineligible: b[12] != 0,
        })
    }
    /// Would `self` win against `other`?
    pub fn beats(&self, other: &Bid) -> bool {
        if self.ineligible {
            return false;
        }
        if other.ineligible {
            return true;
        }
        (self.priority_time_us, std::cmp::Reverse(self.pnn)) < (other.priority_time_us, std::cmp::Reverse(other.pnn))
    }
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Broadcast `LEADER{pnn}` to every connected node (`UNKNOWN` = an
    /// election is starting).
    BroadcastLeader(Pnn),
    /// Broadcast our bid (message election).
    BroadcastBid(Bid),
    /// Start the lock helper.
    TakeLock,
    /// Stop the lock helper (SIGTERM), giving up the lock.
    ReleaseLock,
    /// We are now the leader: run a recovery.
    BecameLeader,
    /// We were leader and are not any more.
    LostLeadership,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockState {
    Released,
    Taking,
    Held,
}

#[derive(Debug, Clone)]
pub struct Leadership {
    own: Pnn,
    use_lock: bool,
    leader_timeout: Duration,
    election_timeout: Duration,
    leader: Pnn,
    lock: LockState,
    /// Without a broadcast by then, start an election.
    watchdog: Instant,
    next_broadcast: Option<Instant>,
    /// Message election: open until this instant.
    election_ends: Option<Instant>,
    eligible: bool,
    daemon_ok: bool,
    priority_time_us: u64,
    /// Wait before the next lock attempt after a contended one.
    retry_backoff: Duration,
}

/// First retry after a contended lock attempt with no leader known.
const FIRST_RETRY: Duration = Duration::from_millis(50);

impl Leadership {
    /// A fresh recovery daemon: no leader known. The first election
    /// starts after `first_wait` unless a leader broadcast arrives.
    pub fn new(
        own: Pnn,
        use_lock: bool,
        leader_timeout: Duration,
        election_timeout: Duration,
        now: Instant,
        first_wait: Duration,
        priority_time_us: u64,
    ) -> Leadership {
        Leadership {
            own,
            use_lock,
            leader_timeout,
            election_timeout,
            leader: Pnn::UNKNOWN,
            lock: LockState::Released,
            watchdog: now + first_wait,
            next_broadcast: None,
            election_ends: None,
            eligible: true,
            daemon_ok: true,
            priority_time_us,
            retry_backoff: FIRST_RETRY,
        }
    }

    /// The leader as far as this node knows.
    pub fn leader(&self) -> Pnn {
        self.leader
    }

    pub fn is_leader(&self) -> bool {
        self.leader == self.own
    }

    /// In lock mode: does this node hold the lock?
    pub fn holds_lock(&self) -> bool {
        self.lock == LockState::Held
    }

    pub fn election_in_progress(&self) -> bool {
        self.election_ends.is_some() || self.lock == LockState::Taking
    }

    /// Broadcasts go out this often: at most every second, and at least
    /// four times per leader timeout so one lost broadcast never triggers
    /// an election.
    pub fn broadcast_interval(&self) -> Duration {
        rctdb_lease::broadcast_interval(self.leader_timeout)
    }

    pub fn set_timeouts(&mut self, leader_timeout: Duration, election_timeout: Duration) {
        self.leader_timeout = leader_timeout;
        self.election_timeout = election_timeout;
    }

    /// Next instant at which [`Leadership::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Instant {
        let mut t = self.watchdog;
        if let Some(b) = self.next_broadcast {
            t = t.min(b);
        }
        if let Some(e) = self.election_ends {
            t = t.min(e);
        }
        t
    }

    fn my_bid(&self) -> Bid {
        Bid { pnn: self.own, priority_time_us: self.priority_time_us, ineligible: !self.eligible || !self.daemon_ok }
    }

    fn can_lead(&self) -> bool {
        self.eligible && self.daemon_ok
    }

    fn step_down(&mut self, out: &mut Vec<Action>) {
        if self.lock != LockState::Released {
            self.lock = LockState::Released;
            out.push(Action::ReleaseLock);
        }
        if self.leader == self.own {
            self.leader = Pnn::UNKNOWN;
            self.next_broadcast = None;
            out.push(Action::LostLeadership);
        }
    }

    fn become_leader(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.retry_backoff = FIRST_RETRY;
        self.leader = self.own;
        self.election_ends = None;
        self.next_broadcast = Some(now + self.broadcast_interval());
        out.push(Action::BroadcastLeader(self.own));
        out.push(Action::BecameLeader);
    }

    fn force_election(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.watchdog = now + self.leader_timeout;
        if self.use_lock {
            if self.lock == LockState::Held {
                // Holding the lock is being the leader.
                if self.leader != self.own {
                    self.become_leader(now, out);
                }
                return;
            }
            self.leader = Pnn::UNKNOWN;
            out.push(Action::BroadcastLeader(Pnn::UNKNOWN));
            if self.can_lead() && self.lock == LockState::Released {
                self.lock = LockState::Taking;
                out.push(Action::TakeLock);
            }
        } else {
            out.push(Action::BroadcastLeader(Pnn::UNKNOWN));
            self.election_ends = Some(now + self.election_timeout);
            if self.can_lead() {
                self.leader = self.own;
                out.push(Action::BroadcastBid(self.my_bid()));
            } else {
                self.leader = Pnn::UNKNOWN;
            }
        }
    }

    /// Timers: broadcasts, the leader watchdog, the end of an election.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(end) = self.election_ends {
            if now >= end {
                self.election_ends = None;
                if self.leader == self.own && self.can_lead() {
                    self.become_leader(now, &mut out);
                } else {
                    if self.leader == self.own {
                        self.leader = Pnn::UNKNOWN;
                    }
                    self.watchdog = now + self.leader_timeout;
                }
            }
        }
        if let Some(b) = self.next_broadcast {
            if now >= b && self.is_leader() {
                out.push(Action::BroadcastLeader(self.own));
                self.next_broadcast = Some(now + self.broadcast_interval());
            }
        }
        if now >= self.watchdog {
            if self.is_leader() {
                // Our own broadcasts keep us going.
                self.watchdog = now + self.leader_timeout;
            } else if self.election_ends.is_none() {
                self.force_election(now, &mut out);
            } else {
                self.watchdog = now + self.leader_timeout;
            }
        }
        out
    }

    /// A `LEADER{pnn}` broadcast arrived (possibly our own, relayed).
    pub fn on_leader_broadcast(&mut self, now: Instant, pnn: Pnn) -> Vec<Action> {
        let mut out = Vec::new();
        if pnn == self.own {
            return out;
        }
        if pnn == Pnn::UNKNOWN {
            // Someone starts an election. With a lock, race for it now.
            self.watchdog = now + self.leader_timeout;
            if self.use_lock && self.lock == LockState::Released && self.can_lead() {
                if self.leader != self.own {
                    self.leader = Pnn::UNKNOWN;
                }
                self.lock = LockState::Taking;
                out.push(Action::TakeLock);
            }
            return out;
        }
        if self.use_lock && self.lock == LockState::Held {
            // We hold the lock, so we are the leader; the other node will
            // find out that it cannot have it.
            return out;
        }
        if self.is_leader() && !self.use_lock {
            // Two leaders after a partition or lost bids: settle it with
            // a fresh election instead of both stepping down.
            self.next_broadcast = None;
            out.push(Action::LostLeadership);
            self.force_election(now, &mut out);
            return out;
        }
        if self.is_leader() {
            self.step_down(&mut out);
        }
        self.leader = pnn;
        self.election_ends = None;
        self.watchdog = now + self.leader_timeout;
        self.retry_backoff = FIRST_RETRY;
        out
    }

    /// A message-election bid arrived.
    pub fn on_bid(&mut self, now: Instant, bid: Bid) -> Vec<Action> {
        let mut out = Vec::new();
        if self.use_lock || bid.pnn == self.own {
            return out;
        }
        self.election_ends = Some(now + self.election_timeout);
        self.watchdog = now + self.leader_timeout;
        let mine = self.my_bid();
        if mine.beats(&bid) {
            // Answer every weaker bid: the bidder may not have heard ours.
            // Only stronger nodes answer, so this settles.
            self.leader = self.own;
            out.push(Action::BroadcastBid(mine));
        } else {
            // A tentative bid of our own is not leadership; only a leader
            // that was announced (broadcasting) loses it.
            if self.is_leader() && self.next_broadcast.is_some() {
                self.next_broadcast = None;
                out.push(Action::LostLeadership);
            }
            self.leader = bid.pnn;
        }
        out
    }

    /// Our rctdbd sees the leader's node disconnected: do not wait out the
    /// leader timeout, start an election now. (If the leader is in fact
    /// alive behind a partition it still holds the lock, and our attempt is
    /// merely contended.)
    pub fn on_leader_disconnected(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.leader == self.own || !self.leader.is_node() || self.election_in_progress() {
            return out;
        }
        self.leader = Pnn::UNKNOWN;
        self.force_election(now, &mut out);
        out
    }

    /// The lock helper answered.
    pub fn on_lock(&mut self, now: Instant, outcome: LockOutcome) -> Vec<Action> {
        let mut out = Vec::new();
        if self.lock != LockState::Taking {
            if outcome == LockOutcome::Held {
                // An answer we no longer want: give it back.
                out.push(Action::ReleaseLock);
            }
            return out;
        }
        match outcome {
            LockOutcome::Held if self.can_lead() => {
                self.lock = LockState::Held;
                self.become_leader(now, &mut out);
            }
            LockOutcome::Held => {
                self.lock = LockState::Released;
                out.push(Action::ReleaseLock);
            }
            _ => {
                self.lock = LockState::Released;
                // While no leader announces itself, try again soon: the
                // holder may be a dead leader's helper that is about to
                // exit. Back off up to the leader timeout.
                if self.leader == Pnn::UNKNOWN {
                    self.watchdog = now + self.retry_backoff;
                    self.retry_backoff = (self.retry_backoff * 2).min(self.leader_timeout);
                } else {
                    self.watchdog = now + self.leader_timeout;
                }
            }
        }
        out
    }

    /// The lock helper exited after reporting the lock held: lock lost.
    /// Step down at once and race for the lock again.
    pub fn on_lock_lost(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.lock != LockState::Held {
            return out;
        }
        self.lock = LockState::Released;
        if self.leader == self.own {
            self.leader = Pnn::UNKNOWN;
            self.next_broadcast = None;
            out.push(Action::LostLeadership);
        }
        self.force_election(now, &mut out);
        out
    }

    /// Our own rctdbd stopped answering (`false`) or answers again.
    /// A leader whose daemon is frozen cannot act for the cluster: it
    /// gives up the lock so that another node can take over.
    pub fn on_daemon(&mut self, now: Instant, ok: bool) -> Vec<Action> {
        let mut out = Vec::new();
        if ok == self.daemon_ok {
            return out;
        }
        self.daemon_ok = ok;
        if !ok {
            self.step_down(&mut out);
            self.election_ends = None;
        } else {
            self.watchdog = now + self.leader_timeout;
        }
        out
    }

    /// Whether this node may lead (not stopped or banned, leader
    /// capability on). An ineligible node's priority restarts when it
    /// becomes eligible again, so it loses later elections.
    pub fn set_eligible(&mut self, now_us: u64, eligible: bool) -> Vec<Action> {
        let mut out = Vec::new();
        if eligible == self.eligible {
            return out;
        }
        self.eligible = eligible;
        if !eligible {
            self.priority_time_us = now_us;
            self.step_down(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LT: Duration = Duration::from_secs(5);
    const ET: Duration = Duration::from_secs(3);

    fn lock_node(now: Instant) -> Leadership {
        Leadership::new(Pnn(1), true, LT, ET, now, Duration::from_millis(500), 1000)
    }

    #[test]
    fn lock_mode_leadership_is_the_lock() {
        let t0 = Instant::now();
        let mut l = lock_node(t0);
        assert!(l.handle_timeout(t0).is_empty());
        let a = l.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(a, vec![Action::BroadcastLeader(Pnn::UNKNOWN), Action::TakeLock]);
        assert!(!l.is_leader(), "not leader before the lock is held");
        let a = l.on_lock(t0 + Duration::from_millis(600), LockOutcome::Held);
        assert_eq!(a, vec![Action::BroadcastLeader(Pnn(1)), Action::BecameLeader]);
        assert!(l.is_leader() && l.holds_lock());
        // Broadcasts every second.
        let a = l.handle_timeout(t0 + Duration::from_millis(1600));
        assert_eq!(a, vec![Action::BroadcastLeader(Pnn(1))]);
        // Lock lost: step down at once, then race again.
        let a = l.on_lock_lost(t0 + Duration::from_secs(2));
        assert_eq!(a, vec![Action::LostLeadership, Action::BroadcastLeader(Pnn::UNKNOWN), Action::TakeLock]);
        assert!(!l.is_leader());
    }

    #[test]
    fn contended_lock_means_follow_the_broadcasts() {
        let t0 = Instant::now();
        let mut l = lock_node(t0);
        l.handle_timeout(t0 + Duration::from_millis(500));
        assert!(l.on_lock(t0 + Duration::from_millis(600), LockOutcome::Contended).is_empty());
        assert_eq!(l.poll_timeout(), t0 + Duration::from_millis(650), "no leader known: retry soon");
        assert!(l.on_leader_broadcast(t0 + Duration::from_millis(700), Pnn(2)).is_empty());
        assert_eq!(l.leader(), Pnn(2));
        // Broadcasts keep the watchdog quiet...
        for i in 1..10 {
            let t = t0 + Duration::from_millis(700) + Duration::from_secs(i);
            l.on_leader_broadcast(t, Pnn(2));
            assert!(l.handle_timeout(t).is_empty());
        }
        // ...until they stop.
        let t = t0 + Duration::from_millis(700) + Duration::from_secs(9) + LT;
        assert_eq!(l.handle_timeout(t), vec![Action::BroadcastLeader(Pnn::UNKNOWN), Action::TakeLock]);
        assert_eq!(l.leader(), Pnn::UNKNOWN);
    }

    #[test]
    fn contended_attempts_back_off_up_to_the_leader_timeout() {
        let t0 = Instant::now();
        let mut l = lock_node(t0);
        let mut t = t0 + Duration::from_millis(500);
        let mut gaps = Vec::new();
        for _ in 0..8 {
            assert!(l.handle_timeout(t).contains(&Action::TakeLock));
            l.on_lock(t, LockOutcome::Contended);
            let next = l.poll_timeout();
            gaps.push((next - t).as_millis() as u64);
            t = next;
        }
        assert_eq!(gaps, vec![50, 100, 200, 400, 800, 1600, 3200, 5000]);
    }

    #[test]
    fn frozen_daemon_gives_up_the_lock() {
        let t0 = Instant::now();
        let mut l = lock_node(t0);
        l.handle_timeout(t0 + Duration::from_millis(500));
        l.on_lock(t0, LockOutcome::Held);
        let a = l.on_daemon(t0 + Duration::from_secs(1), false);
        assert_eq!(a, vec![Action::ReleaseLock, Action::LostLeadership]);
        assert!(!l.is_leader() && !l.holds_lock());
        // While the daemon is frozen we never race for the lock.
        let a = l.handle_timeout(t0 + Duration::from_secs(20));
        assert_eq!(a, vec![Action::BroadcastLeader(Pnn::UNKNOWN)]);
        l.on_daemon(t0 + Duration::from_secs(21), true);
        let a = l.handle_timeout(t0 + Duration::from_secs(21) + LT);
        assert!(a.contains(&Action::TakeLock));
    }

    #[test]
    fn a_disconnected_leader_is_replaced_without_waiting() {
        let t0 = Instant::now();
        let mut l = lock_node(t0);
        l.on_leader_broadcast(t0, Pnn(2));
        let a = l.on_leader_disconnected(t0 + Duration::from_millis(10));
        assert_eq!(a, vec![Action::BroadcastLeader(Pnn::UNKNOWN), Action::TakeLock]);
        // Only once: the attempt is in progress.
        assert!(l.on_leader_disconnected(t0 + Duration::from_millis(20)).is_empty());
    }

    #[test]
    fn ineligible_node_steps_down() {
        let t0 = Instant::now();
        let mut l = lock_node(t0);
        l.handle_timeout(t0 + Duration::from_millis(500));
        l.on_lock(t0, LockOutcome::Held);
        assert_eq!(l.set_eligible(5000, false), vec![Action::ReleaseLock, Action::LostLeadership]);
        assert_eq!(l.my_bid().priority_time_us, 5000);
    }

    #[test]
    fn a_late_lock_answer_is_given_back() {
        let t0 = Instant::now();
        let mut l = lock_node(t0);
        l.handle_timeout(t0 + Duration::from_millis(500));
        l.on_daemon(t0, false);
        assert_eq!(l.on_lock(t0, LockOutcome::Held), vec![Action::ReleaseLock]);
        assert!(!l.is_leader());
    }

    #[test]
    fn bids_compare_as_ctdb() {
        let a = Bid { pnn: Pnn(0), priority_time_us: 10, ineligible: false };
        let b = Bid { pnn: Pnn(1), priority_time_us: 20, ineligible: false };
        assert!(a.beats(&b) && !b.beats(&a), "earlier start wins");
        let c = Bid { pnn: Pnn(2), priority_time_us: 10, ineligible: false };
        assert!(c.beats(&a) && !a.beats(&c), "tie goes to the higher PNN");
        let d = Bid { pnn: Pnn(3), priority_time_us: 1, ineligible: true };
        assert!(b.beats(&d) && !d.beats(&b));
        assert_eq!(Bid::decode(&a.encode()), Some(a));
        assert_eq!(Bid::decode(&[1, 2, 3]), None);
    }

    #[test]
    fn message_election_longest_running_wins() {
        let t0 = Instant::now();
        let mut older = Leadership::new(Pnn(0), false, LT, ET, t0, Duration::from_millis(500), 10);
        let mut newer = Leadership::new(Pnn(1), false, LT, ET, t0, Duration::from_millis(500), 20);
        let t1 = t0 + Duration::from_millis(500);
        let a = newer.handle_timeout(t1);
        let bid =
            a.iter().find_map(|x| if let Action::BroadcastBid(b) = x { Some(*b) } else { None }).expect("newer bids");
        let a = older.on_bid(t1, bid);
        let older_bid = match a.as_slice() {
            [Action::BroadcastBid(b)] => *b,
            other => panic!("older must counter-bid, got {other:?}"),
        };
        assert!(newer.on_bid(t1, older_bid).is_empty());
        assert_eq!(newer.leader(), Pnn(0));
        let t2 = t1 + ET;
        assert_eq!(older.handle_timeout(t2), vec![Action::BroadcastLeader(Pnn(0)), Action::BecameLeader]);
        assert!(!newer.handle_timeout(t2).contains(&Action::BecameLeader));
        assert!(older.is_leader() && !newer.is_leader());
    }
}

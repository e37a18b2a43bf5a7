//! A simulated cluster for the election state machine: several
//! [`Leadership`]s, a simulated cluster lock, a network with delays,
//! partitions and losses, crashes, frozen daemons, lock files removed and
//! lock helpers that hang — all in simulated time from a seed.
//!
//! Checked at every step (lock mode): at most one node is leader while
//! holding the lock, and a node that believes it holds the lock really is
//! the lock's owner. After the faults stop: exactly one leader, known to
//! every node, within a bounded time.

use crate::leader::{Action, Bid, Leadership, LockOutcome};
use proptest::prelude::*;
use rctdb_protocol::Pnn;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const STEP: Duration = Duration::from_millis(10);
const LEADER_TIMEOUT: Duration = Duration::from_millis(500);
const ELECTION_TIMEOUT: Duration = Duration::from_millis(300);
const LOCK_TIMEOUT: Duration = Duration::from_millis(500);

/// xorshift64*: small, seeded, good enough for schedules.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

enum Msg {
    Leader(Pnn),
    Bid(Bid),
}

struct Node {
    l: Leadership,
    alive: bool,
    frozen: bool,
    /// Lock helper answer due at this step; `None` if no attempt.
    lock_answer_at: Option<u64>,
    lock_hangs: bool,
    started: u64,
}

struct Sim {
    t0: Instant,
    step: u64,
    rng: Rng,
    nodes: Vec<Node>,
    use_lock: bool,
    lock_owner: Option<usize>,
    /// (delivery step, to, from, message)
    inflight: BTreeMap<(u64, u64), (usize, usize, Msg)>,
    seq: u64,
    /// Partition: side of each node; messages cross only within a side.
    side: Vec<u8>,
    loss_per_mille: u64,
}

impl Sim {
    fn new(n: usize, use_lock: bool, seed: u64) -> Sim {
        let t0 = Instant::now();
        let mut sim = Sim {
            t0,
            step: 0,
            rng: Rng(seed | 1),
            nodes: Vec::new(),
            use_lock,
            lock_owner: None,
            inflight: BTreeMap::new(),
            seq: 0,
            side: vec![0; n],
            loss_per_mille: 0,
        };
        for i in 0..n {
            let node = sim.fresh(i);
            sim.nodes.push(node);
        }
        sim
    }

    fn now(&self) -> Instant {
        self.t0 + STEP * self.step as u32
    }

    fn fresh(&mut self, i: usize) -> Node {
        let now = self.now();
        Node {
            l: Leadership::new(
                Pnn(i as u32),
                self.use_lock,
                LEADER_TIMEOUT,
                ELECTION_TIMEOUT,
                now,
                Duration::from_millis(100),
                1_000_000 + self.step * 10_000 + i as u64,
            ),
            alive: true,
            frozen: false,
            lock_answer_at: None,
            lock_hangs: false,
            started: self.step,
        }
    }

    fn send(&mut self, from: usize, msg: impl Fn() -> Msg) {
        for to in 0..self.nodes.len() {
            if to == from || self.side[to] != self.side[from] || self.rng.chance(self.loss_per_mille) {
                continue;
            }
            let at = self.step + 1 + self.rng.below(3);
            self.seq += 1;
            self.inflight.insert((at, self.seq), (to, from, msg()));
        }
    }

    fn apply(&mut self, i: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::BroadcastLeader(p) => {
                    if !self.nodes[i].frozen {
                        self.send(i, || Msg::Leader(p));
                    }
                }
                Action::BroadcastBid(b) => {
                    if !self.nodes[i].frozen {
                        self.send(i, || Msg::Bid(b));
                    }
                }
                Action::TakeLock => {
                    let n = &mut self.nodes[i];
                    assert!(n.lock_answer_at.is_none(), "node {i}: a second lock helper while one is pending");
                    let delay = if n.lock_hangs { LOCK_TIMEOUT.as_millis() as u64 / 10 } else { 1 + self.rng.below(5) };
                    n.lock_answer_at = Some(self.step + delay);
                }
                Action::ReleaseLock => {
                    self.nodes[i].lock_answer_at = None;
                    if self.lock_owner == Some(i) {
                        self.lock_owner = None;
                    }
                }
                Action::BecameLeader | Action::LostLeadership => {}
            }
        }
    }

    fn crash(&mut self, i: usize) {
        self.nodes[i].alive = false;
        self.nodes[i].lock_answer_at = None;
        if self.lock_owner == Some(i) {
            // The helper sees its lifeline close and exits.
            self.lock_owner = None;
        }
    }

    fn check(&self) {
        let mut holders = 0;
        for (i, n) in self.nodes.iter().enumerate().filter(|(_, n)| n.alive) {
            if self.use_lock {
                if n.l.holds_lock() {
                    assert_eq!(self.lock_owner, Some(i), "node {i} thinks it holds a lock it does not own");
                }
                if n.l.is_leader() {
                    assert!(n.l.holds_lock(), "node {i} is leader without the lock");
                    holders += 1;
                }
            }
        }
        assert!(holders <= 1, "{holders} leaders holding the lock at step {}", self.step);
    }

    fn random_fault(&mut self) {
        let n = self.nodes.len();
        let i = self.rng.below(n as u64) as usize;
        let now = self.now();
        match self.rng.below(8) {
            0 if self.nodes[i].alive => self.crash(i),
            1 if !self.nodes[i].alive => self.nodes[i] = self.fresh(i),
            2 if self.nodes[i].alive && !self.nodes[i].frozen => {
                self.nodes[i].frozen = true;
                // Its recovery daemon notices at the next ping.
                let a = self.nodes[i].l.on_daemon(now, false);
                self.apply(i, a);
            }
            3 if self.nodes[i].frozen => {
                self.nodes[i].frozen = false;
                let a = self.nodes[i].l.on_daemon(now, true);
                self.apply(i, a);
            }
            4 => self.side = (0..n).map(|_| self.rng.below(2) as u8).collect(),
            5 => self.side = vec![0; n],
            6 => {
                // Lock file removed: the holder's helper exits.
                if let Some(o) = self.lock_owner.take() {
                    let a = self.nodes[o].l.on_lock_lost(now);
                    self.apply(o, a);
                }
            }
            _ => self.nodes[i].lock_hangs = !self.nodes[i].lock_hangs,
        }
    }

    fn tick(&mut self) {
        self.step += 1;
        let now = self.now();
        // Deliver messages due now.
        let due: Vec<(u64, u64)> = self.inflight.range(..(self.step + 1, 0)).map(|(k, _)| *k).collect();
        for k in due {
            let Some((to, _from, msg)) = self.inflight.remove(&k) else { continue };
            let n = &mut self.nodes[to];
            if !n.alive || n.frozen {
                continue;
            }
            let a = match msg {
                Msg::Leader(p) => n.l.on_leader_broadcast(now, p),
                Msg::Bid(b) => n.l.on_bid(now, b),
            };
            self.apply(to, a);
            self.check();
        }
        for i in 0..self.nodes.len() {
            if !self.nodes[i].alive {
                continue;
            }
            if self.nodes[i].lock_answer_at.is_some_and(|t| t <= self.step) {
                self.nodes[i].lock_answer_at = None;
                let outcome = if self.nodes[i].lock_hangs {
                    LockOutcome::Timeout
                } else if self.lock_owner.is_none() {
                    self.lock_owner = Some(i);
                    LockOutcome::Held
                } else {
                    LockOutcome::Contended
                };
                let a = self.nodes[i].l.on_lock(now, outcome);
                self.apply(i, a);
                // A grant that was not wanted is given back by the action.
                self.check();
            }
            let a = self.nodes[i].l.handle_timeout(now);
            self.apply(i, a);
            self.check();
        }
    }

    fn heal(&mut self) {
        self.side = vec![0; self.nodes.len()];
        self.loss_per_mille = 0;
        let now = self.now();
        for i in 0..self.nodes.len() {
            self.nodes[i].lock_hangs = false;
            if !self.nodes[i].alive {
                self.nodes[i] = self.fresh(i);
            }
            if self.nodes[i].frozen {
                self.nodes[i].frozen = false;
                let a = self.nodes[i].l.on_daemon(now, true);
                self.apply(i, a);
            }
        }
    }

    /// Exactly one leader, and every node knows it.
    fn converged(&self) -> bool {
        let leaders: Vec<usize> = (0..self.nodes.len()).filter(|&i| self.nodes[i].l.is_leader()).collect();
        leaders.len() == 1
            && self.nodes.iter().all(|n| n.l.leader() == Pnn(leaders[0] as u32) && !n.l.election_in_progress())
    }
}

fn run(seed: u64, nodes: usize, use_lock: bool, fault_steps: u64) {
    let mut sim = Sim::new(nodes, use_lock, seed);
    sim.loss_per_mille = 20;
    for _ in 0..fault_steps {
        if sim.rng.chance(30) {
            sim.random_fault();
        }
        sim.tick();
    }
    sim.heal();
    // Bound: a leader timeout to notice, an election, a few broadcasts.
    let limit = (LEADER_TIMEOUT * 4 + ELECTION_TIMEOUT * 2).as_millis() as u64 / STEP.as_millis() as u64;
    for _ in 0..limit {
        sim.tick();
        if sim.converged() {
            return;
        }
    }
    let state: Vec<String> = sim
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i}: leader={} lock={} started={}", n.l.leader(), n.l.holds_lock(), n.started))
        .collect();
    panic!("no single leader {limit} steps after the faults stopped: {state:?}, owner {:?}", sim.lock_owner);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn lock_election_never_two_leaders_and_converges(seed in any::<u64>(), nodes in 2usize..6, faults in 0u64..600) {
        run(seed, nodes, true, faults);
    }

    #[test]
    fn message_election_converges_after_faults(seed in any::<u64>(), nodes in 2usize..6, faults in 0u64..600) {
        run(seed, nodes, false, faults);
    }
}

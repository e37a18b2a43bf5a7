//! Simulated time, seeded random partitions (symmetric and one-way),
//! message delays and losses, leaders stepping down: the node side
//! (`Lease`), the leader side (`Grantor`) and the hold-back rule
//! (`decide`) together never let an address be held by two nodes.
//!
//! The model, per 5 ms step: every node asks every reachable node for a
//! lease; only a node whose claim is fresh grants; the leader claims every
//! step and, for an address whose owner it has not heard from for the
//! keepalive timeout, gives the address to a node it hears from once
//! `decide` says Free (no fence command). A node releases when
//! `must_release` says so, after a random delay of up to a quarter lease,
//! and at once when the lease has expired. Messages take 0-100 ms and are
//! lost if the link is down when they arrive (rctdbd drops a peer's
//! connections at the keepalive timeout, so nothing older arrives).

use proptest::prelude::*;
use rctdb_lease::{claim_validity, decide, Decision, Grantor, Lease, LeaseRule, Lost};
use rctdb_protocol::Pnn;
use std::time::{Duration, Instant};

const N: usize = 3;
const ADDRS: usize = 6;
const STEP: u64 = 5;
const LEASE: Duration = Duration::from_millis(800);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_millis(300);
const LEADER_TIMEOUT: Duration = Duration::from_millis(500);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

#[derive(Clone, Copy, Debug)]
enum Msg {
    Request(u64),
    Grant(u64),
    Take(usize),
}

struct Node {
    lease: Lease,
    grantor: Grantor,
    holds: [bool; ADDRS],
    release_at: Option<Instant>,
    /// Last time this node received anything from each node.
    heard: [Instant; N],
}

struct World {
    t0: Instant,
    now: Instant,
    nodes: Vec<Node>,
    /// `up[a][b]`: a's packets reach b.
    up: [[bool; N]; N],
    in_flight: Vec<(Instant, usize, usize, Msg)>,
    leader: usize,
    leader_since: Instant,
    /// The leader's (and the cluster's) idea of who holds what.
    owner: [Option<usize>; ADDRS],
    rng: Rng,
    /// Random faults on (off for the directed scenario).
    faults: bool,
}

impl World {
    fn new(seed: u64) -> World {
        let t0 = Instant::now();
        let mut nodes: Vec<Node> = (0..N)
            .map(|_| Node {
                lease: Lease::new(LEASE, t0),
                grantor: Grantor::default(),
                holds: [false; ADDRS],
                release_at: None,
                heard: [t0; N],
            })
            .collect();
        let mut owner = [None; ADDRS];
        nodes[0].grantor.claim(t0, claim_validity(LEADER_TIMEOUT));
        for (a, slot) in owner.iter_mut().enumerate() {
            let n = a % N;
            *slot = Some(n);
            nodes[n].holds[a] = true;
            nodes[n].lease.takeover_received(t0);
            nodes[0].grantor.grant(Pnn(n as u32), t0);
        }
        World {
            t0,
            now: t0,
            nodes,
            up: [[true; N]; N],
            in_flight: Vec::new(),
            leader: 0,
            leader_since: t0,
            owner,
            rng: Rng(seed | 1),
            faults: true,
        }
    }

    fn send(&mut self, from: usize, to: usize, msg: Msg) {
        if from == to {
            self.deliver(from, to, msg);
        } else if self.up[from][to] {
            let at = self.now + Duration::from_millis(self.rng.below(101));
            self.in_flight.push((at, from, to, msg));
        }
    }

    fn deliver(&mut self, from: usize, to: usize, msg: Msg) {
        let now = self.now;
        self.nodes[to].heard[from] = now;
        match msg {
            Msg::Request(seq) => {
                if self.nodes[to].grantor.grant(Pnn(from as u32), now) {
                    self.send(to, from, Msg::Grant(seq));
                }
            }
            Msg::Grant(seq) => {
                self.nodes[to].lease.granted(seq);
            }
            Msg::Take(a) => {
                let n = &mut self.nodes[to];
                n.lease.takeover_received(now);
                n.holds[a] = true;
                n.release_at = None;
            }
        }
    }

    fn perturb(&mut self) {
        if self.rng.chance(8) {
            // Cut or heal one direction, or both.
            let a = self.rng.below(N as u64) as usize;
            let b = (a + 1 + self.rng.below(N as u64 - 1) as usize) % N;
            let v = self.rng.chance(500);
            self.up[a][b] = v;
            if self.rng.chance(600) {
                self.up[b][a] = v;
            }
        }
        if self.rng.chance(2) {
            // Isolate one node completely, or heal everything.
            if self.rng.chance(500) {
                let x = self.rng.below(N as u64) as usize;
                for o in 0..N {
                    if o != x {
                        self.up[x][o] = false;
                        self.up[o][x] = false;
                    }
                }
            } else {
                self.up = [[true; N]; N];
            }
        }
        if self.rng.chance(1) {
            // The leader steps down (its lock is freed at once: worst
            // case); its rctdbd may go on granting until its claim lapses.
            let next = (self.leader + 1 + self.rng.below(N as u64 - 1) as usize) % N;
            self.leader = next;
            self.leader_since = self.now;
        }
    }

    fn step(&mut self) {
        self.now += Duration::from_millis(STEP);
        let now = self.now;
        if self.faults {
            self.perturb();
        }
        let due: Vec<_> = {
            let (due, later): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|(at, ..)| *at <= now);
            self.in_flight = later;
            due
        };
        for (_, from, to, msg) in due {
            if self.up[from][to] {
                self.deliver(from, to, msg);
            }
        }
        // Lease requests.
        for x in 0..N {
            if let Some(seq) = self.nodes[x].lease.request_due(now) {
                for to in 0..N {
                    self.send(x, to, Msg::Request(seq));
                }
            }
        }
        // The leader.
        let l = self.leader;
        self.nodes[l].grantor.claim(now, claim_validity(LEADER_TIMEOUT));
        let rule = LeaseRule {
            lease_time: LEASE,
            claim_validity: claim_validity(LEADER_TIMEOUT),
            leader_since: self.leader_since,
        };
        let reachable: Vec<usize> =
            (0..N).filter(|&y| y == l || now.duration_since(self.nodes[l].heard[y]) < KEEPALIVE_TIMEOUT).collect();
        for a in 0..ADDRS {
            let free = match self.owner[a] {
                None => true,
                Some(x) if reachable.contains(&x) => false,
                Some(x) => {
                    let lost = Lost {
                        granted_ago: self.nodes[l].grantor.granted_ago(Pnn(x as u32), now),
                        refused: false,
                        goodbye: false,
                    };
                    decide(lost, false, false, &rule, now) == Decision::Free
                }
            };
            if free {
                let y = reachable[self.rng.below(reachable.len() as u64) as usize];
                self.owner[a] = Some(y);
                if y != l {
                    // The leader's rctdbd forwards TAKEOVER_IP: a grant.
                    self.nodes[l].grantor.grant(Pnn(y as u32), now);
                }
                self.send(l, y, Msg::Take(a));
            }
        }
        // Nodes give addresses up.
        for x in 0..N {
            let (release_at, delay) = (self.nodes[x].release_at, self.rng.below(LEASE.as_millis() as u64 / 4));
            let n = &mut self.nodes[x];
            if !n.holds.iter().any(|h| *h) {
                continue;
            }
            if n.lease.expired(now) {
                n.holds = [false; ADDRS];
                n.release_at = None;
            } else if n.lease.must_release(now) {
                match release_at {
                    None => n.release_at = Some(now + Duration::from_millis(delay)),
                    Some(t) if now >= t => {
                        n.holds = [false; ADDRS];
                        n.release_at = None;
                    }
                    Some(_) => {}
                }
            } else {
                n.release_at = None;
            }
        }
    }

    fn two_holders(&self) -> Option<String> {
        for a in 0..ADDRS {
            let holders: Vec<usize> = (0..N).filter(|&x| self.nodes[x].holds[a]).collect();
            if holders.len() > 1 {
                return Some(format!(
                    "address {a} on nodes {holders:?} at {:?} (leader {}, links {:?})",
                    self.now.duration_since(self.t0),
                    self.leader,
                    self.up
                ));
            }
        }
        None
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn an_address_is_never_on_two_nodes(seed in any::<u64>()) {
        let mut w = World::new(seed);
        for _ in 0..(30_000 / STEP) {
            w.step();
            if let Some(e) = w.two_holders() {
                prop_assert!(false, "{}", e);
            }
        }
    }
}

/// The model is not vacuous: with the links healthy, every address is
/// hosted, and after an isolation the others take the lost node's
/// addresses within the lease bound.
#[test]
fn addresses_move_after_an_isolation() {
    let mut w = World::new(7);
    w.faults = false;
    for _ in 0..200 {
        w.step();
    }
    assert!(w.owner.iter().all(|o| o.is_some()));
    // Isolate node 2 (not the leader).
    for o in 0..N {
        if o != 2 {
            w.up[2][o] = false;
            w.up[o][2] = false;
        }
    }
    let cut = w.now;
    let bound = KEEPALIVE_TIMEOUT + LEASE + LEASE / 2 + Duration::from_millis(200);
    while w.now < cut + bound + Duration::from_millis(500) {
        w.step();
        assert!(w.two_holders().is_none());
    }
    let on_2 = (0..ADDRS).filter(|&a| w.nodes[2].holds[a]).count();
    assert_eq!(on_2, 0, "the isolated node kept addresses past its lease");
    for a in 0..ADDRS {
        let holders = (0..N).filter(|&x| w.nodes[x].holds[a]).count();
        assert_eq!(holders, 1, "address {a} not hosted after the bound");
    }
}

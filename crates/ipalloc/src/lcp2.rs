//! LCP2 (IPAllocAlgorithm = 2, §8.3): place each address where it is "furthest" from the
//! addresses already there, by the squared distance of §8.3, then move addresses from the
//! most imbalanced nodes to rebalance candidates (nodes that held nothing, or were forced).
//!
//! CTDB recomputes every `dsum` from the whole list, which is O(IPs³ × nodes) for a cluster
//! starting empty. Here `dsum(ip, node)` is kept in an IPs × nodes table updated on every
//! ownership change (O(IPs) per change). Arithmetic is `u32` wrapping, as CTDB's
//! `uint32_t`; sums modulo 2³² do not depend on the order of addition, so the table holds
//! exactly the values CTDB computes, and every comparison — hence every decision and log
//! line — is the same. Unless the DEBUG trace is wanted, the fill phase also skips CTDB's
//! full rescan per placement (see `allocate_unassigned_lazy`); a property test checks it
//! against the full scan.
//!
//! Termination of the failback loop: each move has `dstdsum < srcdsum`, and dsums are true
//! values (they cannot wrap below 2¹⁸ addresses), so the true total imbalance over all
//! nodes strictly decreases with every move.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::state::{distance, State};
use crate::{Level, Pnn};

const DASHES: &str = " ----------------------------------------";

/// Below this many addresses no dsum can wrap (2¹⁸ × 128² = 2³²).
const MONOTONE_LIMIT: usize = 1 << 18;

struct Lcp2<'s, 'l> {
    st: &'s mut State<'l>,
    /// `dsum[ip * n + node]` = Σ d(ip, x)² over addresses x ≠ ip currently on `node`.
    dsum: Vec<u32>,
    imbalance: Vec<u32>,
    candidate: Vec<bool>,
}

pub(crate) fn run(st: &mut State<'_>, force_rebalance: &[Pnn], no_ip_failback: bool) {
    st.unassign_unsuitable();
    let mut a = Lcp2::init(st, force_rebalance);
    a.allocate_unassigned();
    if no_ip_failback || !a.candidate.iter().any(|&c| c) {
        return;
    }
    a.failback();
}

fn d2(st: &State<'_>, a: usize, b: usize) -> u32 {
    let d = distance(&st.keys[a], &st.keys[b]);
    d * d
}

impl<'s, 'l> Lcp2<'s, 'l> {
    fn init(st: &'s mut State<'l>, force_rebalance: &[Pnn]) -> Lcp2<'s, 'l> {
        let (n, len) = (st.n, st.len());
        let mut dsum = vec![0u32; len * n];
        let mut imbalance = vec![0u32; n];
        for i in 0..len {
            for j in i + 1..len {
                let (oi, oj) = (st.owner[i], st.owner[j]);
                if oi.is_none() && oj.is_none() {
                    continue;
                }
                let dd = d2(st, i, j);
                if let Some(m) = oj {
                    dsum[i * n + m] = dsum[i * n + m].wrapping_add(dd);
                }
                if let Some(m) = oi {
                    dsum[j * n + m] = dsum[j * n + m].wrapping_add(dd);
                    if oj == oi {
                        imbalance[m] = imbalance[m].wrapping_add(dd);
                    }
                }
            }
        }
        // Only nodes that hold nothing now (newly healthy) attract addresses in failback.
        let mut candidate: Vec<bool> = st.coverage.iter().map(|&c| c == 0).collect();
        for &pnn in force_rebalance {
            if (pnn.0 as usize) < n {
                st.log.emit(Level::Notice, format_args!("Forcing rebalancing of IPs to node {}", pnn.0));
                candidate[pnn.0 as usize] = true;
            } else {
                st.log.emit(Level::Warning, format_args!("Ignoring rebalance target {}: no such node", pnn.0));
            }
        }
        Lcp2 { st, dsum, imbalance, candidate }
    }

    fn dsum(&self, ip: usize, node: usize) -> u32 {
        self.dsum[ip * self.st.n + node]
    }

    /// Move `ip` from its owner (if any) to `to`, updating every other address's dsum.
    fn reassign(&mut self, ip: usize, to: usize) {
        let n = self.st.n;
        let from = self.st.owner[ip];
        for other in 0..self.st.len() {
            if other == ip {
                continue;
            }
            let dd = d2(self.st, ip, other);
            if let Some(f) = from {
                self.dsum[other * n + f] = self.dsum[other * n + f].wrapping_sub(dd);
            }
            self.dsum[other * n + to] = self.dsum[other * n + to].wrapping_add(dd);
        }
        self.st.set_owner(ip, Some(to));
    }

    /// Repeatedly give the (address, node) pair with the strictly smallest dsum, first
    /// found on ties (addresses in list order, nodes in PNN order), until nothing is
    /// unassigned or nothing can be placed.
    fn allocate_unassigned(&mut self) {
        let mut unassigned: Vec<usize> = (0..self.st.len()).filter(|&ip| self.st.owner[ip].is_none()).collect();
        if self.st.log.enabled(Level::Debug) || self.st.len() >= MONOTONE_LIMIT {
            self.allocate_unassigned_traced(&mut unassigned);
        } else {
            self.allocate_unassigned_lazy(&mut unassigned);
        }
        for ip in unassigned {
            let addr = self.st.addrs[ip];
            self.st.log.emit(Level::Warning, format_args!("Failed to find node to cover ip {}", addr));
        }
    }

    /// Assign `ip` to `node` at cost `ds`.
    fn place(&mut self, ip: usize, node: usize, ds: u32) {
        self.imbalance[node] = self.imbalance[node].wrapping_add(ds);
        self.reassign(ip, node);
        let addr = self.st.addrs[ip];
        self.st.log.emit(Level::Info, format_args!(" {} -> {} [+{}]", addr, node, ds as i32));
    }

    /// CTDB's loop, considering (and tracing) every pair on every pass.
    fn allocate_unassigned_traced(&mut self, unassigned: &mut Vec<usize>) {
        loop {
            self.st.log.emit(Level::Debug, format_args!("{DASHES}"));
            self.st.log.emit(Level::Debug, format_args!(" CONSIDERING MOVES (UNASSIGNED)"));
            let mut best: Option<(usize, usize, u32)> = None;
            for (k, &ip) in unassigned.iter().enumerate() {
                for node in 0..self.st.n {
                    if !self.st.can_takeover(node, ip) {
                        continue;
                    }
                    let ds = self.dsum(ip, node);
                    let addr = self.st.addrs[ip];
                    self.st.log.emit(Level::Debug, format_args!(" {} -> {} [+{}]", addr, node, ds as i32));
                    if best.is_none_or(|(_, _, b)| ds < b) {
                        best = Some((k, node, ds));
                    }
                }
            }
            self.st.log.emit(Level::Debug, format_args!("{DASHES}"));
            let Some((k, node, ds)) = best else { return };
            let ip = unassigned.remove(k);
            self.place(ip, node, ds);
            if unassigned.is_empty() {
                return;
            }
        }
    }

    /// The first node with the smallest dsum for `ip`, among nodes that can take it.
    fn best_node(&self, ip: usize) -> Option<(usize, u32)> {
        let mut best: Option<(usize, u32)> = None;
        for node in 0..self.st.n {
            if self.st.can_takeover(node, ip) {
                let ds = self.dsum(ip, node);
                if best.is_none_or(|(_, b)| ds < b) {
                    best = Some((node, ds));
                }
            }
        }
        best
    }

    /// The same choices without the trace, lazily. During this phase a dsum only grows
    /// (placing an address adds d² to one column; below [`MONOTONE_LIMIT`] addresses no
    /// dsum can wrap), so an address's best (node, dsum) once computed stays a lower bound,
    /// and it is exact while its node has received nothing since. A min-heap on (dsum,
    /// list position) pops the pair the full scan would pick: if the popped entry is stale
    /// it is recomputed and pushed back; if it is exact, every address before it in the
    /// list has a true best above it, and every later one at least equal to it.
    fn allocate_unassigned_lazy(&mut self, unassigned: &mut Vec<usize>) {
        // received[node] counts placements on node; an entry is exact while it matches.
        let mut received = vec![0usize; self.st.n];
        let mut heap = BinaryHeap::new();
        for &ip in unassigned.iter() {
            if let Some((node, ds)) = self.best_node(ip) {
                heap.push(Reverse((ds, ip, node, 0)));
            }
        }
        let mut placed = vec![false; self.st.len()];
        while let Some(Reverse((ds, ip, node, seen))) = heap.pop() {
            if seen != received[node] {
                let (node, ds) = self.best_node(ip).expect("an address stays placeable");
                heap.push(Reverse((ds, ip, node, received[node])));
                continue;
            }
            self.place(ip, node, ds);
            received[node] += 1;
            placed[ip] = true;
        }
        unassigned.retain(|&ip| !placed[ip]);
    }

    /// Move addresses from the most imbalanced nodes to rebalance candidates, one move per
    /// pass, until a pass finds no acceptable move.
    fn failback(&mut self) {
        loop {
            let mut order: Vec<usize> = (0..self.st.n).collect();
            // Stable: equal imbalances keep PNN order (CTDB's qsort leaves it unspecified).
            order.sort_by(|&a, &b| self.imbalance[b].cmp(&self.imbalance[a]));
            self.st.log.emit(Level::Debug, format_args!("{}", "+".repeat(41)));
            self.st.log.emit(Level::Debug, format_args!("Selecting most imbalanced node from:"));
            for &node in &order {
                let imbl = self.imbalance[node];
                self.st.log.emit(Level::Debug, format_args!(" {} [{}]", node, imbl as i32));
            }
            let mut moved = false;
            for &src in &order {
                if self.imbalance[src] == 0 {
                    break;
                }
                if self.failback_candidate(src) {
                    moved = true;
                    break;
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Find and apply the best acceptable move out of `src`: `dstimbl < imbalance[src]` and
    /// `dstdsum < srcdsum`, minimising `srcimbl + dstimbl`, first found on ties.
    fn failback_candidate(&mut self, src: usize) -> bool {
        let n = self.st.n;
        let trace = self.st.log.enabled(Level::Debug);
        let src_imbl = self.imbalance[src];
        self.st.log.emit(Level::Debug, format_args!("{DASHES}"));
        self.st.log.emit(Level::Debug, format_args!(" CONSIDERING MOVES FROM {} [{}]", src, src_imbl as i32));
        // (ip, dst, srcimbl, dstimbl)
        let mut best: Option<(usize, usize, u32, u32)> = None;
        for ip in 0..self.st.len() {
            if self.st.owner[ip] != Some(src) {
                continue;
            }
            let srcdsum = self.dsum(ip, src);
            let srcimbl = src_imbl.wrapping_sub(srcdsum);
            for dst in 0..n {
                if !self.candidate[dst] || !self.st.can_takeover(dst, ip) {
                    continue;
                }
                let dstdsum = self.dsum(ip, dst);
                let dstimbl = self.imbalance[dst].wrapping_add(dstdsum);
                if trace {
                    let addr = self.st.addrs[ip];
                    let (sd, dd) =
                        (srcimbl.wrapping_sub(src_imbl) as i32, dstimbl.wrapping_sub(self.imbalance[dst]) as i32);
                    self.st.log.emit(Level::Debug, format_args!(" {} [{}] -> {} -> {} [+{}]", src, sd, addr, dst, dd));
                }
                if dstimbl < src_imbl
                    && dstdsum < srcdsum
                    && best.is_none_or(|(_, _, s, d)| srcimbl.wrapping_add(dstimbl) < s.wrapping_add(d))
                {
                    best = Some((ip, dst, srcimbl, dstimbl));
                }
            }
        }
        self.st.log.emit(Level::Debug, format_args!("{DASHES}"));
        let Some((ip, dst, srcimbl, dstimbl)) = best else { return false };
        let addr = self.st.addrs[ip];
        let (sd, dd) = (srcimbl.wrapping_sub(src_imbl) as i32, dstimbl.wrapping_sub(self.imbalance[dst]) as i32);
        self.st.log.emit(Level::Info, format_args!("{} [{}] -> {} -> {} [+{}]", src, sd, addr, dst, dd));
        self.imbalance[src] = srcimbl;
        self.imbalance[dst] = dstimbl;
        self.reassign(ip, dst);
        true
    }
}

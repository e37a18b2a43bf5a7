//! Leader policy without I/O: when to recover, and whom to ban.
//!
//! Recovery (reference §7.1, §7.4) is needed when the set of active nodes
//! differs from the VNN map, when any active node is in recovery mode or has
//! another generation, after a failed recovery, and when this node has just
//! become leader. Banning credits (§7.5): a node blamed for a failure gains
//! credits; credits older than `RecoveryGracePeriod` are forgotten first;
//! a node with at least twice the node count is banned; a successful
//! recovery forgives everybody.

use rctdb_protocol::{Generation, NodeMap, Pnn, RecMode, VnnMap};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What one active node reported in this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub pnn: Pnn,
    pub recmode: RecMode,
    pub vnnmap: VnnMap,
}

/// Why a recovery is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    NewLeader,
    PreviousFailed,
    Membership { active: Vec<Pnn>, vnnmap: Vec<Pnn> },
    InRecovery(Pnn),
    GenerationMismatch(Pnn),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::NewLeader => write!(f, "this node became leader"),
            Reason::PreviousFailed => write!(f, "the previous recovery failed"),
            Reason::Membership { active, vnnmap } => {
                write!(f, "active nodes {active:?} differ from the VNN map {vnnmap:?}")
            }
            Reason::InRecovery(p) => write!(f, "node {p} was in recovery mode"),
            Reason::GenerationMismatch(p) => write!(f, "node {p} has a different VNN map"),
        }
    }
}

/// The nodes that take part in the cluster: not INACTIVE, in PNN order.
pub fn active_nodes(map: &NodeMap) -> Vec<Pnn> {
    map.present().filter(|n| !n.flags.is_inactive()).map(|n| n.pnn).collect()
}

/// Decide whether the leader must run a recovery now.
pub fn recovery_reason(
    own: &VnnMap,
    active: &[Pnn],
    views: &[NodeView],
    new_leader: bool,
    failed: bool,
) -> Option<Reason> {
    if new_leader {
        return Some(Reason::NewLeader);
    }
    if failed {
        return Some(Reason::PreviousFailed);
    }
    if own.generation == Generation::INVALID || own.map != active {
        return Some(Reason::Membership { active: active.to_vec(), vnnmap: own.map.clone() });
    }
    for v in views {
        if v.recmode == RecMode::Active {
            return Some(Reason::InRecovery(v.pnn));
        }
    }
    for v in views {
        if v.vnnmap != *own {
            return Some(Reason::GenerationMismatch(v.pnn));
        }
    }
    None
}

/// A new generation: not INVALID, not the current one.
pub fn next_generation(current: Generation, entropy: u64) -> Generation {
    let mut g = (entropy ^ (entropy >> 32)) as u32;
    while g == Generation::INVALID.0 || g == current.0 || g == 0 {
        g = g.wrapping_mul(2_654_435_761).wrapping_add(12345);
    }
    Generation(g)
}

/// Banning credits, kept by the leader.
#[derive(Debug, Default, Clone)]
pub struct Credits {
    credits: BTreeMap<Pnn, (u32, Instant)>,
}

impl Credits {
    /// Blame `pnn` for `count` credits at `now`.
    pub fn blame(&mut self, pnn: Pnn, count: u32, now: Instant, grace: Duration) {
        let e = self.credits.entry(pnn).or_insert((0, now));
        if now.duration_since(e.1) > grace {
            e.0 = 0;
        }
        e.0 += count;
        e.1 = now;
    }

    #[cfg(test)]
    pub fn get(&self, pnn: Pnn) -> u32 {
        self.credits.get(&pnn).map(|c| c.0).unwrap_or(0)
    }

    /// Nodes that have reached `2 x nodes` credits; their credits are reset.
    pub fn take_bannable(&mut self, nodes: usize) -> Vec<(Pnn, u32)> {
        let limit = 2 * nodes.max(1) as u32;
        let out: Vec<(Pnn, u32)> = self.credits.iter().filter(|(_, c)| c.0 >= limit).map(|(p, c)| (*p, c.0)).collect();
        for (p, _) in &out {
            self.credits.remove(p);
        }
        out
    }

    /// A successful recovery forgives everybody.
    pub fn forgive_all(&mut self) {
        self.credits.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rctdb_protocol::{NodeFlags, NodeInfo};

    fn map(flags: &[u32]) -> NodeMap {
        NodeMap {
            nodes: flags
                .iter()
                .enumerate()
                .map(|(i, f)| NodeInfo { pnn: Pnn(i as u32), addr: "192.0.2.1".parse().unwrap(), flags: NodeFlags(*f) })
                .collect(),
        }
    }

    fn vnn(g: u32, m: &[u32]) -> VnnMap {
        VnnMap { generation: Generation(g), map: m.iter().map(|p| Pnn(*p)).collect() }
    }

    #[test]
    fn active_excludes_inactive_but_not_unhealthy_or_disabled() {
        // OK, UNHEALTHY, DISABLED, DISCONNECTED, STOPPED, BANNED, DELETED
        let m = map(&[0, 0x02, 0x04, 0x01, 0x20, 0x08, 0x10]);
        assert_eq!(active_nodes(&m), vec![Pnn(0), Pnn(1), Pnn(2)]);
    }

    #[test]
    fn reasons_in_order() {
        let own = vnn(7, &[0, 1]);
        let ok = |p| NodeView { pnn: Pnn(p), recmode: RecMode::Normal, vnnmap: own.clone() };
        let active = [Pnn(0), Pnn(1)];
        assert_eq!(recovery_reason(&own, &active, &[ok(0), ok(1)], false, false), None);
        assert_eq!(recovery_reason(&own, &active, &[ok(0)], true, false), Some(Reason::NewLeader));
        assert_eq!(recovery_reason(&own, &active, &[ok(0)], false, true), Some(Reason::PreviousFailed));
        assert!(matches!(recovery_reason(&own, &[Pnn(0)], &[ok(0)], false, false), Some(Reason::Membership { .. })));
        assert!(matches!(
            recovery_reason(&vnn(1, &[0, 1]), &active, &[ok(0)], false, false),
            Some(Reason::Membership { .. })
        ));
        let mut r = ok(1);
        r.recmode = RecMode::Active;
        assert_eq!(recovery_reason(&own, &active, &[ok(0), r], false, false), Some(Reason::InRecovery(Pnn(1))));
        let mut g = ok(1);
        g.vnnmap = vnn(8, &[0, 1]);
        assert_eq!(recovery_reason(&own, &active, &[ok(0), g], false, false), Some(Reason::GenerationMismatch(Pnn(1))));
    }

    #[test]
    fn generations_avoid_invalid_and_current() {
        for e in [0u64, 1, 7, u64::MAX, 0x1_0000_0001] {
            let g = next_generation(Generation(7), e);
            assert!(g != Generation::INVALID && g != Generation(7) && g.0 != 0);
        }
    }

    #[test]
    fn credits_ban_at_twice_the_node_count_and_expire() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(120);
        let mut c = Credits::default();
        c.blame(Pnn(1), 3, t0, grace);
        assert!(c.take_bannable(3).is_empty());
        c.blame(Pnn(1), 3, t0 + Duration::from_secs(10), grace);
        assert_eq!(c.take_bannable(3), vec![(Pnn(1), 6)]);
        assert_eq!(c.get(Pnn(1)), 0, "reset after the ban");
        c.blame(Pnn(2), 5, t0, grace);
        c.blame(Pnn(2), 1, t0 + Duration::from_secs(200), grace);
        assert_eq!(c.get(Pnn(2)), 1, "old credits forgotten after the grace period");
        c.forgive_all();
        assert_eq!(c.get(Pnn(2)), 0);
    }
}

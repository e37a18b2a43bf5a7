//! The node table: every node of the `nodes` file with its flags, as this
//! daemon sees them. Pure: the event loop applies transport verdicts and
//! reloads here and turns the returned changes into socket work.
//!
//! Flag rules (reference §3): every node starts UNHEALTHY; peers start
//! DISCONNECTED; this node clears its own DISCONNECTED and never sets it.
//! A dead peer gets DISCONNECTED|UNHEALTHY; a peer that connects loses
//! DISCONNECTED (its health arrives from the peer itself).

use rctdb_config::Nodes;
use rctdb_protocol::{NodeFlags, NodeInfo, NodeMap, Pnn};
use std::net::{IpAddr, Ipv4Addr};

/// One node's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSlot {
    pub pnn: Pnn,
    /// `None` for a deleted node.
    pub addr: Option<IpAddr>,
    pub flags: NodeFlags,
}

/// What a reload changes for the transport.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// Nodes to connect to (new, undeleted, or with a new address).
    pub added: Vec<Pnn>,
    /// Nodes whose connections must be closed (deleted or re-addressed).
    pub removed: Vec<Pnn>,
}

#[derive(Debug, Clone)]
pub struct NodeTable {
    own: Pnn,
    slots: Vec<NodeSlot>,
}

impl NodeTable {
    /// Build the table for node `own` from a parsed nodes file.
    pub fn new(nodes: &Nodes, own: Pnn) -> NodeTable {
        let slots = nodes
            .entries
            .iter()
            .map(|e| NodeSlot { pnn: e.pnn, addr: e.addr, flags: initial_flags(e.addr.is_none(), e.pnn == own) })
            .collect();
        NodeTable { own, slots }
    }

    pub fn own(&self) -> Pnn {
        self.own
    }

    pub fn get(&self, pnn: Pnn) -> Option<&NodeSlot> {
        self.slots.get(pnn.0 as usize)
    }

    /// Live peers: every node but this one that is not deleted.
    pub fn peers(&self) -> impl Iterator<Item = &NodeSlot> {
        self.slots.iter().filter(move |s| s.pnn != self.own && s.addr.is_some())
    }

    /// The peer with this private address.
    pub fn peer_by_addr(&self, addr: IpAddr) -> Option<Pnn> {
        self.peers().find(|s| s.addr == Some(addr)).map(|s| s.pnn)
    }

    pub fn flags(&self, pnn: Pnn) -> Option<NodeFlags> {
        self.get(pnn).map(|s| s.flags)
    }

    pub fn is_connected(&self, pnn: Pnn) -> bool {
        pnn == self.own || self.flags(pnn).is_some_and(|f| !f.intersects(NodeFlags::DISCONNECTED | NodeFlags::DELETED))
    }

    /// Number of connected peers plus this node.
    pub fn num_connected(&self) -> usize {
        self.slots.iter().filter(|s| s.addr.is_some() && self.is_connected(s.pnn)).count()
    }

    /// The transport says the peer is dead.
    pub fn mark_dead(&mut self, pnn: Pnn) {
        if let Some(s) = self.slot_mut(pnn) {
            s.flags.insert(NodeFlags::DISCONNECTED | NodeFlags::UNHEALTHY);
        }
    }

    /// The transport says the peer is connected.
    pub fn mark_connected(&mut self, pnn: Pnn) {
        if let Some(s) = self.slot_mut(pnn) {
            s.flags.remove(NodeFlags::DISCONNECTED);
        }
    }

    /// This node's own flags (never DISCONNECTED).
    pub fn own_flags(&self) -> NodeFlags {
        self.flags(self.own).unwrap_or_default()
    }

    /// Set this node's own flags; true if they changed.
    pub fn set_own_flags(&mut self, flags: NodeFlags) -> bool {
        let own = self.own.0 as usize;
        let Some(s) = self.slots.get_mut(own) else { return false };
        let mut flags = flags;
        flags.remove(NodeFlags::DISCONNECTED);
        let changed = s.flags != flags;
        s.flags = flags;
        changed
    }

    /// A peer announced its own flags. Each node is authoritative for its
    /// own flags except DISCONNECTED, which is our local view of the link.
    /// Returns the old flags if they changed.
    pub fn set_peer_flags(&mut self, pnn: Pnn, flags: NodeFlags) -> Option<NodeFlags> {
        let s = self.slot_mut(pnn)?;
        let mut new = flags;
        new.remove(NodeFlags::DISCONNECTED | NodeFlags::DELETED | NodeFlags::UNKNOWN);
        if s.flags.contains(NodeFlags::DISCONNECTED) {
            new.insert(NodeFlags::DISCONNECTED);
        }
        let old = s.flags;
        s.flags = new;
        (old != new).then_some(old)
    }

    pub fn node_map(&self) -> NodeMap {
        NodeMap {
            nodes: self
                .slots
                .iter()
                .map(|s| NodeInfo {
                    pnn: s.pnn,
                    addr: s.addr.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    flags: s.flags,
                })
                .collect(),
        }
    }

    /// Apply an edited nodes file. Refused if it would change this node's
    /// own address or delete it, or drop nodes off the end (renumbering).
    pub fn reload(&mut self, nodes: &Nodes) -> Result<ReloadPlan, String> {
        if nodes.entries.len() < self.slots.len() {
            let s = &self.slots[nodes.entries.len()];
            return Err(format!(
                "Node {} ({}) missing from nodes file: remove a node by commenting out its line",
                s.pnn,
                s.addr.map(|a| a.to_string()).unwrap_or_else(|| "deleted".into())
            ));
        }
        let own_now = self.get(self.own).and_then(|s| s.addr);
        let own_new = nodes.entries.get(self.own.0 as usize).and_then(|e| e.addr);
        if own_now != own_new {
            return Err(format!("this node (PNN {}) may not change its address or be deleted by a reload", self.own));
        }
        let mut plan = ReloadPlan::default();
        for e in &nodes.entries {
            match self.slots.get_mut(e.pnn.0 as usize) {
                Some(s) if s.addr == e.addr => {}
                Some(s) => {
                    if s.addr.is_some() {
                        plan.removed.push(s.pnn);
                    }
                    if e.addr.is_some() {
                        plan.added.push(s.pnn);
                    }
                    s.addr = e.addr;
                    s.flags = initial_flags(e.addr.is_none(), false);
                }
                None => {
                    self.slots.push(NodeSlot {
                        pnn: e.pnn,
                        addr: e.addr,
                        flags: initial_flags(e.addr.is_none(), false),
                    });
                    if e.addr.is_some() {
                        plan.added.push(e.pnn);
                    }
                }
            }
        }
        Ok(plan)
    }

    fn slot_mut(&mut self, pnn: Pnn) -> Option<&mut NodeSlot> {
        if pnn == self.own {
            return None;
        }
        self.slots.get_mut(pnn.0 as usize).filter(|s| s.addr.is_some())
    }
}

fn initial_flags(deleted: bool, own: bool) -> NodeFlags {
    if deleted {
        NodeFlags::DELETED
    } else if own {
        NodeFlags::UNHEALTHY
    } else {
        NodeFlags::DISCONNECTED | NodeFlags::UNHEALTHY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn nodes(text: &str) -> Nodes {
        Nodes::parse(text, Path::new("nodes")).expect("valid nodes")
    }

    #[test]
    fn initial_flags_follow_ctdb() {
        let t = NodeTable::new(&nodes("192.0.2.11\n#192.0.2.12\n192.0.2.13\n"), Pnn(0));
        let m = t.node_map();
        assert_eq!(m.nodes[0].flags, NodeFlags::UNHEALTHY);
        assert_eq!(m.nodes[1].flags, NodeFlags::DELETED);
        assert_eq!(m.nodes[1].addr.to_string(), "0.0.0.0");
        assert_eq!(m.nodes[2].flags, NodeFlags::DISCONNECTED | NodeFlags::UNHEALTHY);
        assert_eq!(t.peers().map(|s| s.pnn).collect::<Vec<_>>(), vec![Pnn(2)]);
    }

    #[test]
    fn own_node_is_never_disconnected() {
        let mut t = NodeTable::new(&nodes("192.0.2.11\n192.0.2.12\n"), Pnn(0));
        t.mark_dead(Pnn(0));
        assert_eq!(t.flags(Pnn(0)), Some(NodeFlags::UNHEALTHY));
        t.mark_connected(Pnn(1));
        assert!(t.is_connected(Pnn(1)));
        t.mark_dead(Pnn(1));
        assert!(!t.is_connected(Pnn(1)));
        assert_eq!(t.num_connected(), 1);
    }

    #[test]
    fn peers_own_their_flags_but_not_the_link_state() {
        let mut t = NodeTable::new(&nodes("192.0.2.11\n192.0.2.12\n"), Pnn(0));
        // Heard while we still think the link is down: kept, link bit stays.
        assert_eq!(t.set_peer_flags(Pnn(1), NodeFlags::empty()), Some(NodeFlags::DISCONNECTED | NodeFlags::UNHEALTHY));
        assert_eq!(t.flags(Pnn(1)), Some(NodeFlags::DISCONNECTED));
        t.mark_connected(Pnn(1));
        assert_eq!(t.flags(Pnn(1)), Some(NodeFlags::empty()));
        // A peer cannot claim to be disconnected or deleted.
        assert_eq!(t.set_peer_flags(Pnn(1), NodeFlags::DISCONNECTED | NodeFlags::DELETED), None);
        assert!(t.set_own_flags(NodeFlags::empty()));
        assert!(!t.set_own_flags(NodeFlags::DISCONNECTED));
        assert_eq!(t.own_flags(), NodeFlags::empty());
    }

    #[test]
    fn reload_adds_deletes_and_undeletes() {
        let mut t = NodeTable::new(&nodes("192.0.2.11\n192.0.2.12\n#192.0.2.13\n"), Pnn(0));
        let plan = t.reload(&nodes("192.0.2.11\n#192.0.2.12\n192.0.2.13\n192.0.2.14\n")).expect("reload");
        assert_eq!(plan, ReloadPlan { added: vec![Pnn(2), Pnn(3)], removed: vec![Pnn(1)] });
        assert_eq!(t.flags(Pnn(1)), Some(NodeFlags::DELETED));
        assert_eq!(t.flags(Pnn(3)), Some(NodeFlags::DISCONNECTED | NodeFlags::UNHEALTHY));
    }

    #[test]
    fn reload_refuses_renumbering_and_own_change() {
        let mut t = NodeTable::new(&nodes("192.0.2.11\n192.0.2.12\n"), Pnn(0));
        assert!(t.reload(&nodes("192.0.2.11\n")).is_err());
        assert!(t.reload(&nodes("192.0.2.21\n192.0.2.12\n")).is_err());
        assert!(t.reload(&nodes("192.0.2.11\n192.0.2.12\n")).expect("no change").added.is_empty());
    }
}

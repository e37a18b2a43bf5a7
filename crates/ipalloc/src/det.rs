//! Deterministic allocation (IPAllocAlgorithm = 0, §8.4.2): the i-th address of the merged
//! list belongs to node `i mod N` (or its `home_nodes` entry); addresses whose home node
//! cannot host them go to the least-covered node. No failback phase: addresses return home
//! by construction.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::state::State;
use crate::{Level, Pnn};

pub(crate) fn run(st: &mut State<'_>, home_nodes: &BTreeMap<IpAddr, Pnn>, no_ip_failback: bool) {
    st.log.emit(Level::Notice, format_args!("Deterministic IPs enabled. Resetting all ip allocations"));
    if st.n > 0 {
        for ip in 0..st.len() {
            let mut home = ip % st.n;
            if let Some(&pnn) = home_nodes.get(&st.addrs[ip]) {
                if (pnn.0 as usize) < st.n {
                    home = pnn.0 as usize;
                } else {
                    st.log.emit(Level::Warning, format_args!("pnn {} too large", pnn.0));
                }
            }
            st.set_owner(ip, Some(home));
        }
    }
    if no_ip_failback {
        st.log.emit(
            Level::Warning,
            format_args!("WARNING: 'NoIPFailback' set but ignored - incompatible with 'Deterministic IPs"),
        );
    }
    st.unassign_unsuitable();
    st.basic_allocate_unassigned();
}

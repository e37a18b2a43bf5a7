//! Non-deterministic allocation (IPAllocAlgorithm = 1, §8.4.1): fill unassigned addresses
//! by least coverage, then move addresses off the most-covered node until, for every
//! assigned address, the coverage of the nodes that could take it differs by at most one
//! (or the retry budget of #IPs + 5 is spent).

use crate::state::State;

pub(crate) fn run(st: &mut State<'_>, no_ip_failback: bool) {
    st.unassign_unsuitable();
    st.basic_allocate_unassigned();
    if no_ip_failback {
        return;
    }
    let budget = st.len() + 5;
    let mut retries = 0;
    'scan: loop {
        for ip in 0..st.len() {
            if st.owner[ip].is_none() {
                continue;
            }
            // First max (lowest PNN) and the min coverage over nodes that could take `ip`.
            let mut max: Option<(usize, u32)> = None;
            let mut min: Option<u32> = None;
            for node in 0..st.n {
                if !st.can_takeover(node, ip) {
                    continue;
                }
                let c = st.coverage[node];
                if max.is_none_or(|(_, m)| c > m) {
                    max = Some((node, c));
                }
                if min.is_none_or(|m| c < m) {
                    min = Some(c);
                }
            }
            let (Some((maxnode, maxnum)), Some(minnum)) = (max, min) else { continue };
            if maxnum > minnum + 1 && retries < budget {
                // Not necessarily `ip`: the first address in the list the max node holds.
                if let Some(first) = (0..st.len()).find(|&t| st.owner[t] == Some(maxnode)) {
                    if let Some(node) = st.find_takeover_node(first) {
                        st.set_owner(first, Some(node));
                    }
                }
                retries += 1;
                continue 'scan;
            }
        }
        break;
    }
}

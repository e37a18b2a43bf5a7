//! Properties the specification guarantees, over random inputs, plus the u32 wrap-around
//! of LCP2's costs on a large node.

use std::collections::BTreeSet;
use std::net::IpAddr;

use proptest::prelude::*;
use rctdb_ipalloc::{allocate, allocate_filtered, Algorithm, Input, Level, NodeIps, Pnn};

fn pool() -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = (1..=16).map(|i| format!("192.168.1.{}", i * 13 % 256).parse().unwrap()).collect();
    v.extend((1..=4).map(|i| format!("10.{i}.0.1").parse::<IpAddr>().unwrap()));
    v.extend(["2001:db8::1", "2001:db8::2", "2001:db8:1::7", "fe80::9"].iter().map(|s| s.parse::<IpAddr>().unwrap()));
    v
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![Just(Algorithm::Deterministic), Just(Algorithm::NonDeterministic), Just(Algorithm::Lcp2)]
}

/// Random cluster: per node, a subset of the pool (with a claimed owner each) and an
/// available subset of that.
fn input() -> impl Strategy<Value = Input> {
    (1usize..=6, algorithm(), any::<bool>(), any::<bool>()).prop_flat_map(|(n, algorithm, no_failback, no_takeover)| {
        let len = pool().len();
        let node = proptest::collection::vec((any::<bool>(), -1i64..=(n as i64), any::<bool>()), len);
        (
            proptest::collection::vec(node, n),
            proptest::collection::vec(0u32..(n as u32 + 1), 0..3),
            proptest::collection::btree_map(0..len, 0u32..(n as u32 + 2), 0..4),
        )
            .prop_map(move |(nodes, force, homes)| {
                let pool = pool();
                let nodes = nodes
                    .into_iter()
                    .map(|spec| {
                        let mut ips = NodeIps::default();
                        for (i, (has, owner, avail)) in spec.into_iter().enumerate() {
                            if has {
                                let owner = if owner < 0 { Pnn::UNKNOWN } else { Pnn(owner as u32) };
                                ips.known.push((pool[i], owner));
                                if avail {
                                    ips.available.push(pool[i]);
                                }
                            }
                        }
                        ips
                    })
                    .collect();
                Input {
                    algorithm,
                    no_ip_failback: no_failback,
                    no_ip_takeover: no_takeover,
                    nodes,
                    force_rebalance: force.into_iter().map(Pnn).collect(),
                    home_nodes: homes.into_iter().map(|(i, p)| (pool[i], Pnn(p))).collect(),
                }
            })
    })
}

/// Every IP available on every node, all nodes healthy, owners arbitrary.
fn healthy_input() -> impl Strategy<Value = Input> {
    (1usize..=6, 1usize..=24, prop_oneof![Just(Algorithm::Deterministic), Just(Algorithm::NonDeterministic)])
        .prop_flat_map(|(n, count, algorithm)| {
            proptest::collection::vec(-1i64..(n as i64), count).prop_map(move |owners| {
                let pool = pool();
                let known: Vec<(IpAddr, Pnn)> = owners
                    .iter()
                    .enumerate()
                    .map(|(i, &o)| (pool[i], if o < 0 { Pnn::UNKNOWN } else { Pnn(o as u32) }))
                    .collect();
                let node = NodeIps { available: known.iter().map(|(ip, _)| *ip).collect(), known };
                Input { algorithm, nodes: vec![node; n], ..Input::default() }
            })
        })
}

type Allocation = Vec<(IpAddr, Option<Pnn>)>;

fn run(input: &Input) -> (Allocation, Vec<(Level, String)>) {
    let mut log = Vec::new();
    let out = allocate(input, &mut |l, s| log.push((l, s.to_string())));
    (out, log)
}

/// The merged list's starting owner: the highest node claiming the IP for itself.
fn initial_owner(input: &Input, ip: IpAddr) -> Option<usize> {
    (0..input.nodes.len()).rev().find(|&n| input.nodes[n].known.contains(&(ip, Pnn(n as u32))))
}

fn can_host(input: &Input, node: usize, ip: IpAddr) -> bool {
    input.nodes[node].available.contains(&ip)
}

fn key(ip: &IpAddr) -> [u32; 4] {
    match ip {
        IpAddr::V4(a) => [0, 0, 0, u32::from(*a)],
        IpAddr::V6(a) => {
            let s = a.segments().map(u32::from);
            [s[0] << 16 | s[1], s[2] << 16 | s[3], s[4] << 16 | s[5], s[6] << 16 | s[7]]
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_known_ip_once_in_descending_order(input in input()) {
        let (out, _) = run(&input);
        let known: BTreeSet<IpAddr> = input.nodes.iter().flat_map(|n| n.known.iter().map(|(ip, _)| *ip)).collect();
        let listed: Vec<IpAddr> = out.iter().map(|(ip, _)| *ip).collect();
        prop_assert_eq!(listed.iter().copied().collect::<BTreeSet<_>>(), known);
        prop_assert!(listed.windows(2).all(|w| key(&w[0]) > key(&w[1])), "order: {:?}", listed);
    }

    #[test]
    fn owners_can_host_their_ips(input in input()) {
        let (out, _) = run(&input);
        for (ip, owner) in out {
            if let Some(p) = owner {
                prop_assert!((p.0 as usize) < input.nodes.len());
                prop_assert!(can_host(&input, p.0 as usize, ip), "{} given to {} which cannot host it", ip, p);
            }
        }
    }

    /// An IP stays unhosted only if no node can take it (unless NoIPTakeover).
    #[test]
    fn unhosted_only_when_nobody_can_take_it(mut input in input()) {
        input.no_ip_takeover = false;
        let (out, _) = run(&input);
        for (ip, owner) in out {
            if owner.is_none() {
                prop_assert!((0..input.nodes.len()).all(|n| !can_host(&input, n, ip)), "{} left unhosted", ip);
            }
        }
    }

    /// NoIPTakeover: no IP gains an owner; an IP keeps its owner exactly when that owner
    /// can still host it. (Not for the deterministic algorithm, which resets every owner to
    /// its home node before releasing unsuitable ones, §8.4.2.)
    #[test]
    fn no_ip_takeover_never_gives_an_ip_a_new_owner(mut input in input(), lcp2 in any::<bool>()) {
        input.no_ip_takeover = true;
        input.algorithm = if lcp2 { Algorithm::Lcp2 } else { Algorithm::NonDeterministic };
        let (out, _) = run(&input);
        for (ip, owner) in out {
            let before = initial_owner(&input, ip).filter(|&n| can_host(&input, n, ip));
            prop_assert_eq!(owner.map(|p| p.0 as usize), before, "{}", ip);
        }
    }

    /// NoIPFailback (LCP2, non-deterministic): an IP whose owner can still host it stays.
    #[test]
    fn no_ip_failback_keeps_hostable_ips(mut input in input(), lcp2 in any::<bool>()) {
        input.no_ip_failback = true;
        input.algorithm = if lcp2 { Algorithm::Lcp2 } else { Algorithm::NonDeterministic };
        let (out, _) = run(&input);
        for (ip, owner) in out {
            if let Some(before) = initial_owner(&input, ip).filter(|&n| can_host(&input, n, ip)) {
                prop_assert_eq!(owner, Some(Pnn(before as u32)), "{} moved", ip);
            }
        }
    }

    /// All nodes healthy, every IP everywhere: the deterministic (i mod N) and the
    /// non-deterministic (rebalance to max - min <= 1, budget #IPs + 5 suffices) algorithms
    /// balance node coverage to within one. LCP2 balances by distance and guarantees no
    /// count bound, so it is not checked.
    #[test]
    fn det_and_nondet_balance_healthy_clusters(input in healthy_input()) {
        let (out, _) = run(&input);
        let mut coverage = vec![0usize; input.nodes.len()];
        for (_, owner) in &out {
            coverage[owner.expect("every IP is hostable").0 as usize] += 1;
        }
        let (min, max) = (coverage.iter().min().unwrap(), coverage.iter().max().unwrap());
        prop_assert!(max - min <= 1, "coverage {:?}", coverage);
    }

    /// Same input, same result and same log; the level filter changes only the log.
    #[test]
    fn deterministic_and_level_independent(input in input(), level in 0usize..5) {
        let (out1, log1) = run(&input);
        let (out2, log2) = run(&input);
        prop_assert_eq!(&out1, &out2);
        prop_assert_eq!(&log1, &log2);
        let max = Level::ALL[level];
        let mut filtered = Vec::new();
        let out3 = allocate_filtered(&input, max, &mut |l, s| filtered.push((l, s.to_string())));
        prop_assert_eq!(&out1, &out3);
        let expected: Vec<_> = log1.into_iter().filter(|(l, _)| l.value() <= max.value()).collect();
        prop_assert_eq!(filtered, expected);
    }
}

/// Larger LCP2 clusters: addresses from a few subnets (many equal costs, so ties matter),
/// random owners and availability.
fn big_lcp2_input() -> impl Strategy<Value = Input> {
    (1usize..=8).prop_flat_map(|n| {
        let ip = (0u32..4, 0u32..256).prop_map(|(net, host)| IpAddr::V4((0x0A00_0000 | net << 8 | host).into()));
        let spec = (-1i64..(n as i64), proptest::collection::vec(0u8..4, n));
        (proptest::collection::btree_map(ip, spec, 1..160), proptest::collection::vec(0u32..(n as u32), 0..2)).prop_map(
            move |(ips, force)| {
                let mut nodes = vec![NodeIps::default(); n];
                for (ip, (owner, per_node)) in ips {
                    for (k, mode) in per_node.into_iter().enumerate() {
                        // 0: not configured, 1: configured, 2-3: configured and available.
                        if mode > 0 {
                            let owner = if owner < 0 { Pnn::UNKNOWN } else { Pnn(owner as u32) };
                            nodes[k].known.push((ip, owner));
                            if mode > 1 {
                                nodes[k].available.push(ip);
                            }
                        }
                    }
                }
                Input { nodes, force_rebalance: force.into_iter().map(Pnn).collect(), ..Input::default() }
            },
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Without DEBUG, LCP2 fills unassigned addresses through a lazy heap instead of CTDB's
    /// full scan; both must make the same choices in the same order.
    #[test]
    fn lcp2_lazy_fill_matches_the_full_scan(input in big_lcp2_input()) {
        let (full, log) = run(&input);
        let mut info = Vec::new();
        let lazy = allocate_filtered(&input, Level::Info, &mut |l, s| info.push((l, s.to_string())));
        prop_assert_eq!(full, lazy);
        let expected: Vec<_> = log.into_iter().filter(|(l, _)| *l != Level::Debug).collect();
        prop_assert_eq!(info, expected);
    }
}

/// LCP2 costs are CTDB's uint32_t: a node holding 600 addresses of one /22 has an imbalance
/// above 2³¹, printed by `%d` as a negative number.
#[test]
fn lcp2_imbalance_wraps_like_uint32() {
    let ips: Vec<IpAddr> = (0..600u32).map(|i| IpAddr::V4((0x0A00_0000 + i).into())).collect();
    let busy = NodeIps { known: ips.iter().map(|ip| (*ip, Pnn(1))).collect(), available: ips.clone() };
    let input = Input { nodes: vec![busy.clone(), busy], ..Input::default() };
    // The true imbalance of node 1, computed independently in u64.
    let mut total: u64 = 0;
    for (i, a) in ips.iter().enumerate() {
        for b in &ips[i + 1..] {
            let (IpAddr::V4(a), IpAddr::V4(b)) = (a, b) else { unreachable!() };
            let d = 96 + u64::from((u32::from(*a) ^ u32::from(*b)).leading_zeros());
            total += d * d;
        }
    }
    assert!(total > i32::MAX as u64 && total < u32::MAX as u64, "{total}");
    let wrapped = total as u32 as i32;
    assert!(wrapped < 0);
    let mut lines = Vec::new();
    let out = allocate_filtered(&input, Level::Debug, &mut |_, s| {
        if lines.len() < 8 {
            lines.push(s.to_string())
        }
    });
    assert_eq!(
        lines[3..6],
        ["+".repeat(41), "Selecting most imbalanced node from:".to_string(), format!(" 1 [{wrapped}]")]
    );
    // Node 0 was empty and healthy: it receives a share.
    let on0 = out.iter().filter(|(_, o)| *o == Some(Pnn(0))).count();
    assert!(on0 > 0 && on0 < 600, "{on0}");
}

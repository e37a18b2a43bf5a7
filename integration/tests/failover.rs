//! Scenario tests of public-address failover (issue 5), on real rctdbd
//! processes in network namespaces with the stock event scripts: what
//! docs/developer.md ("Public addresses"), docs/recovery.md and the
//! reference's §8 / §10.6 promise.
//!
//! Every node has a second interface, pub0, on a "public" bridge, and the
//! same six public addresses 198.51.100.1-6/24 on it; a client host
//! (198.51.100.200) sits on that bridge. Assertions are against the KERNEL
//! (`ip -n NS -o -4 addr show dev pub0` in every namespace) and `rctdb -X ip
//! all` on every live node: each address on exactly one namespace, the one
//! every node names as its owner (`PubCluster::check_placement`). See
//! `rctdb_integration::failover`.
//!
//! The kill and link tests also run a sampler that reads every namespace's
//! pub0 every 20 ms and checks the design's invariant 1: an address may be
//! on two namespaces only while the takeover run that moves it is in
//! flight (takeover runs are read from the daemons' logs). Transient
//! overlaps are printed.
//!
//! Needs root and `cargo build --workspace --bins` first. Deadlines are
//! generous (a loaded 2-core machine runs several clusters at once); the
//! benchmark `bench_failover` measures the times.

use rctdb_integration::describe;
use rctdb_integration::failover::{self, ArpCapture, PubCluster, Sampler, Setup, CLIENT_ADDR};
use rctdb_protocol::NodeFlags;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

const ALL3: [usize; 3] = [0, 1, 2];
/// Start to every address placed: election, recovery, startup, the first
/// monitor 2 s after it, takeover runs.
const CONVERGE: Duration = Duration::from_secs(60);
/// After a fault, for states with no stated bound.
const GENEROUS: Duration = Duration::from_secs(30);
/// RecoverInterval (default 1 s).
const RECOVER_INTERVAL: Duration = Duration::from_secs(1);
/// Added to stated times on a loaded machine.
const SLACK: Duration = Duration::from_secs(3);
const SAMPLE_PERIOD: Duration = Duration::from_millis(20);

// ---------------------------------------------------------------- helpers

#[track_caller]
fn assert_success(o: &Output, what: &str) {
    assert!(o.status.success(), "{what} failed\n{}", describe(o));
}

fn start3() -> PubCluster {
    Setup::new(3, 6).start()
}

fn others(of: usize) -> Vec<usize> {
    ALL3.iter().copied().filter(|&i| i != of).collect()
}

/// Addresses held by host `i` according to `owners`.
fn held_by(owners: &BTreeMap<Ipv4Addr, usize>, i: usize) -> Vec<Ipv4Addr> {
    owners.iter().filter(|(_, o)| **o == i).map(|(a, _)| *a).collect()
}

/// Start the invariant sampler on every host of `pc`.
fn sampler(pc: &PubCluster) -> Sampler {
    Sampler::start(&pc.namespaces(), SAMPLE_PERIOD).expect("start the kernel sampler")
}

/// Stop `s`, print transient overlaps, panic on a violation of invariant 1.
fn check_sampled_invariant(pc: &PubCluster, s: Sampler, what: &str) {
    let (changes, end) = s.stop();
    let found = failover::overlaps(&changes, end);
    let runs = pc.takeover_runs();
    let (bad, transient) = failover::check_invariant(&found, &runs, SAMPLE_PERIOD * 2);
    eprintln!(
        "{what}: sampled {} changes of the hosts' public addresses; {} overlaps while a takeover run was in flight",
        changes.len(),
        transient.len()
    );
    for t in &transient {
        eprintln!("  transient overlap: {t}");
    }
    if !bad.is_empty() {
        let runs: Vec<String> =
            runs.iter().map(|r| format!("node {} {:?} .. {:?} ok={}", r.node, r.start, r.end, r.ok)).collect();
        panic!(
            "{}",
            pc.report(&format!(
                "{what}: invariant 1 violated (address on two hosts after the takeover run finished):\n{}\ntakeover runs:\n{}",
                bad.join("\n"),
                runs.join("\n")
            ))
        );
    }
}

/// Wait until every node is healthy and every address is placed, each
/// node holding at least one.
/// Then wait for the takeover runs to calm down ([`quiesce`]) and check
/// again.
fn converge_spread(pc: &PubCluster, nodes: &[usize]) -> BTreeMap<Ipv4Addr, usize> {
    pc.wait_healthy(nodes, CONVERGE);
    let spread = || {
        let owners = pc.check_placement(nodes, &pc.addrs)?;
        for &i in nodes {
            if held_by(&owners, i).is_empty() {
                return Err(format!("node {i} holds no address: {owners:?}"));
            }
        }
        Ok(owners)
    };
    pc.wait_until(CONVERGE, "every address placed and every node holding one", spread);
    quiesce(pc);
    pc.wait_until(GENEROUS, "every address placed and every node holding one (after the runs)", spread)
}

/// Wait until no takeover run has started or ended for 0.7 s, so that a
/// fault does not land in the middle of one (the tests that are about
/// that say so).
fn quiesce(pc: &PubCluster) {
    pc.wait_until(GENEROUS, "no takeover run for 0.7 s", || {
        let now = std::time::SystemTime::now();
        for i in ALL3 {
            // "Takeover run starting", "... completed ...", "... unsuccessful".
            for (t, _) in failover::log_lines(&pc.node(i).log_text(), "Takeover run") {
                if now.duration_since(t).unwrap_or_default() < Duration::from_millis(700) {
                    return Err(format!("node {i} logged a takeover run less than 0.7 s ago"));
                }
            }
        }
        Ok(())
    });
}

fn flags_of(pc: &PubCluster, observer: usize, target: usize) -> NodeFlags {
    pc.flags_seen_by(observer, target).unwrap_or_else(|e| panic!("{e}"))
}

// ------------------------------------------------------------------ tests

/// §10.6 pubips.001: after start every address is on exactly one
/// namespace, `rctdb ip all` on every node agrees with the kernel (human
/// and -X forms), and LCP2 gives every node some.
#[test]
fn issue5_addresses_spread_and_cli_agrees_with_kernel() {
    let pc = start3();
    let owners = converge_spread(&pc, &ALL3);
    let counts: Vec<usize> = ALL3.iter().map(|&i| held_by(&owners, i).len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 6);
    assert!(counts.iter().all(|&c| c == 2), "LCP2 spreads 6 addresses 2/2/2 on 3 equal nodes: {counts:?}");
    for &i in &ALL3 {
        // Human form: "Public IPs on ALL nodes" then "ADDR PNN" rows, same
        // content as -X.
        let out = pc.node(i).cli(&["ip", "all"]);
        assert_success(&out, "rctdb ip all");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("Public IPs on ALL nodes"), "{text}");
        let rows: BTreeMap<Ipv4Addr, usize> = lines
            .map(|l| {
                let (a, o) = l.split_once(' ').unwrap_or_else(|| panic!("row {l:?}"));
                (a.parse().unwrap(), o.parse().unwrap())
            })
            .collect();
        assert_eq!(rows, owners, "node {i}: `rctdb ip all` vs the kernel");
        // Own view: every address known, the same owners.
        let own = pc.cli_ip(i).unwrap();
        let want: BTreeMap<Ipv4Addr, i64> = owners.iter().map(|(a, o)| (*a, *o as i64)).collect();
        assert_eq!(own, want, "node {i}: `rctdb ip` (own view)");
        // -v names the interface the address is active on (pub0) for
        // every address.
        let out = pc.node(i).cli(&["ip", "all", "-v"]);
        assert_success(&out, "rctdb ip all -v");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        for a in &pc.addrs {
            let line = text.lines().find(|l| l.starts_with(&format!("{a} "))).unwrap_or_else(|| panic!("{a}: {text}"));
            assert!(
                line.contains(&format!("node[{}]", owners[a])) && line.contains("active[pub0]"),
                "node {i}: {line:?}"
            );
        }
    }
}

/// Kill -9 `victim` (leader or not) and check that its addresses end up on
/// the survivors, each once, nothing on the dead node's namespace (its
/// recovery daemon removes them), the survivors keep theirs, and invariant
/// 1 held throughout.
fn kill9_moves_addresses(kill_leader: bool) {
    let pc = start3();
    let before = converge_spread(&pc, &ALL3);
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    let victim = if kill_leader { leader } else { (leader + 1) % 3 };
    let moved = held_by(&before, victim);
    let survivors = others(victim);
    let s = sampler(&pc);
    let t0 = Instant::now();
    pc.kill9(victim);
    let after = pc.wait_placement(&survivors, GENEROUS);
    let took = t0.elapsed();
    eprintln!("kill -9 of node {victim} (leader: {kill_leader}): its addresses {moved:?} placed on {survivors:?} after {took:?}");
    for (a, o) in &before {
        if *o != victim {
            assert_eq!(after[a], *o, "{a} moved between two surviving nodes (LCP2 never does)");
        }
    }
    if kill_leader {
        let l = pc.wait_leader(&survivors, GENEROUS);
        assert_ne!(l, victim);
    }
    // The dead node's recovery daemon removed them.
    let log = pc.node(victim).log_text();
    for a in &moved {
        assert!(
            log.contains(&format!("rctdbd is gone: removed public address {a} from pub0")),
            "node {victim}'s recovery daemon did not log removing {a}:\n{}",
            pc.node(victim).log_tail(30)
        );
    }
    // Stay put: let the sampler see the steady state for a while.
    thread::sleep(Duration::from_secs(2));
    pc.check_placement(&survivors, &pc.addrs).unwrap_or_else(|e| panic!("{}", pc.report(&e)));
    check_sampled_invariant(&pc, s, &format!("kill -9 of node {victim}"));
}

#[test]
fn issue5_kill9_non_leader_moves_its_addresses() {
    kill9_moves_addresses(false);
}

#[test]
fn issue5_kill9_leader_moves_its_addresses() {
    kill9_moves_addresses(true);
}

/// When rctdbd dies, its recovery daemon removes every public address
/// the node holds, one by one, each logged as removed
/// (`crates/recoverd/src/takeover.rs` `drop_public_addresses`).
#[test]
fn issue5_dead_nodes_recoverd_removes_each_address_cleanly() {
    let pc = start3();
    let before = converge_spread(&pc, &ALL3);
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    let victim = (leader + 1) % 3;
    let held = held_by(&before, victim);
    assert!(held.len() >= 2, "node {victim} holds {held:?}: the case needs two addresses on pub0");
    // The kernel's default in a new namespace (and on many hosts); the
    // stock releaseip sets it to 1 on pub0 before deleting, so a node that
    // never released an address still has 0.
    let out = pc.exec_in(victim, &["sysctl", "-w", "net.ipv4.conf.pub0.promote_secondaries=0"]);
    assert_success(&out, "sysctl promote_secondaries=0");
    pc.kill9(victim);
    pc.wait_placement(&others(victim), GENEROUS);
    thread::sleep(Duration::from_millis(500));
    let log = pc.node(victim).log_text();
    for a in &held {
        assert!(
            log.contains(&format!("rctdbd is gone: removed public address {a} from pub0")),
            "node {victim}'s recovery daemon did not log removing {a}:\n{}",
            pc.node(victim).log_tail(20)
        );
    }
    assert!(!log.contains("failed to remove public address"), "{}", pc.node(victim).log_tail(20));
}

/// Deterministic form of a race once seen in issue5_kill9_* (fixed in
/// 732fbef): rctdbd dies while
/// its recovery daemon waits for the answer to a control (here: rctdbd is
/// stopped, so the recovery daemon's node-map request of each pass waits
/// its 0.5 s timeout; rctdbd is killed in the middle of one). The
/// recovery daemon must still remove the node's public addresses, or the
/// dead node keeps answering on the addresses the survivors take over.
#[test]
fn issue5_recoverd_removes_addresses_when_rctdbd_dies_during_a_control() {
    // Slow keepalive: the peers must not declare the stopped node dead
    // (and take its addresses) before it is killed.
    let pc = Setup::new(3, 6).tunable("KeepaliveInterval", "3").start();
    let before = converge_spread(&pc, &ALL3);
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    let victim = (leader + 1) % 3;
    let held = held_by(&before, victim);
    let mark = pc.node(victim).log_text().len();
    pc.sigstop(victim);
    pc.wait_until(GENEROUS, "the recovery daemon to find rctdbd not answering", || {
        let log = pc.node(victim).log_text();
        if log[mark..].contains("rctdbd does not answer") {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    // Its next pass starts RecoverInterval (1 s) later and waits 0.5 s.
    thread::sleep(Duration::from_millis(1250));
    pc.kill9(victim);
    thread::sleep(Duration::from_secs(1));
    let left = pc.kernel_addrs(victim).unwrap();
    assert!(
        left.is_empty(),
        "{}",
        pc.report(&format!("node {victim}'s rctdbd is dead but its namespace still holds {left:?} (it held {held:?})"))
    );
    pc.wait_placement(&others(victim), GENEROUS);
}

/// A killed node that comes back gets addresses again (LCP2 moves some to
/// a node that holds none).
#[test]
fn issue5_restarted_node_gets_addresses_back() {
    let pc = start3();
    converge_spread(&pc, &ALL3);
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    let victim = (leader + 1) % 3;
    pc.kill9(victim);
    pc.wait_placement(&others(victim), GENEROUS);
    let t0 = Instant::now();
    pc.start_node(victim);
    let owners = converge_spread(&pc, &ALL3);
    eprintln!("node {victim} restarted: holds {:?} after {:?}", held_by(&owners, victim), t0.elapsed());
}

/// NoIPFailback=1 (reference §8.5): a node that comes back stays empty
/// until an explicit `moveip`.
#[test]
fn issue5_no_ip_failback_keeps_restarted_node_empty_until_moveip() {
    let pc = Setup::new(3, 6).tunable("NoIPFailback", "1").start();
    pc.wait_healthy(&ALL3, CONVERGE);
    let before = pc.wait_placement(&ALL3, CONVERGE);
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    // A non-leader that holds something, if there is one.
    let candidates: Vec<usize> = others(leader);
    let victim = candidates.iter().copied().find(|&i| !held_by(&before, i).is_empty()).unwrap_or(candidates[0]);
    quiesce(&pc);
    pc.kill9(victim);
    pc.wait_placement(&others(victim), GENEROUS);
    pc.start_node(victim);
    pc.wait_healthy(&ALL3, CONVERGE);
    // Several recovery passes, monitors and the takeover run after the
    // node's recovery: it must stay empty.
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        let owners = pc.check_placement(&others(victim), &pc.addrs).unwrap_or_else(|e| {
            panic!("{}", pc.report(&format!("with NoIPFailback=1 the restarted node {victim} got addresses: {e}")))
        });
        assert_eq!(owners.len(), 6);
        thread::sleep(Duration::from_millis(200));
    }
    // moveip puts one there, and it stays (no failback either way).
    quiesce(&pc);
    let a = pc.addrs[0];
    let out = pc.node(leader).cli(&["moveip", &a.to_string(), &victim.to_string()]);
    assert_success(&out, "rctdb moveip");
    let owners = pc.wait_placement(&ALL3, GENEROUS);
    assert_eq!(owners[&a], victim, "{owners:?}");
    thread::sleep(Duration::from_secs(4));
    let owners = pc.check_placement(&ALL3, &pc.addrs).unwrap_or_else(|e| panic!("{}", pc.report(&e)));
    assert_eq!(owners[&a], victim, "moved back without failback: {owners:?}");
    assert_eq!(held_by(&owners, victim), vec![a]);
}

/// `ip addr flush dev pub0` on a node: local IP verification sees its
/// addresses missing and asks for a takeover run, which puts them back on
/// that node within two recovery intervals (+ slack).
#[test]
fn issue5_flushed_addresses_come_back_on_the_same_node() {
    let pc = start3();
    let before = converge_spread(&pc, &ALL3);
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    for victim in [(leader + 1) % 3, leader] {
        let held = held_by(&before, victim);
        let t0 = Instant::now();
        pc.ip_in(victim, &["-4", "addr", "flush", "dev", "pub0"]).unwrap();
        assert!(pc.kernel_addrs(victim).unwrap().is_empty(), "flush left addresses");
        let limit = RECOVER_INTERVAL * 2 + SLACK;
        let after = pc.wait_placement(&ALL3, limit);
        eprintln!("node {victim}: {held:?} back after {:?} (limit {limit:?})", t0.elapsed());
        assert_eq!(after, before, "the addresses must come back where they were");
        let log = pc.node(victim).log_text();
        assert!(log.contains("not on an interface"), "node {victim} did not log the missing addresses");
    }
}

/// The public link goes down (pub0 loses carrier; the node stays in the
/// cluster): 10.interface's monitor fails and reports the link down, the
/// node becomes UNHEALTHY and its addresses move; link up ⇒ healthy again
/// and (LCP2) it gets addresses back. Invariant 1 sampled throughout.
#[test]
fn issue5_public_link_down_moves_addresses_and_back() {
    let pc = start3();
    converge_spread(&pc, &ALL3);
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    let victim = (leader + 1) % 3;
    let s = sampler(&pc);
    let t0 = Instant::now();
    pc.public_link_down(victim);
    pc.wait_until(GENEROUS, &format!("node {victim} UNHEALTHY everywhere"), || {
        for i in ALL3 {
            let f = pc.flags_seen_by(i, victim)?;
            if !f.contains(NodeFlags::UNHEALTHY) || f.contains(NodeFlags::DISCONNECTED) {
                return Err(pc.view(&ALL3));
            }
        }
        Ok(())
    });
    pc.wait_placement(&others(victim), GENEROUS);
    eprintln!("public link of node {victim} down: addresses moved after {:?}", t0.elapsed());
    // The interface is reported down to rctdbd (rctdb ifaces).
    let out = pc.node(victim).cli(&["-X", "ifaces"]);
    assert_success(&out, "rctdb -X ifaces");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.lines().any(|l| l.starts_with("|pub0|0|")), "pub0 not reported down:\n{text}");
    let out = pc.node(victim).cli(&["scriptstatus"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("10.interface") && text.contains("ERROR"), "scriptstatus:\n{text}");
    // Still in the cluster.
    assert!(!flags_of(&pc, leader, victim).contains(NodeFlags::DISCONNECTED));

    let t1 = Instant::now();
    pc.public_link_up(victim);
    let owners = converge_spread(&pc, &ALL3);
    eprintln!(
        "public link of node {victim} up: healthy and holding {:?} after {:?}",
        held_by(&owners, victim),
        t1.elapsed()
    );
    let out = pc.node(victim).cli(&["-X", "ifaces"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.lines().any(|l| l.starts_with("|pub0|1|")), "pub0 not reported up:\n{text}");
    thread::sleep(Duration::from_secs(1));
    check_sampled_invariant(&pc, s, &format!("public link of node {victim} down and up"));
}

/// §10.6 .020: with NoIPFailback=1, `moveip` moves an address to another
/// node that has it configured, and it stays there; a node that does not
/// know the address cannot take it.
#[test]
fn issue5_moveip_moves_an_address() {
    let pc = Setup::new(3, 6).tunable("NoIPFailback", "1").start();
    pc.wait_healthy(&ALL3, CONVERGE);
    pc.wait_placement(&ALL3, CONVERGE);
    // Not while a node's arrival is still being handled (see
    // issue5_moveip_is_not_undone_by_a_concurrent_takeover_run).
    quiesce(&pc);
    let before = pc.wait_placement(&ALL3, GENEROUS);
    let (&a, &from) = before.iter().next().unwrap();
    let to = (from + 1) % 3;
    let out = pc.node(to).cli(&["moveip", &a.to_string(), &to.to_string()]);
    assert_success(&out, "rctdb moveip");
    let after = pc.wait_placement(&ALL3, GENEROUS);
    assert_eq!(after[&a], to, "{after:?}");
    for (b, o) in &before {
        if *b != a {
            assert_eq!(after[b], *o, "moveip of {a} moved {b} too");
        }
    }
    thread::sleep(Duration::from_secs(3));
    let later = pc.check_placement(&ALL3, &pc.addrs).unwrap_or_else(|e| panic!("{}", pc.report(&e)));
    assert_eq!(later, after, "NoIPFailback=1: nothing may move back");
    // An address the target does not know.
    let out = pc.node(0).cli(&["moveip", "198.51.100.99", "1"]);
    assert!(!out.status.success(), "moveip of an unknown address succeeded\n{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Node 1 CANNOT host IP address 198.51.100.99"), "{err}");
}

/// `moveip` must not race with takeover runs (CTDB disables them on
/// every node for the move, reference §8.8). Here the target's `takeip`
/// takes 1.5 s (a slow script, well inside EventScriptTimeout), so the
/// leader's passes see the address released and not yet claimed while
/// the move is in flight.
#[test]
fn issue5_moveip_is_not_undone_by_a_concurrent_takeover_run() {
    let pc = Setup::new(3, 6).tunable("NoIPFailback", "1").start();
    pc.wait_healthy(&ALL3, CONVERGE);
    pc.wait_placement(&ALL3, CONVERGE);
    quiesce(&pc);
    let before = pc.wait_placement(&ALL3, GENEROUS);
    // A move whose address LCP2 would give to a third node if it found it
    // unassigned (the node with the smallest sum of squared distances to
    // its addresses; ties to the lowest PNN), so that the outcome shows.
    let (a, from, to) = before
        .iter()
        .flat_map(|(&a, &from)| others(from).into_iter().map(move |to| (a, from, to)))
        .find(|&(a, _, to)| {
            let pick = ALL3.iter().copied().min_by_key(|&n| (lcp2_dsum(&before, a, n), n)).unwrap();
            pick != to
        })
        .expect("some move would be visible");
    eprintln!("moving {a} from node {from} to node {to}; placement {before:?}");
    rctdb_integration::scripts::install(
        pc.node(to),
        "11.slowtake",
        "#!/bin/sh\n[ \"$1\" = takeip ] && sleep 1.5\nexit 0\n",
    );
    let s = sampler(&pc);
    let runs_before = pc.takeover_runs().len();
    let out = pc.node(to).cli(&["moveip", &a.to_string(), &to.to_string()]);
    assert_success(&out, "rctdb moveip");
    thread::sleep(Duration::from_secs(3));
    let after = pc.check_placement(&ALL3, &pc.addrs).unwrap_or_else(|e| panic!("{}", pc.report(&e)));
    let runs: Vec<_> = pc.takeover_runs().into_iter().skip(runs_before).collect();
    let (changes, end) = s.stop();
    let found = failover::overlaps(&changes, end);
    assert!(
        after[&a] == to && runs.iter().all(|r| r.ok) && found.is_empty(),
        "{}",
        pc.report(&format!(
            "moveip {a} {to}: now on node {}; takeover runs during the move: {runs:?}; overlaps: {found:?}",
            after[&a]
        ))
    );
}

/// LCP2's `dsum(ip, n)` (reference §8.3) over `owners`, IPv4.
fn lcp2_dsum(owners: &BTreeMap<Ipv4Addr, usize>, ip: Ipv4Addr, n: usize) -> u64 {
    owners
        .iter()
        .filter(|(x, o)| **o == n && **x != ip)
        .map(|(x, _)| {
            let d = 96 + u64::from((u32::from(ip) ^ u32::from(*x)).leading_zeros());
            d * d
        })
        .sum()
}

/// §10.6 .010/.011: `delip` on every node removes an address from the
/// kernel and from every list; `addip` on one node makes it hosted there;
/// `delip` there removes it again; a new address added on every node gets
/// hosted exactly once.
#[test]
fn issue5_addip_and_delip() {
    let pc = start3();
    let before = converge_spread(&pc, &ALL3);
    let a = pc.addrs[0];
    let owner = before[&a];
    let rest: Vec<Ipv4Addr> = pc.addrs[1..].to_vec();
    // Delete it everywhere, the owner first (it must release it).
    for i in std::iter::once(owner).chain(others(owner)) {
        let out = pc.node(i).cli(&["delip", &a.to_string()]);
        assert_success(&out, &format!("rctdb delip on node {i}"));
    }
    pc.wait_placement_of(&ALL3, &rest, GENEROUS);
    for i in ALL3 {
        assert!(!pc.cli_ip(i).unwrap().contains_key(&a), "node {i} still lists {a}");
        let out = pc.node(i).cli(&["delip", &a.to_string()]);
        assert_success(&out, "second delip");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("Node does not know about IP address {a}")));
    }
    // addip on one node only: hosted there.
    let target = (owner + 1) % 3;
    let out = pc.node(target).cli(&["addip", &failover::cidr(a), "pub0"]);
    assert_success(&out, "rctdb addip");
    let owners = pc.wait_placement_of(&ALL3, &pc.addrs, GENEROUS);
    assert_eq!(owners[&a], target, "only node {target} knows {a}: {owners:?}");
    let out = pc.node(target).cli(&["addip", &failover::cidr(a), "pub0"]);
    assert_success(&out, "addip of a known address");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("Node already knows about IP {a}")));
    // delip there: gone from the kernel.
    let out = pc.node(target).cli(&["delip", &a.to_string()]);
    assert_success(&out, "rctdb delip");
    pc.wait_placement_of(&ALL3, &rest, GENEROUS);
    // A brand-new address on every node: hosted exactly once.
    let b: Ipv4Addr = "198.51.100.60".parse().unwrap();
    for i in ALL3 {
        let out = pc.node(i).cli(&["addip", &failover::cidr(b), "pub0"]);
        assert_success(&out, &format!("rctdb addip on node {i}"));
    }
    let mut want = rest.clone();
    want.push(b);
    let owners = pc.wait_placement_of(&ALL3, &want, GENEROUS);
    eprintln!("{b} added on every node: hosted on node {}", owners[&b]);
    // addip on an interface that does not exist is refused.
    let out = pc.node(0).cli(&["addip", "198.51.100.61/24", "nosuch0"]);
    assert!(!out.status.success(), "addip on a missing interface succeeded\n{}", describe(&out));
}

/// §10.6 .012: edit `public_addresses` on a node and `reloadips`: the
/// removed address leaves that node (list and kernel), the new one is
/// hosted; restoring the file and reloading brings the old one back.
#[test]
fn issue5_reloadips_applies_public_addresses_edits() {
    let pc = start3();
    let before = converge_spread(&pc, &ALL3);
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    let node = (leader + 1) % 3;
    // Drop one of the addresses this node holds, add a new one.
    let gone = held_by(&before, node)[0];
    let new: Ipv4Addr = "198.51.100.70".parse().unwrap();
    let mut edited: Vec<Ipv4Addr> = pc.addrs.iter().copied().filter(|a| *a != gone).collect();
    edited.push(new);
    pc.write_public_addresses(node, &edited);
    let out = pc.node(node).cli(&["reloadips"]);
    assert_success(&out, "rctdb reloadips");
    let mut all = pc.addrs.clone();
    all.push(new);
    let owners = pc.wait_placement_of(&ALL3, &all, GENEROUS);
    assert_ne!(owners[&gone], node, "{gone} is no longer configured on node {node}: {owners:?}");
    assert_eq!(owners[&new], node, "only node {node} knows {new}: {owners:?}");
    let own = pc.cli_ip(node).unwrap();
    assert!(!own.contains_key(&gone) && own.contains_key(&new), "node {node} lists {own:?}");
    // Restore and reload: the new one goes, the old one is known again.
    pc.write_public_addresses(node, &pc.addrs);
    let out = pc.node(node).cli(&["reloadips"]);
    assert_success(&out, "rctdb reloadips (restore)");
    pc.wait_placement_of(&ALL3, &pc.addrs, GENEROUS);
    let own = pc.cli_ip(node).unwrap();
    assert!(own.contains_key(&gone) && !own.contains_key(&new), "node {node} lists {own:?}");
    // `reloadips all` with nothing changed is harmless.
    let out = pc.node(leader).cli(&["reloadips", "all"]);
    assert_success(&out, "rctdb reloadips all");
    pc.wait_placement(&ALL3, GENEROUS);
}

/// §10.6 .030/.032: `disable` ⇒ the node hosts nothing, `enable` ⇒ it
/// hosts again; `stop` ⇒ nothing, `continue` ⇒ again.
#[test]
fn issue5_disable_enable_and_stop_continue() {
    let pc = start3();
    converge_spread(&pc, &ALL3);
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    let node = (leader + 1) % 3;
    for (off, on, flag) in
        [("disable", "enable", NodeFlags::PERMANENTLY_DISABLED), ("stop", "continue", NodeFlags::STOPPED)]
    {
        let out = pc.node(leader).cli(&["-n", &node.to_string(), off]);
        assert_success(&out, &format!("rctdb -n {node} {off}"));
        assert!(flags_of(&pc, leader, node).contains(flag), "{}", pc.view(&ALL3));
        pc.wait_placement(&others(node), GENEROUS);
        let out = pc.node(leader).cli(&["-n", &node.to_string(), on]);
        assert_success(&out, &format!("rctdb -n {node} {on}"));
        let owners = converge_spread(&pc, &ALL3);
        eprintln!("after {on}: node {node} holds {:?}", held_by(&owners, node));
    }
}

/// After a takeover, the new owner announces the address with gratuitous
/// ARPs on the public network (3 rounds ~1.1 s apart); `rctdb gratarp`
/// sends them on demand.
#[test]
fn issue5_gratuitous_arp_after_takeover() {
    let pc = start3();
    let before = converge_spread(&pc, &ALL3);
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    let victim = (leader + 1) % 3;
    let moved = held_by(&before, victim);
    let cap = ArpCapture::start(pc.client()).expect("packet socket in the client host");
    let t0 = Instant::now();
    pc.kill9(victim);
    let f = cap
        .wait_for(t0, Duration::from_secs(10), |f| f.is_gratuitous() && moved.contains(&f.sender_ip))
        .unwrap_or_else(|| {
            panic!("{}", pc.report(&format!("no gratuitous ARP for {moved:?} within 10 s: saw {:?}", cap.frames())))
        });
    eprintln!("gratuitous ARP for {} {:?} after the kill", f.sender_ip, f.at - t0);
    let after = pc.wait_placement(&others(victim), GENEROUS);
    let new_owner = after[&f.sender_ip];
    assert_eq!(f.sender_mac, pub0_mac(&pc, new_owner), "GARP must carry the new owner's pub0 MAC");
    // Three rounds per moved address, each a request and a reply.
    thread::sleep(Duration::from_millis(3500));
    for a in &moved {
        let requests =
            cap.frames().iter().filter(|f| f.at >= t0 && f.sender_ip == *a && f.op == 1 && f.is_gratuitous()).count();
        let replies =
            cap.frames().iter().filter(|f| f.at >= t0 && f.sender_ip == *a && f.op == 2 && f.is_gratuitous()).count();
        assert!(requests >= 3 && replies >= 3, "{a}: {requests} ARP requests, {replies} replies after the move");
    }
    // On demand.
    let a = after.keys().next().copied().unwrap();
    let t1 = Instant::now();
    let out = pc.node(after[&a]).cli(&["gratarp", &a.to_string(), "pub0"]);
    assert_success(&out, "rctdb gratarp");
    assert!(
        cap.wait_for(t1, Duration::from_secs(5), |f| f.is_gratuitous() && f.sender_ip == a).is_some(),
        "no gratuitous ARP for {a} after rctdb gratarp"
    );
}

/// The MAC address of host `i`'s pub0.
fn pub0_mac(pc: &PubCluster, i: usize) -> [u8; 6] {
    let out = pc.exec_in(i, &["cat", "/sys/class/net/pub0/address"]);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let v: Vec<u8> = text.split(':').map(|h| u8::from_str_radix(h, 16).unwrap()).collect();
    v.try_into().unwrap_or_else(|_| panic!("bad MAC {text:?}"))
}

/// A TCP client connected to a public address gets a reset soon after the
/// address moves: the owner recorded the connection (every second) and
/// told the others; the new owner sends a tickle ACK, the client answers,
/// and the new owner, which has no such connection, resets it.
#[test]
fn issue5_tcp_client_reset_after_address_moves() {
    let pc = start3();
    let before = converge_spread(&pc, &ALL3);
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    let victim = (leader + 1) % 3;
    let a = held_by(&before, victim)[0];
    let server = SocketAddr::new(a.into(), 4445);
    let listener = failover::listen_in(&pc.node(victim).netns, server).expect("listen on the public address");
    let acceptor = thread::spawn(move || listener.accept());
    let mut client = rctdb_integration::netns::tcp_connect(pc.client(), server, Duration::from_secs(5))
        .expect("connect from the client host");
    let (server_side, peer) = acceptor.join().unwrap().expect("accept");
    assert_eq!(peer.ip(), std::net::IpAddr::V4(CLIENT_ADDR));
    // rctdbd reads connections every second and sends a changed list at
    // once: wait for it (idle connection, nothing in flight).
    thread::sleep(Duration::from_millis(2500));
    let t0 = Instant::now();
    pc.kill9(victim);
    client.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = [0u8; 16];
    let r = client.read(&mut buf);
    let took = t0.elapsed();
    let new_owner = pc.wait_placement(&others(victim), GENEROUS)[&a];
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            eprintln!(
                "client connection to {server} reset {took:?} after kill -9 of node {victim} (new owner {new_owner})"
            );
        }
        other => panic!(
            "{}",
            pc.report(&format!("expected ECONNRESET on the client within a few seconds, got {other:?} after {took:?}"))
        ),
    }
    assert!(took < Duration::from_secs(5), "reset only after {took:?}");
    let log = pc.node(new_owner).log_text();
    assert!(
        log.contains(&format!("Sending tickle ACKs for 1 connections to {a}")),
        "new owner {new_owner} sent no tickle"
    );
    drop(server_side);
}

//! Scenario tests of split-brain safety (issue 6): fencing before takeover
//! and public-address leases, on real rctdbd processes in network
//! namespaces (design.md "Fencing before takeover", invariant 1).
//!
//! Three nodes, six public addresses on pub0 (see
//! `rctdb_integration::failover`), a cluster lock file in a shared
//! directory, sub-second keepalive (KeepaliveInterval=100ms,
//! KeepaliveLimit=3, leader timeout 500ms), and a `[failover]` section
//! with the lease time and, where a test says so, a fence program
//! (`rctdb_integration::partition::Fence`: a shell script that logs every
//! call with CLOCK_REALTIME timestamps and can "power a node off": SIGKILL
//! every process in its namespace and flush its pub0).
//!
//! Every test samples every namespace's pub0 every 10 ms from start to end
//! and fails if any reading shows an address on two namespaces at once:
//! with fencing and leases there is no excuse, not even a takeover run in
//! flight.
//!
//! Faults: a partition (blackhole routes both ways, or the node's cluster
//! link down; its public link stays up, so a node that kept its addresses
//! would still answer on them), kill -9 of rctdbd, SIGSTOP of every process
//! of a host, and a clean `rctdb shutdown` as the control.
//!
//! Needs root and `cargo build --workspace --bins` first. Deadlines are
//! generous (a loaded 2-core machine); `bench_fencing` measures the times.

use rctdb_integration::describe;
use rctdb_integration::failover::{PubCluster, Sampler, Setup};
use rctdb_integration::partition::{
    self, double_holders, fmt_wall, start_with_failover, CutBy, FailoverConf, Fence, FenceAction, Partition,
};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

const ALL3: [usize; 3] = [0, 1, 2];
/// Start to every address placed.
const CONVERGE: Duration = Duration::from_secs(60);
/// After a fault, for states with no stated bound.
const GENEROUS: Duration = Duration::from_secs(30);
/// Added to stated times on a loaded machine.
const SLACK: Duration = Duration::from_secs(3);
const SAMPLE_PERIOD: Duration = Duration::from_millis(10);
/// KeepaliveInterval=100ms × KeepaliveLimit=3, plus one interval.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_millis(400);

// ---------------------------------------------------------------- helpers

fn others(of: usize) -> Vec<usize> {
    ALL3.iter().copied().filter(|&i| i != of).collect()
}

fn held_by(owners: &BTreeMap<Ipv4Addr, usize>, i: usize) -> Vec<Ipv4Addr> {
    owners.iter().filter(|(_, o)| **o == i).map(|(a, _)| *a).collect()
}

fn conf(lease: &str, fence_timeout: Option<&str>) -> FailoverConf {
    FailoverConf {
        fence_command: None,
        fence_timeout: fence_timeout.map(str::to_string),
        lease_time: Some(lease.into()),
    }
}

/// Three fast nodes with `conf` and (optionally) a fence program.
fn start(conf: FailoverConf, fence: Option<FenceAction>) -> (PubCluster, Option<Fence>) {
    start_with_failover(Setup::new(3, 6).fast(), conf, fence)
}

fn sampler(pc: &PubCluster) -> Sampler {
    Sampler::start(&pc.namespaces(), SAMPLE_PERIOD).expect("start the kernel sampler")
}

/// Panic (with every offending reading) if any reading so far had an
/// address on two namespaces.
#[track_caller]
fn assert_never_two_holders(pc: &PubCluster, s: &Sampler, when: &str) {
    let bad = double_holders(&s.changes());
    if !bad.is_empty() {
        let shown: Vec<&String> = bad.iter().take(40).collect();
        panic!(
            "{}",
            pc.report(&format!(
                "{when}: invariant 1 violated: {} sampled readings show a public address on two namespaces \
                 (sampler time UTC, every {SAMPLE_PERIOD:?}):\n{}",
                bad.len(),
                shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
            ))
        );
    }
}

/// Every node healthy, every address on exactly one node, each node
/// holding some; stable for a second.
fn converge_spread(pc: &PubCluster) -> BTreeMap<Ipv4Addr, usize> {
    pc.wait_healthy(&ALL3, CONVERGE);
    let spread = || {
        let owners = pc.check_placement(&ALL3, &pc.addrs)?;
        for i in ALL3 {
            if held_by(&owners, i).is_empty() {
                return Err(format!("node {i} holds no address: {owners:?}"));
            }
        }
        Ok(owners)
    };
    let first = pc.wait_until(CONVERGE, "every address placed and every node holding one", spread);
    thread::sleep(Duration::from_secs(1));
    let second = pc.wait_until(GENEROUS, "every address placed and every node holding one (again)", spread);
    if first != second {
        thread::sleep(Duration::from_secs(1));
        return pc.wait_until(GENEROUS, "every address placed and every node holding one (settled)", spread);
    }
    second
}

/// A non-leader that holds addresses, the leader, and what it holds.
fn pick_victim(pc: &PubCluster, owners: &BTreeMap<Ipv4Addr, usize>) -> (usize, usize, Vec<Ipv4Addr>) {
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    let victim = others(leader).into_iter().find(|&i| !held_by(owners, i).is_empty()).expect("a non-leader holds some");
    (leader, victim, held_by(owners, victim))
}

fn all_on(hosts: &[std::collections::BTreeSet<Ipv4Addr>], addrs: &[Ipv4Addr], on: &[usize]) -> bool {
    addrs.iter().all(|a| on.iter().any(|&i| hosts[i].contains(a)))
}

/// Readings before `until` that show one of `addrs` on one of `on`.
/// Samples between the fault (`from`: before it, the addresses were
/// legitimately elsewhere while the cluster settled) and `until`.
fn seen_on_before(s: &Sampler, addrs: &[Ipv4Addr], on: &[usize], from: SystemTime, until: SystemTime) -> Vec<String> {
    s.changes()
        .iter()
        .filter(|c| c.wall >= from && c.wall < until)
        .filter_map(|c| {
            let hit: Vec<String> = addrs
                .iter()
                .flat_map(|a| on.iter().filter(move |&&i| c.hosts[i].contains(a)).map(move |i| format!("{a} on {i}")))
                .collect();
            (!hit.is_empty()).then(|| format!("{}: {}", fmt_wall(c.wall), hit.join(", ")))
        })
        .collect()
}

/// `rctdb ARGS` on node `i`, run inside its namespace: stdout and stderr.
fn cli_text(pc: &PubCluster, i: usize, args: &[&str]) -> String {
    let inner = pc.node(i).cli_command(args);
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", &pc.node(i).netns]).arg(inner.get_program()).args(inner.get_args());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let out = rctdb_integration::process::output_with_timeout(&mut cmd, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Wait until `rctdb status` on node `i` contains every one of `needles`
/// (case-insensitive).
fn wait_status(pc: &PubCluster, i: usize, needles: &[&str], timeout: Duration) -> String {
    pc.wait_until(timeout, &format!("`rctdb status` on node {i} to mention {needles:?}"), || {
        let text = cli_text(pc, i, &["status"]);
        let lower = text.to_lowercase();
        if needles.iter().all(|n| lower.contains(&n.to_lowercase())) {
            Ok(text)
        } else {
            Err(text)
        }
    })
}

fn count(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

/// Lines of node `i`'s log containing `needle`.
fn log_has(pc: &PubCluster, i: usize, needle: &str) -> usize {
    count(&pc.node(i).log_text(), needle)
}

/// The fence program's calls for `pnn` (PNN = host index).
fn calls_for(f: &Fence, pnn: usize) -> Vec<partition::FenceCall> {
    f.calls().into_iter().filter(|c| c.args.first().map(String::as_str) == Some(&pnn.to_string())).collect()
}

/// What the fence program got matches the spec: `PNN ADDRESS IP...`
/// (the addresses the node held) and the same in RCTDB_FENCE_*; run in the
/// leader's namespace.
#[track_caller]
fn check_fence_call(pc: &PubCluster, c: &partition::FenceCall, victim: usize, held: &[Ipv4Addr], leader: usize) {
    let addr = pc.node(victim).addr.to_string();
    let mut ips: Vec<Ipv4Addr> = c.args.iter().skip(2).filter_map(|a| a.parse().ok()).collect();
    ips.sort();
    let mut env_ips: Vec<Ipv4Addr> = c.env_ips.split_whitespace().filter_map(|a| a.parse().ok()).collect();
    env_ips.sort();
    let mut want = held.to_vec();
    want.sort();
    let ok = c.args.len() >= 2
        && c.args[0] == victim.to_string()
        && c.args[1] == addr
        && ips == want
        && c.args.len() == 2 + want.len()
        && c.env_pnn == victim.to_string()
        && c.env_address == addr
        && env_ips == want
        && c.netns == pc.node(leader).netns;
    assert!(
        ok,
        "fence call {c:?}: want args `{victim} {addr} {want:?}`, the same in RCTDB_FENCE_PNN/ADDRESS/IPS, run in the \
         leader's namespace {}",
        pc.node(leader).netns
    );
}

// ------------------------------------------------------------------ tests

/// A 1|2 partition without a fence command, lease time 1 s: the isolated
/// non-leader drops its addresses when its lease expires, the majority
/// takes them over only after lease + margin; never two holders; every
/// address up again within the lease bound; healed ⇒ one leader, each
/// address once.
fn partition_without_fence(by: CutBy) {
    let lease = Duration::from_secs(1);
    let (pc, _) = start(conf("1", None), None);
    let s = sampler(&pc);
    let before = converge_spread(&pc);
    let (leader, victim, held) = pick_victim(&pc, &before);
    let survivors = others(victim);
    let mark = pc.node(victim).log_text().len();
    let t0 = Instant::now();
    let mut part = Partition::isolate(&pc, victim, &ALL3, by);
    eprintln!(
        "partition ({by:?}) of node {victim} (holds {held:?}; leader {leader}) at {}",
        fmt_wall(SystemTime::now())
    );
    let bound = KEEPALIVE_TIMEOUT + lease * 3 / 2 + SLACK;
    let got = s.wait_for(t0, GENEROUS, |h| all_on(h, &pc.addrs, &survivors));
    assert_never_two_holders(&pc, &s, &format!("partition of node {victim} ({by:?})"));
    let got = got.unwrap_or_else(|| {
        panic!(
            "{}",
            pc.report(&format!("not every address on nodes {survivors:?} within {GENEROUS:?} of the partition"))
        )
    });
    let took = got.at - t0;
    eprintln!("every address on {survivors:?} {took:?} after the partition (bound {bound:?})");
    assert!(took <= bound, "{}", pc.report(&format!("addresses up again only after {took:?}, bound {bound:?}")));
    let status = wait_status(&pc, victim, &["lease expired"], GENEROUS);
    eprintln!("isolated node {victim}'s status:\n{status}");
    let left = pc.kernel_addrs(victim).unwrap_or_else(|e| panic!("{e}"));
    assert!(left.is_empty(), "{}", pc.report(&format!("isolated node {victim} still holds {left:?}")));
    assert!(
        pc.node(victim).log_text()[mark..].contains("Lease expired"),
        "{}",
        pc.report(&format!("node {victim}'s log has no \"Lease expired\""))
    );
    assert_never_two_holders(&pc, &s, "while partitioned");

    part.heal();
    let l = pc.wait_leader(&ALL3, CONVERGE);
    let said: Vec<String> = ALL3.iter().map(|&i| cli_text(&pc, i, &["leader"]).trim().to_string()).collect();
    assert!(
        said.iter().all(|x| x == &l.to_string()),
        "after healing, `rctdb leader` on nodes 0,1,2 says {said:?}, GetLeader says {l}"
    );
    pc.wait_placement(&ALL3, CONVERGE);
    thread::sleep(Duration::from_secs(1));
    pc.wait_placement(&ALL3, GENEROUS);
    assert_never_two_holders(&pc, &s, "after healing");
}

#[test]
fn issue6_partition_blackhole_no_fence_lease_expires_no_double_hosting() {
    partition_without_fence(CutBy::Blackhole);
}

#[test]
fn issue6_partition_link_down_no_fence_lease_expires_no_double_hosting() {
    partition_without_fence(CutBy::LinkDown);
}

/// Partition a non-leader with a fence program that takes 2 s and powers
/// the node off, lease time 30 s (only the fence can explain a quick
/// takeover): none of its addresses appears on a survivor before the
/// fence program returned, all are up within 5 s after; the fence got the
/// node's PNN, address and addresses.
#[test]
fn issue6_fence_runs_before_partitioned_nodes_addresses_move() {
    let delay = Duration::from_secs(2);
    let (pc, fence) = start(conf("30", Some("10")), Some(FenceAction::PowerOff { delay }));
    let fence = fence.expect("fence installed");
    let s = sampler(&pc);
    let before = converge_spread(&pc);
    let (leader, victim, held) = pick_victim(&pc, &before);
    let survivors = others(victim);
    let w0 = SystemTime::now();
    let t0 = Instant::now();
    let fault = SystemTime::now();
    let _part = Partition::isolate(&pc, victim, &ALL3, CutBy::Blackhole);
    let got = s.wait_for(t0, GENEROUS + delay, |h| all_on(h, &pc.addrs, &survivors));
    let early = fence.first_success().map(|(_, end)| seen_on_before(&s, &held, &survivors, fault, end));
    assert_never_two_holders(&pc, &s, &format!("partition of node {victim}"));
    let Some((call, end)) = fence.first_success() else {
        panic!(
            "{}",
            pc.report(&format!(
                "the fence program never succeeded for node {victim} (calls: {:?}); addresses on survivors: {}",
                fence.calls(),
                if got.is_some() { "all" } else { "not all" }
            ))
        )
    };
    let early = early.unwrap_or_default();
    assert!(
        early.is_empty(),
        "{}",
        pc.report(&format!(
            "addresses of node {victim} up on a survivor before the fence program returned at {}:\n{}",
            fmt_wall(end),
            early.join("\n")
        ))
    );
    let got = got.unwrap_or_else(|| panic!("{}", pc.report("not every address up on the survivors")));
    let up = got.wall.duration_since(end).unwrap_or_default();
    eprintln!(
        "fence of node {victim} ran {} .. {} ({:.0} ms after the partition); every address up {up:?} after it returned",
        fmt_wall(call.start),
        fmt_wall(end),
        partition_ms(w0, call.start)
    );
    assert!(up <= Duration::from_secs(5), "{}", pc.report(&format!("addresses up only {up:?} after the fence")));
    check_fence_call(&pc, &call, victim, &held, leader);
    let log = pc.node(leader).log_text();
    assert!(
        log.contains(&format!("Fencing node {victim} ({}): running", pc.node(victim).addr))
            && log.contains(&format!("Fence of node {victim} succeeded")),
        "{}",
        pc.report(&format!("leader {leader} did not log running and succeeding the fence of node {victim}"))
    );
    assert_eq!(calls_for(&fence, victim).len(), 1, "one fence call was enough: {:?}", fence.calls());
    pc.wait_placement(&survivors, GENEROUS);
    thread::sleep(Duration::from_secs(1));
    assert_never_two_holders(&pc, &s, "at the end");
}

fn partition_ms(w0: SystemTime, t: SystemTime) -> f64 {
    rctdb_integration::failover::ms_between(w0, t)
}

/// A fence program that fails (exit 1) on its first 3 calls, then powers
/// the node off and succeeds: the addresses stay down while it fails (the
/// leader retries, at most about once a second, logging each failure) and
/// come up after the success.
#[test]
fn issue6_failing_fence_is_retried_and_addresses_wait_for_success() {
    let (pc, fence) = start(conf("30", Some("10")), Some(FenceAction::FailFirst(3)));
    let fence = fence.expect("fence installed");
    let s = sampler(&pc);
    let before = converge_spread(&pc);
    let (leader, victim, held) = pick_victim(&pc, &before);
    let survivors = others(victim);
    let t0 = Instant::now();
    let fault = SystemTime::now();
    let _part = Partition::isolate(&pc, victim, &ALL3, CutBy::Blackhole);
    let got = s.wait_for(t0, GENEROUS * 2, |h| all_on(h, &pc.addrs, &survivors));
    assert_never_two_holders(&pc, &s, &format!("partition of node {victim}"));
    let calls = calls_for(&fence, victim);
    let Some((ok_call, end)) = fence.first_success() else {
        panic!("{}", pc.report(&format!("the fence program never succeeded; calls: {calls:?}")))
    };
    let early = seen_on_before(&s, &held, &survivors, fault, end);
    assert!(
        early.is_empty(),
        "{}",
        pc.report(&format!(
            "addresses of node {victim} up on a survivor before the fence succeeded at {}:\n{}",
            fmt_wall(end),
            early.join("\n")
        ))
    );
    let failed: Vec<_> = calls.iter().filter(|c| matches!(c.end, Some((_, 1)))).collect();
    assert_eq!(failed.len(), 3, "calls: {calls:?}");
    assert_eq!(ok_call.call, 4, "the 4th call succeeds: {calls:?}");
    // Retried on later passes, at most about once a second.
    for w in calls.windows(2) {
        let gap = w[1].start.duration_since(w[0].start).unwrap_or_default();
        assert!(gap >= Duration::from_millis(500), "fence calls {} and {} only {gap:?} apart", w[0].call, w[1].call);
    }
    let log = pc.node(leader).log_text();
    let lines = count(&log, &format!("Fence of node {victim} failed"));
    assert!(lines >= 3, "{}", pc.report(&format!("leader {leader} logged {lines} fence failures, want >= 3")));
    assert!(log.contains(&format!("Fence of node {victim} succeeded")), "{}", pc.report("no success logged"));
    let got = got.unwrap_or_else(|| panic!("{}", pc.report("not every address up on the survivors")));
    let up = got.wall.duration_since(end).unwrap_or_default();
    eprintln!("fence failed {} times, succeeded at {}; every address up {up:?} later", failed.len(), fmt_wall(end));
    assert!(up <= Duration::from_secs(5), "{}", pc.report(&format!("addresses up only {up:?} after the fence")));
    pc.wait_placement(&survivors, GENEROUS);
    thread::sleep(Duration::from_secs(1));
    assert_never_two_holders(&pc, &s, "at the end");
}

/// A fence program that hangs (`sleep 1000` in a child), fence timeout
/// 1 s: it is killed with its child at the timeout, the leader logs "timed
/// out", counts it as a failure and retries; the addresses stay
/// unassigned (held back) meanwhile.
#[test]
fn issue6_hanging_fence_is_killed_at_its_timeout_and_retried() {
    let timeout = Duration::from_secs(1);
    let (pc, fence) = start(conf("30", Some("1")), Some(FenceAction::Hang));
    let fence = fence.expect("fence installed");
    let s = sampler(&pc);
    let before = converge_spread(&pc);
    let (leader, victim, held) = pick_victim(&pc, &before);
    let survivors = others(victim);
    let fault = SystemTime::now();
    let _part = Partition::isolate(&pc, victim, &ALL3, CutBy::Blackhole);
    let first = pc.wait_until(GENEROUS, "the fence program to start (and log its child)", || {
        match calls_for(&fence, victim).into_iter().find(|c| c.child.is_some()) {
            Some(c) => Ok(c),
            None => Err(format!("fence calls: {:?}", fence.calls())),
        }
    });
    let child = first.child.unwrap_or_default();
    // Killed at its timeout, with its child: both gone within timeout + 2 s
    // of its start.
    let limit = first.start + timeout + Duration::from_secs(2);
    let mut states = Vec::new();
    loop {
        let (a, sa) = partition::process_gone(first.pid);
        let (b, sb) = partition::process_gone(child);
        if a && b {
            break;
        }
        if SystemTime::now() > limit {
            states = vec![format!("fence pid {}: {sa}", first.pid), format!("its sleep child {child}: {sb}")];
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        states.is_empty(),
        "{}",
        pc.report(&format!(
            "the hanging fence program (started {}) still runs {:?} after its start (fence timeout {timeout:?}): {}",
            fmt_wall(first.start),
            SystemTime::now().duration_since(first.start).unwrap_or_default(),
            states.join("; ")
        ))
    );
    // Retried: a second attempt, and the timeouts logged.
    pc.wait_until(GENEROUS, "a second fence attempt and two timeouts logged", || {
        let log = pc.node(leader).log_text();
        let attempts = count(&log, &format!("Fencing node {victim} ("));
        let timeouts = count(&log, &format!("Fence of node {victim} timed out after"));
        let calls = calls_for(&fence, victim).len();
        if attempts >= 2 && timeouts >= 1 && calls >= 2 {
            Ok(())
        } else {
            Err(format!("leader {leader}: {attempts} \"Fencing node\" lines, {timeouts} \"timed out\"; {calls} calls"))
        }
    });
    assert!(
        log_has(&pc, leader, "killed") >= 1,
        "{}",
        pc.report("the timeout line does not say the fence program was killed")
    );
    assert!(calls_for(&fence, victim).iter().all(|c| c.end.is_none()), "a hanging fence call ended by itself?");
    // Still unassigned, and said so.
    let early = seen_on_before(&s, &held, &survivors, fault, SystemTime::now());
    assert!(
        early.is_empty(),
        "{}",
        pc.report(&format!(
            "addresses of node {victim} up on a survivor while the fence never succeeded:\n{}",
            early.join("\n")
        ))
    );
    let status = wait_status(&pc, leader, &["held back", "fence"], GENEROUS);
    eprintln!("leader {leader}'s status while the fence hangs:\n{status}");
    let ip = cli_text(&pc, leader, &["ip"]);
    for a in &held {
        let line = ip.lines().find(|l| l.starts_with(&format!("{a} "))).unwrap_or("");
        assert!(
            line.to_lowercase().contains("held back"),
            "`rctdb ip` on leader {leader}: line of {a} is {line:?}, want \"held back\":\n{ip}"
        );
    }
    assert_never_two_holders(&pc, &s, "at the end");
}

/// Every process of the leader's host stopped (SIGSTOP): its lock helper
/// keeps the fcntl lock forever. With a fence program that kills those
/// processes and flushes pub0, a survivor fences it, takes the lock and
/// hosts every address, each once.
#[test]
fn issue6_frozen_leader_host_is_fenced_and_replaced() {
    let (pc, fence) = start(conf("30", Some("10")), Some(FenceAction::PowerOff { delay: Duration::ZERO }));
    let fence = fence.expect("fence installed");
    let s = sampler(&pc);
    let before = converge_spread(&pc);
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    let held = held_by(&before, leader);
    let survivors = others(leader);
    let fault = SystemTime::now();
    let frozen = partition::freeze_host(&pc, leader);
    eprintln!("froze node {leader} (the leader, holds {held:?}): pids {frozen:?}");
    assert!(frozen.len() >= 3, "rctdbd, recoverd and the lock helper at least: {frozen:?}");
    let new = pc.wait_until(CONVERGE, "a new leader among the survivors", || {
        let mut seen = std::collections::BTreeSet::new();
        for &i in &survivors {
            seen.insert(pc.leader_seen_by(i)?);
        }
        match seen.iter().copied().collect::<Vec<_>>().as_slice() {
            [l] if *l != leader => Ok(*l),
            _ => Err(format!("survivors see leaders {seen:?}")),
        }
    });
    pc.wait_placement(&survivors, CONVERGE);
    assert_never_two_holders(&pc, &s, &format!("frozen leader {leader}"));
    let Some((call, end)) = fence.first_success() else {
        panic!("{}", pc.report(&format!("no successful fence call; calls {:?}", fence.calls())))
    };
    // With no leader to do it, the lowest-numbered survivor fences (the lock
    // race after the fence decides who leads next: `new`).
    let runner = *survivors.iter().min().expect("survivors");
    check_fence_call(&pc, &call, leader, &held, runner);
    let early = seen_on_before(&s, &held, &survivors, fault, end);
    assert!(
        early.is_empty(),
        "{}",
        pc.report(&format!(
            "addresses of the frozen leader up elsewhere before its fence returned:\n{}",
            early.join("\n")
        ))
    );
    assert!(
        log_has(&pc, runner, &format!("Fence of node {leader} succeeded")) >= 1,
        "{}",
        pc.report(&format!("node {runner} did not log the fence of node {leader} (new leader: {new})"))
    );
    thread::sleep(Duration::from_secs(1));
    pc.wait_placement(&survivors, GENEROUS);
    assert_never_two_holders(&pc, &s, "at the end");
}

/// The same frozen leader host without a fence command: nobody can take
/// the lock, the survivors say so (`stuck`) within 30 s, and no address is
/// ever on two hosts (lease time 1 s: the frozen node cannot drop its
/// addresses, so nobody may take them).
#[test]
fn issue6_frozen_leader_host_without_fence_is_stuck_not_split() {
    let (pc, _) = start(conf("1", None), None);
    let s = sampler(&pc);
    let before = converge_spread(&pc);
    let leader = pc.wait_leader(&ALL3, GENEROUS);
    let survivors = others(leader);
    let frozen = partition::freeze_host(&pc, leader);
    eprintln!("froze node {leader} (the leader, holds {:?}): pids {frozen:?}", held_by(&before, leader));
    let status = pc.wait_until(GENEROUS, "`rctdb status` on a survivor to say \"stuck\"", || {
        let texts: Vec<String> = survivors.iter().map(|&i| cli_text(&pc, i, &["status"])).collect();
        texts.iter().find(|t| t.to_lowercase().contains("stuck")).cloned().ok_or_else(|| texts.join("\n"))
    });
    eprintln!("a survivor's status:\n{status}");
    assert_never_two_holders(&pc, &s, &format!("frozen leader {leader}, no fence"));
    // A few more lease times.
    thread::sleep(Duration::from_secs(5));
    assert_never_two_holders(&pc, &s, &format!("frozen leader {leader}, no fence, 5 s later"));
}

/// kill -9 of a non-leader's rctdbd with a fence command: the node is
/// fenced (logged) before its addresses move.
#[test]
fn issue6_kill9_with_fence_command_fences_before_takeover() {
    let (pc, fence) = start(conf("30", Some("10")), Some(FenceAction::PowerOff { delay: Duration::ZERO }));
    let fence = fence.expect("fence installed");
    let s = sampler(&pc);
    let before = converge_spread(&pc);
    let (leader, victim, held) = pick_victim(&pc, &before);
    let survivors = others(victim);
    let fault = SystemTime::now();
    pc.kill9(victim);
    pc.wait_placement(&survivors, GENEROUS);
    assert_never_two_holders(&pc, &s, &format!("kill -9 of node {victim}"));
    let Some((call, end)) = fence.first_success() else {
        panic!("{}", pc.report(&format!("node {victim} was not fenced; fence calls {:?}", fence.calls())))
    };
    check_fence_call(&pc, &call, victim, &held, leader);
    let early = seen_on_before(&s, &held, &survivors, fault, end);
    assert!(
        early.is_empty(),
        "{}",
        pc.report(&format!("addresses of node {victim} up elsewhere before its fence returned:\n{}", early.join("\n")))
    );
    let log = pc.node(leader).log_text();
    assert!(
        log.contains(&format!("Fencing node {victim} (")) && log.contains(&format!("Fence of node {victim} succeeded")),
        "{}",
        pc.report(&format!("leader {leader} did not log the fence of node {victim}"))
    );
    thread::sleep(Duration::from_secs(1));
    assert_never_two_holders(&pc, &s, "at the end");
}

/// A clean `rctdb shutdown` with a fence command configured: the node
/// released its addresses itself, so nobody fences it, and they move.
#[test]
fn issue6_clean_shutdown_needs_no_fence() {
    let (pc, fence) = start(conf("30", Some("10")), Some(FenceAction::Succeed { delay: Duration::ZERO }));
    let fence = fence.expect("fence installed");
    let s = sampler(&pc);
    let before = converge_spread(&pc);
    let (_leader, victim, held) = pick_victim(&pc, &before);
    let out = pc.node(victim).cli(&["shutdown"]);
    assert!(out.status.success(), "rctdb shutdown failed\n{}", describe(&out));
    pc.wait_placement(&others(victim), GENEROUS);
    eprintln!("node {victim} shut down; its addresses {held:?} moved");
    thread::sleep(Duration::from_secs(2));
    let fenced: Vec<String> = ALL3
        .iter()
        .flat_map(|&i| {
            pc.node(i).log_text().lines().filter(|l| l.contains("Fencing node")).map(str::to_string).collect::<Vec<_>>()
        })
        .collect();
    assert!(
        fenced.is_empty(),
        "{}",
        pc.report(&format!("a cleanly shut down node was fenced:\n{}", fenced.join("\n")))
    );
    assert!(fence.calls().is_empty(), "the fence program ran: {:?}", fence.calls());
    assert_never_two_holders(&pc, &s, "at the end");
}

/// The harness pieces the tests above rely on, on the current daemons:
/// both kinds of partition cut exactly the isolated host off and heal; the
/// fence program logs its calls (namespace, arguments, environment, exit
/// code), powers a node off (no process left in its namespace, pub0
/// empty), and a hanging one logs its child and can be killed with it;
/// the sampler records.
#[test]
fn issue6_harness_partition_and_fence_program_work() {
    // The program is installed but not configured: the cluster itself
    // must not power node 1 off while the partitions are tried here.
    let (pc, _) = start(conf("30", Some("10")), None);
    let fence = Fence::install(&pc, FenceAction::PowerOff { delay: Duration::ZERO });
    let s = sampler(&pc);
    let owners = converge_spread(&pc);
    let port = |i: usize| std::net::SocketAddr::new(pc.node(i).addr.into(), rctdb_integration::TRANSPORT_PORT);
    let reach = |from: usize, to: usize| {
        rctdb_integration::netns::tcp_connect(&pc.node(from).netns, port(to), Duration::from_secs(1)).is_ok()
    };
    assert!(reach(0, 1) && reach(1, 2) && reach(0, 2), "hosts reach each other before any partition");
    for by in [CutBy::Blackhole, CutBy::LinkDown] {
        let mut part = Partition::isolate(&pc, 1, &ALL3, by);
        assert!(!reach(0, 1) && !reach(1, 0) && !reach(2, 1) && !reach(1, 2), "{by:?}: host 1 still reachable");
        assert!(reach(0, 2) && reach(2, 0), "{by:?}: hosts 0 and 2 must still reach each other");
        part.heal();
        // A link set up again needs a moment before it carries traffic.
        pc.wait_until(Duration::from_secs(10), "host 1 reachable again after healing", || {
            if reach(0, 1) && reach(1, 0) && reach(2, 1) {
                Ok(())
            } else {
                Err(format!("{by:?}: healed, host 1 still unreachable"))
            }
        });
    }
    assert!(s.rounds() > 10 && !s.changes().is_empty(), "the sampler records");

    // Power node 1 off by hand, as the leader's recoverd would.
    let held = held_by(&owners, 1);
    let mut args = vec!["1".to_string(), pc.node(1).addr.to_string()];
    args.extend(held.iter().map(|a| a.to_string()));
    let ips = held.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" ");
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", &pc.node(0).netns])
        .arg(&fence.program)
        .args(&args)
        .env("RCTDB_FENCE_PNN", "1")
        .env("RCTDB_FENCE_ADDRESS", pc.node(1).addr.to_string())
        .env("RCTDB_FENCE_IPS", &ips);
    let out = rctdb_integration::process::output_with_timeout(&mut cmd, Duration::from_secs(20)).unwrap();
    assert!(out.status.success(), "fence program\n{}", describe(&out));
    let calls = fence.calls();
    assert_eq!(calls.len(), 1, "{}", fence.log_text());
    check_fence_call(&pc, &calls[0], 1, &held, 0);
    assert!(matches!(calls[0].end, Some((_, 0))), "{calls:?}");
    assert!(fence.log_text().contains("powered-off 1 "), "{}", fence.log_text());
    let left = rctdb_integration::netns::pids(&pc.node(1).netns);
    assert!(left.is_empty(), "processes left in the powered-off host: {left:?}");
    assert!(pc.kernel_addrs(1).unwrap().is_empty(), "pub0 of the powered-off host not flushed");
    assert!(pc.node(1).wait_exit(Duration::from_secs(5)).is_some(), "rctdbd of node 1 still runs");

    // A hanging fence program logs its child; killing its group kills both.
    let hang = Fence::install(&pc, FenceAction::Hang);
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", &pc.node(0).netns, hang.program.to_str().unwrap(), "2", "192.0.2.13"]);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("spawn the hanging fence program");
    let call = pc.wait_until(Duration::from_secs(10), "the hanging fence program to log its child", || {
        hang.calls().into_iter().find(|c| c.child.is_some()).ok_or_else(|| hang.log_text())
    });
    assert_eq!(call.pid as u32, child.id());
    let (gone, state) = partition::process_gone(call.child.unwrap());
    assert!(!gone, "the sleep child runs: {state}");
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL)
        .expect("killpg the fence program");
    let _ = child.wait();
    pc.wait_until(Duration::from_secs(5), "the fence program and its child to be gone", || {
        let a = partition::process_gone(call.pid);
        let b = partition::process_gone(call.child.unwrap());
        if a.0 && b.0 {
            Ok(())
        } else {
            Err(format!("{a:?} {b:?}"))
        }
    });
    assert!(hang.calls()[0].end.is_none());
}

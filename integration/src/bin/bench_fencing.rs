//! Benchmark of split-brain-safe failover (issue 6) on a real 3-node
//! namespace cluster with the stock event scripts: the time from
//! partitioning a non-leader (blackhole routes both ways between it and
//! the other nodes; its public link stays up) to every address it held
//! being up on the majority.
//!
//! ```text
//! cargo build --release --workspace --bins
//! sudo RCTDB_BIN_DIR=target/release target/release/bench_fencing [--runs N] [--slow-runs M] [--only a|b|c|d]...
//! ```
//!
//! Scenarios (6 public addresses, 2 per node):
//!
//! - **a** no fence command, default timings: KeepaliveInterval=5,
//!   KeepaliveLimit=5, leader timeout 5, lease time 10 s (the default);
//!   the majority must wait for the lease (plus margin) after the last
//!   contact;
//! - **b** no fence command, sub-second: KeepaliveInterval=100ms,
//!   KeepaliveLimit=3, leader timeout 500ms, lease time 500ms;
//! - **c** a fence program that powers the node off at once (SIGKILL of
//!   every process in its namespace, pub0 flushed) and exits 0, default
//!   timings (the lease stays 10 s: only the fence lets the majority go
//!   early);
//! - **d** the same, sub-second timings.
//!
//! N runs each (default 5; `--slow-runs`, default 3, for a and c, which
//! take a minute each): median, min, max; and in how many runs the
//! sampler (every 5 ms, every namespace) saw an address on two hosts.
//! No asserts. Needs root.

use rctdb_integration::bench::fmt_duration;
use rctdb_integration::bin_dir;
use rctdb_integration::failover::{PubCluster, Sampler, Setup};
use rctdb_integration::partition::{double_holders, start_with_failover, CutBy, FailoverConf, FenceAction, Partition};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

const ALL3: [usize; 3] = [0, 1, 2];
const CONVERGE: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_millis(5);
const FAULT_LIMIT: Duration = Duration::from_secs(180);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    NoFenceDefault,
    NoFenceFast,
    FenceDefault,
    FenceFast,
}

impl Scenario {
    const ALL: [Scenario; 4] =
        [Scenario::NoFenceDefault, Scenario::NoFenceFast, Scenario::FenceDefault, Scenario::FenceFast];

    fn key(self) -> &'static str {
        match self {
            Scenario::NoFenceDefault => "a",
            Scenario::NoFenceFast => "b",
            Scenario::FenceDefault => "c",
            Scenario::FenceFast => "d",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scenario::NoFenceDefault => "(a) no fence, default timings (ka 5 s x 5, lease 10 s)",
            Scenario::NoFenceFast => "(b) no fence, sub-second (ka 100 ms x 3, lease 500 ms)",
            Scenario::FenceDefault => "(c) fence (instant), default timings",
            Scenario::FenceFast => "(d) fence (instant), sub-second",
        }
    }

    fn fast(self) -> bool {
        matches!(self, Scenario::NoFenceFast | Scenario::FenceFast)
    }

    fn fenced(self) -> bool {
        matches!(self, Scenario::FenceDefault | Scenario::FenceFast)
    }
}

struct Sample {
    total: Duration,
    doubles: usize,
}

fn usage() -> ! {
    eprintln!("usage: bench_fencing [--runs N] [--slow-runs M] [--only a|b|c|d]...");
    std::process::exit(2)
}

fn main() {
    let mut runs = 5usize;
    let mut slow_runs = 3usize;
    let mut only: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    let count =
        |v: Option<String>| v.and_then(|v| v.parse().ok()).filter(|n: &usize| *n > 0).unwrap_or_else(|| usage());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = count(args.next()),
            "--slow-runs" => slow_runs = count(args.next()),
            "--only" => only.push(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    eprintln!("binaries from {}", bin_dir().display());
    let mut results: Vec<(Scenario, Vec<Sample>)> = Vec::new();
    for s in Scenario::ALL {
        if !only.is_empty() && !only.iter().any(|o| o == s.key()) {
            continue;
        }
        let n = if s.fast() { runs } else { slow_runs };
        let mut samples = Vec::new();
        for run in 0..n {
            let x = measure(s);
            eprintln!(
                "{} run {}/{n}: {} ({} double-holder readings)",
                s.name(),
                run + 1,
                fmt_duration(x.total),
                x.doubles
            );
            samples.push(x);
        }
        results.push((s, samples));
    }
    print_table(&results);
}

fn setup(s: Scenario) -> (PubCluster, Option<rctdb_integration::partition::Fence>) {
    let mut st = Setup::new(3, 6).log_level("NOTICE");
    let mut conf = FailoverConf::default();
    if s.fast() {
        st = st.fast();
        conf.lease_time = Some("500ms".into());
    } else {
        st.leader_timeout = "5".into();
        st = st.tunable("KeepaliveInterval", "5").tunable("KeepaliveLimit", "5");
    }
    let fence = if s.fenced() {
        conf.fence_timeout = Some("10".into());
        Some(FenceAction::PowerOff { delay: Duration::ZERO })
    } else {
        None
    };
    start_with_failover(st, conf, fence)
}

/// Every node healthy, every address placed with every node holding
/// some, and no takeover run for 1 s.
fn settle(pc: &PubCluster) -> BTreeMap<Ipv4Addr, usize> {
    pc.wait_healthy(&ALL3, CONVERGE);
    let spread = || {
        let o = pc.check_placement(&ALL3, &pc.addrs)?;
        let nodes: BTreeSet<usize> = o.values().copied().collect();
        if nodes.len() == 3 {
            Ok(o)
        } else {
            Err(format!("only nodes {nodes:?} hold addresses"))
        }
    };
    pc.wait_until(CONVERGE, "every address placed, every node holding some", spread);
    pc.wait_until(CONVERGE, "no takeover run for 1 s", || {
        let last = pc.takeover_runs().iter().map(|r| r.end).max();
        match last {
            Some(t) if SystemTime::now().duration_since(t).unwrap_or_default() < Duration::from_secs(1) => {
                Err("a takeover run ended less than 1 s ago".into())
            }
            _ => Ok(()),
        }
    });
    pc.wait_until(CONVERGE, "every address placed, every node holding some (settled)", spread)
}

fn measure(s: Scenario) -> Sample {
    let (pc, _fence) = setup(s);
    if std::env::var_os("RCTDB_KEEP_LOGS").is_some() {
        eprintln!("logs in {}", pc.dir().display());
    }
    let owners = settle(&pc);
    let leader = pc.wait_leader(&ALL3, CONVERGE);
    let victim = (leader + 1) % 3;
    let moved: Vec<Ipv4Addr> = owners.iter().filter(|(_, o)| **o == victim).map(|(a, _)| *a).collect();
    let survivors: Vec<usize> = ALL3.iter().copied().filter(|&i| i != victim).collect();
    let sampler = Sampler::start(&pc.namespaces(), POLL).expect("start the kernel sampler");
    let t0 = Instant::now();
    let part = Partition::isolate(&pc, victim, &ALL3, CutBy::Blackhole);
    let got = sampler
        .wait_for(t0, FAULT_LIMIT, |h| moved.iter().all(|a| survivors.iter().any(|&i| h[i].contains(a))))
        .unwrap_or_else(|| {
            panic!(
                "{}",
                pc.report(&format!("{}: addresses {moved:?} not up on {survivors:?} in {FAULT_LIMIT:?}", s.name()))
            )
        });
    let total = got.at - t0;
    // A moment more for the sampler to see a late overlap.
    std::thread::sleep(Duration::from_millis(500));
    let (changes, _) = sampler.stop();
    let doubles = double_holders(&changes).len();
    drop(part);
    Sample { total, doubles }
}

fn print_table(results: &[(Scenario, Vec<Sample>)]) {
    println!();
    println!(
        "{:<58} {:>4} {:>9} {:>9} {:>9}  doubles",
        "partition of a non-leader -> its addresses up on the majority", "runs", "median", "min", "max"
    );
    for (s, samples) in results {
        let mut v: Vec<Duration> = samples.iter().map(|x| x.total).collect();
        v.sort();
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2 };
        let doubled = samples.iter().filter(|x| x.doubles > 0).count();
        println!(
            "{:<58} {:>4} {:>9} {:>9} {:>9}  {doubled}/{n} runs",
            s.name(),
            n,
            fmt_duration(median),
            fmt_duration(v[0]),
            fmt_duration(v[n - 1])
        );
    }
    println!("\n\"doubles\": runs in which some 5 ms reading showed an address on two namespaces (must be 0).");
}

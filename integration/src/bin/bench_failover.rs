//! Benchmark of public-address failover on a real 3-node namespace cluster
//! with the stock event scripts (issue 5).
//!
//! ```text
//! cargo build --release --workspace --bins
//! sudo cargo run --release -p rctdb-integration --bin bench_failover [-- --runs N] [--only NAME]
//! ```
//!
//! Built with `--release` it runs the binaries in `target/release` (set
//! `RCTDB_BIN_DIR` to use others). Every run builds a fresh cluster (see
//! `rctdb_integration::failover`: pub0 on a public bridge, the stock
//! scripts, a cluster lock, sub-second timings: `leader timeout = 500ms`,
//! KeepaliveInterval=100ms, KeepaliveLimit=3, MonitorInterval=1), waits
//! until every node is healthy and holds addresses and no takeover run has
//! happened for 0.5 s, applies the fault, and polls the kernel of every
//! host every 5 ms (getifaddrs inside each namespace) until the addresses
//! the victim held are all up on survivors:
//!
//! - **clean stop**: `rctdb shutdown` of a non-leader;
//! - **kill -9 non-leader** / **kill -9 leader** of rctdbd;
//! - **link cut**: a non-leader's cluster link (its switch port on the
//!   node network) goes down; its public link stays up;
//! - **kill -9 non-leader, 254 addresses** (all 198.51.100.0/24 holds):
//!   until ALL the victim's addresses are up elsewhere;
//! - **failback**: the killed node is started again; until it holds an
//!   address.
//!
//! N runs each (default 5): median, p90, min, max. Then, per scenario, the
//! median time from the fault to each step the daemons log (node dead,
//! recovery, takeover run, first and last takeip), to show where the time
//! goes. No asserts. Needs root. Ctrl-C leaves this run's namespaces
//! behind; the next run (or test) removes them.

use rctdb_integration::failover::{self, PubCluster, Sampler, Setup};
use rctdb_integration::{bin_dir, describe};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

const ALL3: [usize; 3] = [0, 1, 2];
const CONVERGE: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(5);
const FAULT_LIMIT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    CleanStop,
    Kill9,
    Kill9Leader,
    LinkCut,
    Kill9Many,
    Failback,
}

impl Scenario {
    const ALL: [Scenario; 6] = [
        Scenario::CleanStop,
        Scenario::Kill9,
        Scenario::Kill9Leader,
        Scenario::LinkCut,
        Scenario::Kill9Many,
        Scenario::Failback,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::CleanStop => "clean stop (rctdb shutdown), non-leader",
            Scenario::Kill9 => "kill -9 non-leader",
            Scenario::Kill9Leader => "kill -9 leader",
            Scenario::LinkCut => "cluster link cut, non-leader",
            Scenario::Kill9Many => "kill -9 non-leader, 254 addresses (all up)",
            Scenario::Failback => "failback (restarted node holds an address)",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Scenario::CleanStop => "stop",
            Scenario::Kill9 => "kill9",
            Scenario::Kill9Leader => "leader",
            Scenario::LinkCut => "linkcut",
            Scenario::Kill9Many => "many",
            Scenario::Failback => "failback",
        }
    }

    fn ctdb(self) -> &'static str {
        match self {
            Scenario::CleanStop => "0.70 s",
            Scenario::Kill9 => "0.75 s",
            Scenario::Kill9Leader => "5.2 s",
            Scenario::LinkCut => "27.7 s",
            Scenario::Kill9Many => "-",
            Scenario::Failback => "25.7 s",
        }
    }

    fn goal(self) -> &'static str {
        match self {
            Scenario::CleanStop | Scenario::Kill9 => "0.1 s",
            Scenario::Kill9Leader | Scenario::LinkCut => "0.5 s",
            Scenario::Kill9Many => "1 s",
            Scenario::Failback => "3 s",
        }
    }
}

/// One measurement and the log steps after the fault.
struct Sample {
    total: Duration,
    steps: Vec<(&'static str, Option<f64>)>,
    /// Public addresses still on the victim's namespace 1 s after the
    /// fault (not for failback).
    victim_kept: Option<usize>,
}

fn usage() -> ! {
    eprintln!("usage: bench_failover [--runs N] [--only stop|kill9|leader|linkcut|many|failback]...");
    std::process::exit(2)
}

fn main() {
    let mut runs = 5usize;
    let mut only: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => {
                runs = args.next().and_then(|v| v.parse().ok()).filter(|n: &usize| *n > 0).unwrap_or_else(|| usage())
            }
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
        let mut samples = Vec::new();
        for run in 0..runs {
            let x = measure(s);
            eprintln!("{} run {}/{runs}: {}", s.name(), run + 1, rctdb_integration::bench::fmt_duration(x.total));
            samples.push(x);
        }
        results.push((s, samples));
    }
    print_table(&results);
    print_steps(&results);
}

fn setup(s: Scenario) -> PubCluster {
    let st = if s == Scenario::Kill9Many { Setup::new(3, 254).without_client() } else { Setup::new(3, 6) };
    let mut st = st.fast();
    st.lease_time = Some("500ms".into());
    st.log_level("NOTICE").start()
}

/// Wait until every node is healthy, every address is placed with every
/// node holding some, and no takeover run has started for 0.5 s.
fn settle(pc: &PubCluster) -> BTreeMap<Ipv4Addr, usize> {
    pc.wait_healthy(&ALL3, CONVERGE);
    let owners = pc.wait_until(CONVERGE, "every address placed, every node holding some", || {
        let o = pc.check_placement(&ALL3, &pc.addrs)?;
        let nodes: BTreeSet<usize> = o.values().copied().collect();
        if nodes.len() == 3 {
            Ok(o)
        } else {
            Err(format!("only nodes {nodes:?} hold addresses"))
        }
    });
    pc.wait_until(CONVERGE, "no takeover run for 0.5 s", || {
        let last = pc.takeover_runs().iter().map(|r| r.end).max();
        match last {
            Some(t) if SystemTime::now().duration_since(t).unwrap_or_default() < Duration::from_millis(500) => {
                Err("a takeover run ended less than 0.5 s ago".into())
            }
            _ => Ok(()),
        }
    });
    // The runs may have moved something: read again.
    pc.check_placement(&ALL3, &pc.addrs).unwrap_or(owners)
}

fn measure(s: Scenario) -> Sample {
    let pc = setup(s);
    if std::env::var_os("RCTDB_KEEP_LOGS").is_some() {
        eprintln!("logs in {}", pc.dir().display());
    }
    let owners = settle(&pc);
    let leader = pc.wait_leader(&ALL3, CONVERGE);
    let victim = if s == Scenario::Kill9Leader { leader } else { (leader + 1) % 3 };
    let moved: Vec<Ipv4Addr> = owners.iter().filter(|(_, o)| **o == victim).map(|(a, _)| *a).collect();
    let survivors: Vec<usize> = ALL3.iter().copied().filter(|&i| i != victim).collect();
    let sampler = Sampler::start(&pc.namespaces(), POLL).expect("start the kernel sampler");
    let all_moved_up =
        |hosts: &[BTreeSet<Ipv4Addr>]| moved.iter().all(|a| survivors.iter().any(|&i| hosts[i].contains(a)));

    if s == Scenario::Failback {
        pc.kill9(victim);
        let t = Instant::now();
        sampler.wait_for(t, FAULT_LIMIT, all_moved_up).unwrap_or_else(|| panic!("{}", pc.report("no failover")));
        settle_survivors(&pc, &survivors);
        let (t0, w0) = (Instant::now(), SystemTime::now());
        // Spawn (not start_node: that waits for the socket, which is part
        // of what we measure).
        pc.node(victim).spawn();
        let got = sampler
            .wait_for(t0, FAULT_LIMIT, |hosts| !hosts[victim].is_empty())
            .unwrap_or_else(|| panic!("{}", pc.report("the restarted node got no address within 60 s")));
        let total = got.at - t0;
        std::thread::sleep(Duration::from_millis(300));
        let steps = failback_steps(&pc, victim, w0);
        return Sample { total, steps, victim_kept: None };
    }

    let (t0, w0) = (Instant::now(), SystemTime::now());
    match s {
        Scenario::CleanStop => {
            // Spawned, not waited for: the CLI's own exit is not the point.
            let mut cmd = pc.node(victim).cli_command(&["shutdown"]);
            let child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn();
            let child = child.unwrap_or_else(|e| panic!("rctdb shutdown: {e}"));
            std::thread::spawn(move || {
                let out = child.wait_with_output();
                if let Ok(o) = out {
                    if !o.status.success() {
                        eprintln!("rctdb shutdown: {}", describe(&o));
                    }
                }
            });
        }
        Scenario::Kill9 | Scenario::Kill9Leader | Scenario::Kill9Many => pc.kill9(victim),
        Scenario::LinkCut => pc.link_down(victim),
        Scenario::Failback => unreachable!(),
    }
    let got = sampler
        .wait_for(t0, FAULT_LIMIT, all_moved_up)
        .unwrap_or_else(|| panic!("{}", pc.report(&format!("{}: addresses {moved:?} not moved in 60 s", s.name()))));
    let total = got.at - t0;
    // Let the logs catch up, and the victim's side finish.
    std::thread::sleep(Duration::from_secs(1).saturating_sub(t0.elapsed()).max(Duration::from_millis(300)));
    let steps = failover_steps(&pc, &survivors, victim, w0);
    let victim_kept = Some(sampler.latest().hosts[victim].len());
    drop(sampler);
    if s == Scenario::LinkCut {
        pc.link_up(victim);
    }
    Sample { total, steps, victim_kept }
}

fn settle_survivors(pc: &PubCluster, survivors: &[usize]) {
    pc.wait_placement(survivors, CONVERGE);
    std::thread::sleep(Duration::from_millis(500));
}

/// First log line after `since` containing `needle` on any of `nodes`:
/// milliseconds after `since`.
fn first_after(pc: &PubCluster, nodes: &[usize], needle: &str, since: SystemTime) -> Option<f64> {
    nodes
        .iter()
        .flat_map(|&i| failover::log_lines(&pc.node(i).log_text(), needle))
        .filter(|(t, _)| *t >= since)
        .map(|(t, _)| failover::ms_between(since, t))
        .min_by(|a, b| a.total_cmp(b))
}

fn last_after(pc: &PubCluster, nodes: &[usize], needle: &str, since: SystemTime, before: Option<f64>) -> Option<f64> {
    nodes
        .iter()
        .flat_map(|&i| failover::log_lines(&pc.node(i).log_text(), needle))
        .filter(|(t, _)| *t >= since)
        .map(|(t, _)| failover::ms_between(since, t))
        .filter(|ms| before.is_none_or(|b| *ms <= b))
        .max_by(|a, b| a.total_cmp(b))
}

fn failover_steps(
    pc: &PubCluster,
    survivors: &[usize],
    victim: usize,
    since: SystemTime,
) -> Vec<(&'static str, Option<f64>)> {
    let run_done = first_after(pc, survivors, "Takeover run completed", since);
    let mut v = vec![
        ("victim's recoverd drops its addresses", first_after(pc, &[victim], "rctdbd is gone", since)),
        ("survivor marks it dead", first_after(pc, survivors, "is dead", since)),
        ("new leader", first_after(pc, survivors, "is now the leader", since)),
        ("recovery started", first_after(pc, survivors, "Recovery initiated", since)),
        ("recovery complete", first_after(pc, survivors, "Recovery complete", since)),
        ("takeover run started", first_after(pc, survivors, "Takeover run starting", since)),
        ("first takeip done", first_after(pc, survivors, "Took over IP", since)),
        ("last takeip of the run", last_after(pc, survivors, "Took over IP", since, run_done)),
        ("takeover run complete", run_done),
    ];
    v.retain(|(n, t)| t.is_some() || !n.starts_with("new leader"));
    v
}

fn failback_steps(pc: &PubCluster, victim: usize, since: SystemTime) -> Vec<(&'static str, Option<f64>)> {
    vec![
        ("rctdbd listening", first_after(pc, &[victim], "Listening on", since)),
        ("connected to all", first_after(pc, &[victim], "- 3 connected", since)),
        ("first recovery done", first_after(pc, &[victim], "First recovery done", since)),
        ("startup event OK (RUNNING)", first_after(pc, &[victim], "startup event OK", since)),
        ("first monitor OK (healthy)", first_after(pc, &[victim], "Node flags changed UNHEALTHY -> OK", since)),
        (
            "takeover run started",
            first_after(pc, &ALL3, "Takeover run starting", since).and_then(|_| {
                // The run after the node became healthy.
                let healthy = first_after(pc, &[victim], "Node flags changed UNHEALTHY -> OK", since)?;
                ALL3.iter()
                    .flat_map(|&i| failover::log_lines(&pc.node(i).log_text(), "Takeover run starting"))
                    .map(|(t, _)| failover::ms_between(since, t))
                    .filter(|ms| *ms >= healthy)
                    .min_by(|a, b| a.total_cmp(b))
            }),
        ),
        ("first takeip on it", first_after(pc, &[victim], "Took over IP", since)),
    ]
}

fn sorted(v: &[Duration]) -> Vec<Duration> {
    let mut v = v.to_vec();
    v.sort();
    v
}

fn median_f(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

fn print_table(results: &[(Scenario, Vec<Sample>)]) {
    println!();
    println!(
        "{:<46} {:>4} {:>9} {:>9} {:>9} {:>9}  {:>9} {:>7}",
        "fault -> addresses up elsewhere", "runs", "median", "p90", "min", "max", "CTDB 4.17", "goal"
    );
    for (s, samples) in results {
        let v = sorted(&samples.iter().map(|x| x.total).collect::<Vec<_>>());
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2 };
        let p90 = v[((n * 9).div_ceil(10)).max(1) - 1];
        println!(
            "{:<46} {:>4} {:>9} {:>9} {:>9} {:>9}  {:>9} {:>7}",
            s.name(),
            n,
            rctdb_integration::bench::fmt_duration(median),
            rctdb_integration::bench::fmt_duration(p90),
            rctdb_integration::bench::fmt_duration(v[0]),
            rctdb_integration::bench::fmt_duration(v[n - 1]),
            s.ctdb(),
            s.goal()
        );
    }
    println!(
        "\nsub-second timings (leader timeout 500ms, KeepaliveInterval=100ms, KeepaliveLimit=3, MonitorInterval=1);"
    );
    println!("CTDB 4.17 column: defaults, 3 nodes, 6 addresses.");
}

fn print_steps(results: &[(Scenario, Vec<Sample>)]) {
    for (s, samples) in results {
        println!("\n{}: median ms after the fault (daemon log timestamps)", s.name());
        let names: Vec<&str> = samples.first().map(|x| x.steps.iter().map(|(n, _)| *n).collect()).unwrap_or_default();
        for name in names {
            let mut v: Vec<f64> =
                samples.iter().filter_map(|x| x.steps.iter().find(|(n, _)| *n == name).and_then(|(_, t)| *t)).collect();
            let seen = v.len();
            match median_f(&mut v) {
                Some(m) => println!("  {name:<40} {m:>9.1}   ({seen}/{} runs)", samples.len()),
                None => println!("  {name:<40} {:>9}", "-"),
            }
        }
        let mut totals: Vec<f64> = samples.iter().map(|x| x.total.as_secs_f64() * 1000.0).collect();
        if let Some(m) = median_f(&mut totals) {
            println!("  {:<40} {m:>9.1}", "address up (kernel, 5 ms polling)");
        }
        let kept: Vec<usize> = samples.iter().filter_map(|x| x.victim_kept).filter(|k| *k > 0).collect();
        if samples.iter().any(|x| x.victim_kept.is_some()) {
            println!(
                "  victim's namespace still held public addresses 1 s after the fault in {}/{} runs {kept:?}",
                kept.len(),
                samples.len()
            );
        }
    }
}

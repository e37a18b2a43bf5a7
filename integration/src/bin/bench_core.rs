//! Benchmark of the cluster core on a real 3-node namespace cluster.
//!
//! ```text
//! cargo build --release --workspace --bins
//! sudo cargo run --release -p rctdb-integration --bin bench_core [-- --runs N] [--link-runs M]
//! ```
//!
//! Built with `--release` it runs the binaries in `target/release` (set
//! `RCTDB_BIN_DIR` to use others). Measures, from the root namespace over
//! the control socket:
//! - whole-process `rctdb pnn`, `rctdb -X status`, `rctdb status` (spawn to
//!   exit), N runs each (default 30);
//! - one `GetPnn` round trip through an open `Client`, 1000 calls;
//! - time from a link set down to the survivor's node map showing the node
//!   DISCONNECTED, with KeepaliveInterval=100ms and KeepaliveLimit=3 (M runs,
//!   default 10; the survivor's node map is polled every 5 ms).
//!
//! Needs root. Ctrl-C leaves the namespaces of this run behind; the next
//! run (or test) removes them.

use rctdb_integration::{bin_dir, Cluster};
use rctdb_protocol::{NodeFlags, Pnn};
use std::process::Stdio;
use std::time::{Duration, Instant};

struct Row {
    name: &'static str,
    samples: Vec<Duration>,
    ctdb: &'static str,
    goal: Option<Duration>,
}

fn usage() -> ! {
    eprintln!("usage: bench_core [--runs N] [--link-runs M]");
    std::process::exit(2)
}

fn main() {
    let mut runs = 30usize;
    let mut link_runs = 10usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num =
            || args.next().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0).unwrap_or_else(|| usage());
        match a.as_str() {
            "--runs" => runs = num(),
            "--link-runs" => link_runs = num(),
            _ => usage(),
        }
    }

    eprintln!("starting a 3-node cluster (binaries from {})", bin_dir().display());
    let c = Cluster::builder(3).tunable("KeepaliveInterval", "100ms").tunable("KeepaliveLimit", "3").start();
    c.wait_connected(&[0, 1, 2], Duration::from_secs(30));

    let mut rows = Vec::new();
    // What spawning any process costs here, to read the CLI rows against.
    let samples = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let st = std::process::Command::new("true").stdin(Stdio::null()).status().expect("spawn true");
            assert!(st.success());
            t.elapsed()
        })
        .collect();
    rows.push(Row { name: "baseline: spawn+wait `true`", samples, ctdb: "-", goal: None });
    for (name, args, ctdb, goal_ms) in [
        ("rctdb pnn (process)", &["pnn"][..], "4.8 ms", 1.5),
        ("rctdb -X status (process)", &["-X", "status"][..], "5.1 ms", 1.5),
        ("rctdb status (process)", &["status"][..], "1000 ms", 2.0),
    ] {
        eprintln!("measuring {name} x {runs}");
        let samples = cli_samples(&c, args, runs);
        rows.push(Row { name, samples, ctdb, goal: Some(Duration::from_secs_f64(goal_ms / 1000.0)) });
    }

    eprintln!("measuring Client GetPnn round trip x 1000");
    let mut client = c.node(0).client().expect("connect to node 0");
    client.set_timeout(Duration::from_secs(5));
    for _ in 0..100 {
        client.pnn(Pnn::CURRENT).expect("GetPnn");
    }
    let samples = (0..1000)
        .map(|_| {
            let t = Instant::now();
            client.pnn(Pnn::CURRENT).expect("GetPnn");
            t.elapsed()
        })
        .collect();
    rows.push(Row { name: "Client GetPnn (in-process, per call)", samples, ctdb: "-", goal: None });

    eprintln!("measuring link down -> DISCONNECTED x {link_runs}");
    let samples = (0..link_runs).map(|_| link_down_sample(&c, &mut client)).collect();
    rows.push(Row { name: "link down -> DISCONNECTED (100ms x 3)", samples, ctdb: "25 s (5 s x 5)", goal: None });

    print_table(&rows);
}

/// Spawn-to-exit times of `rctdb ARGS` against node 0, after 3 warm-up runs.
fn cli_samples(c: &Cluster, args: &[&str], runs: usize) -> Vec<Duration> {
    let run = || {
        let t = Instant::now();
        let out =
            c.node(0).cli_command(args).stdin(Stdio::null()).stderr(Stdio::piped()).output().expect("spawn rctdb");
        let dt = t.elapsed();
        if !out.status.success() {
            panic!("rctdb {} failed\n{}", args.join(" "), rctdb_integration::describe(&out));
        }
        dt
    };
    for _ in 0..3 {
        run();
    }
    (0..runs).map(|_| run()).collect()
}

/// Take node 2's link down and time until node 0 reports it DISCONNECTED;
/// then restore the link and wait for the cluster to reconnect.
fn link_down_sample(c: &Cluster, client: &mut rctdb_client::Client) -> Duration {
    c.wait_connected(&[0, 1, 2], Duration::from_secs(30));
    // Let keepalives flow normally before the cut.
    std::thread::sleep(Duration::from_millis(300));
    c.link_down(2);
    let t0 = Instant::now();
    let dt = loop {
        let map = client.nodemap(Pnn::CURRENT).expect("GetNodeMap");
        if map.get(Pnn(2)).is_some_and(|n| n.flags.contains(NodeFlags::DISCONNECTED)) {
            break t0.elapsed();
        }
        if t0.elapsed() > Duration::from_secs(30) {
            panic!("{}", c.report("node 0 did not see node 2 DISCONNECTED within 30 s of link down"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    c.link_up(2);
    dt
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<38} {:>5} {:>10} {:>10} {:>10} {:>10}  {:>14}  goal",
        "measurement", "runs", "median", "p90", "min", "max", "CTDB"
    );
    for r in rows {
        let mut v = r.samples.clone();
        v.sort();
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2 };
        let p90 = v[((n * 9).div_ceil(10)).max(1) - 1];
        let goal = match r.goal {
            Some(g) => format!(
                "<= {} {}",
                rctdb_integration::bench::fmt_duration(g),
                if median <= g { "met" } else { "MISSED" }
            ),
            None => "-".to_string(),
        };
        println!(
            "{:<38} {:>5} {:>10} {:>10} {:>10} {:>10}  {:>14}  {}",
            r.name,
            n,
            rctdb_integration::bench::fmt_duration(median),
            rctdb_integration::bench::fmt_duration(p90),
            rctdb_integration::bench::fmt_duration(v[0]),
            rctdb_integration::bench::fmt_duration(v[n - 1]),
            r.ctdb,
            goal
        );
    }
}

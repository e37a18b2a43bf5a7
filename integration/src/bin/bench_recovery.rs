//! Benchmark of leader failover on a real 3-node namespace cluster.
//!
//! ```text
//! cargo build --release --workspace --bins
//! sudo cargo run --release -p rctdb-integration --bin bench_recovery [-- --runs N] [--fast-only]
//! ```
//!
//! Built with `--release` it runs the binaries in `target/release` (set
//! `RCTDB_BIN_DIR` to use others). Each run builds a fresh 3-node cluster
//! with the cluster lock in a directory all hosts share, waits until it has
//! one leader, is recovered and every node is OK, then `kill -9`s the
//! leader's rctdbd and measures, from the root namespace over the control
//! socket of a survivor (polled every 5 ms):
//! - **new leader**: until the survivor reports a leader that is alive
//!   (`GetLeader`);
//! - **recovered**: until the survivor's generation has changed and both
//!   survivors are in recovery mode NORMAL.
//!
//! The same after `SIGSTOP` of the leader's rctdbd alone (its recovery
//! daemon must notice that rctdbd no longer answers and give up the lock).
//!
//! Two timings: the defaults (`leader timeout` 5 s, KeepaliveInterval=5,
//! KeepaliveLimit=5) and sub-second ones (`leader timeout = 500ms`,
//! KeepaliveInterval=100ms, KeepaliveLimit=3). N runs each (default 5).
//! Prints median, p90, min and max; no asserts. The CTDB 4.17 reference is
//! 5.2 s from the leader's death to its IPs hosted elsewhere, with a
//! leader timeout of 5 s.
//!
//! `RCTDB_KEEP_LOGS=1` keeps every run's logs and prints where they are.
//!
//! Needs root. Ctrl-C leaves the namespaces of this run behind; the next
//! run (or test) removes them.

use rctdb_integration::{bin_dir, leader, Builder, Cluster};
use rctdb_protocol::{Pnn, RecMode};
use std::time::{Duration, Instant};

const ALL3: [usize; 3] = [0, 1, 2];
const CONVERGE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(5);

/// A cluster configuration to measure.
type MakeCluster = fn() -> Builder;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    Kill9,
    Stop,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Kill9 => "kill -9",
            Fault::Stop => "SIGSTOP",
        }
    }
}

struct Row {
    name: String,
    samples: Vec<Duration>,
    ctdb: &'static str,
}

fn usage() -> ! {
    eprintln!("usage: bench_recovery [--runs N] [--fast-only] [--no-stop]");
    std::process::exit(2)
}

fn main() {
    let mut runs = 5usize;
    let mut fast_only = false;
    let mut no_stop = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => {
                runs = args.next().and_then(|v| v.parse().ok()).filter(|n: &usize| *n > 0).unwrap_or_else(|| usage())
            }
            "--fast-only" => fast_only = true,
            "--no-stop" => no_stop = true,
            _ => usage(),
        }
    }
    eprintln!("binaries from {}", bin_dir().display());

    let mut rows = Vec::new();
    let mut configs: Vec<(&str, MakeCluster)> = Vec::new();
    if !fast_only {
        configs.push(("defaults (leader timeout 5 s)", || {
            Cluster::builder(3).cluster_conf("cluster lock = {shared}/cluster.lock")
        }));
    }
    configs.push(("sub-second (500ms, 100ms x 3)", || {
        Cluster::builder(3)
            .cluster_conf("cluster lock = {shared}/cluster.lock")
            .cluster_conf("leader timeout = 500ms")
            .tunable("KeepaliveInterval", "100ms")
            .tunable("KeepaliveLimit", "3")
    }));
    let faults: &[Fault] = if no_stop { &[Fault::Kill9] } else { &[Fault::Kill9, Fault::Stop] };
    for &fault in faults {
        for (name, builder) in &configs {
            let mut to_leader = Vec::new();
            let mut to_recovered = Vec::new();
            for run in 0..runs {
                let (l, r) = sample(builder(), fault);
                eprintln!(
                    "{} {name} run {}/{runs}: new leader after {}, recovered after {}",
                    fault.name(),
                    run + 1,
                    rctdb_integration::bench::fmt_duration(l),
                    rctdb_integration::bench::fmt_duration(r)
                );
                to_leader.push(l);
                to_recovered.push(r);
            }
            let ctdb = match fault {
                Fault::Kill9 => ("-", "5.2 s (IPs moved)"),
                Fault::Stop => ("-", "never (frozen leader keeps the lock)"),
            };
            rows.push(Row { name: format!("{}, {name}: new leader", fault.name()), samples: to_leader, ctdb: ctdb.0 });
            rows.push(Row {
                name: format!("{}, {name}: recovered", fault.name()),
                samples: to_recovered,
                ctdb: ctdb.1,
            });
        }
    }
    print_table(&rows);
}

/// One failover: fresh cluster, `fault` on the leader's rctdbd.
fn sample(b: Builder, fault: Fault) -> (Duration, Duration) {
    let c = b.start();
    c.wait_connected(&ALL3, CONVERGE);
    let l = c.wait_until(CONVERGE, "one leader holding the lock", || leader::check_lock_leader(&c, &ALL3));
    c.wait_until(CONVERGE, "a recovery", || leader::check_recovered(&c, &ALL3, None));
    c.wait_until(CONVERGE, "every node OK", || {
        for j in ALL3 {
            leader::check_flags(&c, &ALL3, j, "OK")?;
        }
        Ok(())
    });
    let g = leader::check_recovered(&c, &ALL3, None).unwrap_or_else(|e| panic!("{}", c.report(&e)));
    if std::env::var_os("RCTDB_KEEP_LOGS").is_some() {
        eprintln!("logs in {}; leader {l}", c.dir().display());
    }
    let survivors: Vec<usize> = ALL3.iter().copied().filter(|&i| i != l).collect();
    let mut clients: Vec<_> = survivors
        .iter()
        .map(|&i| {
            let mut cl = c.node(i).client().expect("connect to a survivor");
            cl.set_timeout(Duration::from_secs(2));
            cl
        })
        .collect();
    // Let leader broadcasts and keepalives run normally before the kill.
    std::thread::sleep(Duration::from_millis(300));

    // From before the signal: `kill9` also reaps the daemon, and the
    // survivors may elect a leader before that returns.
    let t0 = Instant::now();
    match fault {
        Fault::Kill9 => c.kill9(l),
        Fault::Stop => c.sigstop(l),
    }
    let deadline = Duration::from_secs(90);
    let t_leader = loop {
        let p = clients[0].leader(Pnn::CURRENT).expect("GetLeader on a survivor");
        if p.is_node() && survivors.contains(&(p.0 as usize)) {
            break t0.elapsed();
        }
        assert!(t0.elapsed() < deadline, "{}", c.report("no new leader within 90 s"));
        std::thread::sleep(POLL);
    };
    let t_recovered = loop {
        let gen = clients[0].vnnmap(Pnn::CURRENT).expect("GetVnnMap").generation;
        let normal = clients.iter_mut().all(|cl| cl.recmode(Pnn::CURRENT).expect("GetRecMode") == RecMode::Normal);
        if gen != g && normal {
            break t0.elapsed();
        }
        assert!(t0.elapsed() < deadline, "{}", c.report("no recovery within 90 s"));
        std::thread::sleep(POLL);
    };
    if fault == Fault::Stop {
        c.sigcont(l);
    }
    (t_leader, t_recovered)
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<58} {:>5} {:>10} {:>10} {:>10} {:>10}  CTDB 4.17",
        "fault on the leader's rctdbd, timings: time to", "runs", "median", "p90", "min", "max"
    );
    for r in rows {
        let mut v = r.samples.clone();
        v.sort();
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2 };
        let p90 = v[((n * 9).div_ceil(10)).max(1) - 1];
        println!(
            "{:<58} {:>5} {:>10} {:>10} {:>10} {:>10}  {}",
            r.name,
            n,
            rctdb_integration::bench::fmt_duration(median),
            rctdb_integration::bench::fmt_duration(p90),
            rctdb_integration::bench::fmt_duration(v[0]),
            rctdb_integration::bench::fmt_duration(v[n - 1]),
            r.ctdb
        );
    }
}

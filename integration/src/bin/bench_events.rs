//! Benchmark of the event-script runner on a real 1-node namespace cluster.
//!
//! ```text
//! cargo build --release --workspace --bins
//! sudo cargo run --release -p rctdb-integration --bin bench_events [-- --runs N] [--stock-runs M]
//! ```
//!
//! Built with `--release` it runs the binaries in `target/release` (set
//! `RCTDB_BIN_DIR` to use others). No asserts: it prints median, p90, min
//! and max of each measurement.
//!
//! (a) The runner's own cost. rctdbd runs alone (`RCTDB_RECOVERD=none`, so
//! no recovery or takeover run competes). `Client::run_event(monitor)`
//! end to end (request, fork/exec of every script, status pipe, reaping,
//! reply), N runs (default 30), with an empty events directory and with 10
//! trivial scripts (`#!/bin/sh` + `exit 0`); the same 10 scripts run by a
//! shell loop (`for s in DIR/*; do "$s" monitor; done`, one `sh -c`
//! spawned and waited for, timed the same way). Per script:
//! (T10 - T0) / 10 for each; the difference is what the runner adds per
//! script over a shell.
//!
//! (b) One monitor cycle of the stock scripts (`scripts/functions`,
//! `scripts/events/legacy/*`) as installed on a real node: with a recovery
//! daemon, a cluster lock file, and a public address 198.51.100.1/24 on a
//! veth of the namespace, M runs (default 20). Skipped with a message if
//! the stock scripts are not in the source tree. CTDB 4.17 reference: 58 ms
//! per monitor cycle with its four stock scripts.
//!
//! A sample whose event had to wait behind a periodic monitor
//! (MonitorInterval is set to an hour, but the first few still run) is
//! taken again. Needs root.

use rctdb_integration::scripts;
use rctdb_integration::{bin_dir, Cluster, Node};
use rctdb_protocol::{Event, EventRun, Pnn, RunState};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Row {
    name: String,
    samples: Vec<Duration>,
    ctdb: &'static str,
}

fn usage() -> ! {
    eprintln!("usage: bench_events [--runs N] [--stock-runs M]");
    std::process::exit(2)
}

fn main() {
    let mut runs = 30usize;
    let mut stock_runs = 20usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num =
            || args.next().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0).unwrap_or_else(|| usage());
        match a.as_str() {
            "--runs" => runs = num(),
            "--stock-runs" => stock_runs = num(),
            _ => usage(),
        }
    }
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    runner_cost(runs, &mut rows, &mut notes);
    stock_monitor(stock_runs, &mut rows, &mut notes);
    print_table(&rows);
    println!();
    for n in &notes {
        println!("{n}");
    }
}

// ---------------------------------------------------------------- (a)

const TRIVIAL: usize = 10;

fn runner_cost(runs: usize, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    eprintln!("(a) starting a 1-node cluster without recovery daemon (binaries from {})", bin_dir().display());
    let c = Cluster::builder(1)
        .daemon_env("RCTDB_RECOVERD", "none")
        .tunable("MonitorInterval", "3600")
        .log_level("NOTICE")
        .start();
    let n = c.node(0);
    wait_running(&c, n);
    let dir = scripts::events_dir(n);

    eprintln!("(a) run_event(monitor), empty events directory x {runs}");
    let t0 = monitor_samples(&c, n, runs, None);
    let s0 = shell_loop_samples(&dir, runs);
    for i in 0..TRIVIAL {
        scripts::install(n, &format!("{:02}.trivial{i}", 10 + i), "#!/bin/sh\nexit 0\n");
    }
    eprintln!("(a) run_event(monitor), {TRIVIAL} trivial scripts x {runs}");
    let t10 = monitor_samples(&c, n, runs, Some(TRIVIAL));
    eprintln!("(a) shell loop over the same scripts x {runs}");
    let s10 = shell_loop_samples(&dir, runs);
    eprintln!("(a) rctdb event run 30 legacy monitor (process) x {runs}");
    let cli = cli_samples(n, &["event", "run", "30", "legacy", "monitor"], runs);

    let per = |a: &[Duration], b: &[Duration]| (median(a).as_secs_f64() - median(b).as_secs_f64()) / TRIVIAL as f64;
    let daemon_per = per(&t10, &t0);
    let shell_per = per(&s10, &s0);
    notes.push(format!(
        "(a) per script, from medians: runner (T10-T0)/10 = {}, shell loop (S10-S0)/10 = {}; \
         the runner adds {} per script over a shell; fixed cost of one event (T0) {}",
        rctdb_integration::bench::fmt_secs(daemon_per),
        rctdb_integration::bench::fmt_secs(shell_per),
        rctdb_integration::bench::fmt_secs(daemon_per - shell_per),
        rctdb_integration::bench::fmt_duration(median(&t0))
    ));
    notes.push(format!(
        "(a) per script, whole event / 10: runner {}, shell loop {}",
        rctdb_integration::bench::fmt_secs(median(&t10).as_secs_f64() / TRIVIAL as f64),
        rctdb_integration::bench::fmt_secs(median(&s10).as_secs_f64() / TRIVIAL as f64)
    ));
    rows.push(Row { name: "(a) run_event(monitor), 0 scripts (T0)".into(), samples: t0, ctdb: "-" });
    rows.push(Row { name: format!("(a) run_event(monitor), {TRIVIAL} scripts (T10)"), samples: t10, ctdb: "-" });
    rows.push(Row { name: "(a) sh -c 'for..', 0 scripts (S0)".into(), samples: s0, ctdb: "-" });
    rows.push(Row { name: format!("(a) sh -c 'for..', {TRIVIAL} scripts (S10)"), samples: s10, ctdb: "-" });
    rows.push(Row { name: format!("(a) rctdb event run, {TRIVIAL} scripts"), samples: cli, ctdb: "-" });
}

fn wait_running(c: &Cluster, n: &Node) {
    c.wait_until(Duration::from_secs(60), "RUNNING", || {
        match n.client().and_then(|mut cl| cl.runstate(Pnn::CURRENT)) {
            Ok(RunState::Running) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

/// One `run_event(monitor)`, end to end, or `None` if it had to wait for
/// another event (its scripts started more than 5 ms after the request).
fn monitor_once(client: &mut rctdb_client::Client) -> (Option<Duration>, EventRun) {
    let sent = now_us();
    let t = Instant::now();
    let run = client.run_event(Pnn::CURRENT, Event::Monitor, vec![], None).expect("run_event(monitor)");
    let dt = t.elapsed();
    let queued = run.start_us.saturating_sub(sent) > 5_000;
    (if queued { None } else { Some(dt) }, run)
}

/// `runs` monitor times after 3 warm-up runs; every run must pass and have
/// `scripts` scripts (if given).
fn monitor_samples(c: &Cluster, n: &Node, runs: usize, scripts: Option<usize>) -> Vec<Duration> {
    let mut client = n.client().expect("connect");
    client.set_timeout(Duration::from_secs(60));
    for _ in 0..3 {
        monitor_once(&mut client);
    }
    let mut out = Vec::new();
    let mut retries = 0;
    while out.len() < runs {
        let (dt, run) = monitor_once(&mut client);
        if let Some(s) = run.failure() {
            panic!("{}", c.report(&format!("monitor failed in {}: {:?}\n{}", s.name, s.status, s.output)));
        }
        if let Some(k) = scripts {
            assert_eq!(run.scripts.len(), k, "{run:?}");
        }
        match dt {
            Some(d) => out.push(d),
            None => retries += 1,
        }
    }
    if retries > 0 {
        eprintln!("    ({retries} samples taken again: queued behind a periodic monitor)");
    }
    out
}

/// `sh -c 'for s in DIR/[0-9][0-9].*; do "$s" monitor; done'`, spawn to exit.
fn shell_loop_samples(dir: &std::path::Path, runs: usize) -> Vec<Duration> {
    let script = format!(
        "for s in {}/[0-9][0-9].*; do [ -x \"$s\" ] || continue; \"$s\" monitor || exit 1; done",
        scripts::sh_quote(dir)
    );
    let run = || {
        let t = Instant::now();
        let st = Command::new("sh").arg("-c").arg(&script).stdin(Stdio::null()).status().expect("spawn sh");
        let dt = t.elapsed();
        assert!(st.success(), "shell loop failed: {st}");
        dt
    };
    for _ in 0..3 {
        run();
    }
    (0..runs).map(|_| run()).collect()
}

/// Spawn-to-exit times of `rctdb ARGS`, after 3 warm-up runs.
fn cli_samples(n: &Node, args: &[&str], runs: usize) -> Vec<Duration> {
    let run = || {
        let t = Instant::now();
        let out = n.cli_command(args).stdin(Stdio::null()).stderr(Stdio::piped()).output().expect("spawn rctdb");
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

// ---------------------------------------------------------------- (b)

fn stock_monitor(runs: usize, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let names = scripts::stock_script_names();
    let functions = scripts::source_scripts_dir().join("functions");
    if names.is_empty() || !functions.is_file() {
        let msg = format!(
            "(b) skipped: no stock scripts in {} (need functions and events/legacy/NN.name)",
            scripts::source_scripts_dir().display()
        );
        eprintln!("{msg}");
        notes.push(msg);
        return;
    }
    eprintln!("(b) starting a 1-node cluster with the stock scripts {names:?}");
    let c = Cluster::builder(1).tunable("MonitorInterval", "3600").log_level("NOTICE").not_started(&[0]).start();
    let n = c.node(0);
    // A public interface of its own: a veth pair inside the namespace.
    for cmd in [
        &["ip", "link", "add", "pub0", "type", "veth", "peer", "name", "pub0p"][..],
        &["ip", "link", "set", "pub0", "up"][..],
        &["ip", "link", "set", "pub0p", "up"][..],
    ] {
        let out = c.exec_in(0, cmd);
        assert!(out.status.success(), "{cmd:?}: {}", rctdb_integration::describe(&out));
    }
    n.write_base_file("public_addresses", "198.51.100.1/24 pub0\n");
    let lock = n.dir.join("cluster-fs").join("lock");
    std::fs::create_dir_all(lock.parent().unwrap()).expect("create lock directory");
    let conf = n.read_base_file("rctdb.conf");
    n.write_base_file("rctdb.conf", &format!("{conf}\tcluster lock = {}\n", lock.display()));
    scripts::install_stock(n, &names).unwrap_or_else(|e| panic!("installing the stock scripts: {e}"));
    c.start_node(0);
    wait_running(&c, n);
    // A takeover run puts the public address on pub0 (if this build's
    // recovery daemon does takeover runs).
    let hosted = {
        let t0 = Instant::now();
        loop {
            let out = c.exec_in(0, &["ip", "-o", "addr", "show", "dev", "pub0"]);
            if String::from_utf8_lossy(&out.stdout).contains("198.51.100.1/") {
                break true;
            }
            if t0.elapsed() > Duration::from_secs(15) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    notes.push(format!(
        "(b) public address 198.51.100.1/24 on pub0: {}",
        if hosted { "hosted by the node" } else { "NOT hosted (no takeover run in 15 s); monitor still checks pub0" }
    ));

    eprintln!("(b) run_event(monitor) with the stock scripts x {runs}");
    let mut client = n.client().expect("connect");
    client.set_timeout(Duration::from_secs(60));
    for _ in 0..3 {
        monitor_once(&mut client);
    }
    let mut samples = Vec::new();
    let mut per_script: Vec<(String, Vec<Duration>)> = Vec::new();
    let mut failures = Vec::new();
    // (script, first output line) -> runs
    let mut outputs: Vec<((String, String), usize)> = Vec::new();
    let mut retries = 0;
    while samples.len() < runs {
        let (dt, run) = monitor_once(&mut client);
        let Some(dt) = dt else {
            retries += 1;
            continue;
        };
        if let Some(s) = run.failure() {
            failures.push(format!("{} {} {}", s.name, s.status.word(), s.output.trim()));
        }
        samples.push(dt);
        for s in &run.scripts {
            if let Some(line) = s.output.lines().find(|l| !l.trim().is_empty()) {
                let key = (s.name.clone(), line.to_string());
                match outputs.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, c)) => *c += 1,
                    None => outputs.push((key, 1)),
                }
            }
            let d = Duration::from_micros(s.end_us.saturating_sub(s.start_us));
            match per_script.iter_mut().find(|(n, _)| *n == s.name) {
                Some((_, v)) => v.push(d),
                None => per_script.push((s.name.clone(), vec![d])),
            }
        }
    }
    if retries > 0 {
        eprintln!("    ({retries} samples taken again: queued behind another event)");
    }
    rows.push(Row {
        name: format!("(b) run_event(monitor), stock ({})", names.len()),
        samples,
        ctdb: "58 ms (4 scripts)",
    });
    for (name, v) in per_script {
        rows.push(Row { name: format!("(b)   script {name}"), samples: v, ctdb: "-" });
    }
    for ((name, line), count) in outputs {
        notes.push(format!("(b) {count} of {runs} runs: {name} printed {line:?}"));
    }
    if failures.is_empty() {
        notes.push(format!("(b) every one of the {runs} stock monitor runs passed"));
    } else {
        notes.push(format!("(b) {} of {runs} stock monitor runs FAILED:", failures.len()));
        for f in failures {
            notes.push(format!("      {f}"));
        }
    }
}

// ---------------------------------------------------------------- table

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<44} {:>5} {:>10} {:>10} {:>10} {:>10}  {:>18}",
        "measurement", "runs", "median", "p90", "min", "max", "CTDB 4.17"
    );
    for r in rows {
        let mut v = r.samples.clone();
        v.sort();
        let n = v.len();
        let p90 = v[((n * 9).div_ceil(10)).max(1) - 1];
        println!(
            "{:<44} {:>5} {:>10} {:>10} {:>10} {:>10}  {:>18}",
            r.name,
            n,
            rctdb_integration::bench::fmt_duration(median(&v)),
            rctdb_integration::bench::fmt_duration(p90),
            rctdb_integration::bench::fmt_duration(v[0]),
            rctdb_integration::bench::fmt_duration(v[n - 1]),
            r.ctdb
        );
    }
}

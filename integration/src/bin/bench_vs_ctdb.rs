//! Side-by-side benchmark of rctdb and CTDB 4.17 on the same 3-node
//! namespace cluster (issue 7).
//!
//! ```text
//! cargo build --release --workspace --bins
//! sudo RCTDB_BIN_DIR=target/release target/release/bench_vs_ctdb --vs-ctdb [--quick] [--runs N]
//!      [--rctdb-runs N] [--only CASE]... [--out DIR]
//! ```
//!
//! Both systems are driven by the same code through their public
//! interfaces only: the CLI (`pnn`, `ip`, `-X status`, `leader`,
//! `shutdown`, `event status legacy monitor`), configuration files, and the
//! kernel addresses of each host read by [`Sampler`] (getifaddrs inside
//! each namespace every 5 ms). CTDB runs from Debian's `ctdb` package as
//! `rctdb_integration::ctdb` describes. Every case builds a fresh cluster
//! (3 hosts, 6 public addresses on pub0, the stock `00`, `01.reclock` and
//! `10.interface` scripts, a cluster lock in a shared directory); the
//! clean stop is followed by the failback and then, on the cluster made
//! whole again, the kill -9 of the leader:
//!
//! - **start**: all daemons spawned at once, until every address is up on
//!   some host and `-X status` on every node shows every node OK (each
//!   cluster built for a 6-address case gives one sample);
//! - then, after the cluster has settled (healthy, each address on exactly
//!   one host, every host holding some, no kernel change for 2 s), a fault,
//!   and the time until the last address the victim held is up on a
//!   survivor: `shutdown` of a non-leader, `kill -9` of a non-leader's
//!   daemon, of the leader's, the non-leader's cluster link down (its
//!   switch port), `kill -9` with 254 addresses;
//! - **failback**: after the clean stop, once the survivors host
//!   everything, the victim's daemon is spawned again: until it holds its
//!   share (addresses / nodes) and no address is on two hosts (after a
//!   kill -9 CTDB leaves the dead node's addresses on its interface, so the
//!   clean stop is the comparable start point);
//! - CLI latency on node 0 (the CLI spawned from a thread that has entered
//!   node 0's network namespace: no wrapper process is timed; the cost of
//!   `ip netns exec NS true` is reported separately), PSS per node (every
//!   process of the node: `rctdb*` / `ctdb*` comm names in the namespace,
//!   from /proc/PID/smaps_rollup), and one monitor cycle (the sum of the
//!   script durations `event status legacy monitor` prints).
//!
//! Timings: "default" uses each system's defaults (rctdb: no tunables,
//! `leader timeout = 5`); "tight" the smallest each accepts: rctdb
//! KeepaliveInterval=100ms KeepaliveLimit=3 `leader timeout = 500ms` `lease time = 500ms`
//! MonitorInterval=1, CTDB KeepaliveInterval=1 KeepaliveLimit=2
//! `leader timeout = 2` MonitorInterval=1 (whole seconds only; CTDB accepts
//! KeepaliveLimit=1 and `leader timeout = 1` but then never settles: peers
//! are declared dead between two keepalives, and the leader, which
//! broadcasts every second, misses its own 1 s deadline).
//!
//! `--out DIR` (default `.`) receives a timeline of the first kill -9 of a
//! non-leader per system: `benchmarks-<system>.png` (rows = addresses, x =
//! time, colour = hosting node, red line = the fault) and the same as text
//! in `benchmarks-<system>-timeline.txt`. Needs root.

use rctdb_integration::bench::fmt_duration;
use rctdb_integration::ctdb::{self, CtdbCluster};
use rctdb_integration::failover::{self, PubCluster, Sampler, Setup, Snapshot};
use rctdb_integration::png::{Image, Rgb};
use rctdb_integration::{bin_dir, describe, netns, process};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const NODES: usize = 3;
const ALL: [usize; NODES] = [0, 1, 2];
const POLL: Duration = Duration::from_millis(5);
const START_LIMIT: Duration = Duration::from_secs(120);
const FAULT_LIMIT: Duration = Duration::from_secs(90);
const STABLE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sys {
    Rctdb,
    Ctdb,
}

impl Sys {
    fn name(self) -> &'static str {
        match self {
            Sys::Rctdb => "rctdb",
            Sys::Ctdb => "ctdb",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Timing {
    Default,
    Tight,
}

/// One cluster built per run of a case: the start, then its faults.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    Kill9,
    StopLeader,
    LinkCut,
    LeaderTight,
    LinkCutTight,
    Many,
}

impl Case {
    const ALL: [Case; 6] =
        [Case::Kill9, Case::StopLeader, Case::LinkCut, Case::LeaderTight, Case::LinkCutTight, Case::Many];

    fn key(self) -> &'static str {
        match self {
            Case::Kill9 => "kill9",
            Case::StopLeader => "stop",
            Case::LinkCut => "linkcut",
            Case::LeaderTight => "leader-tight",
            Case::LinkCutTight => "linkcut-tight",
            Case::Many => "many",
        }
    }

    fn timing(self) -> Timing {
        match self {
            Case::LeaderTight | Case::LinkCutTight => Timing::Tight,
            _ => Timing::Default,
        }
    }

    fn addrs(self) -> usize {
        if self == Case::Many {
            254
        } else {
            6
        }
    }

    /// Runs of this case: `--runs` for CTDB; for rctdb `--rctdb-runs` for
    /// the quick tight cases, `--runs` for the rest; `--many-runs` for
    /// the 254-address case.
    fn runs(self, sys: Sys, o: &Opts) -> usize {
        match (self, sys) {
            (Case::Many, _) => o.many_runs,
            (Case::LeaderTight | Case::LinkCutTight, Sys::Rctdb) => o.rctdb_runs,
            _ => o.runs,
        }
    }
}

/// A line of the result table.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
enum Row {
    Start,
    StartTight,
    Stop,
    Kill9,
    Leader,
    LinkCut,
    LeaderTight,
    LinkCutTight,
    Failback,
    Many,
    CliPnn,
    CliIp,
    CliStatusX,
    CliStatus,
    CliVersion,
    SpawnTrue,
    Wrapper,
    Pss,
    Monitor,
}

impl Row {
    const ALL: [Row; 19] = [
        Row::Start,
        Row::StartTight,
        Row::Stop,
        Row::Kill9,
        Row::Leader,
        Row::LinkCut,
        Row::LeaderTight,
        Row::LinkCutTight,
        Row::Failback,
        Row::Many,
        Row::CliPnn,
        Row::CliIp,
        Row::CliStatusX,
        Row::CliStatus,
        Row::CliVersion,
        Row::SpawnTrue,
        Row::Wrapper,
        Row::Pss,
        Row::Monitor,
    ];

    fn name(self) -> &'static str {
        match self {
            Row::Start => "start: all nodes OK, all addresses up",
            Row::StartTight => "start, tight timings",
            Row::Stop => "failover: clean stop (`shutdown`), non-leader",
            Row::Kill9 => "failover: kill -9 non-leader",
            Row::Leader => "failover: kill -9 leader",
            Row::LinkCut => "failover: cluster link cut, non-leader",
            Row::LeaderTight => "failover: kill -9 leader, tight timings",
            Row::LinkCutTight => "failover: link cut, tight timings",
            Row::Failback => "failback: node back until it holds its share",
            Row::Many => "failover: kill -9 non-leader, 254 addresses",
            Row::CliPnn => "CLI `pnn`",
            Row::CliIp => "CLI `ip`",
            Row::CliStatusX => "CLI `-X status`",
            Row::CliStatus => "CLI `status`",
            Row::CliVersion => "CLI `version` (no daemon contact)",
            Row::SpawnTrue => "(`/bin/true` spawned the same way)",
            Row::Wrapper => "(wrapper `ip netns exec NS true`, not in the CLI rows)",
            Row::Pss => "memory per node (PSS, all its processes)",
            Row::Monitor => "one monitor cycle (sum of script durations)",
        }
    }

    /// The rctdb goal, as a limit in seconds (or bytes for PSS).
    fn goal(self) -> Option<(f64, &'static str)> {
        match self {
            Row::Start => Some((2.0, "≤ 2 s")),
            Row::Stop | Row::Kill9 => Some((0.1, "≤ 0.1 s")),
            Row::Leader | Row::LeaderTight | Row::LinkCutTight => Some((0.5, "≤ 0.5 s")),
            Row::Failback => Some((3.0, "≤ 3 s")),
            Row::CliPnn | Row::CliIp | Row::CliStatusX | Row::CliStatus => Some((0.0015, "≤ 1.5 ms")),
            Row::Pss => Some((6.0e6, "≤ 6 MB")),
            _ => None,
        }
    }

    fn reference(self) -> &'static str {
        match self {
            Row::Start => "22.4 s",
            Row::Stop => "0.70 s",
            Row::Kill9 => "0.75 s",
            Row::Leader => "5.2 s",
            Row::LinkCut => "27.7 s",
            Row::Failback => "25.7 s",
            Row::CliPnn => "4.8 ms",
            Row::CliStatusX => "5.1 ms",
            Row::CliStatus => "1000 ms",
            Row::Pss => "23 MB",
            Row::Monitor => "58 ms",
            _ => "",
        }
    }
}

/// Milliseconds from the start or fault to each named step (None: not
/// logged).
type Steps = Vec<(&'static str, Option<f64>)>;

/// Samples per row, per system: seconds (bytes for PSS), or a failure.
#[derive(Default)]
struct Results {
    rows: Vec<(Sys, Row, Result<f64, String>)>,
    /// Per sample: milliseconds from the start or fault to each step the
    /// daemons log.
    steps: Vec<(Sys, Row, Steps)>,
}

impl Results {
    fn add(&mut self, sys: Sys, row: Row, v: Result<f64, String>) {
        match &v {
            Ok(x) if row == Row::Pss => eprintln!("  {} {}: {:.2} MB", sys.name(), row.name(), x / 1e6),
            Ok(x) => eprintln!("  {} {}: {}", sys.name(), row.name(), fmt_duration(Duration::from_secs_f64(*x))),
            Err(e) => eprintln!("  {} {}: FAILED: {e}", sys.name(), row.name()),
        }
        self.rows.push((sys, row, v));
    }

    fn values(&self, sys: Sys, row: Row) -> (Vec<f64>, Vec<String>) {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for (s, r, v) in &self.rows {
            if *s == sys && *r == row {
                match v {
                    Ok(x) => ok.push(*x),
                    Err(e) => bad.push(e.clone()),
                }
            }
        }
        ok.sort_by(|a, b| a.total_cmp(b));
        (ok, bad)
    }
}

fn median(v: &[f64]) -> Option<f64> {
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// One test bed: the same hosts, either system on them.
enum Bed {
    R(PubCluster),
    C(CtdbCluster),
}

impl Bed {
    fn build(sys: Sys, timing: Timing, addrs: usize) -> Bed {
        let client = addrs <= 253;
        match sys {
            Sys::Rctdb => {
                let mut st = Setup::new(NODES, addrs);
                if !client {
                    st = st.without_client();
                }
                match timing {
                    Timing::Default => {
                        st.tunables.clear();
                        st.leader_timeout = "5".into();
                    }
                    Timing::Tight => {
                        st = st.fast();
                        st.lease_time = Some("500ms".into());
                    }
                }
                Bed::R(st.log_level("NOTICE").not_started(&ALL).start())
            }
            Sys::Ctdb => {
                let (tun, lt): (Vec<(String, String)>, Option<&str>) = match timing {
                    Timing::Default => (Vec::new(), None),
                    Timing::Tight => (
                        vec![
                            ("KeepaliveInterval".into(), "1".into()),
                            ("KeepaliveLimit".into(), "2".into()),
                            ("MonitorInterval".into(), "1".into()),
                        ],
                        Some("2"),
                    ),
                };
                Bed::C(CtdbCluster::build(NODES, addrs, client, &tun, lt))
            }
        }
    }

    fn pc(&self) -> &PubCluster {
        match self {
            Bed::R(pc) => pc,
            Bed::C(c) => &c.pc,
        }
    }

    fn spawn(&self, i: usize) {
        match self {
            Bed::R(pc) => pc.node(i).spawn(),
            Bed::C(c) => c.node(i).spawn(),
        }
    }

    fn kill9(&self, i: usize) {
        match self {
            Bed::R(pc) => pc.kill9(i),
            Bed::C(c) => c.node(i).kill9(),
        }
    }

    fn cli_command(&self, i: usize, args: &[&str]) -> Command {
        match self {
            Bed::R(pc) => pc.node(i).cli_command(args),
            Bed::C(c) => c.node(i).cli_command(args),
        }
    }

    fn cli(&self, i: usize, args: &[&str]) -> Result<String, String> {
        let out = process::output_with_timeout(&mut self.cli_command(i, args), Duration::from_secs(30))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("node {i}: {args:?}: {}", describe(&out)))
        }
    }

    fn report(&self, msg: &str) -> String {
        match self {
            Bed::R(pc) => pc.report(msg),
            Bed::C(c) => c.report(msg),
        }
    }

    /// Ok if node `i`'s `-X status` shows every node of `live` with no flag.
    fn live_ok_seen_by(&self, i: usize, live: &[usize]) -> Result<(), String> {
        let text = self.cli(i, &["-X", "status"])?;
        let mut seen = BTreeSet::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split('|').collect();
            let Some(pnn) = f.get(1).and_then(|p| p.parse::<usize>().ok()) else { continue };
            if f.len() < 11 {
                return Err(format!("node {i}: short `-X status` row {line:?}"));
            }
            if live.contains(&pnn) {
                if f[3..10].iter().any(|x| *x != "0") {
                    return Err(format!("node {i} sees {line}"));
                }
                seen.insert(pnn);
            }
        }
        if seen.len() == live.len() {
            Ok(())
        } else {
            Err(format!("node {i}: `-X status` lists {seen:?} of {live:?}"))
        }
    }

    fn live_ok(&self, live: &[usize]) -> Result<(), String> {
        live.iter().try_for_each(|&i| self.live_ok_seen_by(i, live))
    }

    fn leader(&self, live: &[usize]) -> Result<usize, String> {
        let mut seen = BTreeSet::new();
        for &i in live {
            let t = self.cli(i, &["leader"])?;
            seen.insert(t.trim().parse::<usize>().map_err(|_| format!("node {i}: `leader` printed {t:?}"))?);
        }
        match seen.iter().copied().collect::<Vec<_>>().as_slice() {
            [l] if live.contains(l) => Ok(*l),
            _ => Err(format!("leaders seen: {seen:?}")),
        }
    }

    /// Sum of the script durations of the last monitor run on node `i`.
    fn monitor_cycle(&self, i: usize) -> Result<f64, String> {
        let args = ["event", "status", "legacy", "monitor"];
        let text = match self {
            Bed::R(_) => {
                let out = process::output_with_timeout(&mut self.cli_command(i, &args), Duration::from_secs(30))?;
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
            Bed::C(c) => String::from_utf8_lossy(&c.node(i).cli_in_mounts(&args)?.stdout).into_owned(),
        };
        let mut sum = 0.0;
        let mut n = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 3 && (f[1] == "OK" || f[1] == "ERROR") {
                sum += f[2].parse::<f64>().map_err(|_| format!("node {i}: bad line {line:?}"))?;
                n += 1;
            }
        }
        if n == 0 {
            return Err(format!("node {i}: no script lines in {text:?}"));
        }
        Ok(sum)
    }

    /// Timed lines of node `i`'s log containing `needle`.
    fn log_lines(&self, i: usize, needle: &str) -> Vec<(SystemTime, String)> {
        match self {
            Bed::R(pc) => failover::log_lines(&pc.node(i).log_text(), needle),
            Bed::C(c) => ctdb::log_lines(&c.node(i).log_text(), needle),
        }
    }

    /// Milliseconds after `since` of the first line containing `needle` on
    /// each of `nodes`; the earliest (`last` false) or the latest of those.
    fn step(&self, nodes: &[usize], needle: &str, since: SystemTime, last: bool) -> Option<f64> {
        let firsts: Vec<f64> = nodes
            .iter()
            .filter_map(|&i| {
                self.log_lines(i, needle)
                    .into_iter()
                    .filter(|(t, _)| *t >= since)
                    .map(|(t, _)| failover::ms_between(since, t))
                    .min_by(|a, b| a.total_cmp(b))
            })
            .collect();
        if last && firsts.len() < nodes.len() {
            return None;
        }
        let it = firsts.into_iter();
        if last {
            it.max_by(|a, b| a.total_cmp(b))
        } else {
            it.min_by(|a, b| a.total_cmp(b))
        }
    }

    fn proc_prefix(&self) -> &'static str {
        match self {
            Bed::R(_) => "rctdb",
            Bed::C(_) => "ctdb",
        }
    }
}

/// What each system logs at each step: (step, rctdb needle, CTDB needle).
type StepDef = (&'static str, &'static str, &'static str);

/// Start: when the LAST node got there.
const START_STEPS: [StepDef; 5] = [
    ("daemon listening", "Listening on", "Listening to ctdb socket"),
    ("first recovery done", "First recovery done", "Set runstate to STARTUP"),
    ("startup event OK (RUNNING)", "startup event OK", "Set runstate to RUNNING"),
    ("healthy (first monitor OK)", "monitor event OK - node re-enabled", "monitor event OK - node re-enabled"),
    ("takes over its first address", "Took over IP", "Takeover of IP"),
];

/// Failover: the first survivor to get there.
const FAILOVER_STEPS: [StepDef; 8] = [
    ("a survivor marks the victim dead", "is dead", "is dead"),
    ("election started", "starting an election", "Start election"),
    ("new leader", "is now the leader", "Took cluster lock, leader="),
    ("recovery started", "Recovery initiated", "Recovery initiated"),
    ("recovery complete", "Recovery complete", "Recovery complete"),
    ("takeover run started", "Takeover run starting", "Takeover run starting"),
    ("first address taken over", "Took over IP", "Takeover of IP"),
    ("takeover run complete", "Takeover run completed", "Takeover run completed"),
];

fn steps_of(bed: &Bed, defs: &[StepDef], nodes: &[usize], since: SystemTime, last: bool) -> Steps {
    defs.iter()
        .map(|(name, r, c)| {
            let needle = if matches!(bed, Bed::R(_)) { r } else { c };
            (*name, bed.step(nodes, needle, since, last))
        })
        .collect()
}

struct Opts {
    vs_ctdb: bool,
    runs: usize,
    rctdb_runs: usize,
    many_runs: usize,
    only: Vec<String>,
    out: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench_vs_ctdb [--vs-ctdb] [--quick] [--runs N] [--rctdb-runs N] [--many-runs N] [--out DIR] [--only CASE]...\n\
         cases: kill9 (also CLI, memory, monitor) stop (then failback, then kill -9 of the leader) linkcut\n\
         leader-tight linkcut-tight many"
    );
    std::process::exit(2)
}

fn main() {
    let mut o =
        Opts { vs_ctdb: false, runs: 3, rctdb_runs: 5, many_runs: 1, only: Vec::new(), out: PathBuf::from(".") };
    let mut args = std::env::args().skip(1);
    let num = |v: Option<String>| v.and_then(|v| v.parse().ok()).filter(|n: &usize| *n > 0).unwrap_or_else(|| usage());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--vs-ctdb" => o.vs_ctdb = true,
            "--quick" => {
                o.runs = 1;
                o.rctdb_runs = 1;
                o.many_runs = 1;
            }
            "--runs" => o.runs = num(args.next()),
            "--rctdb-runs" => o.rctdb_runs = num(args.next()),
            "--many-runs" => o.many_runs = num(args.next()),
            "--out" => o.out = PathBuf::from(args.next().unwrap_or_else(|| usage())),
            "--only" => o.only.push(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    let cases: Vec<Case> =
        Case::ALL.iter().copied().filter(|c| o.only.is_empty() || o.only.iter().any(|k| k == c.key())).collect();
    if cases.is_empty() {
        usage();
    }
    eprintln!("rctdb binaries from {}", bin_dir().display());
    let mut systems = vec![Sys::Rctdb];
    let mut ctdb_missing = None;
    if o.vs_ctdb {
        match ctdb::unsupported_reason() {
            None => systems.push(Sys::Ctdb),
            Some(r) => {
                println!("ctdb: not supported on this machine: {r}");
                ctdb_missing = Some(r);
            }
        }
    }
    let t_all = Instant::now();
    let mut res = Results::default();
    for &sys in &systems {
        for &case in &cases {
            let runs = case.runs(sys, &o);
            for run in 0..runs {
                eprintln!(
                    "{} {} run {}/{runs} ({:.0} s so far)",
                    sys.name(),
                    case.key(),
                    run + 1,
                    t_all.elapsed().as_secs_f64()
                );
                run_case(sys, case, run == 0, &o, &mut res);
            }
        }
    }
    print_report(&o, &systems, ctdb_missing.as_deref(), &res, t_all.elapsed());
}

fn run_case(sys: Sys, case: Case, first: bool, o: &Opts, res: &mut Results) {
    let bed = Bed::build(sys, case.timing(), case.addrs());
    let sampler = Sampler::start(&bed.pc().namespaces(), POLL).expect("start the kernel sampler");
    let addrs = bed.pc().addrs.clone();
    // Start.
    let (t0, w0) = (Instant::now(), SystemTime::now());
    for i in ALL {
        bed.spawn(i);
    }
    let start = measure_start(&bed, &sampler, &addrs, t0);
    let first_row = case.faults()[0].1;
    match (start, case.timing()) {
        (Err(e), _) => {
            res.add(sys, first_row, Err(format!("start: {e}")));
            eprintln!("{}", bed.report("start failed"));
            save_logs(&bed, o, &format!("{}-{}-start", sys.name(), case.key()));
            return;
        }
        (Ok(s), Timing::Tight) => res.add(sys, Row::StartTight, Ok(s)),
        (Ok(s), Timing::Default) if case.addrs() == 6 => res.add(sys, Row::Start, Ok(s)),
        (Ok(s), Timing::Default) => {
            eprintln!("  ({} addresses: started in {})", case.addrs(), fmt_duration(Duration::from_secs_f64(s)))
        }
    }
    if let Err(e) = settle(&bed, &sampler, &addrs, &ALL, true) {
        res.add(sys, first_row, Err(format!("did not settle: {e}")));
        eprintln!("{}", bed.report("did not settle"));
        save_logs(&bed, o, &format!("{}-{}-settle", sys.name(), case.key()));
        return;
    }
    if case.timing() == Timing::Default && case.addrs() == 6 {
        res.steps.push((sys, Row::Start, steps_of(&bed, &START_STEPS, &ALL, w0, true)));
    }
    if case == Case::Kill9 {
        extras(sys, &bed, res);
    }
    for (k, (fault, row)) in case.faults().iter().copied().enumerate() {
        if k > 0 {
            // The cluster is whole again (failback): settle before the next
            // fault.
            if let Err(e) = settle(&bed, &sampler, &addrs, &ALL, true) {
                res.add(sys, row, Err(format!("did not settle after the failback: {e}")));
                save_logs(&bed, o, &format!("{}-{}-settle2", sys.name(), case.key()));
                return;
            }
        }
        let Some(victim) = apply_fault(&bed, &sampler, fault, row, first, o, res) else { return };
        if fault == Fault::Stop && !failback(&bed, &sampler, victim, o, res) {
            return;
        }
    }
}

/// A fault the driver applies to one node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    /// `shutdown` of a non-leader.
    Stop,
    /// kill -9 of a non-leader's daemon.
    Kill9,
    /// kill -9 of the leader's daemon.
    Kill9Leader,
    /// A non-leader's cluster link (its switch port) down.
    LinkCut,
}

impl Case {
    /// The faults, in order, on one cluster, and the row each feeds. The
    /// clean stop is followed by the failback, which makes the cluster
    /// whole again for the kill -9 of the leader.
    fn faults(self) -> &'static [(Fault, Row)] {
        match self {
            Case::Kill9 => &[(Fault::Kill9, Row::Kill9)],
            Case::StopLeader => &[(Fault::Stop, Row::Stop), (Fault::Kill9Leader, Row::Leader)],
            Case::LinkCut => &[(Fault::LinkCut, Row::LinkCut)],
            Case::LeaderTight => &[(Fault::Kill9Leader, Row::LeaderTight)],
            Case::LinkCutTight => &[(Fault::LinkCut, Row::LinkCutTight)],
            Case::Many => &[(Fault::Kill9, Row::Many)],
        }
    }
}

/// Apply `fault` to a settled 3-node cluster and record the time until
/// every address the victim held is up on a survivor. Returns the victim.
fn apply_fault(
    bed: &Bed,
    sampler: &Sampler,
    fault: Fault,
    row: Row,
    first: bool,
    o: &Opts,
    res: &mut Results,
) -> Option<usize> {
    let sys = if matches!(bed, Bed::R(_)) { Sys::Rctdb } else { Sys::Ctdb };
    let addrs = bed.pc().addrs.clone();
    let leader = match bed.leader(&ALL) {
        Ok(l) => l,
        Err(e) => {
            res.add(sys, row, Err(e));
            return None;
        }
    };
    let victim = if fault == Fault::Kill9Leader { leader } else { (leader + 1) % NODES };
    let survivors: Vec<usize> = ALL.iter().copied().filter(|&i| i != victim).collect();
    let moved: Vec<Ipv4Addr> = sampler.latest().hosts[victim].iter().copied().collect();
    let (t_fault, w_fault) = (Instant::now(), SystemTime::now());
    match fault {
        Fault::Stop => {
            let mut cmd = bed.cli_command(victim, &["shutdown"]);
            match cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn() {
                Ok(mut child) => {
                    std::thread::spawn(move || child.wait());
                }
                Err(e) => panic!("shutdown: {e}"),
            }
        }
        Fault::Kill9 | Fault::Kill9Leader => bed.kill9(victim),
        Fault::LinkCut => bed.pc().link_down(victim),
    }
    let got = sampler
        .wait_for(t_fault, FAULT_LIMIT, |hosts| moved.iter().all(|a| survivors.iter().any(|&i| hosts[i].contains(a))));
    let Some(got) = got else {
        res.add(sys, row, Err(format!("addresses {moved:?} not up elsewhere within {FAULT_LIMIT:?}")));
        eprintln!("{}", bed.report("no failover"));
        save_logs(bed, o, &format!("{}-{row:?}", sys.name()));
        return None;
    };
    res.add(sys, row, Ok((got.at - t_fault).as_secs_f64()));
    // Let the logs catch up.
    std::thread::sleep(Duration::from_millis(500));
    res.steps.push((sys, row, steps_of(bed, &FAILOVER_STEPS, &survivors, w_fault, false)));
    if row == Row::Kill9 && first {
        if let Err(e) = write_timeline(o, sys, &sampler.changes(), t_fault, got.at, victim, &addrs) {
            eprintln!("timeline: {e}");
        }
    }
    Some(victim)
}

/// After the clean stop of `victim`: once the survivors host everything,
/// spawn it again and record the time until it holds its share and no
/// address is on two hosts. False if that failed.
fn failback(bed: &Bed, sampler: &Sampler, victim: usize, o: &Opts, res: &mut Results) -> bool {
    let sys = if matches!(bed, Bed::R(_)) { Sys::Rctdb } else { Sys::Ctdb };
    let addrs = bed.pc().addrs.clone();
    let survivors: Vec<usize> = ALL.iter().copied().filter(|&i| i != victim).collect();
    if let Err(e) = settle(bed, sampler, &addrs, &survivors, true) {
        res.add(sys, Row::Failback, Err(format!("survivors did not settle: {e}")));
        save_logs(bed, o, &format!("{}-failback-settle", sys.name()));
        return false;
    }
    let share = addrs.len() / NODES;
    let (t_back, w_back) = (Instant::now(), SystemTime::now());
    bed.spawn(victim);
    let got = sampler.wait_for(t_back, FAULT_LIMIT, |hosts| {
        hosts[victim].len() >= share && addrs.iter().all(|a| hosts.iter().filter(|h| h.contains(a)).count() == 1)
    });
    match got {
        Some(g) => {
            res.add(sys, Row::Failback, Ok((g.at - t_back).as_secs_f64()));
            std::thread::sleep(Duration::from_millis(300));
            res.steps.push((sys, Row::Failback, steps_of(bed, &START_STEPS, &[victim], w_back, true)));
            true
        }
        None => {
            res.add(sys, Row::Failback, Err(format!("node {victim} did not get {share} addresses back")));
            eprintln!("{}", bed.report("no failback"));
            save_logs(bed, o, &format!("{}-failback", sys.name()));
            false
        }
    }
}

/// Copy every node's log to `<out>/failed-<tag>-<pid>/` (the harness
/// removes its directory at the end).
fn save_logs(bed: &Bed, o: &Opts, tag: &str) {
    let dir = o.out.join(format!("failed-{tag}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    for i in ALL {
        let log = match bed {
            Bed::R(pc) => pc.node(i).log.clone(),
            Bed::C(c) => c.node(i).log.clone(),
        };
        let _ = std::fs::copy(&log, dir.join(format!("n{i}.log")));
    }
    eprintln!("logs saved in {}", dir.display());
}

/// From spawn to: every address up on some host, and every node's
/// `-X status` showing all nodes OK (polled once the addresses are up).
fn measure_start(bed: &Bed, sampler: &Sampler, addrs: &[Ipv4Addr], t0: Instant) -> Result<f64, String> {
    let up = sampler
        .wait_for(t0, START_LIMIT, |hosts| addrs.iter().all(|a| hosts.iter().any(|h| h.contains(a))))
        .ok_or_else(|| format!("not every address up within {START_LIMIT:?}"))?;
    let mut last = String::new();
    while t0.elapsed() < START_LIMIT {
        match bed.live_ok(&ALL) {
            Ok(()) => {
                let healthy = Instant::now();
                return Ok((healthy.max(up.at) - t0).as_secs_f64());
            }
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Err(format!("not all nodes OK within {START_LIMIT:?}: {last}"))
}

/// Wait until the nodes of `live` are OK, each address is on exactly one
/// of them (and, if `strict`, on no other host), each holds some, and the
/// kernel has not changed for [`STABLE`].
fn settle(bed: &Bed, sampler: &Sampler, addrs: &[Ipv4Addr], live: &[usize], strict: bool) -> Result<(), String> {
    let deadline = Instant::now() + START_LIMIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        let changes = sampler.changes();
        let latest = sampler.latest();
        let since = changes.last().map(|c| c.at).unwrap_or_else(Instant::now);
        let placed = addrs.iter().all(|a| {
            let on: Vec<usize> = latest.holders(*a);
            let on_live = on.iter().filter(|h| live.contains(h)).count();
            on_live == 1 && (!strict || on.len() == 1)
        });
        let spread = live.iter().all(|&i| !latest.hosts[i].is_empty());
        if !placed || !spread {
            last = format!("kernel: {:?}", latest.hosts);
        } else if since.elapsed() < STABLE {
            last = "kernel changed less than 2 s ago".into();
        } else {
            match bed.live_ok(live) {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(last)
}

/// CLI latency, PSS and the monitor cycle on a settled cluster.
fn extras(sys: Sys, bed: &Bed, res: &mut Results) {
    let cmds: [(Row, Command, usize); 6] = [
        (Row::CliPnn, bed.cli_command(0, &["pnn"]), 30),
        (Row::CliIp, bed.cli_command(0, &["ip"]), 30),
        (Row::CliStatusX, bed.cli_command(0, &["-X", "status"]), 30),
        (Row::CliStatus, bed.cli_command(0, &["status"]), if sys == Sys::Ctdb { 3 } else { 30 }),
        (Row::CliVersion, bed.cli_command(0, &["version"]), 30),
        (Row::SpawnTrue, Command::new("/bin/true"), 30),
    ];
    let ns = bed.pc().node(0).netns.clone();
    for (row, cmd, n) in cmds {
        let prog = cmd.get_program().to_owned();
        let argv: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        let envs: Vec<_> = cmd.get_envs().map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned()))).collect();
        // The CLI is spawned from a thread inside node 0's namespace: only
        // the CLI process itself is timed.
        let times = netns::in_netns(&ns, move || -> Result<Vec<f64>, String> {
            let mut v = Vec::new();
            for k in 0..n + 1 {
                let mut c = Command::new(&prog);
                c.args(&argv).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
                for (key, val) in &envs {
                    match val {
                        Some(val) => c.env(key, val),
                        None => c.env_remove(key),
                    };
                }
                let t = Instant::now();
                let out = c.output().map_err(|e| e.to_string())?;
                let d = t.elapsed().as_secs_f64();
                if !out.status.success() {
                    return Err(describe(&out));
                }
                if k > 0 {
                    v.push(d); // the first call warms the page cache
                }
            }
            Ok(v)
        });
        match times {
            Ok(Ok(v)) => {
                let mut v = v;
                v.sort_by(|a, b| a.total_cmp(b));
                res.add(sys, row, Ok(median(&v).unwrap_or(f64::NAN)));
            }
            Ok(Err(e)) => res.add(sys, row, Err(e)),
            Err(e) => res.add(sys, row, Err(e.to_string())),
        }
    }
    let mut w = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let ok = Command::new("ip").args(["netns", "exec", &ns, "true"]).status().map(|s| s.success());
        if matches!(ok, Ok(true)) {
            w.push(t.elapsed().as_secs_f64());
        }
    }
    w.sort_by(|a, b| a.total_cmp(b));
    res.add(sys, Row::Wrapper, median(&w).ok_or_else(|| "ip netns exec failed".to_string()));
    for i in ALL {
        res.add(sys, Row::Pss, node_pss(&bed.pc().node(i).netns, bed.proc_prefix()));
        res.add(sys, Row::Monitor, bed.monitor_cycle(i));
    }
}

/// PSS in bytes summed over the processes of namespace `ns` whose name
/// starts with `prefix` (the daemon and its helpers, not event scripts).
fn node_pss(ns: &str, prefix: &str) -> Result<f64, String> {
    let mut total = 0u64;
    let mut names = Vec::new();
    for pid in netns::pids(ns) {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let comm = comm.trim();
        if !comm.starts_with(prefix) {
            continue;
        }
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).map_err(|e| format!("{pid}: {e}"))?;
        let kb: u64 = rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|k| k.parse().ok())
            .ok_or_else(|| format!("no Pss in /proc/{pid}/smaps_rollup"))?;
        total += kb * 1024;
        names.push(format!("{comm} {} kB", kb));
    }
    if names.is_empty() {
        return Err(format!("no {prefix}* process in {ns}"));
    }
    eprintln!("    {ns}: {}", names.join(", "));
    Ok(total as f64)
}

const NODE_COLOURS: [Rgb; 3] = [[31, 119, 180], [255, 127, 14], [44, 160, 44]];
const NONE: Rgb = [225, 225, 225];
const SEVERAL: Rgb = [0, 0, 0];

/// The PNG and text timeline of one failover: 0.5 s before the fault to
/// 0.5 s after the last address came up.
fn write_timeline(
    o: &Opts,
    sys: Sys,
    changes: &[Snapshot],
    fault: Instant,
    done: Instant,
    victim: usize,
    addrs: &[Ipv4Addr],
) -> Result<(), String> {
    let from = fault.checked_sub(Duration::from_millis(500)).unwrap_or(fault);
    let to = done + Duration::from_millis(500);
    let ms = |t: Instant| -> f64 {
        if t >= fault {
            (t - fault).as_secs_f64() * 1000.0
        } else {
            -((fault - t).as_secs_f64() * 1000.0)
        }
    };
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# {}: kill -9 of node {victim}'s daemon at t=0; failover done at {:.1} ms (kernel addresses, 5 ms sampling)",
        sys.name(),
        ms(done)
    );
    let _ = writeln!(text, "# t_ms  then, per host: the last octets of the 198.51.100.x addresses on its pub0");
    // The state at `from`, then every change up to `to`.
    let first = changes.iter().rposition(|c| c.at <= from).unwrap_or(0);
    let shown: Vec<&Snapshot> = changes[first..].iter().filter(|c| c.at <= to).collect();
    for c in &shown {
        let _ = write!(text, "{:9.1}", ms(c.at.max(from)));
        for (i, h) in c.hosts.iter().enumerate() {
            let v: Vec<String> = h.iter().map(|a| a.octets()[3].to_string()).collect();
            let _ = write!(text, "  node{i}: {:<12}", v.join(","));
        }
        text.push('\n');
    }
    let (width, row_h, gap, margin, left) = (900u32, 16u32, 4u32, 12u32, 44u32);
    let height = margin * 2 + addrs.len() as u32 * (row_h + gap) + 40;
    let mut img = Image::new(width, height, [255, 255, 255]);
    let span = (to - from).as_secs_f64();
    let x_of = |t: Instant| -> i64 {
        let f = t.saturating_duration_since(from).as_secs_f64() / span;
        left as i64 + (f * (width - left - margin) as f64) as i64
    };
    for (k, a) in addrs.iter().enumerate() {
        let y0 = (margin + k as u32 * (row_h + gap)) as i64;
        img.text(4, y0 + 3, &format!(".{}", a.octets()[3]), 2, [60, 60, 60]);
        for (j, c) in shown.iter().enumerate() {
            let start = c.at.max(from);
            let end = shown.get(j + 1).map(|n| n.at).unwrap_or(to).min(to);
            let holders = c.holders(*a);
            let colour = match holders.as_slice() {
                [] => NONE,
                [one] => NODE_COLOURS[*one % 3],
                _ => SEVERAL,
            };
            img.fill(x_of(start), y0, x_of(end).max(x_of(start) + 1), y0 + row_h as i64, colour);
        }
    }
    // Time axis (t = 0 at the fault): ticks, labels at a round step that
    // leaves room for them, and the fault itself in red.
    let axis_y = (margin + addrs.len() as u32 * (row_h + gap)) as i64 + 2;
    img.fill(left as i64, axis_y, (width - margin) as i64, axis_y + 1, [0, 0, 0]);
    let span_ms = span * 1000.0;
    let label_ms = [100i64, 200, 500, 1000, 2000, 5000, 10_000, 20_000]
        .into_iter()
        .find(|st| span_ms / (*st as f64) <= 9.0)
        .unwrap_or(50_000);
    let tick_ms = (label_ms / 5).max(100);
    let at = |k_ms: i64| -> Instant {
        if k_ms >= 0 {
            fault + Duration::from_millis(k_ms as u64)
        } else {
            fault.checked_sub(Duration::from_millis((-k_ms) as u64)).unwrap_or(from)
        }
    };
    let (lo, hi) = ((ms(from) / tick_ms as f64).ceil() as i64, (ms(to) / tick_ms as f64).floor() as i64);
    for k in lo..=hi {
        let t_ms = k * tick_ms;
        let x = x_of(at(t_ms));
        let labelled = t_ms % label_ms == 0;
        img.fill(x, axis_y, x + 1, axis_y + if labelled { 10 } else { 4 }, [0, 0, 0]);
        if labelled {
            let label = if label_ms < 1000 { format!("{t_ms}ms") } else { format!("{}s", t_ms / 1000) };
            img.text(x + 2, axis_y + 6, &label, 2, [0, 0, 0]);
        }
    }
    img.fill(x_of(fault) - 1, margin as i64 - 6, x_of(fault) + 1, axis_y + 12, [220, 0, 0]);
    // Legend: the node colours, with the node number in each square.
    let ly = axis_y + 24;
    let mut lx = (width - margin) as i64 - 3 * 36;
    for (i, c) in NODE_COLOURS.iter().enumerate() {
        img.fill(lx, ly, lx + 30, ly + 14, *c);
        img.text(lx + 11, ly + 2, &i.to_string(), 2, [255, 255, 255]);
        lx += 36;
    }
    std::fs::create_dir_all(&o.out).map_err(|e| e.to_string())?;
    let png = o.out.join(format!("benchmarks-{}.png", sys.name()));
    std::fs::write(&png, img.encode()).map_err(|e| format!("{}: {e}", png.display()))?;
    let txt = o.out.join(format!("benchmarks-{}-timeline.txt", sys.name()));
    std::fs::write(&txt, text).map_err(|e| format!("{}: {e}", txt.display()))?;
    eprintln!("  timeline: {} and {}", png.display(), txt.display());
    Ok(())
}

fn fmt_value(row: Row, v: f64) -> String {
    if row == Row::Pss {
        format!("{:.1} MB", v / 1e6)
    } else if v >= 1.0 {
        format!("{v:.2} s")
    } else {
        fmt_duration(Duration::from_secs_f64(v))
    }
}

fn cell(res: &Results, sys: Sys, row: Row) -> (String, Option<f64>) {
    let (ok, bad) = res.values(sys, row);
    let fail = if bad.is_empty() { String::new() } else { format!(", {} failed", bad.len()) };
    match median(&ok) {
        None if bad.is_empty() => ("-".into(), None),
        None => (format!("failed ({})", bad[0].lines().next().unwrap_or("")), None),
        Some(m) => {
            let n = ok.len();
            let s = if n == 1 {
                format!("{}{fail}", fmt_value(row, m))
            } else {
                format!("{} ({}–{}, n={n}{fail})", fmt_value(row, m), fmt_value(row, ok[0]), fmt_value(row, ok[n - 1]))
            };
            (s, Some(m))
        }
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu.lines().find_map(|l| l.strip_prefix("model name")).map(|l| l.trim_start_matches([' ', '\t', ':']));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{} cores ({}), kernel {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        model.unwrap_or("unknown CPU"),
        kernel.trim()
    )
}

fn print_report(o: &Opts, systems: &[Sys], ctdb_missing: Option<&str>, res: &Results, took: Duration) {
    println!();
    println!("machine: {}", machine());
    if systems.contains(&Sys::Ctdb) {
        println!("CTDB: {}", ctdb::version());
    }
    if let Some(r) = ctdb_missing {
        println!("ctdb: not supported on this machine: {r}");
    }
    println!("runs: CTDB {} per case, rctdb {} per case; whole run {:.0} s", o.runs, o.rctdb_runs, took.as_secs_f64());
    println!();
    println!("| measurement | rctdb median (min–max, n) | CTDB 4.17 median (min–max, n) | rctdb/CTDB | CTDB reference | rctdb goal | met |");
    println!("|---|---|---|---|---|---|---|");
    for row in Row::ALL {
        let (r, rm) = cell(res, Sys::Rctdb, row);
        let (c, cm) = if systems.contains(&Sys::Ctdb) { cell(res, Sys::Ctdb, row) } else { ("not run".into(), None) };
        if r == "-" && c == "-" {
            continue;
        }
        let ratio = match (rm, cm) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.3}", a / b),
            _ => "-".into(),
        };
        let (goal, met) = match (row.goal(), rm) {
            (Some((limit, g)), Some(m)) => (g.to_string(), if m <= limit { "yes" } else { "**no**" }.to_string()),
            (Some((_, g)), None) => (g.to_string(), "-".into()),
            (None, _) => ("-".into(), "-".into()),
        };
        println!("| {} | {r} | {c} | {ratio} | {} | {goal} | {met} |", row.name(), row.reference());
    }
    println!("\nWhere the time goes: median ms after the start / fault at which the daemons log each step");
    println!("(start and failback: the last node to get there; failover: the first survivor; - = not logged).");
    for row in Row::ALL {
        let per: Vec<(Sys, Vec<&Steps>)> = systems
            .iter()
            .map(|&sy| (sy, res.steps.iter().filter(|(s, r, _)| *s == sy && *r == row).map(|(_, _, v)| v).collect()))
            .collect();
        let Some(names) =
            per.iter().find_map(|(_, v)| v.first()).map(|v| v.iter().map(|(n, _)| *n).collect::<Vec<_>>())
        else {
            continue;
        };
        println!("\n{}:", row.name());
        let mut head = format!("  {:<36}", "step");
        for (sy, v) in &per {
            let _ = write!(head, " {:>14}", format!("{} (n={})", sy.name(), v.len()));
        }
        println!("{head}");
        for name in names {
            let mut line = format!("  {name:<36}");
            for (_, v) in &per {
                let mut xs: Vec<f64> =
                    v.iter().filter_map(|st| st.iter().find(|(n, _)| *n == name).and_then(|(_, t)| *t)).collect();
                xs.sort_by(|a, b| a.total_cmp(b));
                let cell = median(&xs).map(|m| format!("{m:.1}")).unwrap_or_else(|| "-".into());
                let _ = write!(line, " {cell:>14}");
            }
            println!("{line}");
        }
        let mut line = format!("  {:<36}", "measured (kernel addresses)");
        for (sy, _) in &per {
            let (ok, _) = res.values(*sy, row);
            let cell = median(&ok).map(|m| format!("{:.1}", m * 1000.0)).unwrap_or_else(|| "-".into());
            let _ = write!(line, " {cell:>14}");
        }
        println!("{line}");
    }
    let mut failures = Vec::new();
    for (s, row, v) in &res.rows {
        if let Err(e) = v {
            failures.push(format!("{} {}: {e}", s.name(), row.name()));
        }
    }
    if !failures.is_empty() {
        println!("\nfailures:");
        for f in failures {
            println!("  {f}");
        }
    }
}

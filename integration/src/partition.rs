//! Split-brain tools for the fencing tests (issue 6) and `bench_fencing`:
//! network partitions, fence programs that log what they were asked to do,
//! frozen hosts, and a strict "never on two hosts" check over a
//! [`Sampler`]'s readings.
//!
//! - [`Partition::isolate`] cuts one host off from the other nodes, by
//!   blackhole routes on both sides (to and from the other nodes'
//!   192.0.2.x addresses) or by taking its switch port on the cluster
//!   network down. The public network is untouched: an isolated node that
//!   keeps its public addresses still answers on them, which is what makes
//!   a partition dangerous. [`Partition::heal`] (or Drop) undoes it.
//! - [`Fence`] installs a fence program (`/bin/sh` script) in the shared
//!   directory. Every call appends a `start` line (CLOCK_REALTIME to the
//!   nanosecond, call number, pid, network namespace, arguments and
//!   `RCTDB_FENCE_*` environment) and, unless it is killed, an `end` line
//!   with its exit code to `<shared>/fence/log`. "Powering a node off" is:
//!   SIGSTOP then SIGKILL every process in the host's namespace (the
//!   namespace of PNN `p` is in `<shared>/fence/hosts/p`), then
//!   `ip -n NS addr flush dev pub0`.
//! - [`start_with_failover`] builds a [`PubCluster`] with a `[failover]`
//!   section in every node's `rctdb.conf`.
//! - [`double_holders`] lists every sampled reading with an address on
//!   two hosts (invariant 1 without any excuse).

use crate::failover::{PubCluster, Setup, Snapshot, PUBLIC_IFACE};
use crate::netns;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a [`Partition`] cuts a host off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutBy {
    /// Blackhole routes: in the isolated host to each other node's
    /// address, and in each other node to the isolated host's address.
    Blackhole,
    /// The isolated host's port on the cluster switch goes down (no
    /// carrier change inside the host: the veth peer stays up).
    LinkDown,
}

/// One host cut off from a set of peers; healed on [`Partition::heal`] or
/// Drop.
pub struct Partition<'a> {
    pc: &'a PubCluster,
    host: usize,
    peers: Vec<usize>,
    by: CutBy,
    /// Routes added so far, as (namespace, destination): removed on heal
    /// even if isolate failed half way.
    routes: Vec<(String, String)>,
    link_down: bool,
}

impl<'a> Partition<'a> {
    /// Cut `host` off from every host of `peers` (`host` itself is
    /// skipped).
    pub fn isolate(pc: &'a PubCluster, host: usize, peers: &[usize], by: CutBy) -> Partition<'a> {
        let peers: Vec<usize> = peers.iter().copied().filter(|&p| p != host).collect();
        let mut p = Partition { pc, host, peers, by, routes: Vec::new(), link_down: false };
        match by {
            CutBy::Blackhole => {
                let peers = p.peers.clone();
                for q in peers {
                    for (x, y) in [(host, q), (q, host)] {
                        let ns = pc.node(x).netns.clone();
                        let dst = format!("{}/32", pc.node(y).addr);
                        p.routes.push((ns.clone(), dst.clone()));
                        netns::ip_ok(&["-n", &ns, "route", "add", "blackhole", &dst]);
                    }
                }
            }
            CutBy::LinkDown => {
                p.link_down = true;
                pc.link_down(host);
            }
        }
        p
    }

    /// The isolated host.
    pub fn host(&self) -> usize {
        self.host
    }

    /// How it was cut off.
    pub fn cut_by(&self) -> CutBy {
        self.by
    }

    /// The hosts it was cut off from.
    pub fn peers(&self) -> &[usize] {
        &self.peers
    }

    /// Undo the partition (idempotent). Errors are reported: a host may
    /// have been torn down already.
    pub fn heal(&mut self) {
        for (ns, dst) in std::mem::take(&mut self.routes) {
            if let Err(e) = netns::ip(&["-n", &ns, "route", "del", "blackhole", &dst]) {
                eprintln!("harness: healing partition: {e}");
            }
        }
        if std::mem::take(&mut self.link_down) {
            let n = self.pc.node(self.host);
            if let Err(e) = netns::ip(&["-n", &n.switch_ns, "link", "set", &n.switch_port, "up"]) {
                eprintln!("harness: healing partition: {e}");
            }
        }
    }
}

impl Drop for Partition<'_> {
    fn drop(&mut self) {
        self.heal();
    }
}

// ------------------------------------------------------------ fencing

/// The `[failover]` settings of a test cluster.
#[derive(Debug, Clone, Default)]
pub struct FailoverConf {
    /// `fence command`.
    pub fence_command: Option<PathBuf>,
    /// `fence timeout` as written (`1`, `500ms`).
    pub fence_timeout: Option<String>,
    /// `lease time` as written.
    pub lease_time: Option<String>,
}

impl FailoverConf {
    /// The section as it goes into `rctdb.conf`.
    pub fn section(&self) -> String {
        let mut s = String::from("[failover]\n");
        if let Some(c) = &self.fence_command {
            let _ = writeln!(s, "\tfence command = {}", c.display());
        }
        if let Some(t) = &self.fence_timeout {
            let _ = writeln!(s, "\tfence timeout = {t}");
        }
        if let Some(t) = &self.lease_time {
            let _ = writeln!(s, "\tlease time = {t}");
        }
        s
    }
}

/// What a test fence program does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceAction {
    /// Sleep `delay`, power the node off, exit 0.
    PowerOff { delay: Duration },
    /// Exit 0 after `delay` without touching the node (it only logs).
    Succeed { delay: Duration },
    /// Exit 1 on the first `n` calls, then power the node off and exit 0.
    FailFirst(u32),
    /// `sleep 1000` in a child (its pid logged as `child PID`) and wait
    /// for it: only a kill ends it.
    Hang,
}

/// A fence program installed for a cluster, and its log.
pub struct Fence {
    pub dir: PathBuf,
    pub program: PathBuf,
    pub log: PathBuf,
}

/// One call of a fence program, from its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceCall {
    pub call: u32,
    pub pid: i32,
    /// Network namespace it ran in (`ip netns identify`).
    pub netns: String,
    pub args: Vec<String>,
    pub env_pnn: String,
    pub env_address: String,
    pub env_ips: String,
    pub start: SystemTime,
    /// Pid of the `sleep` child ([`FenceAction::Hang`]).
    pub child: Option<i32>,
    /// End time and exit code, unless it was killed.
    pub end: Option<(SystemTime, i32)>,
}

impl Fence {
    /// Write the fence program for `pc` into `<shared>/fence/`, with a
    /// host file per node (PNN = host index → namespace).
    pub fn install(pc: &PubCluster, action: FenceAction) -> Fence {
        let dir = pc.shared_lock_dir().join("fence");
        let hosts = dir.join("hosts");
        fs::create_dir_all(&hosts).unwrap_or_else(|e| panic!("create {}: {e}", hosts.display()));
        for i in 0..pc.len() {
            fs::write(hosts.join(i.to_string()), format!("{}\n", pc.node(i).netns)).expect("write fence host file");
        }
        let log = dir.join("log");
        fs::write(&log, "").expect("create fence log");
        let body = match action {
            FenceAction::PowerOff { delay } => format!("sleep {}\npower_off \"$1\"\nrc=0\n", secs(delay)),
            FenceAction::Succeed { delay } => format!("sleep {}\nrc=0\n", secs(delay)),
            FenceAction::FailFirst(n) => {
                format!("if [ \"$n\" -le {n} ]; then rc=1; else power_off \"$1\"; rc=0; fi\n")
            }
            FenceAction::Hang => "sleep 1000 &\necho \"child $n $!\" >> \"$log\"\nwait\nrc=0\n".to_string(),
        };
        let script = format!(
            r#"#!/bin/sh
# rctdb test fence program ({action:?}); written by the integration harness.
dir='{dir}'
log="$dir/log"
power_off() {{
    ns=$(cat "$dir/hosts/$1") || return 1
    for round in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(ip netns pids "$ns")
        [ -z "$pids" ] && break
        kill -STOP $pids 2>/dev/null
        kill -KILL $pids 2>/dev/null
        sleep 0.05
    done
    ip -n "$ns" -4 addr flush dev {iface}
    echo "powered-off $1 $ns" >> "$log"
}}
start=$(date +%s.%N)
n=$(( $(cat "$dir/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$dir/count"
echo "start $start $n $$ ns=$(ip netns identify $$) pnn=$RCTDB_FENCE_PNN address=$RCTDB_FENCE_ADDRESS ips=$RCTDB_FENCE_IPS args=$*" >> "$log"
{body}echo "end $(date +%s.%N) $n $rc" >> "$log"
exit $rc
"#,
            dir = dir.display(),
            iface = PUBLIC_IFACE,
        );
        let program = dir.join("fence.sh");
        fs::write(&program, script).expect("write fence program");
        fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).expect("chmod fence program");
        Fence { dir, program, log }
    }

    /// The log as text.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<FenceCall> {
        parse_fence_log(&self.log_text())
    }

    /// The first call that exited 0, and its end time.
    pub fn first_success(&self) -> Option<(FenceCall, SystemTime)> {
        self.calls().into_iter().find_map(|c| match c.end {
            Some((t, 0)) => Some((c.clone(), t)),
            _ => None,
        })
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// The calls in a fence log (see [`Fence`]).
pub fn parse_fence_log(text: &str) -> Vec<FenceCall> {
    let mut calls: Vec<FenceCall> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f.first().copied() {
            Some("start") if f.len() >= 4 => {
                let (Some(start), Ok(call), Ok(pid)) = (parse_epoch(f[1]), f[2].parse(), f[3].parse()) else {
                    continue;
                };
                let field = |key: &str| -> String {
                    let k = format!("{key}=");
                    f.iter().find_map(|w| w.strip_prefix(k.as_str())).unwrap_or("").to_string()
                };
                // `ips=` may hold spaces: it runs up to ` args=`.
                let ips = line.split_once(" ips=").and_then(|(_, r)| r.split_once(" args=")).map(|(i, _)| i);
                let args = line.split_once(" args=").map(|(_, a)| a.split_whitespace().map(str::to_string).collect());
                calls.push(FenceCall {
                    call,
                    pid,
                    netns: field("ns"),
                    args: args.unwrap_or_default(),
                    env_pnn: field("pnn"),
                    env_address: field("address"),
                    env_ips: ips.unwrap_or("").to_string(),
                    start,
                    child: None,
                    end: None,
                });
            }
            Some("end") if f.len() >= 4 => {
                let (Some(t), Ok(call), Ok(rc)) = (parse_epoch(f[1]), f[2].parse::<u32>(), f[3].parse()) else {
                    continue;
                };
                if let Some(c) = calls.iter_mut().rev().find(|c| c.call == call) {
                    c.end = Some((t, rc));
                }
            }
            Some("child") if f.len() >= 3 => {
                if let (Ok(call), Ok(pid)) = (f[1].parse::<u32>(), f[2].parse()) {
                    if let Some(c) = calls.iter_mut().rev().find(|c| c.call == call) {
                        c.child = Some(pid);
                    }
                }
            }
            _ => {}
        }
    }
    calls
}

/// `1763790000.123456789` (date +%s.%N) as a time.
pub fn parse_epoch(s: &str) -> Option<SystemTime> {
    let (secs, nanos) = s.split_once('.')?;
    let secs: u64 = secs.parse().ok()?;
    let nanos: u32 = format!("{nanos:0<9}").get(..9)?.parse().ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// `HH:MM:SS.micro` of a time, UTC (the daemons log local time; the test
/// hosts run in UTC), for messages.
pub fn fmt_wall(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let s = d.as_secs() % 86400;
    format!("{:02}:{:02}:{:02}.{:06}", s / 3600, s / 60 % 60, s % 60, d.subsec_micros())
}

/// Build `setup` with its daemons held back, add `conf` to every node's
/// `rctdb.conf`, install `fence` (its path becomes `fence command`), then
/// start every daemon.
pub fn start_with_failover(
    setup: Setup,
    mut conf: FailoverConf,
    fence: Option<FenceAction>,
) -> (PubCluster, Option<Fence>) {
    let mut setup = setup;
    if conf.lease_time.is_some() {
        // Ours goes in our own [failover] section.
        setup.lease_time = None;
    }
    let n = setup.nodes;
    let to_start: Vec<usize> = (0..n).filter(|i| !setup.not_started.contains(i)).collect();
    let all: Vec<usize> = (0..n).collect();
    let pc = setup.not_started(&all).start();
    let fence = fence.map(|a| Fence::install(&pc, a));
    if let Some(f) = &fence {
        conf.fence_command = Some(f.program.clone());
    }
    for i in 0..n {
        let node = pc.node(i);
        let mut text = node.read_base_file("rctdb.conf");
        text.push_str(&conf.section());
        node.write_base_file("rctdb.conf", &text);
    }
    for &i in &to_start {
        pc.node(i).spawn();
    }
    for &i in &to_start {
        if let Err(e) = pc.node(i).wait_ready(crate::cluster::START_TIMEOUT) {
            panic!("{}", pc.report(&e));
        }
    }
    (pc, fence)
}

// ------------------------------------------------------- frozen hosts

/// SIGSTOP every process in host `i`'s namespace (rctdbd, recoverd, lock
/// helper, event scripts, ...), again until no new one appears. Returns
/// the stopped pids. Never this test process.
pub fn freeze_host(pc: &PubCluster, i: usize) -> Vec<i32> {
    let ns = pc.node(i).netns.clone();
    let me = std::process::id() as i32;
    let mut stopped: BTreeSet<i32> = BTreeSet::new();
    for _ in 0..20 {
        let now: Vec<i32> = netns::pids(&ns).into_iter().filter(|p| *p != me && !stopped.contains(p)).collect();
        if now.is_empty() {
            break;
        }
        for p in now {
            if kill(Pid::from_raw(p), Signal::SIGSTOP).is_ok() {
                stopped.insert(p);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stopped.into_iter().collect()
}

/// Is process `pid` gone: no such process, or a zombie (killed, not yet
/// reaped)? With its state for messages.
pub fn process_gone(pid: i32) -> (bool, String) {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => (true, "no such process".into()),
        Ok(stat) => {
            // pid (comm) S ...: the state follows the last ')'.
            let state = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next()).unwrap_or("?");
            let comm = stat.split_once('(').and_then(|(_, r)| r.rsplit_once(')')).map(|(c, _)| c).unwrap_or("?");
            (state == "Z" || state == "X", format!("{comm} state {state}"))
        }
    }
}

// ------------------------------------------------ invariant 1, strict

/// Every reading in `changes` where some address is on two hosts at once,
/// as lines `HH:MM:SS.micro: ADDR on hosts [..] (hosts: ...)`.
pub fn double_holders(changes: &[Snapshot]) -> Vec<String> {
    let mut out = Vec::new();
    for c in changes {
        let mut seen: BTreeSet<Ipv4Addr> = BTreeSet::new();
        for set in &c.hosts {
            for a in set {
                if !seen.insert(*a) {
                    let hosts: Vec<String> = c.hosts.iter().enumerate().map(|(i, s)| format!("{i}:{s:?}")).collect();
                    out.push(format!(
                        "{}: {a} on hosts {:?} (all hosts: {})",
                        fmt_wall(c.wall),
                        c.holders(*a),
                        hosts.join(" ")
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_log_parses() {
        let log = "start 1763790000.123456789 1 4242 ns=rctdbt-1-0-n0 pnn=2 address=192.0.2.13 ips=198.51.100.2 198.51.100.5 args=2 192.0.2.13 198.51.100.2 198.51.100.5\n\
                   child 1 4243\n\
                   end 1763790002.5 1 0\n\
                   start 1763790003.000000001 2 4250 ns= pnn= address= ips= args=\n";
        let c = parse_fence_log(log);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].args, ["2", "192.0.2.13", "198.51.100.2", "198.51.100.5"]);
        assert_eq!(c[0].env_ips, "198.51.100.2 198.51.100.5");
        assert_eq!(c[0].env_pnn, "2");
        assert_eq!(c[0].netns, "rctdbt-1-0-n0");
        assert_eq!(c[0].child, Some(4243));
        assert_eq!(c[0].start, UNIX_EPOCH + Duration::new(1763790000, 123456789));
        assert_eq!(c[0].end, Some((UNIX_EPOCH + Duration::new(1763790002, 500_000_000), 0)));
        assert_eq!(c[1].end, None);
        assert!(c[1].args.is_empty() && c[1].env_ips.is_empty());
        assert_eq!(fmt_wall(UNIX_EPOCH + Duration::new(3661, 5000)), "01:01:01.000005");
    }

    #[test]
    fn double_holders_lists_every_reading_with_an_address_twice() {
        let a: Ipv4Addr = "198.51.100.1".parse().unwrap();
        let b: Ipv4Addr = "198.51.100.2".parse().unwrap();
        let snap = |ms: u64, hosts: Vec<Vec<Ipv4Addr>>| Snapshot {
            at: std::time::Instant::now(),
            wall: UNIX_EPOCH + Duration::from_millis(ms),
            hosts: hosts.into_iter().map(|v| v.into_iter().collect()).collect(),
        };
        let changes = vec![
            snap(0, vec![vec![a], vec![b]]),
            snap(10, vec![vec![a], vec![a, b]]),
            snap(20, vec![vec![], vec![a, b]]),
        ];
        let bad = double_holders(&changes);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].starts_with("00:00:00.010000: 198.51.100.1 on hosts [0, 1]"), "{bad:?}");
    }
}

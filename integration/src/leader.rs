//! Looking at leadership and recovery from outside: who each node says the
//! leader is, the generation and recovery mode of every node, the recovery
//! daemon and cluster-lock helper processes of a node, and whether the
//! cluster lock file is locked.
//!
//! Processes are read from `/proc` (the test namespaces share our pid
//! namespace). A zombie counts as gone: PID 1 of a container may never reap
//! the orphans of a `kill -9`ed daemon, and a zombie holds no lock and runs
//! no code.
//!
//! ```no_run
//! use rctdb_integration::{leader, Cluster};
//! use std::time::Duration;
//!
//! let c = Cluster::builder(3)
//!     .cluster_conf("cluster lock = {shared}/cluster.lock")
//!     .cluster_conf("leader timeout = 500ms")
//!     .start();
//! let l = c.wait_until(Duration::from_secs(20), "one leader", || leader::agreed_leader(&c, &[0, 1, 2]));
//! assert_eq!(leader::lock_helpers(c.node(l)).len(), 1);
//! assert!(leader::lock_is_held(&leader::lock_file(&c)).unwrap());
//! ```

use crate::cluster::{Cluster, Node};
use crate::process::bin_dir;
use rctdb_protocol::{Generation, NodeFlags, Pnn, RecMode, RunState};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The lock file of a cluster built with
/// `.cluster_conf("cluster lock = {shared}/cluster.lock")`.
pub fn lock_file(c: &Cluster) -> PathBuf {
    c.shared_dir().join("cluster.lock")
}

// ------------------------------------------------------------------ /proc

/// One process, from `/proc/PID/stat` and `/proc/PID/cmdline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// `R`, `S`, `D`, `T`, `Z`, ...
    pub state: char,
    /// Start time in clock ticks after boot (field 22 of `stat`).
    pub start_ticks: u64,
    pub argv: Vec<String>,
}

impl Proc {
    /// Neither a zombie nor dead.
    pub fn is_live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }

    /// File name of `argv[0]`.
    pub fn name(&self) -> &str {
        self.argv.first().map(|a| a.rsplit('/').next().unwrap_or(a)).unwrap_or("")
    }

    /// The command line, for messages.
    pub fn cmdline(&self) -> String {
        self.argv.join(" ")
    }
}

/// Process `pid`, zombie or not; `None` if there is no such process.
pub fn proc_info(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let state = f.first()?.chars().next()?;
    let ppid = f.get(1)?.parse().ok()?;
    // Field 22 overall; `rest` starts at field 3.
    let start_ticks = f.get(19)?.parse().ok()?;
    let argv = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
        })
        .unwrap_or_default();
    Some(Proc { pid, ppid, state, start_ticks, argv })
}

/// True if `pid` exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    proc_info(pid).is_some_and(|p| p.is_live())
}

/// Every live process on the machine.
pub fn all_processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_info)
        .filter(Proc::is_live)
        .collect()
}

/// Live children of `pid`.
pub fn children(pid: i32) -> Vec<Proc> {
    all_processes().into_iter().filter(|p| p.ppid == pid).collect()
}

/// Live processes whose command line contains `needle`.
pub fn processes_matching(needle: &str) -> Vec<Proc> {
    all_processes().into_iter().filter(|p| p.argv.iter().any(|a| a.contains(needle))).collect()
}

/// Live processes in network namespace `netns` (e.g. [`Node::netns`]).
pub fn processes_in(netns: &str) -> Vec<Proc> {
    use std::os::unix::fs::MetadataExt;
    let Ok(ino) = std::fs::metadata(Path::new("/run/netns").join(netns)).map(|m| m.ino()) else {
        return Vec::new();
    };
    let want = format!("net:[{ino}]");
    all_processes()
        .into_iter()
        .filter(|p| std::fs::read_link(format!("/proc/{}/ns/net", p.pid)).is_ok_and(|l| l.as_os_str() == want.as_str()))
        .collect()
}

/// Wait until none of `pids` is alive; `Err` names the survivors.
pub fn wait_gone(pids: &[i32], timeout: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    loop {
        let left: Vec<Proc> = pids.iter().filter_map(|&p| proc_info(p)).filter(Proc::is_live).collect();
        if left.is_empty() {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() >= timeout {
            let l: Vec<String> = left.iter().map(|p| format!("{} ({}, {})", p.pid, p.state, p.cmdline())).collect();
            return Err(format!("still alive after {timeout:?}: {}", l.join("; ")));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ------------------------------------------------------- daemons of a node

/// The node's recovery daemon: the live child of its rctdbd named
/// `rctdb-recoverd` (`None` if rctdbd is not running or has none now).
pub fn recoverd(node: &Node) -> Option<Proc> {
    let daemon = node.pid()? as i32;
    children(daemon).into_iter().find(|p| p.name() == "rctdb-recoverd")
}

/// Pid of the node's recovery daemon.
pub fn recoverd_pid(node: &Node) -> Option<i32> {
    recoverd(node).map(|p| p.pid)
}

/// The node's live cluster-lock helpers: the children of its recovery
/// daemon (it starts nothing else). At most one, ever.
pub fn lock_helpers(node: &Node) -> Vec<Proc> {
    match recoverd_pid(node) {
        Some(r) => children(r),
        None => Vec::new(),
    }
}

/// How many lines of the node's log contain `needle`.
pub fn count_log(node: &Node, needle: &str) -> usize {
    node.log_text().lines().filter(|l| l.contains(needle)).count()
}

/// The log lines after the first `skip` bytes that contain `needle`.
pub fn log_lines_since(node: &Node, skip: usize, needle: &str) -> Vec<String> {
    let text = node.log_text();
    let from = text.get(skip..).unwrap_or("");
    from.lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
}

/// Current length of the node's log: a mark for [`log_lines_since`].
pub fn log_mark(node: &Node) -> usize {
    std::fs::metadata(&node.log).map(|m| m.len() as usize).unwrap_or(0)
}

// ------------------------------------------------ leader, generation, mode

/// The leader node `i` reports (`GetLeader`).
pub fn leader_of(c: &Cluster, i: usize) -> Result<Pnn, String> {
    c.node(i).client().and_then(|mut cl| cl.leader(Pnn::CURRENT)).map_err(|e| format!("node {i}: GetLeader: {e}"))
}

/// Ok(leader) once every node in `set` reports the same known leader, and
/// that leader is in `set`.
pub fn agreed_leader(c: &Cluster, set: &[usize]) -> Result<usize, String> {
    let mut seen = Vec::new();
    for &i in set {
        seen.push((i, leader_of(c, i)?));
    }
    let first = seen[0].1;
    let all_same = seen.iter().all(|(_, l)| *l == first);
    match first.0 as usize {
        l if all_same && first != Pnn::UNKNOWN && set.contains(&l) => Ok(l),
        _ => Err(format!("leaders reported: {}", describe_leaders(&seen))),
    }
}

fn describe_leaders(seen: &[(usize, Pnn)]) -> String {
    let mut s = String::new();
    for (i, l) in seen {
        let l = if *l == Pnn::UNKNOWN { "UNKNOWN".to_string() } else { l.to_string() };
        let _ = write!(s, "node {i} -> {l}; ");
    }
    s
}

/// Ok once every node in `set` agrees on one leader, that leader (and no
/// other node of `set`) has a cluster-lock helper, and the lock file is
/// locked. For clusters with a lock file ([`lock_file`]).
pub fn check_lock_leader(c: &Cluster, set: &[usize]) -> Result<usize, String> {
    let l = agreed_leader(c, set)?;
    for &i in set {
        let h = lock_helpers(c.node(i));
        match (i == l, h.len()) {
            (true, 1) | (false, 0) => {}
            _ => return Err(format!("leader {l}; node {i} has lock helpers {h:?}")),
        }
    }
    if !lock_is_held(&lock_file(c))? {
        return Err(format!("leader {l}, but the lock file is not locked"));
    }
    Ok(l)
}

/// The node's VNN-map generation.
pub fn generation(c: &Cluster, i: usize) -> Result<Generation, String> {
    c.node(i)
        .client()
        .and_then(|mut cl| cl.vnnmap(Pnn::CURRENT))
        .map(|m| m.generation)
        .map_err(|e| format!("node {i}: {e}"))
}

/// Ok(generation) once every node in `set` is in recovery mode NORMAL with
/// the same VNN map, whose generation is valid and not `old`, and whose
/// members are exactly `set` (as PNNs, in order).
pub fn check_recovered(c: &Cluster, set: &[usize], old: Option<Generation>) -> Result<Generation, String> {
    let want: Vec<Pnn> = set.iter().map(|&i| Pnn(i as u32)).collect();
    let mut s = String::new();
    let mut gens = Vec::new();
    for &i in set {
        let mut cl = c.node(i).client().map_err(|e| format!("node {i}: {e}"))?;
        let map = cl.vnnmap(Pnn::CURRENT).map_err(|e| format!("node {i}: GetVnnMap: {e}"))?;
        let mode = cl.recmode(Pnn::CURRENT).map_err(|e| format!("node {i}: GetRecMode: {e}"))?;
        let _ = writeln!(s, "node {i}: generation {} map {:?} recovery mode {mode:?}", map.generation.0, map.map);
        gens.push((map.generation, map.map == want, mode == RecMode::Normal));
    }
    let g = gens[0].0;
    let ok = gens.iter().all(|&(x, in_map, normal)| x == g && in_map && normal)
        && g != Generation::INVALID
        && Some(g) != old;
    if ok {
        Ok(g)
    } else {
        let old = old.map(|o| o.0.to_string()).unwrap_or_else(|| "-".into());
        Err(format!("want nodes {want:?}, NORMAL, one generation other than {old}:\n{s}"))
    }
}

/// Ok once every node in `observers` shows exactly `want` (its CTDB text,
/// e.g. `OK`, `BANNED|INACTIVE`) for node `target`.
pub fn check_flags(c: &Cluster, observers: &[usize], target: usize, want: &str) -> Result<(), String> {
    for &i in observers {
        let f: NodeFlags = c.flags_seen_by(i, target)?;
        if f.to_string() != want {
            return Err(format!("want node {target} {want} everywhere\n{}", c.view(observers)));
        }
    }
    Ok(())
}

/// The node's run state.
pub fn runstate(c: &Cluster, i: usize) -> Result<RunState, String> {
    c.node(i).client().and_then(|mut cl| cl.runstate(Pnn::CURRENT)).map_err(|e| format!("node {i}: {e}"))
}

// ------------------------------------------------------------ lock file

/// Is `path` locked by someone? Runs `rctdb-lock-helper PATH` from the
/// test: `1` (contended) means locked. If the helper gets the lock (`0`) it
/// is told to let go at once and this returns `Ok(false)`. Note that the
/// helper creates the file if it is missing.
pub fn lock_is_held(path: &Path) -> Result<bool, String> {
    let helper = bin_dir().join("rctdb-lock-helper");
    let mut child = Command::new(&helper)
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", helper.display()))?;
    let mut out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut b = [0u8; 1];
        let _ = tx.send(out.read(&mut b).map(|n| if n == 1 { Some(b[0]) } else { None }));
    });
    let answer = rx.recv_timeout(Duration::from_secs(10));
    // Closing its stdin makes a holding helper let go; kill it anyway.
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    match answer {
        Ok(Ok(Some(b'1'))) => Ok(true),
        Ok(Ok(Some(b'0'))) => Ok(false),
        Ok(Ok(Some(b))) => Err(format!("rctdb-lock-helper {} answered {:?}", path.display(), b as char)),
        Ok(Ok(None)) => Err(format!("rctdb-lock-helper {} exited without an answer", path.display())),
        Ok(Err(e)) => Err(format!("rctdb-lock-helper {}: {e}", path.display())),
        Err(_) => Err(format!("rctdb-lock-helper {} did not answer within 10 s", path.display())),
    }
}

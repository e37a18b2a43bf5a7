//! Event scripts in tests: installing scripts into a node's
//! `$RCTDB_BASE/events/legacy/`, the stock scripts of the source tree, and
//! finding the processes a script left behind.
//!
//! Processes are found by a *marker*: a string unique to one test that
//! appears in the command line of every process the test wants to count
//! (for example the path of [`marked_sleep`] or of [`make_fifo`]). Counting
//! looks at `/proc` (the test namespaces share our pid namespace) and skips
//! zombies: PID 1 of a container may never reap orphans, and a zombie is
//! dead.
//!
//! ```no_run
//! use rctdb_integration::{scripts, Cluster};
//! let c = Cluster::builder(1).start();
//! let marker = scripts::unique_marker("hang");
//! let sleep = scripts::marked_sleep(c.node(0), &marker);
//! scripts::install(c.node(0), "10.hang", &format!("#!/bin/sh\n{} 1000 &\nwait\n", sleep.display()));
//! assert!(scripts::live_pids_with_marker(&marker).is_empty());
//! ```

use crate::cluster::Node;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static MARKERS: AtomicU32 = AtomicU32::new(0);

/// `$RCTDB_BASE/events/legacy` of `node` (created if missing).
pub fn events_dir(node: &Node) -> PathBuf {
    let d = node.base.join("events").join("legacy");
    fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
    d
}

/// Write script `name` (e.g. `10.foo`) with `body` and mode 0755: enabled.
/// Written to a temporary name and renamed, so the daemon never sees a
/// half-written script.
pub fn install(node: &Node, name: &str, body: &str) -> PathBuf {
    write_mode(&events_dir(node).join(name), body, 0o755)
}

/// Write script `name` with mode 0644: present but disabled.
pub fn install_disabled(node: &Node, name: &str, body: &str) -> PathBuf {
    write_mode(&events_dir(node).join(name), body, 0o644)
}

/// Remove script `name` (no error if it is not there).
pub fn remove(node: &Node, name: &str) {
    let _ = fs::remove_file(events_dir(node).join(name));
}

fn write_mode(path: &Path, body: &str, mode: u32) -> PathBuf {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, body).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", tmp.display()));
    fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
    path.to_path_buf()
}

/// The `scripts/` directory of the source tree.
pub fn source_scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("scripts")
}

/// Names of the stock event scripts in the source tree
/// (`scripts/events/legacy/NN.name`), in name order; empty if none.
pub fn stock_script_names() -> Vec<String> {
    let dir = source_scripts_dir().join("events").join("legacy");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() > 3 && n.as_bytes()[..2].iter().all(u8::is_ascii_digit) && &n[2..3] == ".")
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Install `scripts/functions` as `$RCTDB_BASE/functions` and the stock
/// scripts `names` (from [`stock_script_names`]) into the node's events
/// directory, enabled. Returns an error naming what is missing.
pub fn install_stock(node: &Node, names: &[String]) -> Result<(), String> {
    let src = source_scripts_dir();
    let functions = src.join("functions");
    let text = fs::read_to_string(&functions).map_err(|e| format!("{}: {e}", functions.display()))?;
    node.write_base_file("functions", &text);
    for name in names {
        let p = src.join("events").join("legacy").join(name);
        let body = fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        install(node, name, &body);
    }
    Ok(())
}

/// A marker unique to this process and call: `rctdbmark-<tag>-<pid>-<n>`.
pub fn unique_marker(tag: &str) -> String {
    format!("rctdbmark-{tag}-{}-{}", std::process::id(), MARKERS.fetch_add(1, Ordering::Relaxed))
}

/// A symlink to `sleep` whose path contains `marker`: a script that runs
/// `PATH 1000` starts a process with the marker in its command line.
/// Lives in the node's directory.
pub fn marked_sleep(node: &Node, marker: &str) -> PathBuf {
    let target = find_in_path("sleep").expect("`sleep` not found in PATH");
    let link = node.dir.join(format!("sleep-{marker}"));
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(&target, &link).unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
    link
}

/// A fifo in the node's directory whose path contains `marker`. Nobody
/// writes it, so `cat PATH` blocks in open(2) for ever, as a read from a
/// hung filesystem does (but unlike one, it dies on a signal).
pub fn make_fifo(node: &Node, marker: &str) -> PathBuf {
    let p = node.dir.join(format!("fifo-{marker}"));
    let _ = fs::remove_file(&p);
    let st = std::process::Command::new("mkfifo")
        .arg("-m")
        .arg("600")
        .arg(&p)
        .status()
        .unwrap_or_else(|e| panic!("cannot run mkfifo: {e}"));
    assert!(st.success(), "mkfifo {} failed: {st}", p.display());
    p
}

fn find_in_path(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(prog)).find(|p| p.is_file())
}

/// One process as `/proc` shows it.
#[derive(Debug, Clone)]
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    /// Process group.
    pub pgrp: i32,
    /// `R`, `S`, `D`, `Z`, `T`, ...
    pub state: char,
    /// Arguments joined by spaces.
    pub cmdline: String,
}

impl ProcInfo {
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z' || self.state == 'X'
    }
}

/// `/proc/PID/stat` and `cmdline` of `pid`, if it exists.
pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp ...`; comm may hold spaces and ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).split('\0').filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    Some(ProcInfo { pid, ppid, pgrp, state, cmdline })
}

/// Every process on the system (that did not exit while we looked).
pub fn all_processes() -> Vec<ProcInfo> {
    let Ok(rd) = fs::read_dir("/proc") else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter_map(proc_info)
        .collect()
}

/// Live (not zombie) processes with `marker` in their command line, other
/// than this test process.
pub fn live_with_marker(marker: &str) -> Vec<ProcInfo> {
    let me = std::process::id() as i32;
    all_processes().into_iter().filter(|p| p.pid != me && !p.is_zombie() && p.cmdline.contains(marker)).collect()
}

/// Pids of [`live_with_marker`].
pub fn live_pids_with_marker(marker: &str) -> Vec<i32> {
    live_with_marker(marker).iter().map(|p| p.pid).collect()
}

/// Children of `pid`, zombies included.
pub fn children_of(pid: u32) -> Vec<ProcInfo> {
    all_processes().into_iter().filter(|p| p.ppid == pid as i32).collect()
}

/// Wait until no live process has `marker` in its command line; `Err`
/// lists the survivors after `timeout`.
pub fn wait_marker_gone(marker: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = live_with_marker(marker);
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(describe_procs(&left));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One line per process, for failure messages.
pub fn describe_procs(ps: &[ProcInfo]) -> String {
    ps.iter()
        .map(|p| format!("pid {} ppid {} pgrp {} state {} cmd {:?}\n", p.pid, p.ppid, p.pgrp, p.state, p.cmdline))
        .collect()
}

/// Every descendant of `pid` (children, their children, ...), zombies
/// included, from one snapshot of `/proc`.
pub fn descendants_of(pid: u32) -> Vec<ProcInfo> {
    let all = all_processes();
    let mut out: Vec<ProcInfo> = Vec::new();
    let mut frontier = vec![pid as i32];
    while let Some(p) = frontier.pop() {
        for c in all.iter().filter(|c| c.ppid == p) {
            if !out.iter().any(|o| o.pid == c.pid) {
                frontier.push(c.pid);
                out.push(c.clone());
            }
        }
    }
    out
}

/// Single-quote `s` for a shell script.
pub fn sh_quote(s: impl AsRef<std::ffi::OsStr>) -> String {
    let s = s.as_ref().to_string_lossy();
    format!("'{}'", s.replace('\'', r"'\''"))
}

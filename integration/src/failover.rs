//! Public-address failover in tests: a cluster whose nodes have a second
//! interface for public addresses, a client host on that network, and the
//! instruments that look at it from outside (the kernel of every host, the
//! frames on the public network, the daemons' logs).
//!
//! Layout, on top of [`Cluster`]'s (`<stem>-sw` switch with `br0`, hosts
//! `<stem>-n<i>` with `eth0` = 192.0.2.(11+i)):
//!
//! ```text
//!   <stem>-sw   also bridge br1 "public": one port p<i> per host, pc for the client
//!   <stem>-n<i> pub0 (veth to p<i>), no address of its own: public addresses only
//!   <stem>-c    client host: eth0 (veth to pc) = 198.51.100.200/24
//! ```
//!
//! Taking the public link down (the switch-side port `p<i>`) leaves the node
//! in the cluster; the stock `10.interface` sees pub0 without carrier and
//! fails its monitor. (Setting pub0 itself down would not do: the stock
//! monitor brings an administratively-down interface back up, as CTDB's.)
//!
//! Every node gets the same `public_addresses` (`198.51.100.K/24 pub0`), the
//! stock scripts `00.rctdb`, `01.reclock`, `10.interface` with `functions`,
//! and a cluster lock in a directory all hosts share.
//!
//! Kernel views come in two speeds: [`PubCluster::kernel_addrs`] runs
//! `ip -n NS -o -4 addr show dev pub0` (what an operator would type), and
//! [`Sampler`] reads every host with getifaddrs(3) from one thread that
//! enters each namespace in turn (a few hundred microseconds per round), for
//! the invariant checker and the benchmark.
//!
//! ```no_run
//! use rctdb_integration::failover::Setup;
//! use std::time::Duration;
//!
//! let pc = Setup::new(3, 6).start();
//! let owners = pc.wait_placement(&[0, 1, 2], Duration::from_secs(60));
//! assert_eq!(owners.len(), 6);
//! ```

use crate::cluster::{Cluster, Node};
use crate::netns;
use crate::process;
use rctdb_protocol::{NodeFlags, Pnn};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The public interface of every node.
pub const PUBLIC_IFACE: &str = "pub0";
/// Address of the client host on the public network.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 200);
/// The stock event scripts every node runs.
pub const STOCK_SCRIPTS: [&str; 3] = ["00.rctdb", "01.reclock", "10.interface"];

/// True for an address of the public range 198.51.100.0/24.
pub fn is_public(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    o[0] == 198 && o[1] == 51 && o[2] == 100
}

/// The first `n` public addresses: 198.51.100.1, .2, ..., skipping the
/// client's .200 when `client` is set. At most 254 (253 with a client).
pub fn public_addrs(n: usize, client: bool) -> Vec<Ipv4Addr> {
    let v: Vec<Ipv4Addr> =
        (1..=254u8).map(|k| Ipv4Addr::new(198, 51, 100, k)).filter(|a| !client || *a != CLIENT_ADDR).take(n).collect();
    assert_eq!(v.len(), n, "198.51.100.0/24 holds only {} public addresses here", v.len());
    v
}

/// `public_addresses` lines for `addrs` on pub0.
pub fn public_addresses_file(addrs: &[Ipv4Addr]) -> String {
    addrs.iter().map(|a| format!("{a}/24 {PUBLIC_IFACE}\n")).collect()
}

/// How to build a [`PubCluster`].
#[derive(Debug, Clone)]
pub struct Setup {
    pub nodes: usize,
    /// Number of public addresses ([`public_addrs`]).
    pub addr_count: usize,
    /// Create the client host (198.51.100.200).
    pub client: bool,
    /// `Name=value` lines of every node's `tunables`.
    pub tunables: Vec<(String, String)>,
    /// `[cluster] leader timeout`.
    pub leader_timeout: String,
    /// `[failover] lease time`, if not the default.
    pub lease_time: Option<String>,
    pub log_level: String,
    /// Hosts whose daemon is not started.
    pub not_started: Vec<usize>,
}

impl Setup {
    /// `nodes` nodes, `addrs` public addresses on every node, a client,
    /// test timings: `leader timeout = 1`, KeepaliveInterval=1,
    /// KeepaliveLimit=3, MonitorInterval=1 (a node is healthy about 2 s
    /// after its `startup` event; the first monitor waits 2 s).
    pub fn new(nodes: usize, addrs: usize) -> Setup {
        Setup {
            nodes,
            addr_count: addrs,
            client: true,
            tunables: vec![
                ("KeepaliveInterval".into(), "1".into()),
                ("KeepaliveLimit".into(), "3".into()),
                ("MonitorInterval".into(), "1".into()),
            ],
            leader_timeout: "1".into(),
            lease_time: None,
            log_level: "INFO".into(),
            not_started: Vec::new(),
        }
    }

    /// Sub-second timings: `leader timeout = 500ms`,
    /// KeepaliveInterval=100ms, KeepaliveLimit=3 (a silent node is dead
    /// after 0.3-0.4 s), MonitorInterval=1.
    pub fn fast(mut self) -> Setup {
        self.leader_timeout = "500ms".into();
        // Failover of a silent node waits for its lease: keep it short
        // (benchmarks go down to 500ms; 1 s leaves room on a loaded host).
        self.lease_time = Some("1".into());
        self.tunable("KeepaliveInterval", "100ms").tunable("KeepaliveLimit", "3")
    }

    /// Set (or replace) a tunable on every node.
    pub fn tunable(mut self, name: &str, value: &str) -> Setup {
        self.tunables.retain(|(n, _)| n != name);
        self.tunables.push((name.into(), value.into()));
        self
    }

    /// No client host: 198.51.100.200 may be a public address (254 in all).
    pub fn without_client(mut self) -> Setup {
        self.client = false;
        self
    }

    pub fn log_level(mut self, level: &str) -> Setup {
        self.log_level = level.into();
        self
    }

    pub fn not_started(mut self, hosts: &[usize]) -> Setup {
        self.not_started.extend_from_slice(hosts);
        self
    }

    /// Build the hosts, the public network and the configuration, then
    /// start the daemons (those not in `not_started`) and wait until each
    /// answers on its control socket.
    pub fn start(self) -> PubCluster {
        let all: Vec<usize> = (0..self.nodes).collect();
        let mut b = Cluster::builder(self.nodes).not_started(&all).log_level(&self.log_level);
        for (n, v) in &self.tunables {
            b = b.tunable(n, v);
        }
        let addrs = public_addrs(self.addr_count, self.client);
        let cluster = b.start();
        let mut pc = PubCluster { cluster, addrs: addrs.clone(), client_ns: None };
        let shared = pc.shared_lock_dir();
        std::fs::create_dir_all(&shared).unwrap_or_else(|e| panic!("create {}: {e}", shared.display()));
        let sw = pc.switch_ns();
        netns::ip_ok(&["-n", &sw, "link", "add", "br1", "type", "bridge"]);
        netns::ip_ok(&["-n", &sw, "link", "set", "br1", "up"]);
        for i in 0..self.nodes {
            let n = pc.cluster.node(i);
            let port = public_port(i);
            netns::ip_ok(&[
                "-n",
                &sw,
                "link",
                "add",
                &port,
                "type",
                "veth",
                "peer",
                "name",
                PUBLIC_IFACE,
                "netns",
                &n.netns,
            ]);
            netns::ip_ok(&["-n", &sw, "link", "set", &port, "master", "br1"]);
            netns::ip_ok(&["-n", &sw, "link", "set", &port, "up"]);
            netns::ip_ok(&["-n", &n.netns, "link", "set", PUBLIC_IFACE, "up"]);
            // rctdb.conf as the harness wrote it ends in [cluster]: add the lock.
            let mut conf = n.read_base_file("rctdb.conf");
            let _ = writeln!(conf, "\tcluster lock = {}/cluster.lock", shared.display());
            let _ = writeln!(conf, "\tleader timeout = {}", self.leader_timeout);
            if let Some(l) = &self.lease_time {
                let _ = writeln!(conf, "[failover]\n\tlease time = {l}");
            }
            n.write_base_file("rctdb.conf", &conf);
            n.write_base_file("public_addresses", &public_addresses_file(&addrs));
            let names: Vec<String> = STOCK_SCRIPTS.iter().map(|s| s.to_string()).collect();
            crate::scripts::install_stock(n, &names).unwrap_or_else(|e| panic!("{e}"));
        }
        if self.client {
            let ns = format!("{}-c", pc.stem());
            // Recorded before it exists so that Drop removes it whatever fails.
            pc.client_ns = Some(ns.clone());
            netns::add(&ns).unwrap_or_else(|e| panic!("{e}"));
            netns::ip_ok(&["-n", &sw, "link", "add", "pc", "type", "veth", "peer", "name", "eth0", "netns", &ns]);
            netns::ip_ok(&["-n", &sw, "link", "set", "pc", "master", "br1"]);
            netns::ip_ok(&["-n", &sw, "link", "set", "pc", "up"]);
            netns::ip_ok(&["-n", &ns, "addr", "add", &format!("{CLIENT_ADDR}/24"), "dev", "eth0"]);
            netns::ip_ok(&["-n", &ns, "link", "set", "eth0", "up"]);
        }
        for i in all.iter().filter(|i| !self.not_started.contains(i)) {
            pc.cluster.node(*i).spawn();
        }
        for i in all.iter().filter(|i| !self.not_started.contains(i)) {
            if let Err(e) = pc.cluster.node(*i).wait_ready(crate::cluster::START_TIMEOUT) {
                panic!("{}", pc.cluster.report(&e));
            }
        }
        pc
    }
}

/// Switch-side port of host `i` on the public bridge.
pub fn public_port(i: usize) -> String {
    format!("p{i}")
}

/// A [`Cluster`] with a public network; derefs to the cluster.
pub struct PubCluster {
    pub cluster: Cluster,
    /// The public addresses every node was configured with.
    pub addrs: Vec<Ipv4Addr>,
    /// The client host's namespace, if made.
    pub client_ns: Option<String>,
}

impl std::ops::Deref for PubCluster {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.cluster
    }
}

impl Drop for PubCluster {
    fn drop(&mut self) {
        if let Some(ns) = self.client_ns.take() {
            netns::destroy(&ns);
        }
        // Then the Cluster field drops: daemons, host namespaces, switch.
    }
}

impl PubCluster {
    fn switch_ns(&self) -> String {
        self.cluster.node(0).switch_ns.clone()
    }

    fn stem(&self) -> String {
        let sw = self.switch_ns();
        sw.strip_suffix("-sw").unwrap_or(&sw).to_string()
    }

    /// The directory holding the cluster lock (all hosts share the
    /// filesystem).
    pub fn shared_lock_dir(&self) -> PathBuf {
        self.cluster.dir().join("failover-shared")
    }

    /// The client host's namespace; panics if the cluster has none.
    pub fn client(&self) -> &str {
        self.client_ns.as_deref().expect("cluster built without a client host")
    }

    /// Namespaces of every host, by index.
    pub fn namespaces(&self) -> Vec<String> {
        (0..self.cluster.len()).map(|i| self.cluster.node(i).netns.clone()).collect()
    }

    /// Public addresses on host `i`'s pub0, from `ip -n NS -o -4 addr show
    /// dev pub0`.
    pub fn kernel_addrs(&self, i: usize) -> Result<BTreeSet<Ipv4Addr>, String> {
        let ns = &self.cluster.node(i).netns;
        let out = run(Command::new("ip").args(["-n", ns, "-o", "-4", "addr", "show", "dev", PUBLIC_IFACE]))?;
        if !out.status.success() {
            return Err(format!("ip -n {ns} addr show failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(parse_ip_addr_show(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Which hosts hold each public address (any address of the range
    /// found on some host, configured or not).
    pub fn kernel_holders(&self) -> Result<BTreeMap<Ipv4Addr, Vec<usize>>, String> {
        let mut m: BTreeMap<Ipv4Addr, Vec<usize>> = BTreeMap::new();
        for i in 0..self.cluster.len() {
            for a in self.kernel_addrs(i)? {
                m.entry(a).or_default().push(i);
            }
        }
        Ok(m)
    }

    /// `rctdb -X ip all` on node `i`: address → owner (-1 unassigned).
    pub fn cli_ip_all(&self, i: usize) -> Result<BTreeMap<Ipv4Addr, i64>, String> {
        let out = self.cluster.node(i).cli(&["-X", "ip", "all"]);
        if !out.status.success() {
            return Err(format!("node {i}: rctdb -X ip all: {}", process::describe(&out)));
        }
        parse_ip_machine(&String::from_utf8_lossy(&out.stdout)).map_err(|e| format!("node {i}: {e}"))
    }

    /// `rctdb -X ip` (this node's view) on node `i`.
    pub fn cli_ip(&self, i: usize) -> Result<BTreeMap<Ipv4Addr, i64>, String> {
        let out = self.cluster.node(i).cli(&["-X", "ip"]);
        if !out.status.success() {
            return Err(format!("node {i}: rctdb -X ip: {}", process::describe(&out)));
        }
        parse_ip_machine(&String::from_utf8_lossy(&out.stdout)).map_err(|e| format!("node {i}: {e}"))
    }

    /// Ok(owner of each address) once:
    /// - every address of `expected` is on exactly one host's pub0, and
    ///   that host is in `live`;
    /// - no other public address is on any host;
    /// - `rctdb -X ip all` on every node of `live` lists exactly
    ///   `expected`, each with the owner the kernel shows.
    ///
    /// Hosts in neither `live` nor the owners (dead, disabled...) are
    /// therefore checked to hold nothing.
    pub fn check_placement(&self, live: &[usize], expected: &[Ipv4Addr]) -> Result<BTreeMap<Ipv4Addr, usize>, String> {
        let holders = self.kernel_holders()?;
        let mut owners = BTreeMap::new();
        let mut problems = String::new();
        for a in expected {
            match holders.get(a).map(|v| v.as_slice()) {
                Some([one]) if live.contains(one) => {
                    owners.insert(*a, *one);
                }
                Some([one]) => {
                    let _ = writeln!(problems, "{a} is on host {one}, which is not among {live:?}");
                }
                None | Some([]) => {
                    let _ = writeln!(problems, "{a} is on no host");
                }
                Some(many) => {
                    let _ = writeln!(problems, "{a} is on several hosts: {many:?}");
                }
            }
        }
        for (a, h) in &holders {
            if !expected.contains(a) {
                let _ = writeln!(problems, "{a} is on hosts {h:?} but is not expected anywhere");
            }
        }
        if problems.is_empty() {
            for &i in live {
                let cli = self.cli_ip_all(i)?;
                let want: BTreeMap<Ipv4Addr, i64> = owners.iter().map(|(a, o)| (*a, *o as i64)).collect();
                if cli != want {
                    let _ = writeln!(problems, "node {i}: `rctdb ip all` says {cli:?}, the kernel {want:?}");
                }
            }
        }
        if problems.is_empty() {
            Ok(owners)
        } else {
            Err(format!("{problems}kernel: {}", fmt_holders(&holders)))
        }
    }

    /// Wait for [`PubCluster::check_placement`] with every configured
    /// address (hosts not in `live` must hold none).
    pub fn wait_placement(&self, live: &[usize], timeout: Duration) -> BTreeMap<Ipv4Addr, usize> {
        self.wait_placement_of(live, &self.addrs.clone(), timeout)
    }

    /// Wait for [`PubCluster::check_placement`] with `expected`.
    pub fn wait_placement_of(
        &self,
        live: &[usize],
        expected: &[Ipv4Addr],
        timeout: Duration,
    ) -> BTreeMap<Ipv4Addr, usize> {
        self.cluster.wait_until(timeout, &format!("every public address on exactly one of hosts {live:?}"), || {
            self.check_placement(live, expected)
        })
    }

    /// Ok once every node of `set` sees every node of `set` with no flag
    /// at all (connected, healthy, enabled, running).
    pub fn check_healthy(&self, set: &[usize]) -> Result<(), String> {
        for &i in set {
            let map = self.cluster.node(i).nodemap()?;
            for &j in set {
                match map.get(Pnn(j as u32)) {
                    Some(n) if n.flags == NodeFlags(0) => {}
                    _ => return Err(self.cluster.view(set)),
                }
            }
        }
        Ok(())
    }

    pub fn wait_healthy(&self, set: &[usize], timeout: Duration) {
        self.cluster.wait_until(timeout, &format!("nodes {set:?} to be healthy"), || self.check_healthy(set));
    }

    /// The leader node `i` reports.
    pub fn leader_seen_by(&self, i: usize) -> Result<usize, String> {
        let p = self
            .cluster
            .node(i)
            .client()
            .and_then(|mut c| c.leader(Pnn::CURRENT))
            .map_err(|e| format!("node {i}: GetLeader: {e}"))?;
        if p.is_node() {
            Ok(p.0 as usize)
        } else {
            Err(format!("node {i} knows no leader"))
        }
    }

    /// Wait until every node of `set` names the same leader, in `set`.
    pub fn wait_leader(&self, set: &[usize], timeout: Duration) -> usize {
        self.cluster.wait_until(timeout, &format!("nodes {set:?} to agree on a leader"), || {
            let mut seen = BTreeSet::new();
            for &i in set {
                seen.insert(self.leader_seen_by(i)?);
            }
            match seen.iter().collect::<Vec<_>>().as_slice() {
                [l] if set.contains(l) => Ok(**l),
                _ => Err(format!("leaders seen: {seen:?}")),
            }
        })
    }

    /// Take host `i`'s public link down at the switch (pub0 loses carrier;
    /// the cluster link is untouched).
    pub fn public_link_down(&self, i: usize) {
        netns::ip_ok(&["-n", &self.switch_ns(), "link", "set", &public_port(i), "down"]);
    }

    pub fn public_link_up(&self, i: usize) {
        netns::ip_ok(&["-n", &self.switch_ns(), "link", "set", &public_port(i), "up"]);
    }

    /// Run `ip ARGS` inside host `i`'s namespace (`ip -n NS ARGS`).
    pub fn ip_in(&self, i: usize, args: &[&str]) -> Result<(), String> {
        let ns = self.cluster.node(i).netns.clone();
        let mut v = vec!["-n", ns.as_str()];
        v.extend_from_slice(args);
        netns::ip(&v)
    }

    /// Write `public_addresses` on node `i`.
    pub fn write_public_addresses(&self, i: usize, addrs: &[Ipv4Addr]) {
        self.cluster.node(i).write_base_file("public_addresses", &public_addresses_file(addrs));
    }

    /// Takeover runs in every node's log (whoever led).
    pub fn takeover_runs(&self) -> Vec<TakeoverRun> {
        let mut runs = Vec::new();
        for i in 0..self.cluster.len() {
            runs.extend(takeover_runs_in(i, &self.cluster.node(i).log_text()));
        }
        runs.sort_by_key(|r| r.end);
        runs
    }
}

/// Owners of every address, as one line.
pub fn fmt_holders(h: &BTreeMap<Ipv4Addr, Vec<usize>>) -> String {
    let mut s = String::new();
    for (a, v) in h {
        let _ = write!(s, "{a}={v:?} ");
    }
    if s.is_empty() {
        s.push_str("(no public address anywhere)");
    }
    s
}

fn run(cmd: &mut Command) -> Result<Output, String> {
    process::output_with_timeout(cmd, Duration::from_secs(20))
}

/// Public addresses in `ip -o -4 addr show` output.
pub fn parse_ip_addr_show(text: &str) -> BTreeSet<Ipv4Addr> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let Some(pos) = f.iter().position(|w| *w == "inet") {
            if let Some(a) = f.get(pos + 1).and_then(|p| p.split('/').next()).and_then(|a| a.parse().ok()) {
                if is_public(a) {
                    out.insert(a);
                }
            }
        }
    }
    out
}

/// Rows of `rctdb -X ip [all]`: `|Public IP|Node|` then `|ADDR|PNN|`.
pub fn parse_ip_machine(text: &str) -> Result<BTreeMap<Ipv4Addr, i64>, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.starts_with("|Public IP|Node|") => {}
        other => return Err(format!("unexpected header {other:?} in {text:?}")),
    }
    let mut m = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split('|').collect();
        let (Some(a), Some(o)) = (f.get(1), f.get(2)) else { return Err(format!("bad row {l:?}")) };
        let a: Ipv4Addr = a.parse().map_err(|_| format!("bad address in {l:?}"))?;
        let o: i64 = o.parse().map_err(|_| format!("bad owner in {l:?}"))?;
        m.insert(a, o);
    }
    Ok(m)
}

// ------------------------------------------------------------------ logs

/// A takeover run as a leader logged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakeoverRun {
    pub node: usize,
    pub start: SystemTime,
    /// Completion (or failure) time.
    pub end: SystemTime,
    pub ok: bool,
}

/// Takeover runs in the log text of node `node` ("Takeover run starting"
/// ... "Takeover run completed successfully" / "Takeover run
/// unsuccessful").
pub fn takeover_runs_in(node: usize, log: &str) -> Vec<TakeoverRun> {
    let mut runs = Vec::new();
    let mut start = None;
    for line in log.lines() {
        let Some(t) = log_time(line) else { continue };
        if line.contains("Takeover run starting") {
            start = Some(t);
        } else if line.contains("Takeover run completed successfully") || line.contains("Takeover run unsuccessful") {
            let ok = line.contains("completed successfully");
            runs.push(TakeoverRun { node, start: start.take().unwrap_or(t), end: t, ok });
        }
    }
    runs
}

/// Lines of `log` containing `needle`, with their time.
pub fn log_lines(log: &str, needle: &str) -> Vec<(SystemTime, String)> {
    log.lines().filter(|l| l.contains(needle)).filter_map(|l| Some((log_time(l)?, l.to_string()))).collect()
}

/// The time of a log line `YYYY/MM/DD HH:MM:SS.micro ...` (local time).
pub fn log_time(line: &str) -> Option<SystemTime> {
    let mut f = line.split_whitespace();
    let date = f.next()?;
    let time = f.next()?;
    let d: Vec<i64> = date.split('/').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let (hms, micro) = time.split_once('.')?;
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    if d.len() != 3 || t.len() != 3 || micro.len() != 6 {
        return None;
    }
    let micro: i64 = micro.parse().ok()?;
    let days = days_from_civil(d[0], d[1], d[2]);
    let secs = days * 86400 + t[0] * 3600 + t[1] * 60 + t[2] - utc_offset_secs();
    if secs < 0 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::from_secs(secs as u64) + Duration::from_micros(micro as u64))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Local time minus UTC, from `date +%z` (the daemons log local time).
fn utc_offset_secs() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        let out = Command::new("date").arg("+%z").output().ok();
        let s = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
        let (sign, digits) = match s.as_bytes().first() {
            Some(b'-') => (-1, &s[1..]),
            Some(b'+') => (1, &s[1..]),
            _ => return 0,
        };
        let (h, m) =
            (digits.get(..2).and_then(|x| x.parse::<i64>().ok()), digits.get(2..4).and_then(|x| x.parse::<i64>().ok()));
        sign * (h.unwrap_or(0) * 3600 + m.unwrap_or(0) * 60)
    })
}

/// Milliseconds from `a` to `b` (negative if `b` is earlier), for messages.
pub fn ms_between(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

// ------------------------------------------------------ kernel sampling

/// Public addresses on the interfaces of the current thread's network
/// namespace (pub0 only).
fn read_public_addrs() -> BTreeSet<Ipv4Addr> {
    let mut out = BTreeSet::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            if a.interface_name != PUBLIC_IFACE {
                continue;
            }
            if let Some(v4) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) {
                if is_public(v4.ip()) {
                    out.insert(v4.ip());
                }
            }
        }
    }
    out
}

/// One reading of every watched host.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When the reading finished.
    pub at: Instant,
    pub wall: SystemTime,
    /// Public addresses per watched host, in the order given to
    /// [`Sampler::start`].
    pub hosts: Vec<BTreeSet<Ipv4Addr>>,
}

impl Snapshot {
    /// Hosts holding `ip`.
    pub fn holders(&self, ip: Ipv4Addr) -> Vec<usize> {
        self.hosts.iter().enumerate().filter(|(_, s)| s.contains(&ip)).map(|(i, _)| i).collect()
    }
}

struct SamplerState {
    /// Readings that differ from the one before (the first one always).
    changes: Vec<Snapshot>,
    /// Time of the latest reading.
    last: Option<(Instant, SystemTime)>,
    rounds: u64,
}

/// Reads the public addresses of a set of hosts every `period`, from a
/// thread that enters each namespace in turn, and keeps every change.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<SamplerState>>,
    handle: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Start sampling `namespaces` (host i = `namespaces[i]`). Returns once
    /// the first reading is in.
    pub fn start(namespaces: &[String], period: Duration) -> io::Result<Sampler> {
        let files: Vec<File> =
            namespaces.iter().map(|ns| File::open(Path::new("/run/netns").join(ns))).collect::<io::Result<_>>()?;
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(SamplerState { changes: Vec::new(), last: None, rounds: 0 }));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let (stop2, state2) = (stop.clone(), state.clone());
        let handle = thread::spawn(move || {
            let mut ready = Some(ready_tx);
            while !stop2.load(Ordering::Relaxed) {
                let mut hosts = Vec::with_capacity(files.len());
                for f in &files {
                    if let Err(e) = nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET) {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(Err(io::Error::from(e)));
                        }
                        return;
                    }
                    hosts.push(read_public_addrs());
                }
                let (at, wall) = (Instant::now(), SystemTime::now());
                {
                    let mut s = state2.lock().unwrap_or_else(|e| e.into_inner());
                    if s.changes.last().is_none_or(|l| l.hosts != hosts) {
                        s.changes.push(Snapshot { at, wall, hosts });
                    }
                    s.last = Some((at, wall));
                    s.rounds += 1;
                }
                if let Some(tx) = ready.take() {
                    let _ = tx.send(Ok(()));
                }
                thread::sleep(period);
            }
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Sampler { stop, state, handle: Some(handle) }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("sampler thread died")),
        }
    }

    /// Every change so far.
    pub fn changes(&self) -> Vec<Snapshot> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).changes.clone()
    }

    /// The latest reading.
    pub fn latest(&self) -> Snapshot {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut snap = s.changes.last().cloned().expect("at least one reading");
        if let Some((at, wall)) = s.last {
            snap.at = at;
            snap.wall = wall;
        }
        snap
    }

    /// Readings done so far.
    pub fn rounds(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).rounds
    }

    /// The first change at or after `since` whose hosts satisfy `pred`,
    /// waiting up to `timeout` for it.
    pub fn wait_for(
        &self,
        since: Instant,
        timeout: Duration,
        mut pred: impl FnMut(&[BTreeSet<Ipv4Addr>]) -> bool,
    ) -> Option<Snapshot> {
        let deadline = Instant::now() + timeout;
        let mut checked = 0usize;
        loop {
            {
                let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                // The state current at `since` counts too: it is the last
                // change before it.
                let first = s.changes.iter().rposition(|c| c.at <= since).unwrap_or(0).max(checked);
                for c in &s.changes[first..] {
                    if pred(&c.hosts) {
                        let mut c = c.clone();
                        if c.at < since {
                            c.at = since;
                        }
                        return Some(c);
                    }
                }
                checked = s.changes.len().saturating_sub(1).max(first);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stop and return every change, and the time of the last reading.
    pub fn stop(mut self) -> (Vec<Snapshot>, SystemTime) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.changes.clone(), s.last.map(|l| l.1).unwrap_or_else(SystemTime::now))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// An address seen on several hosts at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    pub ip: Ipv4Addr,
    pub hosts: Vec<usize>,
    /// First reading that showed it.
    pub from: SystemTime,
    /// First reading that no longer did (or the end of sampling).
    pub until: SystemTime,
}

/// Every overlap episode in `changes` (from [`Sampler::stop`]).
pub fn overlaps(changes: &[Snapshot], end: SystemTime) -> Vec<Overlap> {
    let mut out: Vec<Overlap> = Vec::new();
    let mut open: BTreeMap<Ipv4Addr, usize> = BTreeMap::new();
    for c in changes {
        let mut now: BTreeMap<Ipv4Addr, Vec<usize>> = BTreeMap::new();
        for (i, set) in c.hosts.iter().enumerate() {
            for a in set {
                now.entry(*a).or_default().push(i);
            }
        }
        now.retain(|_, h| h.len() > 1);
        open.retain(|ip, idx| {
            let same = now.get(ip) == Some(&out[*idx].hosts);
            if !same {
                out[*idx].until = c.wall;
            }
            same
        });
        for (ip, hosts) in now {
            if let std::collections::btree_map::Entry::Vacant(e) = open.entry(ip) {
                e.insert(out.len());
                out.push(Overlap { ip, hosts, from: c.wall, until: end });
            }
        }
    }
    out
}

/// The design's invariant 1 over a sampled period: an address may be on
/// two hosts only while a takeover run is in flight, never after the run
/// finished. An overlap episode is excused by the run in flight when it was
/// first seen (started at most `slack` after, ended at most `slack`
/// before); it violates the invariant if it was still seen more than
/// `slack` after that run ended, or if no run was in flight when it
/// appeared. `slack` covers the sampling period. Returns (violations,
/// transient overlaps) as readable lines.
pub fn check_invariant(found: &[Overlap], runs: &[TakeoverRun], slack: Duration) -> (Vec<String>, Vec<String>) {
    let mut bad = Vec::new();
    let mut transient = Vec::new();
    for o in found {
        let cause = runs.iter().filter(|r| r.start <= o.from + slack && o.from <= r.end + slack).min_by_key(|r| r.end);
        let lasted = o.until.duration_since(o.from).unwrap_or_default();
        let line = match cause {
            Some(r) => format!(
                "{} on hosts {:?} for about {:.0} ms (first seen {:+.0} ms, gone {:+.0} ms, relative to the end of node {}'s takeover run)",
                o.ip,
                o.hosts,
                lasted.as_secs_f64() * 1000.0,
                ms_between(r.end, o.from),
                ms_between(r.end, o.until),
                r.node
            ),
            None => format!(
                "{} on hosts {:?} for about {:.0} ms, first seen while no takeover run was in flight",
                o.ip,
                o.hosts,
                lasted.as_secs_f64() * 1000.0
            ),
        };
        // `until` is the first reading without it: it was last seen up to
        // one period earlier.
        let violated = match cause {
            Some(r) => o.until > r.end + slack * 2,
            None => true,
        };
        if violated {
            bad.push(line);
        } else {
            transient.push(line);
        }
    }
    (bad, transient)
}

// ------------------------------------------------------------ ARP frames

/// An ARP frame seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpFrame {
    pub at: Instant,
    pub dst_mac: [u8; 6],
    /// 1 request, 2 reply.
    pub op: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_ip: Ipv4Addr,
}

impl ArpFrame {
    /// Gratuitous: announces the sender's own address (target = sender),
    /// or an unsolicited reply to the broadcast address.
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip || (self.op == 2 && self.dst_mac == [0xff; 6])
    }
}

fn parse_arp(at: Instant, f: &[u8]) -> Option<ArpFrame> {
    if f.len() < 42 || f[12..14] != [0x08, 0x06] {
        return None;
    }
    let a = &f[14..];
    if a[0..2] != [0, 1] || a[2..4] != [0x08, 0x00] || a[4] != 6 || a[5] != 4 {
        return None;
    }
    let mac = |s: &[u8]| -> [u8; 6] { s[..6].try_into().unwrap_or([0; 6]) };
    Some(ArpFrame {
        at,
        dst_mac: mac(&f[0..6]),
        op: u16::from_be_bytes([a[6], a[7]]),
        sender_mac: mac(&a[8..14]),
        sender_ip: Ipv4Addr::new(a[14], a[15], a[16], a[17]),
        target_ip: Ipv4Addr::new(a[24], a[25], a[26], a[27]),
    })
}

/// Captures every ARP frame arriving in a namespace, from an AF_PACKET
/// socket opened inside it (safe nix wrappers; no unsafe code).
pub struct ArpCapture {
    stop: Arc<AtomicBool>,
    frames: Arc<Mutex<Vec<ArpFrame>>>,
    handle: Option<JoinHandle<()>>,
}

impl ArpCapture {
    /// Start capturing in namespace `ns`; returns once the socket is open.
    pub fn start(ns: &str) -> io::Result<ArpCapture> {
        use nix::sys::socket::{setsockopt, socket, sockopt, AddressFamily, SockFlag, SockProtocol, SockType};
        let file = File::open(Path::new("/run/netns").join(ns))?;
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let (stop2, frames2) = (stop.clone(), frames.clone());
        let handle = thread::spawn(move || {
            let opened = (|| -> io::Result<File> {
                nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)?;
                let fd = socket(AddressFamily::Packet, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::EthAll)?;
                setsockopt(&fd, sockopt::ReceiveTimeout, &nix::sys::time::TimeVal::new(0, 50_000))?;
                Ok(File::from(fd))
            })();
            let mut sock = match opened {
                Ok(s) => {
                    let _ = tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let mut buf = [0u8; 2048];
            while !stop2.load(Ordering::Relaxed) {
                match sock.read(&mut buf) {
                    Ok(n) => {
                        if let Some(f) = parse_arp(Instant::now(), &buf[..n]) {
                            frames2.lock().unwrap_or_else(|e| e.into_inner()).push(f);
                        }
                    }
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        });
        match rx.recv() {
            Ok(Ok(())) => Ok(ArpCapture { stop, frames, handle: Some(handle) }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("capture thread died")),
        }
    }

    /// Every ARP frame so far.
    pub fn frames(&self) -> Vec<ArpFrame> {
        self.frames.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Wait up to `timeout` for a frame after `since` matching `pred`.
    pub fn wait_for(&self, since: Instant, timeout: Duration, pred: impl Fn(&ArpFrame) -> bool) -> Option<ArpFrame> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(f) = self.frames().into_iter().find(|f| f.at >= since && pred(f)) {
                return Some(f);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ArpCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

// ------------------------------------------------------------------- TCP

/// A TCP listener on `addr` inside namespace `ns` (the socket stays in
/// that namespace; accept from any thread).
pub fn listen_in(ns: &str, addr: SocketAddr) -> io::Result<TcpListener> {
    netns::in_netns(ns, move || TcpListener::bind(addr))?
}

/// Node `n`'s rctdbd pid, for messages.
pub fn describe_node(n: &Node) -> String {
    format!("node {} ({}, pid {:?})", n.index, n.netns, n.pid())
}

/// `ip` form of an address for the CLI.
pub fn cidr(a: Ipv4Addr) -> String {
    format!("{a}/24")
}

/// `IpAddr` of a v4 address (for comparisons with protocol types).
pub fn v4(a: Ipv4Addr) -> IpAddr {
    IpAddr::V4(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addr_show_and_machine_rows() {
        let text = "5: pub0    inet 198.51.100.1/24 brd 198.51.100.255 scope global pub0\\       valid_lft forever\n\
                    5: pub0    inet 198.51.100.4/24 brd 198.51.100.255 scope global secondary pub0\\ x\n\
                    5: pub0    inet 192.0.2.11/24 brd 192.0.2.255 scope global pub0\\ x\n";
        let want: BTreeSet<Ipv4Addr> = ["198.51.100.1".parse().unwrap(), "198.51.100.4".parse().unwrap()].into();
        assert_eq!(parse_ip_addr_show(text), want);
        let m = parse_ip_machine("|Public IP|Node|\n|198.51.100.2|1|\n|198.51.100.1|-1|\n").unwrap();
        assert_eq!(m.get(&"198.51.100.1".parse().unwrap()), Some(&-1));
        assert_eq!(m.get(&"198.51.100.2".parse().unwrap()), Some(&1));
        assert!(parse_ip_machine("Public IPs on ALL nodes\n").is_err());
    }

    #[test]
    fn log_times_and_runs() {
        let log = "2026/11/22 03:40:05.000100 recoverd[1]: NOTICE: Takeover run starting\n\
                   2026/11/22 03:40:05.012000 recoverd[1]: NOTICE: Takeover run completed successfully in 11ms\n";
        let runs = takeover_runs_in(2, log);
        assert_eq!(runs.len(), 1);
        let d = runs[0].end.duration_since(runs[0].start).unwrap();
        assert_eq!(d, Duration::from_micros(11900));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
    }

    #[test]
    fn overlap_episodes_and_invariant() {
        let a: Ipv4Addr = "198.51.100.1".parse().unwrap();
        let t0 = SystemTime::now();
        let at = Instant::now();
        let snap = |ms: u64, hosts: Vec<Vec<Ipv4Addr>>| Snapshot {
            at,
            wall: t0 + Duration::from_millis(ms),
            hosts: hosts.into_iter().map(|v| v.into_iter().collect()).collect(),
        };
        let changes = vec![
            snap(0, vec![vec![a], vec![], vec![]]),
            snap(100, vec![vec![a], vec![a], vec![]]),
            snap(140, vec![vec![], vec![a], vec![]]),
        ];
        let o = overlaps(&changes, t0 + Duration::from_secs(1));
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].hosts, vec![0, 1]);
        let run = |end_ms: u64| TakeoverRun { node: 0, start: t0, end: t0 + Duration::from_millis(end_ms), ok: true };
        let (bad, transient) = check_invariant(&o, &[run(130)], Duration::from_millis(20));
        assert!(bad.is_empty() && transient.len() == 1, "{bad:?}");
        let (bad, _) = check_invariant(&o, &[run(90)], Duration::from_millis(5));
        assert_eq!(bad.len(), 1, "still seen 50 ms after the run ended");
    }
}

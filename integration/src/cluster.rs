//! A cluster of rctdbd processes, one per network namespace.
//!
//! Layout of one cluster with stem `rctdbt-<pid>-<n>`:
//!
//! ```text
//!   <stem>-sw   switch: bridge br0, one port v<i> per host
//!   <stem>-n<i> host i: eth0 = 192.0.2.(11+i)/24, runs rctdbd as PNN i
//!   <stem>-x<k> extra host (an address not in `nodes`), no daemon
//! ```
//!
//! Host `i` always has address 192.0.2.(11+i) and, when it appears in the
//! `nodes` file, PNN `i`. Each node has its own base, run and state
//! directories under one temporary directory, and logs to `<dir>/n<i>/log`.
//!
//! Teardown (Drop, also while panicking): SIGKILL every daemon's process
//! group, then every process left in any of the cluster's namespaces, then
//! delete the namespaces (which removes the veths and the bridge).

use crate::netns;
use crate::process::{self, binary};
use rctdb_client::{Client, ClientError};
use rctdb_protocol::{NodeFlags, NodeMap, Pnn};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// The node transport port every test daemon listens on.
pub const TRANSPORT_PORT: u16 = 4379;
/// How long a daemon may take from spawn to answering `GetPnn`.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Per-call timeout of the harness's own clients: short, so that polling a
/// stopped daemon cannot stall a `wait_until`.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Limit for one CLI invocation.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(10);
const LOG_TAIL_LINES: usize = 40;

thread_local! {
    /// Set when the harness panics with a full [`Cluster::report`], so Drop
    /// does not print the same logs a second time.
    static REPORTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Address of host `i`: 192.0.2.(11+i).
pub fn host_addr(i: usize) -> Ipv4Addr {
    assert!(i < 80, "host index {i} out of range");
    Ipv4Addr::new(192, 0, 2, 11 + i as u8)
}

/// Configures a [`Cluster`] before it starts.
pub struct Builder {
    hosts: usize,
    tunables: Vec<(String, String)>,
    nodes_lines: Option<Vec<String>>,
    nodes_extra: Vec<String>,
    not_started: Vec<usize>,
    log_level: String,
    daemon_env: Vec<(String, String)>,
    cluster_conf: Vec<String>,
}

impl Builder {
    /// Add `Name=value` to every node's `tunables` file.
    pub fn tunable(mut self, name: &str, value: &str) -> Self {
        self.tunables.push((name.to_string(), value.to_string()));
        self
    }

    /// Replace the whole `nodes` file (default: one line per host).
    pub fn nodes_file(mut self, lines: &[&str]) -> Self {
        self.nodes_lines = Some(lines.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Append lines to the `nodes` file.
    pub fn nodes_file_extra(mut self, lines: &[&str]) -> Self {
        self.nodes_extra.extend(lines.iter().map(|s| s.to_string()));
        self
    }

    /// Create these hosts (namespace, address, directories, config) but do
    /// not start their daemon.
    pub fn not_started(mut self, hosts: &[usize]) -> Self {
        self.not_started.extend_from_slice(hosts);
        self
    }

    /// `log level` in `rctdb.conf` (default INFO).
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = level.to_string();
        self
    }

    /// Set `name=value` in the environment of every node's rctdbd (for
    /// example `RCTDB_RECOVERD=none` to run it without a recovery daemon).
    pub fn daemon_env(mut self, name: &str, value: &str) -> Self {
        self.daemon_env.push((name.to_string(), value.to_string()));
        self
    }

    /// Add a `key = value` line to the `[cluster]` section of every node's
    /// `rctdb.conf`. `{shared}` in the line stands for the directory all
    /// hosts share ([`Cluster::shared_dir`]), e.g.
    /// `cluster lock = {shared}/cluster.lock` or `leader timeout = 500ms`.
    pub fn cluster_conf(mut self, line: &str) -> Self {
        self.cluster_conf.push(line.to_string());
        self
    }

    /// Build the hosts and start the daemons; returns once every started
    /// daemon answers on its control socket (not yet connected to peers:
    /// use [`Cluster::wait_connected`]).
    pub fn start(self) -> Cluster {
        netns::require_root();
        netns::cleanup_stale();
        netns::install_abort_cleanup();
        let rctdbd = binary("rctdbd");
        let rctdb = binary("rctdb");
        let stem = netns::unique_stem();
        let dir = tempfile::Builder::new()
            .prefix(&format!("rctdb-it-{}-", std::process::id()))
            .tempdir()
            .expect("create temporary directory");
        netns::remove_on_abort(dir.path());
        let mut cluster = Cluster {
            stem: stem.clone(),
            switch: format!("{stem}-sw"),
            nodes: Vec::new(),
            extras: Vec::new(),
            rctdbd,
            rctdb,
            log_level: self.log_level.clone(),
            tunables: self.tunables.clone(),
            daemon_env: self.daemon_env.clone(),
            cluster_conf: self.cluster_conf.clone(),
            dir: Some(dir),
        };
        fs::create_dir_all(cluster.shared_dir()).expect("create the shared directory");
        // From here on Drop cleans up whatever exists, also if setup panics.
        netns::add(&cluster.switch).unwrap_or_else(|e| panic!("{e}"));
        netns::ip_ok(&["-n", &cluster.switch, "link", "add", "br0", "type", "bridge"]);
        netns::ip_ok(&["-n", &cluster.switch, "link", "set", "br0", "up"]);

        let nodes_lines = self
            .nodes_lines
            .clone()
            .unwrap_or_else(|| (0..self.hosts).map(|i| host_addr(i).to_string()).collect())
            .into_iter()
            .chain(self.nodes_extra.iter().cloned())
            .collect::<Vec<_>>();
        for _ in 0..self.hosts {
            cluster.create_host(&nodes_lines);
        }
        let to_start: Vec<usize> = (0..self.hosts).filter(|i| !self.not_started.contains(i)).collect();
        for &i in &to_start {
            cluster.nodes[i].spawn();
        }
        for &i in &to_start {
            if let Err(e) = cluster.nodes[i].wait_ready(START_TIMEOUT) {
                panic!("{}", cluster.report(&e));
            }
        }
        cluster
    }
}

/// One test host running (or ready to run) one rctdbd.
pub struct Node {
    /// Host index; also the PNN when the default `nodes` file is used.
    pub index: usize,
    pub addr: Ipv4Addr,
    /// Namespace name.
    pub netns: String,
    /// This host's port on the switch's bridge (in the switch namespace).
    pub switch_port: String,
    pub switch_ns: String,
    pub dir: PathBuf,
    pub base: PathBuf,
    pub rundir: PathBuf,
    pub vardir: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    rctdbd: PathBuf,
    rctdb: PathBuf,
    child: Mutex<Option<Child>>,
    /// Extra environment of rctdbd ([`Builder::daemon_env`]).
    daemon_env: Vec<(String, String)>,
}

impl Node {
    /// The child slot; a panic elsewhere must not stop teardown from
    /// reaching the process, so poisoning is ignored.
    fn lock_child(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The PNN of this host: its index (host i is line i of `nodes`).
    pub fn pnn(&self) -> Pnn {
        Pnn(self.index as u32)
    }

    /// Pid of the running daemon (also its process group).
    pub fn pid(&self) -> Option<u32> {
        self.lock_child().as_ref().map(|c| c.id())
    }

    /// Spawn rctdbd in this host's namespace, logging to `self.log`.
    /// Panics if it is already running.
    pub fn spawn(&self) {
        let mut slot = self.lock_child();
        if let Some(c) = slot.as_mut() {
            if c.try_wait().ok().flatten().is_none() {
                panic!("node {}: rctdbd (pid {}) is already running", self.index, c.id());
            }
        }
        let mut log = OpenOptions::new().create(true).append(true).open(&self.log).expect("open node log");
        let _ = writeln!(log, "=== harness: starting rctdbd in {} ===", self.netns);
        let log2 = log.try_clone().expect("dup log fd");
        // `ip netns exec` and `setpriv` exec in turn, so the child's pid is
        // rctdbd's. The parent-death signal kills the daemon if the test
        // process dies without running Drop (e.g. a nextest timeout).
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns, "setpriv", "--pdeathsig", "KILL", "--"])
            .arg(&self.rctdbd)
            .arg("--interactive")
            .env_remove("RCTDB_SOCKET")
            .env("RCTDB_BASE", &self.base)
            .env("RCTDB_RUNDIR", &self.rundir)
            .env("RCTDB_VARDIR", &self.vardir)
            .envs(self.daemon_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("node {}: cannot spawn rctdbd: {e}", self.index));
        *slot = Some(child);
    }

    /// Wait until the daemon answers `GetPnn` on its socket.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("socket does not exist yet");
        loop {
            if let Some(status) = self.try_wait() {
                return Err(format!("node {}: rctdbd exited during start-up ({status})", self.index));
            }
            if self.socket.exists() {
                match self.client().and_then(|mut c| c.pnn(Pnn::CURRENT)) {
                    Ok(_) => return Ok(()),
                    Err(e) => last = e.to_string(),
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("node {}: rctdbd not ready after {timeout:?}: {last}", self.index));
            }
            thread::sleep(POLL);
        }
    }

    /// Exit status if the daemon has exited (reaping it), else `None`.
    pub fn try_wait(&self) -> Option<ExitStatus> {
        let mut slot = self.lock_child();
        slot.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// True if a daemon was started and has not exited.
    pub fn is_running(&self) -> bool {
        let mut slot = self.lock_child();
        matches!(slot.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Wait up to `timeout` for the daemon to exit.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let mut slot = self.lock_child();
        let c = slot.as_mut()?;
        process::wait_timeout(c, timeout)
    }

    /// Send `sig` to the daemon process.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = self.pid().unwrap_or_else(|| panic!("node {}: not started", self.index));
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig)
            .unwrap_or_else(|e| panic!("node {}: kill({pid}, {sig}): {e}", self.index));
    }

    /// `kill -9` the daemon process alone, as the OOM killer or an operator
    /// would, and reap it. What it started must notice by itself.
    pub fn kill9(&self) {
        let mut slot = self.lock_child();
        if let Some(c) = slot.as_mut() {
            if c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }

    /// SIGKILL the daemon's whole process group and reap the daemon
    /// (teardown).
    fn kill_group(&self) {
        let mut slot = self.lock_child();
        if let Some(c) = slot.as_mut() {
            let _ =
                nix::sys::signal::killpg(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGKILL);
            let _ = c.wait();
        }
    }

    /// A client on this node's control socket (per-call timeout
    /// [`PROBE_TIMEOUT`]).
    pub fn client(&self) -> Result<Client, ClientError> {
        let mut c = Client::connect(&self.socket)?;
        c.set_timeout(PROBE_TIMEOUT);
        Ok(c)
    }

    /// The node map as this node sees it.
    pub fn nodemap(&self) -> Result<NodeMap, String> {
        self.client()
            .and_then(|mut c| c.nodemap(Pnn::CURRENT))
            .map_err(|e| format!("node {}: GetNodeMap failed: {e}", self.index))
    }

    /// The `rctdb` command for this node, run from the root namespace.
    pub fn cli_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.rctdb);
        cmd.args(args)
            .env("RCTDB_SOCKET", &self.socket)
            .env("RCTDB_BASE", &self.base)
            .env("RCTDB_RUNDIR", &self.rundir)
            .env("RCTDB_VARDIR", &self.vardir);
        cmd
    }

    /// Run `rctdb ARGS` against this node (see [`Node::cli_command`]).
    pub fn cli(&self, args: &[&str]) -> Output {
        process::output_with_timeout(&mut self.cli_command(args), CLI_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Write `name` in the base directory.
    pub fn write_base_file(&self, name: &str, contents: &str) {
        fs::write(self.base.join(name), contents).unwrap_or_else(|e| panic!("write {name}: {e}"));
    }

    /// Read `name` from the base directory.
    pub fn read_base_file(&self, name: &str) -> String {
        fs::read_to_string(self.base.join(name)).unwrap_or_default()
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        fs::read(&self.log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Open a TCP connection from this host's namespace.
    pub fn tcp_connect(&self, dest: SocketAddr) -> std::io::Result<TcpStream> {
        netns::tcp_connect(&self.netns, dest, Duration::from_secs(5))
    }

    /// The node transport address of this node.
    pub fn transport_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr.into(), TRANSPORT_PORT)
    }
}

/// A host with an address but no daemon, e.g. an address not in `nodes`.
#[derive(Debug, Clone)]
pub struct ExtraHost {
    pub addr: Ipv4Addr,
    pub netns: String,
}

impl ExtraHost {
    /// Open a TCP connection from this host.
    pub fn tcp_connect(&self, dest: SocketAddr) -> std::io::Result<TcpStream> {
        netns::tcp_connect(&self.netns, dest, Duration::from_secs(5))
    }
}

/// A cluster of test hosts. See the module docs.
pub struct Cluster {
    stem: String,
    switch: String,
    nodes: Vec<Node>,
    extras: Vec<ExtraHost>,
    rctdbd: PathBuf,
    rctdb: PathBuf,
    log_level: String,
    tunables: Vec<(String, String)>,
    daemon_env: Vec<(String, String)>,
    cluster_conf: Vec<String>,
    dir: Option<tempfile::TempDir>,
}

impl Cluster {
    /// A cluster of `hosts` hosts; by default every host is in `nodes` and
    /// runs a daemon.
    pub fn builder(hosts: usize) -> Builder {
        Builder {
            hosts,
            tunables: Vec::new(),
            nodes_lines: None,
            nodes_extra: Vec::new(),
            not_started: Vec::new(),
            log_level: "INFO".to_string(),
            daemon_env: Vec::new(),
            cluster_conf: Vec::new(),
        }
    }

    /// Host `i`.
    pub fn node(&self, i: usize) -> &Node {
        self.nodes.get(i).unwrap_or_else(|| panic!("no host {i} (cluster has {})", self.nodes.len()))
    }

    /// Number of hosts (started or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if the cluster has no hosts.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Temporary directory holding every node's directories.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("cluster directory").path()
    }

    /// A directory every host sees (the namespaces share the filesystem):
    /// where a cluster lock file goes. `{shared}` in
    /// [`Builder::cluster_conf`] lines.
    pub fn shared_dir(&self) -> PathBuf {
        self.dir().join("shared")
    }

    fn create_host(&mut self, nodes_lines: &[String]) -> usize {
        let i = self.nodes.len();
        let addr = host_addr(i);
        let ns = format!("{}-n{i}", self.stem);
        let port = format!("v{i}");
        let dir = self.dir().join(format!("n{i}"));
        let node = Node {
            index: i,
            addr,
            netns: ns.clone(),
            switch_port: port.clone(),
            switch_ns: self.switch.clone(),
            base: dir.join("base"),
            rundir: dir.join("run"),
            vardir: dir.join("var"),
            socket: dir.join("run").join("rctdbd.socket"),
            log: dir.join("log"),
            dir,
            rctdbd: self.rctdbd.clone(),
            rctdb: self.rctdb.clone(),
            child: Mutex::new(None),
            daemon_env: self.daemon_env.clone(),
        };
        for d in [&node.base, &node.rundir, &node.vardir] {
            fs::create_dir_all(d).expect("create node directory");
        }
        File::create(&node.log).expect("create node log");
        self.nodes.push(node);
        // Pushed before the namespace exists so Drop removes it whatever
        // fails below.
        netns::add(&ns).unwrap_or_else(|e| panic!("{e}"));
        self.plug(&ns, &port, addr);
        let shared = self.shared_dir().display().to_string();
        let node = &self.nodes[i];
        let mut conf = format!(
            "[logging]\n\tlocation = file:\n\tlog level = {}\n[cluster]\n\tnode address = {addr}\n\ttransport port = {TRANSPORT_PORT}\n",
            self.log_level
        );
        for l in &self.cluster_conf {
            let _ = writeln!(conf, "\t{}", l.replace("{shared}", &shared));
        }
        node.write_base_file("rctdb.conf", &conf);
        node.write_base_file("nodes", &lines(nodes_lines));
        let tun: Vec<String> = self.tunables.iter().map(|(n, v)| format!("{n}={v}")).collect();
        node.write_base_file("tunables", &lines(&tun));
        i
    }

    /// veth from the switch's bridge (port `port`) to `eth0` in `ns`.
    fn plug(&self, ns: &str, port: &str, addr: Ipv4Addr) {
        let sw = &self.switch;
        netns::ip_ok(&["-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns]);
        netns::ip_ok(&["-n", sw, "link", "set", port, "master", "br0"]);
        netns::ip_ok(&["-n", sw, "link", "set", port, "up"]);
        netns::ip_ok(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
        netns::ip_ok(&["-n", ns, "link", "set", "eth0", "up"]);
    }

    /// Add a host (namespace, address 192.0.2.(11+i), directories, config
    /// with a copy of node 0's `nodes` file) without starting it. Returns
    /// its index. For `reloadnodes` scenarios.
    pub fn add_node(&mut self) -> usize {
        let nodes: Vec<String> = self.nodes[0].read_base_file("nodes").lines().map(str::to_string).collect();
        self.create_host(&nodes)
    }

    /// Add a host with address `addr` that runs no daemon.
    pub fn add_extra_host(&mut self, addr: Ipv4Addr) -> ExtraHost {
        let k = self.extras.len();
        let ns = format!("{}-x{k}", self.stem);
        self.extras.push(ExtraHost { addr, netns: ns.clone() });
        netns::add(&ns).unwrap_or_else(|e| panic!("{e}"));
        self.plug(&ns, &format!("x{k}"), addr);
        self.extras[k].clone()
    }

    /// Write the same `nodes` file on every host.
    pub fn write_nodes_file_everywhere(&self, nodes_lines: &[&str]) {
        let v: Vec<String> = nodes_lines.iter().map(|s| s.to_string()).collect();
        for n in &self.nodes {
            n.write_base_file("nodes", &lines(&v));
        }
    }

    /// Start host `i`'s daemon and wait until it answers.
    pub fn start_node(&self, i: usize) {
        self.node(i).spawn();
        if let Err(e) = self.node(i).wait_ready(START_TIMEOUT) {
            panic!("{}", self.report(&e));
        }
    }

    /// Start host `i`'s daemon expecting it to exit by itself within
    /// `timeout`; returns its exit status and what it logged.
    pub fn start_expect_exit(&self, i: usize, timeout: Duration) -> (ExitStatus, String) {
        let node = self.node(i);
        fs::write(&node.log, "").expect("truncate log");
        node.spawn();
        match node.wait_exit(timeout) {
            Some(status) => (status, node.log_text()),
            None => panic!(
                "{}",
                self.report(&format!("node {i}: rctdbd still running after {timeout:?}, expected it to exit"))
            ),
        }
    }

    /// `kill -9` host `i`'s rctdbd (the daemon process only).
    pub fn kill9(&self, i: usize) {
        self.node(i).kill9();
    }

    /// SIGSTOP host `i`'s daemon.
    pub fn sigstop(&self, i: usize) {
        self.node(i).signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// SIGCONT host `i`'s daemon.
    pub fn sigcont(&self, i: usize) {
        self.node(i).signal(nix::sys::signal::Signal::SIGCONT);
    }

    /// Kill host `i`'s daemon (if running) and start it again with the same
    /// directories (a stale socket file is left as a crash leaves it).
    pub fn restart(&self, i: usize) {
        self.kill9(i);
        self.start_node(i);
    }

    /// Take host `i`'s switch port down: its peers stop hearing from it
    /// without any TCP reset.
    pub fn link_down(&self, i: usize) {
        let n = self.node(i);
        netns::ip_ok(&["-n", &n.switch_ns, "link", "set", &n.switch_port, "down"]);
    }

    /// Bring host `i`'s switch port back up.
    pub fn link_up(&self, i: usize) {
        let n = self.node(i);
        netns::ip_ok(&["-n", &n.switch_ns, "link", "set", &n.switch_port, "up"]);
    }

    /// Cut hosts `a` and `b` off from each other with blackhole routes on
    /// both sides (each still reaches everyone else).
    pub fn partition(&self, a: usize, b: usize) {
        for (x, y) in [(a, b), (b, a)] {
            let dst = format!("{}/32", self.node(y).addr);
            netns::ip_ok(&["-n", &self.node(x).netns, "route", "add", "blackhole", &dst]);
        }
    }

    /// Undo [`Cluster::partition`].
    pub fn heal(&self, a: usize, b: usize) {
        for (x, y) in [(a, b), (b, a)] {
            let dst = format!("{}/32", self.node(y).addr);
            netns::ip_ok(&["-n", &self.node(x).netns, "route", "del", "blackhole", &dst]);
        }
    }

    /// Run a command inside host `i`'s namespace (60 s limit).
    pub fn exec_in(&self, i: usize, cmd: &[&str]) -> Output {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.node(i).netns]).args(cmd);
        process::output_with_timeout(&mut c, CLI_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The flags node `i` has for node `j`.
    pub fn flags_seen_by(&self, i: usize, j: usize) -> Result<NodeFlags, String> {
        let map = self.node(i).nodemap()?;
        map.get(Pnn(j as u32)).map(|n| n.flags).ok_or_else(|| format!("node {i}: node map has no PNN {j}: {map:?}"))
    }

    /// One line per observer: how it sees every node, for failure messages.
    pub fn view(&self, observers: &[usize]) -> String {
        let mut s = String::new();
        for &i in observers {
            match self.node(i).nodemap() {
                Ok(map) => {
                    let _ = write!(s, "node {i} sees:");
                    for n in &map.nodes {
                        let _ = write!(s, " {}={}", n.pnn, n.flags);
                    }
                    s.push('\n');
                }
                Err(e) => {
                    let _ = writeln!(s, "{e}");
                }
            }
        }
        s
    }

    /// Poll `probe` every 10 ms until it returns `Ok`, and return its value.
    /// After `timeout` panic with what the probe last reported and the tail
    /// of every node's log.
    pub fn wait_until<T>(&self, timeout: Duration, what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
        let start = Instant::now();
        loop {
            let last = match probe() {
                Ok(v) => return v,
                Err(e) => e,
            };
            if start.elapsed() >= timeout {
                REPORTED.with(|r| r.set(true));
                panic!(
                    "{}",
                    self.report(&format!(
                        "timed out after {timeout:?} waiting for {what}\nlast observed state:\n{last}"
                    ))
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Ok once every node in `set` sees every node in `set` (itself too)
    /// without DISCONNECTED.
    pub fn check_connected(&self, set: &[usize]) -> Result<(), String> {
        for &i in set {
            let map = self.node(i).nodemap()?;
            for &j in set {
                match map.get(Pnn(j as u32)) {
                    Some(n) if !n.flags.contains(NodeFlags::DISCONNECTED) => {}
                    _ => return Err(self.view(set)),
                }
            }
        }
        Ok(())
    }

    /// Wait until [`Cluster::check_connected`] holds for `set`.
    pub fn wait_connected(&self, set: &[usize], timeout: Duration) {
        self.wait_until(timeout, &format!("nodes {set:?} to see each other connected"), || self.check_connected(set));
    }

    /// Ok once every observer sees `target` DISCONNECTED.
    pub fn check_disconnected(&self, observers: &[usize], target: usize) -> Result<(), String> {
        for &i in observers {
            let f = self.flags_seen_by(i, target)?;
            if !f.contains(NodeFlags::DISCONNECTED) {
                return Err(self.view(observers));
            }
        }
        Ok(())
    }

    /// Wait until every observer sees `target` DISCONNECTED.
    pub fn wait_disconnected(&self, observers: &[usize], target: usize, timeout: Duration) {
        self.wait_until(timeout, &format!("nodes {observers:?} to see node {target} DISCONNECTED"), || {
            self.check_disconnected(observers, target)
        });
    }

    /// `message` followed by the state of every host and its log tail.
    pub fn report(&self, message: &str) -> String {
        let mut s = format!("{message}\n");
        for n in &self.nodes {
            let state = match n.child.try_lock() {
                Ok(mut g) => match g.as_mut().map(|c| (c.id(), c.try_wait())) {
                    None => "never started".to_string(),
                    Some((pid, Ok(None))) => format!("running, pid {pid}"),
                    Some((pid, Ok(Some(st)))) => format!("exited ({st}), was pid {pid}"),
                    Some((pid, Err(e))) => format!("pid {pid}: {e}"),
                },
                Err(_) => "state unavailable".to_string(),
            };
            let _ = writeln!(
                s,
                "===== node {} ({}, ns {}, {state}) last {LOG_TAIL_LINES} lines of {} =====\n{}",
                n.index,
                n.addr,
                n.netns,
                n.log.display(),
                n.log_tail(LOG_TAIL_LINES)
            );
        }
        s
    }

    fn teardown(&mut self) {
        for n in &self.nodes {
            n.kill_group();
        }
        let mut namespaces: Vec<String> = self.nodes.iter().map(|n| n.netns.clone()).collect();
        namespaces.extend(self.extras.iter().map(|x| x.netns.clone()));
        namespaces.push(self.switch.clone());
        for ns in namespaces {
            netns::destroy(&ns);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if thread::panicking() && !REPORTED.with(|r| r.replace(false)) {
            eprintln!("{}", self.report("harness: test failed; state of the cluster at teardown:"));
        }
        self.teardown();
        if std::env::var_os("RCTDB_KEEP_LOGS").is_some() {
            if let Some(d) = self.dir.take() {
                eprintln!("harness: RCTDB_KEEP_LOGS set, keeping {}", d.keep().display());
            }
        }
    }
}

fn lines(v: &[String]) -> String {
    let mut s = String::new();
    for l in v {
        s.push_str(l);
        s.push('\n');
    }
    s
}

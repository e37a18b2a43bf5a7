//! CTDB 4.17 (Debian's `ctdb` package) on the same namespace hosts the
//! rctdb benchmarks use, for side-by-side measurements.
//!
//! The hosts, switch, public bridge and client come from
//! [`crate::failover::Setup`] with no rctdbd started; each host then runs a
//! stock `ctdbd --interactive` with its own configuration, run and state
//! directories. CTDB 4.17 takes its paths from compile-time defaults
//! (`/etc/ctdb`, `/run/ctdb`, `/var/lib/ctdb`; `CTDB_BASE` only counts in
//! `CTDB_TEST_MODE`, which changes behaviour), so the daemon is started as
//!
//! ```text
//! ip netns exec NS sh -c 'mount --bind D/etc /etc/ctdb && mount --bind D/run /run/ctdb \
//!     && mount --bind D/var /var/lib/ctdb && exec setpriv --pdeathsig KILL -- ctdbd --interactive'
//! ```
//!
//! `ip netns exec` gives the command a new mount namespace whose root is a
//! slave of the host's, so the bind mounts are seen by this ctdbd and its
//! children (ctdb-eventd, ctdb-recoverd, the cluster mutex helper, the event
//! scripts) only, and vanish with them. `/run/ctdb` must exist as a mount
//! point: it is created (empty) if the package did not. `D/etc` is a copy
//! of the package's `/etc/ctdb` with `ctdb.conf`, `nodes`,
//! `public_addresses` and `ctdb.tunables` written for the test, and the
//! legacy event scripts `00.ctdb`, `01.reclock` and `10.interface` enabled
//! (the same set rctdb's benchmarks run). The cluster lock is a file in the
//! directory all hosts share (the default fcntl mutex helper).
//!
//! The `ctdb` tool reaches a node through `CTDB_SOCKET=D/run/ctdbd.socket`
//! from any namespace; `ctdb event ...` talks to ctdb-eventd's socket in
//! `/run/ctdb`, so it runs inside the daemon's namespaces (`nsenter`).
//! Teardown is the harness's: every process in a host namespace is killed
//! with it.

use crate::failover::{public_addresses_file, PubCluster, Setup};
use crate::netns;
use crate::process;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const CTDBD: &str = "/usr/sbin/ctdbd";
pub const CTDB: &str = "/usr/bin/ctdb";
const PACKAGE_ETC: &str = "/etc/ctdb";
const SCRIPT_DIR: &str = "/usr/share/ctdb/events/legacy";
/// The legacy event scripts enabled on every node.
pub const SCRIPTS: [&str; 3] = ["00.ctdb", "01.reclock", "10.interface"];

/// Why CTDB cannot run here, or `None` if it looks possible.
pub fn unsupported_reason() -> Option<String> {
    for p in [CTDBD, CTDB, "/usr/bin/nsenter", "/usr/bin/setpriv"] {
        if !Path::new(p).exists() {
            return Some(format!("{p} is missing (apt-get install ctdb util-linux)"));
        }
    }
    for s in SCRIPTS {
        let p = Path::new(SCRIPT_DIR).join(format!("{s}.script"));
        if !p.exists() {
            return Some(format!("{} is missing", p.display()));
        }
    }
    if !Path::new(PACKAGE_ETC).join("functions").exists() {
        return Some(format!("{PACKAGE_ETC}/functions is missing"));
    }
    for d in ["/var/lib/ctdb", "/run/ctdb"] {
        if let Err(e) = fs::create_dir_all(d) {
            return Some(format!("cannot create the mount point {d}: {e}"));
        }
    }
    None
}

/// `ctdbd --version`-like string from the package, for reports.
pub fn version() -> String {
    let out = Command::new(CTDB).arg("version").stdin(Stdio::null()).output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => "unknown".into(),
    }
}

/// Copy lines from `from` to `to`, each prefixed with the wall-clock time
/// it was read (`<unix seconds>.<microseconds> `).
fn stamp_lines(from: std::io::PipeReader, mut to: fs::File) {
    use std::io::BufRead;
    let mut r = std::io::BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                let text = String::from_utf8_lossy(&line);
                let _ = writeln!(to, "{}.{:06} {}", t.as_secs(), t.subsec_micros(), text.trim_end());
            }
        }
    }
}

/// Lines of a ctdb node log containing `needle`, with their time.
pub fn log_lines(log: &str, needle: &str) -> Vec<(SystemTime, String)> {
    log.lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| {
            let (stamp, rest) = l.split_once(' ')?;
            let (s, us) = stamp.split_once('.')?;
            let t = UNIX_EPOCH + Duration::from_secs(s.parse().ok()?) + Duration::from_micros(us.parse().ok()?);
            Some((t, rest.to_string()))
        })
        .collect()
}

/// One host's CTDB.
pub struct CtdbNode {
    pub index: usize,
    pub netns: String,
    pub dir: PathBuf,
    pub log: PathBuf,
    child: Mutex<Option<Child>>,
}

impl CtdbNode {
    pub fn etc(&self) -> PathBuf {
        self.dir.join("etc")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("run").join("ctdbd.socket")
    }

    fn lock_child(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pid of ctdbd, if started.
    pub fn pid(&self) -> Option<u32> {
        self.lock_child().as_ref().map(|c| c.id())
    }

    /// Start ctdbd in this host's namespace (see the module docs).
    pub fn spawn(&self) {
        let mut slot = self.lock_child();
        if let Some(c) = slot.as_mut() {
            if c.try_wait().ok().flatten().is_none() {
                panic!("ctdb node {}: ctdbd (pid {}) is already running", self.index, c.id());
            }
        }
        // A crash leaves the socket and pid files; ctdbd refuses a live
        // socket only.
        let _ = fs::remove_file(self.socket());
        let mut log = OpenOptions::new().create(true).append(true).open(&self.log).expect("open ctdb log");
        let _ = writeln!(log, "=== harness: starting ctdbd in {} ===", self.netns);
        let log2 = log.try_clone().expect("dup log fd");
        // `--interactive` logs to stderr without timestamps: a thread stamps
        // each line as it arrives (see [`log_lines`]). ctdbd's helpers share
        // the pipe; the thread ends when the last of them exits.
        let (reader, writer) = std::io::pipe().expect("pipe for ctdbd's stderr");
        let d = |s: &str| self.dir.join(s).display().to_string();
        let script = "mount --bind \"$1\" /etc/ctdb && mount --bind \"$2\" /run/ctdb && \
                      mount --bind \"$3\" /var/lib/ctdb && exec setpriv --pdeathsig KILL -- \"$4\" --interactive";
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns, "sh", "-c", script, "sh"])
            .args([d("etc"), d("run"), d("var"), CTDBD.to_string()])
            .env_remove("CTDB_SOCKET")
            .env_remove("CTDB_BASE")
            .env_remove("CTDB_TEST_MODE")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(writer)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("ctdb node {}: cannot spawn ctdbd: {e}", self.index));
        *slot = Some(child);
        std::thread::spawn(move || stamp_lines(reader, log2));
    }

    /// `kill -9` ctdbd alone and reap it; its helpers notice by themselves.
    pub fn kill9(&self) {
        let mut slot = self.lock_child();
        if let Some(c) = slot.as_mut() {
            if c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }

    /// True if ctdbd was started and has not exited.
    pub fn is_running(&self) -> bool {
        let mut slot = self.lock_child();
        matches!(slot.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The `ctdb` tool aimed at this node's daemon (runs in any namespace).
    pub fn cli_command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(CTDB);
        c.args(args).env("CTDB_SOCKET", self.socket()).env_remove("CTDB_BASE");
        c
    }

    /// `ctdb ARGS` inside the daemon's network and mount namespaces (for
    /// `ctdb event ...`, which needs ctdb-eventd's socket in /run/ctdb).
    pub fn cli_in_mounts(&self, args: &[&str]) -> Result<Output, String> {
        let pid = self.pid().ok_or_else(|| format!("ctdb node {}: not started", self.index))?;
        let mut c = Command::new("nsenter");
        c.args(["-t", &pid.to_string(), "-m", "-n", "--", CTDB]).args(args);
        process::output_with_timeout(&mut c, Duration::from_secs(30))
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        fs::read(&self.log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }
}

/// A 3-node (or n-node) CTDB cluster on [`PubCluster`] hosts.
pub struct CtdbCluster {
    nodes: Vec<CtdbNode>,
    /// Dropped after the daemons: removes the namespaces (and so every
    /// process left in them) and the directories.
    pub pc: PubCluster,
}

impl CtdbCluster {
    /// Build the hosts and the configuration; start nothing. `tunables`
    /// go to `ctdb.tunables`, `leader_timeout` (whole seconds) to
    /// `[cluster] leader timeout` when given.
    pub fn build(
        nodes: usize,
        addrs: usize,
        client: bool,
        tunables: &[(String, String)],
        leader_timeout: Option<&str>,
    ) -> CtdbCluster {
        let all: Vec<usize> = (0..nodes).collect();
        let mut setup = Setup::new(nodes, addrs).not_started(&all).log_level("NOTICE");
        if !client {
            setup = setup.without_client();
        }
        let pc = setup.start();
        let shared = pc.shared_lock_dir();
        let mut out = Vec::new();
        for i in 0..nodes {
            let dir = pc.dir().join(format!("ctdb-n{i}"));
            let node = CtdbNode {
                index: i,
                netns: pc.node(i).netns.clone(),
                log: dir.join("log"),
                dir,
                child: Mutex::new(None),
            };
            for sub in ["etc", "run", "var/volatile", "var/persistent", "var/state"] {
                fs::create_dir_all(node.dir.join(sub)).unwrap_or_else(|e| panic!("create {sub}: {e}"));
            }
            let etc = node.etc();
            let cp = Command::new("cp").arg("-a").arg(format!("{PACKAGE_ETC}/.")).arg(&etc).status();
            if !matches!(cp, Ok(s) if s.success()) {
                panic!("cannot copy {PACKAGE_ETC} to {}", etc.display());
            }
            let legacy = etc.join("events").join("legacy");
            let _ = fs::remove_dir_all(&legacy);
            fs::create_dir_all(&legacy).expect("create events/legacy");
            for s in SCRIPTS {
                let target = Path::new(SCRIPT_DIR).join(format!("{s}.script"));
                std::os::unix::fs::symlink(&target, legacy.join(format!("{s}.script")))
                    .unwrap_or_else(|e| panic!("enable {s}: {e}"));
            }
            let mut conf = String::from("[logging]\n\tlog level = NOTICE\n[cluster]\n");
            let _ = writeln!(conf, "\tcluster lock = {}/cluster.lock", shared.display());
            if let Some(t) = leader_timeout {
                let _ = writeln!(conf, "\tleader timeout = {t}");
            }
            let write = |name: &str, text: &str| {
                fs::write(etc.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
            };
            write("ctdb.conf", &conf);
            let nodes_file: String = (0..nodes).map(|k| format!("{}\n", crate::host_addr(k))).collect();
            write("nodes", &nodes_file);
            write("public_addresses", &public_addresses_file(&pc.addrs));
            let tun: String = tunables.iter().map(|(n, v)| format!("{n}={v}\n")).collect();
            write("ctdb.tunables", &tun);
            fs::File::create(&node.log).expect("create ctdb log");
            out.push(node);
        }
        CtdbCluster { nodes: out, pc }
    }

    pub fn node(&self, i: usize) -> &CtdbNode {
        &self.nodes[i]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Logs of every node, for failure messages.
    pub fn report(&self, message: &str) -> String {
        let mut s = format!("{message}\n");
        for n in &self.nodes {
            let text = n.log_text();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            let _ = writeln!(s, "===== ctdb node {} ({}) last 30 lines =====\n{tail}", n.index, n.netns);
        }
        s
    }
}

impl Drop for CtdbCluster {
    fn drop(&mut self) {
        for n in &self.nodes {
            let mut slot = n.lock_child();
            if let Some(c) = slot.as_mut() {
                let pg = nix::unistd::Pid::from_raw(c.id() as i32);
                let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGKILL);
                let _ = c.wait();
            }
        }
        for n in &self.nodes {
            // The helpers are in the namespace, not in the daemon's group.
            for p in netns::pids(&n.netns) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
            }
        }
        if std::env::var_os("RCTDB_KEEP_LOGS").is_some() {
            eprintln!("ctdb logs in {}", self.pc.dir().display());
        }
    }
}

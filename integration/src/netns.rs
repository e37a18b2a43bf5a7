//! Test hosts as Linux network namespaces, and the `ip` calls that build them.
//!
//! Every namespace the harness makes is named `rctdbt-<pid>-<n>-<role>`:
//! `<pid>` is the test process that made it, so a later run can tell its
//! own namespaces from those of a run that was killed before it could clean
//! up ([`cleanup_stale`]). Nothing is ever created in the root namespace:
//! veth pairs are made with both ends directly inside test namespaces.

use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

/// Prefix of every namespace the Rust harness creates (the demo script uses
/// `rctdb-demo`).
pub const PREFIX: &str = "rctdbt";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Namespaces this process made and has not destroyed yet, for the panic
/// hook of `panic = "abort"` builds (the release benchmark), where Drop
/// never runs.
static LIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Temporary directories to remove in the same case.
static LIVE_DIRS: Mutex<Vec<std::path::PathBuf>> = Mutex::new(Vec::new());

/// Remove `dir` too if the process aborts on a panic (see
/// [`install_abort_cleanup`]).
pub fn remove_on_abort(dir: &Path) {
    LIVE_DIRS.lock().unwrap_or_else(|e| e.into_inner()).push(dir.to_path_buf());
}

/// A fresh, unique stem `rctdbt-<pid>-<n>` for one cluster's namespaces.
pub fn unique_stem() -> String {
    format!("{PREFIX}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Run `ip ARGS`; on failure the error holds the command and its stderr.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `ip {}`: {e} (is iproute2 installed?)", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}` failed ({}): {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Run `ip ARGS` and panic with its error if it fails.
pub fn ip_ok(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("{e}");
    }
}

/// Panic with a clear message unless we can make namespaces (root).
pub fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_string();
    if uid != "0" {
        panic!("the namespace tests must run as root (effective uid is {uid}); try `sudo scripts/test.sh`");
    }
}

/// Create namespace `name` with its loopback up.
pub fn add(name: &str) -> Result<(), String> {
    ip(&["netns", "add", name])?;
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(name.to_string());
    ip(&["-n", name, "link", "set", "lo", "up"])
}

/// Pids of every process whose network namespace is `name`.
pub fn pids(name: &str) -> Vec<i32> {
    let out = Command::new("ip").args(["netns", "pids", name]).stdin(Stdio::null()).output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect(),
        Err(_) => Vec::new(),
    }
}

/// SIGKILL every process in namespace `name` (waiting up to 5 s for them to
/// go), then delete it. Errors are reported, never panicked on: this runs
/// in Drop.
pub fn destroy(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ps = pids(name);
        if ps.is_empty() {
            break;
        }
        for p in &ps {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*p), nix::sys::signal::Signal::SIGKILL);
        }
        if Instant::now() > deadline {
            eprintln!("harness: processes {ps:?} in namespace {name} survive SIGKILL");
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    if Path::new("/run/netns").join(name).exists() {
        if let Err(e) = ip(&["netns", "delete", name]) {
            eprintln!("harness: {e}");
        }
    }
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|n| n != name);
}

/// In builds with `panic = "abort"` Drop does not run on panic: install a
/// hook that destroys every namespace (and so every process) this process
/// made before it aborts. A no-op when panics unwind.
pub fn install_abort_cleanup() {
    static ONCE: Once = Once::new();
    if !cfg!(panic = "abort") {
        return;
    }
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            let live: Vec<String> = LIVE.lock().map(|v| v.clone()).unwrap_or_default();
            for ns in live.iter().rev() {
                destroy(ns);
            }
            let dirs: Vec<std::path::PathBuf> = LIVE_DIRS.lock().map(|v| v.clone()).unwrap_or_default();
            for d in dirs {
                let _ = std::fs::remove_dir_all(d);
            }
        }));
    });
}

/// Remove namespaces (and the processes in them) that an earlier run left
/// behind: those with our prefix whose creating pid is dead. Runs once per
/// process.
pub fn cleanup_stale() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for name in stale_namespaces() {
            eprintln!("harness: removing stale namespace {name} from a dead run");
            destroy(&name);
        }
        // Node directories are named `rctdb-it-<pid>-...` the same way.
        if let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) {
            for entry in dir.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(rest) = name.strip_prefix("rctdb-it-") {
                    if is_stale(&format!("{PREFIX}-{rest}")) {
                        let _ = std::fs::remove_dir_all(entry.path());
                    }
                }
            }
        }
    });
}

fn stale_namespaces() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/run/netns") else { return Vec::new() };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_stale(&name) {
            out.push(name);
        }
    }
    out.sort();
    out
}

/// True if `name` is one of ours and the process that made it is gone.
pub fn is_stale(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX).and_then(|r| r.strip_prefix('-')) else { return false };
    let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { return false };
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Run `f` on a thread that has entered namespace `ns`. Sockets created in
/// `f` belong to `ns` for their whole life, so they can be returned and
/// used from any thread.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    let path = Path::new("/run/netns").join(ns);
    let file = File::open(&path)?;
    thread::spawn(move || -> io::Result<T> {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        Ok(f())
    })
    .join()
    .map_err(|_| io::Error::other("in_netns: thread panicked"))?
}

/// Open a TCP connection to `dest` from inside namespace `ns` (so its source
/// address is that namespace's address).
pub fn tcp_connect(ns: &str, dest: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    in_netns(ns, move || TcpStream::connect_timeout(&dest, timeout))?
}

/// Read from `stream` until the peer closes it (EOF or reset), discarding
/// anything it sends. `Err` describes what happened if it is still open
/// after `timeout`.
pub fn expect_closed(stream: &mut impl TimedRead, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    let mut received = 0usize;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(format!("connection still open after {timeout:?} ({received} bytes received from the peer)"));
        }
        stream.read_timeout(Some(deadline - now)).map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => received += n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted) => {
                return Ok(());
            }
            Err(e) => return Err(format!("unexpected read error: {e}")),
        }
    }
}

/// A stream with a read timeout: TCP and unix sockets.
pub trait TimedRead: Read {
    fn read_timeout(&mut self, t: Option<Duration>) -> io::Result<()>;
}

impl TimedRead for TcpStream {
    fn read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(t)
    }
}

impl TimedRead for std::os::unix::net::UnixStream {
    fn read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(t)
    }
}

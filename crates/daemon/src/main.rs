//! rctdbd: the rctdb main daemon.
//!
//! Start-up order: read and validate every configuration file (errors name
//! file and line and exit non-zero before anything is touched), set up
//! logging, bind the node-transport listener and the control socket (bind
//! errors also reach the terminal), then detach unless `--interactive`,
//! write the pid file and run the event loop.
#![forbid(unsafe_code)]

mod events;
mod liveness;
mod monitor;
mod net;
mod nodes;
mod publicips;
mod server;
mod supervisor;
mod tickles;

use log::{error, info, warn};
use rctdb_config::{Conf, LogLocation, Nodes, Paths, Tunables};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "Usage: rctdbd [-i|--interactive]\n\
\n\
Runs the rctdb main daemon. Configuration is read from $RCTDB_BASE (default\n\
/etc/rctdb); the control socket and pid file go to $RCTDB_RUNDIR (default\n\
/run/rctdb); state to $RCTDB_VARDIR (default /var/lib/rctdb).\n\
\n\
  -i, --interactive   stay in the foreground and log to stderr\n\
  -h, --help          show this help\n\
  -V, --version       show the version\n";

fn main() -> ExitCode {
    let mut interactive = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-i" | "--interactive" => interactive = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "-V" | "--version" => {
                println!("rctdbd version {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("rctdbd: unknown argument '{other}'\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    match start(interactive) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            // Before logging is up (or before detaching) the terminal is
            // the only place an operator sees this.
            eprintln!("rctdbd: {msg}");
            if log::max_level() != log::LevelFilter::Off {
                error!("{msg}");
            }
            ExitCode::FAILURE
        }
    }
}

fn start(interactive: bool) -> Result<(), String> {
    let paths = Paths::from_env();
    let (conf, warnings) = Conf::load(&paths.conf_file()).map_err(|e| e.to_string())?;
    let nodes = Nodes::load(&paths.nodes_file()).map_err(|e| e.to_string())?;
    let public_addresses =
        rctdb_config::PublicAddresses::load(&paths.public_addresses_file()).map_err(|e| e.to_string())?;
    check_interfaces(&public_addresses)?;
    let tunables = Tunables::load(&paths.tunables_file())
        .map_err(|errs| errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))?;

    let log_file = match (&conf.logging.location, interactive) {
        (_, true) | (LogLocation::Stderr, _) => None,
        (LogLocation::File(p), false) => Some(p.clone()),
        (LogLocation::Syslog, false) => {
            return Err(format!(
                "{}: [logging] location = syslog is not supported; use file:PATH",
                paths.conf_file().display()
            ));
        }
    };
    rctdb_logging::init("rctdbd", log_file.as_deref(), conf.logging.level)
        .map_err(|e| format!("cannot start logging: {e}"))?;
    for w in &warnings {
        warn!("{w}");
    }

    let port = conf.cluster.transport_port;
    let (own_pnn, own_addr, tcp_listener) = match conf.cluster.node_address {
        Some(addr) => {
            let pnn = nodes.pnn_of(addr).ok_or_else(|| {
                format!(
                    "{}: [cluster] node address {addr} is not in {}",
                    paths.conf_file().display(),
                    paths.nodes_file().display()
                )
            })?;
            let l = net::listen(addr, port).map_err(|e| format!("Failed to bind to {addr}:{port}: {e}"))?;
            (pnn, addr, l)
        }
        None => net::auto_bind(&nodes, port)?,
    };
    let unix_listener = bind_control_socket(&paths.socket())?;
    let (signals_rx, signals_tx) = UnixStream::pair().map_err(|e| format!("signal pipe: {e}"))?;
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let tx = signals_tx.try_clone().map_err(|e| format!("signal pipe: {e}"))?;
        signal_hook::low_level::pipe::register(sig, tx).map_err(|e| format!("signal handler: {e}"))?;
    }
    let (sigchld_rx, sigchld_tx) = UnixStream::pair().map_err(|e| format!("signal pipe: {e}"))?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGCHLD, sigchld_tx)
        .map_err(|e| format!("signal handler: {e}"))?;
    // A client that goes away mid-reply must not kill us.
    let _ = signal_hook::flag::register(signal_hook::consts::SIGPIPE, std::sync::Arc::default());

    if !interactive {
        nix::unistd::daemon(false, false).map_err(|e| format!("cannot detach: {e}"))?;
    }
    // Orphans of event scripts are re-parented to us and reaped.
    rctdb_sys::set_child_subreaper().map_err(|e| format!("cannot become a child subreaper: {e}"))?;
    let pid_file = paths.pid_file();
    std::fs::write(&pid_file, format!("{}\n", std::process::id()))
        .map_err(|e| format!("{}: cannot write pid file: {e}", pid_file.display()))?;

    let socket_path = paths.socket();
    let script_env = script_env(&paths, &conf, interactive);
    let script_log_level = rctdb_logging::to_level(conf.legacy.script_log_level);
    let setup = server::Setup {
        paths,
        nodes,
        tunables,
        own_pnn,
        own_addr,
        port,
        tcp_listener,
        unix_listener,
        signals: signals_rx,
        sigchld: sigchld_rx,
        script_env: script_env.clone(),
        script_log_level,
        cluster_lock: conf.cluster.cluster_lock.as_ref().map(|l| l.to_string()),
        leader_timeout: conf.cluster.leader_timeout,
        lease_time: conf.failover.lease_time,
        public_addresses,
        recoverd: recoverd_program().map(|p| {
            // The recovery daemon logs where we do.
            let location = match &log_file {
                Some(f) => format!("file:{}", f.display()),
                None => "file:".to_string(),
            };
            let mut env = script_env;
            env.push(("RCTDB_LOG_LOCATION".to_string(), location));
            (p, env)
        }),
    };
    let result = server::Daemon::new(setup).and_then(|mut d| d.run());
    let _ = std::fs::remove_file(&socket_path);
    let _ = std::fs::remove_file(&pid_file);
    let clean = result.map_err(|e| format!("event loop failed: {e}"))?;
    if !clean {
        return Err("exiting after a failed start-up event".into());
    }
    info!("rctdbd exiting");
    Ok(())
}

/// Every interface named in `public_addresses` must exist on this host.
fn check_interfaces(cfg: &rctdb_config::PublicAddresses) -> Result<(), String> {
    for a in &cfg.addrs {
        for i in &a.ifaces {
            if !Path::new("/sys/class/net").join(i).exists() {
                return Err(format!(
                    "{}:{}: interface {i} of public address {} does not exist",
                    cfg.file.display(),
                    a.line,
                    a.net
                ));
            }
        }
    }
    Ok(())
}

/// The recovery daemon binary: `$RCTDB_RECOVERD`, else `rctdb-recoverd`
/// next to rctdbd.
/// `RCTDB_RECOVERD=none` runs without one (no leader, no recovery: the
/// node recovers itself once at start), for testing rctdbd alone.
fn recoverd_program() -> Option<std::path::PathBuf> {
    match std::env::var_os("RCTDB_RECOVERD") {
        Some(p) if p == "none" => None,
        Some(p) => Some(p.into()),
        None => {
            let next_to_us = std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("rctdb-recoverd")));
            match next_to_us {
                Some(p) if p.exists() => Some(p),
                _ => {
                    warn!("No rctdb-recoverd next to rctdbd: running without a recovery daemon");
                    None
                }
            }
        }
    }
}

/// What event scripts find in their environment, so that scripts written
/// for CTDB run unchanged: `CTDB_BASE`, `CTDB` (the admin tool),
/// `CTDB_SCRIPT_VARDIR`, `CTDB_DEBUGLEVEL`, `CTDB_LOGGING`,
/// `CTDB_INTERACTIVE`, and the socket of this daemon so that `rctdb`
/// called from a script talks to it.
fn script_env(paths: &Paths, conf: &Conf, interactive: bool) -> Vec<(String, String)> {
    let s = |p: &Path| p.display().to_string();
    let bindir = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf));
    let tool = bindir.as_ref().map(|d| d.join("rctdb")).unwrap_or_else(|| "rctdb".into());
    let mut env = vec![
        ("CTDB_BASE".to_string(), s(&paths.base)),
        ("RCTDB_BASE".to_string(), s(&paths.base)),
        ("RCTDB_RUNDIR".to_string(), s(&paths.rundir)),
        ("RCTDB_VARDIR".to_string(), s(&paths.vardir)),
        ("CTDB_VARDIR".to_string(), s(&paths.vardir)),
        ("CTDB_SCRIPT_VARDIR".to_string(), s(&paths.vardir.join("scripts"))),
        ("RCTDB_SOCKET".to_string(), s(&paths.socket())),
        ("CTDB_SOCKET".to_string(), s(&paths.socket())),
        ("CTDB".to_string(), s(&tool)),
        ("CTDB_DEBUGLEVEL".to_string(), conf.logging.level.name().to_string()),
        ("CTDB_LOGGING".to_string(), conf.logging.location.to_string()),
    ];
    if interactive {
        env.push(("CTDB_INTERACTIVE".to_string(), "true".to_string()));
    }
    if let Some(dir) = bindir {
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
        env.push(("PATH".to_string(), format!("{}:{path}", dir.display())));
    }
    env
}

/// Bind the control socket, owner-only. A stale socket file is replaced,
/// but not one a running daemon still answers on.
fn bind_control_socket(path: &Path) -> Result<UnixListener, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(format!("{}: another rctdbd is already running on this socket", path.display()));
        }
        std::fs::remove_file(path).map_err(|e| format!("{}: cannot remove stale socket: {e}", path.display()))?;
    }
    // No window in which the socket is reachable by others.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let l = bound.map_err(|e| format!("{}: cannot bind control socket: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: cannot set mode 0600: {e}", path.display()))?;
    Ok(l)
}

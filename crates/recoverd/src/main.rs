//! rctdb-recoverd: the recovery daemon.
//!
//! Started and supervised by rctdbd; talks to it only through the client
//! library on the control socket (controls for other nodes travel through
//! rctdbd). It runs cluster policy: leader election and the cluster lock
//! (through a helper process), recovery when membership changes, and
//! banning of misbehaving nodes.
//!
//! One `mio::Poll`, one thread. Sources: the control socket (leader
//! broadcasts and election bids), stdin (a pipe from rctdbd: EOF means
//! rctdbd is gone and we exit), the lock helper's stdout, and signals.
//! Controls are synchronous with bounded timeouts.
#![forbid(unsafe_code)]

mod leader;
mod lock;
mod policy;
#[cfg(test)]
mod sim;

use leader::{Action, Bid, Leadership, LockOutcome};
use lock::{LockEvent, LockHelper};
use log::{debug, error, info, warn};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use policy::{Credits, NodeView};
use rctdb_client::{Client, ClientError};
use rctdb_config::{ClusterLock, Conf, Paths, Tunable, Tunables};
use rctdb_protocol::{srvid, Event, Generation, Pnn, RecMode};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CLIENT: Token = Token(0);
const PARENT: Token = Token(1);
const LOCK: Token = Token(2);
const SIGNALS: Token = Token(3);
const CHILD: Token = Token(4);

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(msg) => {
            error!("{msg}");
            eprintln!("rctdb-recoverd: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// How we got here and where to log, from rctdbd's environment.
fn setup_logging(conf: &Conf) -> Result<(), String> {
    let location = std::env::var("RCTDB_LOG_LOCATION").unwrap_or_else(|_| conf.logging.location.to_string());
    let file = location.strip_prefix("file:").filter(|p| !p.is_empty()).map(std::path::PathBuf::from);
    rctdb_logging::init("recoverd", file.as_deref(), conf.logging.level).map_err(|e| format!("cannot log: {e}"))
}

fn run() -> Result<ExitCode, String> {
    let _ = rctdb_sys::set_parent_death_signal(nix::sys::signal::Signal::SIGTERM as i32);
    let parent = rctdb_sys::parent_pid();
    let paths = Paths::from_env();
    let (conf, _) = Conf::load(&paths.conf_file()).map_err(|e| e.to_string())?;
    setup_logging(&conf)?;
    if parent == 1 {
        return Err("recovery daemon parent died - exiting".into());
    }
    let socket = paths.socket();
    let mut client = connect(&socket)?;
    let own = client.pnn(Pnn::CURRENT).map_err(|e| format!("cannot get our PNN: {e}"))?;
    client.register_srvid(Pnn::CURRENT, srvid::LEADER).map_err(|e| e.to_string())?;
    client.register_srvid(Pnn::CURRENT, srvid::ELECTION).map_err(|e| e.to_string())?;
    let lock_argv = conf.cluster.cluster_lock.as_ref().map(helper_argv);
    match &conf.cluster.cluster_lock {
        Some(l) => info!("Cluster lock is {l}"),
        None => warn!("Cluster lock not set: leader chosen by message election, no split-brain protection"),
    }
    let mut r = Recoverd::new(client, own, &conf, lock_argv)?;
    info!("Recovery daemon started (PNN {own})");
    r.run()
}

fn connect(socket: &std::path::Path) -> Result<Client, String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match Client::connect(socket) {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() >= deadline => return Err(e.to_string()),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The helper command line for the configured lock: a file gets the
/// default helper next to us, `!prog args` runs that.
fn helper_argv(lock: &ClusterLock) -> Vec<String> {
    match lock {
        ClusterLock::Helper { argv } => argv.clone(),
        ClusterLock::File(path) => {
            let helper = std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("rctdb-lock-helper")))
                .unwrap_or_else(|| "rctdb-lock-helper".into());
            vec![helper.display().to_string(), path.display().to_string()]
        }
    }
}

struct Recoverd {
    poll: Poll,
    client: Client,
    own: Pnn,
    leadership: Leadership,
    lock: Option<LockHelper>,
    leader_capability: bool,
    leader_timeout: Duration,
    tunables: Tunables,
    credits: Credits,
    next_pass: Instant,
    /// Set when we become leader or a recovery fails.
    new_leader: bool,
    recovery_failed: bool,
    retry_recovery_at: Option<Instant>,
    /// SIGTERM/SIGINT self-pipe.
    signals: std::os::unix::net::UnixStream,
    /// SIGCHLD self-pipe.
    children: std::os::unix::net::UnixStream,
}

impl Recoverd {
    fn new(client: Client, own: Pnn, conf: &Conf, lock_argv: Option<Vec<String>>) -> Result<Recoverd, String> {
        let poll = Poll::new().map_err(|e| e.to_string())?;
        let reg = poll.registry();
        reg.register(&mut SourceFd(&client.fd().as_raw_fd()), CLIENT, Interest::READABLE).map_err(|e| e.to_string())?;
        reg.register(&mut SourceFd(&std::io::stdin().as_raw_fd()), PARENT, Interest::READABLE)
            .map_err(|e| e.to_string())?;
        let signals = signal_pipe(&[signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])?;
        reg.register(&mut SourceFd(&signals.as_raw_fd()), SIGNALS, Interest::READABLE).map_err(|e| e.to_string())?;
        let children = signal_pipe(&[signal_hook::consts::SIGCHLD])?;
        reg.register(&mut SourceFd(&children.as_raw_fd()), CHILD, Interest::READABLE).map_err(|e| e.to_string())?;
        let now = Instant::now();
        let leader_timeout = conf.cluster.leader_timeout;
        let tunables = Tunables::defaults();
        let election_timeout = tunables.duration(Tunable::ElectionTimeout);
        // A fresh daemon listens briefly for a leader before it races.
        let first_wait = (leader_timeout / 5).min(Duration::from_millis(500));
        let leadership =
            Leadership::new(own, lock_argv.is_some(), leader_timeout, election_timeout, now, first_wait, now_us());
        // A helper must answer within the leader timeout (at least 0.5 s):
        // an election that cannot get an answer by then is retried.
        let lock = lock_argv.map(|argv| LockHelper::new(argv, LOCK, leader_timeout.max(Duration::from_millis(500))));
        Ok(Recoverd {
            poll,
            client,
            own,
            leadership,
            lock,
            leader_capability: conf.cluster.leader_capability,
            leader_timeout,
            tunables,
            credits: Credits::default(),
            next_pass: now,
            new_leader: false,
            recovery_failed: false,
            retry_recovery_at: None,
            signals,
            children,
        })
    }

    fn run(&mut self) -> Result<ExitCode, String> {
        let mut events = Events::with_capacity(16);
        loop {
            let mut deadline = self.next_pass.min(self.leadership.poll_timeout());
            if let Some(t) = self.lock.as_ref().and_then(|l| l.poll_timeout()) {
                deadline = deadline.min(t);
            }
            let timeout = deadline.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("poll: {e}"));
            }
            for ev in events.iter() {
                match ev.token() {
                    CLIENT => {
                        if let Some(code) = self.on_messages() {
                            return Ok(code);
                        }
                    }
                    PARENT => {
                        let mut b = [0u8; 64];
                        if matches!(std::io::stdin().read(&mut b), Ok(0) | Err(_)) {
                            error!("recovery daemon parent died - exiting");
                            self.release_lock();
                            return Ok(ExitCode::FAILURE);
                        }
                    }
                    LOCK => {
                        let e = self.lock.as_mut().and_then(|l| l.on_readable(self.poll.registry()));
                        self.on_lock_event(e);
                    }
                    SIGNALS => {
                        drain(&mut self.signals);
                        info!("Received SIGTERM: releasing the cluster lock and exiting");
                        self.release_lock();
                        return Ok(ExitCode::SUCCESS);
                    }
                    CHILD => {
                        drain(&mut self.children);
                        self.reap();
                    }
                    _ => {}
                }
            }
            let now = Instant::now();
            let e = self.lock.as_mut().and_then(|l| l.on_timeout(self.poll.registry(), now));
            self.on_lock_event(e);
            let actions = self.leadership.handle_timeout(now);
            self.apply(actions)?;
            if now >= self.next_pass {
                self.main_pass()?;
                let interval = self.tunables.duration(Tunable::RecoverInterval).max(Duration::from_millis(10));
                self.next_pass = Instant::now() + interval;
            }
        }
    }

    fn release_lock(&mut self) {
        if let Some(l) = self.lock.as_mut() {
            l.release(self.poll.registry());
        }
    }

    fn reap(&mut self) {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        loop {
            let pid = match waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, _)) | Ok(WaitStatus::Signaled(pid, _, _)) => pid.as_raw(),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            let e = match self.lock.as_mut() {
                Some(l) => l.reaped(self.poll.registry(), pid).1,
                None => None,
            };
            self.on_lock_event(e);
        }
    }

    fn on_lock_event(&mut self, e: Option<LockEvent>) {
        let now = Instant::now();
        let actions = match e {
            None => return,
            Some(LockEvent::Answer(o)) => {
                match o {
                    LockOutcome::Held => info!("Cluster lock taken successfully"),
                    LockOutcome::Contended => debug!("Cluster lock is held by another node"),
                    LockOutcome::Timeout => error!("Timed out taking the cluster lock"),
                    LockOutcome::Error => error!("Failed to take the cluster lock"),
                }
                self.leadership.on_lock(now, o)
            }
            Some(LockEvent::Lost) => self.leadership.on_lock_lost(now),
        };
        if let Err(e) = self.apply(actions) {
            error!("{e}");
        }
    }

    /// Leader broadcasts and election bids from the control socket.
    fn on_messages(&mut self) -> Option<ExitCode> {
        let msgs = match self.client.poll_messages() {
            Ok(m) => m,
            Err(ClientError::Closed) => {
                error!("rctdbd closed the control connection - exiting");
                self.release_lock();
                return Some(ExitCode::FAILURE);
            }
            Err(e) => {
                warn!("control socket: {e}");
                return None;
            }
        };
        let now = Instant::now();
        for m in msgs {
            let actions = match m.srvid {
                srvid::LEADER => match <[u8; 4]>::try_from(m.data.as_slice()) {
                    Ok(b) => {
                        let p = Pnn(u32::from_le_bytes(b));
                        if p != self.leadership.leader() && p.is_node() && p != self.own {
                            info!("Received leader broadcast, leader={p}");
                        }
                        self.leadership.on_leader_broadcast(now, p)
                    }
                    Err(_) => continue,
                },
                srvid::ELECTION => match Bid::decode(&m.data) {
                    Some(b) => self.leadership.on_bid(now, b),
                    None => continue,
                },
                _ => continue,
            };
            if let Err(e) = self.apply(actions) {
                error!("{e}");
                return Some(ExitCode::FAILURE);
            }
        }
        None
    }

    fn apply(&mut self, actions: Vec<Action>) -> Result<(), String> {
        for a in actions {
            match a {
                Action::BroadcastLeader(p) => self.broadcast(srvid::LEADER, p.0.to_le_bytes().to_vec())?,
                Action::BroadcastBid(b) => self
                    .client
                    .send_message(Pnn::BROADCAST_ALL, srvid::ELECTION, b.encode())
                    .map_err(|e| e.to_string())?,
                Action::TakeLock => {
                    let now = Instant::now();
                    let started = match self.lock.as_mut() {
                        Some(l) => l.start(self.poll.registry(), now),
                        None => Ok(false),
                    };
                    match started {
                        Ok(true) => {}
                        Ok(false) => {
                            let more = self.leadership.on_lock(now, LockOutcome::Error);
                            self.apply(more)?;
                        }
                        Err(e) => {
                            error!("Cannot start the cluster lock helper: {e}");
                            let more = self.leadership.on_lock(now, LockOutcome::Error);
                            self.apply(more)?;
                        }
                    }
                }
                Action::ReleaseLock => self.release_lock(),
                Action::BecameLeader => {
                    info!("This node (PNN {}) is now the leader", self.own);
                    self.new_leader = true;
                    self.next_pass = Instant::now();
                }
                Action::LostLeadership => warn!("This node is no longer the leader"),
            }
        }
        Ok(())
    }

    fn broadcast(&mut self, id: u64, data: Vec<u8>) -> Result<(), String> {
        match self.client.send_message(Pnn::BROADCAST_CONNECTED, id, data) {
            Ok(()) => Ok(()),
            Err(ClientError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(format!("cannot broadcast: {e}")),
        }
    }

    /// One pass of the main loop (reference §7.1).
    fn main_pass(&mut self) -> Result<(), String> {
        let now = Instant::now();
        // Is our rctdbd alive and answering? A frozen daemon must not keep
        // a leader: give the lock up so that someone else can lead.
        let ping = (self.leader_timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(2));
        self.client.set_timeout(ping);
        let nodemap = match self.client.nodemap(Pnn::CURRENT) {
            Ok(m) => m,
            Err(ClientError::Timeout { .. }) => {
                if self.leadership.holds_lock() || self.leadership.is_leader() {
                    error!("rctdbd does not answer within {ping:?}: giving up leadership and the cluster lock");
                } else {
                    warn!("rctdbd does not answer within {ping:?}");
                }
                let a = self.leadership.on_daemon(now, false);
                return self.apply(a);
            }
            Err(ClientError::Closed) => return Err("rctdbd went away - exiting".into()),
            Err(e) => return Err(format!("cannot read the node map: {e}")),
        };
        let a = self.leadership.on_daemon(now, true);
        self.apply(a)?;
        self.refresh_tunables();
        let own_flags = nodemap.get(self.own).map(|n| n.flags).unwrap_or_default();
        let eligible = self.leader_capability && !own_flags.is_inactive();
        let a = self.leadership.set_eligible(now_us(), eligible);
        self.apply(a)?;
        if !self.leadership.is_leader() || self.leadership.election_in_progress() {
            return Ok(());
        }
        self.leader_pass(&nodemap)
    }

    fn refresh_tunables(&mut self) {
        if let Ok(list) = self.client.tunables(Pnn::CURRENT) {
            for (name, raw) in list {
                if let Some(t) = Tunable::from_name(&name) {
                    self.tunables.set_raw(t, raw);
                }
            }
            let election = self.tunables.duration(Tunable::ElectionTimeout);
            self.leadership.set_timeouts(self.leader_timeout, election);
        }
    }

    fn leader_pass(&mut self, nodemap: &rctdb_protocol::NodeMap) -> Result<(), String> {
        let now = Instant::now();
        let recover_timeout = self.tunables.duration(Tunable::RecoverTimeout);
        self.client.set_timeout(recover_timeout);
        // Ban nodes that earned it.
        let present = nodemap.present().count();
        for (pnn, credits) in self.credits.take_bannable(present) {
            let period = self.tunables.duration(Tunable::RecoveryBanPeriod).as_secs().max(1) as u32;
            warn!("Node {pnn} reached {credits} banning credits: banning it for {period} seconds");
            if let Err(e) = self.client.set_ban(pnn, period) {
                error!("Failed to ban node {pnn}: {e}");
            }
        }
        let active = policy::active_nodes(nodemap);
        let own_vnn = self.client.vnnmap(Pnn::CURRENT).map_err(|e| format!("cannot read our VNN map: {e}"))?;
        let mut views = Vec::new();
        for &p in &active {
            let view = self
                .client
                .recmode(p)
                .and_then(|recmode| Ok(NodeView { pnn: p, recmode, vnnmap: self.client.vnnmap(p)? }));
            match view {
                Ok(v) => views.push(v),
                Err(e) => {
                    warn!("Cannot read the state of node {p}: {e}");
                    self.credits.blame(p, 1, now, self.tunables.duration(Tunable::RecoveryGracePeriod));
                    return Ok(());
                }
            }
        }
        if self.retry_recovery_at.is_some_and(|t| now < t) {
            return Ok(());
        }
        let Some(reason) = policy::recovery_reason(&own_vnn, &active, &views, self.new_leader, self.recovery_failed)
        else {
            return Ok(());
        };
        info!("Recovery initiated: {reason}");
        self.recover(&active, own_vnn.generation)
    }

    /// Run a recovery over the active nodes (reference §7.4, without
    /// databases). Any failure blames the node and fails the recovery; it
    /// is retried after `RerecoveryTimeout`.
    fn recover(&mut self, active: &[Pnn], current: Generation) -> Result<(), String> {
        let started = Instant::now();
        let generation = policy::next_generation(current, now_us());
        let result = self.recovery_steps(active, generation);
        let now = Instant::now();
        match result {
            Ok(()) => {
                info!(
                    "Recovery complete: generation {} with nodes {:?} in {:?}",
                    generation.0,
                    active,
                    started.elapsed()
                );
                self.credits.forgive_all();
                self.new_leader = false;
                self.recovery_failed = false;
                self.retry_recovery_at = None;
            }
            Err((culprit, msg)) => {
                error!("Recovery failed: {msg}");
                if let Some(p) = culprit {
                    self.credits.blame(p, 1, now, self.tunables.duration(Tunable::RecoveryGracePeriod));
                }
                self.recovery_failed = true;
                self.retry_recovery_at = Some(now + self.tunables.duration(Tunable::RerecoveryTimeout));
            }
        }
        Ok(())
    }

    fn recovery_steps(&mut self, active: &[Pnn], generation: Generation) -> Result<(), (Option<Pnn>, String)> {
        let leader = self.own.0.to_le_bytes().to_vec();
        let map = rctdb_protocol::VnnMap { generation, map: active.to_vec() };
        let timeout_ms = self.tunables.duration(Tunable::EventScriptTimeout).as_millis() as u64;
        for &p in active {
            self.client
                .set_recmode(p, RecMode::Active)
                .map_err(|e| (Some(p), format!("node {p}: set recovery mode: {e}")))?;
        }
        // Keep the leader broadcasts going between the (bounded) steps.
        let _ = self.broadcast(srvid::LEADER, leader.clone());
        for &p in active {
            self.event_on(p, Event::StartRecovery, timeout_ms)?;
        }
        let _ = self.broadcast(srvid::LEADER, leader.clone());
        for &p in active {
            self.client.set_vnnmap(p, map.clone()).map_err(|e| (Some(p), format!("node {p}: set VNN map: {e}")))?;
        }
        for &p in active {
            self.client
                .set_recmode(p, RecMode::Normal)
                .map_err(|e| (Some(p), format!("node {p}: set recovery mode: {e}")))?;
        }
        let _ = self.broadcast(srvid::LEADER, leader);
        for &p in active {
            self.event_on(p, Event::Recovered, timeout_ms)?;
        }
        Ok(())
    }

    /// Run an event on a node; a failed or timed-out script is a failure
    /// of that node (rctdb never counts a timeout as success).
    fn event_on(&mut self, p: Pnn, event: Event, timeout_ms: u64) -> Result<(), (Option<Pnn>, String)> {
        let run = self
            .client
            .run_event(p, event, vec![], Some(timeout_ms))
            .map_err(|e| (Some(p), format!("node {p}: {event} event: {e}")))?;
        match run.failure() {
            None => Ok(()),
            Some(s) => Err((Some(p), format!("node {p}: {event} event: script {} {}", s.name, s.status.word()))),
        }
    }
}

/// A self-pipe that becomes readable when one of `signals` arrives.
fn signal_pipe(signals: &[i32]) -> Result<std::os::unix::net::UnixStream, String> {
    let (rx, tx) = std::os::unix::net::UnixStream::pair().map_err(|e| e.to_string())?;
    for &sig in signals {
        let tx = tx.try_clone().map_err(|e| e.to_string())?;
        signal_hook::low_level::pipe::register(sig, tx).map_err(|e| e.to_string())?;
    }
    rx.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(rx)
}

fn drain(s: &mut std::os::unix::net::UnixStream) {
    let mut b = [0u8; 64];
    while matches!(s.read(&mut b), Ok(n) if n > 0) {}
}

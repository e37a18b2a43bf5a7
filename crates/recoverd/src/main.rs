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

mod disable;
mod fence;
mod leader;
mod lock;
mod policy;
#[cfg(test)]
mod sim;
mod takeover;

use leader::{Action, Bid, Leadership, LockOutcome};
use lock::{LockEvent, LockHelper};
use log::{debug, error, info, warn};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use policy::{Credits, NodeView};
use rctdb_client::{Client, ClientError};
use rctdb_config::{ClusterLock, Conf, Paths, Tunable, Tunables};
use rctdb_protocol::{srvid, Event, Generation, NodeFlags, Pnn, RecMode};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CLIENT: Token = Token(0);
const PARENT: Token = Token(1);
const LOCK: Token = Token(2);
const SIGNALS: Token = Token(3);
const CHILD: Token = Token(4);
/// Fence programs' output pipes get tokens from here on.
const FIRST_FENCE: usize = 100;

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
    client.register_srvid(Pnn::CURRENT, srvid::NODE_MAP_CHANGED).map_err(|e| e.to_string())?;
    client.register_srvid(Pnn::CURRENT, srvid::TAKEOVER_RUN).map_err(|e| e.to_string())?;
    client.register_srvid(Pnn::CURRENT, srvid::FENCED).map_err(|e| e.to_string())?;
    client.register_srvid(Pnn::CURRENT, srvid::DISABLE_TAKEOVER_RUNS).map_err(|e| e.to_string())?;
    let lock_argv = conf.cluster.cluster_lock.as_ref().map(helper_argv);
    match &conf.cluster.cluster_lock {
        Some(l) => info!("Cluster lock is {l}"),
        None => warn!("Cluster lock not set: leader chosen by message election, no split-brain protection"),
    }
    let mut r = Recoverd::new(client, own, &conf, lock_argv, parent)?;
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
    /// rctdbd's pid when we started.
    parent: i32,
    /// A takeover run is wanted (after recovery, on request, after a
    /// failed run).
    need_takeover: bool,
    /// Who asked for the pending takeover run and wants an answer.
    takeover_waiters: Vec<(Pnn, u64)>,
    /// DISABLE_TAKEOVER_RUNS (reference §7.6).
    takeover_runs: disable::TakeoverRunsSwitch,
    /// Between "Takeover run starting" and its end: disabling is refused.
    run_in_progress: bool,
    /// SIGTERM/SIGINT self-pipe.
    signals: std::os::unix::net::UnixStream,
    /// SIGCHLD self-pipe.
    children: std::os::unix::net::UnixStream,
    fencer: fence::Fencer,
    lease_time: Duration,
    /// When we last became leader.
    leader_since: Instant,
    /// The last leader other than us that we heard of.
    last_leader: Pnn,
    /// Since when no leader is known.
    no_leader_since: Option<Instant>,
    /// The lock was held by someone else at our last try.
    lock_contended_at: Option<Instant>,
    /// What we last told rctdbd about being stuck.
    stuck: Option<String>,
    /// Nodes whose held-back addresses we logged, and whether the last
    /// list we broadcast was empty.
    hold_logged: std::collections::BTreeSet<Pnn>,
    held_back_sent: bool,
    /// Since when our rctdbd has not answered.
    daemon_silent_since: Option<Instant>,
    dropped_for_silence: bool,
    /// Run the next pass no later than this (a hold-back ends, a fence
    /// is due again).
    wake_at: Option<Instant>,
}

impl Recoverd {
    fn new(
        client: Client,
        own: Pnn,
        conf: &Conf,
        lock_argv: Option<Vec<String>>,
        parent: i32,
    ) -> Result<Recoverd, String> {
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
            need_takeover: false,
            parent,
            takeover_waiters: Vec::new(),
            takeover_runs: disable::TakeoverRunsSwitch::default(),
            run_in_progress: false,
            signals,
            children,
            fencer: fence::Fencer::new(conf.failover.fence_command.clone(), conf.failover.fence_timeout, FIRST_FENCE),
            lease_time: conf.failover.lease_time,
            leader_since: now,
            last_leader: Pnn::UNKNOWN,
            no_leader_since: None,
            lock_contended_at: None,
            stuck: None,
            hold_logged: std::collections::BTreeSet::new(),
            held_back_sent: false,
            daemon_silent_since: None,
            dropped_for_silence: false,
            wake_at: None,
        })
    }

    fn run(&mut self) -> Result<ExitCode, String> {
        let mut events = Events::with_capacity(16);
        loop {
            let mut deadline = self.next_pass.min(self.leadership.poll_timeout());
            if let Some(t) = self.lock.as_ref().and_then(|l| l.poll_timeout()) {
                deadline = deadline.min(t);
            }
            if let Some(t) = self.fencer.poll_timeout() {
                deadline = deadline.min(t);
            }
            if let Some(t) = self.takeover_runs.poll_timeout() {
                deadline = deadline.min(t);
            }
            // Messages read while waiting for control replies do not make
            // the socket readable again.
            let queued = self.client.has_messages();
            let timeout = if queued { Duration::ZERO } else { deadline.saturating_duration_since(Instant::now()) };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("poll: {e}"));
            }
            // A stop request first: if rctdbd stopped us and then exited,
            // both are ready, and it is a clean stop, not a death.
            let mut ready: Vec<Token> = events.iter().map(|e| e.token()).collect();
            if queued && !ready.contains(&CLIENT) {
                ready.push(CLIENT);
            }
            ready.sort_by_key(|t| if *t == SIGNALS { 0 } else { 1 });
            for token in ready {
                match token {
                    CLIENT => {
                        if let Some(code) = self.on_messages() {
                            return Ok(code);
                        }
                    }
                    PARENT => {
                        let mut b = [0u8; 64];
                        if matches!(std::io::stdin().read(&mut b), Ok(0) | Err(_)) {
                            error!("recovery daemon parent died - exiting");
                            self.daemon_gone();
                            return Ok(ExitCode::FAILURE);
                        }
                    }
                    LOCK => {
                        let e = self.lock.as_mut().and_then(|l| l.on_readable(self.poll.registry()));
                        self.on_lock_event(e);
                    }
                    SIGNALS => {
                        drain(&mut self.signals);
                        self.release_lock();
                        if rctdb_sys::parent_pid() != self.parent {
                            // PR_SET_PDEATHSIG: rctdbd died under us.
                            error!("recovery daemon parent died - exiting");
                            self.daemon_gone();
                            return Ok(ExitCode::FAILURE);
                        }
                        info!("Received SIGTERM: released the cluster lock, exiting");
                        return Ok(ExitCode::SUCCESS);
                    }
                    CHILD => {
                        drain(&mut self.children);
                        self.reap();
                    }
                    t if self.fencer.owns_token(t) => self.fencer.on_readable(t),
                    _ => {}
                }
            }
            let now = Instant::now();
            self.fencer.on_timeout(now);
            if self.takeover_runs.handle_timeout(now) {
                info!("Reenabling takeover runs after timeout");
                self.next_pass = now;
            }
            let e = self.lock.as_mut().and_then(|l| l.on_timeout(self.poll.registry(), now));
            self.on_lock_event(e);
            let actions = self.leadership.handle_timeout(now);
            self.apply(actions)?;
            if now >= self.next_pass {
                let before = self.next_pass;
                self.main_pass()?;
                let interval = self.tunables.duration(Tunable::RecoverInterval).max(Duration::from_millis(10));
                let mut next = Instant::now() + interval;
                if let Some(w) = self.wake_at.take() {
                    next = next.min(w);
                }
                // The pass may have asked for an early next one.
                if self.next_pass != before {
                    next = next.min(self.next_pass);
                }
                self.next_pass = next;
            }
        }
    }

    /// rctdbd died (however we learnt it: stdin EOF, the control socket
    /// closing, PR_SET_PDEATHSIG): give up the lock, and remove this node's
    /// public addresses, which rctdbd can no longer release.
    fn daemon_gone(&mut self) {
        self.release_lock();
        self.fencer.kill_all();
        takeover::drop_public_addresses("rctdbd is gone");
    }

    fn release_lock(&mut self) {
        if let Some(l) = self.lock.as_mut() {
            l.release(self.poll.registry());
        }
    }

    fn reap(&mut self) {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        loop {
            let status = match waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(s @ WaitStatus::Exited(..)) | Ok(s @ WaitStatus::Signaled(..)) => s,
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            let Some(pid) = status.pid().map(|p| p.as_raw()) else { continue };
            if let Some((pnn, ok)) = self.fencer.reaped(self.poll.registry(), pid, &status, Instant::now()) {
                if ok {
                    let _ =
                        self.client.send_message(Pnn::BROADCAST_CONNECTED, srvid::FENCED, pnn.0.to_le_bytes().to_vec());
                }
                // Look again at once: the addresses may go now.
                self.next_pass = Instant::now();
                continue;
            }
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
                    LockOutcome::Contended => {
                        self.lock_contended_at = Some(now);
                        debug!("Cluster lock is held by another node")
                    }
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
            Err(e) if daemon_dead(&e) => {
                error!("rctdbd closed the control connection - exiting ({e})");
                self.daemon_gone();
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
                        if p.is_node() && p != self.own {
                            self.last_leader = p;
                        }
                        self.leadership.on_leader_broadcast(now, p)
                    }
                    Err(_) => continue,
                },
                srvid::ELECTION => match Bid::decode(&m.data) {
                    Some(b) => self.leadership.on_bid(now, b),
                    None => continue,
                },
                srvid::NODE_MAP_CHANGED => {
                    // Look again now rather than at the next pass; a node
                    // that is not the leader prompts the leader.
                    self.next_pass = now;
                    if !self.leadership.is_leader()
                        && self.leadership.leader().is_node()
                        && !self.takeover_runs.is_disabled(now)
                    {
                        let _ = self.request_takeover_run(0);
                    }
                    continue;
                }
                srvid::FENCED => {
                    if let Ok(b) = <[u8; 4]>::try_from(m.data.as_slice()) {
                        let p = Pnn(u32::from_le_bytes(b));
                        if p != self.own {
                            self.fencer.mark_fenced(p);
                            self.next_pass = now;
                        }
                    }
                    continue;
                }
                srvid::TAKEOVER_RUN => {
                    if self.leadership.is_leader() {
                        self.need_takeover = true;
                        self.next_pass = now;
                        if let Some((pnn, reply)) = takeover::decode_request(&m.data) {
                            if reply != 0 {
                                self.takeover_waiters.push((pnn, reply));
                            }
                        }
                    }
                    continue;
                }
                srvid::DISABLE_TAKEOVER_RUNS => {
                    self.on_disable_takeover_runs(&m.data);
                    continue;
                }
                _ => continue,
            };
            if let Err(e) = self.apply(actions) {
                error!("{e}");
                return Some(ExitCode::FAILURE);
            }
        }
        None
    }

    /// A DISABLE_TAKEOVER_RUNS message (reference §7.6): switch, log,
    /// answer the sender if it asked.
    fn on_disable_takeover_runs(&mut self, data: &[u8]) {
        let Some(req) = rctdb_protocol::DisableRequest::decode(data) else {
            warn!("Ignoring a malformed DISABLE_TAKEOVER_RUNS message ({} bytes)", data.len());
            return;
        };
        let now = Instant::now();
        let (outcome, answer) =
            self.takeover_runs.handle_request(now, req.timeout_secs, self.run_in_progress, self.own.0);
        match outcome {
            disable::Outcome::Disabled(n) => info!("Disabling takeover runs for {n} seconds"),
            disable::Outcome::Reenabled { was_disabled } => {
                if was_disabled {
                    info!("Reenabling takeover runs");
                }
                self.next_pass = now;
            }
            disable::Outcome::Busy => warn!("Unable to disable takeover runs: a takeover run is in progress"),
        }
        if req.srvid != 0 {
            if let Err(e) = self.client.send_message(req.pnn, req.srvid, answer.to_le_bytes().to_vec()) {
                warn!("Cannot answer DISABLE_TAKEOVER_RUNS from node {}: {e}", req.pnn);
            }
        }
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
                    self.leader_since = Instant::now();
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
            Err(e) => {
                // The only way a send to our own rctdbd fails is its death.
                self.daemon_gone();
                Err(format!("cannot broadcast: {e}"))
            }
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
                // A frozen rctdbd cannot honour its lease: drop the
                // addresses ourselves before the lease would run out.
                let since = *self.daemon_silent_since.get_or_insert(now);
                if !self.dropped_for_silence && now.duration_since(since) + ping >= self.lease_time / 2 {
                    self.dropped_for_silence = true;
                    takeover::drop_public_addresses("rctdbd is not answering");
                }
                if self.leadership.holds_lock() || self.leadership.is_leader() {
                    error!("rctdbd does not answer within {ping:?}: giving up leadership and the cluster lock");
                } else {
                    warn!("rctdbd does not answer within {ping:?}");
                }
                let a = self.leadership.on_daemon(now, false);
                return self.apply(a);
            }
            Err(e) if daemon_dead(&e) => {
                self.daemon_gone();
                return Err(format!("rctdbd went away - exiting ({e})"));
            }
            Err(e) => return Err(format!("cannot read the node map: {e}")),
        };
        self.daemon_silent_since = None;
        self.dropped_for_silence = false;
        let a = self.leadership.on_daemon(now, true);
        self.apply(a)?;
        self.refresh_tunables();
        let leader = self.leadership.leader();
        if leader.is_node() && leader != self.own {
            let gone =
                nodemap.get(leader).is_none_or(|n| n.flags.intersects(NodeFlags::DISCONNECTED | NodeFlags::DELETED));
            if gone {
                info!("Leader {leader} is disconnected: starting an election");
                let a = self.leadership.on_leader_disconnected(now);
                self.apply(a)?;
            }
        }
        self.check_stuck(&nodemap, now);
        let own_flags = nodemap.get(self.own).map(|n| n.flags).unwrap_or_default();
        let eligible = self.leader_capability && !own_flags.is_inactive();
        let a = self.leadership.set_eligible(now_us(), eligible);
        self.apply(a)?;
        if !own_flags.is_inactive() {
            self.verify_local_ips();
        }
        if !self.leadership.is_leader() || self.leadership.election_in_progress() {
            return Ok(());
        }
        self.leader_pass(&nodemap)
    }

    /// Ask the leader for a takeover run (`reply` 0: no answer wanted).
    fn request_takeover_run(&mut self, reply: u64) -> Result<(), String> {
        let data = takeover::encode_request(self.own, reply);
        self.client.send_message(Pnn::BROADCAST_CONNECTED, srvid::TAKEOVER_RUN, data).map_err(|e| e.to_string())
    }

    /// Reference §7.7: compare what our rctdbd believes with what the
    /// kernel has. An address we should hold but the kernel lacks (a
    /// network restart dropped it), or one we could serve that nobody
    /// holds ⇒ ask the leader for a takeover run; one the kernel has but
    /// another node owns ⇒ release it here.
    fn verify_local_ips(&mut self) {
        if self.takeover_runs.is_disabled(Instant::now()) {
            return;
        }
        if !matches!(self.client.recmode(Pnn::CURRENT), Ok(RecMode::Normal)) {
            return;
        }
        let Ok(list) = self.client.public_ips(Pnn::CURRENT) else { return };
        if list.known.is_empty() {
            return;
        }
        let kernel = rctdb_sys::kernel_addrs();
        let mut want_run = false;
        for (ip, owner) in &list.known {
            if *owner == self.own && !kernel.contains(ip) {
                warn!("Assigned IP {ip} not on an interface");
                want_run = true;
            } else if kernel.contains(ip) && *owner != self.own {
                warn!("IP {ip} incorrectly on an interface: releasing it");
                let c = rctdb_protocol::Control::ReleaseIp { ip: *ip, new_owner: *owner };
                if let Err(e) = self.client.control(Pnn::CURRENT, c) {
                    error!("Failed to release {ip}: {e}");
                }
            } else if *owner == Pnn::UNKNOWN && list.available.contains(ip) {
                info!("Unassigned IP {ip} can be served by this node");
                want_run = true;
            }
        }
        if want_run {
            if self.leadership.is_leader() {
                self.need_takeover = true;
            } else if let Err(e) = self.request_takeover_run(0) {
                warn!("Cannot ask the leader for a takeover run: {e}");
            }
        }
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
        // Ask every active node at once, with a short timeout: a node that
        // is frozen but not yet declared dead must not stall the leader.
        let quick = (self.leader_timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(2));
        let mut calls = Vec::new();
        for &p in &active {
            calls.push((p, rctdb_protocol::Control::GetRecMode));
            calls.push((p, rctdb_protocol::Control::GetVnnMap));
        }
        let mut recmodes = std::collections::BTreeMap::new();
        let mut vnnmaps = std::collections::BTreeMap::new();
        for (p, r) in self.call_all(calls, quick) {
            match r {
                Ok(rctdb_protocol::ReplyData::RecMode(m)) => {
                    recmodes.insert(p, m);
                }
                Ok(rctdb_protocol::ReplyData::VnnMap(v)) => {
                    vnnmaps.insert(p, v);
                }
                Ok(_) | Err(_) => {
                    warn!("Cannot read the state of node {p}: {}", r.err().unwrap_or_default());
                    self.credits.blame(p, 1, now, self.tunables.duration(Tunable::RecoveryGracePeriod));
                    return Ok(());
                }
            }
        }
        let views: Vec<NodeView> = active
            .iter()
            .filter_map(|p| Some(NodeView { pnn: *p, recmode: *recmodes.get(p)?, vnnmap: vnnmaps.get(p)?.clone() }))
            .collect();
        if self.retry_recovery_at.is_some_and(|t| now < t) {
            return Ok(());
        }
        if let Some(reason) = policy::recovery_reason(&own_vnn, &active, &views, self.new_leader, self.recovery_failed)
        {
            info!("Recovery initiated: {reason}");
            self.recover(&active, own_vnn.generation)?;
            if self.recovery_failed {
                return Ok(());
            }
            self.need_takeover = true;
        }
        if self.takeover_runs.is_disabled(Instant::now()) {
            // Runs asked for meanwhile wait until runs are enabled again.
            return Ok(());
        }
        self.takeover_pass(nodemap);
        self.run_in_progress = false;
        Ok(())
    }

    /// Compute the allocation; run a takeover if it differs from what
    /// the nodes hold, or if one was asked for (reference §8.1).
    fn takeover_pass(&mut self, nodemap: &rctdb_protocol::NodeMap) {
        let started = Instant::now();
        let step = self.tunables.duration(Tunable::TakeoverTimeout).max(Duration::from_millis(100));
        let connected: Vec<Pnn> =
            nodemap.present().filter(|n| !n.flags.contains(NodeFlags::DISCONNECTED)).map(|n| n.pnn).collect();
        let mut ips = std::collections::BTreeMap::new();
        let replies =
            self.call_all(connected.iter().map(|&p| (p, rctdb_protocol::Control::GetPublicIps)).collect(), step);
        for (p, r) in replies {
            match r {
                Ok(rctdb_protocol::ReplyData::PublicIps(l)) => {
                    ips.insert(p, l);
                }
                Ok(_) | Err(_) => {
                    warn!("Cannot get the public IPs of node {p}");
                    self.takeover_failed(&[p]);
                    return;
                }
            }
        }
        let policy = takeover::Policy {
            algorithm: rctdb_ipalloc::Algorithm::from_tunable(self.tunables.count(Tunable::IPAllocAlgorithm)),
            no_ip_failback: self.tunables.count(Tunable::NoIPFailback) != 0,
            no_ip_takeover: self.tunables.count(Tunable::NoIPTakeover) != 0,
            force_rebalance: Vec::new(),
        };
        let held = self.hold_back(nodemap, &ips);
        let plan = takeover::plan(nodemap, &ips, &held, &policy, &mut |level, line| match level {
            rctdb_ipalloc::Level::Err => error!("{line}"),
            rctdb_ipalloc::Level::Warning => warn!("{line}"),
            rctdb_ipalloc::Level::Notice => info!("{line}"),
            rctdb_ipalloc::Level::Info => debug!("{line}"),
            rctdb_ipalloc::Level::Debug => log::trace!("{line}"),
        });
        if !plan.changed && !self.need_takeover {
            return;
        }
        info!("Takeover run starting");
        self.run_in_progress = true;
        let budget = step * 3;
        let deadline = Instant::now() + budget;
        let mut failed: Vec<Pnn> = Vec::new();
        let phases: [Vec<(Pnn, rctdb_protocol::Control)>; 4] = [
            connected.iter().map(|&p| (p, rctdb_protocol::Control::StartIpReallocate)).collect(),
            plan.releases
                .iter()
                .map(|&(p, ip, new_owner)| (p, rctdb_protocol::Control::ReleaseIp { ip, new_owner }))
                .collect(),
            plan.takes.iter().map(|&(p, ip)| (p, rctdb_protocol::Control::TakeoverIp { ip, owner: p })).collect(),
            connected.iter().map(|&p| (p, rctdb_protocol::Control::IpReallocated)).collect(),
        ];
        for (i, calls) in phases.into_iter().enumerate() {
            let names = ["START_IPREALLOCATE", "RELEASE_IP", "TAKEOVER_IP", "IPREALLOCATED"];
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(10));
            for (p, r) in self.call_all(calls, left) {
                if let Err(e) = r {
                    error!("{} failed on node {p}: {e}", names[i]);
                    failed.push(p);
                }
            }
            if !failed.is_empty() {
                break;
            }
        }
        if failed.is_empty() {
            info!("Takeover run completed successfully in {:?}", started.elapsed());
            self.need_takeover = false;
            self.answer_takeover_waiters(self.own.0 as i32);
        } else {
            self.takeover_failed(&failed);
        }
    }

    fn wake(&mut self, at: Instant) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }

    /// Addresses of lost nodes that must stay unassigned for now (not
    /// fenced yet, or their lease may still run), with fences started as
    /// needed; every node is told the list for `status`.
    fn hold_back(
        &mut self,
        nodemap: &rctdb_protocol::NodeMap,
        ips: &std::collections::BTreeMap<Pnn, rctdb_protocol::PublicIpList>,
    ) -> std::collections::BTreeSet<std::net::IpAddr> {
        use std::collections::{BTreeMap, BTreeSet};
        let now = Instant::now();
        let lost: BTreeSet<Pnn> =
            nodemap.present().filter(|n| n.flags.contains(NodeFlags::DISCONNECTED)).map(|n| n.pnn).collect();
        for n in nodemap.present().filter(|n| !lost.contains(&n.pnn)) {
            self.fencer.forget(n.pnn);
            self.hold_logged.remove(&n.pnn);
        }
        let mut owned: BTreeMap<Pnn, BTreeSet<std::net::IpAddr>> = BTreeMap::new();
        for list in ips.values() {
            for (ip, owner) in &list.known {
                if lost.contains(owner) {
                    owned.entry(*owner).or_default().insert(*ip);
                }
            }
        }
        let mut held = BTreeSet::new();
        let mut report = Vec::new();
        if !owned.is_empty() {
            let leases = match self.client.control(Pnn::CURRENT, rctdb_protocol::Control::GetLeases) {
                Ok(rctdb_protocol::ReplyData::Leases(l)) => l,
                _ => Vec::new(),
            };
            let rule = rctdb_lease::LeaseRule {
                lease_time: self.lease_time,
                claim_validity: rctdb_lease::claim_validity(self.leader_timeout),
                leader_since: self.leader_since,
            };
            for (pnn, addrs) in owned {
                let info = leases.iter().find(|l| l.pnn == pnn);
                let lost = rctdb_lease::Lost {
                    granted_ago: info.and_then(|l| l.granted_ms_ago).map(Duration::from_millis),
                    refused: info.is_some_and(|l| l.refused),
                    goodbye: info.is_some_and(|l| l.goodbye),
                };
                let list: Vec<std::net::IpAddr> = addrs.iter().copied().collect();
                let reason = match rctdb_lease::decide(
                    lost,
                    self.fencer.configured(),
                    self.fencer.is_fenced(pnn),
                    &rule,
                    now,
                ) {
                    rctdb_lease::Decision::Free => {
                        if self.hold_logged.remove(&pnn) {
                            info!("Lease of node {pnn} has surely expired: its addresses may move");
                        }
                        continue;
                    }
                    rctdb_lease::Decision::Fence => {
                        let addr = nodemap.get(pnn).map(|n| n.addr).unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
                        self.fencer.ensure(self.poll.registry(), pnn, addr, &list, now);
                        self.wake(now + fence::RETRY);
                        self.fencer.describe(pnn)
                    }
                    rctdb_lease::Decision::Lease(until) => {
                        let left = until.saturating_duration_since(now).as_secs_f64();
                        if self.hold_logged.insert(pnn) {
                            info!("Holding back the addresses of node {pnn} until its lease has surely expired (in {left:.1}s)");
                        }
                        self.wake(until);
                        format!("waiting for its lease to expire ({left:.1}s left)")
                    }
                };
                held.extend(addrs);
                report.push(rctdb_protocol::HeldBack { pnn, ips: list, reason });
            }
        }
        if !report.is_empty() || self.held_back_sent {
            let data = rctdb_protocol::encode_held_back(&report);
            let _ = self.client.send_message(Pnn::BROADCAST_CONNECTED, srvid::HELD_BACK, data);
            self.held_back_sent = !report.is_empty();
        }
        held
    }

    /// No leader for long, and the lock is held: say why, and fence the
    /// last leader if we may (its frozen helper may hold the lock forever).
    fn check_stuck(&mut self, nodemap: &rctdb_protocol::NodeMap, now: Instant) {
        if self.leadership.leader().is_node() {
            self.no_leader_since = None;
        } else {
            self.no_leader_since.get_or_insert(now);
        }
        let patience = self.leader_timeout * 2;
        let stuck = self.lock.is_some()
            && self.no_leader_since.is_some_and(|t| now.duration_since(t) >= patience)
            && self.lock_contended_at.is_some_and(|t| now.duration_since(t) < patience);
        let holder = self.last_leader;
        let holder_lost =
            holder.is_node() && nodemap.get(holder).is_none_or(|n| n.flags.contains(NodeFlags::DISCONNECTED));
        let present = nodemap.present().count();
        let reachable = nodemap.present().filter(|n| !n.flags.contains(NodeFlags::DISCONNECTED)).count();
        let majority = reachable * 2 > present;
        let text = match (stuck, holder_lost) {
            (false, _) => None,
            (true, true) if !majority => Some(format!(
                "Cut off: this node reaches {reachable} of {present} nodes and the cluster lock is held by node \
                 {holder}; it serves no address until the partition heals"
            )),
            (true, false) => {
                Some("Cluster stuck: the cluster lock is held, but no leader announces itself".to_string())
            }
            (true, true) if self.fencer.configured() => {
                // One node fences: the lowest active one, and only on the
                // side of a partition that sees a majority of the nodes (a
                // node cut off alone must not power off the leader).
                let fencing = nodemap.present().filter(|n| !n.flags.is_inactive()).map(|n| n.pnn).min();
                if fencing == Some(self.own) && !self.fencer.is_fenced(holder) {
                    let addr = nodemap.get(holder).map(|n| n.addr).unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
                    // What it held, as far as we know.
                    let ips: Vec<std::net::IpAddr> = match self.client.public_ips(Pnn::CURRENT) {
                        Ok(l) => l.known.iter().filter(|(_, o)| *o == holder).map(|(i, _)| *i).collect(),
                        Err(_) => Vec::new(),
                    };
                    self.fencer.ensure(self.poll.registry(), holder, addr, &ips, now);
                    self.wake(now + fence::RETRY);
                }
                Some(format!(
                    "Cluster stuck: the cluster lock is held by node {holder}, which is unreachable: fencing it ({})",
                    self.fencer.describe(holder)
                ))
            }
            (true, true) => Some(format!(
                "Cluster stuck: the cluster lock is held by node {holder}, which is unreachable, and no fence \
                 command is configured; configure one, or use a lock helper with leases (see docs/fencing.md)"
            )),
        };
        if text != self.stuck {
            match &text {
                Some(t) => error!("{t}"),
                None => info!("Cluster no longer stuck"),
            }
            let data = text.clone().unwrap_or_default().into_bytes();
            let _ = self.client.send_message(Pnn::CURRENT, srvid::STUCK, data);
            self.stuck = text;
        }
    }

    /// A failed run: the node with the most failures gets as many banning
    /// credits as there are nodes (two failed runs in the grace period ban
    /// it), and the run is retried next pass.
    fn takeover_failed(&mut self, failed: &[Pnn]) {
        error!("Takeover run unsuccessful");
        self.need_takeover = true;
        let mut counts: std::collections::BTreeMap<Pnn, u32> = std::collections::BTreeMap::new();
        for p in failed {
            *counts.entry(*p).or_default() += 1;
        }
        if let Some((&worst, _)) = counts.iter().max_by_key(|(_, c)| **c) {
            if self.tunables.count(Tunable::EnableBans) != 0 {
                warn!("Assigning banning credits to node {worst}");
                let nodes = self.credits_node_count();
                self.credits.blame(worst, nodes, Instant::now(), self.tunables.duration(Tunable::RecoveryGracePeriod));
            }
        }
        self.answer_takeover_waiters(-1);
    }

    fn credits_node_count(&mut self) -> u32 {
        self.client.nodemap(Pnn::CURRENT).map(|m| m.present().count() as u32).unwrap_or(1)
    }

    fn answer_takeover_waiters(&mut self, result: i32) {
        for (pnn, reply) in std::mem::take(&mut self.takeover_waiters) {
            let _ = self.client.send_message(pnn, reply, result.to_le_bytes().to_vec());
        }
    }

    /// Send every control at once and collect the replies; a control
    /// without a reply within `timeout` counts as a timeout error.
    fn call_all(
        &mut self,
        calls: Vec<(Pnn, rctdb_protocol::Control)>,
        timeout: Duration,
    ) -> Vec<(Pnn, Result<rctdb_protocol::ReplyData, String>)> {
        let mut sent = Vec::new();
        for (p, c) in calls {
            let name = c.name();
            match self.client.send_control(p, c) {
                Ok(id) => sent.push((p, id, name)),
                Err(e) => return vec![(p, Err(format!("{name}: {e}")))],
            }
        }
        let ids: Vec<u32> = sent.iter().map(|(_, id, _)| *id).collect();
        // Wait in slices, broadcasting between them while we lead, so a
        // slow node never silences the leader.
        let deadline = Instant::now() + timeout;
        let mut replies = std::collections::HashMap::new();
        loop {
            let pending: Vec<u32> = ids.iter().copied().filter(|id| !replies.contains_key(id)).collect();
            let left = deadline.saturating_duration_since(Instant::now());
            if pending.is_empty() || left.is_zero() {
                break;
            }
            let slice = left.min(self.leadership.broadcast_interval());
            match self.client.wait_replies(&pending, slice) {
                Ok(r) => replies.extend(r),
                Err(e) => return sent.iter().map(|(p, _, n)| (*p, Err(format!("{n}: {e}")))).collect(),
            }
            if self.run_in_progress {
                // Refuse now rather than after the run: the sender retries.
                for m in self.client.take_messages(srvid::DISABLE_TAKEOVER_RUNS) {
                    self.on_disable_takeover_runs(&m.data);
                }
            }
            if self.leadership.is_leader() && replies.len() < ids.len() {
                let _ = self.broadcast(srvid::LEADER, self.own.0.to_le_bytes().to_vec());
            }
        }
        sent.into_iter()
            .map(|(p, id, name)| match replies.remove(&id) {
                Some(Ok(d)) => (p, Ok(d)),
                Some(Err(e)) => (p, Err(format!("{name}: {e}"))),
                None => (p, Err(format!("{name}: timed out"))),
            })
            .collect()
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
                self.recovery_failed = true;
                // A node that left the cluster meanwhile (stopped, banned,
                // gone) is no culprit: recover again at once without it.
                let left = culprit.is_some_and(|p| {
                    self.client
                        .nodemap(Pnn::CURRENT)
                        .map(|m| m.get(p).is_none_or(|n| n.flags.is_inactive()))
                        .unwrap_or(false)
                });
                if left {
                    info!("The failing node left the cluster during the recovery: recovering again without it");
                    self.retry_recovery_at = None;
                    self.next_pass = now;
                } else {
                    if let Some(p) = culprit {
                        self.credits.blame(p, 1, now, self.tunables.duration(Tunable::RecoveryGracePeriod));
                    }
                    self.retry_recovery_at = Some(now + self.tunables.duration(Tunable::RerecoveryTimeout));
                }
            }
        }
        Ok(())
    }

    fn recovery_steps(&mut self, active: &[Pnn], generation: Generation) -> Result<(), (Option<Pnn>, String)> {
        use rctdb_protocol::Control;
        let leader = self.own.0.to_le_bytes().to_vec();
        let map = rctdb_protocol::VnnMap { generation, map: active.to_vec() };
        let script_timeout = self.tunables.duration(Tunable::EventScriptTimeout);
        let control_timeout = self.tunables.duration(Tunable::RecoverTimeout);
        let event = |e: Event| Control::RunEvent {
            event: e,
            args: vec![],
            timeout_ms: Some(script_timeout.as_millis() as u64),
        };
        // Each step goes to every active node at once; the next step
        // starts when all have answered.
        let steps: [(Control, Duration); 5] = [
            (Control::SetRecMode(RecMode::Active), control_timeout),
            (event(Event::StartRecovery), script_timeout + control_timeout),
            (Control::SetVnnMap(map), control_timeout),
            (Control::SetRecMode(RecMode::Normal), control_timeout),
            (event(Event::Recovered), script_timeout + control_timeout),
        ];
        for (control, timeout) in steps {
            // Keep the leader broadcasts going between the (bounded) steps.
            let _ = self.broadcast(srvid::LEADER, leader.clone());
            let name = control.name();
            let calls = active.iter().map(|&p| (p, control.clone())).collect();
            for (p, r) in self.call_all(calls, timeout) {
                match r {
                    Ok(rctdb_protocol::ReplyData::EventRun(run)) => {
                        if let Some(s) = run.failure() {
                            return Err((
                                Some(p),
                                format!("node {p}: {} event: script {} {}", run.event, s.name, s.status.word()),
                            ));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Err((Some(p), format!("node {p}: {name}: {e}"))),
                }
            }
        }
        Ok(())
    }
}

/// Does this error on our own control socket mean rctdbd is dead?
fn daemon_dead(e: &ClientError) -> bool {
    match e {
        ClientError::Closed => true,
        ClientError::Io(io) => !matches!(
            io.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
        ),
        _ => false,
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

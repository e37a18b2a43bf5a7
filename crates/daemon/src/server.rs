//! The event loop of rctdbd: the only `mio::Poll` in the process.
//!
//! It moves bytes and time and nothing else: link verdicts come from
//! [`crate::liveness`], flags from [`crate::nodes`], control results from
//! [`Daemon::execute`]. Nothing here blocks: every socket is non-blocking,
//! every wait is a deadline folded into the poll timeout.

use crate::events::{self, Completion, Exit, KillSignal, Outcome, Request, RequestId, Runner, ScriptEntry, ScriptHost};
use crate::liveness::{LinkAction, LinkEvent, PeerLink};
use crate::monitor::{HealthChange, Monitor, MonitorResult};
use crate::net;
use crate::nodes::NodeTable;
use crate::supervisor::Supervisor;

#[path = "ipsrv.rs"]
mod ipsrv;
#[path = "leasesrv.rs"]
mod leasesrv;
use ipsrv::{Garp, IpJob};
use log::{debug, error, info, trace, warn};
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token};
use rctdb_config::{Nodes, Paths, Tunable, Tunables};
use rctdb_logging as logging;
use rctdb_protocol::{
    srvid, try_encode, Control, ControlError, ControlReply, ControlRequest, Event, EventRun, FrameBuffer, Generation,
    Keepalive, Message, NodeFlags, Packet, Pnn, RecMode, ReplyData, RunState, ScriptStatus, Uptime, VnnMap,
};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SIGNALS: Token = Token(0);
const TCP_LISTENER: Token = Token(1);
const UNIX_LISTENER: Token = Token(2);
const SIGCHLD: Token = Token(3);
const FIRST_CONN: usize = 16;

/// A connect attempt that has not completed within this is retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Wait after a failed connect before the next attempt.
const CONNECT_RETRY: Duration = Duration::from_secs(1);
/// A peer or client that lets this much output pile up is dropped.
const MAX_QUEUED: usize = 16 << 20;
/// errno-style codes in control errors.
const ENOENT: i32 = 2;
const EIO: i32 = 5;
const EINVAL: i32 = 22;
const ETIMEDOUT: i32 = 110;
const ENOTCONN: i32 = 107;
const EOPNOTSUPP: i32 = 95;
const EBUSY: i32 = 16;
const ECANCELED: i32 = 125;
/// Wait between SIGTERM and SIGKILL for a timed-out script.
const KILL_GRACE: Duration = Duration::from_millis(500);
/// A failed `startup` event is retried after this.
const STARTUP_RETRY: Duration = Duration::from_secs(5);

/// Everything rctdbd needs to start its loop.
pub struct Setup {
    pub paths: Paths,
    pub nodes: Nodes,
    pub tunables: Tunables,
    pub own_pnn: Pnn,
    pub own_addr: IpAddr,
    pub port: u16,
    pub tcp_listener: std::net::TcpListener,
    pub unix_listener: std::os::unix::net::UnixListener,
    /// Read end of the signal self-pipe (SIGTERM, SIGINT).
    pub signals: std::os::unix::net::UnixStream,
    /// Read end of the SIGCHLD self-pipe.
    pub sigchld: std::os::unix::net::UnixStream,
    /// Environment for event scripts, on top of rctdbd's own.
    pub script_env: Vec<(String, String)>,
    /// Level at which script output is logged (`[legacy] script log level`).
    pub script_log_level: log::Level,
    /// The configured cluster lock, as written (for `getreclock`).
    pub cluster_lock: Option<String>,
    /// `[cluster] leader timeout`: a leader not heard of for this long is
    /// reported as unknown.
    pub leader_timeout: Duration,
    /// The recovery daemon to run, with its environment; `None` runs none.
    pub recoverd: Option<(PathBuf, Vec<(String, String)>)>,
    /// This node's `public_addresses`.
    pub public_addresses: rctdb_config::PublicAddresses,
    /// `[failover] lease time`.
    pub lease_time: Duration,
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnKind {
    /// A local client on the control socket.
    Client,
    /// Our connection to a peer, still connecting.
    Connecting(Pnn),
    /// Our connection to a peer: we only send on it.
    Outgoing(Pnn),
    /// A peer's connection to us: we only receive on it.
    Incoming(Pnn),
}

struct Conn {
    kind: ConnKind,
    stream: Stream,
    frames: FrameBuffer,
    out: Vec<u8>,
    out_pos: usize,
    writable: bool,
    /// Where the connection came from, for log messages.
    label: String,
}

/// Transport state of one peer.
#[derive(Default)]
struct Peer {
    link: PeerLink,
    outgoing: Option<Token>,
    incoming: Option<Token>,
    /// Connect in flight, started at this instant.
    connecting: Option<(Token, Instant)>,
    /// Next connect attempt.
    retry_at: Option<Instant>,
    /// Replies and messages for a peer whose connection to us is up but
    /// ours to it is still being made (it just came back): sent once ours
    /// is up, dropped if the link is lost. Bounded.
    waiting: Vec<Packet>,
    /// Since it was lost, a connection to it was refused (host up,
    /// rctdbd not running).
    refused: bool,
    /// It said goodbye (clean shutdown, no address held) before leaving.
    goodbye: bool,
}

/// At most this many packets wait for a peer's connection.
const MAX_WAITING: usize = 1024;

/// A control forwarded to a peer on behalf of a local client.
struct Forward {
    client: Token,
    client_reqid: u32,
    dest: Pnn,
    name: &'static str,
    deadline: Instant,
}

/// Who sent a control.
#[derive(Clone, Copy)]
enum Origin {
    Client(Token),
    Peer(Pnn),
}

/// Who waits for an event to complete.
enum Waiter {
    /// A RUN_EVENT control: reply when done.
    Control {
        origin: Origin,
        reqid: u32,
    },
    /// Start-up steps and the monitor loop.
    Init,
    Setup,
    Startup,
    Monitor,
    Shutdown,
    /// takeip / updateip / releaseip for a public address.
    Ip(IpJob),
}

/// A script's output pipe.
struct ScriptPipe {
    pid: i32,
    rx: mio::unix::pipe::Receiver,
}

pub struct Daemon {
    poll: Poll,
    tcp_listener: TcpListener,
    unix_listener: UnixListener,
    signals: UnixStream,
    paths: Paths,
    own_addr: IpAddr,
    port: u16,
    conns: HashMap<Token, Conn>,
    next_token: usize,
    peers: HashMap<Pnn, Peer>,
    nodes: NodeTable,
    tunables: Tunables,
    forwards: HashMap<u32, Forward>,
    next_forward: u32,
    /// srvid -> clients that registered it.
    srvids: HashMap<u64, HashSet<Token>>,
    leader: Pnn,
    start_wall: SystemTime,
    start: Instant,
    next_keepalive: Instant,
    stopping: bool,
    exit_failure: bool,
    sigchld: UnixStream,
    runner: Runner,
    monitor: Monitor,
    runstate: RunState,
    recmode: RecMode,
    pipes: HashMap<Token, ScriptPipe>,
    waiters: HashMap<RequestId, Waiter>,
    next_request: RequestId,
    startup_retry_at: Option<Instant>,
    script_env: Vec<(String, String)>,
    script_log_level: log::Level,
    events_dir: PathBuf,
    cluster_lock: Option<String>,
    leader_timeout: Duration,
    leader_heard: Instant,
    vnnmap: VnnMap,
    recovery_started_us: u64,
    recovery_finished_us: u64,
    ban_until: Option<Instant>,
    supervisor: Option<Supervisor>,
    publicips: crate::publicips::PublicIps,
    garp: Vec<Garp>,
    kernel: ipsrv::KernelAddrs,
    /// Connections on public addresses, ours and those other nodes hold.
    tickles: std::collections::BTreeMap<IpAddr, crate::tickles::Conns>,
    next_tickle_scan: Instant,
    lease: rctdb_lease::Lease,
    grantor: rctdb_lease::Grantor,
    /// The local client whose leader broadcasts let us grant leases.
    claim_client: Option<Token>,
    reported: leasesrv::Reported,
    goodbye_sent: bool,
}

fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Our version for keepalives: `major << 16 | minor`.
fn version_word() -> u32 {
    let mut it = env!("CARGO_PKG_VERSION").split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = it.next().unwrap_or(0);
    let minor = it.next().unwrap_or(0);
    (major << 16) | (minor & 0xFFFF)
}

impl Daemon {
    pub fn new(setup: Setup) -> io::Result<Daemon> {
        let poll = Poll::new()?;
        let mut tcp_listener = TcpListener::from_std(setup.tcp_listener);
        setup.unix_listener.set_nonblocking(true)?;
        let mut unix_listener = UnixListener::from_std(setup.unix_listener);
        setup.signals.set_nonblocking(true)?;
        let mut signals = UnixStream::from_std(setup.signals);
        setup.sigchld.set_nonblocking(true)?;
        let mut sigchld = UnixStream::from_std(setup.sigchld);
        poll.registry().register(&mut sigchld, SIGCHLD, Interest::READABLE)?;
        poll.registry().register(&mut tcp_listener, TCP_LISTENER, Interest::READABLE)?;
        poll.registry().register(&mut unix_listener, UNIX_LISTENER, Interest::READABLE)?;
        poll.registry().register(&mut signals, SIGNALS, Interest::READABLE)?;
        let nodes = NodeTable::new(&setup.nodes, setup.own_pnn);
        let events_dir = setup.paths.events_dir();
        // The initial VNN map: every node that is not deleted, generation
        // INVALID until the first recovery.
        let vnn_members = nodes.node_map().present().map(|n| n.pnn).collect();
        let now = Instant::now();
        let peers = nodes.peers().map(|s| (s.pnn, Peer { retry_at: Some(now), ..Peer::default() })).collect();
        let next_keepalive = now + setup.tunables.duration(Tunable::KeepaliveInterval);
        Ok(Daemon {
            poll,
            tcp_listener,
            unix_listener,
            signals,
            paths: setup.paths,
            own_addr: setup.own_addr,
            port: setup.port,
            conns: HashMap::new(),
            next_token: FIRST_CONN,
            peers,
            nodes,
            tunables: setup.tunables,
            forwards: HashMap::new(),
            next_forward: 1,
            srvids: HashMap::new(),
            leader: Pnn::UNKNOWN,
            start_wall: SystemTime::now(),
            start: now,
            next_keepalive,
            stopping: false,
            exit_failure: false,
            sigchld,
            runner: Runner::new(KILL_GRACE),
            monitor: Monitor::new(),
            runstate: RunState::Init,
            // As CTDB: start in recovery, so the leader must recover us in.
            recmode: RecMode::Active,
            pipes: HashMap::new(),
            waiters: HashMap::new(),
            next_request: 1,
            startup_retry_at: None,
            script_env: setup.script_env,
            script_log_level: setup.script_log_level,
            events_dir,
            cluster_lock: setup.cluster_lock,
            leader_timeout: setup.leader_timeout,
            leader_heard: now,
            vnnmap: VnnMap { generation: Generation::INVALID, map: vnn_members },
            recovery_started_us: 0,
            recovery_finished_us: 0,
            ban_until: None,
            supervisor: setup.recoverd.map(|(program, env)| Supervisor::new(program, env)),
            publicips: crate::publicips::PublicIps::from_config(&setup.public_addresses),
            garp: Vec::new(),
            kernel: ipsrv::KernelAddrs::default(),
            tickles: std::collections::BTreeMap::new(),
            next_tickle_scan: now,
            lease: rctdb_lease::Lease::new(setup.lease_time, now),
            grantor: rctdb_lease::Grantor::default(),
            claim_client: None,
            reported: leasesrv::Reported::default(),
            goodbye_sent: false,
        })
    }

    /// Run until shutdown. Returns false if rctdbd must exit with failure
    /// (the `init` or `setup` event failed).
    pub fn run(&mut self) -> io::Result<bool> {
        info!("PNN is {}", self.nodes.own());
        info!("Listening on {}:{} for peers, {} for clients", self.own_addr, self.port, self.paths.socket().display());
        self.submit_event(Event::Init, vec![], None, Waiter::Init);
        let mut events = Events::with_capacity(256);
        while !self.stopping {
            let timeout = self.next_deadline().map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for ev in events.iter() {
                match ev.token() {
                    SIGNALS => self.on_signal(),
                    SIGCHLD => self.reap_children(),
                    TCP_LISTENER => self.accept_peers(),
                    UNIX_LISTENER => self.accept_clients(),
                    t if self.pipes.contains_key(&t) => self.read_pipe(t),
                    t => {
                        if ev.is_writable() {
                            self.on_writable(t);
                        }
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            self.on_readable(t);
                        }
                    }
                }
            }
            self.run_timers(Instant::now());
        }
        self.flush_all();
        if let Some(sup) = self.supervisor.as_mut() {
            sup.wait_stopped(Duration::from_secs(2));
        }
        info!("Shutdown complete");
        Ok(!self.exit_failure)
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut d = self.next_keepalive;
        for p in self.peers.values() {
            if let Some(t) = p.retry_at {
                d = d.min(t);
            }
            if let Some((_, since)) = p.connecting {
                d = d.min(since + CONNECT_TIMEOUT);
            }
        }
        for f in self.forwards.values() {
            d = d.min(f.deadline);
        }
        let supervisor = self.supervisor.as_ref().and_then(|s| s.poll_timeout());
        if let Some(g) = self.garp_deadline() {
            d = d.min(g);
        }
        if !self.publicips.is_empty() {
            d = d.min(self.next_tickle_scan);
            d = d.min(self.lease_deadline(Instant::now()));
        }
        for t in
            [self.runner.poll_timeout(), self.monitor.poll_timeout(), self.startup_retry_at, self.ban_until, supervisor]
                .into_iter()
                .flatten()
        {
            d = d.min(t);
        }
        Some(d)
    }

    // ---- signals --------------------------------------------------------

    fn on_signal(&mut self) {
        let mut buf = [0u8; 64];
        loop {
            match self.signals.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    if self.runstate == RunState::Shutdown {
                        warn!("Second termination signal: exiting without waiting for the shutdown event");
                        self.stopping = true;
                    } else {
                        info!("Received a termination signal: shutting down");
                        self.begin_shutdown();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }

    // ---- accepting ------------------------------------------------------

    fn new_token(&mut self) -> Token {
        let t = Token(self.next_token);
        self.next_token += 1;
        t
    }

    fn add_conn(&mut self, kind: ConnKind, mut stream: Stream, label: String, writable: bool) -> io::Result<Token> {
        let token = self.new_token();
        let interest = if writable { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        self.poll.registry().register(stream.source(), token, interest)?;
        self.conns.insert(
            token,
            Conn { kind, stream, frames: FrameBuffer::new(), out: Vec::new(), out_pos: 0, writable, label },
        );
        Ok(token)
    }

    fn accept_peers(&mut self) {
        loop {
            let (stream, from) = match self.tcp_listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("Failed to accept a peer connection: {e}");
                    return;
                }
            };
            let ip = canonical_ip(from.ip());
            let Some(pnn) = self.nodes.peer_by_addr(ip) else {
                error!("Refused connection from unknown node {from}");
                continue;
            };
            if let Some(old) = self.peers.get(&pnn).and_then(|p| p.incoming) {
                // The peer opened a new connection, so it has dropped the
                // old one: treat the old link as lost, then take the new.
                debug!("New connection from node {pnn} ({from}) replaces {old:?}");
                self.link_event(pnn, LinkEvent::ConnectionLost);
            }
            let _ = stream.set_nodelay(true);
            match self.add_conn(ConnKind::Incoming(pnn), Stream::Tcp(stream), format!("node {pnn} ({from})"), false) {
                Ok(token) => {
                    if let Some(p) = self.peers.get_mut(&pnn) {
                        p.incoming = Some(token);
                        // The peer is evidently up: connect back now rather
                        // than at the next retry.
                        if p.outgoing.is_none() && p.connecting.is_none() {
                            p.retry_at = Some(Instant::now());
                        }
                    }
                    trace!("Accepted connection from node {pnn} ({from})");
                    self.link_event(pnn, LinkEvent::IncomingUp);
                }
                Err(e) => warn!("Failed to register connection from {from}: {e}"),
            }
        }
    }

    fn accept_clients(&mut self) {
        loop {
            let stream = match self.unix_listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("Failed to accept a client connection: {e}");
                    return;
                }
            };
            let label = format!("client {}", self.next_token);
            if let Err(e) = self.add_conn(ConnKind::Client, Stream::Unix(stream), label, false) {
                warn!("Failed to register a client connection: {e}");
            }
        }
    }

    // ---- reading and writing -------------------------------------------

    fn on_readable(&mut self, token: Token) {
        let mut buf = [0u8; 64 * 1024];
        let mut eof = false;
        let mut failure: Option<String> = None;
        {
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            if let ConnKind::Connecting(_) = conn.kind {
                return;
            }
            loop {
                match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => conn.frames.extend(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        failure = Some(e.to_string());
                        break;
                    }
                }
            }
        }
        // Decode whatever complete packets arrived, even if the stream then
        // closed: a client may send a request and close at once.
        loop {
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            let kind = conn.kind;
            match conn.frames.next_packet() {
                Ok(Some(p)) => self.on_packet(token, kind, p),
                Ok(None) => break,
                Err(e) => {
                    let label = conn.label.clone();
                    match kind {
                        ConnKind::Client => warn!("Dropping {label}: malformed frame: {e}"),
                        _ => error!("Malformed packet from {label}: {e}; closing the connection"),
                    }
                    self.close(token);
                    return;
                }
            }
        }
        if eof || failure.is_some() {
            if let Some(conn) = self.conns.get(&token) {
                match (conn.kind, failure) {
                    (ConnKind::Client, _) => trace!("{} disconnected", conn.label),
                    (_, Some(f)) => info!("Connection to {} failed: {f}", conn.label),
                    (_, None) => info!("Connection to {} closed", conn.label),
                }
            }
            self.close(token);
        }
    }

    fn on_writable(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        if let ConnKind::Connecting(pnn) = conn.kind {
            let Stream::Tcp(s) = &conn.stream else { return };
            let result = match s.take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => s.peer_addr().map(|_| ()),
            };
            match result {
                Ok(()) => {
                    conn.kind = ConnKind::Outgoing(pnn);
                    let _ = self.poll.registry().reregister(conn.stream.source(), token, Interest::READABLE);
                    conn.writable = false;
                    let mut waiting = Vec::new();
                    if let Some(p) = self.peers.get_mut(&pnn) {
                        p.connecting = None;
                        p.outgoing = Some(token);
                        waiting = std::mem::take(&mut p.waiting);
                    }
                    trace!("Connected to node {pnn}");
                    for packet in waiting {
                        self.send(token, &packet);
                    }
                    self.link_event(pnn, LinkEvent::OutgoingUp);
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {} // still in progress
                Err(e) => {
                    trace!("Connect to node {pnn} failed: {e}");
                    self.close(token);
                    let lost = !self.nodes.is_connected(pnn);
                    let mut first_refusal = false;
                    if let Some(p) = self.peers.get_mut(&pnn) {
                        p.retry_at = Some(Instant::now() + CONNECT_RETRY);
                        if lost && e.kind() == io::ErrorKind::ConnectionRefused && !p.refused {
                            p.refused = true;
                            first_refusal = true;
                        }
                    }
                    if first_refusal {
                        info!("Node {pnn} refuses connections: its host is up, rctdbd is not running there");
                        self.notify_node_map_changed();
                    }
                }
            }
            return;
        }
        self.flush(token);
    }

    /// Write queued output; arm or disarm writability interest.
    fn flush(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let mut failed = None;
        while conn.out_pos < conn.out.len() {
            match conn.stream.write(&conn.out[conn.out_pos..]) {
                Ok(0) => {
                    failed = Some("connection closed".to_string());
                    break;
                }
                Ok(n) => conn.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        if conn.out_pos == conn.out.len() {
            conn.out.clear();
            conn.out_pos = 0;
        }
        let want = !conn.out.is_empty();
        if want != conn.writable && failed.is_none() {
            let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            let _ = self.poll.registry().reregister(conn.stream.source(), token, interest);
            conn.writable = want;
        }
        if let Some(f) = failed {
            if !matches!(conn.kind, ConnKind::Client) {
                info!("Write to {} failed: {f}", conn.label);
            }
            self.close(token);
        }
    }

    fn flush_all(&mut self) {
        let tokens: Vec<Token> = self.conns.keys().copied().collect();
        for t in tokens {
            self.flush(t);
        }
    }

    fn send(&mut self, token: Token, packet: &Packet) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let bytes = match try_encode(packet) {
            Ok(b) => b,
            Err(e) => {
                warn!("Not sending to {}: {e}", conn.label);
                return;
            }
        };
        conn.out.extend_from_slice(&bytes);
        if conn.out.len() - conn.out_pos > MAX_QUEUED {
            warn!("Dropping {}: {} bytes of output not read", conn.label, conn.out.len() - conn.out_pos);
            self.close(token);
            return;
        }
        self.flush(token);
    }

    /// Send to a peer over our outgoing connection. False if it is not up.
    fn send_to_peer(&mut self, pnn: Pnn, packet: &Packet) -> bool {
        let Some(p) = self.peers.get_mut(&pnn) else { return false };
        match p.outgoing {
            Some(t) => {
                self.send(t, packet);
                true
            }
            // It can talk to us but we cannot answer yet: hold the answer.
            None if p.incoming.is_some() && !matches!(packet, Packet::Keepalive(_)) => {
                if p.waiting.len() < MAX_WAITING {
                    p.waiting.push(packet.clone());
                }
                true
            }
            None => false,
        }
    }

    /// Close a connection and tell whoever owns it.
    fn close(&mut self, token: Token) {
        let Some(mut conn) = self.conns.remove(&token) else {
            return;
        };
        let _ = self.poll.registry().deregister(conn.stream.source());
        match conn.kind {
            ConnKind::Client => {
                self.on_client_closed(token);
                for set in self.srvids.values_mut() {
                    set.remove(&token);
                }
                self.srvids.retain(|_, s| !s.is_empty());
                self.forwards.retain(|_, f| f.client != token);
            }
            ConnKind::Connecting(pnn) | ConnKind::Outgoing(pnn) | ConnKind::Incoming(pnn) => {
                let Some(p) = self.peers.get_mut(&pnn) else {
                    return;
                };
                let ours = p.outgoing == Some(token)
                    || p.incoming == Some(token)
                    || p.connecting.is_some_and(|(t, _)| t == token);
                if !ours {
                    return;
                }
                if matches!(conn.kind, ConnKind::Connecting(_)) {
                    p.connecting = None;
                    return;
                }
                self.link_event(pnn, LinkEvent::ConnectionLost);
            }
        }
    }

    // ---- peers ----------------------------------------------------------

    fn link_event(&mut self, pnn: Pnn, event: LinkEvent) {
        let limit = self.tunables.count(Tunable::KeepaliveLimit) as u32;
        let Some(peer) = self.peers.get_mut(&pnn) else {
            return;
        };
        let actions = peer.link.handle(event, limit);
        if event == LinkEvent::OutgoingUp {
            // The peer learns our flags as soon as it can hear us.
            let m = self.own_flags_message(pnn);
            self.send_to_peer(pnn, &Packet::Message(m));
        }
        for action in actions {
            match action {
                LinkAction::Connected => {
                    if let Some(p) = self.peers.get_mut(&pnn) {
                        p.refused = false;
                        p.goodbye = false;
                    }
                    self.nodes.mark_connected(pnn);
                    self.notify_node_map_changed();
                    // A flag change broadcast while this peer was only
                    // half-connected skipped it: tell it our flags again.
                    let m = self.own_flags_message(pnn);
                    self.send_to_peer(pnn, &Packet::Message(m));
                    info!(
                        "{}: connected to {} - {} connected",
                        self.own_addr,
                        self.peer_label(pnn),
                        self.nodes.num_connected()
                    );
                }
                LinkAction::Dead => {
                    self.nodes.mark_dead(pnn);
                    self.notify_node_map_changed();
                    info!(
                        "{}: node {} is dead: {} connected",
                        self.own_addr,
                        self.peer_label(pnn),
                        self.nodes.num_connected()
                    );
                    self.fail_forwards_to(pnn);
                }
                LinkAction::DropConnections => self.drop_peer_connections(pnn),
                LinkAction::SendKeepalive => {
                    let ka = Packet::Keepalive(Keepalive {
                        version: version_word(),
                        uptime_ms: self.start.elapsed().as_millis() as u64,
                    });
                    self.send_to_peer(pnn, &ka);
                }
            }
        }
    }

    fn peer_label(&self, pnn: Pnn) -> String {
        match self.nodes.get(pnn).and_then(|s| s.addr) {
            Some(a) => format!("{}", SocketAddr::new(a, self.port)),
            None => format!("node {pnn}"),
        }
    }

    fn drop_peer_connections(&mut self, pnn: Pnn) {
        let Some(p) = self.peers.get_mut(&pnn) else {
            return;
        };
        p.waiting.clear();
        let tokens: Vec<Token> =
            [p.outgoing.take(), p.incoming.take(), p.connecting.take().map(|(t, _)| t)].into_iter().flatten().collect();
        p.retry_at = Some(Instant::now());
        for t in tokens {
            if let Some(mut c) = self.conns.remove(&t) {
                let _ = self.poll.registry().deregister(c.stream.source());
            }
        }
    }

    fn start_connect(&mut self, pnn: Pnn, now: Instant) {
        let Some(addr) = self.nodes.get(pnn).and_then(|s| s.addr) else {
            return;
        };
        let remote = SocketAddr::new(addr, self.port);
        match net::connect_from(self.own_addr, remote) {
            Ok(stream) => match self.add_conn(
                ConnKind::Connecting(pnn),
                Stream::Tcp(stream),
                format!("node {pnn} ({remote})"),
                true,
            ) {
                Ok(token) => {
                    if let Some(p) = self.peers.get_mut(&pnn) {
                        p.connecting = Some((token, now));
                        p.retry_at = None;
                    }
                }
                Err(e) => {
                    warn!("Failed to register connection to {remote}: {e}");
                    if let Some(p) = self.peers.get_mut(&pnn) {
                        p.retry_at = Some(now + CONNECT_RETRY);
                    }
                }
            },
            Err(e) => {
                debug!("Failed to connect to {remote}: {e}");
                if let Some(p) = self.peers.get_mut(&pnn) {
                    p.retry_at = Some(now + CONNECT_RETRY);
                }
            }
        }
    }

    fn run_timers(&mut self, now: Instant) {
        // Connect attempts: start due ones, restart ones that hang.
        let pnns: Vec<Pnn> = self.peers.keys().copied().collect();
        for pnn in &pnns {
            let Some(p) = self.peers.get_mut(pnn) else {
                continue;
            };
            if let Some((token, since)) = p.connecting {
                if now >= since + CONNECT_TIMEOUT {
                    trace!("Connect to node {pnn} timed out, retrying");
                    p.connecting = None;
                    p.retry_at = Some(now);
                    if let Some(mut c) = self.conns.remove(&token) {
                        let _ = self.poll.registry().deregister(c.stream.source());
                    }
                }
            }
            let Some(p) = self.peers.get(pnn) else {
                continue;
            };
            if p.outgoing.is_none() && p.connecting.is_none() && p.retry_at.is_some_and(|t| now >= t) {
                self.start_connect(*pnn, now);
            }
        }
        // Keepalives.
        if now >= self.next_keepalive {
            for pnn in &pnns {
                self.link_event(*pnn, LinkEvent::Tick);
            }
            let interval = self.tunables.duration(Tunable::KeepaliveInterval).max(Duration::from_millis(10));
            self.next_keepalive = now + interval;
        }
        self.event_timers(now);
        // Forwarded controls that got no answer.
        let expired: Vec<u32> = self.forwards.iter().filter(|(_, f)| now >= f.deadline).map(|(id, _)| *id).collect();
        for id in expired {
            if let Some(f) = self.forwards.remove(&id) {
                let err = ControlError::new(ETIMEDOUT, format!("Control {} to node {} timed out", f.name, f.dest));
                self.reply_to_client(f.client, f.client_reqid, f.dest, Err(err));
            }
        }
    }

    fn fail_forwards_to(&mut self, pnn: Pnn) {
        let failed: Vec<u32> = self.forwards.iter().filter(|(_, f)| f.dest == pnn).map(|(id, _)| *id).collect();
        for id in failed {
            if let Some(f) = self.forwards.remove(&id) {
                let err = ControlError::new(ENOTCONN, format!("Node {pnn} disconnected before answering {}", f.name));
                self.reply_to_client(f.client, f.client_reqid, pnn, Err(err));
            }
        }
    }

    // ---- packets --------------------------------------------------------

    fn on_packet(&mut self, token: Token, kind: ConnKind, packet: Packet) {
        match kind {
            ConnKind::Client => self.on_client_packet(token, packet),
            ConnKind::Incoming(pnn) => {
                self.link_event(pnn, LinkEvent::Received);
                self.on_peer_packet(pnn, packet);
            }
            ConnKind::Outgoing(pnn) => {
                // We never expect data on our sending side.
                error!("Unexpected data from node {pnn} on the outgoing connection; closing it");
                self.close(token);
            }
            ConnKind::Connecting(_) => {}
        }
    }

    fn on_client_packet(&mut self, token: Token, packet: Packet) {
        match packet {
            Packet::Control(req) => {
                let own = self.nodes.own();
                if req.dest == Pnn::CURRENT || req.dest == own {
                    if let Some(result) = self.execute(req.control, Origin::Client(token), req.reqid) {
                        self.reply_to_client(token, req.reqid, own, result);
                    }
                } else if req.dest.is_node() {
                    self.forward(token, req);
                } else {
                    let err = ControlError::new(EOPNOTSUPP, format!("Controls cannot be sent to {:#x}", req.dest.0));
                    self.reply_to_client(token, req.reqid, own, Err(err));
                }
            }
            Packet::Message(mut m) => {
                m.src = self.nodes.own();
                self.on_leader_claim(token, &m);
                self.route_message(m);
            }
            Packet::Reply(_) | Packet::Keepalive(_) => {
                let label = self.conns.get(&token).map(|c| c.label.clone()).unwrap_or_default();
                warn!("Dropping {label}: it sent a packet clients may not send");
                self.close(token);
            }
        }
    }

    fn on_peer_packet(&mut self, pnn: Pnn, packet: Packet) {
        match packet {
            Packet::Keepalive(ka) => {
                if ka.version != version_word() {
                    trace!("Node {pnn} runs wire version {:#x}, we run {:#x}", ka.version, version_word());
                }
            }
            Packet::Control(req) => {
                let own = self.nodes.own();
                let result = if req.dest == own {
                    self.execute(req.control, Origin::Peer(pnn), req.reqid)
                } else {
                    Some(Err(ControlError::new(EINVAL, format!("Control for node {} sent to node {own}", req.dest))))
                };
                if let Some(result) = result {
                    self.send_reply(Origin::Peer(pnn), req.reqid, result);
                }
            }
            Packet::Reply(r) => match self.forwards.remove(&r.reqid) {
                Some(f) if f.dest == pnn => self.reply_to_client(f.client, f.client_reqid, pnn, r.result),
                Some(f) => {
                    warn!("Node {pnn} answered a control sent to node {}; ignored", f.dest);
                    self.forwards.insert(r.reqid, f);
                }
                None => debug!("Late or unknown reply {} from node {pnn}", r.reqid),
            },
            Packet::Message(m) => self.deliver_locally(&m),
        }
    }

    fn reply_to_client(&mut self, token: Token, reqid: u32, src: Pnn, result: Result<ReplyData, ControlError>) {
        self.send(token, &Packet::Reply(ControlReply { reqid, src, result }));
    }

    /// Answer a control that was executed here, whoever sent it.
    fn send_reply(&mut self, origin: Origin, reqid: u32, result: Result<ReplyData, ControlError>) {
        let own = self.nodes.own();
        match origin {
            Origin::Client(t) => self.reply_to_client(t, reqid, own, result),
            Origin::Peer(pnn) => {
                let reply = Packet::Reply(ControlReply { reqid, src: own, result });
                if !self.send_to_peer(pnn, &reply) {
                    debug!("Reply to node {pnn} dropped: no connection");
                }
            }
        }
    }

    fn forward(&mut self, token: Token, req: ControlRequest) {
        let own = self.nodes.own();
        let dest = req.dest;
        let name = req.control.name();
        let status = match self.nodes.flags(dest) {
            None => Some(ControlError::new(ENOENT, format!("Node {dest} does not exist"))),
            Some(f) if f.intersects(NodeFlags::DISCONNECTED | NodeFlags::DELETED) => {
                Some(ControlError::new(ENOTCONN, format!("Node {dest} has status {f}")))
            }
            Some(_) => None,
        };
        if let Some(err) = status {
            self.reply_to_client(token, req.reqid, own, Err(err));
            return;
        }
        if matches!(req.control, Control::TakeoverIp { .. }) {
            self.takeover_forwarded(dest);
        }
        let id = self.next_forward;
        self.next_forward = self.next_forward.wrapping_add(1).max(1);
        let packet = Packet::Control(ControlRequest { reqid: id, src: own, dest, control: req.control });
        if !self.send_to_peer(dest, &packet) {
            let err = ControlError::new(ENOTCONN, format!("Node {dest} is not connected"));
            self.reply_to_client(token, req.reqid, own, Err(err));
            return;
        }
        let timeout = self.tunables.duration(Tunable::ControlTimeout);
        self.forwards.insert(
            id,
            Forward { client: token, client_reqid: req.reqid, dest, name, deadline: Instant::now() + timeout },
        );
    }

    fn route_message(&mut self, m: Message) {
        let own = self.nodes.own();
        let dest = if m.dest == Pnn::CURRENT { own } else { m.dest };
        if dest.is_node() {
            if dest == own {
                self.deliver_locally(&m);
            } else if !self.send_to_peer(dest, &Packet::Message(m)) {
                debug!("Message for node {dest} dropped: not connected");
            }
            return;
        }
        // Broadcast: ourselves, then every peer that matches.
        let targets: Vec<Pnn> = self
            .peers
            .keys()
            .copied()
            .filter(|p| {
                let f = self.nodes.flags(*p).unwrap_or(NodeFlags::DELETED);
                match dest {
                    Pnn::BROADCAST_ACTIVE => !f.is_inactive(),
                    _ => !f.contains(NodeFlags::DISCONNECTED),
                }
            })
            .collect();
        self.deliver_locally(&m);
        let packet = Packet::Message(m);
        for p in targets {
            self.send_to_peer(p, &packet);
        }
    }

    fn deliver_locally(&mut self, m: &Message) {
        if self.on_safety_message(m) {
            return;
        }
        if m.srvid == srvid::NODE_FLAGS {
            self.on_node_flags(m);
            return;
        }
        if m.srvid == srvid::TICKLE_LIST {
            self.on_tickle_list(m);
            return;
        }
        if m.srvid == srvid::LEADER {
            if let Ok(b) = <[u8; 4]>::try_from(m.data.as_slice()) {
                self.leader = Pnn(u32::from_le_bytes(b));
                self.leader_heard = Instant::now();
            }
        }
        let Some(clients) = self.srvids.get(&m.srvid) else {
            return;
        };
        let clients: Vec<Token> = clients.iter().copied().collect();
        let packet = Packet::Message(m.clone());
        for t in clients {
            self.send(t, &packet);
        }
    }

    // ---- controls -------------------------------------------------------

    /// Execute a control. `None` means the reply comes later (an event
    /// that runs scripts).
    fn execute(&mut self, control: Control, origin: Origin, reqid: u32) -> Option<Result<ReplyData, ControlError>> {
        match control {
            Control::RunEvent { event, args, timeout_ms } => {
                if let Err(e) = self.check_event(event, &args) {
                    return Some(Err(e));
                }
                let timeout = timeout_ms.map(Duration::from_millis);
                self.submit_event(event, args, timeout, Waiter::Control { origin, reqid });
                None
            }
            c @ (Control::GetPublicIps
            | Control::GetPublicIpInfo(_)
            | Control::GetIfaces
            | Control::SetIfaceLink { .. }
            | Control::TakeoverIp { .. }
            | Control::ReleaseIp { .. }
            | Control::AddPublicIp { .. }
            | Control::DelPublicIp(_)
            | Control::SendGratArp { .. }
            | Control::ReloadPublicIps
            | Control::IpReallocated
            | Control::StartIpReallocate) => self.ip_control(c, origin, reqid),
            other => Some(self.execute_now(other, origin)),
        }
    }

    fn execute_now(&mut self, control: Control, origin: Origin) -> Result<ReplyData, ControlError> {
        match control {
            Control::Ping => {
                let n = self.conns.values().filter(|c| c.kind == ConnKind::Client).count();
                Ok(ReplyData::Ping { num_clients: n as u32 })
            }
            Control::GetPnn => Ok(ReplyData::Pnn(self.nodes.own())),
            Control::GetNodeMap => Ok(ReplyData::NodeMap(self.nodes.node_map())),
            Control::GetVnnMap => Ok(ReplyData::VnnMap(self.vnnmap.clone())),
            Control::GetRecMode => Ok(ReplyData::RecMode(self.recmode)),
            Control::GetUptime => Ok(ReplyData::Uptime(Uptime {
                current_time_us: micros(SystemTime::now()),
                start_time_us: micros(self.start_wall),
                last_recovery_started_us: self.recovery_started_us,
                last_recovery_finished_us: self.recovery_finished_us,
            })),
            Control::GetRunState => Ok(ReplyData::RunState(self.runstate)),
            Control::GetPid => Ok(ReplyData::Pid(std::process::id())),
            Control::GetDebug => Ok(ReplyData::DebugLevel(logging::current())),
            Control::SetDebug(level) => {
                logging::set_level(level);
                info!("Debug level set to {level}");
                Ok(ReplyData::None)
            }
            Control::ListTunables => Ok(ReplyData::Tunables(
                self.tunables.list().into_iter().map(|(t, v)| (t.name().to_string(), v)).collect(),
            )),
            Control::GetTunable(name) => match Tunable::from_name(&name) {
                Some(t) => Ok(ReplyData::Tunable(self.tunables.raw(t))),
                None => Err(ControlError::new(ENOENT, format!("No such tunable {name}"))),
            },
            Control::SetTunable { name, value } => match self.tunables.set(&name, &value) {
                Ok(t) => {
                    info!("Tunable {} set to {}", t.name(), rctdb_config::format_tunable(t, self.tunables.raw(t)));
                    Ok(ReplyData::None)
                }
                Err(e) => Err(ControlError::new(EINVAL, e.to_string())),
            },
            Control::ReloadNodesFile => self.reload_nodes(),
            Control::GetNodesFile => match Nodes::load(&self.paths.nodes_file()) {
                Ok(n) => Ok(ReplyData::NodeMap(n.to_node_map())),
                Err(e) => Err(ControlError::new(EIO, e.to_string())),
            },
            Control::Shutdown => {
                info!("Shutdown requested by {}", origin_label(origin));
                self.begin_shutdown();
                Ok(ReplyData::None)
            }
            Control::RegisterSrvid(id) => match origin {
                Origin::Client(t) => {
                    self.srvids.entry(id).or_default().insert(t);
                    Ok(ReplyData::None)
                }
                Origin::Peer(_) => Err(ControlError::new(EINVAL, "srvids are registered by local clients only")),
            },
            Control::DeregisterSrvid(id) => match origin {
                Origin::Client(t) => {
                    if let Some(s) = self.srvids.get_mut(&id) {
                        s.remove(&t);
                    }
                    Ok(ReplyData::None)
                }
                Origin::Peer(_) => Err(ControlError::new(EINVAL, "srvids are registered by local clients only")),
            },
            Control::GetLeader => Ok(ReplyData::Pnn(if self.leader_heard.elapsed() > self.leader_timeout {
                Pnn::UNKNOWN
            } else {
                self.leader
            })),
            Control::GetEventStatus(event) => match self.runner.status(event) {
                Some(run) => Ok(ReplyData::EventRun(run.clone())),
                None => Err(ControlError::new(EINVAL, format!("Event {event} has never run in legacy"))),
            },
            Control::SetRecMode(mode) => {
                if mode == RecMode::Normal && self.nodes.own_flags().is_inactive() {
                    return Err(ControlError::new(EINVAL, "Node is inactive: it stays in recovery mode"));
                }
                if mode != self.recmode {
                    info!("Recovery mode set to {}", if mode == RecMode::Active { "ACTIVE" } else { "NORMAL" });
                    match mode {
                        RecMode::Active => self.recovery_started_us = micros(SystemTime::now()),
                        RecMode::Normal => self.recovery_finished_us = micros(SystemTime::now()),
                    }
                }
                self.recmode = mode;
                Ok(ReplyData::None)
            }
            Control::SetVnnMap(map) => {
                info!("Updated VNN map: generation {} with {} nodes", map.generation.0, map.map.len());
                self.vnnmap = map;
                Ok(ReplyData::None)
            }
            Control::GetReclock => Ok(ReplyData::Reclock(self.cluster_lock.clone())),
            Control::GetSafety => self.safety(),
            Control::GetLeases => self.leases(),
            Control::SetBanState { seconds } => {
                self.set_ban(seconds);
                Ok(ReplyData::None)
            }
            Control::StopNode => {
                self.change_own_flag(NodeFlags::STOPPED, true);
                Ok(ReplyData::None)
            }
            Control::ContinueNode => {
                self.change_own_flag(NodeFlags::STOPPED, false);
                Ok(ReplyData::None)
            }
            Control::DisableNode => {
                self.change_own_flag(NodeFlags::PERMANENTLY_DISABLED, true);
                Ok(ReplyData::None)
            }
            Control::EnableNode => {
                self.change_own_flag(NodeFlags::PERMANENTLY_DISABLED, false);
                Ok(ReplyData::None)
            }
            // Handled in `execute`.
            Control::RunEvent { .. } => Err(ControlError::new(EINVAL, "RUN_EVENT cannot run synchronously")),
            other => Err(ControlError::new(EOPNOTSUPP, format!("{} is not supported by this rctdbd", other.name()))),
        }
    }

    fn reload_nodes(&mut self) -> Result<ReplyData, ControlError> {
        let nodes = Nodes::load(&self.paths.nodes_file()).map_err(|e| ControlError::new(EIO, e.to_string()))?;
        let plan = self.nodes.reload(&nodes).map_err(|e| ControlError::new(EINVAL, e))?;
        for pnn in &plan.removed {
            self.drop_peer_connections(*pnn);
            self.peers.remove(pnn);
            self.fail_forwards_to(*pnn);
            info!("Node {pnn} removed from the nodes list");
        }
        let now = Instant::now();
        for pnn in &plan.added {
            self.peers.insert(*pnn, Peer { retry_at: Some(now), ..Peer::default() });
            info!("Node {pnn} added to the nodes list ({})", self.peer_label(*pnn));
        }
        if plan.added.is_empty() && plan.removed.is_empty() {
            info!("Reloaded nodes file: no change");
        }
        Ok(ReplyData::None)
    }
}

fn origin_label(o: Origin) -> String {
    match o {
        Origin::Client(t) => format!("client {}", t.0),
        Origin::Peer(p) => format!("node {p}"),
    }
}

/// An IPv4 peer may show up as `::ffff:a.b.c.d` on a dual-stack socket.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

// ---- event scripts, health, start-up and shutdown ---------------------------

/// The runner's window on the process world: spawning with the script
/// environment, the output pipes, process-group signals.
struct Host<'a> {
    registry: &'a mio::Registry,
    pipes: &'a mut HashMap<Token, ScriptPipe>,
    next_token: &'a mut usize,
    events_dir: &'a Path,
    env: &'a [(String, String)],
    log_level: log::Level,
}

impl ScriptHost for Host<'_> {
    fn scripts(&mut self) -> Vec<ScriptEntry> {
        match events::list_scripts(self.events_dir) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                error!("Cannot list event scripts in {}: {e}", self.events_dir.display());
                Vec::new()
            }
        }
    }

    fn spawn(&mut self, script: &ScriptEntry, event: Event, args: &[String]) -> io::Result<i32> {
        use std::os::unix::process::CommandExt;
        let (tx, mut rx) = mio::unix::pipe::new()?;
        tx.set_nonblocking(false)?;
        let tx: std::os::fd::OwnedFd = tx.into();
        let tx2 = tx.try_clone()?;
        let child = std::process::Command::new(&script.path)
            .arg0(&script.name)
            .arg(event.name())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(tx))
            .stderr(std::process::Stdio::from(tx2))
            .process_group(0)
            .spawn()?;
        let pid = child.id() as i32;
        // The child is reaped by our waitpid loop, not through `child`.
        drop(child);
        let token = Token(*self.next_token);
        *self.next_token += 1;
        self.registry.register(&mut rx, token, Interest::READABLE)?;
        self.pipes.insert(token, ScriptPipe { pid, rx });
        trace!("Started {} {} (pid {pid})", script.name, event);
        Ok(pid)
    }

    fn kill_group(&mut self, pgid: i32, signal: KillSignal) {
        use nix::sys::signal::{killpg, Signal};
        let sig = match signal {
            KillSignal::Term => Signal::SIGTERM,
            KillSignal::Kill => Signal::SIGKILL,
        };
        let _ = killpg(nix::unistd::Pid::from_raw(pgid), sig);
    }

    fn log_output(&mut self, name: &str, pid: i32, output: &str) {
        let target = format!("{name}[{pid}]");
        for line in output.lines() {
            log::log!(target: &target, self.log_level, "{line}");
        }
    }
}

impl Daemon {
    fn host(&mut self) -> (&mut Runner, Host<'_>) {
        let host = Host {
            registry: self.poll.registry(),
            pipes: &mut self.pipes,
            next_token: &mut self.next_token,
            events_dir: &self.events_dir,
            env: &self.script_env,
            log_level: self.script_log_level,
        };
        (&mut self.runner, host)
    }

    /// Argument count and the recovery-mode rule (reference §5.3).
    fn check_event(&self, event: Event, args: &[String]) -> Result<(), ControlError> {
        if args.len() != event.arg_count() {
            let usage = match event {
                Event::TakeIp | Event::ReleaseIp => " (IFACE IP MASKBITS)",
                Event::UpdateIp => " (OLD-IFACE NEW-IFACE IP MASKBITS)",
                _ => "",
            };
            return Err(ControlError::new(
                EINVAL,
                format!("Event {event} takes {} arguments{usage}, got {}", event.arg_count(), args.len()),
            ));
        }
        if self.recmode == RecMode::Active && !event.allowed_in_recovery() {
            return Err(ControlError::new(EBUSY, format!("Refusing to run event '{event}' while in recovery")));
        }
        Ok(())
    }

    fn submit_event(&mut self, event: Event, args: Vec<String>, timeout: Option<Duration>, waiter: Waiter) {
        let id = self.next_request;
        self.next_request += 1;
        self.waiters.insert(id, waiter);
        let timeout = timeout.unwrap_or_else(|| self.tunables.duration(Tunable::EventScriptTimeout));
        let now = Instant::now();
        let (runner, mut host) = self.host();
        let done = runner.submit(now, Request { id, event, args, timeout }, &mut host);
        self.on_completions(done);
    }

    fn read_pipe(&mut self, token: Token) {
        let mut buf = [0u8; 16 * 1024];
        let mut eof = false;
        let Some(pipe) = self.pipes.get_mut(&token) else { return };
        let pid = pipe.pid;
        loop {
            match pipe.rx.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => self.runner.output(pid, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        if eof {
            self.close_pipe(token);
        }
    }

    fn close_pipe(&mut self, token: Token) {
        if let Some(mut pipe) = self.pipes.remove(&token) {
            let _ = self.poll.registry().deregister(&mut pipe.rx);
        }
    }

    /// SIGCHLD: reap every exited child (we are a subreaper, so orphans of
    /// scripts come here too) and tell the runner about its scripts.
    fn reap_children(&mut self) {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        let mut buf = [0u8; 64];
        while matches!(self.sigchld.read(&mut buf), Ok(n) if n > 0) {}
        loop {
            let (pid, exit) = match waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), Exit::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid.as_raw(), Exit::Signal(sig as i32)),
                Ok(WaitStatus::StillAlive) => return,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            };
            // Collect the last of its output before recording the result.
            if let Some(token) = self.pipes.iter().find(|(_, p)| p.pid == pid).map(|(t, _)| *t) {
                self.read_pipe(token);
                self.close_pipe(token);
            }
            let now = Instant::now();
            let (runner, mut host) = self.host();
            let (ours, done) = runner.exited(now, pid, exit, &mut host);
            let recoverd = self.supervisor.as_mut().is_some_and(|s| s.reaped(pid, now, &format!("exited ({exit:?})")));
            if !ours && !recoverd {
                trace!("Reaped orphan process {pid} ({exit:?})");
            }
            self.on_completions(done);
        }
    }

    fn on_completions(&mut self, done: Vec<Completion>) {
        for c in done {
            let Some(waiter) = self.waiters.remove(&c.id) else { continue };
            if let Outcome::Done(run) = &c.outcome {
                log_event_result(run);
                // The first completed recovery moves us on to `startup`.
                if run.event == Event::Recovered && run.failure().is_none() && self.runstate == RunState::FirstRecovery
                {
                    self.runstate = RunState::Startup;
                    info!("First recovery done: running startup");
                    self.submit_event(Event::Startup, vec![], None, Waiter::Startup);
                }
            }
            match waiter {
                Waiter::Control { origin, reqid } => {
                    let result = match c.outcome {
                        Outcome::Done(run) => Ok(ReplyData::EventRun(run)),
                        Outcome::Cancelled => {
                            Err(ControlError::new(ECANCELED, format!("Event {} in legacy got cancelled", c.event)))
                        }
                    };
                    self.send_reply(origin, reqid, result);
                }
                Waiter::Init | Waiter::Setup => {
                    let failed = match &c.outcome {
                        Outcome::Done(run) => run.failure().is_some(),
                        Outcome::Cancelled => true,
                    };
                    if failed {
                        error!("Failed to run {} event: exiting", c.event);
                        self.exit_failure = true;
                        self.stopping = true;
                    } else if matches!(waiter, Waiter::Init) {
                        self.runstate = RunState::Setup;
                        self.submit_event(Event::Setup, vec![], None, Waiter::Setup);
                    } else if let Some(sup) = self.supervisor.as_mut() {
                        // Wait for the first recovery before `startup`.
                        self.runstate = RunState::FirstRecovery;
                        sup.start_soon(Instant::now());
                    } else {
                        self.runstate = RunState::Startup;
                        self.recmode = RecMode::Normal;
                        self.submit_event(Event::Startup, vec![], None, Waiter::Startup);
                    }
                }
                Waiter::Startup => match &c.outcome {
                    Outcome::Done(run) if run.failure().is_none() => {
                        if self.runstate == RunState::Startup {
                            self.runstate = RunState::Running;
                            info!("startup event OK - runstate RUNNING");
                            self.monitor.start(Instant::now());
                        }
                    }
                    _ => {
                        if self.runstate == RunState::Startup {
                            error!("startup event failed: retrying in {}s", STARTUP_RETRY.as_secs());
                            self.startup_retry_at = Some(Instant::now() + STARTUP_RETRY);
                        }
                    }
                },
                Waiter::Monitor => {
                    let result = match &c.outcome {
                        Outcome::Cancelled => {
                            info!("Monitoring event was cancelled");
                            MonitorResult::Cancelled
                        }
                        Outcome::Done(run) => match run.failure().map(|s| &s.status) {
                            None => MonitorResult::Passed,
                            Some(ScriptStatus::TimedOut) => MonitorResult::TimedOut,
                            Some(_) => MonitorResult::Failed,
                        },
                    };
                    let limit = self.tunables.count(Tunable::MonitorTimeoutCount) as u32;
                    let interval = self.tunables.duration(Tunable::MonitorInterval);
                    for change in self.monitor.on_result(Instant::now(), result, limit, interval) {
                        self.apply_health(change);
                    }
                }
                Waiter::Shutdown => self.stopping = true,
                Waiter::Ip(job) => {
                    let run = match &c.outcome {
                        Outcome::Done(run) => Some(run),
                        Outcome::Cancelled => None,
                    };
                    self.ip_event_done(job, run);
                }
            }
        }
    }

    fn apply_health(&mut self, change: HealthChange) {
        let mut flags = self.nodes.own_flags();
        match change {
            HealthChange::TimeoutLimitReached => {
                error!(
                    "Maximum monitor timeout count {} reached. Making node unhealthy",
                    self.tunables.count(Tunable::MonitorTimeoutCount)
                );
                return;
            }
            HealthChange::BecameUnhealthy => {
                error!("monitor event failed - disabling node");
                flags.insert(NodeFlags::UNHEALTHY);
            }
            HealthChange::BecameHealthy => {
                info!("monitor event OK - node re-enabled");
                flags.remove(NodeFlags::UNHEALTHY);
            }
        }
        self.set_own_flags(flags);
    }

    fn set_own_flags(&mut self, flags: NodeFlags) {
        let old = self.nodes.own_flags();
        if self.nodes.set_own_flags(flags) {
            info!("Node flags changed {old} -> {}", self.nodes.own_flags());
            let m = self.own_flags_message(Pnn::BROADCAST_CONNECTED);
            self.route_message(m);
            self.notify_node_map_changed();
        }
    }

    /// Tell local clients (the recovery daemon) that the node map, flags
    /// or interfaces changed, so the leader reacts at once rather than at
    /// its next pass.
    fn notify_node_map_changed(&mut self) {
        let m =
            Message { srvid: srvid::NODE_MAP_CHANGED, src: self.nodes.own(), dest: self.nodes.own(), data: Vec::new() };
        self.deliver_locally(&m);
    }

    /// Our own flags, as a NODE_FLAGS message to `dest`.
    fn own_flags_message(&self, dest: Pnn) -> Message {
        let own = self.nodes.own();
        let mut data = own.0.to_le_bytes().to_vec();
        data.extend_from_slice(&self.nodes.own_flags().0.to_le_bytes());
        Message { srvid: srvid::NODE_FLAGS, src: own, dest, data }
    }

    fn on_node_flags(&mut self, m: &Message) {
        let Ok(b) = <[u8; 8]>::try_from(m.data.as_slice()) else {
            warn!("Malformed node flags message from node {}", m.src);
            return;
        };
        let pnn = Pnn(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let flags = NodeFlags(u32::from_le_bytes([b[4], b[5], b[6], b[7]]));
        if pnn == self.nodes.own() {
            return;
        }
        if let Some(old) = self.nodes.set_peer_flags(pnn, flags) {
            info!("Node {pnn} has changed flags - {old} -> {}", self.nodes.flags(pnn).unwrap_or_default());
            self.notify_node_map_changed();
        }
    }

    fn begin_shutdown(&mut self) {
        if self.runstate == RunState::Shutdown {
            return;
        }
        info!("Shutdown sequence commencing.");
        self.runstate = RunState::Shutdown;
        if let Some(sup) = self.supervisor.as_mut() {
            sup.stop();
        }
        self.startup_retry_at = None;
        // Give our addresses up first (the runner is serial: the releases
        // run before the shutdown event), then say goodbye.
        self.release_all_ips();
        self.maybe_goodbye();
        self.submit_event(Event::Shutdown, vec![], None, Waiter::Shutdown);
    }

    /// Change one of our own flags and what goes with it: stopping or
    /// being banned takes the node out of the cluster (recovery mode
    /// ACTIVE) until the leader recovers it back in.
    fn change_own_flag(&mut self, flag: NodeFlags, on: bool) {
        let mut flags = self.nodes.own_flags();
        if on {
            flags.insert(flag);
        } else {
            flags.remove(flag);
        }
        self.set_own_flags(flags);
        if self.nodes.own_flags().is_inactive() && self.recmode != RecMode::Active {
            info!("Node is inactive: recovery mode set to ACTIVE");
            self.recmode = RecMode::Active;
            self.recovery_started_us = micros(SystemTime::now());
            self.release_all_ips();
        }
    }

    fn set_ban(&mut self, seconds: u32) {
        if seconds == 0 {
            if self.ban_until.take().is_some() || self.nodes.own_flags().contains(NodeFlags::BANNED) {
                info!("Unbanning this node");
            }
            self.change_own_flag(NodeFlags::BANNED, false);
            return;
        }
        if self.tunables.count(Tunable::EnableBans) == 0 {
            info!("Bans are disabled (EnableBans=0): ignoring a ban of {seconds} s");
            return;
        }
        warn!("Banning this node for {seconds} seconds");
        self.ban_until = Some(Instant::now() + Duration::from_secs(seconds as u64));
        self.change_own_flag(NodeFlags::BANNED, true);
    }

    /// Timers of the event machinery, called from `run_timers`.
    fn event_timers(&mut self, now: Instant) {
        if self.ban_until.is_some_and(|t| now >= t) {
            self.ban_until = None;
            info!("Banning timed out");
            self.change_own_flag(NodeFlags::BANNED, false);
        }
        if let Some(sup) = self.supervisor.as_mut() {
            sup.tick(now);
        }
        self.garp_timers(now);
        self.tickle_timers(now);
        if !self.publicips.is_empty() {
            self.lease_timers(now);
        }
        let (runner, mut host) = self.host();
        let done = runner.tick(now, &mut host);
        self.on_completions(done);
        if self.startup_retry_at.is_some_and(|t| now >= t) {
            self.startup_retry_at = None;
            self.submit_event(Event::Startup, vec![], None, Waiter::Startup);
        }
        let can_run = self.recmode == RecMode::Normal
            && !self.nodes.own_flags().is_inactive()
            && self.runstate == RunState::Running;
        let interval = self.tunables.duration(Tunable::MonitorInterval);
        if self.monitor.due(now, can_run, interval) {
            self.submit_event(Event::Monitor, vec![], None, Waiter::Monitor);
        }
    }
}

fn log_event_result(run: &EventRun) {
    match run.failure() {
        None => trace!("{} event completed", run.event),
        Some(s) if s.status == ScriptStatus::TimedOut => {
            error!("{} event timed out in script {}", run.event, s.name)
        }
        Some(s) => info!("{} event failed: script {} {}", run.event, s.name, status_text(&s.status)),
    }
}

fn status_text(s: &ScriptStatus) -> String {
    match s {
        ScriptStatus::Error { code } => format!("exited with status {code}"),
        ScriptStatus::Signaled { signal } => format!("was killed by signal {signal}"),
        ScriptStatus::CannotRun { reason } => format!("could not run: {reason}"),
        other => other.word().to_string(),
    }
}

//! Blocking client for the rctdbd control socket.
//!
//! Used by the `rctdb` tool, the recovery daemon and the tests. One
//! [`Client`] is one connection; calls are synchronous with a timeout.
//! Messages for srvids this client registered may arrive between replies:
//! they are queued and handed out by [`Client::recv_message`].
#![forbid(unsafe_code)]

use rctdb_protocol::{
    encode, Control, ControlError, ControlRequest, DebugLevel, Event, EventRun, FrameBuffer, FrameError, Message,
    NodeMap, Packet, Pnn, PublicIpList, RecMode, ReplyData, RunState, Uptime, VnnMap,
};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Default per-call timeout, as the `ctdb` tool's `-t`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What can go wrong talking to rctdbd.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Failed to connect to rctdbd ({}): {source}", path.display())]
    Connect { path: PathBuf, source: io::Error },
    #[error("control socket: {0}")]
    Io(#[from] io::Error),
    #[error("control socket: {0}")]
    Frame(#[from] FrameError),
    #[error("rctdbd closed the connection")]
    Closed,
    #[error("Control {control} timed out")]
    Timeout { control: &'static str },
    #[error("{err}")]
    Control { control: &'static str, err: ControlError },
    #[error("Control {control} got an unexpected reply")]
    Unexpected { control: &'static str },
}

impl ClientError {
    /// The errno-style code of a failed control, if this is one.
    pub fn code(&self) -> Option<i32> {
        match self {
            ClientError::Control { err, .. } => Some(err.code),
            _ => None,
        }
    }
}

/// Where the daemon's socket is: `$RCTDB_SOCKET`, else
/// `$RCTDB_RUNDIR/rctdbd.socket`, else `/run/rctdb/rctdbd.socket`.
pub fn default_socket_path() -> PathBuf {
    if let Some(s) = std::env::var_os("RCTDB_SOCKET") {
        return PathBuf::from(s);
    }
    let rundir = std::env::var_os("RCTDB_RUNDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/run/rctdb"));
    rundir.join("rctdbd.socket")
}

/// One connection to rctdbd.
pub struct Client {
    stream: UnixStream,
    frames: FrameBuffer,
    next_reqid: u32,
    timeout: Duration,
    messages: VecDeque<Message>,
}

impl Client {
    /// Connect to the daemon listening on `path`.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream =
            UnixStream::connect(path).map_err(|source| ClientError::Connect { path: path.to_path_buf(), source })?;
        Ok(Client {
            stream,
            frames: FrameBuffer::new(),
            next_reqid: 1,
            timeout: DEFAULT_TIMEOUT,
            messages: VecDeque::new(),
        })
    }

    /// Per-call timeout for later calls.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Run `control` on node `dest` (or [`Pnn::CURRENT`]) and wait for its reply.
    pub fn control(&mut self, dest: Pnn, control: Control) -> Result<ReplyData, ClientError> {
        let name = control.name();
        let reqid = self.next_reqid;
        self.next_reqid = self.next_reqid.wrapping_add(1).max(1);
        let req = Packet::Control(ControlRequest { reqid, src: Pnn::UNKNOWN, dest, control });
        self.stream.write_all(&encode(&req))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.next_packet(deadline)? {
                None => return Err(ClientError::Timeout { control: name }),
                Some(Packet::Reply(r)) if r.reqid == reqid => {
                    return r.result.map_err(|err| ClientError::Control { control: name, err });
                }
                Some(Packet::Message(m)) => self.messages.push_back(m),
                Some(_) => {}
            }
        }
    }

    /// Send a control without waiting; collect the reply with
    /// [`Client::wait_replies`]. Many controls to many nodes can be in
    /// flight at once (rctdbd runs each node's share in order).
    pub fn send_control(&mut self, dest: Pnn, control: Control) -> Result<u32, ClientError> {
        let reqid = self.next_reqid;
        self.next_reqid = self.next_reqid.wrapping_add(1).max(1);
        let req = Packet::Control(ControlRequest { reqid, src: Pnn::UNKNOWN, dest, control });
        self.stream.write_all(&encode(&req))?;
        Ok(reqid)
    }

    /// Wait until every control in `reqids` has replied or `timeout`
    /// passes. Controls without a reply by then are missing from the map.
    pub fn wait_replies(
        &mut self,
        reqids: &[u32],
        timeout: Duration,
    ) -> Result<std::collections::HashMap<u32, Result<ReplyData, ControlError>>, ClientError> {
        let wanted: std::collections::HashSet<u32> = reqids.iter().copied().collect();
        let mut out = std::collections::HashMap::new();
        let deadline = Instant::now() + timeout;
        while out.len() < wanted.len() {
            match self.next_packet(deadline)? {
                None => break,
                Some(Packet::Reply(r)) if wanted.contains(&r.reqid) => {
                    out.insert(r.reqid, r.result);
                }
                Some(Packet::Message(m)) => self.messages.push_back(m),
                Some(_) => {}
            }
        }
        Ok(out)
    }

    /// Send a one-way message through the daemon.
    pub fn send_message(&mut self, dest: Pnn, srvid: u64, data: Vec<u8>) -> Result<(), ClientError> {
        let m = Packet::Message(Message { srvid, src: Pnn::UNKNOWN, dest, data });
        self.stream.write_all(&encode(&m))?;
        Ok(())
    }

    /// The next message for a registered srvid, waiting at most `timeout`.
    pub fn recv_message(&mut self, timeout: Duration) -> Result<Option<Message>, ClientError> {
        if let Some(m) = self.messages.pop_front() {
            return Ok(Some(m));
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_packet(deadline)? {
                None => return Ok(None),
                Some(Packet::Message(m)) => return Ok(Some(m)),
                Some(_) => {}
            }
        }
    }

    /// Messages that have already arrived, without waiting. For callers
    /// that poll the socket themselves (see [`Client::fd`]).
    pub fn poll_messages(&mut self) -> Result<Vec<Message>, ClientError> {
        let mut buf = [0u8; 16 * 1024];
        self.stream.set_nonblocking(true)?;
        let read = loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break Err(ClientError::Closed),
                Ok(n) => self.frames.extend(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e.into()),
            }
        };
        self.stream.set_nonblocking(false)?;
        let mut out: Vec<Message> = self.messages.drain(..).collect();
        while let Some(p) = self.frames.next_packet()? {
            if let Packet::Message(m) = p {
                out.push(m);
            }
        }
        read.map(|()| out)
    }

    /// Take the already-received messages for `srvid` out of the queue,
    /// without reading the socket: for a caller that is waiting for
    /// replies ([`Client::wait_replies`] queues messages) and must answer
    /// some messages meanwhile.
    pub fn take_messages(&mut self, srvid: u64) -> Vec<Message> {
        let (take, keep) = std::mem::take(&mut self.messages).into_iter().partition(|m| m.srvid == srvid);
        self.messages = keep;
        take.into()
    }

    /// Are messages already received and waiting? The socket will not
    /// become readable for them again: a caller polling [`Client::fd`]
    /// must call [`Client::poll_messages`] when this is true. Call it
    /// only with no control outstanding: replies already read are dropped.
    pub fn has_messages(&mut self) -> bool {
        let _ = self.queue_buffered();
        !self.messages.is_empty()
    }

    /// Move the complete packets already read into the message queue
    /// (other packets are stale replies: dropped, as `poll_messages` does).
    fn queue_buffered(&mut self) -> Result<(), ClientError> {
        while let Some(p) = self.frames.next_packet()? {
            if let Packet::Message(m) = p {
                self.messages.push_back(m);
            }
        }
        Ok(())
    }

    /// The socket, for registering with a poller: readable means
    /// [`Client::poll_messages`] has something to return.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.stream.as_fd()
    }

    /// Next packet from the daemon, or `None` at the deadline.
    fn next_packet(&mut self, deadline: Instant) -> Result<Option<Packet>, ClientError> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some(p) = self.frames.next_packet()? {
                return Ok(Some(p));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.stream.set_read_timeout(Some(deadline - now))?;
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => self.frames.extend(&buf[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Typed wrappers: one per control, checking the reply's shape.
macro_rules! typed {
    ($(#[$doc:meta])* $fn:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty, $control:expr, $pat:pat => $val:expr) => {
        $(#[$doc])*
        pub fn $fn(&mut self, dest: Pnn $(, $arg: $ty)*) -> Result<$ret, ClientError> {
            let control = $control;
            let name = control.name();
            match self.control(dest, control)? {
                $pat => Ok($val),
                _ => Err(ClientError::Unexpected { control: name }),
            }
        }
    };
}

impl Client {
    typed!(/// Number of clients connected to the node.
        ping() -> u32, Control::Ping, ReplyData::Ping { num_clients } => num_clients);
    typed!(/// The node's PNN.
        pnn() -> Pnn, Control::GetPnn, ReplyData::Pnn(p) => p);
    typed!(/// The cluster as the node sees it.
        nodemap() -> NodeMap, Control::GetNodeMap, ReplyData::NodeMap(m) => m);
    typed!(/// The node's VNN map.
        vnnmap() -> VnnMap, Control::GetVnnMap, ReplyData::VnnMap(m) => m);
    typed!(/// The node's recovery mode.
        recmode() -> RecMode, Control::GetRecMode, ReplyData::RecMode(m) => m);
    typed!(/// Start and recovery times.
        uptime() -> Uptime, Control::GetUptime, ReplyData::Uptime(u) => u);
    typed!(/// The node's run state.
        runstate() -> RunState, Control::GetRunState, ReplyData::RunState(r) => r);
    typed!(/// rctdbd's process id.
        pid() -> u32, Control::GetPid, ReplyData::Pid(p) => p);
    typed!(/// Current log level.
        debug_level() -> DebugLevel, Control::GetDebug, ReplyData::DebugLevel(l) => l);
    typed!(/// Change the log level.
        set_debug_level(level: DebugLevel) -> (), Control::SetDebug(level), ReplyData::None => ());
    typed!(/// Every live tunable, `(name, raw value)`.
        tunables() -> Vec<(String, u64)>, Control::ListTunables, ReplyData::Tunables(t) => t);
    typed!(/// One tunable's raw value.
        tunable(name: &str) -> u64, Control::GetTunable(name.to_string()), ReplyData::Tunable(v) => v);
    typed!(/// Set one tunable from its text form.
        set_tunable(name: &str, value: &str) -> (),
        Control::SetTunable { name: name.to_string(), value: value.to_string() }, ReplyData::None => ());
    typed!(/// Apply the node's edited `nodes` file.
        reload_nodes() -> (), Control::ReloadNodesFile, ReplyData::None => ());
    typed!(/// The node's `nodes` file as a node map.
        nodes_file() -> NodeMap, Control::GetNodesFile, ReplyData::NodeMap(m) => m);
    typed!(/// Ask the node to shut down.
        shutdown() -> (), Control::Shutdown, ReplyData::None => ());
    typed!(/// The leader the node last heard of.
        leader() -> Pnn, Control::GetLeader, ReplyData::Pnn(p) => p);
    typed!(/// Receive messages for `srvid` on this connection.
        register_srvid(srvid: u64) -> (), Control::RegisterSrvid(srvid), ReplyData::None => ());
    typed!(/// The configured cluster lock, if any.
        reclock() -> Option<String>, Control::GetReclock, ReplyData::Reclock(r) => r);
    typed!(/// Set a node's recovery mode.
        set_recmode(mode: RecMode) -> (), Control::SetRecMode(mode), ReplyData::None => ());
    typed!(/// Install a VNN map on a node.
        set_vnnmap(map: VnnMap) -> (), Control::SetVnnMap(map), ReplyData::None => ());
    typed!(/// Ban a node for `seconds` (0 lifts the ban).
        set_ban(seconds: u32) -> (), Control::SetBanState { seconds }, ReplyData::None => ());
    typed!(/// A node's public addresses.
        public_ips() -> PublicIpList, Control::GetPublicIps, ReplyData::PublicIps(l) => l);
    typed!(/// The node's split-brain state: lease, held-back addresses, stuck.
        safety() -> rctdb_protocol::Safety, Control::GetSafety, ReplyData::Safety(s) => s);
    typed!(/// Run an event on a node and wait for it.
        run_event(event: Event, args: Vec<String>, timeout_ms: Option<u64>) -> EventRun,
        Control::RunEvent { event, args, timeout_ms }, ReplyData::EventRun(r) => r);
}

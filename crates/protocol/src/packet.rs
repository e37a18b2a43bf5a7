//! Packets: keepalives, controls with their replies, and srvid messages.
//!
//! Append-only: new variants go at the end of each enum (postcard encodes
//! the variant by position).

use crate::types::{DebugLevel, Event, EventRun, NodeMap, Pnn, RecMode, RunState, Uptime, VnnMap};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Everything that travels in a frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Packet {
    /// Node transport only: liveness, sent every `KeepaliveInterval`.
    Keepalive(Keepalive),
    /// A request for the daemon addressed by `dest`.
    Control(ControlRequest),
    /// The answer to a [`ControlRequest`] with the same `reqid`.
    Reply(ControlReply),
    /// A one-way message to whoever registered `srvid` on the destination.
    Message(Message),
}

/// Keepalive payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keepalive {
    /// Sender's version, `major << 16 | minor`.
    pub version: u32,
    /// Milliseconds since the sender started.
    pub uptime_ms: u64,
}

/// A control: a remote procedure call on one daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlRequest {
    /// Chosen by the sender; echoed in the reply.
    pub reqid: u32,
    /// Sending node, or [`Pnn::UNKNOWN`] from a local client.
    pub src: Pnn,
    /// Node that must execute it, or [`Pnn::CURRENT`].
    pub dest: Pnn,
    pub control: Control,
}

/// The reply to a control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlReply {
    pub reqid: u32,
    /// Node that executed the control.
    pub src: Pnn,
    pub result: Result<ReplyData, ControlError>,
}

/// A failed control: an errno-style code and a message for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlError {
    pub code: i32,
    pub message: String,
}

impl ControlError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        ControlError { code, message: message.into() }
    }
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ControlError {}

/// One-way message addressed by service id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub srvid: u64,
    pub src: Pnn,
    /// A node, or one of the broadcast pseudo-nodes.
    pub dest: Pnn,
    pub data: Vec<u8>,
}

/// Controls understood by rctdbd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Control {
    /// Liveness; replies [`ReplyData::Ping`].
    Ping,
    /// Replies [`ReplyData::Pnn`].
    GetPnn,
    /// Replies [`ReplyData::NodeMap`] as this node sees the cluster.
    GetNodeMap,
    /// Replies [`ReplyData::VnnMap`].
    GetVnnMap,
    /// Replies [`ReplyData::RecMode`].
    GetRecMode,
    /// Replies [`ReplyData::Uptime`].
    GetUptime,
    /// Replies [`ReplyData::RunState`].
    GetRunState,
    /// Replies [`ReplyData::Pid`].
    GetPid,
    /// Replies [`ReplyData::DebugLevel`].
    GetDebug,
    /// Change the daemon's log level at run time.
    SetDebug(DebugLevel),
    /// Replies [`ReplyData::Tunables`]: every live tunable in listing order.
    ListTunables,
    /// Replies [`ReplyData::Tunable`]; the name is case-insensitive.
    GetTunable(String),
    /// Set a tunable on this node; the value is parsed by the daemon.
    SetTunable { name: String, value: String },
    /// Re-read the `nodes` file and apply additions and deletions.
    ReloadNodesFile,
    /// Replies [`ReplyData::NodeMap`] built from the `nodes` file on disk
    /// (flags only DELETED), so `reloadnodes` can compare nodes' files.
    GetNodesFile,
    /// Stop the daemon cleanly; replies before it goes.
    Shutdown,
    /// Deliver messages for this srvid to the calling client.
    RegisterSrvid(u64),
    /// Stop delivering messages for this srvid to the calling client.
    DeregisterSrvid(u64),
    /// Replies [`ReplyData::Pnn`]: the last leader this node heard of, or
    /// [`Pnn::UNKNOWN`].
    GetLeader,
    /// Run an event's scripts now; replies [`ReplyData::EventRun`] when
    /// the event completes. `timeout_ms` overrides `EventScriptTimeout`.
    RunEvent { event: Event, args: Vec<String>, timeout_ms: Option<u64> },
    /// Replies [`ReplyData::EventRun`]: the last completed run of an event.
    GetEventStatus(Event),
    /// Set this node's recovery mode.
    SetRecMode(RecMode),
    /// Install a new VNN map (and its generation) on this node.
    SetVnnMap(VnnMap),
    /// Replies [`ReplyData::Reclock`]: the configured cluster lock.
    GetReclock,
    /// Ban this node for that many seconds; 0 lifts a ban.
    SetBanState { seconds: u32 },
    /// Stop this node (STOPPED: out of the cluster until CONTINUE).
    StopNode,
    /// Clear STOPPED.
    ContinueNode,
    /// Set PERMANENTLY_DISABLED: may not host public addresses.
    DisableNode,
    /// Clear PERMANENTLY_DISABLED.
    EnableNode,
    /// Replies [`ReplyData::PublicIps`]: this node's public addresses with
    /// the owner it believes each has, and those it can host now.
    GetPublicIps,
    /// Replies [`ReplyData::PublicIpInfo`] for one address.
    GetPublicIpInfo(IpAddr),
    /// Replies [`ReplyData::Ifaces`].
    GetIfaces,
    /// Mark an interface's link up or down.
    SetIfaceLink { name: String, up: bool },
    /// Host `ip` (sent to its new owner, `owner`).
    TakeoverIp { ip: IpAddr, owner: Pnn },
    /// Stop hosting `ip`, which now belongs to `new_owner`; a node that
    /// does not hold it just records the new owner.
    ReleaseIp { ip: IpAddr, new_owner: Pnn },
    /// Add a public address to this node's list.
    AddPublicIp { ip: IpAddr, bits: u8, ifaces: Vec<String> },
    /// Remove a public address from this node's list.
    DelPublicIp(IpAddr),
    /// Send gratuitous ARPs (unsolicited NAs for IPv6) for `ip` on `iface`.
    SendGratArp { ip: IpAddr, iface: String },
    /// Re-read `public_addresses`: add new addresses, delete removed ones.
    ReloadPublicIps,
    /// End of a takeover run: run `ipreallocated`.
    IpReallocated,
    /// Start of a takeover run: run `startipreallocate`.
    StartIpReallocate,
    /// This node's split-brain state (lease, addresses held back, why
    /// the cluster has no leader); replies [`ReplyData::Safety`].
    GetSafety,
    /// What this node knows about every peer's lease and departure;
    /// replies [`ReplyData::Leases`]. Used by the leader.
    GetLeases,
}

impl Control {
    /// The control's name as printed in errors.
    pub fn name(&self) -> &'static str {
        match self {
            Control::Ping => "PING",
            Control::GetPnn => "GET_PNN",
            Control::GetNodeMap => "GET_NODEMAP",
            Control::GetVnnMap => "GETVNNMAP",
            Control::GetRecMode => "GET_RECMODE",
            Control::GetUptime => "UPTIME",
            Control::GetRunState => "GET_RUNSTATE",
            Control::GetPid => "GET_PID",
            Control::GetDebug => "GET_DEBUG",
            Control::SetDebug(_) => "SET_DEBUG",
            Control::ListTunables => "LIST_TUNABLES",
            Control::GetTunable(_) => "GET_TUNABLE",
            Control::SetTunable { .. } => "SET_TUNABLE",
            Control::ReloadNodesFile => "RELOAD_NODES_FILE",
            Control::GetNodesFile => "GET_NODES_FILE",
            Control::Shutdown => "SHUTDOWN",
            Control::RegisterSrvid(_) => "REGISTER_SRVID",
            Control::DeregisterSrvid(_) => "DEREGISTER_SRVID",
            Control::GetLeader => "GET_LEADER",
            Control::RunEvent { .. } => "RUN_EVENT",
            Control::GetEventStatus(_) => "GET_EVENT_STATUS",
            Control::SetRecMode(_) => "SET_RECMODE",
            Control::SetVnnMap(_) => "SETVNNMAP",
            Control::GetReclock => "GET_RECLOCK_FILE",
            Control::SetBanState { .. } => "SET_BAN_STATE",
            Control::StopNode => "STOP_NODE",
            Control::ContinueNode => "CONTINUE_NODE",
            Control::DisableNode => "DISABLE_NODE",
            Control::EnableNode => "ENABLE_NODE",
            Control::GetPublicIps => "GET_PUBLIC_IPS",
            Control::GetPublicIpInfo(_) => "GET_PUBLIC_IP_INFO",
            Control::GetIfaces => "GET_IFACES",
            Control::SetIfaceLink { .. } => "SET_IFACE_LINK_STATE",
            Control::TakeoverIp { .. } => "TAKEOVER_IP",
            Control::ReleaseIp { .. } => "RELEASE_IP",
            Control::AddPublicIp { .. } => "ADD_PUBLIC_IP",
            Control::DelPublicIp(_) => "DEL_PUBLIC_IP",
            Control::SendGratArp { .. } => "SEND_GRATUITOUS_ARP",
            Control::ReloadPublicIps => "RELOAD_PUBLIC_IPS",
            Control::IpReallocated => "IPREALLOCATED",
            Control::StartIpReallocate => "START_IPREALLOCATE",
            Control::GetSafety => "GET_SAFETY",
            Control::GetLeases => "GET_LEASES",
        }
    }
}

/// Successful control results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplyData {
    /// Done; nothing to return.
    None,
    Ping {
        num_clients: u32,
    },
    Pnn(Pnn),
    NodeMap(NodeMap),
    VnnMap(VnnMap),
    RecMode(RecMode),
    Uptime(Uptime),
    RunState(RunState),
    Pid(u32),
    DebugLevel(DebugLevel),
    /// `(canonical name, raw value)`; timing tunables are in milliseconds.
    Tunables(Vec<(String, u64)>),
    /// A raw tunable value; timing tunables are in milliseconds.
    Tunable(u64),
    EventRun(EventRun),
    /// The cluster lock as configured (`!helper args` or a file), if any.
    Reclock(Option<String>),
    PublicIps(PublicIpList),
    PublicIpInfo(PublicIpInfo),
    Ifaces(Vec<IfaceInfo>),
    Safety(Safety),
    Leases(Vec<PeerLease>),
}

/// A node's split-brain state, for `rctdb status` and `rctdb ip`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Safety {
    /// Milliseconds left on this node's lease from the leader; `None`
    /// if it holds none (never granted, or expired).
    pub lease_left_ms: Option<u64>,
    /// Why this node released its public addresses by itself, while that
    /// is still the case.
    pub released: Option<String>,
    /// Addresses the leader keeps unassigned, per lost node.
    pub held_back: Vec<HeldBack>,
    /// Why this node's recovery daemon sees no leader, if it is stuck.
    pub stuck: Option<String>,
}

/// Addresses of a lost node that stay unassigned until it is fenced or
/// its lease has surely expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBack {
    pub pnn: Pnn,
    pub ips: Vec<IpAddr>,
    /// What they wait for, in words ("waiting for the fence command").
    pub reason: String,
}

/// What a node knows about one peer, for the leader's hold-back rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerLease {
    pub pnn: Pnn,
    /// Milliseconds since this node last granted the peer a lease (it
    /// received the peer's request then); `None` if never.
    pub granted_ms_ago: Option<u64>,
    /// Since the peer was lost, a connection to it was refused: its host
    /// is up and rctdbd is not running there.
    pub refused: bool,
    /// The peer said goodbye: it shut down cleanly holding no address.
    pub goodbye: bool,
}

/// Payload of [`srvid::HELD_BACK`].
pub fn encode_held_back(list: &[HeldBack]) -> Vec<u8> {
    postcard::to_allocvec(list).unwrap_or_default()
}

pub fn decode_held_back(b: &[u8]) -> Option<Vec<HeldBack>> {
    postcard::from_bytes(b).ok()
}

/// A node's public addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIpList {
    /// Every configured address with the owner this node believes it has
    /// ([`Pnn::UNKNOWN`] if none), in address order.
    pub known: Vec<(IpAddr, Pnn)>,
    /// The addresses this node can host now.
    pub available: Vec<IpAddr>,
}

/// One interface as a node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfaceInfo {
    pub name: String,
    pub link_up: bool,
    /// Public addresses currently on it.
    pub references: u32,
}

/// One public address in detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIpInfo {
    pub ip: IpAddr,
    pub bits: u8,
    pub owner: Pnn,
    /// Index into `ifaces` of the interface it is on, if any.
    pub active: Option<u32>,
    /// Its configured interfaces, in configuration order.
    pub ifaces: Vec<IfaceInfo>,
}

/// Well-known service ids (CTDB's values where CTDB has one).
pub mod srvid {
    /// Leader broadcast: payload is the leader's PNN (u32 LE).
    pub const LEADER: u64 = 0xF101_0000_0000_0000;
    /// Message election data.
    pub const ELECTION: u64 = 0xF100_0000_0000_0000;
    /// Ask the leader for a takeover run.
    pub const TAKEOVER_RUN: u64 = 0xFB00_0000_0000_0000;
    /// rctdbd tells its recoverd that its own flags changed.
    pub const PUSH_NODE_FLAGS: u64 = 0xF900_0000_0000_0000;
    /// rctdbd tells its recoverd that the node map changed (a node came
    /// or went, or flags changed): no payload.
    pub const NODE_MAP_CHANGED: u64 = 0xF900_0000_0000_0001;
    /// The holder of a public address tells the other nodes which TCP
    /// connections it has on it (text: the address, then one
    /// `client server` pair per line). Handled by rctdbd.
    pub const TICKLE_LIST: u64 = 0xF500_0000_0000_0000;
    /// rctdbd tells its recoverd to reload the nodes file.
    pub const RELOAD_NODES: u64 = 0xFA00_0000_0000_0000;
    /// A node announces its own flags: payload `pnn u32 LE, flags u32 LE`.
    /// Handled by rctdbd itself.
    pub const NODE_FLAGS: u64 = 0xF400_0000_0000_0000;
    /// Lease request from a node's rctdbd to every connected node:
    /// payload `pnn u32 LE, seq u64 LE`. Handled by rctdbd; only the
    /// leader's node answers.
    pub const LEASE_REQUEST: u64 = 0xF600_0000_0000_0000;
    /// Lease grant from the leader's rctdbd: payload `seq u64 LE` of the
    /// request it grants. Handled by rctdbd.
    pub const LEASE_GRANT: u64 = 0xF600_0000_0000_0001;
    /// A node shutting down cleanly, holding no public address: payload
    /// `pnn u32 LE`. Handled by rctdbd.
    pub const GOODBYE: u64 = 0xF600_0000_0000_0002;
    /// The leader's list of held-back addresses ([`super::encode_held_back`]),
    /// broadcast to every rctdbd for `status`. Handled by rctdbd.
    pub const HELD_BACK: u64 = 0xF600_0000_0000_0003;
    /// A recovery daemon tells its rctdbd why it sees no leader (UTF-8
    /// text; empty: not stuck). Handled by rctdbd.
    pub const STUCK: u64 = 0xF600_0000_0000_0004;
    /// A recovery daemon fenced a node: payload `pnn u32 LE`. For the
    /// other recovery daemons, so a new leader does not fence it again.
    pub const FENCED: u64 = 0xF600_0000_0000_0005;
    /// Base of the range from which clients pick private reply srvids.
    pub const CLIENT_BASE: u64 = 0xBE00_0000_0000_0000;
    /// Disable takeover runs on the receiving node's recovery daemon for a
    /// while (CTDB's value). Payload: a [`DisableRequest`](super::DisableRequest);
    /// the answer, if asked for, is an i32 LE: the responder's PNN, or a
    /// negative errno (`-EAGAIN` while a takeover run is in progress).
    pub const DISABLE_TAKEOVER_RUNS: u64 = 0xFB03_0000_0000_0000;
}

/// Payload of [`srvid::DISABLE_TAKEOVER_RUNS`] (CTDB's
/// `ctdb_disable_message`): who to answer, and for how long. A fixed
/// 16-byte layout, `pnn u32 LE, srvid u64 LE, timeout u32 LE`, like the
/// other srvid payloads (not postcard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisableRequest {
    /// The node the answer goes to.
    pub pnn: Pnn,
    /// The srvid the answer goes to; 0: no answer wanted.
    pub srvid: u64,
    /// Seconds to stay disabled; 0 re-enables at once.
    pub timeout_secs: u32,
}

impl DisableRequest {
    /// Encoded length.
    pub const LEN: usize = 16;

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::LEN);
        v.extend_from_slice(&self.pnn.0.to_le_bytes());
        v.extend_from_slice(&self.srvid.to_le_bytes());
        v.extend_from_slice(&self.timeout_secs.to_le_bytes());
        v
    }

    /// `None` unless exactly [`DisableRequest::LEN`] bytes.
    pub fn decode(b: &[u8]) -> Option<DisableRequest> {
        let b: &[u8; Self::LEN] = b.try_into().ok()?;
        Some(DisableRequest {
            pnn: Pnn(u32::from_le_bytes(b[0..4].try_into().ok()?)),
            srvid: u64::from_le_bytes(b[4..12].try_into().ok()?),
            timeout_secs: u32::from_le_bytes(b[12..16].try_into().ok()?),
        })
    }
}

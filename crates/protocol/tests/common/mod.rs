//! Shared by the test binaries: a proptest strategy for every wire type, and
//! small helpers for frames, hex and enum tags.
#![allow(dead_code)] // each test binary uses its own subset

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use rctdb_protocol::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub fn pnn() -> impl Strategy<Value = Pnn> {
    prop_oneof![
        (0u32..8).prop_map(Pnn),
        any::<u32>().prop_map(Pnn),
        select(vec![Pnn::UNKNOWN, Pnn::CURRENT, Pnn::BROADCAST_ALL, Pnn::BROADCAST_ACTIVE, Pnn::BROADCAST_CONNECTED]),
    ]
}

pub fn node_flags() -> impl Strategy<Value = NodeFlags> {
    prop_oneof![(0u32..0x80).prop_map(NodeFlags), any::<u32>().prop_map(NodeFlags)]
}

pub fn ipv4() -> impl Strategy<Value = IpAddr> {
    any::<Ipv4Addr>().prop_map(IpAddr::V4)
}

pub fn ipv6() -> impl Strategy<Value = IpAddr> {
    any::<Ipv6Addr>().prop_map(IpAddr::V6)
}

/// Either family.
pub fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![ipv4(), ipv6()]
}

pub fn node_info() -> impl Strategy<Value = NodeInfo> {
    (pnn(), ip(), node_flags()).prop_map(|(pnn, addr, flags)| NodeInfo { pnn, addr, flags })
}

pub fn node_map() -> impl Strategy<Value = NodeMap> {
    vec(node_info(), 0..6).prop_map(|nodes| NodeMap { nodes })
}

pub fn vnn_map() -> impl Strategy<Value = VnnMap> {
    (any::<u32>(), vec(pnn(), 0..6)).prop_map(|(g, map)| VnnMap { generation: Generation(g), map })
}

pub fn rec_mode() -> impl Strategy<Value = RecMode> {
    select(vec![RecMode::Normal, RecMode::Active])
}

pub fn run_state() -> impl Strategy<Value = RunState> {
    select(RunState::ALL.to_vec())
}

pub fn debug_level() -> impl Strategy<Value = DebugLevel> {
    select(DebugLevel::ALL.to_vec())
}

pub fn uptime() -> impl Strategy<Value = Uptime> {
    any::<[u64; 4]>().prop_map(
        |[current_time_us, start_time_us, last_recovery_started_us, last_recovery_finished_us]| Uptime {
            current_time_us,
            start_time_us,
            last_recovery_started_us,
            last_recovery_finished_us,
        },
    )
}

pub fn keepalive() -> impl Strategy<Value = Keepalive> {
    (any::<u32>(), any::<u64>()).prop_map(|(version, uptime_ms)| Keepalive { version, uptime_ms })
}

/// Short strings, non-ASCII included.
fn text() -> impl Strategy<Value = String> {
    ".{0,12}"
}

pub fn event() -> impl Strategy<Value = Event> {
    select(Event::ALL.to_vec())
}

pub fn script_status() -> impl Strategy<Value = ScriptStatus> {
    prop_oneof![
        Just(ScriptStatus::Ok),
        any::<i32>().prop_map(|code| ScriptStatus::Error { code }),
        Just(ScriptStatus::TimedOut),
        Just(ScriptStatus::Disabled),
        Just(ScriptStatus::Cancelled),
        any::<i32>().prop_map(|signal| ScriptStatus::Signaled { signal }),
        text().prop_map(|reason| ScriptStatus::CannotRun { reason }),
    ]
}

pub fn script_run() -> impl Strategy<Value = ScriptRun> {
    (text(), script_status(), any::<u64>(), any::<u64>(), ".{0,40}")
        .prop_map(|(name, status, start_us, end_us, output)| ScriptRun { name, status, start_us, end_us, output })
}

pub fn event_run() -> impl Strategy<Value = EventRun> {
    (event(), vec(text(), 0..5), any::<u64>(), any::<u64>(), vec(script_run(), 0..4))
        .prop_map(|(event, args, start_us, end_us, scripts)| EventRun { event, args, start_us, end_us, scripts })
}

pub fn iface_info() -> impl Strategy<Value = IfaceInfo> {
    (text(), any::<bool>(), any::<u32>()).prop_map(|(name, link_up, references)| IfaceInfo {
        name,
        link_up,
        references,
    })
}

pub fn public_ip_list() -> impl Strategy<Value = PublicIpList> {
    (vec((ip(), pnn()), 0..5), vec(ip(), 0..5)).prop_map(|(known, available)| PublicIpList { known, available })
}

pub fn public_ip_info() -> impl Strategy<Value = PublicIpInfo> {
    (ip(), any::<u8>(), pnn(), proptest::option::of(any::<u32>()), vec(iface_info(), 0..4))
        .prop_map(|(ip, bits, owner, active, ifaces)| PublicIpInfo { ip, bits, owner, active, ifaces })
}

pub fn control() -> impl Strategy<Value = Control> {
    prop_oneof![
        Just(Control::Ping),
        Just(Control::GetPnn),
        Just(Control::GetNodeMap),
        Just(Control::GetVnnMap),
        Just(Control::GetRecMode),
        Just(Control::GetUptime),
        Just(Control::GetRunState),
        Just(Control::GetPid),
        Just(Control::GetDebug),
        debug_level().prop_map(Control::SetDebug),
        Just(Control::ListTunables),
        text().prop_map(Control::GetTunable),
        (text(), text()).prop_map(|(name, value)| Control::SetTunable { name, value }),
        Just(Control::ReloadNodesFile),
        Just(Control::GetNodesFile),
        Just(Control::Shutdown),
        any::<u64>().prop_map(Control::RegisterSrvid),
        any::<u64>().prop_map(Control::DeregisterSrvid),
        Just(Control::GetLeader),
        (event(), vec(text(), 0..5), proptest::option::of(any::<u64>()))
            .prop_map(|(event, args, timeout_ms)| Control::RunEvent { event, args, timeout_ms }),
        event().prop_map(Control::GetEventStatus),
        rec_mode().prop_map(Control::SetRecMode),
        vnn_map().prop_map(Control::SetVnnMap),
        Just(Control::GetReclock),
        any::<u32>().prop_map(|seconds| Control::SetBanState { seconds }),
        Just(Control::StopNode),
        Just(Control::ContinueNode),
        Just(Control::DisableNode),
        Just(Control::EnableNode),
        Just(Control::GetPublicIps),
        ip().prop_map(Control::GetPublicIpInfo),
        Just(Control::GetIfaces),
        (text(), any::<bool>()).prop_map(|(name, up)| Control::SetIfaceLink { name, up }),
        (ip(), pnn()).prop_map(|(ip, owner)| Control::TakeoverIp { ip, owner }),
        (ip(), pnn()).prop_map(|(ip, new_owner)| Control::ReleaseIp { ip, new_owner }),
        (ip(), any::<u8>(), vec(text(), 0..4)).prop_map(|(ip, bits, ifaces)| Control::AddPublicIp { ip, bits, ifaces }),
        ip().prop_map(Control::DelPublicIp),
        (ip(), text()).prop_map(|(ip, iface)| Control::SendGratArp { ip, iface }),
        Just(Control::ReloadPublicIps),
        Just(Control::IpReallocated),
        Just(Control::StartIpReallocate),
        Just(Control::GetSafety),
        Just(Control::GetLeases),
    ]
}

pub fn reply_data() -> impl Strategy<Value = ReplyData> {
    prop_oneof![
        Just(ReplyData::None),
        any::<u32>().prop_map(|num_clients| ReplyData::Ping { num_clients }),
        pnn().prop_map(ReplyData::Pnn),
        node_map().prop_map(ReplyData::NodeMap),
        vnn_map().prop_map(ReplyData::VnnMap),
        rec_mode().prop_map(ReplyData::RecMode),
        uptime().prop_map(ReplyData::Uptime),
        run_state().prop_map(ReplyData::RunState),
        any::<u32>().prop_map(ReplyData::Pid),
        debug_level().prop_map(ReplyData::DebugLevel),
        vec((text(), any::<u64>()), 0..4).prop_map(ReplyData::Tunables),
        any::<u64>().prop_map(ReplyData::Tunable),
        event_run().prop_map(ReplyData::EventRun),
        proptest::option::of(text()).prop_map(ReplyData::Reclock),
        public_ip_list().prop_map(ReplyData::PublicIps),
        public_ip_info().prop_map(ReplyData::PublicIpInfo),
        vec(iface_info(), 0..4).prop_map(ReplyData::Ifaces),
        safety().prop_map(ReplyData::Safety),
        vec(peer_lease(), 0..4).prop_map(ReplyData::Leases),
    ]
}

pub fn held_back() -> impl Strategy<Value = HeldBack> {
    (pnn(), vec(ip(), 0..4), text()).prop_map(|(pnn, ips, reason)| HeldBack { pnn, ips, reason })
}

pub fn safety() -> impl Strategy<Value = Safety> {
    (
        proptest::option::of(any::<u64>()),
        proptest::option::of(text()),
        vec(held_back(), 0..3),
        proptest::option::of(text()),
    )
        .prop_map(|(lease_left_ms, released, held_back, stuck)| Safety {
            lease_left_ms,
            released,
            held_back,
            stuck,
        })
}

pub fn peer_lease() -> impl Strategy<Value = PeerLease> {
    (pnn(), proptest::option::of(any::<u64>()), any::<bool>(), any::<bool>())
        .prop_map(|(pnn, granted_ms_ago, refused, goodbye)| PeerLease { pnn, granted_ms_ago, refused, goodbye })
}

pub fn control_error() -> impl Strategy<Value = ControlError> {
    (any::<i32>(), text()).prop_map(|(code, message)| ControlError::new(code, message))
}

pub fn control_request() -> impl Strategy<Value = ControlRequest> {
    (any::<u32>(), pnn(), pnn(), control()).prop_map(|(reqid, src, dest, control)| ControlRequest {
        reqid,
        src,
        dest,
        control,
    })
}

pub fn control_reply() -> impl Strategy<Value = ControlReply> {
    let result = prop_oneof![reply_data().prop_map(Ok), control_error().prop_map(Err)];
    (any::<u32>(), pnn(), result).prop_map(|(reqid, src, result)| ControlReply { reqid, src, result })
}

pub fn message() -> impl Strategy<Value = Message> {
    let srvid = prop_oneof![
        any::<u64>(),
        select(vec![
            srvid::LEADER,
            srvid::ELECTION,
            srvid::TAKEOVER_RUN,
            srvid::PUSH_NODE_FLAGS,
            srvid::NODE_MAP_CHANGED,
            srvid::RELOAD_NODES,
            srvid::NODE_FLAGS,
            srvid::CLIENT_BASE
        ]),
    ];
    (srvid, pnn(), pnn(), vec(any::<u8>(), 0..64)).prop_map(|(srvid, src, dest, data)| Message {
        srvid,
        src,
        dest,
        data,
    })
}

pub fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        keepalive().prop_map(Packet::Keepalive),
        control_request().prop_map(Packet::Control),
        control_reply().prop_map(Packet::Reply),
        message().prop_map(Packet::Message),
    ]
}

/// postcard's variant index of an enum value (a one-byte varint below 128).
pub fn tag<T: Serialize>(value: &T) -> u8 {
    postcard::to_allocvec(value).expect("encode")[0]
}

/// How many variants `T` has on the wire: the first index postcard refuses.
/// Every variant's payload in this crate decodes from zero bytes.
pub fn variant_count<T: DeserializeOwned>() -> u8 {
    (0u8..128)
        .find(|&i| postcard::take_from_bytes::<T>(&[&[i][..], &[0; 64]].concat()).is_err())
        .expect("< 128 variants")
}

/// A frame with the given header fields and body, valid or not.
pub fn raw_frame(version: u16, reserved: u16, len: u32, body: &[u8]) -> Vec<u8> {
    [&MAGIC[..], &version.to_le_bytes(), &reserved.to_le_bytes(), &len.to_le_bytes(), body].concat()
}

/// A well-formed header around an arbitrary body.
pub fn frame_around(body: &[u8]) -> Vec<u8> {
    raw_frame(VERSION, 0, body.len() as u32, body)
}

/// Feed `bytes` to a fresh [`FrameBuffer`] in `chunks`, draining packets
/// after each; stops at the first error.
pub fn feed<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Packet>, Result<usize, FrameError>) {
    let mut fb = FrameBuffer::new();
    let mut out = Vec::new();
    for chunk in chunks {
        fb.extend(chunk);
        loop {
            match fb.next_packet() {
                Ok(Some(p)) => out.push(p),
                Ok(None) => break,
                Err(e) => return (out, Err(e)),
            }
        }
    }
    (out, Ok(fb.pending()))
}

/// Decode `bytes` frame after frame with [`decode`] until it needs more
/// input or fails: the reference that [`FrameBuffer`] must match.
pub fn decode_all(mut bytes: &[u8]) -> (Vec<Packet>, Result<usize, FrameError>) {
    let mut out = Vec::new();
    loop {
        match decode(bytes) {
            Ok(Some((p, used))) => {
                out.push(p);
                bytes = &bytes[used..];
            }
            Ok(None) => return (out, Ok(bytes.len())),
            Err(e) => return (out, Err(e)),
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex digits to bytes; whitespace is ignored.
pub fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits.chunks(2).map(|d| u8::from_str_radix(std::str::from_utf8(d).unwrap(), 16).expect("hex digit")).collect()
}

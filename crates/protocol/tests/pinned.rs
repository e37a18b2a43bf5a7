//! Pinned wire bytes: one fixed value per variant of every enum on the wire,
//! and its exact frame. postcard encodes a variant by its position, so a
//! reordered, removed or retyped variant changes these bytes and fails here.
//! A new variant goes at the end of its enum and gets a case at the end of
//! its table; never edit an existing literal.

mod common;

use common::*;
use rctdb_protocol::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::net::{Ipv4Addr, Ipv6Addr};

fn request(control: Control) -> Packet {
    Packet::Control(ControlRequest { reqid: 7, src: Pnn::UNKNOWN, dest: Pnn::CURRENT, control })
}

fn reply(data: ReplyData) -> Packet {
    Packet::Reply(ControlReply { reqid: 7, src: Pnn(2), result: Ok(data) })
}

fn sample_node_map() -> NodeMap {
    let node = |pnn, addr, flags| NodeInfo { pnn: Pnn(pnn), addr, flags: NodeFlags(flags) };
    NodeMap {
        nodes: vec![
            node(0, Ipv4Addr::new(10, 0, 0, 1).into(), 0),
            node(1, Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).into(), 0x08 | 0x02),
            node(2, Ipv4Addr::UNSPECIFIED.into(), 0x10),
        ],
    }
}

/// A failed monitor run: one script passed, the next one failed the event.
fn sample_event_run() -> EventRun {
    EventRun {
        event: Event::Monitor,
        args: vec![],
        start_us: 1_700_000_000_000_000,
        end_us: 1_700_000_000_250_000,
        scripts: vec![
            ScriptRun {
                name: "00.ctdb".into(),
                status: ScriptStatus::Ok,
                start_us: 1_700_000_000_000_000,
                end_us: 1_700_000_000_100_000,
                output: String::new(),
            },
            ScriptRun {
                name: "10.interface".into(),
                status: ScriptStatus::Error { code: 1 },
                start_us: 1_700_000_000_100_000,
                end_us: 1_700_000_000_250_000,
                output: "ERROR: eth0 down\n".into(),
            },
        ],
    }
}

fn sample_ifaces() -> Vec<IfaceInfo> {
    vec![
        IfaceInfo { name: "eth0".into(), link_up: true, references: 2 },
        IfaceInfo { name: "eth1".into(), link_up: false, references: 0 },
    ]
}

/// 10.0.0.31/24 on node 1, configured on eth0 and eth1.
fn sample_public_ip_info(active: Option<u32>) -> PublicIpInfo {
    PublicIpInfo { ip: Ipv4Addr::new(10, 0, 0, 31).into(), bits: 24, owner: Pnn(1), active, ifaces: sample_ifaces() }
}

/// An event run holding a single script that ended with `status`.
fn run_with_status(status: ScriptStatus) -> EventRun {
    EventRun {
        event: Event::Startup,
        args: vec![],
        start_us: 1_000,
        end_us: 2_000,
        scripts: vec![ScriptRun {
            name: "50.samba".into(),
            status,
            start_us: 1_000,
            end_us: 2_000,
            output: "x".into(),
        }],
    }
}

fn packets() -> Vec<(Packet, &'static str)> {
    vec![
        (
            Packet::Keepalive(Keepalive { version: 0x0001_0002, uptime_ms: 123_456 }),
            "5243544401000000 07000000 00828004c0c407",
        ),
        (request(Control::GetPnn), "5243544401000000 0d000000 0107ffffffff0f818080800f01"),
        (
            Packet::Reply(ControlReply {
                reqid: 0x1234_5678,
                src: Pnn(1),
                result: Err(ControlError::new(-22, "unknown tunable")),
            }),
            "5243544401000000 19000000 02f8acd1910101012b0f756e6b6e6f776e2074756e61626c65",
        ),
        (
            Packet::Message(Message {
                srvid: srvid::LEADER,
                src: Pnn(1),
                dest: Pnn::BROADCAST_CONNECTED,
                data: 1u32.to_le_bytes().to_vec(),
            }),
            "5243544401000000 16000000 03808080808080c080f10101848080800f0401000000",
        ),
    ]
}

/// Framed as `request(control)`.
fn controls() -> Vec<(Control, &'static str)> {
    vec![
        (Control::Ping, "5243544401000000 0d000000 0107ffffffff0f818080800f00"),
        (Control::GetPnn, "5243544401000000 0d000000 0107ffffffff0f818080800f01"),
        (Control::GetNodeMap, "5243544401000000 0d000000 0107ffffffff0f818080800f02"),
        (Control::GetVnnMap, "5243544401000000 0d000000 0107ffffffff0f818080800f03"),
        (Control::GetRecMode, "5243544401000000 0d000000 0107ffffffff0f818080800f04"),
        (Control::GetUptime, "5243544401000000 0d000000 0107ffffffff0f818080800f05"),
        (Control::GetRunState, "5243544401000000 0d000000 0107ffffffff0f818080800f06"),
        (Control::GetPid, "5243544401000000 0d000000 0107ffffffff0f818080800f07"),
        (Control::GetDebug, "5243544401000000 0d000000 0107ffffffff0f818080800f08"),
        (Control::SetDebug(DebugLevel::Notice), "5243544401000000 0e000000 0107ffffffff0f818080800f0902"),
        (Control::ListTunables, "5243544401000000 0d000000 0107ffffffff0f818080800f0a"),
        (
            Control::GetTunable("RecoverInterval".into()),
            "5243544401000000 1d000000 0107ffffffff0f818080800f0b0f5265636f766572496e74657276616c",
        ),
        (
            Control::SetTunable { name: "KeepaliveLimit".into(), value: "5".into() },
            "5243544401000000 1e000000 0107ffffffff0f818080800f0c0e4b656570616c6976654c696d69740135",
        ),
        (Control::ReloadNodesFile, "5243544401000000 0d000000 0107ffffffff0f818080800f0d"),
        (Control::GetNodesFile, "5243544401000000 0d000000 0107ffffffff0f818080800f0e"),
        (Control::Shutdown, "5243544401000000 0d000000 0107ffffffff0f818080800f0f"),
        (
            Control::RegisterSrvid(srvid::CLIENT_BASE | 42),
            "5243544401000000 17000000 0107ffffffff0f818080800f10aa80808080808080be01",
        ),
        (
            Control::DeregisterSrvid(srvid::CLIENT_BASE | 42),
            "5243544401000000 17000000 0107ffffffff0f818080800f11aa80808080808080be01",
        ),
        (Control::GetLeader, "5243544401000000 0d000000 0107ffffffff0f818080800f12"),
        (
            Control::RunEvent {
                event: Event::TakeIp,
                args: vec!["eth0".into(), "10.0.0.31".into(), "24".into()],
                timeout_ms: Some(30_000),
            },
            "5243544401000000 25000000 0107ffffffff0f818080800f13050304657468300931302e302e302e333102323401b0ea01",
        ),
        (Control::GetEventStatus(Event::Monitor), "5243544401000000 0e000000 0107ffffffff0f818080800f1408"),
        (Control::SetRecMode(RecMode::Active), "5243544401000000 0e000000 0107ffffffff0f818080800f1501"),
        (
            Control::SetVnnMap(VnnMap { generation: Generation(0x1f2e_3d4c), map: vec![Pnn(0), Pnn(2)] }),
            "5243544401000000 15000000 0107ffffffff0f818080800f16ccfab8f901020002",
        ),
        (Control::GetReclock, "5243544401000000 0d000000 0107ffffffff0f818080800f17"),
        (Control::SetBanState { seconds: 300 }, "5243544401000000 0f000000 0107ffffffff0f818080800f18ac02"),
        (Control::StopNode, "5243544401000000 0d000000 0107ffffffff0f818080800f19"),
        (Control::ContinueNode, "5243544401000000 0d000000 0107ffffffff0f818080800f1a"),
        (Control::DisableNode, "5243544401000000 0d000000 0107ffffffff0f818080800f1b"),
        (Control::EnableNode, "5243544401000000 0d000000 0107ffffffff0f818080800f1c"),
        (Control::GetPublicIps, "5243544401000000 0d000000 0107ffffffff0f818080800f1d"),
        (
            Control::GetPublicIpInfo(Ipv4Addr::new(10, 0, 0, 31).into()),
            "5243544401000000 12000000 0107ffffffff0f818080800f1e000a00001f",
        ),
        (Control::GetIfaces, "5243544401000000 0d000000 0107ffffffff0f818080800f1f"),
        (
            Control::SetIfaceLink { name: "eth1".into(), up: false },
            "5243544401000000 13000000 0107ffffffff0f818080800f20046574683100",
        ),
        (
            Control::TakeoverIp { ip: Ipv4Addr::new(10, 0, 0, 31).into(), owner: Pnn(1) },
            "5243544401000000 13000000 0107ffffffff0f818080800f21000a00001f01",
        ),
        (
            Control::ReleaseIp { ip: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x31).into(), new_owner: Pnn(2) },
            "5243544401000000 1f000000 0107ffffffff0f818080800f2201fd00000000000000000000000000003102",
        ),
        (
            Control::AddPublicIp {
                ip: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x31).into(),
                bits: 64,
                ifaces: vec!["eth0".into(), "eth1".into()],
            },
            "5243544401000000 2a000000 0107ffffffff0f818080800f2301fd000000000000000000000000000031400204657468300465746831",
        ),
        (
            Control::DelPublicIp(Ipv4Addr::new(10, 0, 0, 32).into()),
            "5243544401000000 12000000 0107ffffffff0f818080800f24000a000020",
        ),
        (
            Control::SendGratArp { ip: Ipv4Addr::new(10, 0, 0, 31).into(), iface: "eth0".into() },
            "5243544401000000 17000000 0107ffffffff0f818080800f25000a00001f0465746830",
        ),
        (Control::ReloadPublicIps, "5243544401000000 0d000000 0107ffffffff0f818080800f26"),
        (Control::IpReallocated, "5243544401000000 0d000000 0107ffffffff0f818080800f27"),
        (Control::StartIpReallocate, "5243544401000000 0d000000 0107ffffffff0f818080800f28"),
        (Control::GetSafety, "5243544401000000 0d000000 0107ffffffff0f818080800f29"),
        (Control::GetLeases, "5243544401000000 0d000000 0107ffffffff0f818080800f2a"),
    ]
}

/// Framed as `reply(data)`.
fn replies() -> Vec<(ReplyData, &'static str)> {
    vec![
        (ReplyData::None, "5243544401000000 05000000 0207020000"),
        (ReplyData::Ping { num_clients: 3 }, "5243544401000000 06000000 020702000103"),
        (ReplyData::Pnn(Pnn::UNKNOWN), "5243544401000000 0a000000 0207020002ffffffff0f"),
        (ReplyData::NodeMap(sample_node_map()), "5243544401000000 27000000 02070200030300000a000001000101fd0000000000000000000000000000020a02000000000010"),
        (ReplyData::VnnMap(VnnMap { generation: Generation(0x1f2e_3d4c), map: vec![Pnn(0), Pnn(2)] }), "5243544401000000 0d000000 0207020004ccfab8f901020002"),
        (ReplyData::RecMode(RecMode::Active), "5243544401000000 06000000 020702000501"),
        (
            ReplyData::Uptime(Uptime {
                current_time_us: 1_700_000_000_000_000,
                start_time_us: 1_699_999_000_000_000,
                last_recovery_started_us: 1_699_999_500_000_000,
                last_recovery_finished_us: 0,
            }),
            "5243544401000000 1e000000 02070200068080f9c0c1c4820380ec8de4bdc4820380b6c3d2bfc4820300",
        ),
        (ReplyData::RunState(RunState::Running), "5243544401000000 06000000 020702000705"),
        (ReplyData::Pid(4242), "5243544401000000 07000000 02070200089221"),
        (ReplyData::DebugLevel(DebugLevel::Info), "5243544401000000 06000000 020702000903"),
        (ReplyData::Tunables(vec![("KeepaliveInterval".into(), 5000), ("KeepaliveLimit".into(), 5)]), "5243544401000000 2a000000 020702000a02114b656570616c697665496e74657276616c88270e4b656570616c6976654c696d697405"),
        (ReplyData::Tunable(300), "5243544401000000 07000000 020702000bac02"),
        (ReplyData::EventRun(sample_event_run()), "5243544401000000 63000000 020702000c08008080f9c0c1c4820390a188c1c1c48203020730302e63746462008080f9c0c1c48203a08dffc0c1c48203000c31302e696e746572666163650102a08dffc0c1c4820390a188c1c1c48203114552524f523a206574683020646f776e0a"),
        (ReplyData::Reclock(Some("!/usr/libexec/ctdb/ctdb_mutex_fcntl_helper /clusterfs/.ctdb/reclock".into())), "5243544401000000 4a000000 020702000d0143212f7573722f6c6962657865632f637464622f637464625f6d757465785f66636e746c5f68656c706572202f636c757374657266732f2e637464622f7265636c6f636b"),
        (
            ReplyData::PublicIps(PublicIpList {
                known: vec![
                    (Ipv4Addr::new(10, 0, 0, 31).into(), Pnn(0)),
                    (Ipv4Addr::new(10, 0, 0, 32).into(), Pnn::UNKNOWN),
                    (Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x31).into(), Pnn(1)),
                ],
                available: vec![
                    Ipv4Addr::new(10, 0, 0, 31).into(),
                    Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x31).into(),
                ],
            }),
            "5243544401000000 3f000000 020702000e03000a00001f00000a000020ffffffff0f01fd0000000000000000000000000000310102000a00001f01fd000000000000000000000000000031",
        ),
        (
            ReplyData::PublicIpInfo(sample_public_ip_info(Some(0))),
            "5243544401000000 1d000000 020702000f000a00001f18010100020465746830010204657468310000",
        ),
        (ReplyData::Ifaces(sample_ifaces()), "5243544401000000 14000000 0207020010020465746830010204657468310000"),
        (
            ReplyData::Safety(Safety {
                lease_left_ms: Some(1500),
                released: None,
                held_back: vec![HeldBack {
                    pnn: Pnn(2),
                    ips: vec![Ipv4Addr::new(10, 0, 0, 31).into()],
                    reason: "fence".into(),
                }],
                stuck: Some("lock".into()),
            }),
            "5243544401000000 1d000000 020702001101dc0b00010201000a00001f0566656e636501046c6f636b",
        ),
        (
            ReplyData::Leases(vec![
                PeerLease { pnn: Pnn(1), granted_ms_ago: Some(300), refused: false, goodbye: true },
                PeerLease { pnn: Pnn(2), granted_ms_ago: None, refused: true, goodbye: false },
            ]),
            "5243544401000000 10000000 0207020012020101ac02000102000100",
        ),
    ]
}

/// Framed as `reply(ReplyData::RecMode(mode))`.
fn rec_modes() -> Vec<(RecMode, &'static str)> {
    vec![
        (RecMode::Normal, "5243544401000000 06000000 020702000500"),
        (RecMode::Active, "5243544401000000 06000000 020702000501"),
    ]
}

/// Framed as `reply(ReplyData::RunState(state))`.
fn run_states() -> Vec<(RunState, &'static str)> {
    vec![
        (RunState::Unknown, "5243544401000000 06000000 020702000700"),
        (RunState::Init, "5243544401000000 06000000 020702000701"),
        (RunState::Setup, "5243544401000000 06000000 020702000702"),
        (RunState::FirstRecovery, "5243544401000000 06000000 020702000703"),
        (RunState::Startup, "5243544401000000 06000000 020702000704"),
        (RunState::Running, "5243544401000000 06000000 020702000705"),
        (RunState::Shutdown, "5243544401000000 06000000 020702000706"),
    ]
}

/// Framed as `request(Control::SetDebug(level))`.
fn debug_levels() -> Vec<(DebugLevel, &'static str)> {
    vec![
        (DebugLevel::Error, "5243544401000000 0e000000 0107ffffffff0f818080800f0900"),
        (DebugLevel::Warning, "5243544401000000 0e000000 0107ffffffff0f818080800f0901"),
        (DebugLevel::Notice, "5243544401000000 0e000000 0107ffffffff0f818080800f0902"),
        (DebugLevel::Info, "5243544401000000 0e000000 0107ffffffff0f818080800f0903"),
        (DebugLevel::Debug, "5243544401000000 0e000000 0107ffffffff0f818080800f0904"),
    ]
}

/// Framed as `request(Control::SetRecMode(mode))`.
fn set_rec_modes() -> Vec<(RecMode, &'static str)> {
    vec![
        (RecMode::Normal, "5243544401000000 0e000000 0107ffffffff0f818080800f1500"),
        (RecMode::Active, "5243544401000000 0e000000 0107ffffffff0f818080800f1501"),
    ]
}

/// Framed as `request(Control::GetEventStatus(event))`.
fn events() -> Vec<(Event, &'static str)> {
    vec![
        (Event::Init, "5243544401000000 0e000000 0107ffffffff0f818080800f1400"),
        (Event::Setup, "5243544401000000 0e000000 0107ffffffff0f818080800f1401"),
        (Event::Startup, "5243544401000000 0e000000 0107ffffffff0f818080800f1402"),
        (Event::StartRecovery, "5243544401000000 0e000000 0107ffffffff0f818080800f1403"),
        (Event::Recovered, "5243544401000000 0e000000 0107ffffffff0f818080800f1404"),
        (Event::TakeIp, "5243544401000000 0e000000 0107ffffffff0f818080800f1405"),
        (Event::ReleaseIp, "5243544401000000 0e000000 0107ffffffff0f818080800f1406"),
        (Event::UpdateIp, "5243544401000000 0e000000 0107ffffffff0f818080800f1407"),
        (Event::Monitor, "5243544401000000 0e000000 0107ffffffff0f818080800f1408"),
        (Event::IpReallocated, "5243544401000000 0e000000 0107ffffffff0f818080800f1409"),
        (Event::StartIpReallocate, "5243544401000000 0e000000 0107ffffffff0f818080800f140a"),
        (Event::Shutdown, "5243544401000000 0e000000 0107ffffffff0f818080800f140b"),
    ]
}

/// Framed as `reply(ReplyData::EventRun(run_with_status(status)))`.
fn script_statuses() -> Vec<(ScriptStatus, &'static str)> {
    vec![
        (ScriptStatus::Ok, "5243544401000000 1c000000 020702000c0200e807d00f010835302e73616d626100e807d00f0178"),
        (ScriptStatus::Error { code: 1 }, "5243544401000000 1d000000 020702000c0200e807d00f010835302e73616d62610102e807d00f0178"),
        (ScriptStatus::TimedOut, "5243544401000000 1c000000 020702000c0200e807d00f010835302e73616d626102e807d00f0178"),
        (ScriptStatus::Disabled, "5243544401000000 1c000000 020702000c0200e807d00f010835302e73616d626103e807d00f0178"),
        (ScriptStatus::Cancelled, "5243544401000000 1c000000 020702000c0200e807d00f010835302e73616d626104e807d00f0178"),
        (ScriptStatus::Signaled { signal: 9 }, "5243544401000000 1d000000 020702000c0200e807d00f010835302e73616d62610512e807d00f0178"),
        (
            ScriptStatus::CannotRun {
                reason: "Exec format error".into(),
            },
            "5243544401000000 2e000000 020702000c0200e807d00f010835302e73616d626106114578656320666f726d6174206572726f72e807d00f0178",
        ),
    ]
}

/// Cases beyond one-per-variant: payload shapes the tables above leave
/// out (absent `Option`s, a negative exit code, empty and several-argument
/// lists), and messages on the srvids whose payload layout is fixed.
fn extra_packets() -> Vec<(Packet, &'static str)> {
    vec![
        (
            request(Control::RunEvent { event: Event::Monitor, args: vec![], timeout_ms: None }),
            "5243544401000000 10000000 0107ffffffff0f818080800f13080000",
        ),
        (
            request(Control::RunEvent {
                event: Event::UpdateIp,
                args: vec!["eth0".into(), "eth1".into(), "fd00::31".into(), "64".into()],
                timeout_ms: Some(0),
            }),
            "5243544401000000 27000000 0107ffffffff0f818080800f1307040465746830046574683108666430303a3a33310236340100",
        ),
        (
            reply(ReplyData::EventRun(run_with_status(ScriptStatus::Error { code: -1 }))),
            "5243544401000000 1d000000 020702000c0200e807d00f010835302e73616d62610101e807d00f0178",
        ),
        (
            Packet::Message(Message {
                srvid: srvid::NODE_FLAGS,
                src: Pnn(1),
                dest: Pnn::BROADCAST_CONNECTED,
                data: [1u32.to_le_bytes(), 0x02u32.to_le_bytes()].concat(),
            }),
            "5243544401000000 1a000000 038080808080808080f40101848080800f080100000002000000",
        ),
        (reply(ReplyData::Reclock(None)), "5243544401000000 06000000 020702000d00"),
        (
            reply(ReplyData::PublicIpInfo(sample_public_ip_info(None))),
            "5243544401000000 1c000000 020702000f000a00001f180100020465746830010204657468310000",
        ),
        (
            Packet::Message(Message { srvid: srvid::NODE_MAP_CHANGED, src: Pnn(1), dest: Pnn(1), data: vec![] }),
            "5243544401000000 0e000000 038180808080808080f901010100",
        ),
    ]
}

/// Every case encodes to its literal and decodes back from it, and the
/// table lists each variant of `T` exactly once, in wire order.
fn check<T: Serialize + DeserializeOwned + Debug + Clone>(cases: Vec<(T, &str)>, frame: impl Fn(T) -> Packet) {
    let tags: Vec<u8> = cases.iter().map(|(v, _)| tag(v)).collect();
    let count = variant_count::<T>();
    assert_eq!(
        tags,
        (0..count).collect::<Vec<_>>(),
        "one case per variant of {}, in order",
        std::any::type_name::<T>()
    );
    let mut wrong = Vec::new();
    for (value, pinned) in cases {
        let packet = frame(value.clone());
        let got = encode(&packet);
        let want = unhex(pinned);
        if got != want || decode(&want) != Ok(Some((packet, want.len()))) {
            wrong.push(format!("{value:?}: pinned {pinned:?}, encodes as {:?}", hex(&got)));
        }
    }
    assert!(wrong.is_empty(), "wire encoding drifted:\n{}", wrong.join("\n"));
}

#[test]
fn packets_are_pinned() {
    check(packets(), |p| p);
}

#[test]
fn controls_are_pinned() {
    check(controls(), request);
}

#[test]
fn reply_data_is_pinned() {
    check(replies(), reply);
}

#[test]
fn rec_modes_are_pinned() {
    check(rec_modes(), |m| reply(ReplyData::RecMode(m)));
}

#[test]
fn run_states_are_pinned() {
    check(run_states(), |s| reply(ReplyData::RunState(s)));
}

#[test]
fn debug_levels_are_pinned() {
    check(debug_levels(), |l| request(Control::SetDebug(l)));
}

#[test]
fn set_rec_modes_are_pinned() {
    check(set_rec_modes(), |m| request(Control::SetRecMode(m)));
}

#[test]
fn events_are_pinned() {
    check(events(), |e| request(Control::GetEventStatus(e)));
}

#[test]
fn script_statuses_are_pinned() {
    check(script_statuses(), |s| reply(ReplyData::EventRun(run_with_status(s))));
}

#[test]
fn extra_packets_are_pinned() {
    let mut wrong = Vec::new();
    for (packet, pinned) in extra_packets() {
        let got = encode(&packet);
        let want = unhex(pinned);
        if got != want || decode(&want) != Ok(Some((packet.clone(), want.len()))) {
            wrong.push(format!("{packet:?}: pinned {pinned:?}, encodes as {:?}", hex(&got)));
        }
    }
    assert!(wrong.is_empty(), "wire encoding drifted:\n{}", wrong.join("\n"));
}

/// srvids are part of the wire too: their values never change.
#[test]
fn srvids_are_pinned() {
    let all = [
        (srvid::LEADER, 0xF101_0000_0000_0000),
        (srvid::ELECTION, 0xF100_0000_0000_0000),
        (srvid::TAKEOVER_RUN, 0xFB00_0000_0000_0000),
        (srvid::PUSH_NODE_FLAGS, 0xF900_0000_0000_0000),
        (srvid::NODE_MAP_CHANGED, 0xF900_0000_0000_0001),
        (srvid::RELOAD_NODES, 0xFA00_0000_0000_0000),
        (srvid::NODE_FLAGS, 0xF400_0000_0000_0000),
        (srvid::CLIENT_BASE, 0xBE00_0000_0000_0000),
        (srvid::LEASE_REQUEST, 0xF600_0000_0000_0000),
        (srvid::LEASE_GRANT, 0xF600_0000_0000_0001),
        (srvid::GOODBYE, 0xF600_0000_0000_0002),
        (srvid::HELD_BACK, 0xF600_0000_0000_0003),
        (srvid::STUCK, 0xF600_0000_0000_0004),
        (srvid::FENCED, 0xF600_0000_0000_0005),
        (srvid::DISABLE_TAKEOVER_RUNS, 0xFB03_0000_0000_0000),
    ];
    for (got, want) in all {
        assert_eq!(got, want);
    }
    let distinct: std::collections::BTreeSet<u64> = all.iter().map(|&(v, _)| v).collect();
    assert_eq!(distinct.len(), all.len(), "srvids collide");
}

/// The wire position of each variant. This match is exhaustive, so a new
/// variant does not compile until it gets an arm here, and
/// `positions_match_the_wire` then requires a pinned case for it.
fn position(p: &Packet) -> usize {
    match p {
        Packet::Keepalive(_) => 0,
        Packet::Control(_) => 1,
        Packet::Reply(_) => 2,
        Packet::Message(_) => 3,
    }
}

fn control_position(c: &Control) -> usize {
    match c {
        Control::Ping => 0,
        Control::GetPnn => 1,
        Control::GetNodeMap => 2,
        Control::GetVnnMap => 3,
        Control::GetRecMode => 4,
        Control::GetUptime => 5,
        Control::GetRunState => 6,
        Control::GetPid => 7,
        Control::GetDebug => 8,
        Control::SetDebug(_) => 9,
        Control::ListTunables => 10,
        Control::GetTunable(_) => 11,
        Control::SetTunable { .. } => 12,
        Control::ReloadNodesFile => 13,
        Control::GetNodesFile => 14,
        Control::Shutdown => 15,
        Control::RegisterSrvid(_) => 16,
        Control::DeregisterSrvid(_) => 17,
        Control::GetLeader => 18,
        Control::RunEvent { .. } => 19,
        Control::GetEventStatus(_) => 20,
        Control::SetRecMode(_) => 21,
        Control::SetVnnMap(_) => 22,
        Control::GetReclock => 23,
        Control::SetBanState { .. } => 24,
        Control::StopNode => 25,
        Control::ContinueNode => 26,
        Control::DisableNode => 27,
        Control::EnableNode => 28,
        Control::GetPublicIps => 29,
        Control::GetPublicIpInfo(_) => 30,
        Control::GetIfaces => 31,
        Control::SetIfaceLink { .. } => 32,
        Control::TakeoverIp { .. } => 33,
        Control::ReleaseIp { .. } => 34,
        Control::AddPublicIp { .. } => 35,
        Control::DelPublicIp(_) => 36,
        Control::SendGratArp { .. } => 37,
        Control::ReloadPublicIps => 38,
        Control::IpReallocated => 39,
        Control::StartIpReallocate => 40,
        Control::GetSafety => 41,
        Control::GetLeases => 42,
    }
}

fn reply_position(r: &ReplyData) -> usize {
    match r {
        ReplyData::None => 0,
        ReplyData::Ping { .. } => 1,
        ReplyData::Pnn(_) => 2,
        ReplyData::NodeMap(_) => 3,
        ReplyData::VnnMap(_) => 4,
        ReplyData::RecMode(_) => 5,
        ReplyData::Uptime(_) => 6,
        ReplyData::RunState(_) => 7,
        ReplyData::Pid(_) => 8,
        ReplyData::DebugLevel(_) => 9,
        ReplyData::Tunables(_) => 10,
        ReplyData::Tunable(_) => 11,
        ReplyData::EventRun(_) => 12,
        ReplyData::Reclock(_) => 13,
        ReplyData::PublicIps(_) => 14,
        ReplyData::PublicIpInfo(_) => 15,
        ReplyData::Ifaces(_) => 16,
        ReplyData::Safety(_) => 17,
        ReplyData::Leases(_) => 18,
    }
}

fn event_position(e: &Event) -> usize {
    match e {
        Event::Init => 0,
        Event::Setup => 1,
        Event::Startup => 2,
        Event::StartRecovery => 3,
        Event::Recovered => 4,
        Event::TakeIp => 5,
        Event::ReleaseIp => 6,
        Event::UpdateIp => 7,
        Event::Monitor => 8,
        Event::IpReallocated => 9,
        Event::StartIpReallocate => 10,
        Event::Shutdown => 11,
    }
}

fn script_status_position(s: &ScriptStatus) -> usize {
    match s {
        ScriptStatus::Ok => 0,
        ScriptStatus::Error { .. } => 1,
        ScriptStatus::TimedOut => 2,
        ScriptStatus::Disabled => 3,
        ScriptStatus::Cancelled => 4,
        ScriptStatus::Signaled { .. } => 5,
        ScriptStatus::CannotRun { .. } => 6,
    }
}

#[test]
fn positions_match_the_wire() {
    fn same<T: Serialize>(cases: Vec<(T, &str)>, position: fn(&T) -> usize) {
        let n = cases.len();
        let got: Vec<(usize, usize)> = cases.iter().map(|(v, _)| (position(v), usize::from(tag(v)))).collect();
        assert_eq!(got, (0..n).map(|i| (i, i)).collect::<Vec<_>>());
    }
    same(packets(), position);
    same(controls(), control_position);
    same(replies(), reply_position);
    same(events(), event_position);
    same(script_statuses(), script_status_position);
}

/// The DISABLE_TAKEOVER_RUNS payload is a fixed layout, not postcard.
#[test]
fn disable_request_is_pinned() {
    let r = DisableRequest { pnn: Pnn(2), srvid: 0xBE00_0000_1234_0001, timeout_secs: 20 };
    let want = [2, 0, 0, 0, 0x01, 0x00, 0x34, 0x12, 0x00, 0x00, 0x00, 0xBE, 20, 0, 0, 0];
    assert_eq!(r.encode(), want);
    assert_eq!(DisableRequest::decode(&want), Some(r));
    assert_eq!(DisableRequest::decode(&want[..15]), None);
    assert_eq!(DisableRequest::decode(&[want.as_slice(), &[0]].concat()), None);
    assert_eq!(DisableRequest::decode(&[]), None);
}

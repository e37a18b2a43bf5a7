//! Property round trips: every packet survives encode → decode, whole, split
//! anywhere, and back to back with another.

mod common;

use common::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use rctdb_protocol::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeSet;

fn assert_roundtrip(packet: Packet) {
    let frame = encode(&packet);
    assert_eq!(try_encode(&packet).as_ref(), Ok(&frame));
    assert_eq!(frame.len(), HEADER_LEN + u32::from_le_bytes(frame[8..12].try_into().unwrap()) as usize);
    assert_eq!(decode(&frame), Ok(Some((packet, frame.len()))));
}

proptest! {
    #[test]
    fn keepalive_roundtrips(k in keepalive()) {
        assert_roundtrip(Packet::Keepalive(k));
    }

    #[test]
    fn control_request_roundtrips(r in control_request()) {
        assert_roundtrip(Packet::Control(r));
    }

    #[test]
    fn control_reply_roundtrips(r in control_reply()) {
        assert_roundtrip(Packet::Reply(r));
    }

    /// Event runs in both places they travel: inside a control and as a reply.
    #[test]
    fn event_controls_and_runs_roundtrip(
        reqid in any::<u32>(),
        src in pnn(),
        event in event(),
        args in proptest::collection::vec(".{0,12}", 0..5),
        timeout_ms in proptest::option::of(any::<u64>()),
        run in event_run(),
    ) {
        for control in [
            Control::RunEvent { event, args: args.clone(), timeout_ms },
            Control::GetEventStatus(event),
        ] {
            assert_roundtrip(Packet::Control(ControlRequest { reqid, src, dest: Pnn::CURRENT, control }));
        }
        assert_roundtrip(Packet::Reply(ControlReply { reqid, src, result: Ok(ReplyData::EventRun(run)) }));
    }

    /// Recovery and node-state controls, and the reclock reply with and
    /// without a lock configured.
    #[test]
    fn recovery_and_node_state_controls_roundtrip(
        reqid in any::<u32>(),
        src in pnn(),
        map in vnn_map(),
        seconds in any::<u32>(),
        reclock in proptest::option::of(".{0,40}"),
    ) {
        for control in [
            Control::SetVnnMap(map),
            Control::GetReclock,
            Control::SetBanState { seconds },
            Control::StopNode,
            Control::ContinueNode,
            Control::DisableNode,
            Control::EnableNode,
        ] {
            assert_roundtrip(Packet::Control(ControlRequest { reqid, src, dest: Pnn::CURRENT, control }));
        }
        assert_roundtrip(Packet::Reply(ControlReply { reqid, src, result: Ok(ReplyData::Reclock(reclock)) }));
    }

    /// Public address and interface controls, IPv4 and IPv6, and their replies.
    #[test]
    fn public_ip_controls_and_replies_roundtrip(
        reqid in any::<u32>(),
        src in pnn(),
        ip in ip(),
        owner in pnn(),
        bits in any::<u8>(),
        iface in ".{0,12}",
        ifaces in proptest::collection::vec(".{0,12}", 0..4),
        up in any::<bool>(),
        list in public_ip_list(),
        info in public_ip_info(),
        infos in proptest::collection::vec(iface_info(), 0..4),
    ) {
        for control in [
            Control::GetPublicIps,
            Control::GetPublicIpInfo(ip),
            Control::GetIfaces,
            Control::SetIfaceLink { name: iface.clone(), up },
            Control::TakeoverIp { ip, owner },
            Control::ReleaseIp { ip, new_owner: owner },
            Control::AddPublicIp { ip, bits, ifaces },
            Control::DelPublicIp(ip),
            Control::SendGratArp { ip, iface },
            Control::ReloadPublicIps,
            Control::IpReallocated,
            Control::StartIpReallocate,
        ] {
            assert_roundtrip(Packet::Control(ControlRequest { reqid, src, dest: Pnn::CURRENT, control }));
        }
        for data in [ReplyData::PublicIps(list), ReplyData::PublicIpInfo(info), ReplyData::Ifaces(infos)] {
            assert_roundtrip(Packet::Reply(ControlReply { reqid, src, result: Ok(data) }));
        }
    }

    #[test]
    fn message_roundtrips(m in message()) {
        assert_roundtrip(Packet::Message(m));
    }

    #[test]
    fn frame_split_anywhere_yields_the_packet(p in packet()) {
        let frame = encode(&p);
        for at in 0..=frame.len() {
            let (first, second) = frame.split_at(at);
            prop_assert_eq!(feed([first, second]), (vec![p.clone()], Ok(0)), "split at {}", at);
        }
    }

    #[test]
    fn two_frames_back_to_back_yield_both_in_order(a in packet(), b in packet()) {
        let (fa, fb) = (encode(&a), encode(&b));
        let stream = [&fa[..], &fb].concat();
        prop_assert_eq!(feed([&stream[..]]), (vec![a.clone(), b.clone()], Ok(0)));
        prop_assert_eq!(decode(&stream), Ok(Some((a, fa.len()))));
        prop_assert_eq!(decode(&stream[fa.len()..]), Ok(Some((b, fb.len()))));
    }

    #[test]
    fn stream_in_any_chunks_yields_every_packet(ps in proptest::collection::vec(packet(), 0..8), size in 1usize..64) {
        let stream: Vec<u8> = ps.iter().flat_map(encode).collect();
        prop_assert_eq!(feed(stream.chunks(size)), (ps, Ok(0)));
    }
}

/// The postcard tags a strategy produces over many deterministic samples.
fn tags_seen<T: Serialize>(s: impl Strategy<Value = T>) -> BTreeSet<u8> {
    let mut runner = TestRunner::deterministic();
    (0..2000).map(|_| tag(&s.new_tree(&mut runner).unwrap().current())).collect()
}

fn all_tags<T: DeserializeOwned>() -> BTreeSet<u8> {
    (0..variant_count::<T>()).collect()
}

/// A variant appended to an enum must also be added to its strategy.
#[test]
fn strategies_reach_every_variant() {
    assert_eq!(tags_seen(packet()), all_tags::<Packet>());
    assert_eq!(tags_seen(control()), all_tags::<Control>());
    assert_eq!(tags_seen(reply_data()), all_tags::<ReplyData>());
    assert_eq!(tags_seen(rec_mode()), all_tags::<RecMode>());
    assert_eq!(tags_seen(run_state()), all_tags::<RunState>());
    assert_eq!(tags_seen(debug_level()), all_tags::<DebugLevel>());
    assert_eq!(tags_seen(event()), all_tags::<Event>());
    assert_eq!(tags_seen(script_status()), all_tags::<ScriptStatus>());
    // Every status also reaches the wire inside an event run.
    assert_eq!(tags_seen(script_run().prop_map(|s| s.status)), all_tags::<ScriptStatus>());
    // RunEvent with and without a timeout override.
    let runner = &mut TestRunner::deterministic();
    let timeouts: BTreeSet<bool> = (0..2000)
        .filter_map(|_| match control().new_tree(runner).unwrap().current() {
            Control::RunEvent { timeout_ms, .. } => Some(timeout_ms.is_some()),
            _ => None,
        })
        .collect();
    assert_eq!(timeouts, BTreeSet::from([false, true]));
    // Reclock replies with and without a lock configured.
    let reclocks: BTreeSet<bool> = (0..2000)
        .filter_map(|_| match reply_data().new_tree(runner).unwrap().current() {
            ReplyData::Reclock(lock) => Some(lock.is_some()),
            _ => None,
        })
        .collect();
    assert_eq!(reclocks, BTreeSet::from([false, true]));
    // Public address details with and without an active interface.
    let actives: BTreeSet<bool> = (0..2000)
        .filter_map(|_| match reply_data().new_tree(runner).unwrap().current() {
            ReplyData::PublicIpInfo(info) => Some(info.active.is_some()),
            _ => None,
        })
        .collect();
    assert_eq!(actives, BTreeSet::from([false, true]));
    // Ok and Err replies; IPv4 and IPv6 node addresses.
    assert_eq!(tags_seen(control_reply().prop_map(|r| r.result)), BTreeSet::from([0, 1]));
    assert_eq!(tags_seen(node_info().prop_map(|n| n.addr)), BTreeSet::from([0, 1]));
    // IPv4 and IPv6 public addresses in every place they travel.
    let families: BTreeSet<(&str, u8)> = (0..4000)
        .filter_map(|_| match control().new_tree(runner).unwrap().current() {
            c @ (Control::GetPublicIpInfo(ip)
            | Control::TakeoverIp { ip, .. }
            | Control::ReleaseIp { ip, .. }
            | Control::AddPublicIp { ip, .. }
            | Control::DelPublicIp(ip)
            | Control::SendGratArp { ip, .. }) => Some((c.name(), tag(&ip))),
            _ => None,
        })
        .collect();
    let names =
        ["GET_PUBLIC_IP_INFO", "TAKEOVER_IP", "RELEASE_IP", "ADD_PUBLIC_IP", "DEL_PUBLIC_IP", "SEND_GRATUITOUS_ARP"];
    assert_eq!(families, names.iter().flat_map(|&n| [(n, 0), (n, 1)]).collect());
    let lists: BTreeSet<(&str, u8)> = (0..2000)
        .flat_map(|_| {
            let l = public_ip_list().new_tree(runner).unwrap().current();
            let known = l.known.iter().map(|(ip, _)| ("known", tag(ip)));
            known.chain(l.available.iter().map(|ip| ("available", tag(ip)))).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(lists, BTreeSet::from([("available", 0), ("available", 1), ("known", 0), ("known", 1)]));
    assert_eq!(tags_seen(public_ip_info().prop_map(|i| i.ip)), BTreeSet::from([0, 1]));
}

proptest! {
    #[test]
    fn disable_request_roundtrips(pnn in any::<u32>(), srvid in any::<u64>(), timeout_secs in any::<u32>()) {
        let r = DisableRequest { pnn: Pnn(pnn), srvid, timeout_secs };
        let b = r.encode();
        prop_assert_eq!(b.len(), DisableRequest::LEN);
        prop_assert_eq!(DisableRequest::decode(&b), Some(r));
    }

    #[test]
    fn disable_request_decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..40)) {
        let d = DisableRequest::decode(&b);
        prop_assert_eq!(d.is_some(), b.len() == DisableRequest::LEN);
    }
}

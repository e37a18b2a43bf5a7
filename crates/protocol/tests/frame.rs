//! The frame decoder: incomplete input waits, a broken header is caught as
//! early as its bytes arrive, an oversize length before its body, and a body
//! must be exactly one packet. Arbitrary input never panics.

mod common;

use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use rctdb_protocol::*;

fn ping() -> Packet {
    Packet::Control(ControlRequest { reqid: 1, src: Pnn::UNKNOWN, dest: Pnn::CURRENT, control: Control::Ping })
}

/// The body of `packet`'s frame.
fn body(packet: &Packet) -> Vec<u8> {
    encode(packet)[HEADER_LEN..].to_vec()
}

/// A message whose frame body is exactly `len` bytes (`len` >= 10).
fn message_with_body_len(len: usize) -> Packet {
    let mut m = Message { srvid: 0, src: Pnn(0), dest: Pnn(0), data: Vec::new() };
    let overhead = body(&Packet::Message(m.clone())).len() - 1;
    let varint_len = |n: usize| {
        if n < 1 << 7 {
            1
        } else if n < 1 << 14 {
            2
        } else {
            3
        }
    };
    let data_len = (len - overhead - 3..len - overhead).rev().find(|&d| d + varint_len(d) == len - overhead).unwrap();
    m.data = vec![0xA5; data_len];
    Packet::Message(m)
}

proptest! {
    #[test]
    fn every_prefix_of_a_frame_is_incomplete(p in packet()) {
        let frame = encode(&p);
        for end in 0..frame.len() {
            prop_assert_eq!(decode(&frame[..end]), Ok(None), "prefix of {} bytes", end);
            prop_assert_eq!(feed([&frame[..end]]), (vec![], Ok(end)));
        }
    }

    #[test]
    fn bytes_after_the_packet_inside_the_body_are_rejected(p in packet(), extra in vec(any::<u8>(), 1..16)) {
        let stuffed = frame_around(&[body(&p), extra.clone()].concat());
        prop_assert_eq!(decode(&stuffed), Err(FrameError::TrailingBytes(extra.len())));
    }

    #[test]
    fn a_truncated_body_is_rejected(p in packet(), cut in 1usize..8) {
        let b = body(&p);
        let short = &b[..b.len().saturating_sub(cut)];
        prop_assert!(matches!(decode(&frame_around(short)), Err(FrameError::BadBody(_))));
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
    }

    /// Arbitrary bodies behind a valid header reach the postcard decoder.
    #[test]
    fn decode_never_panics_on_arbitrary_bodies(b in vec(any::<u8>(), 0..256)) {
        if let Ok(Some((p, used))) = decode(&frame_around(&b)) {
            prop_assert_eq!(used, HEADER_LEN + b.len());
            prop_assert_eq!(decode(&encode(&p)), Ok(Some((p.clone(), encode(&p).len()))));
        }
    }

    /// However arbitrary bytes are chunked, a FrameBuffer returns exactly
    /// what decoding them frame by frame returns, or the same kind of error.
    #[test]
    fn frame_buffer_matches_decode_under_any_chunking(
        frames in vec(prop_oneof![packet().prop_map(|p| encode(&p)), vec(any::<u8>(), 0..40)], 0..6),
        sizes in vec(1usize..48, 1..8),
    ) {
        let stream = frames.concat();
        let (mut chunks, mut rest, mut size) = (Vec::new(), &stream[..], sizes.iter().cycle());
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at((*size.next().unwrap()).min(rest.len()));
            chunks.push(chunk);
            rest = tail;
        }
        let (got, got_end) = feed(chunks);
        let (want, want_end) = decode_all(&stream);
        prop_assert_eq!(got, want);
        match (got_end, want_end) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => prop_assert_eq!(std::mem::discriminant(&a), std::mem::discriminant(&b)),
            (a, b) => prop_assert!(false, "chunked {:?}, whole {:?}", a, b),
        }
    }
}

#[test]
fn bad_magic_is_caught_on_its_first_wrong_byte() {
    for at in 0..MAGIC.len() {
        let mut buf = MAGIC[..at].to_vec();
        buf.push(MAGIC[at] ^ 0x20);
        let mut want = [0; 4];
        want[..=at].copy_from_slice(&buf);
        assert_eq!(decode(&buf), Err(FrameError::BadMagic(want)), "wrong byte {at}");
        assert_eq!(feed([&buf[..]]).1, Err(FrameError::BadMagic(want)));
    }
    let mut frame = encode(&ping());
    frame[3] = b'B';
    assert_eq!(decode(&frame), Err(FrameError::BadMagic(*b"RCTB")));
}

#[test]
fn wrong_version_is_rejected_from_the_header() {
    for (bytes, version) in [([0, 0], 0), ([2, 0], 2), ([1, 1], 0x0101), ([0, 1], 0x0100)] {
        let mut header = raw_frame(VERSION, 0, 0, &[]);
        header[4..6].copy_from_slice(&bytes);
        assert_eq!(decode(&header), Err(FrameError::BadVersion(version)));
    }
}

#[test]
fn nonzero_reserved_is_rejected_from_the_header() {
    for reserved in [1, 0x8000, 0xFFFF] {
        assert_eq!(decode(&raw_frame(VERSION, reserved, 0, &[])), Err(FrameError::BadReserved(reserved)));
    }
}

#[test]
fn oversize_length_is_rejected_before_the_body_arrives() {
    for len in [MAX_BODY_LEN as u32 + 1, u32::MAX] {
        let header = raw_frame(VERSION, 0, len, &[]);
        assert_eq!(header.len(), HEADER_LEN);
        assert_eq!(decode(&header), Err(FrameError::TooLarge(len as usize)));
        assert_eq!(feed([&header[..]]).1, Err(FrameError::TooLarge(len as usize)));
    }
    // The limit itself is allowed: the header alone waits for the body.
    assert_eq!(decode(&raw_frame(VERSION, 0, MAX_BODY_LEN as u32, &[])), Ok(None));
}

#[test]
fn a_body_of_exactly_max_len_decodes() {
    let p = message_with_body_len(MAX_BODY_LEN);
    let frame = encode(&p);
    assert_eq!(frame.len(), HEADER_LEN + MAX_BODY_LEN);
    assert_eq!(decode(&frame), Ok(Some((p.clone(), frame.len()))));
    assert_eq!(feed(frame.chunks(4096)), (vec![p], Ok(0)));
}

#[test]
fn try_encode_refuses_a_body_over_max_len() {
    for len in [MAX_BODY_LEN + 1, MAX_BODY_LEN + 2, MAX_BODY_LEN + 1000] {
        assert_eq!(try_encode(&message_with_body_len(len)), Err(FrameError::TooLarge(len)), "body of {len} bytes");
    }
}

#[test]
fn try_encode_accepts_a_body_of_exactly_max_len() {
    let p = message_with_body_len(MAX_BODY_LEN);
    let frame = try_encode(&p).expect("at the limit");
    assert_eq!(frame.len(), HEADER_LEN + MAX_BODY_LEN);
    assert_eq!(frame, encode(&p));
    assert_eq!(decode(&frame), Ok(Some((p, frame.len()))));
}

/// An event run whose script output alone overflows a frame, as a daemon
/// could produce: relaying it must fail cleanly, not panic.
#[test]
fn try_encode_refuses_an_oversize_event_run() {
    let run = EventRun {
        event: Event::Monitor,
        args: vec![],
        start_us: 0,
        end_us: 0,
        scripts: vec![ScriptRun {
            name: "99.chatty".into(),
            status: ScriptStatus::Ok,
            start_us: 0,
            end_us: 0,
            output: "x".repeat(MAX_BODY_LEN),
        }],
    };
    let packet = Packet::Reply(ControlReply { reqid: 1, src: Pnn(0), result: Ok(ReplyData::EventRun(run)) });
    assert!(matches!(
        try_encode(&packet),
        Err(FrameError::TooLarge(n)) if n > MAX_BODY_LEN
    ));
}

#[test]
#[should_panic(expected = "exceeds the limit of 1048576")]
fn encoding_a_packet_over_max_len_panics() {
    encode(&message_with_body_len(MAX_BODY_LEN + 1));
}

#[test]
fn garbage_bodies_are_rejected() {
    let bad_packet_tag = [variant_count::<Packet>()];
    let bad_control_tag = [1, 0, 0, 0, variant_count::<Control>()];
    let bad_reply_tag = [2, 0, 0, 0, variant_count::<ReplyData>()];
    // GetEventStatus(<no such event>).
    let bad_event_tag = [1, 0, 0, 0, 20, variant_count::<Event>()];
    // An EventRun reply whose one script has no such status (a unit status
    // there would leave a complete packet).
    let status = variant_count::<ScriptStatus>();
    let bad_script_status_tag = [2, 0, 0, 0, 12, 0, 0, 0, 0, 1, 0, status, 0, 0, 0];
    // RunEvent whose timeout Option is neither None (0) nor Some (1, then
    // the u64 0 that follows).
    let bad_option_tag = [1, 0, 0, 0, 19, 0, 0, 2, 0];
    let bad_result_tag = [2, 0, 0, 2];
    let overlong_varint = [0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    let string_past_the_end = [1, 0, 0, 0, 11, 5, b'a'];
    let invalid_utf8 = [1, 0, 0, 0, 11, 1, 0xFF];
    for b in [
        &[][..],
        &bad_packet_tag,
        &bad_control_tag,
        &bad_reply_tag,
        &bad_event_tag,
        &bad_script_status_tag,
        &bad_option_tag,
        &bad_result_tag,
        &overlong_varint,
        &string_past_the_end,
        &invalid_utf8,
    ] {
        assert!(matches!(decode(&frame_around(b)), Err(FrameError::BadBody(_))), "body {b:02x?}");
    }
}

#[test]
fn an_absurd_element_count_is_rejected_without_allocating_it() {
    // A node map claiming u32::MAX nodes, in a 10-byte body.
    let b = [2, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F];
    assert!(matches!(decode(&frame_around(&b)), Err(FrameError::BadBody(_))));
}

#[test]
fn a_frame_buffer_stays_failed_after_an_error() {
    let stuffed = frame_around(&[body(&ping()), vec![0]].concat());
    let oversize = raw_frame(VERSION, 0, u32::MAX, &[]);
    for (bad, err) in [(stuffed, FrameError::TrailingBytes(1)), (oversize, FrameError::TooLarge(u32::MAX as usize))] {
        let mut fb = FrameBuffer::new();
        fb.extend(&bad);
        assert_eq!(fb.next_packet(), Err(err.clone()));
        fb.extend(&encode(&ping()));
        assert_eq!(fb.next_packet(), Err(err));
    }
}

#[test]
fn a_frame_buffer_compacts_and_keeps_every_packet() {
    // Well past the 64 KiB compaction threshold, fed in odd-sized chunks so
    // that a partial frame is pending whenever the buffer compacts.
    let packets: Vec<Packet> = (0..400).map(|i| message_with_body_len(200 + i)).collect();
    let stream: Vec<u8> = packets.iter().flat_map(encode).collect();
    assert!(stream.len() > 2 * 64 * 1024);
    assert_eq!(feed(stream.chunks(997)), (packets, Ok(0)));
}

#[test]
fn errors_name_the_problem() {
    let cases = [
        (FrameError::BadMagic(*b"HTTP"), "bad magic [48, 54, 54, 50]"),
        (FrameError::BadVersion(2), "unsupported wire version 2"),
        (FrameError::BadReserved(7), "reserved header field is 7, not 0"),
        (FrameError::TooLarge(MAX_BODY_LEN + 1), "frame body of 1048577 bytes exceeds the limit of 1048576"),
        (FrameError::TrailingBytes(3), "3 bytes left over after the packet in a frame"),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
    }
}

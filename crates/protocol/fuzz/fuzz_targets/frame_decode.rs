//! Frame decoder fuzz target: arbitrary bytes through `decode` and, chunked
//! by the first input byte, through `FrameBuffer`. Whatever decodes must
//! re-encode to a frame that decodes to the same packet. Errors are fine;
//! panics and mismatches are findings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rctdb_protocol::{decode, encode, DisableRequest, FrameBuffer, Packet};
use std::mem::discriminant;

fn check_reencode(packet: &Packet) {
    let frame = encode(packet);
    assert_eq!(decode(&frame), Ok(Some((packet.clone(), frame.len()))));
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, bytes)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);

    // The fixed-layout srvid payload: decodes exactly what it encodes.
    if let Some(r) = DisableRequest::decode(bytes) {
        assert_eq!(r.encode(), bytes);
    }

    if let Ok(Some((packet, used))) = decode(bytes) {
        assert!(used <= bytes.len());
        check_reencode(&packet);
    }

    // Chunked: the packets must be exactly those of decoding the whole
    // input frame by frame, and an error must be the same kind of error (a
    // bad magic may be caught on fewer bytes, so its payload may differ).
    let mut whole = Vec::new();
    let mut rest = bytes;
    let whole_err = loop {
        match decode(rest) {
            Ok(Some((p, used))) => {
                whole.push(p);
                rest = &rest[used..];
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };

    let mut fb = FrameBuffer::new();
    let mut got = Vec::new();
    let mut err = None;
    'feed: for piece in bytes.chunks(chunk) {
        fb.extend(piece);
        loop {
            match fb.next_packet() {
                Ok(Some(p)) => got.push(p),
                Ok(None) => break,
                Err(e) => {
                    err = Some(e);
                    break 'feed;
                }
            }
        }
    }
    for p in &got {
        check_reencode(p);
    }
    assert_eq!(got, whole);
    assert_eq!(err.as_ref().map(discriminant), whole_err.as_ref().map(discriminant));
    if err.is_none() {
        assert_eq!(fb.pending(), rest.len());
    }
});

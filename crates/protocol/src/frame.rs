//! Framing: a fixed 12-byte header, then a postcard body.
//!
//! The length is checked against [`MAX_BODY_LEN`] before anything is
//! allocated, and a body must decode to exactly one packet with nothing left
//! over: a peer cannot make us allocate or accept more than it should.

use crate::Packet;

/// First four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"RCTD";
/// Wire version; bumped only if the header itself changes.
pub const VERSION: u16 = 1;
/// magic(4) + version(2) + reserved(2) + length(4).
pub const HEADER_LEN: usize = 12;
/// Largest body accepted. A node map of 1000 nodes or a list of 10000
/// public addresses stays far below this.
pub const MAX_BODY_LEN: usize = 1 << 20;

/// Why a byte stream is not a valid sequence of frames. Any of these ends
/// the connection that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The stream does not start with [`MAGIC`].
    BadMagic([u8; 4]),
    /// A frame of a wire version we do not speak.
    BadVersion(u16),
    /// The reserved header field is not zero.
    BadReserved(u16),
    /// The header announces a body larger than [`MAX_BODY_LEN`].
    TooLarge(usize),
    /// The body is not a valid packet.
    BadBody(String),
    /// The body holds a packet followed by extra bytes.
    TrailingBytes(usize),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::BadMagic(m) => write!(f, "bad magic {m:02x?}"),
            FrameError::BadVersion(v) => write!(f, "unsupported wire version {v}"),
            FrameError::BadReserved(v) => write!(f, "reserved header field is {v}, not 0"),
            FrameError::TooLarge(n) => write!(f, "frame body of {n} bytes exceeds the limit of {MAX_BODY_LEN}"),
            FrameError::BadBody(e) => write!(f, "undecodable frame body: {e}"),
            FrameError::TrailingBytes(n) => {
                write!(f, "{n} bytes left over after the packet in a frame")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Encode one packet as a complete frame.
///
/// # Panics
///
/// If the body exceeds [`MAX_BODY_LEN`]: no peer would accept the frame.
pub fn encode(packet: &Packet) -> Vec<u8> {
    match try_encode(packet) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// Encode one packet as a complete frame, or refuse one whose body would
/// exceed [`MAX_BODY_LEN`]. Use this for anything relayed on behalf of
/// someone else: a re-addressed packet can grow by a few bytes.
pub fn try_encode(packet: &Packet) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    // Serializing our own types into a Vec cannot fail.
    let mut out = postcard::to_extend(packet, out).expect("postcard encoding into a Vec");
    let body_len = out.len() - HEADER_LEN;
    if body_len > MAX_BODY_LEN {
        return Err(FrameError::TooLarge(body_len));
    }
    out[8..12].copy_from_slice(&(body_len as u32).to_le_bytes());
    Ok(out)
}

/// Decode the first frame in `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of a frame, and
/// `Ok(Some((packet, consumed)))` when a whole frame was decoded.
pub fn decode(buf: &[u8]) -> Result<Option<(Packet, usize)>, FrameError> {
    // Reject a wrong magic as early as its first bytes arrive.
    let seen = buf.len().min(4);
    if buf[..seen] != MAGIC[..seen] {
        let mut m = [0u8; 4];
        m[..seen].copy_from_slice(&buf[..seen]);
        return Err(FrameError::BadMagic(m));
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let version = u16::from_le_bytes([buf[4], buf[5]]);
    if version != VERSION {
        return Err(FrameError::BadVersion(version));
    }
    let reserved = u16::from_le_bytes([buf[6], buf[7]]);
    if reserved != 0 {
        return Err(FrameError::BadReserved(reserved));
    }
    let len = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
    if len > MAX_BODY_LEN {
        return Err(FrameError::TooLarge(len));
    }
    if buf.len() < HEADER_LEN + len {
        return Ok(None);
    }
    let body = &buf[HEADER_LEN..HEADER_LEN + len];
    let (packet, rest) = postcard::take_from_bytes::<Packet>(body).map_err(|e| FrameError::BadBody(e.to_string()))?;
    if !rest.is_empty() {
        return Err(FrameError::TrailingBytes(rest.len()));
    }
    Ok(Some((packet, HEADER_LEN + len)))
}

/// Accumulates bytes read from a stream and yields whole packets.
///
/// After an error the buffer is poisoned: the stream has lost framing and
/// the connection must be closed.
#[derive(Debug, Default)]
pub struct FrameBuffer {
    buf: Vec<u8>,
    start: usize,
}

impl FrameBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append bytes just read from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete packet, if one has arrived.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, FrameError> {
        if self.start == self.buf.len() {
            return Ok(None);
        }
        match decode(&self.buf[self.start..])? {
            Some((packet, used)) => {
                self.start += used;
                if self.start > 64 * 1024 {
                    self.buf.drain(..self.start);
                    self.start = 0;
                }
                Ok(Some(packet))
            }
            None => Ok(None),
        }
    }

    /// Bytes received but not yet consumed as packets.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

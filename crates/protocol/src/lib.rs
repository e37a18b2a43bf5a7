//! rctdb wire protocol: the types that cross a socket, and their framing.
//!
//! This crate does no I/O. Every packet, on the node transport (TCP between
//! rctdbd's) and on the local control socket (clients such as the `rctdb`
//! tool and the recovery daemon), is one [`Packet`] inside one frame:
//!
//! ```text
//! +-------+---------+----------+------------+----------------------+
//! | magic | version | reserved | length u32 | postcard body        |
//! | RCTD  | u16 LE  | u16 (0)  | LE         | (`length` bytes)     |
//! +-------+---------+----------+------------+----------------------+
//! ```
//!
//! postcard encodes enum variants by position: variants are only ever
//! appended, never reordered or removed, so the wire never drifts. The
//! pinned-bytes tests hold every variant to its encoding.
#![forbid(unsafe_code)]

mod frame;
mod packet;
mod types;

pub use frame::{decode, encode, try_encode, FrameBuffer, FrameError, HEADER_LEN, MAGIC, MAX_BODY_LEN, VERSION};
pub use packet::{
    decode_held_back, encode_held_back, srvid, Control, ControlError, ControlReply, ControlRequest, DisableRequest,
    HeldBack, IfaceInfo, Keepalive, Message, Packet, PeerLease, PublicIpInfo, PublicIpList, ReplyData, Safety,
};
pub use types::{
    DebugLevel, Event, EventRun, Generation, NodeFlags, NodeInfo, NodeMap, ParseLevelError, Pnn, RecMode, RunState,
    ScriptRun, ScriptStatus, Uptime, VnnMap,
};

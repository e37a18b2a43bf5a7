//! Domain types shared by every process: node numbers, flags, maps, levels.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// Physical node number: the node's line index in the `nodes` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Pnn(pub u32);

impl Pnn {
    /// "No node": an unknown leader, an unassigned address.
    pub const UNKNOWN: Pnn = Pnn(0xFFFF_FFFF);
    /// Destination meaning "the daemon this client is connected to".
    pub const CURRENT: Pnn = Pnn(0xF000_0001);
    /// Every node that is not deleted.
    pub const BROADCAST_ALL: Pnn = Pnn(0xF000_0002);
    /// Every node that is not INACTIVE.
    pub const BROADCAST_ACTIVE: Pnn = Pnn(0xF000_0003);
    /// Every node that is not DISCONNECTED (or deleted).
    pub const BROADCAST_CONNECTED: Pnn = Pnn(0xF000_0004);

    /// A real node number, not one of the pseudo-destinations.
    pub fn is_node(self) -> bool {
        self.0 < 0xF000_0000
    }
}

impl fmt::Display for Pnn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The node flags of CTDB, with CTDB's bit values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct NodeFlags(pub u32);

impl NodeFlags {
    pub const DISCONNECTED: NodeFlags = NodeFlags(0x01);
    pub const UNHEALTHY: NodeFlags = NodeFlags(0x02);
    pub const PERMANENTLY_DISABLED: NodeFlags = NodeFlags(0x04);
    pub const BANNED: NodeFlags = NodeFlags(0x08);
    pub const DELETED: NodeFlags = NodeFlags(0x10);
    pub const STOPPED: NodeFlags = NodeFlags(0x20);
    /// Tool-side pseudo flag: the queried node cannot vouch for this node yet.
    pub const UNKNOWN: NodeFlags = NodeFlags(0x40);
    /// May not host public addresses.
    pub const DISABLED: NodeFlags = NodeFlags(0x02 | 0x04);
    /// Out of the cluster: not in the VNN map, cannot lead, hosts nothing.
    pub const INACTIVE: NodeFlags = NodeFlags(0x10 | 0x01 | 0x08 | 0x20);

    pub const fn empty() -> Self {
        NodeFlags(0)
    }
    /// True if any bit of `other` is set.
    pub fn intersects(self, other: NodeFlags) -> bool {
        self.0 & other.0 != 0
    }
    /// True if every bit of `other` is set.
    pub fn contains(self, other: NodeFlags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn insert(&mut self, other: NodeFlags) {
        self.0 |= other.0;
    }
    pub fn remove(&mut self, other: NodeFlags) {
        self.0 &= !other.0;
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn is_inactive(self) -> bool {
        self.intersects(Self::INACTIVE)
    }
}

impl std::ops::BitOr for NodeFlags {
    type Output = NodeFlags;
    fn bitor(self, rhs: NodeFlags) -> NodeFlags {
        NodeFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for NodeFlags {
    /// CTDB's display: `OK`, or the set flags joined by `|` in CTDB's order,
    /// with `INACTIVE` appended when any inactive bit is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(NodeFlags, &str); 7] = [
            (NodeFlags::DISCONNECTED, "DISCONNECTED"),
            (NodeFlags::UNKNOWN, "UNKNOWN"),
            (NodeFlags::PERMANENTLY_DISABLED, "DISABLED"),
            (NodeFlags::BANNED, "BANNED"),
            (NodeFlags::UNHEALTHY, "UNHEALTHY"),
            (NodeFlags::DELETED, "DELETED"),
            (NodeFlags::STOPPED, "STOPPED"),
        ];
        if self.0 == 0 {
            return f.write_str("OK");
        }
        let mut first = true;
        let mut word = |f: &mut fmt::Formatter<'_>, s: &str| -> fmt::Result {
            if !first {
                f.write_str("|")?;
            }
            first = false;
            f.write_str(s)
        };
        for (flag, name) in NAMES {
            if self.contains(flag) {
                word(f, name)?;
            }
        }
        if self.is_inactive() {
            word(f, "INACTIVE")?;
        }
        Ok(())
    }
}

/// One node as the daemon sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub pnn: Pnn,
    /// Private address; `0.0.0.0` for a deleted node.
    pub addr: IpAddr,
    pub flags: NodeFlags,
}

/// Every node of the cluster, deleted ones included, in PNN order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeMap {
    pub nodes: Vec<NodeInfo>,
}

impl NodeMap {
    pub fn get(&self, pnn: Pnn) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.pnn == pnn)
    }
    /// Nodes that are not deleted.
    pub fn present(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.iter().filter(|n| !n.flags.contains(NodeFlags::DELETED))
    }
}

/// Recovery generation. [`Generation::INVALID`] until the first recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Generation(pub u32);

impl Generation {
    pub const INVALID: Generation = Generation(1);
}

/// The VNN map: which nodes take part in the cluster, in hash-slot order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VnnMap {
    pub generation: Generation,
    pub map: Vec<Pnn>,
}

/// Recovery mode of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecMode {
    Normal,
    Active,
}

impl RecMode {
    /// CTDB's number for the mode (`Recovery mode:RECOVERY (1)`).
    pub fn as_u32(self) -> u32 {
        match self {
            RecMode::Normal => 0,
            RecMode::Active => 1,
        }
    }
}

/// Lifecycle stage of a daemon, in CTDB's order and numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RunState {
    Unknown,
    Init,
    Setup,
    FirstRecovery,
    Startup,
    Running,
    Shutdown,
}

impl RunState {
    pub const ALL: [RunState; 7] = [
        RunState::Unknown,
        RunState::Init,
        RunState::Setup,
        RunState::FirstRecovery,
        RunState::Startup,
        RunState::Running,
        RunState::Shutdown,
    ];
    pub fn name(self) -> &'static str {
        match self {
            RunState::Unknown => "UNKNOWN",
            RunState::Init => "INIT",
            RunState::Setup => "SETUP",
            RunState::FirstRecovery => "FIRST_RECOVERY",
            RunState::Startup => "STARTUP",
            RunState::Running => "RUNNING",
            RunState::Shutdown => "SHUTDOWN",
        }
    }
    /// Parse a run-state name, case-insensitively.
    pub fn parse(s: &str) -> Option<RunState> {
        RunState::ALL.into_iter().find(|r| r.name().eq_ignore_ascii_case(s))
    }
}

/// Times a daemon reports for `rctdb uptime`, in microseconds since the
/// Unix epoch. A recovery time of 0 means "never".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uptime {
    pub current_time_us: u64,
    pub start_time_us: u64,
    pub last_recovery_started_us: u64,
    pub last_recovery_finished_us: u64,
}

/// Log levels, CTDB's names. Ordered from most to least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DebugLevel {
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

/// A debug level that is neither a known name nor a number 0-10.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLevelError(pub String);

impl fmt::Display for ParseLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Invalid debug level '{}'. Valid levels are:\n\tERROR | WARNING | NOTICE | INFO | DEBUG", self.0)
    }
}

impl std::error::Error for ParseLevelError {}

impl DebugLevel {
    pub const ALL: [DebugLevel; 5] =
        [DebugLevel::Error, DebugLevel::Warning, DebugLevel::Notice, DebugLevel::Info, DebugLevel::Debug];

    pub fn name(self) -> &'static str {
        match self {
            DebugLevel::Error => "ERROR",
            DebugLevel::Warning => "WARNING",
            DebugLevel::Notice => "NOTICE",
            DebugLevel::Info => "INFO",
            DebugLevel::Debug => "DEBUG",
        }
    }

    /// Parse as CTDB does: a name or a case-insensitive prefix of one
    /// (`ERR`, `warn`), or a number 0-10 (0 ERROR, 1-2 WARNING, 3-4 NOTICE,
    /// 5-9 INFO, 10 DEBUG).
    pub fn parse(s: &str) -> Result<DebugLevel, ParseLevelError> {
        let t = s.trim();
        if let Ok(n) = t.parse::<u32>() {
            return match n {
                0 => Ok(DebugLevel::Error),
                1..=2 => Ok(DebugLevel::Warning),
                3..=4 => Ok(DebugLevel::Notice),
                5..=9 => Ok(DebugLevel::Info),
                10 => Ok(DebugLevel::Debug),
                _ => Err(ParseLevelError(s.to_string())),
            };
        }
        if t.len() >= 3 {
            let up = t.to_ascii_uppercase();
            if let Some(l) = DebugLevel::ALL.into_iter().find(|l| l.name().starts_with(&up)) {
                return Ok(l);
            }
        }
        Err(ParseLevelError(s.to_string()))
    }
}

impl fmt::Display for DebugLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Event-script events, with CTDB's names and argument counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Event {
    Init,
    Setup,
    Startup,
    StartRecovery,
    Recovered,
    TakeIp,
    ReleaseIp,
    UpdateIp,
    Monitor,
    IpReallocated,
    StartIpReallocate,
    Shutdown,
}

impl Event {
    pub const ALL: [Event; 12] = [
        Event::Init,
        Event::Setup,
        Event::Startup,
        Event::StartRecovery,
        Event::Recovered,
        Event::TakeIp,
        Event::ReleaseIp,
        Event::UpdateIp,
        Event::Monitor,
        Event::IpReallocated,
        Event::StartIpReallocate,
        Event::Shutdown,
    ];

    /// The name scripts receive as their first argument.
    pub fn name(self) -> &'static str {
        match self {
            Event::Init => "init",
            Event::Setup => "setup",
            Event::Startup => "startup",
            Event::StartRecovery => "startrecovery",
            Event::Recovered => "recovered",
            Event::TakeIp => "takeip",
            Event::ReleaseIp => "releaseip",
            Event::UpdateIp => "updateip",
            Event::Monitor => "monitor",
            Event::IpReallocated => "ipreallocated",
            Event::StartIpReallocate => "startipreallocate",
            Event::Shutdown => "shutdown",
        }
    }

    /// Parse an event name (exact, lower case as CTDB's).
    pub fn from_name(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == s)
    }

    /// Number of arguments after the event name:
    /// `takeip|releaseip IFACE IP MASKBITS`, `updateip OLD NEW IP MASKBITS`.
    pub fn arg_count(self) -> usize {
        match self {
            Event::TakeIp | Event::ReleaseIp => 3,
            Event::UpdateIp => 4,
            _ => 0,
        }
    }

    /// May run while the node's recovery mode is ACTIVE (reference §5.3).
    pub fn allowed_in_recovery(self) -> bool {
        matches!(
            self,
            Event::Init
                | Event::Setup
                | Event::StartRecovery
                | Event::Shutdown
                | Event::ReleaseIp
                | Event::IpReallocated
                | Event::StartIpReallocate
        )
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How one script of an event ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScriptStatus {
    /// Exit status 0.
    Ok,
    /// Exit status > 0.
    Error { code: i32 },
    /// Still running at the event's deadline; its process group was killed.
    TimedOut,
    /// Not executable (or vanished before it could run).
    Disabled,
    /// A running monitor was cancelled by another event.
    Cancelled,
    /// Killed by a signal that we did not send.
    Signaled { signal: i32 },
    /// Could not be started at all.
    CannotRun { reason: String },
}

impl ScriptStatus {
    /// CTDB's word for the status column.
    pub fn word(&self) -> &'static str {
        match self {
            ScriptStatus::Ok => "OK",
            ScriptStatus::Error { .. } => "ERROR",
            ScriptStatus::TimedOut => "TIMEDOUT",
            ScriptStatus::Disabled => "DISABLED",
            ScriptStatus::Cancelled => "CANCELLED",
            ScriptStatus::Signaled { .. } | ScriptStatus::CannotRun { .. } => "CANNOT RUN",
        }
    }

    /// True for statuses that fail the event.
    pub fn is_failure(&self) -> bool {
        !matches!(self, ScriptStatus::Ok | ScriptStatus::Disabled)
    }
}

/// One script's part in one run of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptRun {
    /// Script name, e.g. `10.interface`.
    pub name: String,
    pub status: ScriptStatus,
    /// Microseconds since the epoch.
    pub start_us: u64,
    pub end_us: u64,
    /// Captured stdout and stderr, merged, truncated at a bound.
    pub output: String,
}

/// One complete run of an event: every script in run order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRun {
    pub event: Event,
    pub args: Vec<String>,
    pub start_us: u64,
    pub end_us: u64,
    pub scripts: Vec<ScriptRun>,
}

impl EventRun {
    /// The first failing script, which ended the event, if any.
    pub fn failure(&self) -> Option<&ScriptRun> {
        self.scripts.iter().find(|s| s.status.is_failure())
    }
}

//! Tunables: CTDB's run-time knobs, with CTDB's names, order and defaults
//! (ref §2.5), and the `tunables` file that sets them at start-up.
//!
//! Each tunable has a unit:
//! - [`TunableUnit::Count`]: a plain unsigned number (limits, flags,
//!   algorithm numbers, and the few CTDB tunables whose unit is
//!   milliseconds already, such as `SeqnumInterval` and `RecLockLatencyMs`);
//! - [`TunableUnit::Seconds`]: a time that CTDB counts in whole seconds.
//!   rctdb stores these in **milliseconds**, so `KeepaliveInterval=200ms`
//!   or `=0.2` is possible; `=5` still means five seconds.
//!
//! Invariant of [`Tunables`]: every value fits CTDB's 32-bit range (a
//! Seconds value is at most 2^32-1 seconds), so converting one to a
//! `Duration` and adding it to an `Instant` cannot overflow.
//!
//! File syntax: `Name=value` lines (names case-insensitive, whitespace
//! around `=` allowed), `#`/`;` comment lines, blank lines. Sections are an
//! error. Every bad line is reported, not just the first. A Count value is a
//! decimal or `0x` hexadecimal integer (a leading `0` is decimal, not octal
//! as in CTDB's `strtoul`); a Seconds value uses the duration syntax of
//! [`crate::parse_duration`] or a `0x` hexadecimal number of seconds.

use crate::duration::{format_duration, parse_duration};
use crate::error::{read_optional, ConfigError};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// How a tunable's raw value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunableUnit {
    /// A plain number.
    Count,
    /// A time; the raw value is in milliseconds.
    Seconds,
}

macro_rules! tunables {
    ($( $(#[$doc:meta])* $name:ident : $unit:ident = $default:expr ),* $(,)?) => {
        /// A live (non-obsolete) tunable. Variants are in `listvars` order
        /// and named exactly as CTDB spells them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Tunable {
            $( $(#[$doc])* $name, )*
        }

        /// `(tunable, name, unit, default in the unit's natural measure:
        /// seconds for Seconds)`, in `listvars` order.
        const TABLE: &[(Tunable, &str, TunableUnit, u64)] = &[
            $( (Tunable::$name, stringify!($name), TunableUnit::$unit, $default), )*
        ];

        impl Tunable {
            /// Every live tunable, in `ctdb listvars` order.
            pub const ALL: &'static [Tunable] = &[ $( Tunable::$name, )* ];
        }
    };
}

tunables! {
    /// ms between database sequence-number broadcasts.
    SeqnumInterval: Count = 1000,
    /// Default control timeout.
    ControlTimeout: Seconds = 60,
    /// Database traverse timeout.
    TraverseTimeout: Seconds = 20,
    /// Time between keepalives to each peer.
    KeepaliveInterval: Seconds = 5,
    /// Silent keepalive intervals before a peer is declared dead.
    KeepaliveLimit: Count = 5,
    /// Timeout of controls sent by the recovery daemon.
    RecoverTimeout: Seconds = 30,
    /// Time between recovery-daemon main-loop passes.
    RecoverInterval: Seconds = 1,
    /// Time an election stays open after the last election packet.
    ElectionTimeout: Seconds = 3,
    /// Timeout per takeover control.
    TakeoverTimeout: Seconds = 9,
    /// Time between `monitor` events.
    MonitorInterval: Seconds = 15,
    /// Time between pushes of TCP tickle lists.
    TickleUpdateInterval: Seconds = 20,
    /// Total time for all scripts of one event.
    EventScriptTimeout: Seconds = 30,
    /// Consecutive monitor timeouts tolerated.
    MonitorTimeoutCount: Count = 20,
    /// Time after which culprit credits are forgiven.
    RecoveryGracePeriod: Seconds = 120,
    /// Ban duration.
    RecoveryBanPeriod: Seconds = 300,
    /// TDB hash size for volatile databases.
    DatabaseHashSize: Count = 100001,
    /// TDB max dead records.
    DatabaseMaxDead: Count = 5,
    /// Time after a recovery during which further recoveries are suppressed.
    RerecoveryTimeout: Seconds = 10,
    /// 0 disables banning.
    EnableBans: Count = 1,
    /// 1: IPs do not move back to recovered nodes.
    NoIPFailback: Count = 0,
    /// talloc naming for memory dumps.
    VerboseMemoryNames: Count = 0,
    /// Watchdog period for recovery-daemon pings (0 disables).
    RecdPingTimeout: Seconds = 60,
    /// Watchdog expiries before the recovery daemon is restarted.
    RecdFailCount: Count = 10,
    /// Log operations slower than this many ms (0 off).
    LogLatencyMs: Count = 0,
    /// Log cluster-lock operations slower than this many ms (0 off).
    RecLockLatencyMs: Count = 1000,
    /// A node in recovery mode this long releases all public IPs.
    RecoveryDropAllIPs: Seconds = 120,
    /// Vacuuming interval.
    VacuumInterval: Seconds = 10,
    /// Vacuuming run-time limit.
    VacuumMaxRunTime: Seconds = 120,
    /// Vacuuming repack limit.
    RepackLimit: Count = 10000,
    /// Vacuuming fast-path count.
    VacuumFastPathCount: Count = 60,
    /// Client queue depth before a client is dropped.
    MaxQueueDropMsg: Count = 1000000,
    /// Traverse unhealthy databases.
    AllowUnhealthyDBRead: Count = 0,
    /// Statistics history granularity.
    StatHistoryInterval: Count = 1,
    /// Time a database attach is deferred while frozen.
    DeferredAttachTO: Seconds = 120,
    /// 0 blocks new database attaches.
    AllowClientDBAttach: Count = 1,
    /// Record migration: fetch collapse.
    FetchCollapse: Count = 1,
    /// Record migration: hop count that makes a record sticky.
    HopcountMakeSticky: Count = 50,
    /// Record migration: how long a record stays sticky.
    StickyDuration: Seconds = 600,
    /// Record migration: pin-down time in ms.
    StickyPindown: Count = 200,
    /// 1: no node may gain an IP.
    NoIPTakeover: Count = 0,
    /// Recovery warning: record count.
    DBRecordCountWarn: Count = 100000,
    /// Recovery warning: record size.
    DBRecordSizeWarn: Count = 10000000,
    /// Recovery warning: database size.
    DBSizeWarn: Count = 100000000,
    /// Recovery buffer preallocation.
    PullDBPreallocation: Count = 10485760,
    /// Max lock helpers per database.
    LockProcessesPerDB: Count = 200,
    /// Record buffer size for recovery and vacuum controls.
    RecBufferSizeLimit: Count = 1000000,
    /// Bytes read per socket read.
    QueueBufferSize: Count = 1024,
    /// 0 deterministic, 1 non-deterministic, 2 LCP2 (other values: LCP2).
    IPAllocAlgorithm: Count = 2,
    /// 1 disables the keepalive version check.
    AllowMixedVersions: Count = 0,
}

/// Obsolete CTDB tunables: not settable, and an error in a tunables file.
pub const OBSOLETE_TUNABLES: &[&str] = &[
    "MaxRedirectCount",
    "EventScriptUnhealthyOnTimeout",
    "DeterministicIPs",
    "LCP2PublicIPs",
    "ReclockPingPeriod",
    "DisableIPFailover",
    "VerifyRecoveryLock",
    "VacuumLimit",
    "RecoverPDBBySeqNum",
    "DeferredRebalanceOnNodeAdd",
    "NoIPHostOnAllDisabled",
    "Samba3AvoidDeadlocks",
    "TDBMutexEnabled",
];

const N: usize = TABLE.len();

/// Largest raw Count value (CTDB's tunables are `uint32_t`).
const MAX_COUNT: u64 = u32::MAX as u64;

impl Tunable {
    fn entry(self) -> &'static (Tunable, &'static str, TunableUnit, u64) {
        // The macro builds TABLE in declaration order, so the discriminant
        // is the index (checked by the `table_order` test).
        &TABLE[self as usize]
    }

    /// CTDB's exact spelling, e.g. `KeepaliveInterval`.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// How the raw value is read.
    pub fn unit(self) -> TunableUnit {
        self.entry().2
    }

    /// Default raw value: CTDB's default, times 1000 for Seconds tunables.
    pub fn default_raw(self) -> u64 {
        let (_, _, unit, d) = *self.entry();
        match unit {
            TunableUnit::Count => d,
            TunableUnit::Seconds => d * 1000,
        }
    }

    /// Look a live tunable up by name, case-insensitively. Obsolete names
    /// give `None`.
    pub fn from_name(name: &str) -> Option<Tunable> {
        TABLE.iter().find(|e| e.1.eq_ignore_ascii_case(name)).map(|e| e.0)
    }

    /// Parse a value for this tunable into its raw form.
    pub fn parse_value(self, value: &str) -> Option<u64> {
        let v = value.trim();
        match self.unit() {
            TunableUnit::Count => parse_uint(v).filter(|n| *n <= MAX_COUNT),
            TunableUnit::Seconds => match parse_duration(v) {
                Ok(d) => u64::try_from(d.as_millis()).ok(),
                Err(_) if v.starts_with("0x") || v.starts_with("0X") => {
                    parse_uint(v).filter(|n| *n <= MAX_COUNT).map(|s| s * 1000)
                }
                Err(_) => None,
            },
        }
    }
}

impl fmt::Display for Tunable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unsigned integer: decimal digits, or `0x`/`0X` and hex digits. No
/// sign, no spaces.
pub(crate) fn parse_uint(s: &str) -> Option<u64> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// A value in the syntax a tunables file takes: decimal for Count, `5` or
/// `200ms` for Seconds.
pub fn format_tunable(t: Tunable, raw: u64) -> String {
    match t.unit() {
        TunableUnit::Count => raw.to_string(),
        TunableUnit::Seconds => format_duration(Duration::from_millis(raw)),
    }
}

/// Why a tunable could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunableError {
    /// Unknown or obsolete name.
    #[error("No such tunable {0}")]
    NoSuch(String),
    /// The value does not parse for this tunable's unit.
    #[error("Invalid value {value} for tunable {name}")]
    InvalidValue {
        /// The tunable's canonical name.
        name: String,
        /// The value as given.
        value: String,
    },
}

/// The value of every live tunable.
#[derive(Clone, Debug, PartialEq)]
pub struct Tunables {
    raw: [u64; N],
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables::defaults()
    }
}

impl Tunables {
    /// CTDB's defaults.
    pub fn defaults() -> Tunables {
        let mut raw = [0u64; N];
        for (slot, t) in raw.iter_mut().zip(Tunable::ALL) {
            *slot = t.default_raw();
        }
        Tunables { raw }
    }

    /// The raw value (milliseconds for Seconds tunables).
    pub fn raw(&self, t: Tunable) -> u64 {
        self.raw[t as usize]
    }

    /// The value as a duration. For a Seconds tunable that is the stored
    /// milliseconds; a Count tunable is read as whole seconds.
    pub fn duration(&self, t: Tunable) -> Duration {
        match t.unit() {
            TunableUnit::Seconds => Duration::from_millis(self.raw(t)),
            TunableUnit::Count => Duration::from_secs(self.raw(t)),
        }
    }

    /// The raw value as a count (for a Seconds tunable: milliseconds).
    pub fn count(&self, t: Tunable) -> u64 {
        self.raw(t)
    }

    /// Set a raw value, clamped to the tunable's 32-bit range.
    pub fn set_raw(&mut self, t: Tunable, raw: u64) {
        let max = match t.unit() {
            TunableUnit::Count => MAX_COUNT,
            TunableUnit::Seconds => MAX_COUNT * 1000,
        };
        self.raw[t as usize] = raw.min(max);
    }

    /// Set a tunable by name (case-insensitive) from text in the unit's
    /// syntax. Obsolete names are refused as unknown, as `ctdb setvar` does.
    pub fn set(&mut self, name: &str, value: &str) -> Result<Tunable, TunableError> {
        let t = Tunable::from_name(name).ok_or_else(|| TunableError::NoSuch(name.to_string()))?;
        let raw = t
            .parse_value(value)
            .ok_or_else(|| TunableError::InvalidValue { name: t.name().to_string(), value: value.to_string() })?;
        self.set_raw(t, raw);
        Ok(t)
    }

    /// Every live tunable and its raw value, in `listvars` order.
    pub fn list(&self) -> Vec<(Tunable, u64)> {
        Tunable::ALL.iter().map(|t| (*t, self.raw(*t))).collect()
    }

    /// Parse a tunables file on top of the defaults. Every bad line is
    /// reported.
    pub fn parse(text: &str, file: &Path) -> Result<Tunables, Vec<ConfigError>> {
        let (t, errors) = Tunables::parse_lenient(text, file);
        if errors.is_empty() {
            Ok(t)
        } else {
            Err(errors)
        }
    }

    /// Parse a tunables file on top of the defaults, as CTDB's daemon does:
    /// the valid lines are applied even when others are wrong, and the
    /// errors are returned alongside.
    pub fn parse_lenient(text: &str, file: &Path) -> (Tunables, Vec<ConfigError>) {
        let mut t = Tunables::defaults();
        let mut errors = Vec::new();
        for (idx, raw) in text.lines().enumerate() {
            let line = idx + 1;
            let s = raw.trim();
            if s.is_empty() || s.starts_with('#') || s.starts_with(';') {
                continue;
            }
            let err = |msg: String| ConfigError::line_err(file, line, msg);
            if s.starts_with('[') {
                errors.push(err(format!("Invalid tunables line {s}: sections are not allowed")));
                continue;
            }
            let Some((name, value)) = s.split_once('=') else {
                errors.push(err(format!("Invalid tunables line {s}: expected Name=value")));
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() {
                errors.push(err(format!("Invalid tunables line {s}: expected Name=value")));
                continue;
            }
            let Some(tun) = Tunable::from_name(name) else {
                if OBSOLETE_TUNABLES.iter().any(|o| o.eq_ignore_ascii_case(name)) {
                    errors.push(err(format!("Obsolete tunable {name}")));
                } else {
                    errors.push(err(format!("Unknown tunable {name}")));
                }
                continue;
            };
            match tun.parse_value(value) {
                Some(v) => t.set_raw(tun, v),
                None => errors.push(err(format!("Invalid value {value} for tunable {}", tun.name()))),
            }
        }
        (t, errors)
    }

    /// Read and parse a tunables file. A missing file gives the defaults.
    pub fn load(file: &Path) -> Result<Tunables, Vec<ConfigError>> {
        let (t, errors) = Tunables::load_lenient(file);
        if errors.is_empty() {
            Ok(t)
        } else {
            Err(errors)
        }
    }

    /// [`Tunables::parse_lenient`] on a file; a missing file gives the
    /// defaults, an unreadable one the defaults and the read error.
    pub fn load_lenient(file: &Path) -> (Tunables, Vec<ConfigError>) {
        match read_optional(file) {
            Ok(Some(text)) => Tunables::parse_lenient(&text, file),
            Ok(None) => (Tunables::defaults(), Vec::new()),
            Err(e) => (Tunables::defaults(), vec![e]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ctdb listvars` of a default rctdb, in order: names, order and
    /// defaults pinned in one place.
    const LISTVARS: &str = "
        SeqnumInterval          = 1000
        ControlTimeout          = 60
        TraverseTimeout         = 20
        KeepaliveInterval       = 5
        KeepaliveLimit          = 5
        RecoverTimeout          = 30
        RecoverInterval         = 1
        ElectionTimeout         = 3
        TakeoverTimeout         = 9
        MonitorInterval         = 15
        TickleUpdateInterval    = 20
        EventScriptTimeout      = 30
        MonitorTimeoutCount     = 20
        RecoveryGracePeriod     = 120
        RecoveryBanPeriod       = 300
        DatabaseHashSize        = 100001
        DatabaseMaxDead         = 5
        RerecoveryTimeout       = 10
        EnableBans              = 1
        NoIPFailback            = 0
        VerboseMemoryNames      = 0
        RecdPingTimeout         = 60
        RecdFailCount           = 10
        LogLatencyMs            = 0
        RecLockLatencyMs        = 1000
        RecoveryDropAllIPs      = 120
        VacuumInterval          = 10
        VacuumMaxRunTime        = 120
        RepackLimit             = 10000
        VacuumFastPathCount     = 60
        MaxQueueDropMsg         = 1000000
        AllowUnhealthyDBRead    = 0
        StatHistoryInterval     = 1
        DeferredAttachTO        = 120
        AllowClientDBAttach     = 1
        FetchCollapse           = 1
        HopcountMakeSticky      = 50
        StickyDuration          = 600
        StickyPindown           = 200
        NoIPTakeover            = 0
        DBRecordCountWarn       = 100000
        DBRecordSizeWarn        = 10000000
        DBSizeWarn              = 100000000
        PullDBPreallocation     = 10485760
        LockProcessesPerDB      = 200
        RecBufferSizeLimit      = 1000000
        QueueBufferSize         = 1024
        IPAllocAlgorithm        = 2
        AllowMixedVersions      = 0
    ";

    const SECONDS: &[Tunable] = &[
        Tunable::ControlTimeout,
        Tunable::TraverseTimeout,
        Tunable::KeepaliveInterval,
        Tunable::RecoverTimeout,
        Tunable::RecoverInterval,
        Tunable::ElectionTimeout,
        Tunable::TakeoverTimeout,
        Tunable::MonitorInterval,
        Tunable::TickleUpdateInterval,
        Tunable::EventScriptTimeout,
        Tunable::RecoveryGracePeriod,
        Tunable::RecoveryBanPeriod,
        Tunable::RerecoveryTimeout,
        Tunable::RecdPingTimeout,
        Tunable::RecoveryDropAllIPs,
        Tunable::VacuumInterval,
        Tunable::VacuumMaxRunTime,
        Tunable::DeferredAttachTO,
        Tunable::StickyDuration,
    ];

    #[test]
    fn listvars_names_order_defaults() {
        let want: Vec<String> = LISTVARS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let got: Vec<String> = Tunables::defaults()
            .list()
            .iter()
            .map(|(t, v)| format!("{} = {}", t.name(), format_tunable(*t, *v)))
            .collect();
        assert_eq!(got, want);
        assert_eq!(Tunable::ALL.len(), 49);
    }

    #[test]
    fn table_order() {
        for (i, (t, name, _, _)) in TABLE.iter().enumerate() {
            assert_eq!(*t as usize, i);
            assert_eq!(Tunable::ALL[i], *t);
            assert_eq!(t.name(), *name);
            assert_eq!(t.to_string(), *name);
        }
    }

    #[test]
    fn specific_defaults() {
        let d = Tunables::defaults();
        let secs = |t| d.duration(t).as_secs();
        assert_eq!(secs(Tunable::KeepaliveInterval), 5);
        assert_eq!(d.count(Tunable::KeepaliveLimit), 5);
        assert_eq!(secs(Tunable::MonitorInterval), 15);
        assert_eq!(secs(Tunable::EventScriptTimeout), 30);
        assert_eq!(secs(Tunable::RecoverInterval), 1);
        assert_eq!(secs(Tunable::ElectionTimeout), 3);
        assert_eq!(secs(Tunable::RecoverTimeout), 30);
        assert_eq!(secs(Tunable::TakeoverTimeout), 9);
        assert_eq!(d.count(Tunable::IPAllocAlgorithm), 2);
        assert_eq!(d.count(Tunable::NoIPFailback), 0);
        assert_eq!(d.raw(Tunable::KeepaliveInterval), 5000);
        assert_eq!(Tunable::KeepaliveInterval.default_raw(), 5000);
        assert_eq!(Tunable::KeepaliveLimit.default_raw(), 5);
        assert_eq!(Tunables::default(), d);
    }

    #[test]
    fn units() {
        for t in Tunable::ALL {
            let want = if SECONDS.contains(t) { TunableUnit::Seconds } else { TunableUnit::Count };
            assert_eq!(t.unit(), want, "{t}");
        }
    }

    #[test]
    fn from_name() {
        assert_eq!(Tunable::from_name("KeepaliveInterval"), Some(Tunable::KeepaliveInterval));
        assert_eq!(Tunable::from_name("keepaliveinterval"), Some(Tunable::KeepaliveInterval));
        assert_eq!(Tunable::from_name("NOIPFAILBACK"), Some(Tunable::NoIPFailback));
        assert_eq!(Tunable::from_name("DisableIPFailover"), None);
        assert_eq!(Tunable::from_name("Keepalive"), None);
        assert_eq!(Tunable::from_name(""), None);
        for t in Tunable::ALL {
            assert_eq!(Tunable::from_name(t.name()), Some(*t));
            assert!(!OBSOLETE_TUNABLES.iter().any(|o| o.eq_ignore_ascii_case(t.name())));
        }
    }

    /// `Name value => raw` or `Name value => !error`.
    const SET_CASES: &str = "
        KeepaliveInterval   200ms      => 200
        keepaliveinterval   0.2        => 200
        KEEPALIVEINTERVAL   5          => 5000
        KeepaliveInterval   1.5s       => 1500
        KeepaliveInterval   0x10       => 16000
        KeepaliveInterval   0          => 0
        KeepaliveInterval   4294967295 => 4294967295000
        KeepaliveInterval   4294967296 => !Invalid value 4294967296 for tunable KeepaliveInterval
        KeepaliveInterval   abc        => !Invalid value abc for tunable KeepaliveInterval
        KeepaliveInterval   -1         => !Invalid value -1 for tunable KeepaliveInterval
        KeepaliveInterval   1.0001     => !Invalid value 1.0001 for tunable KeepaliveInterval
        KeepaliveLimit      7          => 7
        keepalivelimit      0x1F       => 31
        KeepaliveLimit      0X1f       => 31
        KeepaliveLimit      010        => 10
        KeepaliveLimit      4294967295 => 4294967295
        KeepaliveLimit      4294967296 => !Invalid value 4294967296 for tunable KeepaliveLimit
        KeepaliveLimit      1.5        => !Invalid value 1.5 for tunable KeepaliveLimit
        KeepaliveLimit      5ms        => !Invalid value 5ms for tunable KeepaliveLimit
        KeepaliveLimit      +5         => !Invalid value +5 for tunable KeepaliveLimit
        KeepaliveLimit      0x         => !Invalid value 0x for tunable KeepaliveLimit
        KeepaliveLimit      0xg        => !Invalid value 0xg for tunable KeepaliveLimit
        DisableIPFailover   1          => !No such tunable DisableIPFailover
        NoSuchThing         1          => !No such tunable NoSuchThing
    ";

    #[test]
    fn set_table() {
        for row in SET_CASES.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (lhs, want) = row.split_once("=>").expect("row has =>");
            let mut words = lhs.split_whitespace();
            let (name, value) = (words.next().expect("name"), words.next().expect("value"));
            let want = want.trim();
            let mut t = Tunables::defaults();
            match (t.set(name, value), want.strip_prefix('!')) {
                (Ok(tun), None) => assert_eq!(t.raw(tun).to_string(), want, "{row}"),
                (Err(e), Some(msg)) => {
                    assert_eq!(e.to_string(), msg, "{row}");
                    assert_eq!(t, Tunables::defaults(), "a failed set changes nothing");
                }
                (got, _) => panic!("{row}: got {got:?}"),
            }
        }
    }

    #[test]
    fn set_returns_tunable_and_errors_are_typed() {
        let mut t = Tunables::defaults();
        assert_eq!(t.set("monitorinterval", "500ms"), Ok(Tunable::MonitorInterval));
        assert_eq!(t.duration(Tunable::MonitorInterval), Duration::from_millis(500));
        assert_eq!(t.set("Foo", "1"), Err(TunableError::NoSuch("Foo".into())));
        assert_eq!(
            t.set("monitorinterval", "x"),
            Err(TunableError::InvalidValue { name: "MonitorInterval".into(), value: "x".into() })
        );
    }

    #[test]
    fn duration_and_count() {
        let mut t = Tunables::defaults();
        t.set_raw(Tunable::KeepaliveInterval, 250);
        assert_eq!(t.duration(Tunable::KeepaliveInterval), Duration::from_millis(250));
        assert_eq!(t.count(Tunable::KeepaliveInterval), 250);
        assert_eq!(t.duration(Tunable::KeepaliveLimit), Duration::from_secs(5), "Count read as seconds");
        t.set_raw(Tunable::KeepaliveLimit, u64::MAX);
        assert_eq!(t.count(Tunable::KeepaliveLimit), u64::from(u32::MAX), "clamped");
        t.set_raw(Tunable::KeepaliveInterval, u64::MAX);
        assert_eq!(t.duration(Tunable::KeepaliveInterval), crate::MAX_DURATION, "clamped");
    }

    #[test]
    fn format() {
        assert_eq!(format_tunable(Tunable::KeepaliveInterval, 5000), "5");
        assert_eq!(format_tunable(Tunable::KeepaliveInterval, 200), "200ms");
        assert_eq!(format_tunable(Tunable::KeepaliveInterval, 1500), "1500ms");
        assert_eq!(format_tunable(Tunable::KeepaliveInterval, 0), "0");
        assert_eq!(format_tunable(Tunable::KeepaliveLimit, 5), "5");
        assert_eq!(format_tunable(Tunable::SeqnumInterval, 1000), "1000");
        for t in Tunable::ALL {
            let mut x = Tunables::defaults();
            for raw in [0, 1, 999, 1000, 1001, 123_000] {
                x.set(t.name(), &format_tunable(*t, raw)).unwrap();
                assert_eq!(x.raw(*t), raw, "{t} {raw}");
            }
        }
    }

    /// A tunables file, `=>`, then the expected changes (`Name=raw`) or the
    /// errors (`! file:line: msg`), one per line.
    const FILE_CASES: &str = "
# comment
; comment

KeepaliveInterval=200ms
  keepalivelimit  =  3  
MonitorInterval = 0.5
NoIPFailback=0x1
=>
KeepaliveInterval=200
KeepaliveLimit=3
MonitorInterval=500
NoIPFailback=1
---
KeepaliveLimit=3
KeepaliveLimit=4
=>
KeepaliveLimit=4
---
[tunables]
KeepaliveLimit=x
NoSuchTunable=1
DisableIPFailover=1
MonitorInterval 15
=1
KeepaliveLimit=
KeepaliveLimit=3 # comment
RecoverInterval=1
=>
! /etc/rctdb/tunables:1: Invalid tunables line [tunables]: sections are not allowed
! /etc/rctdb/tunables:2: Invalid value x for tunable KeepaliveLimit
! /etc/rctdb/tunables:3: Unknown tunable NoSuchTunable
! /etc/rctdb/tunables:4: Obsolete tunable DisableIPFailover
! /etc/rctdb/tunables:5: Invalid tunables line MonitorInterval 15: expected Name=value
! /etc/rctdb/tunables:6: Invalid tunables line =1: expected Name=value
! /etc/rctdb/tunables:7: Invalid value  for tunable KeepaliveLimit
! /etc/rctdb/tunables:8: Invalid value 3 # comment for tunable KeepaliveLimit
";

    #[test]
    fn file_table() {
        let body = FILE_CASES.strip_prefix('\n').unwrap_or(FILE_CASES);
        for case in body.split("---\n") {
            let (text, want) = case.split_once("=>\n").expect("case has =>");
            let got = match Tunables::parse(text, Path::new("/etc/rctdb/tunables")) {
                Ok(t) => {
                    let d = Tunables::defaults();
                    t.list()
                        .into_iter()
                        .filter(|(tun, v)| d.raw(*tun) != *v)
                        .map(|(tun, v)| format!("{tun}={v}"))
                        .collect::<Vec<_>>()
                }
                Err(errs) => errs.iter().map(|e| format!("! {e}")).collect(),
            };
            assert_eq!(got.join("\n"), want.trim_end(), "input:\n{text}");
        }
    }

    #[test]
    fn lenient_applies_good_lines() {
        let (t, errs) = Tunables::parse_lenient("KeepaliveLimit=9\nBogus=1\n", Path::new("t"));
        assert_eq!(t.raw(Tunable::KeepaliveLimit), 9);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line(), Some(2));
    }

    #[test]
    fn load() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tunables");
        assert_eq!(Tunables::load(&f).unwrap(), Tunables::defaults());
        std::fs::write(&f, "MonitorInterval=2\n").unwrap();
        assert_eq!(Tunables::load(&f).unwrap().raw(Tunable::MonitorInterval), 2000);
        std::fs::write(&f, "MonitorInterval=2\nX=1\nY=2\n").unwrap();
        let errs = Tunables::load(&f).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].to_string(), format!("{}:2: Unknown tunable X", f.display()));
    }

    #[test]
    fn obsolete_list() {
        assert_eq!(OBSOLETE_TUNABLES.len(), 13);
        assert!(OBSOLETE_TUNABLES.contains(&"DisableIPFailover"));
        assert!(OBSOLETE_TUNABLES.contains(&"NoIPHostOnAllDisabled"));
    }
}

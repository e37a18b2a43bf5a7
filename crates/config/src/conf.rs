//! `rctdb.conf`: the daemon's INI configuration, CTDB's `ctdb.conf` with
//! rctdb's additions (`transport port`, `fence command`, `fence timeout`,
//! `lease time`).
//!
//! The raw pass is [`crate::ini`]; this module maps each known
//! `[section] key` to a typed field of [`Conf`]. A missing file means every
//! default. Sections and keys are matched case-insensitively, with runs of
//! whitespace in keys counting as one space.
//!
//! What is an error and what is a warning:
//! - syntax errors (stricter than CTDB: a line that is not a section header,
//!   a comment or `key = value` is an error, where CTDB ignores it), empty values and values that do not parse are errors
//!   (`file:line: msg`);
//! - unknown sections and unknown keys are [`ConfWarning`]s: the daemon
//!   starts, `rctdb config validate` lists them;
//! - deprecated or unsupported keys (`recovery lock`, `nodes list`) and keys
//!   set twice (the last one wins) are warnings too.
//!
//! Invariants of [`Conf`]: `transport_port` is not 0; `leader_timeout`,
//! `fence_timeout` and `lease_time` are not zero; every duration is whole
//! milliseconds; a helper cluster lock has a non-empty argv.

use crate::duration::{format_duration, parse_duration};
use crate::error::{read_optional, ConfigError};
use crate::ini::{self, RawKind, RawLine};
use crate::nodes::parse_node_addr;
use rctdb_protocol::DebugLevel;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default log file.
pub const DEFAULT_LOG_FILE: &str = "/var/log/log.rctdb";
/// Default TCP port of the node transport (CTDB's).
pub const DEFAULT_TRANSPORT_PORT: u16 = 4379;

/// The whole of `rctdb.conf`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conf {
    /// `[logging]`
    pub logging: LoggingConf,
    /// `[cluster]`
    pub cluster: ClusterConf,
    /// `[event]`
    pub event: EventConf,
    /// `[failover]`
    pub failover: FailoverConf,
    /// `[legacy]`
    pub legacy: LegacyConf,
}

/// `[logging]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingConf {
    /// `location`: default `file:/var/log/log.rctdb`.
    pub location: LogLocation,
    /// `log level`: default `NOTICE`.
    pub level: DebugLevel,
}

impl Default for LoggingConf {
    fn default() -> Self {
        LoggingConf { location: LogLocation::File(PathBuf::from(DEFAULT_LOG_FILE)), level: DebugLevel::Notice }
    }
}

/// Where the daemon logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLocation {
    /// Standard error (`file:` with an empty path).
    Stderr,
    /// `file:PATH`.
    File(PathBuf),
    /// `syslog` or `syslog:nonblocking`.
    Syslog,
}

impl LogLocation {
    /// Parse a `[logging] location` value.
    pub fn parse(s: &str) -> Result<LogLocation, String> {
        match s {
            "syslog" | "syslog:nonblocking" => Ok(LogLocation::Syslog),
            _ => match s.strip_prefix("file:") {
                Some("") => Ok(LogLocation::Stderr),
                Some(path) => Ok(LogLocation::File(PathBuf::from(path))),
                None => Err("expected file:PATH, syslog or syslog:nonblocking".to_string()),
            },
        }
    }
}

impl fmt::Display for LogLocation {
    /// The configuration syntax: `file:`, `file:PATH` or `syslog`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogLocation::Stderr => f.write_str("file:"),
            LogLocation::File(p) => write!(f, "file:{}", p.display()),
            LogLocation::Syslog => f.write_str("syslog"),
        }
    }
}

/// `[cluster]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConf {
    /// `node address`: the private address to bind; unset means find this
    /// node's address among the local interfaces.
    pub node_address: Option<IpAddr>,
    /// `transport port`: TCP port of the node transport, default 4379.
    pub transport_port: u16,
    /// `cluster lock` (old name `recovery lock`, deprecated; `cluster lock`
    /// wins if both are set). Unset means no split-brain protection.
    pub cluster_lock: Option<ClusterLock>,
    /// `leader timeout`: time without a leader broadcast before an
    /// election; default 5 s, never zero.
    pub leader_timeout: Duration,
    /// `leader capability`: false means this node never becomes leader.
    pub leader_capability: bool,
}

impl Default for ClusterConf {
    fn default() -> Self {
        ClusterConf {
            node_address: None,
            transport_port: DEFAULT_TRANSPORT_PORT,
            cluster_lock: None,
            leader_timeout: Duration::from_secs(5),
            leader_capability: true,
        }
    }
}

/// The cluster lock: a file locked by the default helper, or a helper
/// command of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterLock {
    /// A plain path: the default helper takes an fcntl lock on this file.
    File(PathBuf),
    /// `!/path/helper args...`: run this helper; split on spaces and tabs,
    /// no shell quoting. Never empty.
    Helper {
        /// Program and arguments.
        argv: Vec<String>,
    },
}

impl ClusterLock {
    /// Parse a `cluster lock` value: `!cmd args...` or a path.
    pub fn parse(s: &str) -> Result<ClusterLock, String> {
        match s.strip_prefix('!') {
            Some(cmd) => {
                let argv: Vec<String> = cmd.split([' ', '\t']).filter(|w| !w.is_empty()).map(String::from).collect();
                if argv.is_empty() {
                    return Err("no helper command after \"!\"".to_string());
                }
                Ok(ClusterLock::Helper { argv })
            }
            None if s.is_empty() => Err("empty path".to_string()),
            None => Ok(ClusterLock::File(PathBuf::from(s))),
        }
    }
}

impl fmt::Display for ClusterLock {
    /// The configured value: the path, or `!` and the helper's argv joined
    /// by single spaces (whitespace runs collapse when the file is read, so
    /// this is the value as read).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterLock::File(p) => write!(f, "{}", p.display()),
            ClusterLock::Helper { argv } => write!(f, "!{}", argv.join(" ")),
        }
    }
}

/// `[event]`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventConf {
    /// `debug script`: run when an event script times out. A bare name is
    /// relative to the base directory.
    pub debug_script: Option<PathBuf>,
}

/// `[failover]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverConf {
    /// `disabled`: no public IP failover at all.
    pub disabled: bool,
    /// `fence command`: program the leader runs (and waits for) before it
    /// reassigns the IPs of a node that left uncleanly.
    pub fence_command: Option<PathBuf>,
    /// `fence timeout`: how long the fence command may run; default 30 s,
    /// never zero.
    pub fence_timeout: Duration,
    /// `lease time`: default 10 s, never zero.
    pub lease_time: Duration,
    /// `shutdown failover timeout`: how long a shutting-down node waits for
    /// a takeover run that moves its IPs away; 0 disables; default 10 s.
    pub shutdown_failover_timeout: Duration,
    /// `shutdown extra timeout`: extra wait after that takeover run;
    /// default 0.
    pub shutdown_extra_timeout: Duration,
}

impl Default for FailoverConf {
    fn default() -> Self {
        FailoverConf {
            disabled: false,
            fence_command: None,
            fence_timeout: Duration::from_secs(30),
            lease_time: Duration::from_secs(10),
            shutdown_failover_timeout: Duration::from_secs(10),
            shutdown_extra_timeout: Duration::ZERO,
        }
    }
}

/// `[legacy]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyConf {
    /// `start as stopped`: start with the STOPPED flag.
    pub start_as_stopped: bool,
    /// `start as disabled`: start with the PERMANENTLY_DISABLED flag.
    pub start_as_disabled: bool,
    /// `script log level`: level of output collected from children;
    /// default ERROR.
    pub script_log_level: DebugLevel,
    /// `realtime scheduling`: default true (read for compatibility).
    pub realtime_scheduling: bool,
    /// `lmaster capability`: default true (read for compatibility).
    pub lmaster_capability: bool,
}

impl Default for LegacyConf {
    fn default() -> Self {
        LegacyConf {
            start_as_stopped: false,
            start_as_disabled: false,
            script_log_level: DebugLevel::Error,
            realtime_scheduling: true,
            lmaster_capability: true,
        }
    }
}

/// Something in `rctdb.conf` that does not stop the daemon but that an
/// operator should see (unknown key, deprecated name, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfWarning {
    /// The configuration file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// What is odd, without the location.
    pub msg: String,
}

impl fmt::Display for ConfWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.msg)
    }
}

/// Known sections and their keys, canonical (lower-case) spelling.
const KEYS: &[(&str, &[&str])] = &[
    ("logging", &["location", "log level"]),
    (
        "cluster",
        &[
            "transport",
            "node address",
            "transport port",
            "cluster lock",
            "recovery lock",
            "nodes list",
            "leader timeout",
            "leader capability",
        ],
    ),
    ("event", &["debug script"]),
    (
        "failover",
        &[
            "disabled",
            "fence command",
            "fence timeout",
            "lease time",
            "shutdown failover timeout",
            "shutdown extra timeout",
        ],
    ),
    (
        "legacy",
        &["realtime scheduling", "lmaster capability", "start as stopped", "start as disabled", "script log level"],
    ),
];

const DURATION_SYNTAX: &str = "expected a duration such as 5, 0.25, 1.5s or 200ms (whole milliseconds)";

fn parse_bool(v: &str) -> Result<bool, String> {
    if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err("expected true, yes, false or no".to_string())
    }
}

fn parse_level(v: &str) -> Result<DebugLevel, String> {
    DebugLevel::parse(v).map_err(|_| "expected ERROR, WARNING, NOTICE, INFO, DEBUG or a number 0-10".to_string())
}

fn parse_dur(v: &str, nonzero: bool) -> Result<Duration, String> {
    let d = parse_duration(v).map_err(|_| DURATION_SYNTAX.to_string())?;
    if nonzero && d.is_zero() {
        return Err("must be greater than 0".to_string());
    }
    Ok(d)
}

fn parse_port(v: &str) -> Result<u16, String> {
    match crate::tunables::parse_uint(v).and_then(|n| u16::try_from(n).ok()) {
        Some(p) if p != 0 => Ok(p),
        _ => Err("expected a port number 1-65535".to_string()),
    }
}

/// Result of parsing `rctdb.conf`, keeping everything `validate` needs.
pub(crate) struct ConfParse {
    pub conf: Conf,
    pub warnings: Vec<ConfWarning>,
    pub errors: Vec<ConfigError>,
    /// Line of the value in effect for each `(section, key)` that was set.
    pub lines: HashMap<(&'static str, &'static str), usize>,
}

/// Values being collected; the two lock keys are resolved at the end.
#[derive(Default)]
struct Pending {
    conf: Conf,
    cluster_lock: Option<(ClusterLock, usize)>,
    recovery_lock: Option<(ClusterLock, usize)>,
}

/// Apply one known key. `Ok(Some(msg))` is a warning.
fn apply(p: &mut Pending, section: &str, key: &str, v: &str, line: usize) -> Result<Option<String>, String> {
    let c = &mut p.conf;
    match (section, key) {
        ("logging", "location") => c.logging.location = LogLocation::parse(v)?,
        ("logging", "log level") => c.logging.level = parse_level(v)?,
        ("cluster", "transport") => {
            if !v.eq_ignore_ascii_case("tcp") {
                return Err("only \"tcp\" is supported".to_string());
            }
        }
        ("cluster", "node address") => {
            c.cluster.node_address = Some(parse_node_addr(v).ok_or_else(|| "not an IP address".to_string())?)
        }
        ("cluster", "transport port") => c.cluster.transport_port = parse_port(v)?,
        ("cluster", "cluster lock") => p.cluster_lock = Some((ClusterLock::parse(v)?, line)),
        ("cluster", "recovery lock") => {
            p.recovery_lock = Some((ClusterLock::parse(v)?, line));
            return Ok(Some(
                "Configuration option [cluster] -> recovery lock is deprecated, use cluster lock".to_string(),
            ));
        }
        ("cluster", "nodes list") => {
            return Ok(Some(
                "option [cluster] -> \"nodes list\" is not supported and is ignored: \
                 the nodes file is always read from the base directory"
                    .to_string(),
            ))
        }
        ("cluster", "leader timeout") => c.cluster.leader_timeout = parse_dur(v, true)?,
        ("cluster", "leader capability") => c.cluster.leader_capability = parse_bool(v)?,
        ("event", "debug script") => c.event.debug_script = Some(PathBuf::from(v)),
        ("failover", "disabled") => c.failover.disabled = parse_bool(v)?,
        ("failover", "fence command") => c.failover.fence_command = Some(PathBuf::from(v)),
        ("failover", "fence timeout") => c.failover.fence_timeout = parse_dur(v, true)?,
        ("failover", "lease time") => c.failover.lease_time = parse_dur(v, true)?,
        ("failover", "shutdown failover timeout") => c.failover.shutdown_failover_timeout = parse_dur(v, false)?,
        ("failover", "shutdown extra timeout") => c.failover.shutdown_extra_timeout = parse_dur(v, false)?,
        ("legacy", "realtime scheduling") => c.legacy.realtime_scheduling = parse_bool(v)?,
        ("legacy", "lmaster capability") => c.legacy.lmaster_capability = parse_bool(v)?,
        ("legacy", "start as stopped") => c.legacy.start_as_stopped = parse_bool(v)?,
        ("legacy", "start as disabled") => c.legacy.start_as_disabled = parse_bool(v)?,
        ("legacy", "script log level") => c.legacy.script_log_level = parse_level(v)?,
        // KEYS and this match list the same keys; a key in one but not the
        // other is caught by the `every_key` test.
        _ => return Err("option not handled".to_string()),
    }
    Ok(None)
}

impl Conf {
    /// Parse the text of `rctdb.conf`; `file` is used in messages only.
    /// Returns the configuration and its warnings, or the first error.
    pub fn parse(text: &str, file: &Path) -> Result<(Conf, Vec<ConfWarning>), ConfigError> {
        let mut p = Conf::parse_all(text, file);
        if p.errors.is_empty() {
            Ok((p.conf, p.warnings))
        } else {
            Err(p.errors.swap_remove(0))
        }
    }

    /// Read and parse `rctdb.conf`. A missing file gives the defaults and
    /// no warnings.
    pub fn load(file: &Path) -> Result<(Conf, Vec<ConfWarning>), ConfigError> {
        match read_optional(file)? {
            Some(text) => Conf::parse(&text, file),
            None => Ok((Conf::default(), Vec::new())),
        }
    }

    /// Parse, collecting every error and warning.
    pub(crate) fn parse_all(text: &str, file: &Path) -> ConfParse {
        let (raw, mut errors) = ini::parse(text, file);
        let mut warnings = Vec::new();
        let mut lines: HashMap<(&'static str, &'static str), usize> = HashMap::new();
        let mut pending = Pending::default();
        let warn = |warnings: &mut Vec<ConfWarning>, line: usize, msg: String| {
            warnings.push(ConfWarning { file: file.to_path_buf(), line, msg });
        };
        // None: before any header. Some(None): inside an unknown section.
        let mut section: Option<Option<(&'static str, &'static [&'static str])>> = None;
        for RawLine { line, kind } in raw {
            match kind {
                RawKind::Section(name) => {
                    let lc = name.to_ascii_lowercase();
                    let known = KEYS.iter().find(|(s, _)| *s == lc).copied();
                    if known.is_none() {
                        warn(&mut warnings, line, format!("unknown section [{name}]"));
                    }
                    section = Some(known);
                }
                RawKind::Entry { key, value } => {
                    let (sec, keys) = match section {
                        None => {
                            errors.push(ConfigError::line_err(
                                file,
                                line,
                                format!("option \"{key}\" is outside of any section"),
                            ));
                            continue;
                        }
                        Some(None) => continue,
                        Some(Some(s)) => s,
                    };
                    let lc = key.to_ascii_lowercase();
                    let Some(k) = keys.iter().copied().find(|k| *k == lc) else {
                        warn(&mut warnings, line, format!("unknown option [{sec}] -> \"{key}\""));
                        continue;
                    };
                    if value.is_empty() {
                        errors.push(ConfigError::line_err(file, line, format!("empty value for [{sec}] {k}")));
                        continue;
                    }
                    if let Some(prev) = lines.insert((sec, k), line) {
                        warn(
                            &mut warnings,
                            line,
                            format!("option [{sec}] -> \"{k}\" set again (first on line {prev}), the last value wins"),
                        );
                    }
                    match apply(&mut pending, sec, k, &value, line) {
                        Ok(None) => {}
                        Ok(Some(msg)) => warn(&mut warnings, line, msg),
                        Err(reason) => errors.push(ConfigError::line_err(
                            file,
                            line,
                            format!("invalid value \"{value}\" for [{sec}] {k}: {reason}"),
                        )),
                    }
                }
            }
        }
        let Pending { mut conf, cluster_lock, recovery_lock } = pending;
        conf.cluster.cluster_lock = match (cluster_lock, recovery_lock) {
            (Some((lock, _)), Some((_, rline))) => {
                warn(&mut warnings, rline, "[cluster] -> recovery lock is ignored: cluster lock is set".to_string());
                Some(lock)
            }
            (Some((lock, _)), None) => Some(lock),
            (None, Some((lock, rline))) => {
                lines.insert(("cluster", "cluster lock"), rline);
                Some(lock)
            }
            (None, None) => None,
        };
        ConfParse { conf, warnings, errors, lines }
    }

    /// The configuration as `rctdb.conf` text, in the style of
    /// `ctdb-config dump`: every known option, defaults commented out.
    /// Parsing the output gives back the same `Conf`.
    pub fn dump(&self) -> String {
        let d = Conf::default();
        let mut out = String::new();
        let mut section = |name: &str, items: &[(&str, String, bool)]| {
            out.push_str(&format!("[{name}]\n"));
            for (key, value, is_default) in items {
                let hash = if *is_default { "# " } else { "" };
                out.push_str(&format!("\t{hash}{key} = {value}\n"));
            }
        };
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        let b = |v: bool| if v { "true" } else { "false" }.to_string();
        let dur = |v: Duration| format_duration(v);
        let (lg, c, e, f, l) = (&self.logging, &self.cluster, &self.event, &self.failover, &self.legacy);
        section(
            "logging",
            &[
                ("location", lg.location.to_string(), lg.location == d.logging.location),
                ("log level", lg.level.to_string(), lg.level == d.logging.level),
            ],
        );
        section(
            "cluster",
            &[
                ("transport", "tcp".to_string(), true),
                ("node address", c.node_address.map(|a| a.to_string()).unwrap_or_default(), c.node_address.is_none()),
                ("transport port", c.transport_port.to_string(), c.transport_port == d.cluster.transport_port),
                (
                    "cluster lock",
                    c.cluster_lock.as_ref().map(ToString::to_string).unwrap_or_default(),
                    c.cluster_lock.is_none(),
                ),
                ("leader timeout", dur(c.leader_timeout), c.leader_timeout == d.cluster.leader_timeout),
                ("leader capability", b(c.leader_capability), c.leader_capability == d.cluster.leader_capability),
            ],
        );
        section("event", &[("debug script", path(&e.debug_script), e.debug_script.is_none())]);
        section(
            "failover",
            &[
                ("disabled", b(f.disabled), f.disabled == d.failover.disabled),
                ("fence command", path(&f.fence_command), f.fence_command.is_none()),
                ("fence timeout", dur(f.fence_timeout), f.fence_timeout == d.failover.fence_timeout),
                ("lease time", dur(f.lease_time), f.lease_time == d.failover.lease_time),
                (
                    "shutdown failover timeout",
                    dur(f.shutdown_failover_timeout),
                    f.shutdown_failover_timeout == d.failover.shutdown_failover_timeout,
                ),
                (
                    "shutdown extra timeout",
                    dur(f.shutdown_extra_timeout),
                    f.shutdown_extra_timeout == d.failover.shutdown_extra_timeout,
                ),
            ],
        );
        section(
            "legacy",
            &[
                (
                    "realtime scheduling",
                    b(l.realtime_scheduling),
                    l.realtime_scheduling == d.legacy.realtime_scheduling,
                ),
                ("lmaster capability", b(l.lmaster_capability), l.lmaster_capability == d.legacy.lmaster_capability),
                ("start as stopped", b(l.start_as_stopped), l.start_as_stopped == d.legacy.start_as_stopped),
                ("start as disabled", b(l.start_as_disabled), l.start_as_disabled == d.legacy.start_as_disabled),
                ("script log level", l.script_log_level.to_string(), l.script_log_level == d.legacy.script_log_level),
            ],
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/etc/rctdb/rctdb.conf";

    /// Render a parse result: the non-default options as
    /// `[section] key = value` lines, then `W line: msg` for each warning;
    /// or `! error` for the first error.
    fn render(text: &str) -> String {
        match Conf::parse(text, Path::new(FILE)) {
            Err(e) => format!("! {e}"),
            Ok((conf, warnings)) => {
                let mut out = Vec::new();
                let mut section = String::new();
                for l in conf.dump().lines() {
                    if let Some(s) = l.strip_prefix('[') {
                        section = s.trim_end_matches(']').to_string();
                    } else if let Some(kv) = l.strip_prefix('\t').filter(|kv| !kv.starts_with('#')) {
                        out.push(format!("[{section}] {kv}"));
                    }
                }
                for w in warnings {
                    assert_eq!(w.file, Path::new(FILE));
                    out.push(format!("W {}: {}", w.line, w.msg));
                }
                out.join("\n")
            }
        }
    }

    /// Text block, a line `=>`, then the expected rendering; cases are
    /// separated by `---` lines.
    const CASES: &str = r#"
=>
---
# only comments
; and more

=>
---
[logging]
location = syslog
log level = info
=>
[logging] location = syslog
[logging] log level = INFO
---
[LOGGING]
  Log   Level = warn
LOCATION=syslog:nonblocking
=>
[logging] location = syslog
[logging] log level = WARNING
---
[logging]
location = file:
log level = 10
=>
[logging] location = file:
[logging] log level = DEBUG
---
[logging]
location = file:/var/log/rctdb.log
=>
[logging] location = file:/var/log/rctdb.log
---
[logging]
location = /var/log/x
=>
! /etc/rctdb/rctdb.conf:2: invalid value "/var/log/x" for [logging] location: expected file:PATH, syslog or syslog:nonblocking
---
[logging]
location = syslog:udp
=>
! /etc/rctdb/rctdb.conf:2: invalid value "syslog:udp" for [logging] location: expected file:PATH, syslog or syslog:nonblocking
---
[logging]
log level = loud
=>
! /etc/rctdb/rctdb.conf:2: invalid value "loud" for [logging] log level: expected ERROR, WARNING, NOTICE, INFO, DEBUG or a number 0-10
---
[cluster]
transport = tcp
node address = 192.0.2.1
transport port = 14379
cluster lock = /clusterfs/.rctdb/reclock
leader timeout = 0.5
leader capability = false
=>
[cluster] node address = 192.0.2.1
[cluster] transport port = 14379
[cluster] cluster lock = /clusterfs/.rctdb/reclock
[cluster] leader timeout = 500ms
[cluster] leader capability = false
---
[cluster]
node address = [2001:db8::1]
leader timeout = 7s
=>
[cluster] node address = 2001:db8::1
[cluster] leader timeout = 7
---
[cluster]
cluster lock = !/usr/libexec/rctdb/lock_helper   etcd	/lock  
=>
[cluster] cluster lock = !/usr/libexec/rctdb/lock_helper etcd /lock
---
[cluster]
recovery lock = /clusterfs/reclock
=>
[cluster] cluster lock = /clusterfs/reclock
W 2: Configuration option [cluster] -> recovery lock is deprecated, use cluster lock
---
[cluster]
recovery lock = /old
cluster lock = /new
=>
[cluster] cluster lock = /new
W 2: Configuration option [cluster] -> recovery lock is deprecated, use cluster lock
W 2: [cluster] -> recovery lock is ignored: cluster lock is set
---
[cluster]
cluster lock = /new
recovery lock = /old
=>
[cluster] cluster lock = /new
W 3: Configuration option [cluster] -> recovery lock is deprecated, use cluster lock
W 3: [cluster] -> recovery lock is ignored: cluster lock is set
---
[cluster]
cluster lock = !
=>
! /etc/rctdb/rctdb.conf:2: invalid value "!" for [cluster] cluster lock: no helper command after "!"
---
[cluster]
nodes list = !/bin/cat /x
=>
W 2: option [cluster] -> "nodes list" is not supported and is ignored: the nodes file is always read from the base directory
---
[cluster]
transport = ib
=>
! /etc/rctdb/rctdb.conf:2: invalid value "ib" for [cluster] transport: only "tcp" is supported
---
[cluster]
node address = 192.0.2.x
=>
! /etc/rctdb/rctdb.conf:2: invalid value "192.0.2.x" for [cluster] node address: not an IP address
---
[cluster]
node address = 0.0.0.0
=>
! /etc/rctdb/rctdb.conf:2: invalid value "0.0.0.0" for [cluster] node address: not an IP address
---
[cluster]
transport port = 0
=>
! /etc/rctdb/rctdb.conf:2: invalid value "0" for [cluster] transport port: expected a port number 1-65535
---
[cluster]
transport port = 65536
=>
! /etc/rctdb/rctdb.conf:2: invalid value "65536" for [cluster] transport port: expected a port number 1-65535
---
[cluster]
transport port = 0x10eb
=>
[cluster] transport port = 4331
---
[cluster]
leader timeout = 0
=>
! /etc/rctdb/rctdb.conf:2: invalid value "0" for [cluster] leader timeout: must be greater than 0
---
[cluster]
leader timeout = 5 seconds
=>
! /etc/rctdb/rctdb.conf:2: invalid value "5 seconds" for [cluster] leader timeout: expected a duration such as 5, 0.25, 1.5s or 200ms (whole milliseconds)
---
[cluster]
leader capability = maybe
=>
! /etc/rctdb/rctdb.conf:2: invalid value "maybe" for [cluster] leader capability: expected true, yes, false or no
---
[cluster]
leader timeout =
=>
! /etc/rctdb/rctdb.conf:2: empty value for [cluster] leader timeout
---
[event]
debug script = debug-hung-script.sh
=>
[event] debug script = debug-hung-script.sh
---
[failover]
disabled = YES
fence command = /usr/local/sbin/fence-node
fence timeout = 2.5
lease time = 3
shutdown failover timeout = 0
shutdown extra timeout = 1500ms
=>
[failover] disabled = true
[failover] fence command = /usr/local/sbin/fence-node
[failover] fence timeout = 2500ms
[failover] lease time = 3
[failover] shutdown failover timeout = 0
[failover] shutdown extra timeout = 1500ms
---
[failover]
fence timeout = 0ms
=>
! /etc/rctdb/rctdb.conf:2: invalid value "0ms" for [failover] fence timeout: must be greater than 0
---
[failover]
lease time = 0
=>
! /etc/rctdb/rctdb.conf:2: invalid value "0" for [failover] lease time: must be greater than 0
---
[failover]
disabled = 1
=>
! /etc/rctdb/rctdb.conf:2: invalid value "1" for [failover] disabled: expected true, yes, false or no
---
[legacy]
realtime scheduling = no
lmaster capability = No
start as stopped = yes
start as disabled = TRUE
script log level = NOTICE
=>
[legacy] realtime scheduling = false
[legacy] lmaster capability = false
[legacy] start as stopped = true
[legacy] start as disabled = true
[legacy] script log level = NOTICE
---
[database]
volatile database directory = /var/lib/ctdb/volatile
[cluster]
leader timeout = 2
frobnicate = 1
=>
[cluster] leader timeout = 2
W 1: unknown section [database]
W 5: unknown option [cluster] -> "frobnicate"
---
[cluster]
leader timeout = 2
leader timeout = 3
=>
[cluster] leader timeout = 3
W 3: option [cluster] -> "leader timeout" set again (first on line 2), the last value wins
---
leader timeout = 2
=>
! /etc/rctdb/rctdb.conf:1: option "leader timeout" is outside of any section
---
[cluster]
leader timeout 2
=>
! /etc/rctdb/rctdb.conf:2: expected "[section]", "key = value" or a comment, found "leader timeout 2"
---
[cluster
=>
! /etc/rctdb/rctdb.conf:1: invalid section header "[cluster": missing "]"
---
[cluster]
cluster lock = /a/very/long/\
path/to/lock
leader timeout = 1
=>
[cluster] cluster lock = /a/very/long/path/to/lock
[cluster] leader timeout = 1
"#;

    #[test]
    fn table() {
        let body = CASES.strip_prefix('\n').unwrap_or(CASES);
        for case in body.split("---\n") {
            let (text, want) = case.split_once("=>\n").or_else(|| case.split_once("=>")).expect("case has =>");
            let got = render(text);
            assert_eq!(got, want.trim_end(), "input:\n{text}");
        }
    }

    #[test]
    fn defaults() {
        let c = Conf::default();
        assert_eq!(c.logging.location, LogLocation::File(PathBuf::from("/var/log/log.rctdb")));
        assert_eq!(c.logging.level, DebugLevel::Notice);
        assert_eq!(c.cluster.node_address, None);
        assert_eq!(c.cluster.transport_port, 4379);
        assert_eq!(c.cluster.cluster_lock, None);
        assert_eq!(c.cluster.leader_timeout, Duration::from_secs(5));
        assert!(c.cluster.leader_capability);
        assert_eq!(c.event.debug_script, None);
        assert!(!c.failover.disabled);
        assert_eq!(c.failover.fence_command, None);
        assert_eq!(c.failover.fence_timeout, Duration::from_secs(30));
        assert_eq!(c.failover.lease_time, Duration::from_secs(10));
        assert_eq!(c.failover.shutdown_failover_timeout, Duration::from_secs(10));
        assert_eq!(c.failover.shutdown_extra_timeout, Duration::ZERO);
        assert!(!c.legacy.start_as_stopped);
        assert!(!c.legacy.start_as_disabled);
        assert_eq!(c.legacy.script_log_level, DebugLevel::Error);
        assert!(c.legacy.realtime_scheduling);
        assert!(c.legacy.lmaster_capability);
        assert_eq!(Conf::parse("", Path::new(FILE)).unwrap(), (Conf::default(), vec![]));
    }

    /// Every key in KEYS is handled by `apply` (a sample value of the right
    /// type is accepted), so the two lists cannot drift apart.
    #[test]
    fn every_key() {
        for (section, keys) in KEYS {
            for key in *keys {
                let accepted = ["/x", "syslog", "NOTICE", "tcp", "192.0.2.1", "4379", "5", "true"]
                    .iter()
                    .any(|v| apply(&mut Pending::default(), section, key, v, 1).is_ok());
                assert!(accepted, "[{section}] {key} is not handled");
            }
        }
    }

    #[test]
    fn cluster_lock_display_round_trip() {
        for s in ["/clusterfs/lock", "!/bin/helper", "!/usr/libexec/helper a b --c=d"] {
            let lock = ClusterLock::parse(s).unwrap();
            assert_eq!(lock.to_string(), s);
            assert_eq!(ClusterLock::parse(&lock.to_string()).unwrap(), lock);
        }
        assert_eq!(
            ClusterLock::parse("!/h  a\tb").unwrap(),
            ClusterLock::Helper { argv: vec!["/h".into(), "a".into(), "b".into()] }
        );
        assert_eq!(ClusterLock::parse("/l").unwrap(), ClusterLock::File(PathBuf::from("/l")));
        assert!(ClusterLock::parse("").is_err());
        assert!(ClusterLock::parse("!  ").is_err());
    }

    #[test]
    fn log_location_display_round_trip() {
        for s in ["file:", "file:/var/log/x", "syslog"] {
            assert_eq!(LogLocation::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn dump_parses_back() {
        let text = "[logging]\nlocation = file:\n[cluster]\nnode address = 2001:db8::5\ncluster lock = !/h a\n\
                    leader timeout = 250ms\n[event]\ndebug script = d.sh\n[failover]\nfence command = /f\n\
                    lease time = 1.5\n[legacy]\nstart as stopped = yes\n";
        let (c, w) = Conf::parse(text, Path::new(FILE)).unwrap();
        assert!(w.is_empty());
        let (again, w) = Conf::parse(&c.dump(), Path::new(FILE)).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(again, c);
        let (d, _) = Conf::parse(&Conf::default().dump(), Path::new(FILE)).unwrap();
        assert_eq!(d, Conf::default());
    }

    #[test]
    fn all_errors_collected() {
        let p = Conf::parse_all("[cluster]\nleader timeout = x\nbad line\n[failover]\ndisabled = 2\n", Path::new("c"));
        let msgs: Vec<String> = p.errors.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs[0].starts_with("c:3: "), "syntax errors come first: {msgs:?}");
        assert!(msgs[1].starts_with("c:2: invalid value \"x\""));
        assert!(msgs[2].starts_with("c:5: invalid value \"2\""));
    }

    #[test]
    fn warning_display() {
        let w = ConfWarning { file: PathBuf::from("/b/rctdb.conf"), line: 4, msg: "unknown section [x]".into() };
        assert_eq!(w.to_string(), "/b/rctdb.conf:4: unknown section [x]");
    }

    #[test]
    fn load_missing_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("rctdb.conf");
        assert_eq!(Conf::load(&f).unwrap(), (Conf::default(), vec![]));
        std::fs::write(&f, "[cluster]\nleader timeout = 1\n").unwrap();
        assert_eq!(Conf::load(&f).unwrap().0.cluster.leader_timeout, Duration::from_secs(1));
        std::fs::write(&f, [0xffu8, 0xfe, b'\n']).unwrap();
        assert!(matches!(Conf::load(&f), Err(ConfigError::Io { .. })));
    }
}

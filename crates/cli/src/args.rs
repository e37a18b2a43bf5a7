//! Command-line arguments in two stages: [`RawArgs`] is what clap parses
//! (strings, as typed), [`Invocation`] is what the rest of the tool sees
//! (validated options and a typed [`Command`]). Nothing downstream of
//! [`validate`] handles unvalidated text.

use crate::nodeadmin::NodeAction;
use crate::scripts;
use clap::{Parser, Subcommand};
use rctdb_config::Tunable;
use rctdb_protocol::{DebugLevel, Event, Pnn, RunState};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default per-control timeout (`-t`), seconds.
pub const DEFAULT_TIMELIMIT: f64 = 10.0;
/// Default whole-command limit (`-T`), seconds.
pub const DEFAULT_MAXRUNTIME: f64 = 120.0;

/// The command line as clap reads it. Options are global: they may appear
/// before or after the command.
#[derive(Debug, Parser)]
#[command(name = "rctdb", version, about = "rctdb cluster administration tool", max_term_width = 100)]
pub struct RawArgs {
    /// Target node: a PNN, or `all` for every non-deleted node in turn.
    #[arg(short = 'n', long = "node", value_name = "PNN|all", global = true)]
    pub node: Option<String>,
    /// Machine-readable output, `|`-separated (or the -x separator).
    #[arg(short = 'X', long = "machineparsable", global = true)]
    pub machine_parsable: bool,
    /// Machine-readable output with the -x separator (default `|`).
    #[arg(short = 'Y', long = "machinereadable", global = true)]
    pub machine_readable: bool,
    /// Separator for machine-readable output (one character).
    #[arg(short = 'x', long = "separator", value_name = "CHAR", global = true)]
    pub separator: Option<String>,
    /// JSON output.
    #[arg(short = 'j', long = "json", global = true)]
    pub json: bool,
    /// Timeout for each control, in seconds (decimals allowed) [default: 10].
    #[arg(short = 't', long = "timelimit", value_name = "SECS", global = true, allow_hyphen_values = true)]
    pub timelimit: Option<String>,
    /// Limit on the whole command, in seconds; 0 means none [default: 120].
    #[arg(short = 'T', long = "maxruntime", value_name = "SECS", global = true, allow_hyphen_values = true)]
    pub maxruntime: Option<String>,
    /// Verbose output.
    #[arg(short = 'v', long = "verbose", global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: RawCommand,
}

#[derive(Debug, Subcommand)]
pub enum RawCommand {
    /// Show node status, VNN map, recovery mode and leader.
    Status,
    /// Show the status of this node, all nodes or a PNN list; exit status = OR of their flags.
    Nodestatus {
        #[arg(value_name = "all|PNN-LIST")]
        nodes: Option<String>,
    },
    /// List the node addresses from the nodes file (no daemon needed).
    Listnodes,
    /// Print the PNN of the local node.
    Pnn,
    /// Ping a node.
    Ping,
    /// Show start and last recovery times.
    Uptime,
    /// List all tunables and their values.
    Listvars,
    /// Show a tunable.
    Getvar { name: String },
    /// Set a tunable on the target node.
    Setvar { name: String, value: String },
    /// Show the daemon's log level.
    Getdebug,
    /// Set the daemon's log level.
    Setdebug { level: String },
    /// Apply an edited nodes file on all connected nodes.
    Reloadnodes,
    /// Shut a node down.
    Shutdown,
    /// Show the rctdb version.
    Version,
    /// Show the run state; with arguments, require one of them.
    Runstate { states: Vec<String> },
    /// Show the daemon's process id.
    Getpid,
    /// Show the current leader.
    #[command(alias = "recmaster")]
    Leader,
    /// Show the configured cluster lock (nothing if none).
    Getreclock,
    /// Disable a node: it may not host public addresses.
    Disable,
    /// Re-enable a disabled node.
    Enable,
    /// Stop a node: it leaves the cluster until `continue`.
    Stop,
    /// Restart a stopped node.
    Continue,
    /// Ban a node for SECONDS (non-zero).
    Ban {
        #[arg(value_name = "SECONDS")]
        seconds: String,
    },
    /// Lift a node's ban.
    Unban,
    /// Show public addresses and their owners: the node's, or with `all` every active node's.
    Ip {
        #[arg(value_name = "all", value_parser = ["all"])]
        all: Option<String>,
    },
    /// Show one public address: owner and interfaces.
    Ipinfo {
        #[arg(value_name = "IP")]
        ip: String,
    },
    /// Show the node's public interfaces.
    Ifaces,
    /// Mark an interface's link up or down.
    Setifacelink {
        #[arg(value_name = "IFACE")]
        iface: String,
        #[arg(value_name = "up|down", value_parser = ["up", "down"])]
        state: String,
    },
    /// Ask the leader for a takeover run and wait until it is done.
    #[command(alias = "sync")]
    Ipreallocate,
    /// Send gratuitous ARPs (unsolicited NAs for IPv6) for IP on IFACE.
    Gratarp {
        #[arg(value_name = "IP")]
        ip: String,
        #[arg(value_name = "IFACE")]
        iface: String,
    },
    /// Move a public address to node PNN now (no takeover run).
    Moveip {
        #[arg(value_name = "IP")]
        ip: String,
        #[arg(value_name = "PNN", allow_hyphen_values = true)]
        pnn: String,
    },
    /// Add a public address to the node, then reallocate addresses.
    Addip {
        #[arg(value_name = "IP/BITS")]
        ip_mask: String,
        #[arg(value_name = "IFACE[,IFACE...]")]
        ifaces: String,
    },
    /// Remove a public address from the node, then reallocate addresses.
    Delip {
        #[arg(value_name = "IP")]
        ip: String,
    },
    /// Re-read public_addresses on this node, all nodes or a PNN list, then reallocate.
    Reloadips {
        #[arg(value_name = "all|PNN-LIST")]
        nodes: Option<String>,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        action: RawConfigCommand,
    },
    /// Event scripts: run an event, show the last run, manage scripts.
    Event {
        #[command(subcommand)]
        action: RawEventCommand,
    },
    /// Show the last run of an event's scripts (default: monitor); always exits 0.
    Scriptstatus {
        #[arg(value_name = "EVENT")]
        event: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RawEventCommand {
    /// Run an event's scripts now, with a timeout in seconds.
    Run {
        #[arg(value_name = "TIMEOUT")]
        timeout: String,
        #[arg(value_name = "COMPONENT")]
        component: String,
        #[arg(value_name = "EVENT")]
        event: String,
        #[arg(value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Show the last completed run of an event; exit status = its result.
    Status {
        #[arg(value_name = "COMPONENT")]
        component: String,
        #[arg(value_name = "EVENT")]
        event: String,
    },
    /// List, enable or disable event scripts (no daemon needed).
    Script {
        #[command(subcommand)]
        action: RawScriptCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RawScriptCommand {
    /// List the scripts, `*` marking the enabled ones.
    List {
        #[arg(value_name = "COMPONENT")]
        component: String,
    },
    /// Make a script executable.
    Enable {
        #[arg(value_name = "COMPONENT")]
        component: String,
        #[arg(value_name = "SCRIPT")]
        script: String,
    },
    /// Make a script non-executable.
    Disable {
        #[arg(value_name = "COMPONENT")]
        component: String,
        #[arg(value_name = "SCRIPT")]
        script: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RawConfigCommand {
    /// Check every configuration file of a base directory.
    Validate {
        /// Base directory [default: $RCTDB_BASE or /etc/rctdb].
        basedir: Option<PathBuf>,
    },
}

/// Which node(s) a command runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The node the tool is connected to (no `-n`).
    Local,
    /// `-n PNN`.
    Node(Pnn),
    /// `-n all`: every non-deleted node, in PNN order.
    All,
}

/// Output format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputMode {
    Human,
    /// `-X`/`-Y`: `sep`-separated fields, each line starting and ending with it.
    Machine {
        sep: char,
    },
    Json,
}

/// Validated global options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub target: Target,
    pub output: OutputMode,
    pub timeout: Duration,
    /// `None`: no limit.
    pub max_runtime: Option<Duration>,
    pub verbose: bool,
}

/// `nodestatus` and `reloadips` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeSelection {
    /// No argument: the target node.
    This,
    All,
    List(Vec<Pnn>),
}

/// A validated command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Status,
    NodeStatus(NodeSelection),
    ListNodes,
    Pnn,
    Ping,
    Uptime,
    ListVars,
    /// `typed` is echoed in the output, as CTDB does.
    GetVar {
        typed: String,
        tunable: Tunable,
    },
    SetVar {
        tunable: Tunable,
        value: String,
    },
    GetDebug,
    SetDebug(DebugLevel),
    ReloadNodes,
    Shutdown,
    Version,
    RunState(Vec<RunState>),
    GetPid,
    Leader,
    GetReclock,
    /// `disable`, `enable`, `stop`, `continue`, `ban`, `unban`.
    NodeAdmin(NodeAction),
    /// `ip [all]`.
    Ip {
        all: bool,
    },
    IpInfo(IpAddr),
    Ifaces,
    SetIfaceLink {
        iface: String,
        up: bool,
    },
    /// `ipreallocate` (alias `sync`).
    IpReallocate,
    GratArp {
        ip: IpAddr,
        iface: String,
    },
    MoveIp {
        ip: IpAddr,
        pnn: Pnn,
    },
    AddIp {
        ip: IpAddr,
        bits: u8,
        ifaces: Vec<String>,
    },
    DelIp(IpAddr),
    ReloadIps(NodeSelection),
    ConfigValidate(Option<PathBuf>),
    /// `event run TIMEOUT legacy EVENT ARGS...`; `timeout` is the event's
    /// deadline, sent to the daemon.
    EventRun {
        timeout: Duration,
        event: Event,
        args: Vec<String>,
    },
    /// `event status legacy EVENT`: exit status is the run's result.
    EventStatus(Event),
    /// `scriptstatus [EVENT]`: as `event status`, but always exits 0.
    ScriptStatus(Event),
    /// `event script list legacy`.
    ScriptList,
    /// `event script enable|disable legacy NAME`.
    ScriptSwitch {
        name: String,
        enable: bool,
    },
}

/// Where a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Needs no daemon; `-n` is refused.
    Offline,
    /// Talks to the local daemon only; `-n` may name the local node only.
    Local,
    /// Runs on the `-n` target.
    Remote,
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status => "status",
            Command::NodeStatus(_) => "nodestatus",
            Command::ListNodes => "listnodes",
            Command::Pnn => "pnn",
            Command::Ping => "ping",
            Command::Uptime => "uptime",
            Command::ListVars => "listvars",
            Command::GetVar { .. } => "getvar",
            Command::SetVar { .. } => "setvar",
            Command::GetDebug => "getdebug",
            Command::SetDebug(_) => "setdebug",
            Command::ReloadNodes => "reloadnodes",
            Command::Shutdown => "shutdown",
            Command::Version => "version",
            Command::RunState(_) => "runstate",
            Command::GetPid => "getpid",
            Command::Leader => "leader",
            Command::GetReclock => "getreclock",
            Command::NodeAdmin(action) => action.name(),
            Command::Ip { .. } => "ip",
            Command::IpInfo(_) => "ipinfo",
            Command::Ifaces => "ifaces",
            Command::SetIfaceLink { .. } => "setifacelink",
            Command::IpReallocate => "ipreallocate",
            Command::GratArp { .. } => "gratarp",
            Command::MoveIp { .. } => "moveip",
            Command::AddIp { .. } => "addip",
            Command::DelIp(_) => "delip",
            Command::ReloadIps(_) => "reloadips",
            Command::ConfigValidate(_) => "config",
            Command::EventRun { .. } | Command::EventStatus(_) | Command::ScriptList | Command::ScriptSwitch { .. } => {
                "event"
            }
            Command::ScriptStatus(_) => "scriptstatus",
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Command::ListNodes
            | Command::Version
            | Command::ConfigValidate(_)
            | Command::ScriptList
            | Command::ScriptSwitch { .. } => Kind::Offline,
            Command::Pnn | Command::ReloadNodes | Command::MoveIp { .. } | Command::ReloadIps(_) => Kind::Local,
            _ => Kind::Remote,
        }
    }
}

/// Everything the tool needs to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub options: Options,
    pub command: Command,
}

/// An argument that failed validation. `stdout` is set where CTDB prints
/// the message on standard output (`No such tunable`, `Event dir for X
/// does not exist`); `status` is the exit status (1 but for the event
/// commands' errno-style ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    pub message: String,
    pub stdout: bool,
    pub status: i32,
}

impl ArgError {
    fn new(message: impl Into<String>) -> ArgError {
        ArgError { message: message.into(), stdout: false, status: 1 }
    }
}

/// ENOENT: unknown component or script.
pub const ENOENT: i32 = 2;
/// EINVAL: invalid script name.
pub const EINVAL: i32 = 22;
/// The only event component rctdbd has.
pub const COMPONENT: &str = "legacy";
/// Extra time the tool waits for `event run`'s reply past the event's own
/// timeout, so the daemon's answer (timed out) arrives before ours would.
pub const EVENT_RUN_SLACK: Duration = Duration::from_secs(5);

/// Parse an unsigned number as C's `strtoul(s, NULL, 0)` would, but
/// strictly: `0x` hex, leading-`0` octal, else decimal; nothing trailing.
pub fn parse_u32_base0(s: &str) -> Option<u32> {
    let t = s.trim();
    let (digits, radix) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (h, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        (&t[1..], 8)
    } else {
        (t, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// A real node number (not one of the pseudo-destinations).
pub fn parse_pnn(s: &str) -> Option<Pnn> {
    parse_u32_base0(s).map(Pnn).filter(|p| p.is_node())
}

fn parse_secs(s: &str, what: &str, allow_zero: bool) -> Result<Option<Duration>, ArgError> {
    let bad = || ArgError::new(format!("Invalid {what} '{s}': expected a number of seconds"));
    let v: f64 = s.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v < 0.0 || (v == 0.0 && !allow_zero) {
        return Err(bad());
    }
    if v == 0.0 {
        return Ok(None);
    }
    Duration::try_from_secs_f64(v).map(Some).map_err(|_| bad())
}

fn parse_node_selection(s: Option<&str>) -> Result<NodeSelection, ArgError> {
    let Some(s) = s else {
        return Ok(NodeSelection::This);
    };
    if s == "all" {
        return Ok(NodeSelection::All);
    }
    let mut pnns = Vec::new();
    for part in s.split(',') {
        let pnn = parse_pnn(part).ok_or_else(|| ArgError::new(format!("Invalid node {part}")))?;
        if !pnns.contains(&pnn) {
            pnns.push(pnn);
        }
    }
    Ok(NodeSelection::List(pnns))
}

/// The component must be `legacy`. CTDB's event tool prints this on
/// standard output for `run` and `status`, on standard error for `script`.
fn component(c: &str, stdout: bool) -> Result<(), ArgError> {
    if c == COMPONENT {
        return Ok(());
    }
    Err(ArgError { message: format!("Event dir for {c} does not exist"), stdout, status: ENOENT })
}

fn event(name: &str) -> Result<Event, ArgError> {
    Event::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
        ArgError::new(format!("Invalid event '{name}'. Valid events are:\n\t{}", names.join(" | ")))
    })
}

/// A script name for enable/disable: `NN.name`, not a backup or options
/// file, no path separator.
fn script_name(name: &str) -> Result<String, ArgError> {
    if scripts::is_script_name(name) && !name.contains('/') {
        return Ok(name.to_string());
    }
    Err(ArgError { message: format!("Script {name} is invalid in {COMPONENT}"), stdout: false, status: EINVAL })
}

/// `event run`'s TIMEOUT: positive seconds, decimals allowed.
fn event_timeout(s: &str) -> Result<Duration, ArgError> {
    let d = parse_secs(s, "timeout", false)?;
    // parse_secs returns Some for anything non-zero it accepts.
    Ok(d.unwrap_or(Duration::from_secs(1)))
}

fn tunable(name: &str) -> Result<Tunable, ArgError> {
    Tunable::from_name(name).ok_or_else(|| ArgError {
        message: format!("No such tunable {name}"),
        stdout: true,
        status: 1,
    })
}

/// `ban`'s SECONDS: a non-zero unsigned number (base 0, as `strtoul`).
/// Not a number: a usage error, exit 1; zero: CTDB's EINVAL.
fn ban_seconds(s: &str) -> Result<u32, ArgError> {
    match parse_u32_base0(s) {
        None => Err(ArgError::new(format!(
            "Invalid ban time '{s}': expected a number of seconds\n\nUsage: rctdb ban <SECONDS>"
        ))),
        Some(0) => Err(ArgError { message: "Ban time cannot be zero".into(), stdout: false, status: EINVAL }),
        Some(n) => Ok(n),
    }
}

/// Longest interface name (Linux's IFNAMSIZ less the NUL).
pub const IFACE_NAME_MAX: usize = 15;

/// An IPv4 or IPv6 address.
fn ip_addr(s: &str) -> Result<IpAddr, ArgError> {
    s.parse().map_err(|_| ArgError::new(format!("Invalid IP address {s}")))
}

/// An interface name: not empty, at most [`IFACE_NAME_MAX`] bytes.
fn iface_name(s: &str) -> Result<String, ArgError> {
    if s.len() > IFACE_NAME_MAX {
        return Err(ArgError::new(format!("Interface name '{s}' too long")));
    }
    if s.is_empty() || s.contains(['/', ' ', '\t']) {
        return Err(ArgError::new(format!("Invalid interface name '{s}'")));
    }
    Ok(s.to_string())
}

/// `addip`'s `IP/BITS`: the prefix length is required and must fit the
/// address family.
fn ip_mask(s: &str) -> Result<(IpAddr, u8), ArgError> {
    let bad = || ArgError::new(format!("Invalid IP/Mask {s}"));
    let (ip, bits) = s.split_once('/').ok_or_else(bad)?;
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let bits: u8 = bits.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return Err(bad());
    }
    Ok((ip, bits))
}

/// Second stage: check every option and argument.
/// The commands operators and monitoring scripts run most (`pnn`, `status`,
/// `ip`, `leader`) with the usual options, parsed without clap: building
/// clap's parser for ~60 subcommands costs about as much as the rest of
/// the run. Anything else (or anything odd) returns `None` and goes through
/// clap; the tests check that both give the same result.
pub fn fast_path(argv: &[String]) -> Option<RawArgs> {
    let mut node: Option<String> = None;
    let (mut machine, mut json, mut verbose) = (false, false, false);
    let mut words: Vec<&str> = Vec::new();
    let mut it = argv.iter().skip(1).map(String::as_str);
    while let Some(a) = it.next() {
        match a {
            "-X" | "--machineparsable" => machine = true,
            "-j" | "--json" => json = true,
            "-v" | "--verbose" => verbose = true,
            "-n" | "--node" if node.is_none() => node = Some(it.next()?.to_string()),
            w if !w.starts_with('-') => words.push(w),
            _ => return None,
        }
    }
    let command = match words.as_slice() {
        ["pnn"] => RawCommand::Pnn,
        ["status"] => RawCommand::Status,
        ["leader"] | ["recmaster"] => RawCommand::Leader,
        ["ip"] => RawCommand::Ip { all: None },
        ["ip", "all"] => RawCommand::Ip { all: Some("all".to_string()) },
        _ => return None,
    };
    Some(RawArgs {
        node,
        machine_parsable: machine,
        machine_readable: false,
        separator: None,
        json,
        timelimit: None,
        maxruntime: None,
        verbose,
        command,
    })
}

/// Can this run outlast `-T` at all? `pnn`, `status`, `leader` and `ip`
/// (without `-v`) send at most 7 rounds of controls, each bounded by `-t`:
/// when `-T` is at least that, the watchdog thread `-T` needs (a quarter of
/// a millisecond of every run) is not started.
pub fn needs_watchdog(inv: &Invocation) -> bool {
    const MAX_ROUNDS: u32 = 7;
    let Some(limit) = inv.options.max_runtime else { return false };
    let few_rounds = matches!(inv.command, Command::Pnn | Command::Status | Command::Leader)
        || matches!(inv.command, Command::Ip { .. }) && !inv.options.verbose;
    !(few_rounds && inv.options.target != Target::All && limit >= inv.options.timeout * MAX_ROUNDS)
}

pub fn validate(raw: RawArgs) -> Result<Invocation, ArgError> {
    let target = match raw.node.as_deref() {
        None => Target::Local,
        Some("all") => Target::All,
        Some(s) => Target::Node(parse_pnn(s).ok_or_else(|| ArgError::new(format!("Invalid node {s}")))?),
    };
    let sep = match raw.separator.as_deref() {
        None => '|',
        Some(s) => {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => c,
                _ => return Err(ArgError::new(format!("Invalid separator \"{s}\""))),
            }
        }
    };
    let machine = raw.machine_parsable || raw.machine_readable;
    if machine && raw.json {
        return Err(ArgError::new("--json cannot be combined with -X or -Y"));
    }
    let output = if raw.json {
        OutputMode::Json
    } else if machine {
        OutputMode::Machine { sep }
    } else {
        OutputMode::Human
    };
    let timeout = match raw.timelimit.as_deref() {
        None => Duration::from_secs_f64(DEFAULT_TIMELIMIT),
        Some(s) => parse_secs(s, "timelimit", false)?.unwrap_or(Duration::from_secs(10)),
    };
    let max_runtime = match raw.maxruntime.as_deref() {
        None => Some(Duration::from_secs_f64(DEFAULT_MAXRUNTIME)),
        Some(s) => parse_secs(s, "maxruntime", true)?,
    };

    let command = match raw.command {
        RawCommand::Status => Command::Status,
        RawCommand::Nodestatus { nodes } => Command::NodeStatus(parse_node_selection(nodes.as_deref())?),
        RawCommand::Listnodes => Command::ListNodes,
        RawCommand::Pnn => Command::Pnn,
        RawCommand::Ping => Command::Ping,
        RawCommand::Uptime => Command::Uptime,
        RawCommand::Listvars => Command::ListVars,
        RawCommand::Getvar { name } => {
            let tunable = tunable(&name)?;
            Command::GetVar { typed: name, tunable }
        }
        RawCommand::Setvar { name, value } => Command::SetVar { tunable: tunable(&name)?, value },
        RawCommand::Getdebug => Command::GetDebug,
        RawCommand::Setdebug { level } => {
            Command::SetDebug(DebugLevel::parse(&level).map_err(|e| ArgError::new(e.to_string()))?)
        }
        RawCommand::Reloadnodes => Command::ReloadNodes,
        RawCommand::Shutdown => Command::Shutdown,
        RawCommand::Version => Command::Version,
        RawCommand::Runstate { states } => {
            let mut wanted = Vec::new();
            for s in &states {
                wanted.push(RunState::parse(s).ok_or_else(|| ArgError::new(format!("Invalid run state ({s})")))?);
            }
            Command::RunState(wanted)
        }
        RawCommand::Getpid => Command::GetPid,
        RawCommand::Leader => Command::Leader,
        RawCommand::Getreclock => Command::GetReclock,
        RawCommand::Disable => Command::NodeAdmin(NodeAction::Disable),
        RawCommand::Enable => Command::NodeAdmin(NodeAction::Enable),
        RawCommand::Stop => Command::NodeAdmin(NodeAction::Stop),
        RawCommand::Continue => Command::NodeAdmin(NodeAction::Continue),
        RawCommand::Ban { seconds } => Command::NodeAdmin(NodeAction::Ban { seconds: ban_seconds(&seconds)? }),
        RawCommand::Unban => Command::NodeAdmin(NodeAction::Unban),
        RawCommand::Ip { all } => Command::Ip { all: all.is_some() },
        RawCommand::Ipinfo { ip } => Command::IpInfo(ip_addr(&ip)?),
        RawCommand::Ifaces => Command::Ifaces,
        RawCommand::Setifacelink { iface, state } => {
            Command::SetIfaceLink { iface: iface_name(&iface)?, up: state == "up" }
        }
        RawCommand::Ipreallocate => Command::IpReallocate,
        RawCommand::Gratarp { ip, iface } => Command::GratArp { ip: ip_addr(&ip)?, iface: iface_name(&iface)? },
        RawCommand::Moveip { ip, pnn: p } => {
            let ip = ip_addr(&ip)?;
            let pnn = parse_pnn(&p).ok_or_else(|| ArgError::new(format!("Invalid PNN {p}")))?;
            Command::MoveIp { ip, pnn }
        }
        RawCommand::Addip { ip_mask: m, ifaces } => {
            let (ip, bits) = ip_mask(&m)?;
            let ifaces = ifaces.split(',').map(iface_name).collect::<Result<Vec<_>, _>>()?;
            Command::AddIp { ip, bits, ifaces }
        }
        RawCommand::Delip { ip } => Command::DelIp(ip_addr(&ip)?),
        RawCommand::Reloadips { nodes } => Command::ReloadIps(parse_node_selection(nodes.as_deref())?),
        RawCommand::Config { action: RawConfigCommand::Validate { basedir } } => Command::ConfigValidate(basedir),
        RawCommand::Event { action } => match action {
            RawEventCommand::Run { timeout, component: c, event: e, args } => {
                let timeout = event_timeout(&timeout)?;
                component(&c, true)?;
                Command::EventRun { timeout, event: event(&e)?, args }
            }
            RawEventCommand::Status { component: c, event: e } => {
                component(&c, true)?;
                Command::EventStatus(event(&e)?)
            }
            RawEventCommand::Script { action } => match action {
                RawScriptCommand::List { component: c } => {
                    component(&c, false)?;
                    Command::ScriptList
                }
                RawScriptCommand::Enable { component: c, script } => {
                    component(&c, false)?;
                    Command::ScriptSwitch { name: script_name(&script)?, enable: true }
                }
                RawScriptCommand::Disable { component: c, script } => {
                    component(&c, false)?;
                    Command::ScriptSwitch { name: script_name(&script)?, enable: false }
                }
            },
        },
        RawCommand::Scriptstatus { event: e } => Command::ScriptStatus(event(e.as_deref().unwrap_or("monitor"))?),
    };

    // `event run` waits for the event: unless -T was given, the whole-run
    // limit must outlast the event's timeout and the control's slack.
    let max_runtime = match (&command, raw.maxruntime.is_some(), max_runtime) {
        (Command::EventRun { timeout, .. }, false, Some(limit)) => Some(limit.max(*timeout + EVENT_RUN_SLACK * 2)),
        (_, _, limit) => limit,
    };

    match (command.kind(), target) {
        (Kind::Offline, Target::Node(_) | Target::All) => {
            return Err(ArgError::new(format!("Cannot specify node for command {}", command.name())));
        }
        (Kind::Local, Target::All) => {
            return Err(ArgError::new(format!("Node cannot be specified for command {}", command.name())));
        }
        _ => {}
    }

    Ok(Invocation { options: Options { target, output, timeout, max_runtime, verbose: raw.verbose }, command })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Invocation, ArgError> {
        let mut v = vec!["rctdb"];
        v.extend_from_slice(args);
        validate(RawArgs::try_parse_from(v).expect("clap accepts"))
    }

    #[test]
    fn fast_path_agrees_with_clap() {
        let cases: &[&[&str]] = &[
            &["pnn"],
            &["status"],
            &["-X", "status"],
            &["status", "-X"],
            &["--json", "status"],
            &["-j", "ip"],
            &["ip"],
            &["ip", "all"],
            &["ip", "-v"],
            &["-v", "ip", "all", "-X"],
            &["-n", "2", "ip"],
            &["-n", "all", "pnn"],
            &["-n", "x", "ip"],
            &["-X", "--json", "status"],
            &["--node", "1", "status"],
            &["leader"],
            &["recmaster"],
            &["-X", "-n", "0", "leader"],
        ];
        for c in cases {
            let mut argv = vec!["rctdb".to_string()];
            argv.extend(c.iter().map(|s| s.to_string()));
            let fast = fast_path(&argv).map(validate);
            assert_eq!(fast, Some(parse(c)), "{c:?}");
        }
        // Everything else is clap's, errors included.
        let others: &[&[&str]] = &[
            &["pnn", "extra"],
            &["-Y", "status"],
            &["-n"],
            &["-n", "1", "-n", "2", "pnn"],
            &["-t", "3", "pnn"],
            &["-T", "0", "status"],
            &["-x", ",", "-X", "status"],
            &["ip", "bogus"],
            &["nodestatus"],
            &["--help"],
            &[],
        ];
        for c in others {
            let mut argv = vec!["rctdb".to_string()];
            argv.extend(c.iter().map(|s| s.to_string()));
            assert!(fast_path(&argv).is_none(), "{c:?}");
        }
    }

    #[test]
    fn watchdog_only_where_a_run_can_outlast_the_limit() {
        assert!(!needs_watchdog(&parse(&["pnn"]).unwrap()));
        assert!(!needs_watchdog(&parse(&["-X", "status"]).unwrap()));
        assert!(!needs_watchdog(&parse(&["ip", "all"]).unwrap()));
        assert!(needs_watchdog(&parse(&["ip", "-v"]).unwrap()));
        assert!(needs_watchdog(&parse(&["-n", "all", "status"]).unwrap()));
        assert!(needs_watchdog(&parse(&["-T", "5", "status"]).unwrap()));
        assert!(needs_watchdog(&parse(&["nodestatus"]).unwrap()));
        assert!(!needs_watchdog(&parse(&["-T", "0", "nodestatus"]).unwrap()));
    }

    fn err(args: &[&str]) -> String {
        parse(args).expect_err("should fail").message
    }

    #[test]
    fn defaults() {
        let inv = parse(&["status"]).unwrap();
        assert_eq!(inv.command, Command::Status);
        assert_eq!(inv.options.target, Target::Local);
        assert_eq!(inv.options.output, OutputMode::Human);
        assert_eq!(inv.options.timeout, Duration::from_secs(10));
        assert_eq!(inv.options.max_runtime, Some(Duration::from_secs(120)));
    }

    #[test]
    fn options_anywhere() {
        let a = parse(&["-n", "1", "-X", "status"]).unwrap();
        let b = parse(&["status", "-X", "-n", "1"]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.options.target, Target::Node(Pnn(1)));
        assert_eq!(a.options.output, OutputMode::Machine { sep: '|' });
    }

    #[test]
    fn separator_and_y() {
        let inv = parse(&["-Y", "-x", ":", "status"]).unwrap();
        assert_eq!(inv.options.output, OutputMode::Machine { sep: ':' });
        // -x alone does not switch machine-readable output on.
        assert_eq!(parse(&["-x", ":", "status"]).unwrap().options.output, OutputMode::Human);
        assert_eq!(err(&["-X", "-x", "ab", "status"]), "Invalid separator \"ab\"");
    }

    #[test]
    fn json_excludes_machine() {
        assert_eq!(parse(&["--json", "pnn"]).unwrap().options.output, OutputMode::Json);
        assert_eq!(err(&["--json", "-X", "pnn"]), "--json cannot be combined with -X or -Y");
    }

    #[test]
    fn timeouts() {
        let inv = parse(&["-t", "0.5", "-T", "2.25", "ping"]).unwrap();
        assert_eq!(inv.options.timeout, Duration::from_millis(500));
        assert_eq!(inv.options.max_runtime, Some(Duration::from_millis(2250)));
        assert_eq!(parse(&["-T", "0", "ping"]).unwrap().options.max_runtime, None);
        assert_eq!(err(&["-t", "0", "ping"]), "Invalid timelimit '0': expected a number of seconds");
        assert_eq!(err(&["-t", "x", "ping"]), "Invalid timelimit 'x': expected a number of seconds");
        assert_eq!(err(&["-T", "-1", "ping"]), "Invalid maxruntime '-1': expected a number of seconds");
        assert_eq!(err(&["-T", "inf", "ping"]), "Invalid maxruntime 'inf': expected a number of seconds");
    }

    #[test]
    fn node_option() {
        assert_eq!(parse(&["-n", "all", "ping"]).unwrap().options.target, Target::All);
        assert_eq!(parse(&["-n", "0x2", "ping"]).unwrap().options.target, Target::Node(Pnn(2)));
        assert_eq!(err(&["-n", "foo", "ping"]), "Invalid node foo");
        assert_eq!(err(&["-n", "4026531841", "ping"]), "Invalid node 4026531841");
    }

    #[test]
    fn node_refused_for_offline_and_local_commands() {
        assert_eq!(err(&["-n", "1", "listnodes"]), "Cannot specify node for command listnodes");
        assert_eq!(err(&["-n", "1", "version"]), "Cannot specify node for command version");
        assert_eq!(err(&["-n", "all", "pnn"]), "Node cannot be specified for command pnn");
        // `-n PNN` for a local command is checked against the local PNN later.
        assert!(parse(&["-n", "1", "reloadnodes"]).is_ok());
    }

    #[test]
    fn nodestatus_lists() {
        assert_eq!(parse(&["nodestatus"]).unwrap().command, Command::NodeStatus(NodeSelection::This));
        assert_eq!(parse(&["nodestatus", "all"]).unwrap().command, Command::NodeStatus(NodeSelection::All));
        assert_eq!(
            parse(&["nodestatus", "0,2,0x3,010"]).unwrap().command,
            Command::NodeStatus(NodeSelection::List(vec![Pnn(0), Pnn(2), Pnn(3), Pnn(8)]))
        );
        assert_eq!(err(&["nodestatus", "0,x"]), "Invalid node x");
        assert_eq!(err(&["nodestatus", "0,"]), "Invalid node ");
    }

    #[test]
    fn setdebug_levels() {
        assert_eq!(parse(&["setdebug", "warn"]).unwrap().command, Command::SetDebug(DebugLevel::Warning));
        assert_eq!(parse(&["setdebug", "2"]).unwrap().command, Command::SetDebug(DebugLevel::Warning));
        assert_eq!(
            err(&["setdebug", "foobar"]),
            "Invalid debug level 'foobar'. Valid levels are:\n\tERROR | WARNING | NOTICE | INFO | DEBUG"
        );
    }

    #[test]
    fn runstate_names() {
        assert_eq!(
            parse(&["runstate", "running", "STARTUP"]).unwrap().command,
            Command::RunState(vec![RunState::Running, RunState::Startup])
        );
        assert_eq!(err(&["runstate", "foobar"]), "Invalid run state (foobar)");
    }

    #[test]
    fn tunable_names() {
        let inv = parse(&["getvar", "monitorinterval"]).unwrap();
        match inv.command {
            Command::GetVar { typed, tunable } => {
                assert_eq!(typed, "monitorinterval");
                assert_eq!(tunable.name(), "MonitorInterval");
            }
            other => panic!("unexpected {other:?}"),
        }
        let e = parse(&["getvar", "NoSuchThing"]).expect_err("unknown");
        assert_eq!(e, ArgError { message: "No such tunable NoSuchThing".into(), stdout: true, status: 1 });
        let e = parse(&["setvar", "Bogus", "1"]).expect_err("unknown");
        assert_eq!(e.message, "No such tunable Bogus");
    }

    #[test]
    fn leader_alias_and_config() {
        assert_eq!(parse(&["recmaster"]).unwrap().command, Command::Leader);
        assert_eq!(parse(&["config", "validate"]).unwrap().command, Command::ConfigValidate(None));
        assert_eq!(
            parse(&["config", "validate", "/tmp/x"]).unwrap().command,
            Command::ConfigValidate(Some(PathBuf::from("/tmp/x")))
        );
    }

    #[test]
    fn node_admin_commands() {
        for (word, action) in [
            ("disable", NodeAction::Disable),
            ("enable", NodeAction::Enable),
            ("stop", NodeAction::Stop),
            ("continue", NodeAction::Continue),
            ("unban", NodeAction::Unban),
        ] {
            let inv = parse(&[word, "-n", "1"]).unwrap();
            assert_eq!(inv.command, Command::NodeAdmin(action));
            assert_eq!((inv.command.name(), inv.command.kind()), (word, Kind::Remote));
            assert_eq!(inv.options.target, Target::Node(Pnn(1)));
        }
        assert_eq!(parse(&["-n", "all", "stop"]).unwrap().options.target, Target::All);
        assert_eq!(parse(&["ban", "30"]).unwrap().command, Command::NodeAdmin(NodeAction::Ban { seconds: 30 }));
        assert_eq!(parse(&["ban", "0x10"]).unwrap().command, Command::NodeAdmin(NodeAction::Ban { seconds: 16 }));
        assert_eq!(parse(&["ban", "1"]).unwrap().command.name(), "ban");
        let e = parse(&["ban", "0"]).unwrap_err();
        assert_eq!(e, ArgError { message: "Ban time cannot be zero".into(), stdout: false, status: 22 });
        assert_eq!(parse(&["ban", "00"]).unwrap_err().status, 22);
        for bad in ["x", "1.5", "", "99999999999", "1s"] {
            let e = parse(&["ban", bad]).unwrap_err();
            assert_eq!(
                e,
                ArgError {
                    message: format!(
                        "Invalid ban time '{bad}': expected a number of seconds\n\nUsage: rctdb ban <SECONDS>"
                    ),
                    stdout: false,
                    status: 1
                }
            );
        }
        let inv = parse(&["getreclock", "-X"]).unwrap();
        assert_eq!(
            (inv.command.clone(), inv.command.name(), inv.command.kind()),
            (Command::GetReclock, "getreclock", Kind::Remote)
        );
    }

    #[test]
    fn base0_numbers() {
        assert_eq!(parse_u32_base0("0"), Some(0));
        assert_eq!(parse_u32_base0("17"), Some(17));
        assert_eq!(parse_u32_base0("0x11"), Some(17));
        assert_eq!(parse_u32_base0("021"), Some(17));
        assert_eq!(parse_u32_base0("09"), None);
        assert_eq!(parse_u32_base0("-1"), None);
        assert_eq!(parse_u32_base0("1a"), None);
        assert_eq!(parse_u32_base0("99999999999"), None);
    }

    #[test]
    fn event_run_arguments() {
        let inv = parse(&["event", "run", "2.5", "legacy", "takeip", "eth0", "10.0.0.1", "24"]).unwrap();
        assert_eq!(
            inv.command,
            Command::EventRun {
                timeout: Duration::from_millis(2500),
                event: Event::TakeIp,
                args: vec!["eth0".into(), "10.0.0.1".into(), "24".into()],
            }
        );
        assert_eq!(inv.command.kind(), Kind::Remote);
        // The default -T outlasts the event; an explicit -T is kept.
        assert_eq!(inv.options.max_runtime, Some(Duration::from_secs(120)));
        let inv = parse(&["event", "run", "300", "legacy", "monitor"]).unwrap();
        assert_eq!(inv.options.max_runtime, Some(Duration::from_secs(310)));
        let inv = parse(&["-T", "1", "event", "run", "300", "legacy", "monitor"]).unwrap();
        assert_eq!(inv.options.max_runtime, Some(Duration::from_secs(1)));

        let e = parse(&["event", "run", "10", "foo", "monitor"]).unwrap_err();
        assert_eq!(e, ArgError { message: "Event dir for foo does not exist".into(), stdout: true, status: 2 });
        let e = parse(&["event", "run", "10", "legacy", "bogus"]).unwrap_err();
        assert_eq!(e.status, 1);
        assert_eq!(
            e.message,
            "Invalid event 'bogus'. Valid events are:\n\tinit | setup | startup | startrecovery | \
             recovered | takeip | releaseip | updateip | monitor | ipreallocated | \
             startipreallocate | shutdown"
        );
        assert_eq!(
            err(&["event", "run", "x", "legacy", "monitor"]),
            "Invalid timeout 'x': expected a number of seconds"
        );
        assert_eq!(
            err(&["event", "run", "0", "legacy", "monitor"]),
            "Invalid timeout '0': expected a number of seconds"
        );
    }

    #[test]
    fn event_status_and_scriptstatus() {
        assert_eq!(
            parse(&["event", "status", "legacy", "monitor"]).unwrap().command,
            Command::EventStatus(Event::Monitor)
        );
        assert_eq!(parse(&["scriptstatus"]).unwrap().command, Command::ScriptStatus(Event::Monitor));
        assert_eq!(parse(&["scriptstatus", "startup"]).unwrap().command, Command::ScriptStatus(Event::Startup));
        assert_eq!(parse(&["event", "status", "other", "monitor"]).unwrap_err().status, 2);
        assert!(err(&["scriptstatus", "nope"]).starts_with("Invalid event 'nope'."));
    }

    #[test]
    fn event_script_arguments() {
        let inv = parse(&["event", "script", "list", "legacy"]).unwrap();
        assert_eq!(inv.command, Command::ScriptList);
        assert_eq!(inv.command.kind(), Kind::Offline);
        assert_eq!(
            parse(&["event", "script", "enable", "legacy", "10.interface"]).unwrap().command,
            Command::ScriptSwitch { name: "10.interface".into(), enable: true }
        );
        assert_eq!(
            parse(&["event", "script", "disable", "legacy", "10.interface"]).unwrap().command,
            Command::ScriptSwitch { name: "10.interface".into(), enable: false }
        );
        for bad in ["interface", "1.x", "10.x~", "10.x.rpmnew", "10.x/../y"] {
            let e = parse(&["event", "script", "enable", "legacy", bad]).unwrap_err();
            assert_eq!(
                e,
                ArgError { message: format!("Script {bad} is invalid in legacy"), stdout: false, status: 22 }
            );
        }
        let e = parse(&["event", "script", "list", "nope"]).unwrap_err();
        assert_eq!((e.message.as_str(), e.stdout, e.status), ("Event dir for nope does not exist", false, 2));
        assert_eq!(err(&["-n", "1", "event", "script", "list", "legacy"]), "Cannot specify node for command event");
    }

    #[test]
    fn public_ip_commands() {
        let cmd = |args: &[&str]| parse(args).unwrap().command;
        assert_eq!(cmd(&["ip"]), Command::Ip { all: false });
        assert_eq!(cmd(&["ip", "all", "-v"]), Command::Ip { all: true });
        assert!(parse(&["ip", "all", "-v"]).unwrap().options.verbose);
        assert_eq!(cmd(&["ipinfo", "10.0.0.31"]), Command::IpInfo("10.0.0.31".parse().unwrap()));
        assert_eq!(cmd(&["ipinfo", "fd00::5357:5f01"]), Command::IpInfo("fd00::5357:5f01".parse().unwrap()));
        assert_eq!(cmd(&["ifaces"]), Command::Ifaces);
        assert_eq!(cmd(&["setifacelink", "eth2", "down"]), Command::SetIfaceLink { iface: "eth2".into(), up: false });
        assert_eq!(cmd(&["setifacelink", "eth2", "up"]), Command::SetIfaceLink { iface: "eth2".into(), up: true });
        assert_eq!(cmd(&["ipreallocate"]), Command::IpReallocate);
        assert_eq!(cmd(&["sync"]), Command::IpReallocate);
        assert_eq!(
            cmd(&["gratarp", "10.0.0.31", "eth1"]),
            Command::GratArp { ip: "10.0.0.31".parse().unwrap(), iface: "eth1".into() }
        );
        assert_eq!(
            cmd(&["moveip", "10.0.0.31", "0x2"]),
            Command::MoveIp { ip: "10.0.0.31".parse().unwrap(), pnn: Pnn(2) }
        );
        assert_eq!(
            cmd(&["addip", "10.0.0.99/24", "eth1,eth2"]),
            Command::AddIp { ip: "10.0.0.99".parse().unwrap(), bits: 24, ifaces: vec!["eth1".into(), "eth2".into()] }
        );
        assert_eq!(
            cmd(&["addip", "fd00::99/64", "eth1"]),
            Command::AddIp { ip: "fd00::99".parse().unwrap(), bits: 64, ifaces: vec!["eth1".into()] }
        );
        assert_eq!(cmd(&["delip", "10.0.0.99"]), Command::DelIp("10.0.0.99".parse().unwrap()));
        assert_eq!(cmd(&["reloadips"]), Command::ReloadIps(NodeSelection::This));
        assert_eq!(cmd(&["reloadips", "all"]), Command::ReloadIps(NodeSelection::All));
        assert_eq!(cmd(&["reloadips", "0,2"]), Command::ReloadIps(NodeSelection::List(vec![Pnn(0), Pnn(2)])));
    }

    #[test]
    fn public_ip_command_kinds() {
        for (args, name, kind) in [
            (&["ip"][..], "ip", Kind::Remote),
            (&["ipinfo", "10.0.0.1"], "ipinfo", Kind::Remote),
            (&["ifaces"], "ifaces", Kind::Remote),
            (&["setifacelink", "e", "up"], "setifacelink", Kind::Remote),
            (&["sync"], "ipreallocate", Kind::Remote),
            (&["gratarp", "10.0.0.1", "e"], "gratarp", Kind::Remote),
            (&["moveip", "10.0.0.1", "1"], "moveip", Kind::Local),
            (&["addip", "10.0.0.1/24", "e"], "addip", Kind::Remote),
            (&["delip", "10.0.0.1"], "delip", Kind::Remote),
            (&["reloadips"], "reloadips", Kind::Local),
        ] {
            let c = parse(args).unwrap().command;
            assert_eq!((c.name(), c.kind()), (name, kind));
        }
        assert_eq!(err(&["-n", "all", "moveip", "10.0.0.1", "1"]), "Node cannot be specified for command moveip");
        assert_eq!(err(&["-n", "all", "reloadips"]), "Node cannot be specified for command reloadips");
        assert_eq!(parse(&["-n", "all", "ip"]).unwrap().options.target, Target::All);
    }

    #[test]
    fn public_ip_argument_errors() {
        assert_eq!(err(&["ipinfo", "10.0.0"]), "Invalid IP address 10.0.0");
        assert_eq!(err(&["ipinfo", "foo"]), "Invalid IP address foo");
        assert_eq!(err(&["gratarp", "10.0.0.256", "eth0"]), "Invalid IP address 10.0.0.256");
        assert_eq!(err(&["delip", "10.0.0.1/24"]), "Invalid IP address 10.0.0.1/24");
        assert_eq!(err(&["moveip", "x", "1"]), "Invalid IP address x");
        assert_eq!(err(&["moveip", "10.0.0.1", "x"]), "Invalid PNN x");
        assert_eq!(err(&["moveip", "10.0.0.1", "4294967295"]), "Invalid PNN 4294967295");
        assert_eq!(err(&["moveip", "10.0.0.1", "-1"]), "Invalid PNN -1");
        for bad in ["10.0.0.1", "10.0.0.1/", "10.0.0.1/33", "fd00::1/129", "10.0.0.1/2x", "x/24", "10.0.0.1/-1"] {
            assert_eq!(err(&["addip", bad, "eth0"]), format!("Invalid IP/Mask {bad}"));
        }
        assert!(parse(&["addip", "10.0.0.1/32", "eth0"]).is_ok());
        assert!(parse(&["addip", "10.0.0.1/0", "eth0"]).is_ok());
        let long = "abcdefghijklmnop"; // 16
        assert_eq!(err(&["setifacelink", long, "up"]), format!("Interface name '{long}' too long"));
        assert!(parse(&["setifacelink", &long[..15], "up"]).is_ok());
        assert_eq!(
            err(&["addip", "10.0.0.1/24", &format!("eth0,{long}")]),
            format!("Interface name '{long}' too long")
        );
        assert_eq!(err(&["addip", "10.0.0.1/24", "eth0,"]), "Invalid interface name ''");
        assert_eq!(err(&["gratarp", "10.0.0.1", long]), format!("Interface name '{long}' too long"));
        assert_eq!(err(&["reloadips", "0,x"]), "Invalid node x");
        // Usage errors come from clap.
        for bad in [&["ip", "some"][..], &["setifacelink", "eth0", "sideways"], &["setifacelink", "eth0"], &["ipinfo"]]
        {
            let mut v = vec!["rctdb"];
            v.extend_from_slice(bad);
            assert!(RawArgs::try_parse_from(v).is_err(), "{bad:?}");
        }
    }
}

//! Output formats, as pure functions from data to text or JSON.
//!
//! Human and machine-readable (`-X`) forms follow CTDB's `ctdb` tool to the
//! character where CTDB defines them (reference §9). Every returned string
//! ends with a newline unless it is empty. JSON values keep their field
//! order (serde_json `preserve_order`) and are printed by [`json_text`].

use rctdb_config::{format_tunable, Tunable};
use rctdb_protocol::{
    EventRun, IfaceInfo, NodeFlags, NodeMap, Pnn, PublicIpInfo, RecMode, RunState, ScriptRun, ScriptStatus, Uptime,
    VnnMap,
};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;
use std::net::IpAddr;

/// Which stream a piece of output goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One node as the tool shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub pnn: Pnn,
    pub addr: IpAddr,
    /// Flags as displayed (UNKNOWN substituted where the rule applies).
    pub flags: NodeFlags,
    /// Flags 0 but some public interface down. Always false until the
    /// interface milestone.
    pub partially_online: bool,
    /// The node the command was run on.
    pub this_node: bool,
}

impl NodeRow {
    /// `OK`, `PARTIALLYONLINE`, or the flag names.
    pub fn state(&self) -> String {
        if self.flags.is_empty() && self.partially_online {
            "PARTIALLYONLINE".to_string()
        } else {
            self.flags.to_string()
        }
    }
}

/// The rows to show for a node map fetched from `this` node, whose run
/// state is `runstate`: deleted nodes left out, and, while `this` has not
/// finished its first recovery, every other connected node shown UNKNOWN.
pub fn node_rows(map: &NodeMap, this: Pnn, runstate: RunState) -> Vec<NodeRow> {
    let untrusted = runstate <= RunState::FirstRecovery;
    map.present()
        .map(|n| {
            let flags = if untrusted && n.pnn != this && !n.flags.contains(NodeFlags::DISCONNECTED) {
                NodeFlags::UNKNOWN
            } else {
                n.flags
            };
            NodeRow { pnn: n.pnn, addr: n.addr, flags, partially_online: false, this_node: n.pnn == this }
        })
        .collect()
}

fn deleted_count(map: &NodeMap) -> usize {
    map.nodes.iter().filter(|n| n.flags.contains(NodeFlags::DELETED)).count()
}

/// `Number of nodes:%d[ (including %d deleted nodes)]`.
pub fn number_of_nodes(map: &NodeMap) -> String {
    match deleted_count(map) {
        0 => format!("Number of nodes:{}\n", map.nodes.len()),
        d => format!("Number of nodes:{} (including {} deleted nodes)\n", map.nodes.len(), d),
    }
}

/// `pnn:%u %-16s %s%s`.
pub fn node_line(row: &NodeRow) -> String {
    format!(
        "pnn:{} {:<16} {}{}\n",
        row.pnn,
        row.addr.to_string(),
        row.state(),
        if row.this_node { " (THIS NODE)" } else { "" }
    )
}

/// The `-X` node table: header, then one line per row.
pub fn node_table(rows: &[NodeRow], sep: char) -> String {
    let b = |flags: NodeFlags, f: NodeFlags| u8::from(flags.intersects(f));
    let mut out = String::new();
    let header = [
        "Node",
        "IP",
        "Disconnected",
        "Unknown",
        "Banned",
        "Disabled",
        "Unhealthy",
        "Stopped",
        "Inactive",
        "PartiallyOnline",
        "ThisNode",
    ];
    out.push_str(&machine_line(sep, header.iter().map(|s| s.to_string())));
    for r in rows {
        let f = r.flags;
        out.push_str(&machine_line(
            sep,
            [
                r.pnn.to_string(),
                r.addr.to_string(),
                b(f, NodeFlags::DISCONNECTED).to_string(),
                b(f, NodeFlags::UNKNOWN).to_string(),
                b(f, NodeFlags::BANNED).to_string(),
                b(f, NodeFlags::PERMANENTLY_DISABLED).to_string(),
                b(f, NodeFlags::UNHEALTHY).to_string(),
                b(f, NodeFlags::STOPPED).to_string(),
                b(f, NodeFlags::INACTIVE).to_string(),
                u8::from(r.partially_online).to_string(),
                if r.this_node { "Y" } else { "N" }.to_string(),
            ],
        ));
    }
    out
}

/// `|a|b|c|` with `sep` for `|`.
pub fn machine_line(sep: char, fields: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    out.push(sep);
    for f in fields {
        out.push_str(&f);
        out.push(sep);
    }
    out.push('\n');
    out
}

/// Everything `status` shows, as fetched from the target node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusData {
    pub map: NodeMap,
    pub this: Pnn,
    pub runstate: RunState,
    pub vnnmap: VnnMap,
    pub recmode: RecMode,
    pub leader: Pnn,
    /// Split-brain state of the queried node (rctdb's addition).
    pub safety: rctdb_protocol::Safety,
}

fn recmode_name(m: RecMode) -> &'static str {
    match m {
        RecMode::Normal => "NORMAL",
        RecMode::Active => "RECOVERY",
    }
}

/// `status`, human form.
pub fn status_human(s: &StatusData) -> String {
    let mut out = number_of_nodes(&s.map);
    for row in node_rows(&s.map, s.this, s.runstate) {
        out.push_str(&node_line(&row));
    }
    if s.vnnmap.generation == rctdb_protocol::Generation::INVALID {
        out.push_str("Generation:INVALID\n");
    } else {
        let _ = writeln!(out, "Generation:{}", s.vnnmap.generation.0);
    }
    let _ = writeln!(out, "Size:{}", s.vnnmap.map.len());
    for (hash, lmaster) in s.vnnmap.map.iter().enumerate() {
        let _ = writeln!(out, "hash:{hash} lmaster:{lmaster}");
    }
    let _ = writeln!(out, "Recovery mode:{} ({})", recmode_name(s.recmode), s.recmode.as_u32());
    out.push_str(&leader_line("Leader:", s.leader));
    out.push_str(&safety_lines(&s.safety));
    out
}

/// rctdb's additions to `status`: why addresses are down, in words.
pub fn safety_lines(s: &rctdb_protocol::Safety) -> String {
    let mut out = String::new();
    for h in &s.held_back {
        let ips: Vec<String> = h.ips.iter().map(|i| i.to_string()).collect();
        let _ = writeln!(out, "Addresses of node {} held back ({}): {}", h.pnn, ips.join(","), h.reason);
    }
    if let Some(r) = &s.released {
        let _ = writeln!(out, "This node released its public addresses: {r}");
    }
    if let Some(t) = &s.stuck {
        let _ = writeln!(out, "{t}");
    }
    out
}

/// Why an address is held back, if it is.
pub fn held_back_reason(s: &rctdb_protocol::Safety, ip: IpAddr) -> Option<String> {
    s.held_back.iter().find(|h| h.ips.contains(&ip)).map(|h| format!("node {}: {}", h.pnn, h.reason))
}

fn leader_line(prefix: &str, leader: Pnn) -> String {
    if leader == Pnn::UNKNOWN {
        format!("{prefix}UNKNOWN\n")
    } else {
        format!("{prefix}{leader}\n")
    }
}

/// `leader`: the PNN or `UNKNOWN`.
pub fn leader_text(leader: Pnn) -> String {
    leader_line("", leader)
}

/// `getreclock`: the configured lock string verbatim, or nothing.
pub fn reclock_text(reclock: Option<&str>) -> String {
    reclock.map(|r| format!("{r}\n")).unwrap_or_default()
}

/// `getreclock --json`: `{"reclock": "..."|null}`.
pub fn reclock_json(reclock: Option<&str>) -> Value {
    json!({ "reclock": reclock })
}

/// `status`, `-X` form: only the node table.
pub fn status_machine(s: &StatusData, sep: char) -> String {
    node_table(&node_rows(&s.map, s.this, s.runstate), sep)
}

fn row_json(r: &NodeRow) -> Value {
    let f = r.flags;
    json!({
        "pnn": r.pnn.0,
        "address": r.addr.to_string(),
        "partially_online": r.partially_online,
        "flags_raw": f.0,
        "flags_ok": f.is_empty(),
        "flags": {
            "disconnected": f.contains(NodeFlags::DISCONNECTED),
            "unknown": f.contains(NodeFlags::UNKNOWN),
            "disabled": f.contains(NodeFlags::PERMANENTLY_DISABLED),
            "banned": f.contains(NodeFlags::BANNED),
            "unhealthy": f.contains(NodeFlags::UNHEALTHY),
            "deleted": f.contains(NodeFlags::DELETED),
            "stopped": f.contains(NodeFlags::STOPPED),
            "inactive": f.is_inactive(),
        },
        "this_node": r.this_node,
    })
}

/// `node_status` object: counts over the whole map, `nodes` for `rows`.
pub fn node_status_json(map: &NodeMap, rows: &[NodeRow]) -> Value {
    let mut nodes = Map::new();
    for r in rows {
        nodes.insert(r.pnn.to_string(), row_json(r));
    }
    json!({
        "node_count": map.nodes.len(),
        "deleted_node_count": deleted_count(map),
        "nodes": nodes,
    })
}

/// `status`, JSON form (CTDB's shape, §9.3).
pub fn status_json(s: &StatusData) -> Value {
    let rows = node_rows(&s.map, s.this, s.runstate);
    let generation = if s.vnnmap.generation == rctdb_protocol::Generation::INVALID {
        Value::Null
    } else {
        json!(s.vnnmap.generation.0)
    };
    let vnn_map: Vec<Value> =
        s.vnnmap.map.iter().enumerate().map(|(hash, l)| json!({"hash": hash, "lmaster": l.0})).collect();
    let mut v = json!({
        "node_status": node_status_json(&s.map, &rows),
        "vnn_status": {
            "generation": generation,
            "size": s.vnnmap.map.len(),
            "vnn_map": vnn_map,
        },
        "recovery_mode": recmode_name(s.recmode),
        "recovery_mode_raw": s.recmode.as_u32(),
        "leader": s.leader.0,
    });
    let held: Vec<Value> = s
        .safety
        .held_back
        .iter()
        .map(|h| {
            let ips: Vec<String> = h.ips.iter().map(|i| i.to_string()).collect();
            json!({"pnn": h.pnn.0, "addresses": ips, "reason": h.reason})
        })
        .collect();
    if let Some(o) = v.as_object_mut() {
        if !held.is_empty() {
            o.insert("held_back".into(), json!(held));
        }
        if let Some(r) = &s.safety.released {
            o.insert("released".into(), json!(r));
        }
        if let Some(t) = &s.safety.stuck {
            o.insert("stuck".into(), json!(t));
        }
    }
    v
}

/// `nodestatus` human form: node lines, with the header only for `all`.
pub fn nodestatus_human(map: &NodeMap, rows: &[NodeRow], all: bool) -> String {
    let mut out = if all { number_of_nodes(map) } else { String::new() };
    for r in rows {
        out.push_str(&node_line(r));
    }
    out
}

/// `nodestatus` exit status: the OR of the displayed flags.
pub fn nodestatus_exit(rows: &[NodeRow]) -> i32 {
    rows.iter().fold(0u32, |acc, r| acc | r.flags.0) as i32
}

/// `listnodes`: addresses of non-deleted nodes, one per line.
pub fn listnodes_human(map: &NodeMap) -> String {
    map.present().map(|n| format!("{}\n", n.addr)).collect()
}

/// `listnodes -X`: `|pnn|address|`, no header.
pub fn listnodes_machine(map: &NodeMap, sep: char) -> String {
    map.present().map(|n| machine_line(sep, [n.pnn.to_string(), n.addr.to_string()])).collect()
}

/// `listnodes --json`.
pub fn listnodes_json(map: &NodeMap) -> Value {
    let nodes: Vec<Value> = map.present().map(|n| json!({"pnn": n.pnn.0, "address": n.addr.to_string()})).collect();
    json!({ "nodes": nodes })
}

/// `%-26s = %s`, as `getvar` and `listvars` print.
pub fn tunable_line(name: &str, value: &str) -> String {
    format!("{name:<26} = {value}\n")
}

/// A tunable's value as text; raw if this tool does not know the name
/// (a newer daemon).
pub fn tunable_value(name: &str, raw: u64) -> String {
    match Tunable::from_name(name) {
        Some(t) => format_tunable(t, raw),
        None => raw.to_string(),
    }
}

/// `listvars`, human form.
pub fn listvars_human(vars: &[(String, u64)]) -> String {
    vars.iter().map(|(n, v)| tunable_line(n, &tunable_value(n, *v))).collect()
}

fn tunable_json(name: &str, raw: u64) -> Value {
    json!({"name": name, "value": tunable_value(name, raw), "raw": raw})
}

/// `listvars --json`: `value` as text (`200ms`), `raw` as on the wire
/// (milliseconds for timing tunables).
pub fn listvars_json(vars: &[(String, u64)]) -> Value {
    json!({ "tunables": vars.iter().map(|(n, v)| tunable_json(n, *v)).collect::<Vec<_>>() })
}

/// `getvar --json`: the canonical name.
pub fn getvar_json(tunable: Tunable, raw: u64) -> Value {
    tunable_json(tunable.name(), raw)
}

/// `response from %u time=%.6f sec  (%d clients)`.
pub fn ping_line(pnn: Pnn, secs: f64, clients: u32) -> String {
    format!("response from {pnn} time={secs:.6} sec  ({clients} clients)\n")
}

/// `(%03d %02d:%02d:%02d)` for a span of whole seconds.
fn elapsed(secs: u64) -> String {
    format!("({:03} {:02}:{:02}:{:02})", secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60, secs % 60)
}

fn us_to_secs(us: u64) -> i64 {
    i64::try_from(us / 1_000_000).unwrap_or(i64::MAX)
}

/// Seconds between two microsecond stamps, negative if `b` is before `a`.
fn delta_secs(a_us: u64, b_us: u64) -> f64 {
    (b_us as f64 - a_us as f64) / 1e6
}

/// `uptime`, human form. A recovery time of 0 means no recovery has
/// finished yet: the line then reads `never` (and the duration line
/// `never`, or `in progress` while the first recovery runs), rather than a
/// date in 1970.
pub fn uptime_human(pnn: Pnn, u: &Uptime, ctime: fn(i64) -> String) -> String {
    let now_s = u.current_time_us / 1_000_000;
    let ago = |t_us: u64| elapsed(now_s.saturating_sub(t_us / 1_000_000));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Current time of node {:<4}     :                {}",
        pnn.0,
        ctime(us_to_secs(u.current_time_us))
    );
    let _ = writeln!(
        out,
        "Ctdbd start time              : {} {}",
        ago(u.start_time_us),
        ctime(us_to_secs(u.start_time_us))
    );
    if u.last_recovery_finished_us == 0 {
        out.push_str("Time of last recovery/failover: never\n");
        let what = if u.last_recovery_started_us == 0 { "never" } else { "in progress" };
        let _ = writeln!(out, "Duration of last recovery/failover: {what}");
    } else {
        let _ = writeln!(
            out,
            "Time of last recovery/failover: {} {}",
            ago(u.last_recovery_finished_us),
            ctime(us_to_secs(u.last_recovery_finished_us))
        );
        let _ = writeln!(
            out,
            "Duration of last recovery/failover: {:.6} seconds",
            delta_secs(u.last_recovery_started_us, u.last_recovery_finished_us)
        );
    }
    out
}

/// `uptime -X`, CTDB's columns; times in seconds since the epoch (0 for
/// "never").
pub fn uptime_machine(u: &Uptime, sep: char) -> String {
    let header =
        ["Current Node Time", "Ctdb Start Time", "Last Recovery/Failover Time", "Last Recovery/IPFailover Duration"];
    let mut out = machine_line(sep, header.iter().map(|s| s.to_string()));
    out.push_str(&machine_line(
        sep,
        [
            us_to_secs(u.current_time_us).to_string(),
            us_to_secs(u.start_time_us).to_string(),
            us_to_secs(u.last_recovery_finished_us).to_string(),
            format!("{:.6}", delta_secs(u.last_recovery_started_us, u.last_recovery_finished_us)),
        ],
    ));
    out
}

/// `uptime --json`: microseconds since the epoch; recovery fields are null
/// when there was none.
pub fn uptime_json(pnn: Pnn, u: &Uptime) -> Value {
    let opt = |v: u64| if v == 0 { Value::Null } else { json!(v) };
    let duration = if u.last_recovery_finished_us == 0 {
        Value::Null
    } else {
        json!(delta_secs(u.last_recovery_started_us, u.last_recovery_finished_us))
    };
    json!({
        "pnn": pnn.0,
        "current_time_us": u.current_time_us,
        "start_time_us": u.start_time_us,
        "last_recovery_started_us": opt(u.last_recovery_started_us),
        "last_recovery_finished_us": opt(u.last_recovery_finished_us),
        "last_recovery_duration": duration,
    })
}

/// The rows of an event run that are shown: all of them, up to (not
/// including) the first whose start is earlier than the previous row's,
/// which CTDB treats as stale data from an older run.
pub fn event_rows(run: &EventRun) -> &[ScriptRun] {
    let stale = run.scripts.windows(2).position(|w| w[1].start_us < w[0].start_us);
    match stale {
        Some(i) => &run.scripts[..=i],
        None => &run.scripts,
    }
}

/// A script's result as one signed number, for `-X` and `--json`, in
/// CTDB's convention (eventd's `result`): the exit code for OK (0) and
/// ERROR, a negated errno otherwise: -110 (ETIMEDOUT) TIMEDOUT, -8
/// (ENOEXEC) DISABLED, -125 (ECANCELED) CANCELLED, -4 (EINTR) killed by a
/// signal, -1 (EPERM, CTDB's generic failure) could not be started.
pub fn script_code(status: &ScriptStatus) -> i32 {
    match status {
        ScriptStatus::Ok => 0,
        ScriptStatus::Error { code } => *code,
        ScriptStatus::TimedOut => -110,
        ScriptStatus::Disabled => -8,
        ScriptStatus::Cancelled => -125,
        ScriptStatus::Signaled { .. } => -4,
        ScriptStatus::CannotRun { .. } => -1,
    }
}

/// The run's |summary|, `event status`'s exit status: 0 when no script
/// failed, else the absolute [`script_code`] of the first failing one
/// (its exit code for ERROR, 110 for TIMEDOUT, 125 for CANCELLED...).
pub fn event_result(run: &EventRun) -> i32 {
    run.failure().map(|s| script_code(&s.status).saturating_abs()).unwrap_or(0)
}

/// How `event run` reports a run that completed with a failing script:
/// the message (CTDB's event tool, §5.7.2) and the exit status.
pub fn event_run_failure(run: &EventRun) -> Option<(String, i32)> {
    let failed = run.failure()?;
    let e = run.event;
    Some(match failed.status {
        ScriptStatus::TimedOut => (format!("Event {e} in legacy timed out"), 110),
        ScriptStatus::Cancelled => (format!("Event {e} in legacy got cancelled"), 125),
        _ => (format!("Event {e} in legacy failed"), 8),
    })
}

fn us_secs_f64(us: u64) -> f64 {
    us as f64 / 1e6
}

/// `<sec>.<usec>`, as CTDB's `-X` script status printed times.
fn sec_usec(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn strip_trailing_newlines(s: &str) -> &str {
    s.trim_end_matches('\n')
}

/// One script of `event status`, human form, exactly as CTDB's event tool
/// (§5.7.1): the status line, then the OUTPUT block when the script failed
/// or printed anything.
pub fn script_status_human(s: &ScriptRun, ctime: fn(i64) -> String) -> String {
    let word = s.status.word();
    let start = ctime(us_to_secs(s.start_us));
    let mut out = match &s.status {
        ScriptStatus::Ok | ScriptStatus::Error { .. } => {
            format!("{:<20} {:<10} {:.3} {}\n", s.name, word, delta_secs(s.start_us, s.end_us), start)
        }
        ScriptStatus::TimedOut => format!("{:<20} {:<10} {}\n", s.name, word, start),
        ScriptStatus::Disabled | ScriptStatus::Cancelled => {
            format!("{:<20} {:<10}\n", s.name, word)
        }
        ScriptStatus::Signaled { signal } => format!("{:<20} {:<10} (killed by signal {signal})\n", s.name, word),
        ScriptStatus::CannotRun { reason } => {
            format!("{:<20} {:<10} ({reason})\n", s.name, word)
        }
    };
    if s.status.is_failure() || !s.output.is_empty() {
        let text = strip_trailing_newlines(&s.output);
        if text.contains('\n') {
            out.push_str("  OUTPUT:\n");
            for l in text.split('\n') {
                let _ = writeln!(out, "    {l}");
            }
        } else {
            let _ = writeln!(out, "  OUTPUT: {text}");
        }
    }
    out
}

/// `event status` / `scriptstatus`, human form.
pub fn event_status_human(run: &EventRun, ctime: fn(i64) -> String) -> String {
    event_rows(run).iter().map(|s| script_status_human(s, ctime)).collect()
}

/// `event status -X` (CTDB ≤ 4.5's `scriptstatus -X` columns): a header,
/// then per script the event, name, [`script_code`], status word, start
/// and end as `<sec>.<usec>`, and the output without trailing newlines,
/// other newlines replaced by spaces.
pub fn event_status_machine(run: &EventRun, sep: char) -> String {
    let header = ["Type", "Name", "Code", "Status", "Start", "End", "Error Output..."];
    let mut out = machine_line(sep, header.iter().map(|s| s.to_string()));
    for s in event_rows(run) {
        out.push_str(&machine_line(
            sep,
            [
                run.event.name().to_string(),
                s.name.clone(),
                script_code(&s.status).to_string(),
                s.status.word().to_string(),
                sec_usec(s.start_us),
                sec_usec(s.end_us),
                strip_trailing_newlines(&s.output).replace('\n', " "),
            ],
        ));
    }
    out
}

/// `event status --json`: times in seconds since the epoch (fractional),
/// `result` as [`event_result`], per script its status word and
/// [`script_code`], and the output as captured.
pub fn event_status_json(run: &EventRun) -> Value {
    let scripts: Vec<Value> = event_rows(run)
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "status": s.status.word(),
                "code": script_code(&s.status),
                "start": us_secs_f64(s.start_us),
                "end": us_secs_f64(s.end_us),
                "duration": delta_secs(s.start_us, s.end_us),
                "output": s.output,
            })
        })
        .collect();
    json!({
        "event": run.event.name(),
        "args": run.args,
        "start": us_secs_f64(run.start_us),
        "end": us_secs_f64(run.end_us),
        "result": event_result(run),
        "scripts": scripts,
    })
}

/// `event script list legacy`: `"%c %s"`, `*` for an enabled script.
pub fn script_list_human(scripts: &[(String, bool)]) -> String {
    scripts.iter().map(|(name, on)| format!("{} {name}\n", if *on { '*' } else { ' ' })).collect()
}

/// `event script list -X`: `|Name|Enabled|` then `|NN.name|1|` or `|0|`.
pub fn script_list_machine(scripts: &[(String, bool)], sep: char) -> String {
    let mut out = machine_line(sep, ["Name".to_string(), "Enabled".to_string()]);
    for (name, on) in scripts {
        out.push_str(&machine_line(sep, [name.clone(), u8::from(*on).to_string()]));
    }
    out
}

/// `event script list --json`: an array of `{"name", "enabled"}`.
pub fn script_list_json(scripts: &[(String, bool)]) -> Value {
    Value::Array(scripts.iter().map(|(name, on)| json!({ "name": name, "enabled": on })).collect())
}

/// A PNN as CTDB prints it with `%d`: [`Pnn::UNKNOWN`] is `-1`.
pub fn pnn_signed(p: Pnn) -> i64 {
    i64::from(p.0 as i32)
}

/// The interface columns of `ip -v` for one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpIfaces {
    /// The interface the address is on, if any.
    pub active: Option<String>,
    /// Configured interfaces whose link is up, in configuration order.
    pub available: Vec<String>,
    /// Every configured interface, in configuration order.
    pub configured: Vec<String>,
}

impl IpIfaces {
    pub fn from_info(info: &PublicIpInfo) -> IpIfaces {
        IpIfaces {
            active: info.active.and_then(|i| info.ifaces.get(i as usize)).map(|i| i.name.clone()),
            available: info.ifaces.iter().filter(|i| i.link_up).map(|i| i.name.clone()).collect(),
            configured: info.ifaces.iter().map(|i| i.name.clone()).collect(),
        }
    }
}

/// One line of `ip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRow {
    pub ip: IpAddr,
    /// Who holds it, as the queried node(s) see it; [`Pnn::UNKNOWN`]: nobody.
    pub owner: Pnn,
    /// For `-v`: details from the owner (`all`) or the queried node;
    /// `None` prints empty lists (an unassigned address under `all`).
    pub ifaces: Option<IpIfaces>,
    /// Held back by the leader (waiting for a fence or a lease): why.
    pub held: Option<String>,
}

/// Sort as CTDB does: IPv4 before IPv6, each in numeric order.
pub fn sort_ips(known: &mut [(IpAddr, Pnn)]) {
    known.sort_by_key(|(ip, _)| *ip);
}

/// `ip all`: the union of every queried node's list (nodes in the order
/// given). An address's owner is the node that claims it for itself; an
/// address no node claims is unassigned ([`Pnn::UNKNOWN`]), whatever the
/// other nodes believe. Sorted as [`sort_ips`].
pub fn merge_public_ips(per_node: &[(Pnn, Vec<(IpAddr, Pnn)>)]) -> Vec<(IpAddr, Pnn)> {
    let mut all: std::collections::BTreeMap<IpAddr, Pnn> = std::collections::BTreeMap::new();
    for (node, known) in per_node {
        for (ip, owner) in known {
            if owner == node {
                all.insert(*ip, *node);
            } else {
                all.entry(*ip).or_insert(Pnn::UNKNOWN);
            }
        }
    }
    all.into_iter().collect()
}

/// `ip` human form: `Public IPs on node %u` (or `on ALL nodes` when
/// `node` is `None`), then `"%s %d"` per address, or with `verbose`
/// `"%s node[%d] active[%s] available[%s] configured[%s]"`.
pub fn ip_human(node: Option<Pnn>, rows: &[IpRow], verbose: bool) -> String {
    let mut out = match node {
        Some(p) => format!("Public IPs on node {p}\n"),
        None => "Public IPs on ALL nodes\n".to_string(),
    };
    for r in rows {
        let owner = pnn_signed(r.owner);
        if verbose {
            let i = r.ifaces.clone().unwrap_or_default();
            let _ = writeln!(
                out,
                "{} node[{owner}] active[{}] available[{}] configured[{}]",
                r.ip,
                i.active.unwrap_or_default(),
                i.available.join(","),
                i.configured.join(",")
            );
        } else {
            match &r.held {
                Some(why) => {
                    let _ = writeln!(out, "{} {owner} (held back: {why})", r.ip);
                }
                None => {
                    let _ = writeln!(out, "{} {owner}", r.ip);
                }
            }
        }
    }
    out
}

/// `ip -X`: `|Public IP|Node|` (with `-v` also
/// `ActiveInterfaces|AvailableInterfaces|ConfiguredInterfaces|`), then a
/// row per address. The header is printed even with no addresses.
pub fn ip_machine(rows: &[IpRow], verbose: bool, sep: char) -> String {
    let mut header = vec!["Public IP".to_string(), "Node".to_string()];
    if verbose {
        header.extend(["ActiveInterfaces", "AvailableInterfaces", "ConfiguredInterfaces"].map(String::from));
    }
    let mut out = machine_line(sep, header);
    for r in rows {
        let mut fields = vec![r.ip.to_string(), pnn_signed(r.owner).to_string()];
        if verbose {
            let i = r.ifaces.clone().unwrap_or_default();
            fields.extend([i.active.unwrap_or_default(), i.available.join(","), i.configured.join(",")]);
        }
        out.push_str(&machine_line(sep, fields));
    }
    out
}

/// `ip --json`:
/// `{"pnn": N|null, "all": bool, "ips": [{"address", "node", ...}]}` with
/// `pnn` the queried node (`null` for `all`) and `node` the owner (-1 if
/// none); with `-v` each address also has `"active": name|null`,
/// `"available": [names]`, `"configured": [names]`.
pub fn ip_json(node: Option<Pnn>, rows: &[IpRow], verbose: bool) -> Value {
    let ips: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut o = Map::new();
            o.insert("address".into(), json!(r.ip.to_string()));
            o.insert("node".into(), json!(pnn_signed(r.owner)));
            if verbose {
                let i = r.ifaces.clone().unwrap_or_default();
                o.insert("active".into(), json!(i.active));
                o.insert("available".into(), json!(i.available));
                o.insert("configured".into(), json!(i.configured));
            }
            if let Some(why) = &r.held {
                o.insert("held_back".into(), json!(why));
            }
            Value::Object(o)
        })
        .collect();
    json!({ "pnn": node.map(|p| p.0), "all": node.is_none(), "ips": ips })
}

fn link_word(up: bool) -> &'static str {
    if up {
        "up"
    } else {
        "down"
    }
}

/// `ipinfo` (CTDB has no `-X` form: the same text is printed).
pub fn ipinfo_human(node: Pnn, info: &PublicIpInfo) -> String {
    let mut out = format!("Public IP[{}] info on node {node}\n", info.ip);
    let _ = writeln!(out, "IP:{}", info.ip);
    let _ = writeln!(out, "CurrentNode:{}", pnn_signed(info.owner));
    let _ = writeln!(out, "NumInterfaces:{}", info.ifaces.len());
    for (i, iface) in info.ifaces.iter().enumerate() {
        let active = if info.active == Some(i as u32) { " (active)" } else { "" };
        let _ = writeln!(
            out,
            "Interface[{}]: Name:{} Link:{} References:{}{active}",
            i + 1,
            iface.name,
            link_word(iface.link_up),
            iface.references
        );
    }
    out
}

/// `ipinfo --json`: `{"pnn", "address", "bits", "current_node" (-1 if
/// none), "interfaces": [{"name", "link_up", "references", "active"}]}`.
pub fn ipinfo_json(node: Pnn, info: &PublicIpInfo) -> Value {
    let ifaces: Vec<Value> = info
        .ifaces
        .iter()
        .enumerate()
        .map(|(i, f)| {
            json!({
                "name": f.name,
                "link_up": f.link_up,
                "references": f.references,
                "active": info.active == Some(i as u32),
            })
        })
        .collect();
    json!({
        "pnn": node.0,
        "address": info.ip.to_string(),
        "bits": info.bits,
        "current_node": pnn_signed(info.owner),
        "interfaces": ifaces,
    })
}

/// `ifaces`: `Interfaces on node %u` then `name:%s link:%s references:%d`
/// per interface; none ⇒ `No interfaces configured on node %u`.
pub fn ifaces_human(node: Pnn, ifaces: &[IfaceInfo]) -> String {
    if ifaces.is_empty() {
        return format!("No interfaces configured on node {node}\n");
    }
    let mut out = format!("Interfaces on node {node}\n");
    for i in ifaces {
        let _ = writeln!(out, "name:{} link:{} references:{}", i.name, link_word(i.link_up), i.references);
    }
    out
}

/// `ifaces -X`: `|Name|LinkStatus|References|` then `|eth2|1|2|`; none ⇒
/// the same line as the human form.
pub fn ifaces_machine(node: Pnn, ifaces: &[IfaceInfo], sep: char) -> String {
    if ifaces.is_empty() {
        return ifaces_human(node, ifaces);
    }
    let mut out = machine_line(sep, ["Name", "LinkStatus", "References"].map(String::from));
    for i in ifaces {
        out.push_str(&machine_line(sep, [i.name.clone(), u8::from(i.link_up).to_string(), i.references.to_string()]));
    }
    out
}

/// `ifaces --json`: `{"pnn", "interfaces": [{"name", "link_up", "references"}]}`.
pub fn ifaces_json(node: Pnn, ifaces: &[IfaceInfo]) -> Value {
    let list: Vec<Value> =
        ifaces.iter().map(|i| json!({ "name": i.name, "link_up": i.link_up, "references": i.references })).collect();
    json!({ "pnn": node.0, "interfaces": list })
}

/// Pretty-printed JSON (2-space indent) with a trailing newline.
pub fn json_text(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".to_string());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rctdb_protocol::{Event, Generation, NodeInfo};

    fn map(nodes: &[(u32, &str, u32)]) -> NodeMap {
        NodeMap {
            nodes: nodes
                .iter()
                .map(|&(p, a, f)| NodeInfo { pnn: Pnn(p), addr: a.parse().unwrap(), flags: NodeFlags(f) })
                .collect(),
        }
    }

    fn three() -> StatusData {
        StatusData {
            map: map(&[(0, "192.168.20.41", 0), (1, "192.168.20.42", 0x02), (2, "192.168.20.43", 0x03)]),
            this: Pnn(0),
            runstate: RunState::Running,
            vnnmap: VnnMap { generation: Generation(654321), map: vec![Pnn(0), Pnn(1), Pnn(2)] },
            recmode: RecMode::Normal,
            leader: Pnn(0),
            safety: rctdb_protocol::Safety::default(),
        }
    }

    #[test]
    fn status_says_why_addresses_are_down() {
        let mut s = three();
        s.safety = rctdb_protocol::Safety {
            lease_left_ms: None,
            released: Some("lease expired: no contact with the leader for 1.2s".into()),
            held_back: vec![rctdb_protocol::HeldBack {
                pnn: Pnn(2),
                ips: vec![ip("198.51.100.3"), ip("198.51.100.6")],
                reason: "waiting for the fence command".into(),
            }],
            stuck: Some("Cluster stuck: the cluster lock is held by node 0, which is unreachable".into()),
        };
        let text = status_human(&s);
        assert!(text.ends_with(
            "Leader:0\n\
             Addresses of node 2 held back (198.51.100.3,198.51.100.6): waiting for the fence command\n\
             This node released its public addresses: lease expired: no contact with the leader for 1.2s\n\
             Cluster stuck: the cluster lock is held by node 0, which is unreachable\n"
        ));
        let v = status_json(&s);
        assert_eq!(v["held_back"][0]["pnn"], 2);
        assert_eq!(v["stuck"].as_str().map(|t| t.starts_with("Cluster stuck")), Some(true));
        assert_eq!(
            held_back_reason(&s.safety, ip("198.51.100.6")).as_deref(),
            Some("node 2: waiting for the fence command")
        );
        assert_eq!(held_back_reason(&s.safety, ip("198.51.100.1")), None);
        let rows = [IpRow { ip: ip("198.51.100.3"), owner: Pnn(2), ifaces: None, held: Some("node 2: fence".into()) }];
        assert_eq!(
            ip_human(Some(Pnn(0)), &rows, false),
            "Public IPs on node 0\n198.51.100.3 2 (held back: node 2: fence)\n"
        );
    }

    #[test]
    fn reclock_verbatim_or_nothing() {
        assert_eq!(reclock_text(Some("/clusterfs/.rctdb/reclock")), "/clusterfs/.rctdb/reclock\n");
        assert_eq!(
            reclock_text(Some("!/usr/libexec/rctdb/lock_helper /clusterfs/lock 5")),
            "!/usr/libexec/rctdb/lock_helper /clusterfs/lock 5\n"
        );
        assert_eq!(reclock_text(None), "");
        assert_eq!(json_text(&reclock_json(Some("/x/lock"))), "{\n  \"reclock\": \"/x/lock\"\n}\n");
        assert_eq!(json_text(&reclock_json(None)), "{\n  \"reclock\": null\n}\n");
    }

    #[test]
    fn status_human_matches_ctdb() {
        assert_eq!(
            status_human(&three()),
            "Number of nodes:3
pnn:0 192.168.20.41    OK (THIS NODE)
pnn:1 192.168.20.42    UNHEALTHY
pnn:2 192.168.20.43    DISCONNECTED|UNHEALTHY|INACTIVE
Generation:654321
Size:3
hash:0 lmaster:0
hash:1 lmaster:1
hash:2 lmaster:2
Recovery mode:NORMAL (0)
Leader:0
"
        );
    }

    #[test]
    fn status_human_invalid_generation_recovery_unknown_leader() {
        let mut s = three();
        s.vnnmap = VnnMap { generation: Generation::INVALID, map: vec![Pnn(0)] };
        s.recmode = RecMode::Active;
        s.leader = Pnn::UNKNOWN;
        let out = status_human(&s);
        assert!(
            out.ends_with("Generation:INVALID\nSize:1\nhash:0 lmaster:0\nRecovery mode:RECOVERY (1)\nLeader:UNKNOWN\n")
        );
    }

    #[test]
    fn status_machine_matches_ctdb() {
        assert_eq!(
            status_machine(&three(), '|'),
            "|Node|IP|Disconnected|Unknown|Banned|Disabled|Unhealthy|Stopped|Inactive|PartiallyOnline|ThisNode|
|0|192.168.20.41|0|0|0|0|0|0|0|0|Y|
|1|192.168.20.42|0|0|0|0|1|0|0|0|N|
|2|192.168.20.43|1|0|0|0|1|0|1|0|N|
"
        );
    }

    #[test]
    fn machine_separator() {
        let rows = node_rows(&map(&[(0, "10.0.0.1", 0x0c)]), Pnn(0), RunState::Running);
        assert_eq!(
            node_table(&rows, ':'),
            ":Node:IP:Disconnected:Unknown:Banned:Disabled:Unhealthy:Stopped:Inactive:PartiallyOnline:ThisNode:
:0:10.0.0.1:0:0:1:1:0:0:1:0:Y:
"
        );
    }

    #[test]
    fn status_json_matches_ctdb_shape() {
        let mut s = three();
        s.map.nodes.truncate(2);
        s.vnnmap = VnnMap { generation: Generation(7), map: vec![Pnn(0)] };
        assert_eq!(
            json_text(&status_json(&s)),
            r#"{
  "node_status": {
    "node_count": 2,
    "deleted_node_count": 0,
    "nodes": {
      "0": {
        "pnn": 0,
        "address": "192.168.20.41",
        "partially_online": false,
        "flags_raw": 0,
        "flags_ok": true,
        "flags": {
          "disconnected": false,
          "unknown": false,
          "disabled": false,
          "banned": false,
          "unhealthy": false,
          "deleted": false,
          "stopped": false,
          "inactive": false
        },
        "this_node": true
      },
      "1": {
        "pnn": 1,
        "address": "192.168.20.42",
        "partially_online": false,
        "flags_raw": 2,
        "flags_ok": false,
        "flags": {
          "disconnected": false,
          "unknown": false,
          "disabled": false,
          "banned": false,
          "unhealthy": true,
          "deleted": false,
          "stopped": false,
          "inactive": false
        },
        "this_node": false
      }
    }
  },
  "vnn_status": {
    "generation": 7,
    "size": 1,
    "vnn_map": [
      {
        "hash": 0,
        "lmaster": 0
      }
    ]
  },
  "recovery_mode": "NORMAL",
  "recovery_mode_raw": 0,
  "leader": 0
}
"#
        );
    }

    #[test]
    fn status_json_invalid_generation_and_unknown_leader() {
        let mut s = three();
        s.vnnmap.generation = Generation::INVALID;
        s.leader = Pnn::UNKNOWN;
        s.recmode = RecMode::Active;
        let v = status_json(&s);
        assert_eq!(v["vnn_status"]["generation"], Value::Null);
        assert_eq!(v["leader"], json!(4294967295u32));
        assert_eq!(v["recovery_mode"], json!("RECOVERY"));
        assert_eq!(v["recovery_mode_raw"], json!(1));
        // Keys of `nodes` stay in PNN order, also past 9.
        let many: Vec<(u32, String, u32)> = (0..12).map(|i| (i, format!("10.0.0.{}", i + 1), 0)).collect();
        let refs: Vec<(u32, &str, u32)> = many.iter().map(|(p, a, f)| (*p, a.as_str(), *f)).collect();
        s.map = map(&refs);
        let v = status_json(&s);
        let keys: Vec<&String> = v["node_status"]["nodes"].as_object().unwrap().keys().collect();
        assert_eq!(keys, (0..12).map(|i| i.to_string()).collect::<Vec<_>>().iter().collect::<Vec<_>>());
    }

    #[test]
    fn flags_display_combinations() {
        let cases = [
            (0x00, "OK"),
            (0x03, "DISCONNECTED|UNHEALTHY|INACTIVE"),
            (0x24, "DISABLED|STOPPED|INACTIVE"),
            (0x08, "BANNED|INACTIVE"),
            (0x20, "STOPPED|INACTIVE"),
            (0x04, "DISABLED"),
            (0x40, "UNKNOWN"),
            (0x41, "DISCONNECTED|UNKNOWN|INACTIVE"),
            (0x3f, "DISCONNECTED|DISABLED|BANNED|UNHEALTHY|DELETED|STOPPED|INACTIVE"),
        ];
        for (flags, want) in cases {
            let row = NodeRow {
                pnn: Pnn(3),
                addr: "10.0.0.4".parse().unwrap(),
                flags: NodeFlags(flags),
                partially_online: false,
                this_node: false,
            };
            assert_eq!(node_line(&row), format!("pnn:3 10.0.0.4         {want}\n"), "flags {flags:#x}");
        }
    }

    #[test]
    fn partially_online_only_when_flags_zero() {
        let mut row = NodeRow {
            pnn: Pnn(0),
            addr: "10.0.0.1".parse().unwrap(),
            flags: NodeFlags(0),
            partially_online: true,
            this_node: true,
        };
        assert_eq!(node_line(&row), "pnn:0 10.0.0.1         PARTIALLYONLINE (THIS NODE)\n");
        row.flags = NodeFlags::UNHEALTHY;
        assert_eq!(node_line(&row), "pnn:0 10.0.0.1         UNHEALTHY (THIS NODE)\n");
    }

    #[test]
    fn long_address_is_not_truncated() {
        let rows = node_rows(&map(&[(0, "fd00:1234:5678::42", 0)]), Pnn(0), RunState::Running);
        assert_eq!(node_line(&rows[0]), "pnn:0 fd00:1234:5678::42 OK (THIS NODE)\n");
    }

    #[test]
    fn deleted_nodes_are_omitted_and_counted() {
        let mut s = three();
        s.map = map(&[(0, "192.168.20.41", 0), (1, "0.0.0.0", 0x10), (2, "192.168.20.43", 0)]);
        s.this = Pnn(2);
        s.vnnmap.map = vec![Pnn(0), Pnn(2)];
        assert_eq!(
            status_human(&s),
            "Number of nodes:3 (including 1 deleted nodes)
pnn:0 192.168.20.41    OK
pnn:2 192.168.20.43    OK (THIS NODE)
Generation:654321
Size:2
hash:0 lmaster:0
hash:1 lmaster:2
Recovery mode:NORMAL (0)
Leader:0
"
        );
        assert_eq!(
            status_machine(&s, '|'),
            "|Node|IP|Disconnected|Unknown|Banned|Disabled|Unhealthy|Stopped|Inactive|PartiallyOnline|ThisNode|
|0|192.168.20.41|0|0|0|0|0|0|0|0|N|
|2|192.168.20.43|0|0|0|0|0|0|0|0|Y|
"
        );
        let v = status_json(&s);
        assert_eq!(v["node_status"]["node_count"], json!(3));
        assert_eq!(v["node_status"]["deleted_node_count"], json!(1));
        assert!(v["node_status"]["nodes"].get("1").is_none());
    }

    #[test]
    fn unknown_pseudo_state_before_first_recovery_ends() {
        let m = map(&[(0, "10.0.0.1", 0x02), (1, "10.0.0.2", 0x00), (2, "10.0.0.3", 0x03), (3, "0.0.0.0", 0x10)]);
        for rs in [RunState::Unknown, RunState::Init, RunState::Setup, RunState::FirstRecovery] {
            let rows = node_rows(&m, Pnn(0), rs);
            let flags: Vec<u32> = rows.iter().map(|r| r.flags.0).collect();
            // The queried node keeps its own flags; disconnected nodes keep
            // theirs; the rest are UNKNOWN; deleted nodes are left out.
            assert_eq!(flags, vec![0x02, 0x40, 0x03], "{rs:?}");
        }
        for rs in [RunState::Startup, RunState::Running, RunState::Shutdown] {
            let flags: Vec<u32> = node_rows(&m, Pnn(0), rs).iter().map(|r| r.flags.0).collect();
            assert_eq!(flags, vec![0x02, 0x00, 0x03], "{rs:?}");
        }
        let rows = node_rows(&m, Pnn(0), RunState::FirstRecovery);
        assert_eq!(
            nodestatus_human(&m, &rows, true),
            "Number of nodes:4 (including 1 deleted nodes)
pnn:0 10.0.0.1         UNHEALTHY (THIS NODE)
pnn:1 10.0.0.2         UNKNOWN
pnn:2 10.0.0.3         DISCONNECTED|UNHEALTHY|INACTIVE
"
        );
        assert_eq!(nodestatus_exit(&rows), 0x43);
        assert_eq!(
            node_table(&rows[1..2], '|'),
            "|Node|IP|Disconnected|Unknown|Banned|Disabled|Unhealthy|Stopped|Inactive|PartiallyOnline|ThisNode|
|1|10.0.0.2|0|1|0|0|0|0|0|0|N|
"
        );
    }

    #[test]
    fn nodestatus_examples() {
        let m = map(&[(0, "192.168.20.41", 0), (1, "192.168.20.42", 0x01), (2, "192.168.20.43", 0)]);
        let rows = node_rows(&m, Pnn(2), RunState::Running);
        let this: Vec<NodeRow> = rows.iter().filter(|r| r.this_node).cloned().collect();
        assert_eq!(nodestatus_human(&m, &this, false), "pnn:2 192.168.20.43    OK (THIS NODE)\n");
        assert_eq!(nodestatus_exit(&this), 0);
        assert_eq!(
            nodestatus_human(&m, &rows, true),
            "Number of nodes:3
pnn:0 192.168.20.41    OK
pnn:1 192.168.20.42    DISCONNECTED|INACTIVE
pnn:2 192.168.20.43    OK (THIS NODE)
"
        );
        assert_eq!(nodestatus_exit(&rows), 1);

        let m = map(&[(0, "192.168.20.41", 0x24), (1, "192.168.20.42", 0)]);
        let rows = node_rows(&m, Pnn(1), RunState::Running);
        assert_eq!(nodestatus_human(&m, &rows[..1], false), "pnn:0 192.168.20.41    DISABLED|STOPPED|INACTIVE\n");
        assert_eq!(nodestatus_exit(&rows[..1]), 36);
    }

    #[test]
    fn listnodes_forms() {
        let m = map(&[(0, "192.168.20.41", 0), (1, "0.0.0.0", 0x10), (2, "fd00::3", 0)]);
        assert_eq!(listnodes_human(&m), "192.168.20.41\nfd00::3\n");
        assert_eq!(listnodes_machine(&m, '|'), "|0|192.168.20.41|\n|2|fd00::3|\n");
        assert_eq!(
            json_text(&listnodes_json(&m)),
            "{\n  \"nodes\": [\n    {\n      \"pnn\": 0,\n      \"address\": \"192.168.20.41\"\n    },\n    {\n      \"pnn\": 2,\n      \"address\": \"fd00::3\"\n    }\n  ]\n}\n"
        );
    }

    #[test]
    fn tunable_lines() {
        assert_eq!(tunable_line("MonitorInterval", "15"), "MonitorInterval            = 15\n");
        assert_eq!(tunable_line("monitorinterval", "15"), "monitorinterval            = 15\n");
        assert_eq!(tunable_line("SeqnumInterval", "1000"), "SeqnumInterval             = 1000\n");
        assert_eq!(tunable_line("AllowMixedVersions", "0"), "AllowMixedVersions         = 0\n");
        // Longer than the column: no truncation.
        assert_eq!(tunable_line("ABCDEFGHIJKLMNOPQRSTUVWXYZ12", "1"), "ABCDEFGHIJKLMNOPQRSTUVWXYZ12 = 1\n");
    }

    #[test]
    fn listvars_uses_tunable_formatting() {
        let mi = Tunable::from_name("MonitorInterval").unwrap();
        let vars = vec![
            ("ControlTimeout".to_string(), 60u64),
            ("MonitorInterval".to_string(), 15_000),
            ("FutureTunable".to_string(), 7),
        ];
        let out = listvars_human(&vars);
        let want = format!(
            "ControlTimeout             = {}\nMonitorInterval            = {}\nFutureTunable              = 7\n",
            tunable_value("ControlTimeout", 60),
            format_tunable(mi, 15_000)
        );
        assert_eq!(out, want);
        let v = listvars_json(&vars);
        assert_eq!(v["tunables"][2], json!({"name": "FutureTunable", "value": "7", "raw": 7}));
        assert_eq!(getvar_json(mi, 200)["name"], json!("MonitorInterval"));
    }

    #[test]
    fn ping_format() {
        assert_eq!(ping_line(Pnn(0), 0.000054, 3), "response from 0 time=0.000054 sec  (3 clients)\n");
        assert_eq!(ping_line(Pnn(12), 1.5, 1), "response from 12 time=1.500000 sec  (1 clients)\n");
    }

    #[test]
    fn leader_forms() {
        assert_eq!(leader_text(Pnn(2)), "2\n");
        assert_eq!(leader_text(Pnn::UNKNOWN), "UNKNOWN\n");
    }

    fn utc_ctime(secs: i64) -> String {
        static TZ: std::sync::Once = std::sync::Once::new();
        TZ.call_once(|| std::env::set_var("TZ", "UTC"));
        rctdb_sys::ctime(secs)
    }

    /// The reference example: Thu Oct 29 10:38:54 2009 UTC and friends.
    fn example_uptime() -> Uptime {
        let now = 1_256_812_734u64;
        let start = now - 60_868;
        let finished = now - 60_811;
        Uptime {
            current_time_us: now * 1_000_000 + 123_456,
            start_time_us: start * 1_000_000,
            last_recovery_started_us: finished * 1_000_000 - 2_248_552,
            last_recovery_finished_us: finished * 1_000_000,
        }
    }

    #[test]
    fn uptime_matches_ctdb_example() {
        assert_eq!(
            uptime_human(Pnn(0), &example_uptime(), utc_ctime),
            "Current time of node 0        :                Thu Oct 29 10:38:54 2009
Ctdbd start time              : (000 16:54:28) Wed Oct 28 17:44:26 2009
Time of last recovery/failover: (000 16:53:31) Wed Oct 28 17:45:23 2009
Duration of last recovery/failover: 2.248552 seconds
"
        );
    }

    #[test]
    fn uptime_without_recovery_and_long_uptimes() {
        let mut u = example_uptime();
        u.start_time_us -= 3 * 86_400 * 1_000_000;
        u.last_recovery_started_us = 0;
        u.last_recovery_finished_us = 0;
        assert_eq!(
            uptime_human(Pnn(12345), &u, utc_ctime),
            "Current time of node 12345     :                Thu Oct 29 10:38:54 2009
Ctdbd start time              : (003 16:54:28) Sun Oct 25 17:44:26 2009
Time of last recovery/failover: never
Duration of last recovery/failover: never
"
        );
        u.last_recovery_started_us = u.current_time_us - 1_000_000;
        assert!(uptime_human(Pnn(1), &u, utc_ctime).ends_with("Duration of last recovery/failover: in progress\n"));
        let v = uptime_json(Pnn(1), &u);
        assert_eq!(v["last_recovery_finished_us"], Value::Null);
        assert_eq!(v["last_recovery_duration"], Value::Null);
    }

    #[test]
    fn uptime_negative_duration_while_recovering() {
        let mut u = example_uptime();
        u.last_recovery_started_us = u.last_recovery_finished_us + 500_000;
        assert!(
            uptime_human(Pnn(0), &u, utc_ctime).ends_with("Duration of last recovery/failover: -0.500000 seconds\n")
        );
    }

    #[test]
    fn uptime_machine_form() {
        assert_eq!(
            uptime_machine(&example_uptime(), '|'),
            "|Current Node Time|Ctdb Start Time|Last Recovery/Failover Time|Last Recovery/IPFailover Duration|
|1256812734|1256751866|1256751923|2.248552|
"
        );
    }

    fn script(name: &str, status: ScriptStatus, start_us: u64, ms: u64, output: &str) -> ScriptRun {
        ScriptRun { name: name.to_string(), status, start_us, end_us: start_us + ms * 1000, output: output.to_string() }
    }

    fn run(event: Event, scripts: Vec<ScriptRun>) -> EventRun {
        let start_us = scripts.first().map(|s| s.start_us).unwrap_or(0);
        let end_us = scripts.last().map(|s| s.end_us).unwrap_or(0);
        EventRun { event, args: Vec::new(), start_us, end_us, scripts }
    }

    /// The date of the reference's first example, whatever the instant.
    fn example_ctime(_secs: i64) -> String {
        "Sat Apr 15 19:40:46 2024".to_string()
    }

    const APR15: u64 = 1_713_210_046_000_000;

    fn monitor_example() -> EventRun {
        run(
            Event::Monitor,
            vec![
                script("00.ctdb", ScriptStatus::Ok, APR15, 11, ""),
                script("01.reclock", ScriptStatus::Ok, APR15 + 11_000, 10, ""),
                script("05.system", ScriptStatus::Ok, APR15 + 21_000, 30, ""),
                script("10.interface", ScriptStatus::Ok, APR15 + 51_000, 41, ""),
                script("49.winbind", ScriptStatus::Ok, APR15 + 92_000, 22, ""),
                script(
                    "50.samba",
                    ScriptStatus::Error { code: 1 },
                    APR15 + 114_000,
                    77,
                    "ERROR: samba tcp port 445 is not responding\n",
                ),
            ],
        )
    }

    #[test]
    fn event_status_matches_reference_example() {
        assert_eq!(
            event_status_human(&monitor_example(), example_ctime),
            "00.ctdb              OK         0.011 Sat Apr 15 19:40:46 2024
01.reclock           OK         0.010 Sat Apr 15 19:40:46 2024
05.system            OK         0.030 Sat Apr 15 19:40:46 2024
10.interface         OK         0.041 Sat Apr 15 19:40:46 2024
49.winbind           OK         0.022 Sat Apr 15 19:40:46 2024
50.samba             ERROR      0.077 Sat Apr 15 19:40:46 2024
  OUTPUT: ERROR: samba tcp port 445 is not responding
"
        );
        assert_eq!(event_result(&monitor_example()), 1);
        // Real ctime, UTC: that instant is a Monday.
        assert!(event_status_human(&monitor_example(), utc_ctime)
            .starts_with("00.ctdb              OK         0.011 Mon Apr 15 19:40:46 2024\n"));
    }

    #[test]
    fn event_status_disabled_and_multiline_example() {
        let t = 1_786_120_165_000_000;
        let r = run(
            Event::Monitor,
            vec![
                script("01.disabled", ScriptStatus::Disabled, t, 0, ""),
                script(
                    "02.enabled",
                    ScriptStatus::Ok,
                    t,
                    12,
                    "Running event verbosemultiline\nThere are multiple output lines\n\n^^^ including blank lines...\n",
                ),
            ],
        );
        assert_eq!(
            event_status_human(&r, utc_ctime),
            "01.disabled          DISABLED  \n\
02.enabled           OK         0.012 Fri Aug  7 16:29:25 2026
  OUTPUT:
    Running event verbosemultiline
    There are multiple output lines
    \n    ^^^ including blank lines...
"
        );
        assert_eq!(event_result(&r), 0);
    }

    #[test]
    fn event_status_other_results() {
        let t = 1_786_120_165_000_000;
        let line = |s: ScriptStatus, out: &str| script_status_human(&script("10.foo", s, t, 1500, out), utc_ctime);
        assert_eq!(
            line(ScriptStatus::TimedOut, ""),
            "10.foo               TIMEDOUT   Fri Aug  7 16:29:25 2026\n  OUTPUT: \n"
        );
        assert_eq!(
            line(ScriptStatus::Error { code: 3 }, "\n\n"),
            "10.foo               ERROR      1.500 Fri Aug  7 16:29:25 2026\n  OUTPUT: \n"
        );
        assert_eq!(
            line(ScriptStatus::Signaled { signal: 9 }, "partial"),
            "10.foo               CANNOT RUN (killed by signal 9)\n  OUTPUT: partial\n"
        );
        assert_eq!(
            line(ScriptStatus::CannotRun { reason: "Permission denied".into() }, ""),
            "10.foo               CANNOT RUN (Permission denied)\n  OUTPUT: \n"
        );
        assert_eq!(line(ScriptStatus::Cancelled, ""), "10.foo               CANCELLED \n  OUTPUT: \n");
        // OK with output shows it; OK and DISABLED without output do not.
        assert_eq!(
            line(ScriptStatus::Ok, "hello\n"),
            "10.foo               OK         1.500 Fri Aug  7 16:29:25 2026\n  OUTPUT: hello\n"
        );
        assert_eq!(line(ScriptStatus::Ok, ""), "10.foo               OK         1.500 Fri Aug  7 16:29:25 2026\n");
        assert_eq!(line(ScriptStatus::Disabled, ""), "10.foo               DISABLED  \n");
        // Long names are not truncated.
        assert_eq!(
            script_status_human(&script("99.a-very-long-script-name", ScriptStatus::Disabled, t, 0, ""), utc_ctime),
            "99.a-very-long-script-name DISABLED  \n"
        );
    }

    #[test]
    fn event_status_stops_at_stale_rows() {
        let t = 1_786_120_165_000_000;
        let r = run(
            Event::Monitor,
            vec![
                script("00.a", ScriptStatus::Ok, t, 10, ""),
                script("01.b", ScriptStatus::Ok, t + 10_000, 10, ""),
                // Started before 01.b: an older run's row; it and all
                // after it are not shown.
                script("02.c", ScriptStatus::Ok, t - 60_000_000, 10, ""),
                script("03.d", ScriptStatus::Ok, t + 30_000, 10, ""),
            ],
        );
        assert_eq!(
            event_status_human(&r, utc_ctime),
            "00.a                 OK         0.010 Fri Aug  7 16:29:25 2026
01.b                 OK         0.010 Fri Aug  7 16:29:25 2026
"
        );
        assert_eq!(event_rows(&r).len(), 2);
        assert_eq!(event_status_machine(&r, '|').lines().count(), 3);
        assert_eq!(event_status_json(&r)["scripts"].as_array().unwrap().len(), 2);
        // Equal start times are not stale.
        let same = run(
            Event::Monitor,
            vec![script("00.a", ScriptStatus::Disabled, t, 0, ""), script("01.b", ScriptStatus::Ok, t, 10, "")],
        );
        assert_eq!(event_rows(&same).len(), 2);
    }

    #[test]
    fn event_status_machine_form() {
        let t = 1_786_120_165_000_042;
        let r = run(
            Event::Monitor,
            vec![
                script("00.ctdb", ScriptStatus::Ok, t, 11, ""),
                script("01.off", ScriptStatus::Disabled, t + 11_000, 0, ""),
                script("50.samba", ScriptStatus::Error { code: 2 }, t + 11_000, 77, "line one\nline two\n"),
            ],
        );
        assert_eq!(
            event_status_machine(&r, '|'),
            "|Type|Name|Code|Status|Start|End|Error Output...|
|monitor|00.ctdb|0|OK|1786120165.000042|1786120165.011042||
|monitor|01.off|-8|DISABLED|1786120165.011042|1786120165.011042||
|monitor|50.samba|2|ERROR|1786120165.011042|1786120165.088042|line one line two|
"
        );
        assert_eq!(
            event_status_machine(&run(Event::TakeIp, vec![]), ':'),
            ":Type:Name:Code:Status:Start:End:Error Output...:\n"
        );
    }

    #[test]
    fn script_codes_and_results() {
        assert_eq!(script_code(&ScriptStatus::Ok), 0);
        assert_eq!(script_code(&ScriptStatus::Error { code: 7 }), 7);
        assert_eq!(script_code(&ScriptStatus::TimedOut), -110);
        assert_eq!(script_code(&ScriptStatus::Disabled), -8);
        assert_eq!(script_code(&ScriptStatus::Cancelled), -125);
        assert_eq!(script_code(&ScriptStatus::Signaled { signal: 9 }), -4);
        assert_eq!(script_code(&ScriptStatus::CannotRun { reason: "x".into() }), -1);
        let t = 1_000_000;
        let with = |s: ScriptStatus| {
            run(
                Event::Monitor,
                vec![
                    script("00.a", ScriptStatus::Disabled, t, 0, ""),
                    script("01.b", ScriptStatus::Ok, t, 1, ""),
                    script("02.c", s, t + 1000, 1, ""),
                ],
            )
        };
        assert_eq!(event_result(&with(ScriptStatus::Ok)), 0);
        assert_eq!(event_result(&with(ScriptStatus::Error { code: 3 })), 3);
        assert_eq!(event_result(&with(ScriptStatus::TimedOut)), 110);
        assert_eq!(event_result(&with(ScriptStatus::Cancelled)), 125);
        assert_eq!(event_run_failure(&with(ScriptStatus::Ok)), None);
        assert_eq!(
            event_run_failure(&with(ScriptStatus::Error { code: 3 })),
            Some(("Event monitor in legacy failed".to_string(), 8))
        );
        assert_eq!(
            event_run_failure(&with(ScriptStatus::TimedOut)),
            Some(("Event monitor in legacy timed out".to_string(), 110))
        );
        assert_eq!(
            event_run_failure(&with(ScriptStatus::Cancelled)),
            Some(("Event monitor in legacy got cancelled".to_string(), 125))
        );
        assert_eq!(
            event_run_failure(&with(ScriptStatus::Signaled { signal: 11 })),
            Some(("Event monitor in legacy failed".to_string(), 8))
        );
    }

    #[test]
    fn event_status_json_shape() {
        let mut r = run(
            Event::TakeIp,
            vec![
                script("00.ctdb", ScriptStatus::Ok, 1_500_000, 250, ""),
                script("10.interface", ScriptStatus::TimedOut, 1_750_000, 1000, "slow\n"),
            ],
        );
        r.args = vec!["eth0".into(), "10.0.0.1".into(), "24".into()];
        assert_eq!(
            json_text(&event_status_json(&r)),
            r#"{
  "event": "takeip",
  "args": [
    "eth0",
    "10.0.0.1",
    "24"
  ],
  "start": 1.5,
  "end": 2.75,
  "result": 110,
  "scripts": [
    {
      "name": "00.ctdb",
      "status": "OK",
      "code": 0,
      "start": 1.5,
      "end": 1.75,
      "duration": 0.25,
      "output": ""
    },
    {
      "name": "10.interface",
      "status": "TIMEDOUT",
      "code": -110,
      "start": 1.75,
      "end": 2.75,
      "duration": 1.0,
      "output": "slow\n"
    }
  ]
}
"#
        );
    }

    #[test]
    fn script_list_forms() {
        let rows =
            vec![("00.ctdb".to_string(), true), ("01.reclock".to_string(), false), ("10.interface".to_string(), true)];
        assert_eq!(script_list_human(&rows), "* 00.ctdb\n  01.reclock\n* 10.interface\n");
        assert_eq!(script_list_machine(&rows, '|'), "|Name|Enabled|\n|00.ctdb|1|\n|01.reclock|0|\n|10.interface|1|\n");
        assert_eq!(
            script_list_json(&rows),
            json!([
                {"name": "00.ctdb", "enabled": true},
                {"name": "01.reclock", "enabled": false},
                {"name": "10.interface", "enabled": true},
            ])
        );
        assert_eq!(script_list_human(&[]), "");
    }

    fn iface(name: &str, up: bool, refs: u32) -> IfaceInfo {
        IfaceInfo { name: name.into(), link_up: up, references: refs }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn eth2_eth1(active: Option<u32>) -> IpIfaces {
        IpIfaces::from_info(&PublicIpInfo {
            ip: ip("10.0.0.31"),
            bits: 24,
            owner: Pnn(0),
            active,
            ifaces: vec![iface("eth2", true, 1), iface("eth1", true, 0)],
        })
    }

    #[test]
    fn ip_matches_ctdb_example() {
        let rows: Vec<IpRow> = [("10.0.0.31", 0), ("10.0.0.32", 1), ("10.0.0.33", 2)]
            .iter()
            .map(|&(a, p)| IpRow { ip: ip(a), owner: Pnn(p), ifaces: None, held: None })
            .collect();
        assert_eq!(
            ip_human(Some(Pnn(0)), &rows, false),
            "Public IPs on node 0
10.0.0.31 0
10.0.0.32 1
10.0.0.33 2
"
        );
        assert_eq!(ip_machine(&rows[..1], false, '|'), "|Public IP|Node|\n|10.0.0.31|0|\n");
        let unassigned = [IpRow { ip: ip("10.0.0.34"), owner: Pnn::UNKNOWN, ifaces: None, held: None }];
        assert_eq!(ip_human(Some(Pnn(1)), &unassigned, false), "Public IPs on node 1\n10.0.0.34 -1\n");
        assert_eq!(ip_machine(&unassigned, false, ':'), ":Public IP:Node:\n:10.0.0.34:-1:\n");
        assert_eq!(ip_human(Some(Pnn(2)), &[], false), "Public IPs on node 2\n");
        assert_eq!(
            ip_machine(&[], true, '|'),
            "|Public IP|Node|ActiveInterfaces|AvailableInterfaces|ConfiguredInterfaces|\n"
        );
    }

    #[test]
    fn ip_all_verbose_matches_ctdb_example() {
        let rows = vec![
            IpRow { ip: ip("10.0.0.31"), owner: Pnn(0), ifaces: Some(eth2_eth1(Some(0))), held: None },
            IpRow { ip: ip("10.0.0.32"), owner: Pnn::UNKNOWN, ifaces: None, held: None },
            IpRow { ip: ip("fd00::5357:5f01"), owner: Pnn(2), ifaces: Some(eth2_eth1(Some(0))), held: None },
        ];
        assert_eq!(
            ip_human(None, &rows, true),
            "Public IPs on ALL nodes
10.0.0.31 node[0] active[eth2] available[eth2,eth1] configured[eth2,eth1]
10.0.0.32 node[-1] active[] available[] configured[]
fd00::5357:5f01 node[2] active[eth2] available[eth2,eth1] configured[eth2,eth1]
"
        );
        assert_eq!(
            ip_human(None, &rows, false),
            "Public IPs on ALL nodes\n10.0.0.31 0\n10.0.0.32 -1\nfd00::5357:5f01 2\n"
        );
    }

    #[test]
    fn ip_machine_verbose_matches_ctdb_example() {
        let info = PublicIpInfo {
            ip: ip("172.31.91.82"),
            bits: 24,
            owner: Pnn(1),
            active: None,
            ifaces: vec![iface("eth2", true, 0), iface("eth3", true, 0)],
        };
        let rows = [IpRow { ip: info.ip, owner: Pnn(1), ifaces: Some(IpIfaces::from_info(&info)), held: None }];
        assert_eq!(
            ip_machine(&rows, true, '|'),
            "|Public IP|Node|ActiveInterfaces|AvailableInterfaces|ConfiguredInterfaces|
|172.31.91.82|1||eth2,eth3|eth2,eth3|
"
        );
    }

    #[test]
    fn ip_interface_columns() {
        // Link-down interfaces are configured but not available; an active
        // index past the list shows no active interface.
        let info = PublicIpInfo {
            ip: ip("10.0.0.31"),
            bits: 24,
            owner: Pnn(0),
            active: Some(1),
            ifaces: vec![iface("eth2", false, 0), iface("eth1", true, 3)],
        };
        assert_eq!(
            IpIfaces::from_info(&info),
            IpIfaces {
                active: Some("eth1".into()),
                available: vec!["eth1".into()],
                configured: vec!["eth2".into(), "eth1".into()]
            }
        );
        let out_of_range = PublicIpInfo { active: Some(7), ..info };
        assert_eq!(IpIfaces::from_info(&out_of_range).active, None);
    }

    #[test]
    fn ip_sorting_ipv4_before_ipv6_numeric() {
        let mut known = vec![
            (ip("fd00::10"), Pnn(1)),
            (ip("10.0.0.100"), Pnn(0)),
            (ip("fd00::9"), Pnn(2)),
            (ip("10.0.0.9"), Pnn(1)),
            (ip("9.255.255.255"), Pnn::UNKNOWN),
        ];
        sort_ips(&mut known);
        let order: Vec<String> = known.iter().map(|(a, _)| a.to_string()).collect();
        assert_eq!(order, vec!["9.255.255.255", "10.0.0.9", "10.0.0.100", "fd00::9", "fd00::10"]);
    }

    #[test]
    fn ip_all_owner_is_the_claiming_node() {
        let a = ip("10.0.0.31");
        let b = ip("10.0.0.32");
        let c = ip("10.0.0.33");
        let v6 = ip("fd00::1");
        let per_node = vec![
            // Node 0 thinks node 1 holds a, holds b itself, knows v6 unassigned.
            (Pnn(0), vec![(a, Pnn(1)), (b, Pnn(0)), (v6, Pnn::UNKNOWN)]),
            // Node 1 does not claim a (stale belief elsewhere), thinks c is on 2.
            (Pnn(1), vec![(a, Pnn(2)), (c, Pnn(2))]),
            // Node 2 claims c; b's belief from node 2 does not override node 0's claim.
            (Pnn(2), vec![(b, Pnn(2)), (c, Pnn(2))]),
        ];
        let merged = merge_public_ips(&per_node);
        assert_eq!(merged, vec![(a, Pnn::UNKNOWN), (b, Pnn(2)), (c, Pnn(2)), (v6, Pnn::UNKNOWN)]);
        // A claim made by the node itself wins over earlier unknowns.
        let per_node = vec![(Pnn(0), vec![(b, Pnn(1))]), (Pnn(1), vec![(b, Pnn(1))])];
        assert_eq!(merge_public_ips(&per_node), vec![(b, Pnn(1))]);
        assert_eq!(merge_public_ips(&[]), vec![]);
    }

    #[test]
    fn ip_json_shapes() {
        let rows = vec![
            IpRow { ip: ip("10.0.0.31"), owner: Pnn(0), ifaces: Some(eth2_eth1(Some(0))), held: None },
            IpRow { ip: ip("10.0.0.32"), owner: Pnn::UNKNOWN, ifaces: None, held: None },
        ];
        assert_eq!(
            ip_json(Some(Pnn(1)), &rows, false).to_string(),
            r#"{"pnn":1,"all":false,"ips":[{"address":"10.0.0.31","node":0},{"address":"10.0.0.32","node":-1}]}"#
        );
        assert_eq!(
            ip_json(None, &rows, true).to_string(),
            concat!(
                r#"{"pnn":null,"all":true,"ips":[{"address":"10.0.0.31","node":0,"active":"eth2","#,
                r#""available":["eth2","eth1"],"configured":["eth2","eth1"]},"#,
                r#"{"address":"10.0.0.32","node":-1,"active":null,"available":[],"configured":[]}]}"#
            )
        );
    }

    fn ipinfo_example() -> PublicIpInfo {
        PublicIpInfo {
            ip: ip("10.0.0.32"),
            bits: 24,
            owner: Pnn(1),
            active: Some(0),
            ifaces: vec![iface("eth2", true, 2), iface("eth1", true, 4)],
        }
    }

    #[test]
    fn ipinfo_matches_ctdb_example() {
        assert_eq!(
            ipinfo_human(Pnn(0), &ipinfo_example()),
            "Public IP[10.0.0.32] info on node 0
IP:10.0.0.32
CurrentNode:1
NumInterfaces:2
Interface[1]: Name:eth2 Link:up References:2 (active)
Interface[2]: Name:eth1 Link:up References:4
"
        );
        let unassigned = PublicIpInfo {
            ip: ip("fd00::5357:5f01"),
            bits: 64,
            owner: Pnn::UNKNOWN,
            active: None,
            ifaces: vec![iface("eth2", false, 0)],
        };
        assert_eq!(
            ipinfo_human(Pnn(2), &unassigned),
            "Public IP[fd00::5357:5f01] info on node 2
IP:fd00::5357:5f01
CurrentNode:-1
NumInterfaces:1
Interface[1]: Name:eth2 Link:down References:0
"
        );
        assert_eq!(
            ipinfo_json(Pnn(0), &ipinfo_example()).to_string(),
            concat!(
                r#"{"pnn":0,"address":"10.0.0.32","bits":24,"current_node":1,"interfaces":["#,
                r#"{"name":"eth2","link_up":true,"references":2,"active":true},"#,
                r#"{"name":"eth1","link_up":true,"references":4,"active":false}]}"#
            )
        );
    }

    #[test]
    fn ifaces_match_ctdb_examples() {
        let list = vec![iface("eth2", true, 2), iface("eth1", false, 4)];
        assert_eq!(
            ifaces_human(Pnn(0), &list),
            "Interfaces on node 0
name:eth2 link:up references:2
name:eth1 link:down references:4
"
        );
        assert_eq!(ifaces_machine(Pnn(0), &list[..1], '|'), "|Name|LinkStatus|References|\n|eth2|1|2|\n");
        assert_eq!(ifaces_machine(Pnn(0), &list, '|'), "|Name|LinkStatus|References|\n|eth2|1|2|\n|eth1|0|4|\n");
        assert_eq!(ifaces_human(Pnn(3), &[]), "No interfaces configured on node 3\n");
        assert_eq!(ifaces_machine(Pnn(3), &[], '|'), "No interfaces configured on node 3\n");
        assert_eq!(
            ifaces_json(Pnn(0), &list[1..]).to_string(),
            r#"{"pnn":0,"interfaces":[{"name":"eth1","link_up":false,"references":4}]}"#
        );
    }

    #[test]
    fn signed_pnn() {
        assert_eq!(pnn_signed(Pnn(0)), 0);
        assert_eq!(pnn_signed(Pnn(31)), 31);
        assert_eq!(pnn_signed(Pnn::UNKNOWN), -1);
    }
}

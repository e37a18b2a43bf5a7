//! Running a validated command: connect, resolve `-n`, call the controls,
//! and turn the answers into a [`Reply`] through the `format` functions.
//!
//! Every command yields either a [`Reply`] (output in the selected mode
//! plus an exit status, which may be non-zero, as for `nodestatus`) or a
//! [`Failure`] (a message for stderr and an exit status).

use crate::args::{
    Command, Invocation, Kind, NodeSelection, Options, OutputMode, Target, COMPONENT, ENOENT, EVENT_RUN_SLACK,
};
use crate::format::{self, Stream};
use crate::nodeadmin::{self, NodeAction};
use crate::publicip;
use crate::reload::{self, Verdict};
use crate::scripts::{self, SwitchError};
use rctdb_client::{default_socket_path, Client, ClientError};
use rctdb_config::{validate_dir, ConfigError, Nodes, Paths};
use rctdb_protocol::{Control, Event, EventRun, NodeFlags, NodeMap, Pnn, ReplyData, RunState};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// ETIMEDOUT, the exit status of a control that timed out.
pub(crate) const ETIMEDOUT: i32 = 110;
/// ECANCELED: the daemon cancelled a running event.
const ECANCELED: i32 = 125;
/// EINVAL: the daemon's code for an event that never ran.
const EINVAL: i32 = 22;

/// Output of a command that ran.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Human or `-X` text, in print order; each piece ends with a newline.
    pub text: Vec<(Stream, String)>,
    /// The `--json` object.
    pub json: Value,
    pub status: i32,
}

impl Reply {
    pub(crate) fn new(text: String, json: Value) -> Reply {
        Reply { text: vec![(Stream::Stdout, text)], json, status: 0 }
    }
}

/// A command that failed: message for stderr, exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub status: i32,
}

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), status: 1 }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        let status = match &e {
            ClientError::Timeout { .. } => ETIMEDOUT,
            ClientError::Control { err, .. } if (1..=255).contains(&err.code) => err.code,
            _ => 1,
        };
        Failure { message: e.to_string(), status }
    }
}

/// Write to stdout or stderr, ignoring a closed pipe (`rctdb listvars | head`).
pub(crate) fn write_to(stream: Stream, text: &str) {
    let _ = match stream {
        Stream::Stdout => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes()).and_then(|_| o.flush())
        }
        Stream::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
    };
}

pub(crate) fn line(text: &str) -> String {
    format!("{text}\n")
}

fn print_reply(opts: &Options, r: &Reply) {
    if opts.output == OutputMode::Json {
        write_to(Stream::Stdout, &format::json_text(&r.json));
    } else {
        for (stream, text) in &r.text {
            write_to(*stream, text);
        }
    }
}

fn emit(opts: &Options, result: Result<Reply, Failure>) -> i32 {
    match result {
        Ok(r) => {
            print_reply(opts, &r);
            r.status
        }
        Err(f) => {
            write_to(Stream::Stderr, &line(&f.message));
            f.status
        }
    }
}

/// Run the command; returns the exit status.
pub fn run(inv: &Invocation) -> i32 {
    let opts = &inv.options;
    if inv.command.kind() == Kind::Offline {
        return emit(opts, offline(&inv.command, opts));
    }
    let path = default_socket_path();
    let mut client = match Client::connect(&path) {
        Ok(c) => c,
        Err(e) => {
            write_to(Stream::Stderr, &line(&format!("Failed to connect to rctdbd ({})", path.display())));
            if let (true, ClientError::Connect { source, .. }) = (opts.verbose, &e) {
                write_to(Stream::Stderr, &line(&source.to_string()));
            }
            return 1;
        }
    };
    client.set_timeout(opts.timeout);
    // `ipreallocate` gives up a little before the -T watchdog fires, so
    // its own message is the one printed.
    let deadline = opts.max_runtime.map(|limit| Instant::now() + limit.saturating_sub(WATCHDOG_MARGIN));
    let local = match client.pnn(Pnn::CURRENT) {
        Ok(p) => p,
        Err(e) => return emit(opts, Err(e.into())),
    };
    let mut ctx = Ctx { client, local, opts, deadline, srvid_counter: publicip::random_counter() };
    match opts.target {
        Target::Local => {
            let r = ctx.execute(&inv.command, local);
            emit(opts, r)
        }
        Target::Node(pnn) => {
            let r = ctx.check_target(&inv.command, pnn).and_then(|()| ctx.execute(&inv.command, pnn));
            emit(opts, r)
        }
        Target::All => ctx.run_all(&inv.command),
    }
}

/// Commands that need no daemon.
fn offline(cmd: &Command, opts: &Options) -> Result<Reply, Failure> {
    match cmd {
        Command::Version => {
            let v = env!("CARGO_PKG_VERSION");
            Ok(Reply::new(format!("rctdb version {v}\n"), json!({ "version": v })))
        }
        Command::ListNodes => {
            let paths = Paths::from_env();
            let map = read_nodes(&paths.nodes_file())?.to_node_map();
            let text = match opts.output {
                OutputMode::Machine { sep } => format::listnodes_machine(&map, sep),
                _ => format::listnodes_human(&map),
            };
            Ok(Reply::new(text, format::listnodes_json(&map)))
        }
        Command::ConfigValidate(dir) => {
            let base = dir.clone().unwrap_or_else(|| Paths::from_env().base);
            let report = validate_dir(&base);
            let mut text = Vec::new();
            for e in &report.errors {
                text.push((Stream::Stderr, line(e)));
            }
            for w in &report.warnings {
                text.push((Stream::Stderr, line(&format!("WARNING: {w}"))));
            }
            let valid = report.errors.is_empty();
            if valid && opts.output == OutputMode::Human {
                text.push((Stream::Stdout, line(&format!("Configuration in {} is valid", base.display()))));
            }
            let json = json!({
                "base": base.display().to_string(),
                "valid": valid,
                "errors": report.errors,
                "warnings": report.warnings,
            });
            Ok(Reply { text, json, status: if valid { 0 } else { 1 } })
        }
        Command::ScriptList => {
            let dir = Paths::from_env().events_dir();
            let list = scripts::list(&dir).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => no_event_dir(),
                _ => Failure::new(format!("Failed to read {}: {e}", dir.display())),
            })?;
            let rows: Vec<(String, bool)> = list.into_iter().map(|s| (s.name, s.enabled)).collect();
            let text = match opts.output {
                OutputMode::Machine { sep } => format::script_list_machine(&rows, sep),
                _ => format::script_list_human(&rows),
            };
            Ok(Reply::new(text, format::script_list_json(&rows)))
        }
        Command::ScriptSwitch { name, enable } => {
            let dir = Paths::from_env().events_dir();
            scripts::switch(&dir, name, *enable).map_err(|e| match e {
                SwitchError::NoDir => no_event_dir(),
                SwitchError::NoScript => {
                    Failure { message: format!("Script {name} does not exist in {COMPONENT}"), status: ENOENT }
                }
                SwitchError::Io(e) => Failure {
                    message: format!(
                        "Failed to {} script {name} in {COMPONENT}: {e}",
                        if *enable { "enable" } else { "disable" }
                    ),
                    status: e.raw_os_error().filter(|c| (1..=255).contains(c)).unwrap_or(1),
                },
            })?;
            Ok(Reply::new(String::new(), json!({ "name": name, "enabled": enable })))
        }
        other => Err(Failure::new(format!("Command {} needs the daemon", other.name()))),
    }
}

fn no_event_dir() -> Failure {
    Failure { message: format!("Event dir for {COMPONENT} does not exist"), status: ENOENT }
}

/// A reply whose only text is `message` on standard output, for the
/// results CTDB's event tool prints there (`Event X in legacy failed`...);
/// with `--json`, `{"error": message, "status": status}`.
pub(crate) fn stdout_result(message: String, status: i32) -> Reply {
    Reply { text: vec![(Stream::Stdout, line(&message))], json: json!({ "error": message, "status": status }), status }
}

fn read_nodes(file: &Path) -> Result<Nodes, Failure> {
    Nodes::load(file)
        .map_err(|e: ConfigError| Failure::new(format!("{e}\nFailed to read nodes from \"{}\"", file.display())))
}

/// How long before the `-T` limit waits that can fail cleanly give up.
const WATCHDOG_MARGIN: Duration = Duration::from_millis(250);

pub(crate) struct Ctx<'a> {
    pub(crate) client: Client,
    /// The node the tool is connected to.
    pub(crate) local: Pnn,
    pub(crate) opts: &'a Options,
    /// When waits that re-send requests (`ipreallocate`) give up: shortly
    /// before `-T`; `None` without a limit.
    pub(crate) deadline: Option<Instant>,
    /// Last counter used for a private reply srvid.
    pub(crate) srvid_counter: u16,
}

impl Ctx<'_> {
    /// Destination for a node: the local daemon is addressed directly.
    pub(crate) fn dest(&self, pnn: Pnn) -> Pnn {
        if pnn == self.local {
            Pnn::CURRENT
        } else {
            pnn
        }
    }

    pub(crate) fn machine_sep(&self) -> Option<char> {
        match self.opts.output {
            OutputMode::Machine { sep } => Some(sep),
            _ => None,
        }
    }

    /// `-n PNN` checks, against the local node map.
    fn check_target(&mut self, cmd: &Command, pnn: Pnn) -> Result<(), Failure> {
        if cmd.kind() == Kind::Local && pnn != self.local {
            return Err(Failure::new(format!("Node cannot be specified for command {}", cmd.name())));
        }
        let map = self.client.nodemap(Pnn::CURRENT)?;
        check_node(&map, pnn)
    }

    /// `-n all`: the command on every non-deleted node of the local node
    /// map in PNN order (for `shutdown`, the local node last, so the
    /// connection lasts). A node that fails does not stop the others; the
    /// exit status is the first non-zero one.
    fn run_all(&mut self, cmd: &Command) -> i32 {
        let map = match self.client.nodemap(Pnn::CURRENT) {
            Ok(m) => m,
            Err(e) => return emit(self.opts, Err(e.into())),
        };
        let mut order: Vec<Pnn> = map.present().map(|n| n.pnn).collect();
        if *cmd == Command::Shutdown {
            order.retain(|p| *p != self.local);
            order.push(self.local);
        }
        let mut status = 0;
        let mut json = Map::new();
        let mut printed = false;
        for &pnn in &order {
            let r = check_node(&map, pnn).and_then(|()| self.execute(cmd, pnn));
            let s = match &r {
                Ok(reply) => reply.status,
                Err(f) => f.status,
            };
            if status == 0 {
                status = s;
            }
            match self.opts.output {
                OutputMode::Json => {
                    let v = match r {
                        Ok(reply) => reply.json,
                        Err(f) => json!({ "error": f.message, "status": f.status }),
                    };
                    json.insert(pnn.to_string(), v);
                }
                OutputMode::Human => {
                    // A node whose command printed nothing (`setvar`,
                    // `disable`...) gets no header: silent stays silent.
                    let silent = matches!(&r, Ok(reply) if reply.text.iter().all(|(_, t)| t.is_empty()));
                    if !silent {
                        let gap = if printed { "\n" } else { "" };
                        write_to(Stream::Stdout, &format!("{gap}>> NODE: {pnn} <<\n"));
                        printed = true;
                    }
                    emit(self.opts, r);
                }
                OutputMode::Machine { .. } => {
                    emit(self.opts, r);
                }
            }
        }
        if self.opts.output == OutputMode::Json {
            write_to(Stream::Stdout, &format::json_text(&json!({ "nodes": json })));
        }
        status
    }

    fn execute(&mut self, cmd: &Command, pnn: Pnn) -> Result<Reply, Failure> {
        let dest = self.dest(pnn);
        let sep = self.machine_sep();
        match cmd {
            Command::Status => {
                let data = format::StatusData {
                    map: self.client.nodemap(dest)?,
                    this: pnn,
                    runstate: self.client.runstate(dest)?,
                    vnnmap: self.client.vnnmap(dest)?,
                    recmode: self.client.recmode(dest)?,
                    leader: self.client.leader(dest)?,
                    safety: self.client.safety(dest).unwrap_or_default(),
                };
                let text = match sep {
                    Some(sep) => format::status_machine(&data, sep),
                    None => format::status_human(&data),
                };
                Ok(Reply::new(text, format::status_json(&data)))
            }
            Command::NodeStatus(sel) => self.nodestatus(sel, pnn),
            Command::Pnn => Ok(Reply::new(format!("{pnn}\n"), json!({ "pnn": pnn.0 }))),
            Command::Ping => {
                let start = Instant::now();
                let clients = self.client.ping(dest)?;
                let secs = start.elapsed().as_secs_f64();
                Ok(Reply::new(
                    format::ping_line(pnn, secs, clients),
                    json!({ "pnn": pnn.0, "time": secs, "clients": clients }),
                ))
            }
            Command::Uptime => {
                let u = self.client.uptime(dest)?;
                let text = match sep {
                    Some(sep) => format::uptime_machine(&u, sep),
                    None => format::uptime_human(pnn, &u, rctdb_sys::ctime),
                };
                Ok(Reply::new(text, format::uptime_json(pnn, &u)))
            }
            Command::ListVars => {
                let vars = self.client.tunables(dest)?;
                Ok(Reply::new(format::listvars_human(&vars), format::listvars_json(&vars)))
            }
            Command::GetVar { typed, tunable } => {
                let raw = self.client.tunable(dest, tunable.name())?;
                let value = rctdb_config::format_tunable(*tunable, raw);
                Ok(Reply::new(format::tunable_line(typed, &value), format::getvar_json(*tunable, raw)))
            }
            Command::SetVar { tunable, value } => {
                self.client.set_tunable(dest, tunable.name(), value)?;
                Ok(Reply::new(String::new(), json!({ "name": tunable.name(), "value": value })))
            }
            Command::GetDebug => {
                let level = self.client.debug_level(dest)?;
                Ok(Reply::new(format!("{level}\n"), json!({ "level": level.name() })))
            }
            Command::SetDebug(level) => {
                self.client.set_debug_level(dest, *level)?;
                Ok(Reply::new(String::new(), json!({ "level": level.name() })))
            }
            Command::ReloadNodes => self.reloadnodes(),
            Command::Shutdown => self.shutdown(pnn),
            Command::RunState(wanted) => {
                let rs = self.client.runstate(dest)?;
                if !wanted.is_empty() && !wanted.contains(&rs) {
                    return Err(Failure::new(format!("CTDB not in required run state (got {})", rs.name())));
                }
                let raw = RunState::ALL.iter().position(|r| *r == rs).unwrap_or(0);
                Ok(Reply::new(format!("{}\n", rs.name()), json!({ "runstate": rs.name(), "runstate_raw": raw })))
            }
            Command::GetPid => {
                let pid = self.client.pid(dest)?;
                Ok(Reply::new(format!("{pid}\n"), json!({ "pid": pid })))
            }
            Command::Leader => {
                let leader = self.client.leader(dest)?;
                Ok(Reply::new(format::leader_text(leader), json!({ "leader": leader.0 })))
            }
            Command::GetReclock => {
                let reclock = self.client.reclock(dest)?;
                Ok(Reply::new(format::reclock_text(reclock.as_deref()), format::reclock_json(reclock.as_deref())))
            }
            Command::NodeAdmin(action) => self.node_admin(*action, pnn),
            Command::Ip { all } => self.ip(pnn, *all),
            Command::IpInfo(ip) => self.ipinfo(pnn, *ip),
            Command::Ifaces => self.ifaces(pnn),
            Command::SetIfaceLink { iface, up } => self.setifacelink(pnn, iface, *up),
            Command::IpReallocate => self.ipreallocate_command(),
            Command::GratArp { ip, iface } => self.gratarp(pnn, *ip, iface),
            Command::MoveIp { ip, pnn: to } => self.moveip(*ip, *to),
            Command::AddIp { ip, bits, ifaces } => self.addip(pnn, *ip, *bits, ifaces),
            Command::DelIp(ip) => self.delip(pnn, *ip),
            Command::ReloadIps(sel) => self.reloadips(sel),
            Command::EventRun { timeout, event, args } => self.event_run(dest, *timeout, *event, args),
            Command::EventStatus(event) => self.event_status(dest, *event),
            Command::ScriptStatus(event) => {
                // `scriptstatus` shows what `event status` shows but always
                // exits 0, whatever happened.
                let reply = match self.event_status(dest, *event) {
                    Ok(r) => r,
                    Err(f) => Reply {
                        text: vec![(Stream::Stderr, line(&f.message))],
                        json: json!({ "error": f.message, "status": f.status }),
                        status: 0,
                    },
                };
                Ok(Reply { status: 0, ..reply })
            }
            Command::ListNodes
            | Command::Version
            | Command::ConfigValidate(_)
            | Command::ScriptList
            | Command::ScriptSwitch { .. } => offline(cmd, self.opts),
        }
    }

    /// The run in the selected output form; `human` is the human text.
    fn event_reply(&self, run: &EventRun, human: String, status: i32) -> Reply {
        let text = match self.machine_sep() {
            Some(sep) => format::event_status_machine(run, sep),
            None => human,
        };
        Reply { text: vec![(Stream::Stdout, text)], json: format::event_status_json(run), status }
    }

    /// `event run`: wait for the event, at least its timeout plus slack.
    fn event_run(&mut self, dest: Pnn, timeout: Duration, event: Event, args: &[String]) -> Result<Reply, Failure> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX).max(1);
        let control = Control::RunEvent { event, args: args.to_vec(), timeout_ms: Some(timeout_ms) };
        self.client.set_timeout(self.opts.timeout.max(timeout + EVENT_RUN_SLACK));
        let result = self.client.control(dest, control);
        self.client.set_timeout(self.opts.timeout);
        match result {
            Ok(ReplyData::EventRun(run)) => Ok(match format::event_run_failure(&run) {
                None => self.event_reply(&run, String::new(), 0),
                Some((message, status)) => self.event_reply(&run, line(&message), status),
            }),
            Ok(_) => Err(Failure::new("Control RUN_EVENT got an unexpected reply")),
            Err(ClientError::Control { err, .. }) if err.code == ECANCELED => Ok(stdout_result(err.message, ECANCELED)),
            Err(e) => Err(e.into()),
        }
    }

    /// `event status`: the last run; exit status = its result.
    fn event_status(&mut self, dest: Pnn, event: Event) -> Result<Reply, Failure> {
        match self.client.control(dest, Control::GetEventStatus(event)) {
            Ok(ReplyData::EventRun(run)) => {
                let human = format::event_status_human(&run, rctdb_sys::ctime);
                Ok(self.event_reply(&run, human, format::event_result(&run)))
            }
            Ok(_) => Err(Failure::new("Control GET_EVENT_STATUS got an unexpected reply")),
            // `Event X has never run in legacy`: CTDB prints it on stdout.
            Err(ClientError::Control { err, .. }) if err.code == EINVAL => Ok(stdout_result(err.message, EINVAL)),
            Err(e) => Err(e.into()),
        }
    }

    fn nodestatus(&mut self, sel: &NodeSelection, pnn: Pnn) -> Result<Reply, Failure> {
        let dest = self.dest(pnn);
        let map = self.client.nodemap(dest)?;
        let runstate = self.client.runstate(dest)?;
        let rows = format::node_rows(&map, pnn, runstate);
        let selected: Vec<format::NodeRow> = match sel {
            NodeSelection::This => rows.into_iter().filter(|r| r.this_node).collect(),
            NodeSelection::All => rows,
            NodeSelection::List(list) => {
                if let Some(missing) = list.iter().find(|p| map.get(**p).is_none()) {
                    return Err(Failure::new(format!("Node {missing} does not exist")));
                }
                rows.into_iter().filter(|r| list.contains(&r.pnn)).collect()
            }
        };
        let text = match self.machine_sep() {
            Some(sep) => format::node_table(&selected, sep),
            None => format::nodestatus_human(&map, &selected, *sel == NodeSelection::All),
        };
        let json = json!({ "node_status": format::node_status_json(&map, &selected) });
        Ok(Reply { text: vec![(Stream::Stdout, text)], json, status: format::nodestatus_exit(&selected) })
    }

    /// The flags of `pnn` in the local node's map.
    fn local_flags(&mut self, pnn: Pnn) -> Result<NodeFlags, Failure> {
        let map = self.client.nodemap(Pnn::CURRENT)?;
        map.get(pnn).map(|n| n.flags).ok_or_else(|| Failure::new(format!("Node {pnn} does not exist")))
    }

    /// `disable`, `enable`, `stop`, `continue`, `ban`, `unban` on `pnn`
    /// (CTDB §9.6). Silent on success.
    fn node_admin(&mut self, action: NodeAction, pnn: Pnn) -> Result<Reply, Failure> {
        // 1. Nothing to do if the local node map already shows the state.
        if let Some(message) = action.already(pnn, self.local_flags(pnn)?) {
            return Ok(Reply { text: vec![(Stream::Stderr, line(&message))], json: action.json(pnn, true), status: 0 });
        }
        // 2. The control goes to the target node, which sets or clears its
        // own flag and propagates it.
        let control = action.control();
        let name = control.name();
        let sent = match self.client.control(self.dest(pnn), control) {
            Ok(ReplyData::None) => Ok(()),
            Ok(_) => Err(ClientError::Unexpected { control: name }),
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            let f = Failure::from(e);
            return Err(Failure { message: format!("{}\n{}", f.message, action.failure(pnn)), ..f });
        }
        // 3. Wait until the local node map shows the flag. CTDB polls once a
        // second; rctdbd propagates flags within milliseconds, so we poll
        // every 100 ms (nodeadmin::POLL_INTERVAL). No bound but -T: a ban
        // the daemon ignores (EnableBans=0) waits until the runtime limit,
        // as in CTDB.
        while !action.reached(self.local_flags(pnn)?) {
            std::thread::sleep(nodeadmin::POLL_INTERVAL);
        }
        // 4. Ask the leader to reallocate the public addresses; the command's
        // result is that of the reallocation.
        self.ipreallocate()?;
        Ok(Reply::new(String::new(), action.json(pnn, false)))
    }

    fn shutdown(&mut self, pnn: Pnn) -> Result<Reply, Failure> {
        let local = pnn == self.local;
        match self.client.shutdown(self.dest(pnn)) {
            Ok(()) => {}
            // The local daemon may go before its reply reaches us.
            Err(ClientError::Closed) if local => {}
            Err(e) => {
                let f = Failure::from(e);
                return Err(Failure { message: format!("{}\nUnable to shutdown node {pnn}", f.message), ..f });
            }
        }
        if local {
            // Wait for the daemon to close the socket; -T bounds the wait.
            while self.client.recv_message(Duration::from_millis(500)).is_ok() {}
        }
        Ok(Reply::new(String::new(), json!({ "pnn": pnn.0, "shutdown": true })))
    }

    fn reloadnodes(&mut self) -> Result<Reply, Failure> {
        let file = read_nodes(&Paths::from_env().nodes_file())?;
        let running = self.client.nodemap(Pnn::CURRENT)?;
        let connected: Vec<Pnn> =
            running.present().filter(|n| !n.flags.contains(NodeFlags::DISCONNECTED)).map(|n| n.pnn).collect();
        let mut remote = Vec::new();
        for &p in &connected {
            match self.client.nodes_file(self.dest(p)) {
                Ok(m) => remote.push((p, m)),
                Err(e) => {
                    let f = Failure::from(e);
                    return Err(Failure {
                        message: format!("{}\nERROR: Failed to get nodes file from node {p}", f.message),
                        ..f
                    });
                }
            }
        }
        let check = reload::check(self.local, &file, &running, &remote);
        let mut messages: Vec<String> = check.lines.iter().map(|l| l.text.clone()).collect();
        let mut text: Vec<(Stream, String)> = check.lines.iter().map(|l| (l.stream, line(&l.text))).collect();
        let mut failed = Vec::new();
        let (result, status) = match check.verdict {
            Verdict::Error => ("error", 1),
            Verdict::NoChange => ("no_change", 0),
            Verdict::Reload => {
                // The recovery daemon milestone adds CTDB's step here:
                // disable recoveries on every connected node for
                // 2 x timelimit before the reload, re-enable them after.
                for &p in &connected {
                    if let Err(e) = self.client.reload_nodes(self.dest(p)) {
                        for msg in [e.to_string(), format!("Node {p} failed to reload nodes")] {
                            text.push((Stream::Stderr, line(&msg)));
                            messages.push(msg);
                        }
                        failed.push(p.0);
                    }
                }
                if failed.is_empty() {
                    ("reloaded", 0)
                } else {
                    let msg = "You MUST fix failed nodes manually!".to_string();
                    text.push((Stream::Stderr, line(&msg)));
                    messages.push(msg);
                    ("error", 1)
                }
            }
        };
        let json = json!({ "result": result, "messages": messages, "failed_nodes": failed });
        Ok(Reply { text, json, status })
    }
}

/// A `-n` target must exist, be connected and not be deleted.
pub(crate) fn check_node(map: &NodeMap, pnn: Pnn) -> Result<(), Failure> {
    let Some(node) = map.get(pnn) else {
        return Err(Failure::new(format!("Node {pnn} does not exist")));
    };
    if node.flags.intersects(NodeFlags(NodeFlags::DISCONNECTED.0 | NodeFlags::DELETED.0)) {
        return Err(Failure::new(format!("Node {pnn} has status {}", node.flags)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rctdb_protocol::{ControlError, NodeInfo};

    fn map() -> NodeMap {
        NodeMap {
            nodes: vec![
                NodeInfo { pnn: Pnn(0), addr: "10.0.0.1".parse().unwrap(), flags: NodeFlags(0) },
                NodeInfo { pnn: Pnn(1), addr: "10.0.0.2".parse().unwrap(), flags: NodeFlags(0x03) },
                NodeInfo { pnn: Pnn(2), addr: "0.0.0.0".parse().unwrap(), flags: NodeFlags(0x10) },
                NodeInfo { pnn: Pnn(3), addr: "10.0.0.4".parse().unwrap(), flags: NodeFlags(0x0a) },
            ],
        }
    }

    #[test]
    fn node_target_checks() {
        let m = map();
        assert_eq!(check_node(&m, Pnn(0)), Ok(()));
        assert_eq!(check_node(&m, Pnn(3)), Ok(()));
        assert_eq!(check_node(&m, Pnn(7)), Err(Failure::new("Node 7 does not exist")));
        assert_eq!(check_node(&m, Pnn(1)), Err(Failure::new("Node 1 has status DISCONNECTED|UNHEALTHY|INACTIVE")));
        assert_eq!(check_node(&m, Pnn(2)), Err(Failure::new("Node 2 has status DELETED|INACTIVE")));
    }

    #[test]
    fn client_errors_map_to_exit_status() {
        let f = Failure::from(ClientError::Timeout { control: "PING" });
        assert_eq!(f, Failure { message: "Control PING timed out".into(), status: 110 });
        let f = Failure::from(ClientError::Control { control: "GET_TUNABLE", err: ControlError::new(22, "bad value") });
        assert_eq!(f, Failure { message: "bad value".into(), status: 22 });
        let f = Failure::from(ClientError::Control { control: "X", err: ControlError::new(-1, "failed") });
        assert_eq!(f.status, 1);
        assert_eq!(Failure::from(ClientError::Closed).status, 1);
    }
}

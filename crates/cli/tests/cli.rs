//! The `rctdb` binary against a fake daemon, as CTDB tests its tool: a
//! thread that answers controls on a Unix socket from a scripted cluster
//! state, and records what it was asked. Each test is a few lines.

use rctdb_protocol::{
    encode, srvid, Control, ControlError, ControlReply, DebugLevel, DisableRequest, Event, EventRun, FrameBuffer,
    Generation, IfaceInfo, Message, NodeFlags, NodeInfo, NodeMap, Packet, Pnn, PublicIpInfo, PublicIpList, RecMode,
    ReplyData, RunState, ScriptRun, ScriptStatus, Uptime, VnnMap,
};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the fake cluster looks like and how it behaves.
#[derive(Clone)]
struct Cluster {
    local: u32,
    /// Each node's own view of the node map.
    maps: HashMap<u32, NodeMap>,
    runstate: RunState,
    /// Nodes file per node (`GET_NODES_FILE`).
    nodes_files: HashMap<u32, NodeMap>,
    /// Controls that never get a reply.
    hang: Vec<&'static str>,
    /// Controls executed, `(node, name)`.
    log: Vec<(u32, &'static str)>,
    debug: DebugLevel,
    /// `RUN_EVENT` answers per event (default: a run with no scripts).
    run_replies: HashMap<Event, Result<EventRun, ControlError>>,
    /// `GET_EVENT_STATUS` answers (default: never run).
    status_replies: HashMap<Event, EventRun>,
    /// How long `RUN_EVENT` takes to answer.
    run_delay: Duration,
    /// `RUN_EVENT` requests, `(event, args, timeout_ms)`.
    runs: Vec<(Event, Vec<String>, Option<u64>)>,
    /// `GET_RECLOCK_FILE` answer.
    reclock: Option<String>,
    /// How long after a node-state control (disable, stop, ban...) its
    /// flag change shows in every node map.
    flip_delay: Duration,
    /// Node-state controls succeed but change nothing (as a ban with
    /// EnableBans=0).
    flips_ignored: bool,
    /// Flag changes not yet visible: `(when, node, flag, set)`.
    pending: Vec<(Instant, u32, NodeFlags, bool)>,
    /// `SET_BAN_STATE` requests, `(node, seconds)`.
    bans: Vec<(u32, u32)>,
    /// Controls that fail with this error.
    fail: HashMap<&'static str, ControlError>,
    /// For a control in `fail`: how many more times it fails (then it
    /// succeeds); absent: always.
    fail_left: HashMap<&'static str, usize>,
    /// Each node's public addresses, in the order GET_PUBLIC_IPS lists them.
    ips: HashMap<u32, Vec<FakeIp>>,
    /// Each node's interfaces.
    ifaces: HashMap<u32, Vec<IfaceInfo>>,
    /// What the leader answers to a TAKEOVER_RUN request; `None`: no leader.
    leader_answer: Option<i32>,
    /// TAKEOVER_RUN requests left unanswered before the leader answers.
    takeover_ignore: usize,
    /// TAKEOVER_RUN messages received, `(dest, payload)`.
    takeover_requests: Vec<(Pnn, Vec<u8>)>,
    /// SEND_GRATUITOUS_ARP requests, `(node, ip, iface)`.
    garps: Vec<(u32, IpAddr, String)>,
    /// IP controls with their arguments, `(node, control)`.
    ip_log: Vec<(u32, Control)>,
    /// DISABLE_TAKEOVER_RUNS messages received, `(node, timeout)`.
    disables: Vec<(u32, u32)>,
    /// What a node answers to DISABLE_TAKEOVER_RUNS with a non-zero
    /// timeout instead of its PNN (-11: a takeover run is in progress),
    /// and how many more times (then it answers its PNN).
    disable_refusal: HashMap<u32, (i32, usize)>,
}

/// One public address as a fake node knows it.
#[derive(Clone, Debug)]
struct FakeIp {
    ip: IpAddr,
    bits: u8,
    owner: Pnn,
    ifaces: Vec<String>,
    active: Option<u32>,
}

fn node_map(spec: &[(&str, u32)]) -> NodeMap {
    NodeMap {
        nodes: spec
            .iter()
            .enumerate()
            .map(|(i, &(a, f))| NodeInfo { pnn: Pnn(i as u32), addr: a.parse().unwrap(), flags: NodeFlags(f) })
            .collect(),
    }
}

/// Three nodes; node 2 is down. Every node sees the same map.
fn three_nodes() -> Cluster {
    let m = node_map(&[("192.168.20.41", 0), ("192.168.20.42", 0x02), ("192.168.20.43", 0x03)]);
    let file = node_map(&[("192.168.20.41", 0), ("192.168.20.42", 0), ("192.168.20.43", 0)]);
    Cluster {
        local: 0,
        maps: (0..3).map(|p| (p, m.clone())).collect(),
        runstate: RunState::Running,
        nodes_files: (0..3).map(|p| (p, file.clone())).collect(),
        hang: Vec::new(),
        log: Vec::new(),
        debug: DebugLevel::Notice,
        run_replies: HashMap::new(),
        status_replies: HashMap::new(),
        run_delay: Duration::ZERO,
        runs: Vec::new(),
        reclock: None,
        flip_delay: Duration::ZERO,
        flips_ignored: false,
        pending: Vec::new(),
        bans: Vec::new(),
        fail: HashMap::new(),
        fail_left: HashMap::new(),
        ips: HashMap::new(),
        ifaces: HashMap::new(),
        leader_answer: Some(0),
        takeover_ignore: 0,
        takeover_requests: Vec::new(),
        garps: Vec::new(),
        ip_log: Vec::new(),
        disables: Vec::new(),
        disable_refusal: HashMap::new(),
    }
}

impl Cluster {
    /// Set `flags` on `node` in every node's map, or clear them.
    fn set_flags(&mut self, node: u32, flags: u32, set: bool) {
        for map in self.maps.values_mut() {
            if let Some(n) = map.nodes.iter_mut().find(|n| n.pnn == Pnn(node)) {
                if set {
                    n.flags.insert(NodeFlags(flags));
                } else {
                    n.flags.remove(NodeFlags(flags));
                }
            }
        }
    }

    /// Make the flag changes that are due visible, as propagation would.
    fn apply_due(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|p| p.0 <= now);
        self.pending = later;
        for (_, node, flag, set) in due {
            self.set_flags(node, flag.0, set);
        }
    }

    /// A node-state control on `node`: its flag changes after `flip_delay`.
    fn flip(&mut self, node: u32, flag: NodeFlags, set: bool) -> ReplyData {
        if !self.flips_ignored {
            self.pending.push((Instant::now() + self.flip_delay, node, flag, set));
        }
        ReplyData::None
    }

    /// The reply to `control` on `node`; `None` to stay silent.
    fn answer(&mut self, node: u32, control: &Control) -> Option<Result<ReplyData, ControlError>> {
        self.apply_due();
        self.log.push((node, control.name()));
        if self.hang.contains(&control.name()) {
            return None;
        }
        if let Some(e) = self.fail.get(control.name()) {
            match self.fail_left.get_mut(control.name()) {
                Some(0) => {}
                Some(n) => {
                    *n -= 1;
                    return Some(Err(e.clone()));
                }
                None => return Some(Err(e.clone())),
            }
        }
        let local_map = &self.maps[&self.local];
        match local_map.get(Pnn(node)) {
            None => return Some(Err(ControlError::new(2, format!("Node {node} does not exist")))),
            Some(n) if n.flags.contains(NodeFlags::DISCONNECTED) => {
                return Some(Err(ControlError::new(107, format!("Node {node} is disconnected"))))
            }
            _ => {}
        }
        Some(Ok(match control {
            Control::Ping => ReplyData::Ping { num_clients: 3 },
            Control::GetPnn => ReplyData::Pnn(Pnn(node)),
            Control::GetNodeMap => ReplyData::NodeMap(self.maps[&node].clone()),
            Control::GetVnnMap => {
                ReplyData::VnnMap(VnnMap { generation: Generation(654321), map: vec![Pnn(0), Pnn(1)] })
            }
            Control::GetRecMode => ReplyData::RecMode(RecMode::Normal),
            Control::GetRunState => ReplyData::RunState(self.runstate),
            Control::GetLeader => ReplyData::Pnn(Pnn(0)),
            Control::GetPid => ReplyData::Pid(4242 + node),
            Control::GetDebug => ReplyData::DebugLevel(self.debug),
            Control::SetDebug(l) => {
                self.debug = *l;
                ReplyData::None
            }
            Control::GetUptime => ReplyData::Uptime(Uptime {
                current_time_us: 1_256_812_734_000_000,
                start_time_us: 1_256_751_866_000_000,
                last_recovery_started_us: 1_256_751_920_751_448,
                last_recovery_finished_us: 1_256_751_923_000_000,
            }),
            Control::ListTunables => {
                ReplyData::Tunables(vec![("ControlTimeout".into(), 60_000), ("EnableBans".into(), 1)])
            }
            Control::GetTunable(name) if name == "EnableBans" => ReplyData::Tunable(1),
            Control::GetTunable(name) => return Some(Err(ControlError::new(22, format!("No such tunable {name}")))),
            Control::SetTunable { .. } | Control::ReloadNodesFile | Control::Shutdown => ReplyData::None,
            Control::GetNodesFile => ReplyData::NodeMap(self.nodes_files[&node].clone()),
            Control::RunEvent { event, args, timeout_ms } => {
                self.runs.push((*event, args.clone(), *timeout_ms));
                match self.run_replies.get(event) {
                    Some(Ok(run)) => ReplyData::EventRun(run.clone()),
                    Some(Err(e)) => return Some(Err(e.clone())),
                    None => ReplyData::EventRun(event_run(*event, vec![])),
                }
            }
            Control::GetEventStatus(event) => match self.status_replies.get(event) {
                Some(run) => ReplyData::EventRun(run.clone()),
                None => return Some(Err(ControlError::new(22, format!("Event {event} has never run in legacy")))),
            },
            Control::GetReclock => ReplyData::Reclock(self.reclock.clone()),
            Control::DisableNode => self.flip(node, NodeFlags::PERMANENTLY_DISABLED, true),
            Control::EnableNode => self.flip(node, NodeFlags::PERMANENTLY_DISABLED, false),
            Control::StopNode => self.flip(node, NodeFlags::STOPPED, true),
            Control::ContinueNode => self.flip(node, NodeFlags::STOPPED, false),
            Control::SetBanState { seconds } => {
                self.bans.push((node, *seconds));
                self.flip(node, NodeFlags::BANNED, *seconds > 0)
            }
            Control::RegisterSrvid(_) | Control::DeregisterSrvid(_) => ReplyData::None,
            c @ (Control::GetPublicIps
            | Control::GetPublicIpInfo(_)
            | Control::GetIfaces
            | Control::SetIfaceLink { .. }
            | Control::TakeoverIp { .. }
            | Control::ReleaseIp { .. }
            | Control::AddPublicIp { .. }
            | Control::DelPublicIp(_)
            | Control::SendGratArp { .. }
            | Control::ReloadPublicIps
            | Control::IpReallocated) => return Some(self.ip_answer(node, c)),
            _ => return Some(Err(ControlError::new(95, "not supported"))),
        }))
    }
}

impl Cluster {
    /// The public IP controls, from the scripted IP table, with the
    /// daemon's error codes and messages.
    fn ip_answer(&mut self, node: u32, control: &Control) -> Result<ReplyData, ControlError> {
        if !matches!(control, Control::GetPublicIps | Control::GetPublicIpInfo(_) | Control::GetIfaces) {
            self.ip_log.push((node, control.clone()));
        }
        let ifaces = self.ifaces.entry(node).or_default();
        let ips = self.ips.entry(node).or_default();
        Ok(match control {
            Control::GetPublicIps => {
                let up = |n: &String| ifaces.iter().any(|i| &i.name == n && i.link_up);
                ReplyData::PublicIps(PublicIpList {
                    known: ips.iter().map(|v| (v.ip, v.owner)).collect(),
                    available: ips.iter().filter(|v| v.ifaces.iter().any(up)).map(|v| v.ip).collect(),
                })
            }
            Control::GetPublicIpInfo(ip) => {
                let Some(v) = ips.iter().find(|v| v.ip == *ip) else {
                    return Err(ControlError::new(2, format!("Node {node} does not know about IP {ip}")));
                };
                let list = v
                    .ifaces
                    .iter()
                    .map(|n| {
                        ifaces.iter().find(|i| &i.name == n).cloned().unwrap_or(IfaceInfo {
                            name: n.clone(),
                            link_up: false,
                            references: 0,
                        })
                    })
                    .collect();
                ReplyData::PublicIpInfo(PublicIpInfo {
                    ip: v.ip,
                    bits: v.bits,
                    owner: v.owner,
                    active: v.active,
                    ifaces: list,
                })
            }
            Control::GetIfaces => ReplyData::Ifaces(ifaces.clone()),
            Control::SetIfaceLink { name, up } => match ifaces.iter_mut().find(|i| &i.name == name) {
                Some(i) => {
                    i.link_up = *up;
                    ReplyData::None
                }
                None => return Err(ControlError::new(2, format!("Interface {name} not configured on node {node}"))),
            },
            Control::TakeoverIp { ip, owner } => {
                if *owner != Pnn(node) {
                    return Err(ControlError::new(22, format!("TAKEOVER_IP for node {owner} sent to node {node}")));
                }
                if let Some(v) = ips.iter_mut().find(|v| v.ip == *ip) {
                    v.owner = *owner;
                    v.active = Some(0);
                }
                ReplyData::None
            }
            Control::ReleaseIp { ip, new_owner } => {
                if let Some(v) = ips.iter_mut().find(|v| v.ip == *ip) {
                    v.owner = *new_owner;
                    v.active = None;
                }
                ReplyData::None
            }
            Control::AddPublicIp { ip, bits, ifaces: names } => {
                if let Some(bad) = names.iter().find(|n| n.starts_with("nope")) {
                    return Err(ControlError::new(2, format!("Interface {bad} does not exist on node {node}")));
                }
                if ips.iter().any(|v| v.ip == *ip) {
                    return Err(ControlError::new(22, format!("Node already knows about IP {ip}")));
                }
                for n in names {
                    if !ifaces.iter().any(|i| &i.name == n) {
                        ifaces.push(IfaceInfo { name: n.clone(), link_up: true, references: 0 });
                    }
                }
                ips.push(FakeIp { ip: *ip, bits: *bits, owner: Pnn::UNKNOWN, ifaces: names.clone(), active: None });
                ReplyData::None
            }
            Control::DelPublicIp(ip) => {
                let before = ips.len();
                ips.retain(|v| v.ip != *ip);
                if ips.len() == before {
                    return Err(ControlError::new(2, format!("Node does not know about IP address {ip}")));
                }
                ReplyData::None
            }
            Control::SendGratArp { ip, iface } => {
                if !ifaces.iter().any(|i| &i.name == iface) {
                    return Err(ControlError::new(2, format!("Interface {iface} does not exist on node {node}")));
                }
                self.garps.push((node, *ip, iface.clone()));
                ReplyData::None
            }
            _ => ReplyData::None,
        })
    }

    /// A DISABLE_TAKEOVER_RUNS message: the recovery daemon's answer for
    /// `(pnn, srvid)`, if one is wanted.
    fn disable_takeover_runs(&mut self, m: &Message) -> Option<(u32, u64, i32)> {
        let req = DisableRequest::decode(&m.data)?;
        let node = if m.dest == Pnn::CURRENT { self.local } else { m.dest.0 };
        self.disables.push((node, req.timeout_secs));
        let mut answer = node as i32;
        if req.timeout_secs != 0 {
            if let Some((code, left)) = self.disable_refusal.get_mut(&node).filter(|(_, left)| *left > 0) {
                *left -= 1;
                answer = *code;
            }
        }
        (req.srvid != 0).then_some((req.pnn.0, req.srvid, answer))
    }

    /// A TAKEOVER_RUN request: the leader's answer for `(pnn, srvid)`,
    /// if it answers this one.
    fn takeover_run(&mut self, m: &Message) -> Option<(u32, u64, i32)> {
        self.takeover_requests.push((m.dest, m.data.clone()));
        if m.data.len() != 12 {
            return None;
        }
        if self.takeover_ignore > 0 {
            self.takeover_ignore -= 1;
            return None;
        }
        let pnn = u32::from_le_bytes(m.data[0..4].try_into().unwrap());
        let reply = u64::from_le_bytes(m.data[4..12].try_into().unwrap());
        self.leader_answer.map(|a| (pnn, reply, a))
    }
}

/// A fake rctdbd on a Unix socket in its own directory (also usable as
/// `RCTDB_BASE`).
struct Fake {
    dir: PathBuf,
    cluster: Arc<Mutex<Cluster>>,
}

impl Fake {
    fn start(cluster: Cluster) -> Fake {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rctdb-cli-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = UnixListener::bind(dir.join("rctdbd.socket")).unwrap();
        let cluster = Arc::new(Mutex::new(cluster));
        let shared = Arc::clone(&cluster);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let c = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, c));
            }
        });
        Fake { dir, cluster }
    }

    fn rctdb(&self, args: &[&str]) -> Out {
        let out = Command::new(env!("CARGO_BIN_EXE_rctdb"))
            .args(args)
            .env("RCTDB_SOCKET", self.dir.join("rctdbd.socket"))
            .env("RCTDB_BASE", &self.dir)
            .env("TZ", "UTC")
            .output()
            .unwrap();
        Out::from(out)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    fn log(&self) -> Vec<(u32, &'static str)> {
        self.cluster.lock().unwrap().log.clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn serve(mut stream: UnixStream, cluster: Arc<Mutex<Cluster>>) {
    let mut frames = FrameBuffer::new();
    let mut buf = [0u8; 4096];
    // Srvids registered on this connection.
    let mut registered: HashSet<u64> = HashSet::new();
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        frames.extend(&buf[..n]);
        while let Ok(Some(packet)) = frames.next_packet() {
            let req = match packet {
                Packet::Control(req) => req,
                Packet::Message(m) if m.srvid == srvid::TAKEOVER_RUN || m.srvid == srvid::DISABLE_TAKEOVER_RUNS => {
                    let answer = if m.srvid == srvid::TAKEOVER_RUN {
                        cluster.lock().unwrap().takeover_run(&m)
                    } else {
                        cluster.lock().unwrap().disable_takeover_runs(&m)
                    };
                    // The leader answers to (pnn, srvid); the fake has one
                    // connection per client, so deliver it here if the
                    // srvid is registered on it.
                    if let Some((pnn, reply, value)) = answer {
                        if reply != 0 && registered.contains(&reply) {
                            let leader = Pnn(value.max(0) as u32);
                            let msg = Message {
                                srvid: reply,
                                src: leader,
                                dest: Pnn(pnn),
                                data: value.to_le_bytes().to_vec(),
                            };
                            let _ = stream.write_all(&encode(&Packet::Message(msg)));
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            match req.control {
                Control::RegisterSrvid(s) => {
                    registered.insert(s);
                }
                Control::DeregisterSrvid(s) => {
                    registered.remove(&s);
                }
                _ => {}
            }
            let mut c = cluster.lock().unwrap();
            let node = if req.dest == Pnn::CURRENT { c.local } else { req.dest.0 };
            let Some(result) = c.answer(node, &req.control) else {
                continue;
            };
            let shutdown_local = req.control == Control::Shutdown && node == c.local;
            let delay = match req.control {
                Control::RunEvent { .. } => c.run_delay,
                _ => Duration::ZERO,
            };
            drop(c);
            std::thread::sleep(delay);
            let reply = Packet::Reply(ControlReply { reqid: req.reqid, src: Pnn(node), result });
            let _ = stream.write_all(&encode(&reply));
            if shutdown_local {
                // Like rctdbd: reply, linger a moment, then go away.
                std::thread::sleep(Duration::from_millis(200));
                return;
            }
        }
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

#[test]
fn status_human() {
    let f = Fake::start(three_nodes());
    let o = f.rctdb(&["status"]);
    assert_eq!(o.stderr, "");
    assert_eq!(
        o.stdout,
        "Number of nodes:3
pnn:0 192.168.20.41    OK (THIS NODE)
pnn:1 192.168.20.42    UNHEALTHY
pnn:2 192.168.20.43    DISCONNECTED|UNHEALTHY|INACTIVE
Generation:654321
Size:2
hash:0 lmaster:0
hash:1 lmaster:1
Recovery mode:NORMAL (0)
Leader:0
"
    );
    assert_eq!(o.code, 0);
}

#[test]
fn status_of_another_node_uses_its_map() {
    let mut c = three_nodes();
    c.maps.insert(1, node_map(&[("192.168.20.41", 0x04), ("192.168.20.42", 0x02), ("192.168.20.43", 0x03)]));
    let f = Fake::start(c);
    let o = f.rctdb(&["-X", "status", "-n", "1"]);
    assert_eq!(
        o.stdout,
        "|Node|IP|Disconnected|Unknown|Banned|Disabled|Unhealthy|Stopped|Inactive|PartiallyOnline|ThisNode|
|0|192.168.20.41|0|0|0|1|0|0|0|0|N|
|1|192.168.20.42|0|0|0|0|1|0|0|0|Y|
|2|192.168.20.43|1|0|0|0|1|0|1|0|N|
"
    );
    assert!(f.log().contains(&(1, "GET_NODEMAP")));
}

#[test]
fn status_json_is_an_object() {
    let f = Fake::start(three_nodes());
    let o = f.rctdb(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["node_status"]["nodes"]["2"]["flags"]["disconnected"], serde_json::json!(true));
    assert_eq!(v["vnn_status"]["generation"], serde_json::json!(654321));
    assert!(o.stdout.starts_with("{\n  \"node_status\": {\n    \"node_count\": 3,"));
}

#[test]
fn unknown_state_while_first_recovery() {
    let mut c = three_nodes();
    c.runstate = RunState::FirstRecovery;
    let f = Fake::start(c);
    let o = f.rctdb(&["nodestatus", "all"]);
    assert_eq!(
        o.stdout,
        "Number of nodes:3
pnn:0 192.168.20.41    OK (THIS NODE)
pnn:1 192.168.20.42    UNKNOWN
pnn:2 192.168.20.43    DISCONNECTED|UNHEALTHY|INACTIVE
"
    );
    assert_eq!(o.code, 0x43);
}

#[test]
fn nodestatus_exit_codes() {
    let f = Fake::start(three_nodes());
    assert_eq!(f.rctdb(&["nodestatus"]).code, 0);
    let o = f.rctdb(&["nodestatus", "1,2"]);
    assert_eq!(o.stdout, "pnn:1 192.168.20.42    UNHEALTHY\npnn:2 192.168.20.43    DISCONNECTED|UNHEALTHY|INACTIVE\n");
    assert_eq!(o.code, 3);
    let o = f.rctdb(&["nodestatus", "7"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Node 7 does not exist\n"));
}

#[test]
fn node_option_is_checked_against_the_local_map() {
    let f = Fake::start(three_nodes());
    let o = f.rctdb(&["-n", "5", "ping"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (1, "", "Node 5 does not exist\n"));
    let o = f.rctdb(&["-n", "2", "ping"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Node 2 has status DISCONNECTED|UNHEALTHY|INACTIVE\n"));
    let o = f.rctdb(&["-n", "1", "pnn"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Node cannot be specified for command pnn\n"));
    assert_eq!(f.rctdb(&["-n", "0", "pnn"]).stdout, "0\n");
}

#[test]
fn ping_and_simple_queries() {
    let f = Fake::start(three_nodes());
    let o = f.rctdb(&["ping", "-n", "1"]);
    assert!(o.stdout.starts_with("response from 1 time=0."), "{}", o.stdout);
    assert!(o.stdout.ends_with(" sec  (3 clients)\n"), "{}", o.stdout);
    assert_eq!(f.rctdb(&["getpid", "-n", "1"]).stdout, "4243\n");
    assert_eq!(f.rctdb(&["leader"]).stdout, "0\n");
    assert_eq!(f.rctdb(&["recmaster"]).stdout, "0\n");
    assert_eq!(f.rctdb(&["runstate"]).stdout, "RUNNING\n");
    assert_eq!(f.rctdb(&["runstate", "startup", "running"]).code, 0);
    let o = f.rctdb(&["runstate", "startup"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "CTDB not in required run state (got RUNNING)\n"));
    assert_eq!(f.rctdb(&["version"]).stdout, format!("rctdb version {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn all_nodes_in_turn() {
    let f = Fake::start(three_nodes());
    let o = f.rctdb(&["-n", "all", "getpid"]);
    assert_eq!(o.stdout, ">> NODE: 0 <<\n4242\n\n>> NODE: 1 <<\n4243\n\n>> NODE: 2 <<\n");
    assert_eq!(o.stderr, "Node 2 has status DISCONNECTED|UNHEALTHY|INACTIVE\n");
    assert_eq!(o.code, 1);
    let o = f.rctdb(&["-n", "all", "getpid", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["nodes"]["1"]["pid"], serde_json::json!(4243));
    assert_eq!(v["nodes"]["2"]["status"], serde_json::json!(1));
}

#[test]
fn uptime_in_utc() {
    let f = Fake::start(three_nodes());
    assert_eq!(
        f.rctdb(&["uptime"]).stdout,
        "Current time of node 0        :                Thu Oct 29 10:38:54 2009
Ctdbd start time              : (000 16:54:28) Wed Oct 28 17:44:26 2009
Time of last recovery/failover: (000 16:53:31) Wed Oct 28 17:45:23 2009
Duration of last recovery/failover: 2.248552 seconds
"
    );
}

#[test]
fn tunables_and_debug() {
    let f = Fake::start(three_nodes());
    assert_eq!(f.rctdb(&["getvar", "enablebans"]).stdout, "enablebans                 = 1\n");
    let o = f.rctdb(&["getvar", "NoSuchTunable"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (1, "No such tunable NoSuchTunable\n", ""));
    let o = f.rctdb(&["listvars"]);
    assert_eq!(o.stdout, "ControlTimeout             = 60\nEnableBans                 = 1\n");
    let o = f.rctdb(&["setvar", "EnableBans", "0"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, ""));
    assert_eq!(f.rctdb(&["setdebug", "2"]).code, 0);
    assert_eq!(f.rctdb(&["getdebug"]).stdout, "WARNING\n");
    let o = f.rctdb(&["setdebug", "foobar"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Invalid debug level 'foobar'. Valid levels are:\n\tERROR | WARNING | NOTICE | INFO | DEBUG\n")
    );
}

#[test]
fn control_error_exit_status() {
    let mut c = three_nodes();
    c.hang.push("GET_PID");
    let f = Fake::start(c);
    let o = f.rctdb(&["-t", "0.2", "getpid"]);
    assert_eq!((o.code, o.stderr.as_str()), (110, "Control GET_PID timed out\n"));
}

#[test]
fn maximum_runtime() {
    let mut c = three_nodes();
    c.hang.push("GET_PID");
    let f = Fake::start(c);
    let start = Instant::now();
    let o = f.rctdb(&["-T", "0.3", "getpid"]);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!((o.code, o.stderr.as_str()), (1, "Maximum runtime exceeded - exiting\n"));
}

#[test]
fn shutdown_waits_for_the_local_daemon() {
    let f = Fake::start(three_nodes());
    let start = Instant::now();
    let o = f.rctdb(&["shutdown"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert!(f.log().contains(&(0, "SHUTDOWN")));
}

#[test]
fn connection_failure() {
    let f = Fake::start(three_nodes());
    let o = Out::from(
        Command::new(env!("CARGO_BIN_EXE_rctdb"))
            .arg("status")
            .env("RCTDB_SOCKET", f.dir.join("nonexistent.socket"))
            .output()
            .unwrap(),
    );
    assert_eq!(o.code, 1);
    assert_eq!(o.stderr, format!("Failed to connect to rctdbd ({})\n", f.dir.join("nonexistent.socket").display()));
}

#[test]
fn unknown_command_and_bad_arguments() {
    let f = Fake::start(three_nodes());
    let o = f.rctdb(&["frobnicate"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Unknown command 'frobnicate'\n"));
    assert_eq!(f.rctdb(&["getvar"]).code, 1);
    assert_eq!(f.rctdb(&["status", "extra"]).code, 1);
    assert_eq!(f.rctdb(&["--help"]).code, 0);
    assert_eq!(f.rctdb(&["-n", "1", "listnodes"]).stderr, "Cannot specify node for command listnodes\n");
}

#[test]
fn listnodes_reads_the_file() {
    let f = Fake::start(three_nodes());
    f.write("nodes", "192.168.20.41\n#192.168.20.42\n\n192.168.20.43\n");
    assert_eq!(f.rctdb(&["listnodes"]).stdout, "192.168.20.41\n192.168.20.43\n");
    assert_eq!(f.rctdb(&["listnodes", "-X"]).stdout, "|0|192.168.20.41|\n|2|192.168.20.43|\n");
    f.write("nodes", "192.168.20.41\nbogus\n");
    let o = f.rctdb(&["listnodes"]);
    let file = f.dir.join("nodes");
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        format!("{}:2: Invalid node address bogus\nFailed to read nodes from \"{}\"\n", file.display(), file.display())
    );
}

#[test]
fn reloadnodes_no_change() {
    let f = Fake::start(three_nodes());
    f.write("nodes", "192.168.20.41\n192.168.20.42\n192.168.20.43\n");
    let o = f.rctdb(&["reloadnodes"]);
    assert_eq!(o.stdout, "");
    assert_eq!(
        o.stderr,
        "WARNING: Node 2 is disconnected. You MUST fix this node manually!\n\
         No change in nodes file, skipping unnecessary reload\n"
    );
    assert_eq!(o.code, 0);
    assert!(!f.log().iter().any(|(_, c)| *c == "RELOAD_NODES_FILE"));
}

#[test]
fn reloadnodes_new_node_reloads_connected_nodes() {
    let mut c = three_nodes();
    let file = node_map(&[("192.168.20.41", 0), ("192.168.20.42", 0), ("192.168.20.43", 0), ("192.168.20.44", 0)]);
    c.nodes_files = (0..3).map(|p| (p, file.clone())).collect();
    let f = Fake::start(c);
    f.write("nodes", "192.168.20.41\n192.168.20.42\n192.168.20.43\n192.168.20.44\n");
    let o = f.rctdb(&["reloadnodes"]);
    assert_eq!(o.stdout, "Node 3 is NEW\n");
    assert_eq!(o.code, 0);
    let reloads: Vec<u32> = f.log().iter().filter(|(_, c)| *c == "RELOAD_NODES_FILE").map(|(n, _)| *n).collect();
    assert_eq!(reloads, vec![0, 1]);
}

#[test]
fn reloadnodes_refuses_differing_files() {
    let f = Fake::start(three_nodes());
    f.write("nodes", "192.168.20.41\n192.168.20.42\n192.168.20.43\n192.168.20.44\n");
    let o = f.rctdb(&["reloadnodes"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "ERROR: Nodes file on node 0 differs from current node (0)\n"));
}

#[test]
fn config_validate_reports_errors() {
    let f = Fake::start(three_nodes());
    f.write("nodes", "192.168.20.41\n");
    let o = f.rctdb(&["config", "validate"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, format!("Configuration in {} is valid\n", f.dir.display()));
    f.write("nodes", "bogus\n");
    let o = f.rctdb(&["config", "validate", f.dir.to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains(":1: Invalid node address bogus"), "{}", o.stderr);
    let o = f.rctdb(&["config", "validate", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["valid"], serde_json::json!(false));
}

/// 2026-08-07 16:29:25 UTC, in microseconds.
const T0: u64 = 1_786_120_165_000_000;

fn script(name: &str, status: ScriptStatus, offset_ms: u64, output: &str) -> ScriptRun {
    ScriptRun {
        name: name.to_string(),
        status,
        start_us: T0 + offset_ms * 1000,
        end_us: T0 + offset_ms * 1000 + 10_000,
        output: output.to_string(),
    }
}

fn event_run(event: Event, scripts: Vec<ScriptRun>) -> EventRun {
    EventRun { event, args: Vec::new(), start_us: T0, end_us: scripts.last().map(|s| s.end_us).unwrap_or(T0), scripts }
}

fn monitor_run(last: ScriptStatus, output: &str) -> EventRun {
    event_run(
        Event::Monitor,
        vec![
            script("00.ctdb", ScriptStatus::Ok, 0, ""),
            script("01.off", ScriptStatus::Disabled, 10, ""),
            script("10.interface", last, 10, output),
        ],
    )
}

#[test]
fn event_run_success_waits_past_the_control_timeout() {
    let mut c = three_nodes();
    c.run_replies.insert(Event::Monitor, Ok(monitor_run(ScriptStatus::Ok, "")));
    c.run_delay = Duration::from_millis(600);
    let f = Fake::start(c);
    // -t 0.2 alone would time the control out; event run waits TIMEOUT + 5 s.
    let o = f.rctdb(&["-t", "0.2", "event", "run", "1.5", "legacy", "monitor"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    let runs = f.cluster.lock().unwrap().runs.clone();
    assert_eq!(runs, vec![(Event::Monitor, vec![], Some(1500))]);
}

#[test]
fn event_run_passes_arguments_and_prints_json() {
    let mut c = three_nodes();
    let mut run = event_run(Event::TakeIp, vec![script("10.interface", ScriptStatus::Ok, 0, "added\n")]);
    run.args = vec!["eth0".into(), "10.0.0.1".into(), "24".into()];
    c.run_replies.insert(Event::TakeIp, Ok(run));
    let f = Fake::start(c);
    let o = f.rctdb(&["event", "run", "10", "legacy", "takeip", "eth0", "10.0.0.1", "24", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["event"], serde_json::json!("takeip"));
    assert_eq!(v["args"], serde_json::json!(["eth0", "10.0.0.1", "24"]));
    assert_eq!(v["result"], serde_json::json!(0));
    assert_eq!(v["scripts"][0]["output"], serde_json::json!("added\n"));
    let runs = f.cluster.lock().unwrap().runs.clone();
    assert_eq!(runs[0].1, vec!["eth0", "10.0.0.1", "24"]);
    assert_eq!(runs[0].2, Some(10_000));
}

#[test]
fn event_run_failed_exits_8() {
    let mut c = three_nodes();
    c.run_replies.insert(Event::Monitor, Ok(monitor_run(ScriptStatus::Error { code: 1 }, "broken\n")));
    let f = Fake::start(c);
    let o = f.rctdb(&["event", "run", "5", "legacy", "monitor"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (8, "Event monitor in legacy failed\n", ""));
    let o = f.rctdb(&["event", "run", "5", "legacy", "monitor", "-X"]);
    assert_eq!(o.code, 8);
    assert_eq!(
        o.stdout,
        "|Type|Name|Code|Status|Start|End|Error Output...|
|monitor|00.ctdb|0|OK|1786120165.000000|1786120165.010000||
|monitor|01.off|-8|DISABLED|1786120165.010000|1786120165.020000||
|monitor|10.interface|1|ERROR|1786120165.010000|1786120165.020000|broken|
"
    );
}

#[test]
fn event_run_timed_out_exits_110() {
    let mut c = three_nodes();
    c.run_replies.insert(Event::Monitor, Ok(monitor_run(ScriptStatus::TimedOut, "")));
    let f = Fake::start(c);
    let o = f.rctdb(&["event", "run", "0.5", "legacy", "monitor"]);
    assert_eq!((o.code, o.stdout.as_str()), (110, "Event monitor in legacy timed out\n"));
}

#[test]
fn event_run_refused_or_cancelled_by_the_daemon() {
    let mut c = three_nodes();
    c.run_replies
        .insert(Event::Monitor, Err(ControlError::new(16, "Refusing to run event 'monitor' while in recovery")));
    c.run_replies.insert(Event::Startup, Err(ControlError::new(125, "Event startup in legacy got cancelled")));
    c.run_replies
        .insert(Event::TakeIp, Err(ControlError::new(22, "Event takeip takes 3 arguments (IFACE IP MASKBITS), got 0")));
    let f = Fake::start(c);
    let o = f.rctdb(&["event", "run", "5", "legacy", "monitor"]);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (16, "", "Refusing to run event 'monitor' while in recovery\n")
    );
    let o = f.rctdb(&["event", "run", "5", "legacy", "startup"]);
    assert_eq!((o.code, o.stdout.as_str()), (125, "Event startup in legacy got cancelled\n"));
    let o = f.rctdb(&["event", "run", "5", "legacy", "takeip"]);
    assert_eq!((o.code, o.stderr.as_str()), (22, "Event takeip takes 3 arguments (IFACE IP MASKBITS), got 0\n"));
}

#[test]
fn event_run_bad_arguments() {
    let f = Fake::start(three_nodes());
    let o = f.rctdb(&["event", "run", "5", "foo", "monitor"]);
    assert_eq!((o.code, o.stdout.as_str()), (2, "Event dir for foo does not exist\n"));
    let o = f.rctdb(&["event", "run", "5", "legacy", "bogus"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.starts_with("Invalid event 'bogus'. Valid events are:\n\tinit | setup"));
    assert!(!f.log().iter().any(|(_, c)| *c == "RUN_EVENT"));
}

#[test]
fn event_status_exit_codes() {
    let mut c = three_nodes();
    c.status_replies.insert(Event::Monitor, monitor_run(ScriptStatus::Error { code: 3 }, ""));
    c.status_replies.insert(Event::TakeIp, monitor_run(ScriptStatus::TimedOut, "slow\n"));
    c.status_replies.insert(Event::Startup, monitor_run(ScriptStatus::Ok, "one\ntwo\n"));
    let f = Fake::start(c);

    let o = f.rctdb(&["event", "status", "legacy", "monitor"]);
    assert_eq!(
        o.stdout,
        "00.ctdb              OK         0.010 Fri Aug  7 16:29:25 2026
01.off               DISABLED  
10.interface         ERROR      0.010 Fri Aug  7 16:29:25 2026
  OUTPUT: 
"
    );
    assert_eq!(o.code, 3);
    let o = f.rctdb(&["event", "status", "legacy", "takeip"]);
    assert!(o.stdout.ends_with("10.interface         TIMEDOUT   Fri Aug  7 16:29:25 2026\n  OUTPUT: slow\n"));
    assert_eq!(o.code, 110);
    let o = f.rctdb(&["event", "status", "legacy", "startup"]);
    assert!(o.stdout.ends_with("  OUTPUT:\n    one\n    two\n"), "{}", o.stdout);
    assert_eq!(o.code, 0);
    let o = f.rctdb(&["event", "status", "legacy", "shutdown"]);
    assert_eq!((o.code, o.stdout.as_str()), (22, "Event shutdown has never run in legacy\n"));
    let o = f.rctdb(&["event", "status", "nope", "monitor"]);
    assert_eq!((o.code, o.stdout.as_str()), (2, "Event dir for nope does not exist\n"));

    let o = f.rctdb(&["event", "status", "legacy", "monitor", "--json"]);
    assert_eq!(o.code, 3);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["result"], serde_json::json!(3));
    assert_eq!(v["scripts"][1]["status"], serde_json::json!("DISABLED"));
    assert_eq!(v["scripts"][1]["code"], serde_json::json!(-8));
}

#[test]
fn scriptstatus_always_exits_0() {
    let mut c = three_nodes();
    c.status_replies.insert(Event::Monitor, monitor_run(ScriptStatus::Error { code: 3 }, "bad"));
    let f = Fake::start(c);
    let o = f.rctdb(&["scriptstatus"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.ends_with("10.interface         ERROR      0.010 Fri Aug  7 16:29:25 2026\n  OUTPUT: bad\n"));
    assert_eq!(o.stdout, f.rctdb(&["event", "status", "legacy", "monitor"]).stdout);
    let o = f.rctdb(&["scriptstatus", "startup"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "Event startup has never run in legacy\n"));
    assert!(f.log().contains(&(0, "GET_EVENT_STATUS")));
    assert_eq!(f.rctdb(&["scriptstatus", "bogus"]).code, 1);
}

#[test]
fn event_scripts_on_files() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fake::start(three_nodes());
    let o = f.rctdb(&["event", "script", "list", "legacy"]);
    assert_eq!((o.code, o.stderr.as_str()), (2, "Event dir for legacy does not exist\n"));

    let dir = f.dir.join("events/legacy");
    std::fs::create_dir_all(&dir).unwrap();
    let mk = |name: &str, mode: u32| {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    mk("00.ctdb", 0o755);
    mk("10.interface.script", 0o644);
    mk("05.system", 0o744);
    mk("README", 0o755);
    mk("10.interface~", 0o755);
    mk("20.x.rpmnew", 0o755);
    mk("20.x.dpkg-old", 0o755);
    mk("20.x.options", 0o755);
    std::os::unix::fs::symlink(dir.join("missing"), dir.join("30.dangling")).unwrap();

    let list = |f: &Fake| f.rctdb(&["event", "script", "list", "legacy"]);
    let o = list(&f);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    assert_eq!(o.stdout, "* 00.ctdb\n* 05.system\n  10.interface\n  30.dangling\n");
    assert_eq!(
        f.rctdb(&["-X", "event", "script", "list", "legacy"]).stdout,
        "|Name|Enabled|\n|00.ctdb|1|\n|05.system|1|\n|10.interface|0|\n|30.dangling|0|\n"
    );
    let v: serde_json::Value =
        serde_json::from_str(&f.rctdb(&["--json", "event", "script", "list", "legacy"]).stdout).unwrap();
    assert_eq!(v[2], serde_json::json!({"name": "10.interface", "enabled": false}));

    let o = f.rctdb(&["event", "script", "enable", "legacy", "10.interface"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    let mode = |name: &str| std::fs::metadata(dir.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("10.interface.script"), 0o755);
    let o = f.rctdb(&["event", "script", "disable", "legacy", "00.ctdb"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(mode("00.ctdb"), 0o644);
    assert_eq!(list(&f).stdout, "  00.ctdb\n* 05.system\n* 10.interface\n  30.dangling\n");
    // Disabling a dangling symlink: already disabled.
    assert_eq!(f.rctdb(&["event", "script", "disable", "legacy", "30.dangling"]).code, 0);

    let o = f.rctdb(&["event", "script", "enable", "legacy", "99.nothere"]);
    assert_eq!((o.code, o.stderr.as_str()), (2, "Script 99.nothere does not exist in legacy\n"));
    let o = f.rctdb(&["event", "script", "enable", "legacy", "30.dangling"]);
    assert_eq!((o.code, o.stderr.as_str()), (2, "Script 30.dangling does not exist in legacy\n"));
    let o = f.rctdb(&["event", "script", "disable", "legacy", "README"]);
    assert_eq!((o.code, o.stderr.as_str()), (22, "Script README is invalid in legacy\n"));
    let o = f.rctdb(&["event", "script", "list", "other"]);
    assert_eq!((o.code, o.stderr.as_str()), (2, "Event dir for other does not exist\n"));
    // No daemon was involved.
    assert!(f.log().is_empty());
}

impl Fake {
    /// How many times `control` ran, on any node.
    fn count(&self, control: &str) -> usize {
        self.log().iter().filter(|(_, c)| *c == control).count()
    }

    /// Node `pnn`'s flags as node `on` sees them.
    fn flags(&self, on: u32, pnn: u32) -> u32 {
        self.cluster.lock().unwrap().maps[&on].get(Pnn(pnn)).unwrap().flags.0
    }
}

/// Three connected nodes, all OK.
fn three_ok() -> Cluster {
    let mut c = three_nodes();
    let m = node_map(&[("192.168.20.41", 0), ("192.168.20.42", 0), ("192.168.20.43", 0)]);
    c.maps = (0..3).map(|p| (p, m.clone())).collect();
    c
}

#[test]
fn disable_waits_until_the_flag_shows() {
    let mut c = three_nodes();
    c.flip_delay = Duration::from_millis(400);
    let f = Fake::start(c);
    let start = Instant::now();
    let o = f.rctdb(&["disable"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    // It returned only once the local map showed the flag, polling for it.
    assert!(start.elapsed() >= Duration::from_millis(400));
    assert_eq!(f.log().iter().filter(|l| **l == (0, "DISABLE_NODE")).count(), 1);
    assert!(f.count("GET_NODEMAP") >= 4, "{:?}", f.log());
    assert_eq!(f.flags(0, 0), 0x04);
    assert_eq!(f.rctdb(&["nodestatus"]).stdout, "pnn:0 192.168.20.41    DISABLED (THIS NODE)\n");

    // Again: already disabled, nothing sent, exit 0.
    let o = f.rctdb(&["disable"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", "Node 0 is already disabled\n"));
    assert_eq!(f.count("DISABLE_NODE"), 1);
}

#[test]
fn enable_another_node() {
    let mut c = three_nodes();
    c.flip_delay = Duration::from_millis(150);
    let f = Fake::start(c);
    let o = f.rctdb(&["enable"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", "Node 0 is not disabled\n"));
    let o = f.rctdb(&["-n", "1", "enable"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, "Node 1 is not disabled\n"));
    assert_eq!(f.count("ENABLE_NODE"), 0);

    // UNHEALTHY stays; only PERMANENTLY_DISABLED moves.
    let o = f.rctdb(&["disable", "-n", "1"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    assert_eq!((f.flags(0, 1), f.flags(2, 1)), (0x06, 0x06));
    let o = f.rctdb(&["enable", "-n", "1"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    assert_eq!(f.flags(0, 1), 0x02);
    // Sent to the target node, not to the local one.
    let admin: Vec<(u32, &str)> =
        f.log().into_iter().filter(|(_, c)| matches!(*c, "DISABLE_NODE" | "ENABLE_NODE")).collect();
    assert_eq!(admin, vec![(1, "DISABLE_NODE"), (1, "ENABLE_NODE")]);
}

#[test]
fn stop_and_continue() {
    let mut c = three_nodes();
    c.flip_delay = Duration::from_millis(150);
    let f = Fake::start(c);
    let o = f.rctdb(&["-n", "1", "continue"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", "Node 1 is not stopped\n"));
    let o = f.rctdb(&["-n", "1", "stop"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    assert_eq!(f.rctdb(&["nodestatus", "1"]).stdout, "pnn:1 192.168.20.42    UNHEALTHY|STOPPED|INACTIVE\n");
    let o = f.rctdb(&["-n", "1", "stop"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", "Node 1 is already stopped\n"));
    // -X: the same as human.
    let o = f.rctdb(&["-X", "-n", "1", "stop"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", "Node 1 is already stopped\n"));
    let o = f.rctdb(&["-n", "1", "continue"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    assert_eq!(f.flags(0, 1), 0x02);
    let o = f.rctdb(&["continue", "-n", "1"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, "Node 1 is not stopped\n"));
    assert_eq!((f.count("STOP_NODE"), f.count("CONTINUE_NODE")), (1, 1));
    assert!(f.log().contains(&(1, "STOP_NODE")) && f.log().contains(&(1, "CONTINUE_NODE")));
}

#[test]
fn ban_and_unban() {
    let mut c = three_nodes();
    c.flip_delay = Duration::from_millis(150);
    let f = Fake::start(c);
    let o = f.rctdb(&["unban", "-n", "1"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", "Node 1 is not banned\n"));
    let o = f.rctdb(&["ban", "30", "-n", "1"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    assert_eq!(f.flags(0, 1), 0x0a);
    let o = f.rctdb(&["ban", "10", "-n", "1"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", "Node 1 is already banned\n"));
    let o = f.rctdb(&["unban", "-n", "1"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    assert_eq!(f.flags(0, 1), 0x02);
    // Ban the local node too: the local map still answers for it.
    assert_eq!(f.rctdb(&["ban", "0x3c"]).code, 0);
    assert_eq!(f.rctdb(&["ban", "5"]).stderr, "Node 0 is already banned\n");
    let bans = f.cluster.lock().unwrap().bans.clone();
    assert_eq!(bans, vec![(1, 30), (1, 0), (0, 60)]);
}

#[test]
fn ban_refuses_zero_and_bad_numbers() {
    let f = Fake::start(three_nodes());
    let o = f.rctdb(&["ban", "0"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (22, "", "Ban time cannot be zero\n"));
    let o = f.rctdb(&["ban", "x", "-n", "1"]);
    assert_eq!(o.code, 1);
    assert_eq!(o.stderr, "Invalid ban time 'x': expected a number of seconds\n\nUsage: rctdb ban <SECONDS>\n");
    assert_eq!(f.rctdb(&["ban"]).code, 1);
    assert_eq!(f.rctdb(&["ban", "-5"]).code, 1);
    assert_eq!(f.rctdb(&["ban", "1", "2"]).code, 1);
    assert_eq!(f.rctdb(&["stop", "now"]).code, 1);
    // Nothing reached the daemon.
    assert!(f.log().is_empty(), "{:?}", f.log());
}

#[test]
fn node_admin_failures() {
    let mut c = three_nodes();
    c.fail.insert("DISABLE_NODE", ControlError::new(-1, "Control DISABLE_NODE failed, ret=-1"));
    c.fail.insert("SET_BAN_STATE", ControlError::new(13, "Permission denied"));
    c.hang.push("STOP_NODE");
    let f = Fake::start(c);
    let o = f.rctdb(&["disable"]);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (1, "", "Control DISABLE_NODE failed, ret=-1\nFailed to disable node 0\n")
    );
    let o = f.rctdb(&["ban", "10", "-n", "1"]);
    assert_eq!((o.code, o.stderr.as_str()), (13, "Permission denied\nFailed to ban node 1\n"));
    let o = f.rctdb(&["-t", "0.2", "stop"]);
    assert_eq!((o.code, o.stderr.as_str()), (110, "Control STOP_NODE timed out\nFailed to stop node 0\n"));
    // A disconnected or unknown target is refused before anything is sent.
    let o = f.rctdb(&["-n", "2", "enable"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Node 2 has status DISCONNECTED|UNHEALTHY|INACTIVE\n"));
    let o = f.rctdb(&["-n", "9", "unban"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Node 9 does not exist\n"));
    assert_eq!(f.count("ENABLE_NODE") + f.count("SET_BAN_STATE"), 1);
}

#[test]
fn failure_messages_for_the_clearing_commands() {
    let mut c = three_nodes();
    c.maps = (0..3)
        .map(|p| (p, node_map(&[("192.168.20.41", 0x2c), ("192.168.20.42", 0x02), ("192.168.20.43", 0x03)])))
        .collect();
    for name in ["ENABLE_NODE", "CONTINUE_NODE", "SET_BAN_STATE"] {
        c.fail.insert(name, ControlError::new(-1, format!("Control {name} failed, ret=-1")));
    }
    let f = Fake::start(c);
    let o = f.rctdb(&["enable"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Control ENABLE_NODE failed, ret=-1\nFailed to enable node 0\n"));
    let o = f.rctdb(&["continue"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Control CONTINUE_NODE failed, ret=-1\nFailed to continue stopped node 0\n")
    );
    let o = f.rctdb(&["unban"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Control SET_BAN_STATE failed, ret=-1\nFailed to unban node 0\n"));
}

#[test]
fn wait_is_bounded_by_maxruntime() {
    let mut c = three_nodes();
    // Like a ban with EnableBans=0: accepted, never visible.
    c.flips_ignored = true;
    let f = Fake::start(c);
    let start = Instant::now();
    let o = f.rctdb(&["-T", "0.6", "ban", "5"]);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (1, "", "Maximum runtime exceeded - exiting\n"));
    assert_eq!(f.count("SET_BAN_STATE"), 1);
    assert!(f.count("GET_NODEMAP") >= 3, "{:?}", f.log());
}

#[test]
fn node_admin_json() {
    let f = Fake::start(three_nodes());
    let o = f.rctdb(&["--json", "disable", "-n", "1"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    assert_eq!(o.stdout, "{\n  \"pnn\": 1,\n  \"action\": \"disable\",\n  \"result\": \"ok\"\n}\n");
    let o = f.rctdb(&["--json", "disable", "-n", "1"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    assert_eq!(o.stdout, "{\n  \"pnn\": 1,\n  \"action\": \"disable\",\n  \"result\": \"already\"\n}\n");
    let o = f.rctdb(&["--json", "ban", "30"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"pnn": 0, "action": "ban", "seconds": 30, "result": "ok"}));
    let o = f.rctdb(&["--json", "continue"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"pnn": 0, "action": "continue", "result": "already"}));
}

#[test]
fn node_admin_on_all_nodes() {
    let mut c = three_ok();
    c.flip_delay = Duration::from_millis(100);
    let f = Fake::start(c);
    let o = f.rctdb(&["-n", "all", "stop"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    let stops: Vec<u32> = f.log().iter().filter(|(_, c)| *c == "STOP_NODE").map(|(n, _)| *n).collect();
    assert_eq!(stops, vec![0, 1, 2]);
    assert_eq!((f.flags(0, 0), f.flags(1, 1), f.flags(0, 2)), (0x20, 0x20, 0x20));
    let o = f.rctdb(&["-n", "all", "stop"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout, ">> NODE: 0 <<\n\n>> NODE: 1 <<\n\n>> NODE: 2 <<\n");
    assert_eq!(o.stderr, "Node 0 is already stopped\nNode 1 is already stopped\nNode 2 is already stopped\n");
    let o = f.rctdb(&["-n", "all", "continue", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["nodes"]["2"], serde_json::json!({"pnn": 2, "action": "continue", "result": "ok"}));
    assert_eq!(f.count("CONTINUE_NODE"), 3);

    // A disconnected node fails; the others are done.
    let f = Fake::start(three_nodes());
    let o = f.rctdb(&["-n", "all", "disable"]);
    assert_eq!(o.stdout, ">> NODE: 2 <<\n");
    assert_eq!(o.stderr, "Node 2 has status DISCONNECTED|UNHEALTHY|INACTIVE\n");
    assert_eq!(o.code, 1);
    assert_eq!((f.flags(0, 0), f.flags(0, 1)), (0x04, 0x06));
}

#[test]
fn getreclock_with_and_without_a_lock() {
    let f = Fake::start(three_nodes());
    let o = f.rctdb(&["getreclock"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    assert_eq!(f.rctdb(&["getreclock", "-X"]).stdout, "");
    assert_eq!(f.rctdb(&["getreclock", "--json"]).stdout, "{\n  \"reclock\": null\n}\n");

    let mut c = three_nodes();
    c.reclock = Some("!/usr/libexec/rctdb/rctdb_mutex_fcntl_helper /clusterfs/.rctdb/reclock".into());
    let f = Fake::start(c);
    let o = f.rctdb(&["getreclock", "-n", "1"]);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (0, "!/usr/libexec/rctdb/rctdb_mutex_fcntl_helper /clusterfs/.rctdb/reclock\n", "")
    );
    assert!(f.log().contains(&(1, "GET_RECLOCK_FILE")));
    assert_eq!(f.rctdb(&["-X", "getreclock"]).stdout, o.stdout);
    let v: serde_json::Value = serde_json::from_str(&f.rctdb(&["--json", "getreclock"]).stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"reclock": "!/usr/libexec/rctdb/rctdb_mutex_fcntl_helper /clusterfs/.rctdb/reclock"})
    );
}

#[test]
fn leader_machine_and_json() {
    let f = Fake::start(three_nodes());
    assert_eq!(f.rctdb(&["leader", "-X"]).stdout, "0\n");
    assert_eq!(f.rctdb(&["leader", "--json"]).stdout, "{\n  \"leader\": 0\n}\n");
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn up(name: &str, references: u32) -> IfaceInfo {
    IfaceInfo { name: name.into(), link_up: true, references }
}

/// Three healthy nodes with the addresses of the reference's examples.
/// Every node knows every address (listed out of order, to show the tool
/// sorts) and has eth2 and eth1; each holds what it owns on eth2. Node 0
/// has a stale belief about 10.0.0.33 (unassigned): `ip all` takes the
/// owner from node 2, which claims it. 10.0.0.34 is held by nobody.
fn with_ips(mut c: Cluster) -> Cluster {
    let table: [(&str, u8, u32); 5] = [
        ("fd00::5357:5f01", 64, 2),
        ("10.0.0.33", 24, 2),
        ("10.0.0.31", 24, 0),
        ("10.0.0.34", 24, u32::MAX),
        ("10.0.0.32", 24, 1),
    ];
    for node in 0..3u32 {
        let ips = table
            .iter()
            .map(|&(ip, bits, owner)| {
                let mut belief = Pnn(owner);
                if node == 0 && ip == "10.0.0.33" {
                    belief = Pnn::UNKNOWN;
                }
                FakeIp {
                    ip: addr(ip),
                    bits,
                    owner: belief,
                    ifaces: vec!["eth2".into(), "eth1".into()],
                    active: (owner == node).then_some(0),
                }
            })
            .collect();
        c.ips.insert(node, ips);
        let held = table.iter().filter(|t| t.2 == node).count() as u32;
        c.ifaces.insert(node, vec![up("eth2", held), up("eth1", 0)]);
    }
    c
}

impl Fake {
    fn ip_log(&self) -> Vec<(u32, Control)> {
        self.cluster.lock().unwrap().ip_log.clone()
    }

    fn disables(&self) -> Vec<(u32, u32)> {
        self.cluster.lock().unwrap().disables.clone()
    }

    fn takeover_requests(&self) -> Vec<(Pnn, Vec<u8>)> {
        self.cluster.lock().unwrap().takeover_requests.clone()
    }

    fn known(&self, node: u32) -> Vec<(IpAddr, Pnn)> {
        self.cluster.lock().unwrap().ips[&node].iter().map(|v| (v.ip, v.owner)).collect()
    }
}

fn silent_ok(o: &Out) {
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
}

#[test]
fn ip_on_a_node() {
    let f = Fake::start(with_ips(three_ok()));
    let o = f.rctdb(&["ip"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    assert_eq!(
        o.stdout,
        "Public IPs on node 0
10.0.0.31 0
10.0.0.32 1
10.0.0.33 -1
10.0.0.34 -1
fd00::5357:5f01 2
"
    );
    let o = f.rctdb(&["ip", "-n", "2"]);
    assert_eq!(
        o.stdout,
        "Public IPs on node 2\n10.0.0.31 0\n10.0.0.32 1\n10.0.0.33 2\n10.0.0.34 -1\nfd00::5357:5f01 2\n"
    );
    assert!(f.log().contains(&(2, "GET_PUBLIC_IPS")));
    let o = f.rctdb(&["-X", "ip"]);
    assert_eq!(
        o.stdout,
        "|Public IP|Node|\n|10.0.0.31|0|\n|10.0.0.32|1|\n|10.0.0.33|-1|\n|10.0.0.34|-1|\n|fd00::5357:5f01|2|\n"
    );
    let v: serde_json::Value = serde_json::from_str(&f.rctdb(&["--json", "ip"]).stdout).unwrap();
    assert_eq!(v["pnn"], serde_json::json!(0));
    assert_eq!(v["all"], serde_json::json!(false));
    assert_eq!(v["ips"][2], serde_json::json!({"address": "10.0.0.33", "node": -1}));
    // Without -v no interface details are fetched.
    assert_eq!(f.count("GET_PUBLIC_IP_INFO"), 0);
    // A node with no addresses: the header only.
    let f = Fake::start(three_ok());
    assert_eq!(f.rctdb(&["ip"]).stdout, "Public IPs on node 0\n");
    assert_eq!(
        f.rctdb(&["ip", "-X", "-v"]).stdout,
        "|Public IP|Node|ActiveInterfaces|AvailableInterfaces|ConfiguredInterfaces|\n"
    );
}

#[test]
fn ip_verbose_details_come_from_the_node() {
    let mut c = with_ips(three_ok());
    c.ifaces.get_mut(&0).unwrap()[1].link_up = false;
    let f = Fake::start(c);
    let o = f.rctdb(&["ip", "-v"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    assert_eq!(
        o.stdout,
        "Public IPs on node 0
10.0.0.31 node[0] active[eth2] available[eth2] configured[eth2,eth1]
10.0.0.32 node[1] active[] available[eth2] configured[eth2,eth1]
10.0.0.33 node[-1] active[] available[eth2] configured[eth2,eth1]
10.0.0.34 node[-1] active[] available[eth2] configured[eth2,eth1]
fd00::5357:5f01 node[2] active[] available[eth2] configured[eth2,eth1]
"
    );
    let infos: Vec<u32> = f.log().iter().filter(|(_, c)| *c == "GET_PUBLIC_IP_INFO").map(|(n, _)| *n).collect();
    assert_eq!(infos, vec![0; 5]);
    let o = f.rctdb(&["ip", "-v", "-X", "-n", "1"]);
    assert_eq!(
        o.stdout,
        "|Public IP|Node|ActiveInterfaces|AvailableInterfaces|ConfiguredInterfaces|
|10.0.0.31|0||eth2,eth1|eth2,eth1|
|10.0.0.32|1|eth2|eth2,eth1|eth2,eth1|
|10.0.0.33|2||eth2,eth1|eth2,eth1|
|10.0.0.34|-1||eth2,eth1|eth2,eth1|
|fd00::5357:5f01|2||eth2,eth1|eth2,eth1|
"
    );
    let v: serde_json::Value = serde_json::from_str(&f.rctdb(&["--json", "-v", "ip"]).stdout).unwrap();
    assert_eq!(
        v["ips"][0],
        serde_json::json!({"address": "10.0.0.31", "node": 0, "active": "eth2",
            "available": ["eth2"], "configured": ["eth2", "eth1"]})
    );
}

#[test]
fn ip_all_is_the_union_over_active_nodes() {
    let f = Fake::start(with_ips(three_ok()));
    let o = f.rctdb(&["ip", "all"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    assert_eq!(
        o.stdout,
        "Public IPs on ALL nodes\n10.0.0.31 0\n10.0.0.32 1\n10.0.0.33 2\n10.0.0.34 -1\nfd00::5357:5f01 2\n"
    );
    let o = f.rctdb(&["ip", "all", "-v"]);
    assert_eq!(
        o.stdout,
        "Public IPs on ALL nodes
10.0.0.31 node[0] active[eth2] available[eth2,eth1] configured[eth2,eth1]
10.0.0.32 node[1] active[eth2] available[eth2,eth1] configured[eth2,eth1]
10.0.0.33 node[2] active[eth2] available[eth2,eth1] configured[eth2,eth1]
10.0.0.34 node[-1] active[] available[] configured[]
fd00::5357:5f01 node[2] active[eth2] available[eth2,eth1] configured[eth2,eth1]
"
    );
    // Details come from each address's owner, none for the unassigned one.
    let infos: Vec<u32> = f.log().iter().filter(|(_, c)| *c == "GET_PUBLIC_IP_INFO").map(|(n, _)| *n).collect();
    assert_eq!(infos, vec![0, 1, 2, 2]);
    assert_eq!(
        f.rctdb(&["ip", "all", "-X"]).stdout,
        "|Public IP|Node|\n|10.0.0.31|0|\n|10.0.0.32|1|\n|10.0.0.33|2|\n|10.0.0.34|-1|\n|fd00::5357:5f01|2|\n"
    );
    let v: serde_json::Value = serde_json::from_str(&f.rctdb(&["ip", "all", "--json"]).stdout).unwrap();
    assert_eq!((v["pnn"].clone(), v["all"].clone()), (serde_json::Value::Null, serde_json::json!(true)));

    // Node 2 banned (inactive) and node 1 disconnected: only node 0 is
    // asked, and what it does not hold is unassigned.
    let mut c = with_ips(three_ok());
    let m = node_map(&[("192.168.20.41", 0), ("192.168.20.42", 0x01), ("192.168.20.43", 0x08)]);
    c.maps = (0..3).map(|p| (p, m.clone())).collect();
    let f = Fake::start(c);
    let o = f.rctdb(&["ip", "all"]);
    assert_eq!(
        o.stdout,
        "Public IPs on ALL nodes\n10.0.0.31 0\n10.0.0.32 -1\n10.0.0.33 -1\n10.0.0.34 -1\nfd00::5357:5f01 -1\n"
    );
    let asked: Vec<u32> = f.log().iter().filter(|(_, c)| *c == "GET_PUBLIC_IPS").map(|(n, _)| *n).collect();
    assert_eq!(asked, vec![0]);
}

#[test]
fn ip_failures() {
    let mut c = with_ips(three_ok());
    c.fail.insert("GET_PUBLIC_IPS", ControlError::new(-1, "Control GET_PUBLIC_IPS failed, ret=-1"));
    let f = Fake::start(c);
    let o = f.rctdb(&["ip", "all"]);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (1, "", "Control GET_PUBLIC_IPS failed, ret=-1\nFailed to get Public IPs from node 0\n")
    );
    let o = f.rctdb(&["ip", "-n", "1"]);
    assert_eq!(o.stderr, "Control GET_PUBLIC_IPS failed, ret=-1\nFailed to get Public IPs from node 1\n");
    assert_eq!(f.rctdb(&["ip", "bogus"]).code, 1);
}

#[test]
fn ipinfo_forms_and_errors() {
    let f = Fake::start(with_ips(three_ok()));
    let o = f.rctdb(&["ipinfo", "10.0.0.31"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    assert_eq!(
        o.stdout,
        "Public IP[10.0.0.31] info on node 0
IP:10.0.0.31
CurrentNode:0
NumInterfaces:2
Interface[1]: Name:eth2 Link:up References:1 (active)
Interface[2]: Name:eth1 Link:up References:0
"
    );
    let o = f.rctdb(&["-n", "1", "ipinfo", "fd00::5357:5f01"]);
    assert_eq!(
        o.stdout,
        "Public IP[fd00::5357:5f01] info on node 1
IP:fd00::5357:5f01
CurrentNode:2
NumInterfaces:2
Interface[1]: Name:eth2 Link:up References:1
Interface[2]: Name:eth1 Link:up References:0
"
    );
    // CTDB has no -X form: same text.
    assert_eq!(f.rctdb(&["-X", "-n", "1", "ipinfo", "fd00::5357:5f01"]).stdout, o.stdout);
    assert!(f.rctdb(&["ipinfo", "10.0.0.34"]).stdout.contains("CurrentNode:-1\n"));
    let v: serde_json::Value = serde_json::from_str(&f.rctdb(&["--json", "ipinfo", "10.0.0.31"]).stdout).unwrap();
    assert_eq!(v["current_node"], serde_json::json!(0));
    assert_eq!(v["bits"], serde_json::json!(24));
    assert_eq!(v["interfaces"][0]["active"], serde_json::json!(true));

    let o = f.rctdb(&["ipinfo", "10.0.0.99"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (1, "", "Node 0 does not know about IP 10.0.0.99\n"));
    let o = f.rctdb(&["ipinfo", "10.0.0.99", "-n", "2"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Node 2 does not know about IP 10.0.0.99\n"));
    let o = f.rctdb(&["ipinfo", "10.0.0.999"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (1, "", "Invalid IP address 10.0.0.999\n"));
}

#[test]
fn ifaces_forms() {
    let mut c = with_ips(three_ok());
    c.ifaces.get_mut(&1).unwrap()[1].link_up = false;
    c.ifaces.insert(2, vec![]);
    let f = Fake::start(c);
    let o = f.rctdb(&["ifaces"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    assert_eq!(o.stdout, "Interfaces on node 0\nname:eth2 link:up references:1\nname:eth1 link:up references:0\n");
    let o = f.rctdb(&["ifaces", "-n", "1", "-X"]);
    assert_eq!(o.stdout, "|Name|LinkStatus|References|\n|eth2|1|1|\n|eth1|0|0|\n");
    let o = f.rctdb(&["ifaces", "-n", "2"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "No interfaces configured on node 2\n"));
    assert_eq!(f.rctdb(&["ifaces", "-n", "2", "-X"]).stdout, "No interfaces configured on node 2\n");
    let v: serde_json::Value = serde_json::from_str(&f.rctdb(&["--json", "ifaces", "-n", "1"]).stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"pnn": 1, "interfaces": [
            {"name": "eth2", "link_up": true, "references": 1},
            {"name": "eth1", "link_up": false, "references": 0}]})
    );
}

#[test]
fn setifacelink_up_and_down() {
    let f = Fake::start(with_ips(three_ok()));
    silent_ok(&f.rctdb(&["setifacelink", "eth1", "down"]));
    assert_eq!(f.rctdb(&["-X", "ifaces"]).stdout, "|Name|LinkStatus|References|\n|eth2|1|1|\n|eth1|0|0|\n");
    // Available interfaces follow the link state.
    assert!(f
        .rctdb(&["ip", "-v"])
        .stdout
        .contains("10.0.0.31 node[0] active[eth2] available[eth2] configured[eth2,eth1]\n"));
    silent_ok(&f.rctdb(&["setifacelink", "eth1", "up", "-n", "1"]));
    silent_ok(&f.rctdb(&["setifacelink", "eth1", "up"]));
    let sets: Vec<(u32, Control)> =
        f.ip_log().into_iter().filter(|(_, c)| matches!(c, Control::SetIfaceLink { .. })).collect();
    assert_eq!(
        sets,
        vec![
            (0, Control::SetIfaceLink { name: "eth1".into(), up: false }),
            (1, Control::SetIfaceLink { name: "eth1".into(), up: true }),
            (0, Control::SetIfaceLink { name: "eth1".into(), up: true }),
        ]
    );

    let o = f.rctdb(&["setifacelink", "eth7", "down"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (1, "Interface eth7 not configured on node 0\n", ""));
    let o = f.rctdb(&["setifacelink", "eth7", "down", "-n", "2"]);
    assert_eq!((o.code, o.stdout.as_str()), (1, "Interface eth7 not configured on node 2\n"));
    let o = f.rctdb(&["setifacelink", "averyveryverylongname", "up"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Interface name 'averyveryverylongname' too long\n"));
    let o = f.rctdb(&["setifacelink", "eth1", "sideways"]);
    assert_eq!((o.code, o.stdout.as_str()), (1, ""));
    assert_eq!(f.count("SET_IFACE_LINK_STATE"), 3);
}

#[test]
fn ipreallocate_asks_the_leader() {
    let f = Fake::start(with_ips(three_ok()));
    silent_ok(&f.rctdb(&["ipreallocate"]));
    silent_ok(&f.rctdb(&["sync"]));
    let reqs = f.takeover_requests();
    assert_eq!(reqs.len(), 2);
    for (dest, data) in &reqs {
        assert_eq!(*dest, Pnn::BROADCAST_CONNECTED);
        assert_eq!(data.len(), 12);
        assert_eq!(&data[..4], &0u32.to_le_bytes());
        let reply = u64::from_le_bytes(data[4..].try_into().unwrap());
        assert_eq!(reply >> 56, 0xBE, "{reply:#x}");
    }
    assert_ne!(reqs[0].1, reqs[1].1);
    assert_eq!(f.count("REGISTER_SRVID"), 2);
    let v: serde_json::Value = serde_json::from_str(&f.rctdb(&["--json", "ipreallocate"]).stdout).unwrap();
    assert_eq!(v, serde_json::json!({"leader": 0}));
    // From another node the reply still comes back to the local one.
    let mut c = three_ok();
    c.local = 2;
    c.leader_answer = Some(1);
    let f = Fake::start(c);
    silent_ok(&f.rctdb(&["ipreallocate"]));
    assert_eq!(&f.takeover_requests()[0].1[..4], &2u32.to_le_bytes());
}

#[test]
fn ipreallocate_resends_on_every_timeout() {
    let mut c = three_ok();
    c.takeover_ignore = 2;
    let f = Fake::start(c);
    let start = Instant::now();
    silent_ok(&f.rctdb(&["-t", "0.3", "ipreallocate"]));
    assert!(start.elapsed() >= Duration::from_millis(600));
    let reqs = f.takeover_requests();
    assert_eq!(reqs.len(), 3);
    // The same request each time.
    assert!(reqs.iter().all(|r| r.1 == reqs[0].1));
}

#[test]
fn ipreallocate_failures() {
    let mut c = three_ok();
    c.leader_answer = Some(-1);
    let f = Fake::start(c);
    let o = f.rctdb(&["ipreallocate"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (1, "", "Failed to ask leader to distribute IPs\n"));
    f.cluster.lock().unwrap().leader_answer = Some(-11);
    assert_eq!(f.rctdb(&["ipreallocate"]).code, 11);

    // No leader: re-sent every -t until -T, then the tool's own message.
    f.cluster.lock().unwrap().leader_answer = None;
    let start = Instant::now();
    let o = f.rctdb(&["-t", "0.2", "-T", "1.2", "ipreallocate"]);
    assert!(start.elapsed() < Duration::from_millis(1200), "{:?}", start.elapsed());
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (110, "", "Failed to ask leader to distribute IPs\n"));
    assert!(f.takeover_requests().len() >= 2 + 4, "{}", f.takeover_requests().len());
}

#[test]
fn node_admin_requests_a_reallocation() {
    let f = Fake::start(three_ok());
    silent_ok(&f.rctdb(&["disable", "-n", "1"]));
    assert_eq!(f.takeover_requests().len(), 1);
    // Already disabled: nothing to reallocate.
    assert_eq!(f.rctdb(&["disable", "-n", "1"]).code, 0);
    assert_eq!(f.takeover_requests().len(), 1);
    silent_ok(&f.rctdb(&["enable", "-n", "1"]));
    assert_eq!(f.takeover_requests().len(), 2);

    // No leader answers: the state changed but the command fails.
    let mut c = three_ok();
    c.leader_answer = None;
    let f = Fake::start(c);
    let o = f.rctdb(&["-t", "0.2", "-T", "1", "stop", "-n", "2"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (110, "", "Failed to ask leader to distribute IPs\n"));
    assert_eq!(f.flags(0, 2), 0x20);
    // A failed reallocation is the command's result.
    let mut c = three_ok();
    c.leader_answer = Some(-1);
    let f = Fake::start(c);
    let o = f.rctdb(&["ban", "10"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Failed to ask leader to distribute IPs\n"));
}

#[test]
fn gratarp_sends_through_the_node() {
    let f = Fake::start(with_ips(three_ok()));
    silent_ok(&f.rctdb(&["gratarp", "10.0.0.31", "eth2"]));
    silent_ok(&f.rctdb(&["gratarp", "fd00::5357:5f01", "eth1", "-n", "2"]));
    let garps = f.cluster.lock().unwrap().garps.clone();
    assert_eq!(garps, vec![(0, addr("10.0.0.31"), "eth2".into()), (2, addr("fd00::5357:5f01"), "eth1".into())]);
    let o = f.rctdb(&["gratarp", "10.0.0.31", "eth9", "-n", "1"]);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (2, "", "Interface eth9 does not exist on node 1\nUnable to send gratuitous arp from node 1\n")
    );
    let o = f.rctdb(&["gratarp", "10.0.0", "eth2"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Invalid IP address 10.0.0\n"));
}

#[test]
fn moveip_releases_everywhere_then_takes_over() {
    let f = Fake::start(with_ips(three_ok()));
    silent_ok(&f.rctdb(&["moveip", "10.0.0.31", "1"]));
    let ip = addr("10.0.0.31");
    let log: Vec<(u32, Control)> =
        f.ip_log().into_iter().filter(|(_, c)| !matches!(c, Control::RegisterSrvid(_))).collect();
    assert_eq!(
        log,
        vec![
            (0, Control::ReleaseIp { ip, new_owner: Pnn(1) }),
            (2, Control::ReleaseIp { ip, new_owner: Pnn(1) }),
            (1, Control::TakeoverIp { ip, owner: Pnn(1) }),
            (0, Control::IpReallocated),
            (1, Control::IpReallocated),
            (2, Control::IpReallocated),
        ]
    );
    assert!(f.rctdb(&["ip", "all"]).stdout.contains("\n10.0.0.31 1\n"));
    // Takeover runs disabled on every connected node for 2 × the timelimit
    // around the move, then re-enabled.
    assert_eq!(f.disables(), vec![(0, 20), (1, 20), (2, 20), (0, 0), (1, 0), (2, 0)]);
    // No takeover run is requested.
    assert!(f.takeover_requests().is_empty());
    let v: serde_json::Value = serde_json::from_str(&f.rctdb(&["--json", "moveip", "10.0.0.31", "2"]).stdout).unwrap();
    assert_eq!(v, serde_json::json!({"address": "10.0.0.31", "pnn": 2}));
}

#[test]
fn moveip_skips_inactive_nodes_and_checks_the_target() {
    let mut c = with_ips(three_ok());
    // Node 1 banned: not asked to release.
    let m = node_map(&[("192.168.20.41", 0), ("192.168.20.42", 0x08), ("192.168.20.43", 0)]);
    c.maps = (0..3).map(|p| (p, m.clone())).collect();
    c.ips.get_mut(&2).unwrap().retain(|v| v.ip != addr("10.0.0.34"));
    let f = Fake::start(c);
    silent_ok(&f.rctdb(&["moveip", "fd00::5357:5f01", "0"]));
    let nodes: Vec<(u32, &str)> = f.ip_log().iter().map(|(n, c)| (*n, c.name())).collect();
    assert_eq!(
        nodes,
        vec![(2, "RELEASE_IP"), (0, "TAKEOVER_IP"), (0, "IPREALLOCATED"), (1, "IPREALLOCATED"), (2, "IPREALLOCATED")]
    );
    let o = f.rctdb(&["moveip", "10.0.0.34", "2"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (1, "", "Node 2 CANNOT host IP address 10.0.0.34\n"));
    let o = f.rctdb(&["moveip", "10.0.0.34", "7"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Node 7 does not exist\n"));
    let o = f.rctdb(&["moveip", "10.0.0.34", "x"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Invalid PNN x\n"));
    let o = f.rctdb(&["moveip", "10.0.0.34", "1", "-n", "2"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Node cannot be specified for command moveip\n"));
    assert_eq!(f.count("TAKEOVER_IP"), 1);
}

#[test]
fn moveip_retries_while_a_takeover_run_is_in_progress() {
    let mut c = with_ips(three_ok());
    // Node 2's recovery daemon is running a takeover run at the first try.
    c.disable_refusal.insert(2, (-11, 1));
    let f = Fake::start(c);
    let start = Instant::now();
    let o = f.rctdb(&["-t", "2", "moveip", "10.0.0.32", "1"]);
    assert!(start.elapsed() >= Duration::from_secs(3));
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", "Failed to disable takeover runs\n"));
    // Nothing moved at the first try; re-enabled where it was disabled.
    assert_eq!(
        f.disables(),
        vec![(0, 4), (1, 4), (2, 4), (0, 0), (1, 0), (2, 0), (0, 4), (1, 4), (2, 4), (0, 0), (1, 0), (2, 0)]
    );
    assert_eq!(f.count("TAKEOVER_IP"), 1);
}

#[test]
fn moveip_retries_after_a_failure() {
    let mut c = with_ips(three_ok());
    c.fail.insert("TAKEOVER_IP", ControlError::new(-1, "Control TAKEOVER_IP failed, ret=-1"));
    c.fail_left.insert("TAKEOVER_IP", 1);
    let f = Fake::start(c);
    let start = Instant::now();
    let o = f.rctdb(&["moveip", "10.0.0.32", "2"]);
    assert!(start.elapsed() >= Duration::from_secs(3));
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (0, "", "Control TAKEOVER_IP failed, ret=-1\nFailed to takeover IP on node 2\n")
    );
    assert_eq!(f.count("TAKEOVER_IP"), 2);
    assert_eq!(f.count("RELEASE_IP"), 4);
    assert_eq!(f.known(2).iter().find(|k| k.0 == addr("10.0.0.32")).unwrap().1, Pnn(2));
}

#[test]
fn addip_adds_then_reallocates() {
    let f = Fake::start(with_ips(three_ok()));
    silent_ok(&f.rctdb(&["addip", "10.0.0.40/24", "eth1,eth3", "-n", "1"]));
    let adds: Vec<(u32, Control)> =
        f.ip_log().into_iter().filter(|(_, c)| matches!(c, Control::AddPublicIp { .. })).collect();
    assert_eq!(
        adds,
        vec![(1, Control::AddPublicIp { ip: addr("10.0.0.40"), bits: 24, ifaces: vec!["eth1".into(), "eth3".into()] })]
    );
    assert_eq!(f.takeover_requests().len(), 1);
    assert!(f.rctdb(&["ip", "-n", "1"]).stdout.contains("\n10.0.0.40 -1\n"));
    assert!(f.rctdb(&["ifaces", "-n", "1"]).stdout.contains("name:eth3 link:up references:0\n"));

    // Already known: stderr, exit 0, nothing sent.
    let o = f.rctdb(&["addip", "10.0.0.40/24", "eth1", "-n", "1"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", "Node already knows about IP 10.0.0.40\n"));
    let v: serde_json::Value =
        serde_json::from_str(&f.rctdb(&["--json", "addip", "fd00::40/64", "eth2"]).stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"pnn": 0, "address": "fd00::40", "bits": 64, "interfaces": ["eth2"], "result": "added"})
    );
    assert_eq!(f.count("ADD_PUBLIC_IP"), 2);
    assert_eq!(f.takeover_requests().len(), 2);

    let o = f.rctdb(&["addip", "10.0.0.41", "eth1"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Invalid IP/Mask 10.0.0.41\n"));
    // A refusal is not retried.
    let start = Instant::now();
    let o = f.rctdb(&["addip", "10.0.0.41/24", "nope0"]);
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (2, "", "Interface nope0 does not exist on node 0\nFailed to add public IP to node 0. Giving up\n")
    );
    assert_eq!(f.count("ADD_PUBLIC_IP"), 3);
    assert_eq!(f.takeover_requests().len(), 2);
}

#[test]
fn addip_retries_a_transient_failure() {
    let mut c = with_ips(three_ok());
    c.fail.insert("ADD_PUBLIC_IP", ControlError::new(-1, "Control ADD_PUBLIC_IP failed, ret=-1"));
    c.fail_left.insert("ADD_PUBLIC_IP", 1);
    let f = Fake::start(c);
    let o = f.rctdb(&["addip", "10.0.0.41/24", "eth1"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", "Control ADD_PUBLIC_IP failed, ret=-1\n"));
    assert_eq!(f.count("ADD_PUBLIC_IP"), 2);
    assert_eq!(f.takeover_requests().len(), 1);
}

#[test]
fn delip_deletes_then_reallocates() {
    let f = Fake::start(with_ips(three_ok()));
    silent_ok(&f.rctdb(&["delip", "10.0.0.34", "-n", "2"]));
    assert!(!f.known(2).iter().any(|k| k.0 == addr("10.0.0.34")));
    assert_eq!(f.known(0).len(), 5);
    assert_eq!(f.takeover_requests().len(), 1);
    let o = f.rctdb(&["delip", "10.0.0.34", "-n", "2"]);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (0, "", "Node does not know about IP address 10.0.0.34\n")
    );
    assert_eq!(f.count("DEL_PUBLIC_IP"), 1);
    let v: serde_json::Value = serde_json::from_str(&f.rctdb(&["delip", "fd00::5357:5f01", "--json"]).stdout).unwrap();
    assert_eq!(v, serde_json::json!({"pnn": 0, "address": "fd00::5357:5f01", "result": "deleted"}));
    let o = f.rctdb(&["delip", "10.0.0.0/8"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Invalid IP address 10.0.0.0/8\n"));

    let mut c = with_ips(three_ok());
    c.fail.insert("DEL_PUBLIC_IP", ControlError::new(-1, "Control DEL_PUBLIC_IP failed, ret=-1"));
    let f = Fake::start(c);
    let o = f.rctdb(&["delip", "10.0.0.31"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Control DEL_PUBLIC_IP failed, ret=-1\nFailed to delete public IP from node 0\n")
    );
    assert!(f.takeover_requests().is_empty());
}

#[test]
fn reloadips_on_selected_active_nodes() {
    // Node 2 is disconnected.
    let f = Fake::start(three_nodes());
    let reloads =
        |f: &Fake| -> Vec<u32> { f.log().iter().filter(|(_, c)| *c == "RELOAD_PUBLIC_IPS").map(|(n, _)| *n).collect() };
    silent_ok(&f.rctdb(&["reloadips"]));
    assert_eq!(reloads(&f), vec![0]);
    assert_eq!(f.takeover_requests().len(), 1);
    // Takeover runs are disabled around the reload on the connected nodes.
    assert_eq!(f.disables(), vec![(0, 20), (1, 20), (0, 0), (1, 0)]);
    silent_ok(&f.rctdb(&["reloadips", "all"]));
    assert_eq!(reloads(&f), vec![0, 0, 1]);
    silent_ok(&f.rctdb(&["reloadips", "1,2"]));
    assert_eq!(reloads(&f), vec![0, 0, 1, 1]);
    assert_eq!(f.takeover_requests().len(), 3);
    let v: serde_json::Value = serde_json::from_str(&f.rctdb(&["--json", "reloadips", "all"]).stdout).unwrap();
    assert_eq!(v, serde_json::json!({"nodes": [0, 1], "failed_nodes": [], "leader": 0}));

    let o = f.rctdb(&["reloadips", "0,5"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Node 5 does not exist\n"));
    let o = f.rctdb(&["reloadips", "0,x"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Invalid node x\n"));
    let o = f.rctdb(&["reloadips", "-n", "1"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Node cannot be specified for command reloadips\n"));
}

#[test]
fn reloadips_needs_takeover_runs_disabled() {
    let mut c = three_nodes();
    c.disable_refusal.insert(1, (-11, 1));
    let f = Fake::start(c);
    let o = f.rctdb(&["reloadips", "all"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (11, "", "Failed to disable takeover runs\n"));
    assert!(f.log().iter().all(|(_, c)| *c != "RELOAD_PUBLIC_IPS"));
    assert!(f.takeover_requests().is_empty());
    assert_eq!(f.disables(), vec![(0, 20), (1, 20), (0, 0), (1, 0)]);
}

#[test]
fn reloadips_failure_is_not_fatal() {
    let mut c = three_ok();
    c.fail.insert("RELOAD_PUBLIC_IPS", ControlError::new(22, "Failed to read public_addresses"));
    let f = Fake::start(c);
    let o = f.rctdb(&["reloadips", "all"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout, "");
    assert_eq!(
        o.stderr,
        "Failed to read public_addresses\nFailed to read public_addresses\nFailed to read public_addresses\n\
         Failed to reload IPs on some nodes.\n"
    );
    assert_eq!(f.takeover_requests().len(), 1);
    // The reallocation's failure is the command's.
    f.cluster.lock().unwrap().leader_answer = Some(-1);
    let o = f.rctdb(&["reloadips"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.ends_with("Failed to reload IPs on some nodes.\nFailed to ask leader to distribute IPs\n"),
        "{}",
        o.stderr
    );
}

/// `rctdb ipalloc` reproduces CTDB's takeover test lcp2.001 (nodes 0 and 1
/// unhealthy: everything goes to node 2), with no daemon involved.
#[test]
fn ipalloc_whatif_reproduces_lcp2_001() {
    use std::io::Write as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rctdb"))
        .args(["ipalloc", "--algorithm", "lcp2", "2,2,0", "--log-level", "ERR"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn rctdb");
    let layout = "192.168.20.249 0\n192.168.20.250 1\n192.168.20.251 2\n192.168.20.252 0\n192.168.20.253 1\n\
                  192.168.20.254 2\n192.168.21.252 0\n192.168.21.253 1\n192.168.21.254 2\n";
    child.stdin.take().expect("stdin").write_all(layout.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let expected = "192.168.21.254 2\n192.168.21.253 2\n192.168.21.252 2\n192.168.20.254 2\n192.168.20.253 2\n\
                    192.168.20.252 2\n192.168.20.251 2\n192.168.20.250 2\n192.168.20.249 2\n";
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    // Bad input names the problem and fails.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rctdb"))
        .args(["ipalloc", "--algorithm", "bogus", "0,0"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
}

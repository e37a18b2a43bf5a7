//! The public-IP commands (CTDB §8.8, §8.9, §9.7): `ip [all]`, `ipinfo`,
//! `ifaces`, `setifacelink`, `ipreallocate` (alias `sync`), `gratarp`,
//! `moveip`, `addip`, `delip`, `reloadips`.
//!
//! The pure parts (the TAKEOVER_RUN request and reply, the private reply
//! srvid, which nodes get which control) are free functions with tests;
//! the sequences are methods of the runner's context. Output text comes
//! from `format`.
//!
//! `--json` shapes (stable):
//! * `ip`: see [`format::ip_json`]; `ipinfo`: [`format::ipinfo_json`];
//!   `ifaces`: [`format::ifaces_json`];
//! * `setifacelink`: `{"pnn", "interface", "link": "up"|"down"}`;
//! * `ipreallocate`: `{"leader": pnn}` (the leader that ran the takeover);
//! * `gratarp`: `{"pnn", "address", "interface"}`;
//! * `moveip`: `{"address", "pnn"}`;
//! * `addip`: `{"pnn", "address", "bits", "interfaces", "result": "added"|"already"}`;
//! * `delip`: `{"pnn", "address", "result": "deleted"|"unknown"}`;
//! * `reloadips`: `{"nodes": [pnn], "failed_nodes": [pnn], "leader": pnn}`;
//! * failures, as for every command: `{"error", "status"}` (`ipinfo` of an
//!   unknown address, `setifacelink` of an unknown interface).

use crate::args::NodeSelection;
use crate::format::{self, IpIfaces, IpRow, Stream};
use crate::run::{check_node, line, stdout_result, write_to, Ctx, Failure, Reply, ETIMEDOUT};
use rctdb_client::ClientError;
use rctdb_protocol::{srvid, Control, ControlError, DisableRequest, NodeFlags, NodeMap, Pnn, PublicIpInfo, ReplyData};
use serde_json::json;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// ENOENT: the daemon's code for an unknown address or interface.
const ENOENT: i32 = 2;
/// EINVAL: the daemon's code for a request it refuses outright.
const EINVAL: i32 = 22;
/// `moveip` and `addip` try this many times...
pub const ATTEMPTS: u32 = 5;
/// ...this far apart, as CTDB's tool does.
pub const RETRY_DELAY: Duration = Duration::from_secs(3);

/// The message that asks the leader for a takeover run: the PNN the reply
/// goes to (u32 LE) then the reply srvid (u64 LE); 12 bytes.
pub fn takeover_request(reply_pnn: Pnn, reply_srvid: u64) -> Vec<u8> {
    let mut v = reply_pnn.0.to_le_bytes().to_vec();
    v.extend_from_slice(&reply_srvid.to_le_bytes());
    v
}

/// The leader's answer: an i32 LE, its PNN on success, negative on
/// failure. `None` if malformed.
pub fn takeover_reply(data: &[u8]) -> Option<i32> {
    Some(i32::from_le_bytes(data.get(..4)?.try_into().ok()?))
}

/// A private srvid for replies: `CLIENT_BASE | pid << 16 | counter`, in
/// the client range, distinct per process and per request.
pub fn reply_srvid(pid: u32, counter: u16) -> u64 {
    srvid::CLIENT_BASE | (u64::from(pid) << 16) | u64::from(counter)
}

/// A random starting counter for [`reply_srvid`] (std's hasher keys are
/// random per process).
pub fn random_counter() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish() as u16
}

/// Exit status for a negative reply: the errno it carries if it is one
/// (`-EAGAIN` ⇒ 11), else 1 (CTDB maps -1 to 1).
pub fn failure_status(code: i32) -> i32 {
    match code.checked_neg() {
        Some(n) if (1..=255).contains(&n) => n,
        _ => 1,
    }
}

/// How long `moveip` and `reloadips` disable takeover runs: twice the
/// timelimit (CTDB's choice), in whole seconds, at least 1. They re-enable
/// them when done; the timeout only matters if the tool dies meanwhile.
pub fn disable_seconds(timelimit: Duration) -> u32 {
    let secs = (timelimit * 2).as_millis().div_ceil(1000);
    u32::try_from(secs).unwrap_or(u32::MAX).max(1)
}

/// The answers to DISABLE_TAKEOVER_RUNS sent to `nodes`: every node must
/// have answered with its PNN. The first negative answer (`-EAGAIN`: a
/// takeover run is in progress) is the error, else `-ETIMEDOUT` if a node
/// has not answered.
pub fn disable_outcome(nodes: &[Pnn], answers: &[i32]) -> Result<(), i32> {
    if let Some(&code) = answers.iter().find(|a| **a < 0) {
        return Err(code);
    }
    if nodes.iter().all(|p| answers.contains(&(p.0 as i32))) {
        Ok(())
    } else {
        Err(-ETIMEDOUT)
    }
}

/// Connected nodes (not DISCONNECTED, not deleted), in PNN order.
pub fn connected_nodes(map: &NodeMap) -> Vec<Pnn> {
    map.present().filter(|n| !n.flags.contains(NodeFlags::DISCONNECTED)).map(|n| n.pnn).collect()
}

/// Active nodes (connected and not INACTIVE: not banned, not stopped),
/// in PNN order.
pub fn active_nodes(map: &NodeMap) -> Vec<Pnn> {
    map.present().filter(|n| !n.flags.is_inactive()).map(|n| n.pnn).collect()
}

/// `reloadips`: the nodes to reload, from the selection, keeping only
/// active ones (CTDB reloads active nodes only and skips the rest
/// silently). An unknown PNN in a list is an error.
pub fn reload_targets(map: &NodeMap, sel: &NodeSelection, local: Pnn) -> Result<Vec<Pnn>, String> {
    let wanted: Vec<Pnn> = match sel {
        NodeSelection::This => vec![local],
        NodeSelection::All => map.present().map(|n| n.pnn).collect(),
        NodeSelection::List(list) => {
            if let Some(p) = list.iter().find(|p| map.get(**p).is_none_or(|n| n.flags.contains(NodeFlags::DELETED))) {
                return Err(format!("Node {p} does not exist"));
            }
            list.clone()
        }
    };
    let active = active_nodes(map);
    Ok(wanted.into_iter().filter(|p| active.contains(p)).collect())
}

/// `error` then `context` on the next line, keeping the error's status.
fn with_context(e: ClientError, context: String) -> Failure {
    let f = Failure::from(e);
    Failure { message: format!("{}\n{context}", f.message), ..f }
}

/// A daemon refusal that retrying cannot change.
fn definitive(e: &ClientError) -> bool {
    matches!(e.code(), Some(ENOENT) | Some(EINVAL))
}

impl Ctx<'_> {
    /// Send `control(p)` to every node of `nodes` at once and wait up to
    /// the timelimit for all replies; the failures, in node order.
    fn multi(&mut self, nodes: &[Pnn], control: impl Fn(Pnn) -> Control) -> Result<Vec<(Pnn, Failure)>, Failure> {
        let mut sent = Vec::new();
        for &p in nodes {
            let c = control(p);
            let name = c.name();
            sent.push((p, name, self.client.send_control(self.dest(p), c)?));
        }
        let ids: Vec<u32> = sent.iter().map(|s| s.2).collect();
        let mut replies = self.client.wait_replies(&ids, self.opts.timeout)?;
        let mut failed = Vec::new();
        for (p, name, id) in sent {
            match replies.remove(&id) {
                Some(Ok(_)) => {}
                Some(Err(err)) => failed.push((p, Failure::from(ClientError::Control { control: name, err }))),
                None => failed.push((p, Failure::from(ClientError::Timeout { control: name }))),
            }
        }
        Ok(failed)
    }

    /// Like [`Ctx::multi`] but every node must succeed; the first failure.
    fn multi_all(&mut self, nodes: &[Pnn], control: impl Fn(Pnn) -> Control) -> Result<(), Failure> {
        match self.multi(nodes, control)?.into_iter().next() {
            None => Ok(()),
            Some((_, f)) => Err(f),
        }
    }

    /// `ipreallocate`: ask the leader for a takeover run and wait for its
    /// answer (CTDB §9.7). The request goes to every connected node's
    /// recovery daemon (only the leader acts) with a private reply srvid
    /// registered on this connection; it is re-sent every `-t` until an
    /// answer comes. Without one by the end of `-T` (less a margin, so
    /// this message beats the runtime watchdog's) the command fails with
    /// `Failed to ask leader to distribute IPs`, exit 110; a negative
    /// answer fails with that message and the answer's errno. Returns the
    /// leader's PNN.
    pub(crate) fn ipreallocate(&mut self) -> Result<Pnn, Failure> {
        const FAILED: &str = "Failed to ask leader to distribute IPs";
        self.srvid_counter = self.srvid_counter.wrapping_add(1);
        let reply = reply_srvid(std::process::id(), self.srvid_counter);
        self.client.register_srvid(Pnn::CURRENT, reply).map_err(|e| with_context(e, FAILED.into()))?;
        let request = takeover_request(self.local, reply);
        let result = loop {
            if let Err(e) = self.client.send_message(Pnn::BROADCAST_CONNECTED, srvid::TAKEOVER_RUN, request.clone()) {
                break Err(with_context(e, FAILED.into()));
            }
            let now = Instant::now();
            let until = match self.deadline {
                Some(d) => (now + self.opts.timeout).min(d),
                None => now + self.opts.timeout,
            };
            match self.await_reply(reply, until) {
                Ok(Some(leader)) if leader >= 0 => break Ok(Pnn(leader as u32)),
                Ok(Some(code)) => break Err(Failure { message: FAILED.into(), status: failure_status(code) }),
                Ok(None) => {}
                Err(e) => break Err(with_context(e, FAILED.into())),
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                break Err(Failure { message: FAILED.into(), status: ETIMEDOUT });
            }
        };
        let _ = self.client.control(Pnn::CURRENT, Control::DeregisterSrvid(reply));
        result
    }

    /// DISABLE_TAKEOVER_RUNS for `secs` seconds (0: re-enable) to the
    /// recovery daemon of every node of `nodes`, and wait up to the
    /// timelimit for all of them to confirm (reference §7.6, §8.8). A
    /// refusal (a takeover run is in progress: `-EAGAIN`) or a missing
    /// answer fails with `Failed to disable takeover runs` (or `enable`).
    fn disable_takeover_runs(&mut self, nodes: &[Pnn], secs: u32) -> Result<(), Failure> {
        let failed = if secs == 0 { "Failed to enable takeover runs" } else { "Failed to disable takeover runs" };
        self.srvid_counter = self.srvid_counter.wrapping_add(1);
        let reply = reply_srvid(std::process::id(), self.srvid_counter);
        self.client.register_srvid(Pnn::CURRENT, reply).map_err(|e| with_context(e, failed.into()))?;
        let request = DisableRequest { pnn: self.local, srvid: reply, timeout_secs: secs }.encode();
        let mut answers = Vec::new();
        let mut result = Ok(());
        for &p in nodes {
            if let Err(e) = self.client.send_message(self.dest(p), srvid::DISABLE_TAKEOVER_RUNS, request.clone()) {
                result = Err(with_context(e, failed.into()));
                break;
            }
        }
        if result.is_ok() {
            let until = Instant::now() + self.opts.timeout;
            while answers.len() < nodes.len() {
                match self.await_reply(reply, until) {
                    Ok(Some(a)) => answers.push(a),
                    Ok(None) => break,
                    Err(e) => {
                        result = Err(with_context(e, failed.into()));
                        break;
                    }
                }
            }
            if result.is_ok() {
                result = disable_outcome(nodes, &answers)
                    .map_err(|code| Failure { message: failed.into(), status: failure_status(code) });
            }
        }
        let _ = self.client.control(Pnn::CURRENT, Control::DeregisterSrvid(reply));
        result
    }

    /// Re-enable takeover runs on `nodes` after `disable_takeover_runs`;
    /// a failure is reported on stderr but is not the command's (the
    /// disable times out by itself).
    fn reenable_takeover_runs(&mut self, nodes: &[Pnn]) {
        if let Err(f) = self.disable_takeover_runs(nodes, 0) {
            write_to(Stream::Stderr, &line(&f.message));
        }
    }

    /// The first well-formed message for `srvid` before `until`; other
    /// messages are dropped.
    fn await_reply(&mut self, srvid: u64, until: Instant) -> Result<Option<i32>, ClientError> {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            match self.client.recv_message(left)? {
                None => return Ok(None),
                Some(m) if m.srvid == srvid => {
                    if let Some(v) = takeover_reply(&m.data) {
                        return Ok(Some(v));
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// The addresses `pnn` knows, with the owner it believes each has.
    fn known_ips(&mut self, pnn: Pnn) -> Result<Vec<(IpAddr, Pnn)>, Failure> {
        match self.client.public_ips(self.dest(pnn)) {
            Ok(l) => Ok(l.known),
            Err(e) => Err(with_context(e, format!("Failed to get Public IPs from node {pnn}"))),
        }
    }

    fn ip_info(&mut self, pnn: Pnn, ip: IpAddr) -> Result<PublicIpInfo, ClientError> {
        match self.client.control(self.dest(pnn), Control::GetPublicIpInfo(ip))? {
            ReplyData::PublicIpInfo(i) => Ok(i),
            _ => Err(ClientError::Unexpected { control: "GET_PUBLIC_IP_INFO" }),
        }
    }

    fn iface_list(&mut self, pnn: Pnn) -> Result<Vec<rctdb_protocol::IfaceInfo>, ClientError> {
        match self.client.control(self.dest(pnn), Control::GetIfaces)? {
            ReplyData::Ifaces(i) => Ok(i),
            _ => Err(ClientError::Unexpected { control: "GET_IFACES" }),
        }
    }

    /// `ip [all]` on `pnn`. Without `all`: `pnn`'s addresses and beliefs,
    /// `-v` details from `pnn`. With `all`: every active node's list
    /// merged ([`format::merge_public_ips`]), `-v` details from each
    /// address's owner (none for an unassigned one, as CTDB).
    pub(crate) fn ip(&mut self, pnn: Pnn, all: bool) -> Result<Reply, Failure> {
        let known = if all {
            let map = self.client.nodemap(Pnn::CURRENT)?;
            let nodes = active_nodes(&map);
            let mut ids = Vec::new();
            for &p in &nodes {
                ids.push((p, self.client.send_control(self.dest(p), Control::GetPublicIps)?));
            }
            let reqids: Vec<u32> = ids.iter().map(|i| i.1).collect();
            let mut replies = self.client.wait_replies(&reqids, self.opts.timeout)?;
            let mut per_node = Vec::new();
            for (p, id) in ids {
                let e = match replies.remove(&id) {
                    Some(Ok(ReplyData::PublicIps(l))) => {
                        per_node.push((p, l.known));
                        continue;
                    }
                    Some(Ok(_)) => ClientError::Unexpected { control: "GET_PUBLIC_IPS" },
                    Some(Err(err)) => ClientError::Control { control: "GET_PUBLIC_IPS", err },
                    None => ClientError::Timeout { control: "GET_PUBLIC_IPS" },
                };
                return Err(with_context(e, format!("Failed to get Public IPs from node {p}")));
            }
            format::merge_public_ips(&per_node)
        } else {
            let mut known = self.known_ips(pnn)?;
            format::sort_ips(&mut known);
            known
        };
        let verbose = self.opts.verbose;
        // Held-back addresses are marked; an older rctdbd has no answer.
        let safety = self.client.safety(self.dest(pnn)).unwrap_or_default();
        let mut rows = Vec::with_capacity(known.len());
        for (ip, owner) in known {
            let from = if all { owner } else { pnn };
            let ifaces =
                if verbose && from.is_node() {
                    Some(IpIfaces::from_info(&self.ip_info(from, ip).map_err(|e| {
                        with_context(e, format!("Failed to get public IP info for {ip} from node {from}"))
                    })?))
                } else {
                    None
                };
            let held = format::held_back_reason(&safety, ip);
            rows.push(IpRow { ip, owner, ifaces, held });
        }
        let node = if all { None } else { Some(pnn) };
        let text = match self.machine_sep() {
            Some(sep) => format::ip_machine(&rows, verbose, sep),
            None => format::ip_human(node, &rows, verbose),
        };
        Ok(Reply::new(text, format::ip_json(node, &rows, verbose)))
    }

    /// `ipinfo IP`: unknown ⇒ `Node N does not know about IP X`, exit 1.
    pub(crate) fn ipinfo(&mut self, pnn: Pnn, ip: IpAddr) -> Result<Reply, Failure> {
        match self.ip_info(pnn, ip) {
            // CTDB has no -X form of ipinfo: the same text either way.
            Ok(info) => Ok(Reply::new(format::ipinfo_human(pnn, &info), format::ipinfo_json(pnn, &info))),
            Err(ClientError::Control { err, .. }) => {
                let ours = format!("Node {pnn} does not know about IP {ip}");
                let message = if err.message == ours { ours } else { format!("{}\n{ours}", err.message) };
                Err(Failure::new(message))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `ifaces`.
    pub(crate) fn ifaces(&mut self, pnn: Pnn) -> Result<Reply, Failure> {
        let list = self.iface_list(pnn)?;
        let text = match self.machine_sep() {
            Some(sep) => format::ifaces_machine(pnn, &list, sep),
            None => format::ifaces_human(pnn, &list),
        };
        Ok(Reply::new(text, format::ifaces_json(pnn, &list)))
    }

    /// `setifacelink IFACE up|down`: the interface must be one of the
    /// node's (else `Interface %s not configured on node %u` on stdout,
    /// exit 1, as CTDB). Silent.
    pub(crate) fn setifacelink(&mut self, pnn: Pnn, iface: &str, up: bool) -> Result<Reply, Failure> {
        let not_configured = || stdout_result(format!("Interface {iface} not configured on node {pnn}"), 1);
        if !self.iface_list(pnn)?.iter().any(|i| i.name == iface) {
            return Ok(not_configured());
        }
        match self.client.control(self.dest(pnn), Control::SetIfaceLink { name: iface.to_string(), up }) {
            Ok(_) => {}
            // Gone since we looked.
            Err(e) if e.code() == Some(ENOENT) => return Ok(not_configured()),
            Err(e) => return Err(e.into()),
        }
        let link = if up { "up" } else { "down" };
        Ok(Reply::new(String::new(), json!({ "pnn": pnn.0, "interface": iface, "link": link })))
    }

    /// `ipreallocate` as a command: silent on success.
    pub(crate) fn ipreallocate_command(&mut self) -> Result<Reply, Failure> {
        let leader = self.ipreallocate()?;
        Ok(Reply::new(String::new(), json!({ "leader": leader.0 })))
    }

    /// `gratarp IP IFACE`. Silent.
    pub(crate) fn gratarp(&mut self, pnn: Pnn, ip: IpAddr, iface: &str) -> Result<Reply, Failure> {
        let control = Control::SendGratArp { ip, iface: iface.to_string() };
        if let Err(e) = self.client.control(self.dest(pnn), control) {
            return Err(with_context(e, format!("Unable to send gratuitous arp from node {pnn}")));
        }
        Ok(Reply::new(String::new(), json!({ "pnn": pnn.0, "address": ip.to_string(), "interface": iface })))
    }

    /// `moveip IP PNN` (CTDB §8.8): the target must know the address;
    /// then RELEASE_IP {ip, pnn} to every active node but the target,
    /// TAKEOVER_IP {ip, pnn} to the target, IPREALLOCATED to every
    /// connected node. The sequence is tried up to 5 times, 3 s apart,
    /// each failure printed as it happens; then `Failed to move IP %s to
    /// node %u` with the last failure's status.
    ///
    /// Takeover runs are disabled on every connected node for the move
    /// (for twice the timelimit; all must confirm, a node in the middle of
    /// a run refuses and the attempt fails), so no run can hand the address
    /// elsewhere while it moves; they are re-enabled before IPREALLOCATED.
    /// The next takeover run may still move the address back unless
    /// NoIPFailback=1 (as CTDB documents). The "cannot host" check is done
    /// once, before the attempts: retrying cannot change the answer.
    pub(crate) fn moveip(&mut self, ip: IpAddr, pnn: Pnn) -> Result<Reply, Failure> {
        check_node(&self.client.nodemap(Pnn::CURRENT)?, pnn)?;
        if !self.known_ips(pnn)?.iter().any(|(a, _)| *a == ip) {
            return Err(Failure::new(format!("Node {pnn} CANNOT host IP address {ip}")));
        }
        let mut attempt = 1;
        loop {
            match self.move_once(ip, pnn) {
                Ok(()) => return Ok(Reply::new(String::new(), json!({ "address": ip.to_string(), "pnn": pnn.0 }))),
                Err(f) if attempt >= ATTEMPTS => {
                    return Err(Failure {
                        message: format!("{}\nFailed to move IP {ip} to node {pnn}", f.message),
                        ..f
                    })
                }
                Err(f) => {
                    write_to(Stream::Stderr, &line(&f.message));
                    attempt += 1;
                    std::thread::sleep(RETRY_DELAY);
                }
            }
        }
    }

    fn move_once(&mut self, ip: IpAddr, pnn: Pnn) -> Result<(), Failure> {
        let map = self.client.nodemap(Pnn::CURRENT)?;
        let connected = connected_nodes(&map);
        if let Err(f) = self.disable_takeover_runs(&connected, disable_seconds(self.opts.timeout)) {
            // Those that did confirm need not wait for their timer.
            self.reenable_takeover_runs(&connected);
            return Err(f);
        }
        let moved = self.release_and_take(&map, ip, pnn);
        self.reenable_takeover_runs(&connected);
        moved?;
        self.multi_all(&connected, |_| Control::IpReallocated)
            .map_err(|f| Failure { message: format!("{}\nFailed to send IPREALLOCATED to nodes", f.message), ..f })
    }

    fn release_and_take(&mut self, map: &NodeMap, ip: IpAddr, pnn: Pnn) -> Result<(), Failure> {
        let others: Vec<Pnn> = active_nodes(map).into_iter().filter(|p| *p != pnn).collect();
        self.multi_all(&others, |_| Control::ReleaseIp { ip, new_owner: pnn })
            .map_err(|f| Failure { message: format!("{}\nFailed to release IP on nodes", f.message), ..f })?;
        if let Err(e) = self.client.control(self.dest(pnn), Control::TakeoverIp { ip, owner: pnn }) {
            return Err(with_context(e, format!("Failed to takeover IP on node {pnn}")));
        }
        Ok(())
    }

    /// `addip IP/BITS IFACES` on `pnn` (CTDB §8.9): already known ⇒
    /// stderr `Node already knows about IP %s`, exit 0. ADD_PUBLIC_IP is
    /// tried up to 5 times, 3 s apart, as CTDB, except that a definitive
    /// refusal (ENOENT: no such interface, EINVAL: invalid) is not
    /// retried. Then `ipreallocate` (CTDB sends REBALANCE_NODE and leaves
    /// the reallocation to the recovery daemon; the docs advise a
    /// following `ipreallocate`, which rctdb does at once). Silent.
    pub(crate) fn addip(&mut self, pnn: Pnn, ip: IpAddr, bits: u8, ifaces: &[String]) -> Result<Reply, Failure> {
        let json = |result: &str| json!({ "pnn": pnn.0, "address": ip.to_string(), "bits": bits, "interfaces": ifaces, "result": result });
        if self.known_ips(pnn)?.iter().any(|(a, _)| *a == ip) {
            let message = format!("Node already knows about IP {ip}");
            return Ok(Reply { text: vec![(Stream::Stderr, line(&message))], json: json("already"), status: 0 });
        }
        let mut attempt = 1;
        loop {
            let control = Control::AddPublicIp { ip, bits, ifaces: ifaces.to_vec() };
            match self.client.control(self.dest(pnn), control) {
                Ok(_) => break,
                Err(e) if attempt >= ATTEMPTS || definitive(&e) => {
                    return Err(with_context(e, format!("Failed to add public IP to node {pnn}. Giving up")));
                }
                Err(e) => {
                    write_to(Stream::Stderr, &line(&e.to_string()));
                    attempt += 1;
                    std::thread::sleep(RETRY_DELAY);
                }
            }
        }
        self.ipreallocate()?;
        Ok(Reply::new(String::new(), json("added")))
    }

    /// `delip IP` on `pnn`: unknown ⇒ stderr `Node does not know about IP
    /// address %s`, exit 0; else DEL_PUBLIC_IP, then `ipreallocate` (which
    /// moves the address away if the node holds it). Silent.
    pub(crate) fn delip(&mut self, pnn: Pnn, ip: IpAddr) -> Result<Reply, Failure> {
        let json = |result: &str| json!({ "pnn": pnn.0, "address": ip.to_string(), "result": result });
        if !self.known_ips(pnn)?.iter().any(|(a, _)| *a == ip) {
            let message = format!("Node does not know about IP address {ip}");
            return Ok(Reply { text: vec![(Stream::Stderr, line(&message))], json: json("unknown"), status: 0 });
        }
        match self.client.control(self.dest(pnn), Control::DelPublicIp(ip)) {
            Ok(_) => {}
            // Gone since we looked: nothing to delete.
            Err(ClientError::Control { err: ControlError { code: ENOENT, .. }, .. }) => {
                let message = format!("Node does not know about IP address {ip}");
                return Ok(Reply { text: vec![(Stream::Stderr, line(&message))], json: json("unknown"), status: 0 });
            }
            Err(e) => return Err(with_context(e, format!("Failed to delete public IP from node {pnn}"))),
        }
        self.ipreallocate()?;
        Ok(Reply::new(String::new(), json("deleted")))
    }

    /// `reloadips [all|PNN-LIST]` (default: this node; CTDB §8.9):
    /// takeover runs are disabled on every connected node (for twice the
    /// timelimit; all must confirm, else `Failed to disable takeover
    /// runs`), RELOAD_PUBLIC_IPS goes to the selected active nodes (a
    /// failure prints the errors and `Failed to reload IPs on some nodes.`
    /// but goes on), takeover runs are re-enabled, then `ipreallocate`,
    /// whose result is the command's. So no run works from a half-reloaded
    /// set of addresses.
    pub(crate) fn reloadips(&mut self, sel: &NodeSelection) -> Result<Reply, Failure> {
        let map = self.client.nodemap(Pnn::CURRENT)?;
        let targets = reload_targets(&map, sel, self.local).map_err(Failure::new)?;
        let connected = connected_nodes(&map);
        if let Err(f) = self.disable_takeover_runs(&connected, disable_seconds(self.opts.timeout)) {
            self.reenable_takeover_runs(&connected);
            return Err(f);
        }
        let failed = self.multi(&targets, |_| Control::ReloadPublicIps);
        self.reenable_takeover_runs(&connected);
        let failed = failed?;
        let mut text = Vec::new();
        if !failed.is_empty() {
            for (_, f) in &failed {
                text.push((Stream::Stderr, line(&f.message)));
            }
            text.push((Stream::Stderr, line("Failed to reload IPs on some nodes.")));
        }
        let leader = match self.ipreallocate() {
            Ok(l) => l,
            // The reload's messages come first.
            Err(f) => {
                let before: String = text.iter().map(|(_, t)| t.as_str()).collect();
                return Err(Failure { message: format!("{before}{}", f.message), ..f });
            }
        };
        let failed: Vec<u32> = failed.iter().map(|(p, _)| p.0).collect();
        let nodes: Vec<u32> = targets.iter().map(|p| p.0).collect();
        Ok(Reply { text, json: json!({ "nodes": nodes, "failed_nodes": failed, "leader": leader.0 }), status: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rctdb_protocol::NodeInfo;

    fn map(flags: &[u32]) -> NodeMap {
        NodeMap {
            nodes: flags
                .iter()
                .enumerate()
                .map(|(i, &f)| NodeInfo {
                    pnn: Pnn(i as u32),
                    addr: format!("10.1.0.{}", i + 1).parse().unwrap(),
                    flags: NodeFlags(f),
                })
                .collect(),
        }
    }

    #[test]
    fn takeover_request_layout() {
        let r = takeover_request(Pnn(2), 0xBE00_0000_1234_0001);
        assert_eq!(r.len(), 12);
        assert_eq!(r, [2, 0, 0, 0, 0x01, 0x00, 0x34, 0x12, 0x00, 0x00, 0x00, 0xBE]);
    }

    #[test]
    fn takeover_reply_values() {
        assert_eq!(takeover_reply(&1i32.to_le_bytes()), Some(1));
        assert_eq!(takeover_reply(&(-11i32).to_le_bytes()), Some(-11));
        assert_eq!(takeover_reply(&[0, 0, 0]), None);
        assert_eq!(takeover_reply(&[]), None);
        // Trailing bytes are ignored.
        assert_eq!(takeover_reply(&[3, 0, 0, 0, 9]), Some(3));
    }

    #[test]
    fn reply_srvid_is_in_the_client_range() {
        let s = reply_srvid(4_194_304, 0xffff);
        assert_eq!(s >> 56, 0xBE);
        assert_eq!(s, 0xBE00_0000_0000_0000 | (4_194_304u64 << 16) | 0xffff);
        assert_ne!(reply_srvid(77, 1), reply_srvid(77, 2));
        assert_ne!(reply_srvid(77, 1), reply_srvid(78, 1));
    }

    #[test]
    fn negative_answers_become_exit_statuses() {
        assert_eq!(failure_status(-1), 1);
        assert_eq!(failure_status(-11), 11);
        assert_eq!(failure_status(-110), 110);
        assert_eq!(failure_status(-1000), 1);
        assert_eq!(failure_status(i32::MIN), 1);
    }

    #[test]
    fn disable_timeout_is_twice_the_timelimit_in_whole_seconds() {
        assert_eq!(disable_seconds(Duration::from_secs(10)), 20);
        assert_eq!(disable_seconds(Duration::from_millis(300)), 1);
        assert_eq!(disable_seconds(Duration::from_millis(1200)), 3);
        assert_eq!(disable_seconds(Duration::ZERO), 1);
        assert_eq!(disable_seconds(Duration::from_secs(u64::MAX / 4)), u32::MAX);
    }

    #[test]
    fn disable_answers() {
        let nodes = [Pnn(0), Pnn(1), Pnn(2)];
        assert_eq!(disable_outcome(&nodes, &[2, 0, 1]), Ok(()));
        assert_eq!(disable_outcome(&nodes, &[2, 0]), Err(-ETIMEDOUT));
        assert_eq!(disable_outcome(&nodes, &[2, 0, 0]), Err(-ETIMEDOUT));
        assert_eq!(disable_outcome(&nodes, &[2, -11, 1]), Err(-11));
        assert_eq!(disable_outcome(&[], &[]), Ok(()));
        assert_eq!(failure_status(-11), 11);
    }

    #[test]
    fn node_lists() {
        // OK, DISCONNECTED|INACTIVE, BANNED|INACTIVE, DELETED, UNHEALTHY, STOPPED.
        let m = map(&[0, 0x01, 0x08, 0x10, 0x02, 0x20]);
        assert_eq!(connected_nodes(&m), vec![Pnn(0), Pnn(2), Pnn(4), Pnn(5)]);
        assert_eq!(active_nodes(&m), vec![Pnn(0), Pnn(4)]);
    }

    #[test]
    fn reload_selection() {
        let m = map(&[0, 0x01, 0x08, 0x10, 0x02]);
        assert_eq!(reload_targets(&m, &NodeSelection::This, Pnn(4)), Ok(vec![Pnn(4)]));
        assert_eq!(reload_targets(&m, &NodeSelection::All, Pnn(0)), Ok(vec![Pnn(0), Pnn(4)]));
        assert_eq!(
            reload_targets(&m, &NodeSelection::List(vec![Pnn(4), Pnn(1), Pnn(0)]), Pnn(0)),
            Ok(vec![Pnn(4), Pnn(0)])
        );
        assert_eq!(
            reload_targets(&m, &NodeSelection::List(vec![Pnn(0), Pnn(9)]), Pnn(0)),
            Err("Node 9 does not exist".into())
        );
        assert_eq!(reload_targets(&m, &NodeSelection::List(vec![Pnn(3)]), Pnn(0)), Err("Node 3 does not exist".into()));
    }

    #[test]
    fn retry_policy() {
        assert_eq!((ATTEMPTS, RETRY_DELAY), (5, Duration::from_secs(3)));
        let refusal = |code| ClientError::Control { control: "ADD_PUBLIC_IP", err: ControlError::new(code, "x") };
        assert!(definitive(&refusal(ENOENT)));
        assert!(definitive(&refusal(EINVAL)));
        assert!(!definitive(&refusal(-1)));
        assert!(!definitive(&refusal(11)));
        assert!(!definitive(&ClientError::Timeout { control: "ADD_PUBLIC_IP" }));
    }
}

//! Fencing and the hold-back rule: when may the leader give a lost node's
//! public addresses to someone else?
//!
//! [`decide`] is the rule, pure. [`Fencer`] runs the operator's fence
//! command (one process group per attempt, killed at its timeout, output
//! logged as `fence[pid]`) and remembers per node whether it is fenced.

use log::{error, info};
use mio::unix::pipe::Receiver;
use mio::{Interest, Registry, Token};
use rctdb_protocol::Pnn;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A failed attempt is retried after this.
pub const RETRY: Duration = Duration::from_secs(1);
/// At most this much of a fence program's output is logged.
const MAX_OUTPUT: usize = 16 * 1024;

/// What the leader knows about a node that is no longer connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    /// How long ago our rctdbd last granted it a lease.
    pub granted_ago: Option<Duration>,
    /// Its host refused a connection since: rctdbd is not running there
    /// (and its recovery daemon removed the addresses).
    pub refused: bool,
    /// It shut down cleanly, holding nothing.
    pub goodbye: bool,
}

/// The timing inputs of the lease rule.
#[derive(Debug, Clone, Copy)]
pub struct LeaseRule {
    pub lease_time: Duration,
    /// How long a former leader's rctdbd may go on granting after its
    /// recovery daemon stopped claiming the lead.
    pub claim_validity: Duration,
    /// When this recovery daemon became leader.
    pub leader_since: Instant,
}

impl LeaseRule {
    /// Safety margin on top of the lease: clock-rate drift, transit of a
    /// TAKEOVER_IP, scheduling delays.
    pub fn margin(&self) -> Duration {
        self.lease_time / 2
    }
}

/// May the lost node's addresses be assigned elsewhere?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Free,
    /// Not until the fence command has succeeded for it.
    Fence,
    /// Not before this instant: its lease has surely expired then.
    Lease(Instant),
}

/// The hold-back rule (see `docs/fencing.md`).
///
/// * A clean goodbye, or a successful fence: free.
/// * A fence command is configured: fence first, whatever else we know.
/// * No fence command, and the node's host refused a connection: free
///   (rctdbd is gone there and its recovery daemon removed the addresses).
/// * Otherwise wait until its lease has surely expired: it was granted at
///   the latest at our last grant, or, for grants by a former leader, no
///   later than `claim_validity` after we took the lead.
pub fn decide(lost: Lost, fence_configured: bool, fenced: bool, rule: &LeaseRule, now: Instant) -> Decision {
    if lost.goodbye || fenced {
        return Decision::Free;
    }
    if fence_configured {
        return Decision::Fence;
    }
    if lost.refused {
        return Decision::Free;
    }
    let former = rule.leader_since + rule.claim_validity;
    let ours = lost.granted_ago.and_then(|ago| now.checked_sub(ago));
    let last = ours.map_or(former, |g| g.max(former));
    let until = last + rule.lease_time + rule.margin();
    if now >= until {
        Decision::Free
    } else {
        Decision::Lease(until)
    }
}

/// One fence attempt in progress.
struct Attempt {
    pid: i32,
    started: Instant,
    deadline: Instant,
    output: Option<(Token, Receiver)>,
    text: Vec<u8>,
    killed: bool,
}

#[derive(Default)]
struct NodeFence {
    attempts: u32,
    fenced: bool,
    next_try: Option<Instant>,
    last_error: Option<String>,
    running: Option<Attempt>,
}

pub struct Fencer {
    program: Option<PathBuf>,
    timeout: Duration,
    nodes: BTreeMap<Pnn, NodeFence>,
    next_token: usize,
    first_token: usize,
}

impl Fencer {
    pub fn new(program: Option<PathBuf>, timeout: Duration, first_token: usize) -> Fencer {
        Fencer { program, timeout, nodes: BTreeMap::new(), next_token: first_token, first_token }
    }

    pub fn configured(&self) -> bool {
        self.program.is_some()
    }

    pub fn is_fenced(&self, pnn: Pnn) -> bool {
        self.nodes.get(&pnn).is_some_and(|n| n.fenced)
    }

    /// Another recovery daemon fenced it.
    pub fn mark_fenced(&mut self, pnn: Pnn) {
        self.nodes.entry(pnn).or_default().fenced = true;
    }

    /// It is connected again: a later loss needs a new fence.
    pub fn forget(&mut self, pnn: Pnn) {
        if self.nodes.get(&pnn).is_some_and(|n| n.running.is_none()) {
            self.nodes.remove(&pnn);
        }
    }

    pub fn owns_token(&self, t: Token) -> bool {
        t.0 >= self.first_token
    }

    /// Words for `status`: what the addresses of `pnn` wait for.
    pub fn describe(&self, pnn: Pnn) -> String {
        match self.nodes.get(&pnn) {
            Some(n) if n.running.is_some() => format!("waiting for the fence command (attempt {})", n.attempts + 1),
            Some(n) => match &n.last_error {
                Some(e) => format!("waiting for the fence command ({} failed, last: {e})", n.attempts),
                None => "waiting for the fence command".to_string(),
            },
            None => "waiting for the fence command".to_string(),
        }
    }

    /// Start a fence of `pnn` unless one runs or failed less than
    /// [`RETRY`] ago.
    pub fn ensure(&mut self, registry: &Registry, pnn: Pnn, addr: IpAddr, ips: &[IpAddr], now: Instant) {
        let Some(program) = self.program.clone() else { return };
        let n = self.nodes.entry(pnn).or_default();
        if n.fenced || n.running.is_some() || n.next_try.is_some_and(|t| now < t) {
            return;
        }
        let ip_words: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
        info!("Fencing node {pnn} ({addr}): running {}", program.display());
        match spawn(&program, pnn, addr, &ip_words) {
            Ok((pid, rx)) => {
                let token = Token(self.next_token);
                self.next_token += 1;
                let mut rx = rx;
                let output = match registry.register(&mut rx, token, Interest::READABLE) {
                    Ok(()) => Some((token, rx)),
                    Err(_) => None,
                };
                n.running = Some(Attempt {
                    pid,
                    started: now,
                    deadline: now + self.timeout,
                    output,
                    text: Vec::new(),
                    killed: false,
                });
            }
            Err(e) => {
                n.attempts += 1;
                let msg = format!("cannot run {}: {e}", program.display());
                error!("Fence of node {pnn} failed: {msg} (attempt {}); its addresses stay unassigned", n.attempts);
                n.last_error = Some(msg);
                n.next_try = Some(now + RETRY);
            }
        }
    }

    /// Output from a fence program.
    pub fn on_readable(&mut self, token: Token) {
        for n in self.nodes.values_mut() {
            let Some(a) = n.running.as_mut() else { continue };
            let Some((t, rx)) = a.output.as_mut() else { continue };
            if *t != token {
                continue;
            }
            let mut buf = [0u8; 4096];
            loop {
                match rx.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => {
                        let room = MAX_OUTPUT.saturating_sub(a.text.len());
                        a.text.extend_from_slice(&buf[..k.min(room)]);
                    }
                    Err(_) => break,
                }
            }
        }
    }

    /// Kill attempts past their deadline (the whole process group).
    pub fn on_timeout(&mut self, now: Instant) {
        for (pnn, n) in self.nodes.iter_mut() {
            let Some(a) = n.running.as_mut() else { continue };
            if now >= a.deadline && !a.killed {
                error!("Fence of node {pnn} timed out after {:?}: killed", now.duration_since(a.started));
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(a.pid), nix::sys::signal::Signal::SIGKILL);
                a.killed = true;
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.nodes.values().filter_map(|n| n.running.as_ref().filter(|a| !a.killed).map(|a| a.deadline)).min()
    }

    /// A child was reaped. Returns `(pnn, succeeded)` if it was a fence
    /// program.
    pub fn reaped(
        &mut self,
        registry: &Registry,
        pid: i32,
        status: &nix::sys::wait::WaitStatus,
        now: Instant,
    ) -> Option<(Pnn, bool)> {
        use nix::sys::wait::WaitStatus;
        let (&pnn, n) = self.nodes.iter_mut().find(|(_, n)| n.running.as_ref().is_some_and(|a| a.pid == pid))?;
        let mut a = n.running.take()?;
        if let Some((_, mut rx)) = a.output.take() {
            let mut buf = [0u8; 4096];
            while let Ok(k) = rx.read(&mut buf) {
                if k == 0 {
                    break;
                }
                let room = MAX_OUTPUT.saturating_sub(a.text.len());
                a.text.extend_from_slice(&buf[..k.min(room)]);
            }
            let _ = registry.deregister(&mut rx);
        }
        let target = format!("fence[{pid}]");
        for line in String::from_utf8_lossy(&a.text).lines() {
            log::info!(target: &target, "{line}");
        }
        let took = now.duration_since(a.started);
        let failure = match status {
            WaitStatus::Exited(_, 0) if !a.killed => None,
            _ if a.killed => Some(format!("timed out after {took:?}")),
            WaitStatus::Exited(_, code) => Some(format!("exit status {code}")),
            WaitStatus::Signaled(_, sig, _) => Some(format!("killed by signal {sig}")),
            other => Some(format!("{other:?}")),
        };
        match failure {
            None => {
                info!("Fence of node {pnn} succeeded in {took:.2?}");
                n.fenced = true;
                n.last_error = None;
                Some((pnn, true))
            }
            Some(why) => {
                n.attempts += 1;
                error!("Fence of node {pnn} failed: {why} (attempt {}); its addresses stay unassigned", n.attempts);
                n.last_error = Some(why);
                n.next_try = Some(now + RETRY);
                Some((pnn, false))
            }
        }
    }

    /// Kill every running attempt (we are exiting).
    pub fn kill_all(&mut self) {
        for n in self.nodes.values_mut() {
            if let Some(a) = n.running.as_ref() {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(a.pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

fn spawn(program: &PathBuf, pnn: Pnn, addr: IpAddr, ips: &[String]) -> std::io::Result<(i32, Receiver)> {
    use std::os::unix::process::CommandExt;
    let (tx, rx) = mio::unix::pipe::new()?;
    tx.set_nonblocking(false)?;
    let tx: std::os::fd::OwnedFd = tx.into();
    let tx2 = tx.try_clone()?;
    let child = std::process::Command::new(program)
        .arg(pnn.0.to_string())
        .arg(addr.to_string())
        .args(ips)
        .env("RCTDB_FENCE_PNN", pnn.0.to_string())
        .env("RCTDB_FENCE_ADDRESS", addr.to_string())
        .env("RCTDB_FENCE_IPS", ips.join(" "))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(tx))
        .stderr(std::process::Stdio::from(tx2))
        .process_group(0)
        .spawn()?;
    let pid = child.id() as i32;
    // Reaped by the recovery daemon's waitpid loop.
    drop(child);
    Ok((pid, rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(t0: Instant) -> LeaseRule {
        LeaseRule { lease_time: Duration::from_secs(10), claim_validity: Duration::from_secs(3), leader_since: t0 }
    }

    fn lost(ago: Option<u64>) -> Lost {
        Lost { granted_ago: ago.map(Duration::from_secs), refused: false, goodbye: false }
    }

    #[test]
    fn goodbye_and_fenced_nodes_are_free() {
        let t0 = Instant::now();
        let bye = Lost { goodbye: true, ..lost(Some(1)) };
        assert_eq!(decide(bye, true, false, &rule(t0), t0), Decision::Free);
        assert_eq!(decide(lost(Some(1)), true, true, &rule(t0), t0), Decision::Free);
    }

    #[test]
    fn a_fence_command_is_always_awaited() {
        let t0 = Instant::now();
        let refused = Lost { refused: true, ..lost(None) };
        assert_eq!(decide(refused, true, false, &rule(t0), t0 + Duration::from_secs(3600)), Decision::Fence);
    }

    #[test]
    fn without_fence_a_refusing_host_is_free() {
        let t0 = Instant::now();
        let refused = Lost { refused: true, ..lost(Some(0)) };
        assert_eq!(decide(refused, false, false, &rule(t0), t0), Decision::Free);
    }

    #[test]
    fn lease_bound_counts_from_our_last_grant() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(100);
        // Granted 2 s ago: free at now - 2 + 10 + 5.
        assert_eq!(decide(lost(Some(2)), false, false, &rule(t0), now), Decision::Lease(now + Duration::from_secs(13)));
        assert_eq!(decide(lost(Some(15)), false, false, &rule(t0), now), Decision::Free);
    }

    #[test]
    fn a_new_leader_waits_for_grants_of_the_old_one() {
        let t0 = Instant::now();
        // We never granted it anything and became leader 1 s ago: a former
        // leader may have granted until t0 + 3 s.
        let now = t0 + Duration::from_secs(1);
        assert_eq!(decide(lost(None), false, false, &rule(t0), now), Decision::Lease(t0 + Duration::from_secs(18)));
        // Our own old grant does not shorten that.
        assert_eq!(decide(lost(Some(1)), false, false, &rule(t0), now), Decision::Lease(t0 + Duration::from_secs(18)));
    }
}

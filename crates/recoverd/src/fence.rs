//! Fencing: [`Fencer`] runs the operator's fence command (one process
//! group per attempt, killed at its timeout, output logged as
//! `fence[pid]`) and remembers per node whether it is fenced. The rule
//! that says when a fence is needed is `rctdb_lease::decide`.

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
            Some(n) if n.fenced => "fenced".to_string(),
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

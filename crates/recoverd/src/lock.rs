//! The cluster-lock helper process, seen from the recovery daemon.
//!
//! The helper is started with stdin a pipe whose write end only we hold
//! (when we die it reads EOF and exits, releasing the lock) and stdout a
//! pipe on which it writes its one status byte. We never wait for it: its
//! answer arrives through the poll loop, and an answer that does not come
//! within the timeout gets the helper SIGKILLed and counted as a timeout.
//! A new helper is only started once the previous one has been reaped, so
//! however often an attempt hangs, at most one helper is ever alive.

use crate::leader::LockOutcome;
use log::{error, info, warn};
use mio::unix::pipe::Receiver;
use mio::{Interest, Registry, Token};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// What the helper told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockEvent {
    Answer(LockOutcome),
    /// The helper went away after reporting the lock held.
    Lost,
}

struct Running {
    pid: i32,
    stdout: Option<Receiver>,
    /// Write end of the helper's stdin; dropped to make it exit.
    lifeline: Option<OwnedFd>,
    deadline: Instant,
    answered: bool,
    held: bool,
}

pub struct LockHelper {
    argv: Vec<String>,
    token: Token,
    timeout: Duration,
    child: Option<Running>,
}

impl LockHelper {
    pub fn new(argv: Vec<String>, token: Token, timeout: Duration) -> LockHelper {
        LockHelper { argv, token, timeout, child: None }
    }

    /// Start an attempt. `Ok(false)` if the previous helper has not been
    /// reaped yet (the caller counts the attempt as failed and retries).
    pub fn start(&mut self, registry: &Registry, now: Instant) -> io::Result<bool> {
        if self.child.is_some() {
            warn!("Previous cluster lock helper still alive: not starting another");
            return Ok(false);
        }
        let (stdin_rx, stdin_tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let (out_tx, mut out_rx) = mio::unix::pipe::new()?;
        out_tx.set_nonblocking(false)?;
        let out_tx: OwnedFd = out_tx.into();
        let child = std::process::Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .stdin(std::process::Stdio::from(stdin_rx))
            .stdout(std::process::Stdio::from(out_tx))
            .spawn()?;
        let pid = child.id() as i32;
        drop(child);
        registry.register(&mut out_rx, self.token, Interest::READABLE)?;
        self.child = Some(Running {
            pid,
            stdout: Some(out_rx),
            lifeline: Some(stdin_tx),
            deadline: now + self.timeout,
            answered: false,
            held: false,
        });
        info!("Started cluster lock helper (pid {pid}): {}", self.argv.join(" "));
        Ok(true)
    }

    /// Deadline for the pending answer, if one is pending.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.child.as_ref().filter(|c| !c.answered).map(|c| c.deadline)
    }

    /// The helper's stdout is readable.
    pub fn on_readable(&mut self, registry: &Registry) -> Option<LockEvent> {
        let c = self.child.as_mut()?;
        let rx = c.stdout.as_mut()?;
        let mut buf = [0u8; 64];
        let eof = loop {
            match rx.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) if !c.answered => {
                    c.answered = true;
                    let outcome = match buf[0] {
                        b'0' => LockOutcome::Held,
                        b'1' => LockOutcome::Contended,
                        b'2' => LockOutcome::Timeout,
                        b'3' => LockOutcome::Error,
                        other => {
                            error!("Cluster lock helper wrote unexpected byte {other:#04x}");
                            LockOutcome::Error
                        }
                    };
                    c.held = outcome == LockOutcome::Held;
                    if n > 1 {
                        warn!("Cluster lock helper wrote {} bytes after its answer", n - 1);
                    }
                    return Some(LockEvent::Answer(outcome));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        if !eof {
            return None;
        }
        if let Some(mut rx) = c.stdout.take() {
            let _ = registry.deregister(&mut rx);
        }
        if !c.answered {
            c.answered = true;
            error!("Cluster lock helper (pid {}) exited without an answer", c.pid);
            return Some(LockEvent::Answer(LockOutcome::Error));
        }
        if c.held {
            c.held = false;
            error!("Cluster lock helper terminated: cluster lock lost");
            return Some(LockEvent::Lost);
        }
        None
    }

    /// Kill a helper that did not answer in time.
    pub fn on_timeout(&mut self, registry: &Registry, now: Instant) -> Option<LockEvent> {
        let c = self.child.as_mut()?;
        if c.answered || now < c.deadline {
            return None;
        }
        error!("Cluster lock helper (pid {}) did not answer within {:?}: killing it", c.pid, self.timeout);
        c.answered = true;
        let _ = kill(Pid::from_raw(c.pid), Signal::SIGKILL);
        if let Some(mut rx) = c.stdout.take() {
            let _ = registry.deregister(&mut rx);
        }
        c.lifeline = None;
        Some(LockEvent::Answer(LockOutcome::Timeout))
    }

    /// Give the lock up: SIGTERM the helper and cut its lifeline.
    pub fn release(&mut self, registry: &Registry) {
        let Some(c) = self.child.as_mut() else { return };
        info!("Releasing the cluster lock (helper pid {})", c.pid);
        let _ = kill(Pid::from_raw(c.pid), Signal::SIGTERM);
        c.lifeline = None;
        c.answered = true;
        c.held = false;
        if let Some(mut rx) = c.stdout.take() {
            let _ = registry.deregister(&mut rx);
        }
    }

    /// A child was reaped. If it was the helper and it still held the
    /// lock (its pipe had not told us yet), the lock is lost.
    pub fn reaped(&mut self, registry: &Registry, pid: i32) -> (bool, Option<LockEvent>) {
        if self.child.as_ref().map(|c| c.pid) != Some(pid) {
            return (false, None);
        }
        // Read whatever it said before it went.
        let said = self.on_readable(registry);
        let Some(c) = self.child.take() else { return (true, said) };
        if said.is_some() {
            return (true, said);
        }
        if !c.answered {
            error!("Cluster lock helper (pid {pid}) exited without an answer");
            return (true, Some(LockEvent::Answer(LockOutcome::Error)));
        }
        if c.held {
            error!("Cluster lock helper terminated: cluster lock lost");
            return (true, Some(LockEvent::Lost));
        }
        (true, None)
    }
}

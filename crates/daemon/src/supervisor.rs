//! Supervision of the recovery daemon, `rctdb-recoverd`.
//!
//! rctdbd starts it once `setup` has run, restarts it shortly after it
//! dies (we hear of the death at once through SIGCHLD, rather than CTDB's
//! 30-second pid check), and stops it with SIGTERM on shutdown (it releases
//! the cluster lock on the way out). The child's stdin is the read end of a
//! pipe whose write end only rctdbd holds: when rctdbd dies, for whatever
//! reason, the recovery daemon reads EOF and exits.

use log::{error, info, warn};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Wait before restarting a recovery daemon that died.
const RESTART_DELAY: Duration = Duration::from_millis(200);

pub struct Supervisor {
    program: PathBuf,
    env: Vec<(String, String)>,
    pid: Option<i32>,
    /// Our end of the child's stdin pipe; dropping it tells the child to go.
    lifeline: Option<OwnedFd>,
    start_at: Option<Instant>,
    stopping: bool,
}

impl Supervisor {
    pub fn new(program: PathBuf, env: Vec<(String, String)>) -> Supervisor {
        Supervisor { program, env, pid: None, lifeline: None, start_at: None, stopping: false }
    }

    /// Start as soon as the loop next runs its timers.
    pub fn start_soon(&mut self, now: Instant) {
        if self.pid.is_none() && !self.stopping {
            self.start_at = Some(now);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.start_at
    }

    /// Start it if due.
    pub fn tick(&mut self, now: Instant) {
        if self.start_at.is_some_and(|t| now >= t) {
            self.start_at = None;
            if let Err(e) = self.spawn() {
                error!("Failed to start recovery daemon {}: {e}", self.program.display());
                self.start_at = Some(now + Duration::from_secs(1));
            }
        }
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let child = std::process::Command::new(&self.program)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::from(rx))
            .spawn()?;
        let pid = child.id() as i32;
        drop(child);
        info!("Started recovery daemon (pid {pid})");
        self.pid = Some(pid);
        self.lifeline = Some(tx);
        Ok(())
    }

    /// A child was reaped; true if it was the recovery daemon.
    pub fn reaped(&mut self, pid: i32, now: Instant, how: &str) -> bool {
        if self.pid != Some(pid) {
            return false;
        }
        self.pid = None;
        self.lifeline = None;
        if !self.stopping {
            warn!("Recovery daemon (pid {pid}) {how}: restarting it");
            self.start_at = Some(now + RESTART_DELAY);
        }
        true
    }

    /// Stop for good (shutdown): SIGTERM, which it takes as a clean stop
    /// (release the lock, exit 0). The lifeline stays open so that it does
    /// not mistake the stop for our death.
    pub fn stop(&mut self) {
        self.stopping = true;
        self.start_at = None;
        if let Some(pid) = self.pid {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }

    /// On the way out: give a stopped recovery daemon up to `limit` to
    /// finish, so that it sees a clean stop rather than its parent's death.
    pub fn wait_stopped(&mut self, limit: Duration) {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        let Some(pid) = self.pid else { return };
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(5)),
                _ => break,
            }
        }
        self.pid = None;
        self.lifeline = None;
    }
}

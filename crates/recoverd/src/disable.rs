//! Disabling takeover runs for a while (reference §7.6), as a state
//! machine with time as an input: `handle_request(now, ..)` for a
//! DISABLE_TAKEOVER_RUNS message, `handle_timeout(now)` when
//! `poll_timeout()` passes.
//!
//! While disabled the leader starts no takeover run and no node asks for
//! one or checks its own addresses (§7.7 step 2). A request to disable
//! fails with `-EAGAIN` while a run is in progress: the sender (`rctdb
//! moveip`, `reloadips`) must not believe no run can touch the addresses
//! while one is doing so. A request with timeout 0 re-enables at once.

use std::time::{Duration, Instant};

/// EAGAIN: a takeover run is in progress, try again.
pub const EAGAIN: i32 = 11;

/// What answering a request did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Disabled (or the timer moved) for this many seconds.
    Disabled(u32),
    /// Re-enabled by a 0 timeout (`was_disabled`: it had been disabled).
    Reenabled { was_disabled: bool },
    /// Refused: a takeover run is in progress.
    Busy,
}

/// The switch. A new disable replaces the deadline of the previous one
/// (CTDB restarts its timer), whether later or earlier.
#[derive(Debug, Default, Clone)]
pub struct TakeoverRunsSwitch {
    until: Option<Instant>,
}

impl TakeoverRunsSwitch {
    /// A DISABLE_TAKEOVER_RUNS request: the outcome, and the answer for
    /// the sender (`own` PNN, or `-EAGAIN`).
    pub fn handle_request(
        &mut self,
        now: Instant,
        timeout_secs: u32,
        run_in_progress: bool,
        own: u32,
    ) -> (Outcome, i32) {
        if timeout_secs == 0 {
            let was_disabled = self.until.take().is_some_and(|t| now < t);
            return (Outcome::Reenabled { was_disabled }, own as i32);
        }
        if run_in_progress {
            return (Outcome::Busy, -EAGAIN);
        }
        self.until = Some(now + Duration::from_secs(u64::from(timeout_secs)));
        (Outcome::Disabled(timeout_secs), own as i32)
    }

    /// Are takeover runs disabled at `now`?
    pub fn is_disabled(&self, now: Instant) -> bool {
        self.until.is_some_and(|t| now < t)
    }

    /// When the timer fires, if it is running.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.until
    }

    /// True once, when the timer has run out ("Reenabling takeover runs
    /// after timeout").
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        match self.until {
            Some(t) if now >= t => {
                self.until = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn disable_then_timer_reenables_once() {
        let t0 = Instant::now();
        let mut s = TakeoverRunsSwitch::default();
        assert!(!s.is_disabled(t0));
        assert_eq!(s.poll_timeout(), None);
        assert_eq!(s.handle_request(t0, 20, false, 2), (Outcome::Disabled(20), 2));
        assert!(s.is_disabled(t0));
        assert!(s.is_disabled(t0 + 19 * S));
        assert_eq!(s.poll_timeout(), Some(t0 + 20 * S));
        assert!(!s.handle_timeout(t0 + 19 * S));
        assert!(!s.is_disabled(t0 + 20 * S));
        assert!(s.handle_timeout(t0 + 20 * S));
        assert!(!s.handle_timeout(t0 + 21 * S));
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn zero_timeout_reenables_at_once() {
        let t0 = Instant::now();
        let mut s = TakeoverRunsSwitch::default();
        assert_eq!(s.handle_request(t0, 0, false, 1), (Outcome::Reenabled { was_disabled: false }, 1));
        s.handle_request(t0, 20, false, 1);
        assert_eq!(s.handle_request(t0 + S, 0, false, 1), (Outcome::Reenabled { was_disabled: true }, 1));
        assert!(!s.is_disabled(t0 + S));
        assert_eq!(s.poll_timeout(), None);
        assert!(!s.handle_timeout(t0 + 30 * S));
    }

    #[test]
    fn busy_while_a_run_is_in_progress() {
        let t0 = Instant::now();
        let mut s = TakeoverRunsSwitch::default();
        assert_eq!(s.handle_request(t0, 20, true, 0), (Outcome::Busy, -EAGAIN));
        assert!(!s.is_disabled(t0));
        // Re-enabling is always allowed.
        assert_eq!(s.handle_request(t0, 0, true, 0), (Outcome::Reenabled { was_disabled: false }, 0));
    }

    #[test]
    fn a_new_disable_restarts_the_timer() {
        let t0 = Instant::now();
        let mut s = TakeoverRunsSwitch::default();
        s.handle_request(t0, 20, false, 0);
        s.handle_request(t0 + 5 * S, 2, false, 0);
        assert_eq!(s.poll_timeout(), Some(t0 + 7 * S));
        assert!(!s.is_disabled(t0 + 7 * S));
        s.handle_request(t0 + 8 * S, 60, false, 0);
        assert!(s.is_disabled(t0 + 67 * S));
    }
}

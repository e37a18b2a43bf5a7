//! Health monitoring: when to run `monitor`, and what its result does to
//! this node's UNHEALTHY flag (reference §6.2). No clock and no processes:
//! the event loop asks [`Monitor::due`], submits the event, and reports
//! the result to [`Monitor::on_result`].
//!
//! Schedule: the first monitor 100 ms after `startup` succeeds (CTDB
//! waits 2 s), then 2 s, doubling up to `MonitorInterval`; after any health
//! change the spacing restarts at 5 s. A monitor that cannot run now
//! (recovery, inactive, not RUNNING) or is cancelled by another event is
//! retried after 250 ms while the node has not passed one yet (at start-up
//! the recoveries of the other nodes joining would otherwise push a node's
//! first healthy moment back by seconds), after the current spacing once
//! it has.
//! Health: HEALTHY only after a monitor passes; a failure makes the node
//! UNHEALTHY; `MonitorTimeoutCount` consecutive timeouts count as a failure
//! (and every further consecutive timeout too).

use std::time::{Duration, Instant};

const FIRST_DELAY: Duration = Duration::from_millis(100);
const SECOND_DELAY: Duration = Duration::from_secs(2);
const AFTER_CHANGE: Duration = Duration::from_secs(5);
/// Retry of a skipped or cancelled monitor while not yet healthy.
const RETRY_UNHEALTHY: Duration = Duration::from_millis(250);

/// What one monitor run came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorResult {
    Passed,
    Failed,
    TimedOut,
    /// Cancelled by another event, or could not be submitted.
    Cancelled,
}

/// A change of this node's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthChange {
    BecameHealthy,
    BecameUnhealthy,
    /// `MonitorTimeoutCount` reached: logged, then treated as a failure.
    TimeoutLimitReached,
}

#[derive(Debug, Clone)]
pub struct Monitor {
    healthy: bool,
    next_at: Option<Instant>,
    next_interval: Duration,
    consecutive_timeouts: u32,
    in_flight: bool,
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor::new()
    }
}

impl Monitor {
    /// Not scheduled and unhealthy until [`Monitor::start`].
    pub fn new() -> Monitor {
        Monitor { healthy: false, next_at: None, next_interval: FIRST_DELAY, consecutive_timeouts: 0, in_flight: false }
    }

    #[cfg(test)]
    pub fn is_healthy(&self) -> bool {
        self.healthy
    }

    /// `startup` succeeded: schedule the first monitor.
    pub fn start(&mut self, now: Instant) {
        self.next_interval = SECOND_DELAY;
        self.next_at = Some(now + FIRST_DELAY);
    }

    /// A monitor did not run (skipped or cancelled): when to try again.
    fn retry(&mut self, now: Instant, interval: Duration) {
        if self.healthy {
            self.reschedule(now, interval);
        } else {
            self.next_at = Some(now + RETRY_UNHEALTHY.min(interval));
        }
    }

    /// When the next monitor is due, if one is scheduled and none runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight {
            None
        } else {
            self.next_at
        }
    }

    /// Is a monitor due now? If `can_run` is false it is skipped and
    /// rescheduled. Returns true when the caller must submit one now.
    pub fn due(&mut self, now: Instant, can_run: bool, interval: Duration) -> bool {
        match self.next_at {
            Some(t) if !self.in_flight && now >= t => {
                if can_run {
                    self.in_flight = true;
                    self.next_at = None;
                    true
                } else {
                    self.retry(now, interval);
                    false
                }
            }
            _ => false,
        }
    }

    /// Result of the monitor that [`Monitor::due`] asked for.
    pub fn on_result(
        &mut self,
        now: Instant,
        result: MonitorResult,
        timeout_limit: u32,
        interval: Duration,
    ) -> Vec<HealthChange> {
        self.in_flight = false;
        let mut changes = Vec::new();
        let failed = match result {
            MonitorResult::Cancelled => None,
            MonitorResult::TimedOut => {
                self.consecutive_timeouts += 1;
                if self.consecutive_timeouts >= timeout_limit.max(1) {
                    if self.consecutive_timeouts == timeout_limit.max(1) {
                        changes.push(HealthChange::TimeoutLimitReached);
                    }
                    Some(true)
                } else {
                    None
                }
            }
            MonitorResult::Failed => {
                self.consecutive_timeouts = 0;
                Some(true)
            }
            MonitorResult::Passed => {
                self.consecutive_timeouts = 0;
                Some(false)
            }
        };
        match failed {
            Some(true) if self.healthy => {
                self.healthy = false;
                self.next_interval = AFTER_CHANGE;
                changes.push(HealthChange::BecameUnhealthy);
            }
            Some(false) if !self.healthy => {
                self.healthy = true;
                self.next_interval = AFTER_CHANGE;
                changes.push(HealthChange::BecameHealthy);
            }
            _ => {}
        }
        if result == MonitorResult::Cancelled {
            self.retry(now, interval);
        } else {
            self.reschedule(now, interval);
        }
        changes
    }

    fn reschedule(&mut self, now: Instant, interval: Duration) {
        let delay = self.next_interval.min(interval);
        self.next_at = Some(now + delay);
        self.next_interval = (self.next_interval * 2).min(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const I: Duration = Duration::from_secs(15);

    /// Run one monitor at the due time with `result`; return the changes
    /// and the delay until the next one.
    fn step(m: &mut Monitor, now: &mut Instant, result: MonitorResult, limit: u32) -> (Vec<HealthChange>, Duration) {
        let due = m.poll_timeout().expect("scheduled");
        *now = due;
        assert!(m.due(*now, true, I));
        assert_eq!(m.poll_timeout(), None, "nothing due while one runs");
        let ch = m.on_result(*now, result, limit, I);
        (ch, m.poll_timeout().expect("rescheduled") - *now)
    }

    #[test]
    fn schedule_follows_ctdb() {
        let mut now = Instant::now();
        let mut m = Monitor::new();
        m.start(now);
        assert_eq!(m.poll_timeout(), Some(now + Duration::from_millis(100)));
        let (ch, next) = step(&mut m, &mut now, MonitorResult::Passed, 20);
        assert_eq!(ch, vec![HealthChange::BecameHealthy]);
        assert_eq!(next, Duration::from_secs(5));
        assert_eq!(step(&mut m, &mut now, MonitorResult::Passed, 20).1, Duration::from_secs(10));
        assert_eq!(step(&mut m, &mut now, MonitorResult::Passed, 20).1, Duration::from_secs(15));
        assert_eq!(step(&mut m, &mut now, MonitorResult::Passed, 20).1, Duration::from_secs(15));
        let (ch, next) = step(&mut m, &mut now, MonitorResult::Failed, 20);
        assert_eq!(ch, vec![HealthChange::BecameUnhealthy]);
        assert_eq!(next, Duration::from_secs(5));
    }

    #[test]
    fn unhealthy_until_the_first_pass() {
        let mut now = Instant::now();
        let mut m = Monitor::new();
        assert!(!m.is_healthy());
        m.start(now);
        assert_eq!(step(&mut m, &mut now, MonitorResult::Failed, 20).0, vec![]);
        assert!(!m.is_healthy());
        assert_eq!(step(&mut m, &mut now, MonitorResult::Cancelled, 20).0, vec![]);
        assert_eq!(step(&mut m, &mut now, MonitorResult::Passed, 20).0, vec![HealthChange::BecameHealthy]);
    }

    #[test]
    fn timeouts_count_until_the_limit() {
        let mut now = Instant::now();
        let mut m = Monitor::new();
        m.start(now);
        step(&mut m, &mut now, MonitorResult::Passed, 3);
        assert_eq!(step(&mut m, &mut now, MonitorResult::TimedOut, 3).0, vec![]);
        assert_eq!(step(&mut m, &mut now, MonitorResult::TimedOut, 3).0, vec![]);
        assert!(m.is_healthy());
        assert_eq!(
            step(&mut m, &mut now, MonitorResult::TimedOut, 3).0,
            vec![HealthChange::TimeoutLimitReached, HealthChange::BecameUnhealthy]
        );
        // A pass resets the count.
        step(&mut m, &mut now, MonitorResult::Passed, 3);
        assert_eq!(step(&mut m, &mut now, MonitorResult::TimedOut, 3).0, vec![]);
    }

    #[test]
    fn skipped_monitor_is_rescheduled() {
        let now = Instant::now();
        let mut m = Monitor::new();
        m.start(now);
        let t = now + Duration::from_millis(100);
        assert!(!m.due(t, false, I));
        // Not healthy yet: soon again, without growing the spacing.
        assert_eq!(m.poll_timeout(), Some(t + Duration::from_millis(250)));
        let t = t + Duration::from_millis(250);
        assert!(m.due(t, true, I));
        m.on_result(t, MonitorResult::Cancelled, 20, I);
        assert_eq!(m.poll_timeout(), Some(t + Duration::from_millis(250)));
        // A failed first monitor: CTDB's spacing from 2 s.
        let (ch, next) = {
            let mut now = t + Duration::from_millis(250);
            step(&mut m, &mut now, MonitorResult::Failed, 20)
        };
        assert_eq!((ch, next), (vec![], Duration::from_secs(2)));
        // Once healthy, a skipped monitor waits the current spacing.
        let mut now = t + Duration::from_secs(10);
        step(&mut m, &mut now, MonitorResult::Passed, 20);
        let due = m.poll_timeout().unwrap();
        assert!(!m.due(due, false, I));
        assert_eq!(m.poll_timeout(), Some(due + Duration::from_secs(10)));
    }

    proptest! {
        /// Healthy exactly when the last non-cancelled, non-tolerated
        /// result was a pass.
        #[test]
        fn health_tracks_results(results in proptest::collection::vec(0u8..4, 1..100), limit in 1u32..5) {
            let mut now = Instant::now();
            let mut m = Monitor::new();
            m.start(now);
            let mut expect = false;
            let mut timeouts = 0;
            for r in results {
                let r = [MonitorResult::Passed, MonitorResult::Failed, MonitorResult::TimedOut, MonitorResult::Cancelled][r as usize];
                let (_, next) = step(&mut m, &mut now, r, limit);
                prop_assert!(next >= RETRY_UNHEALTHY && next <= I);
                match r {
                    MonitorResult::Passed => { expect = true; timeouts = 0; }
                    MonitorResult::Failed => { expect = false; timeouts = 0; }
                    MonitorResult::TimedOut => { timeouts += 1; if timeouts >= limit { expect = false; } }
                    MonitorResult::Cancelled => {}
                }
                prop_assert_eq!(m.is_healthy(), expect);
            }
        }
    }
}

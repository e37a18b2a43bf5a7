//! The event-script runner: which script runs when, and what each result
//! means. Process work (listing, spawning, signalling) goes through the
//! [`ScriptHost`] trait, so the rules are tested without processes.
//!
//! Rules (reference §5.4, with rctdb's stricter handling of timeouts):
//! - one event at a time, in arrival order; within an event the enabled
//!   scripts run strictly one after another in name order;
//! - the first failing script ends the event;
//! - the whole event has one deadline; at the deadline the running script
//!   is recorded TIMEDOUT (never success), its process group gets SIGTERM,
//!   and SIGKILL after [`Runner::grace`]; the event then ends without
//!   waiting any longer for a process that will not die;
//! - when a script exits, whatever it left in its process group is killed:
//!   no background child outlives its script;
//! - a running monitor is cancelled (SIGKILL to its group, result
//!   CANCELLED, status not stored) by any other event; a monitor submitted
//!   while another event runs is refused as cancelled;
//! - the status of an event is that of its last completed, non-cancelled
//!   run.

use rctdb_protocol::{Event, EventRun, ScriptRun, ScriptStatus};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Captured output per script is cut at this many bytes.
pub const OUTPUT_LIMIT: usize = 16 * 1024;

/// One entry of the events directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptEntry {
    pub name: String,
    pub path: PathBuf,
    pub enabled: bool,
}

/// Is `file_name` an event script? Two digits, a dot, a name; editor and
/// package-manager leftovers and `.options` files are not.
pub fn is_script_name(file_name: &str) -> bool {
    let b = file_name.as_bytes();
    if b.len() < 4 || !b[0].is_ascii_digit() || !b[1].is_ascii_digit() || b[2] != b'.' {
        return false;
    }
    const SKIP: [&str; 7] = ["~", ".options", ".rpmnew", ".rpmsave", ".rpmorig", ".dpkg-old", ".dpkg-dist"];
    !SKIP.iter().any(|s| file_name.ends_with(s)) && !file_name.contains(".dpkg-")
}

/// The scripts of `dir` in name order. A script is enabled when it (or
/// what its symlink points at) is a regular file with the owner execute bit.
/// `NN.name.script` (CTDB's layout) is shown as `NN.name`.
pub fn list_scripts(dir: &Path) -> io::Result<Vec<ScriptEntry>> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(file_name) = entry.file_name().to_str().map(str::to_string) else { continue };
        if !is_script_name(&file_name) {
            continue;
        }
        let path = entry.path();
        let enabled =
            std::fs::metadata(&path).map(|m| m.is_file() && m.permissions().mode() & 0o100 != 0).unwrap_or(false);
        let name = file_name.strip_suffix(".script").unwrap_or(&file_name).to_string();
        out.push(ScriptEntry { name, path, enabled });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// What the runner needs from the outside world.
pub trait ScriptHost {
    /// The scripts to run for the next event.
    fn scripts(&mut self) -> Vec<ScriptEntry>;
    /// Start `path event args...` in a new process group; return its pid.
    fn spawn(&mut self, script: &ScriptEntry, event: Event, args: &[String]) -> io::Result<i32>;
    /// Send `signal` to process group `pgid`.
    fn kill_group(&mut self, pgid: i32, signal: KillSignal);
    /// A script finished: log its captured output.
    fn log_output(&mut self, name: &str, pid: i32, output: &str);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillSignal {
    Term,
    Kill,
}

/// How a child process ended, from `waitpid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

pub type RequestId = u64;

/// A request to run an event.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: RequestId,
    pub event: Event,
    pub args: Vec<String>,
    pub timeout: Duration,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The event ran (successfully or not): see the scripts' statuses.
    Done(EventRun),
    /// A monitor cancelled by another event, or refused while one ran.
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub id: RequestId,
    pub event: Event,
    pub outcome: Outcome,
}

struct Child {
    pid: i32,
    start_us: u64,
    output: Vec<u8>,
    truncated: bool,
    /// Set at the deadline: SIGTERM sent, SIGKILL due at this instant.
    kill_at: Option<Instant>,
}

struct Current {
    req: Request,
    scripts: Vec<ScriptEntry>,
    next: usize,
    deadline: Instant,
    run: EventRun,
    child: Option<Child>,
}

/// The runner. Time is an input: the event loop calls [`Runner::tick`] at
/// [`Runner::poll_timeout`].
pub struct Runner {
    grace: Duration,
    queue: VecDeque<Request>,
    current: Option<Current>,
    status: HashMap<Event, EventRun>,
    /// Children we gave up on (timed out, cancelled): reaped silently.
    abandoned: HashSet<i32>,
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

impl Runner {
    /// `grace` is the wait between SIGTERM and SIGKILL on a timeout.
    pub fn new(grace: Duration) -> Runner {
        Runner { grace, queue: VecDeque::new(), current: None, status: HashMap::new(), abandoned: HashSet::new() }
    }

    /// The event being run, if any.
    pub fn running(&self) -> Option<Event> {
        self.current.as_ref().map(|c| c.req.event)
    }

    /// Last completed, non-cancelled run of `event`.
    pub fn status(&self, event: Event) -> Option<&EventRun> {
        self.status.get(&event)
    }

    /// Earliest instant at which [`Runner::tick`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let c = self.current.as_ref()?;
        match c.child.as_ref().and_then(|ch| ch.kill_at) {
            Some(k) => Some(k),
            None => Some(c.deadline),
        }
    }

    /// Queue an event.
    pub fn submit(&mut self, now: Instant, req: Request, host: &mut dyn ScriptHost) -> Vec<Completion> {
        let mut done = Vec::new();
        match self.running() {
            Some(Event::Monitor) if req.event != Event::Monitor => {
                self.cancel_current(host, &mut done);
            }
            Some(running) if req.event == Event::Monitor && running != Event::Monitor => {
                done.push(Completion { id: req.id, event: req.event, outcome: Outcome::Cancelled });
                return done;
            }
            _ => {}
        }
        self.queue.push_back(req);
        if self.current.is_none() {
            self.start_next(now, host, &mut done);
        }
        done
    }

    /// Captured output from the script with this pid.
    pub fn output(&mut self, pid: i32, bytes: &[u8]) {
        let Some(child) = self.current.as_mut().and_then(|c| c.child.as_mut()).filter(|ch| ch.pid == pid) else {
            return;
        };
        let room = OUTPUT_LIMIT.saturating_sub(child.output.len());
        child.output.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if bytes.len() > room {
            child.truncated = true;
        }
    }

    /// The pid of the script running now.
    pub fn current_pid(&self) -> Option<i32> {
        self.current.as_ref()?.child.as_ref().map(|c| c.pid)
    }

    /// A child was reaped. Returns whether it was one of ours.
    pub fn exited(&mut self, now: Instant, pid: i32, exit: Exit, host: &mut dyn ScriptHost) -> (bool, Vec<Completion>) {
        let mut done = Vec::new();
        if self.abandoned.remove(&pid) {
            return (true, done);
        }
        if self.current_pid() != Some(pid) {
            return (false, done);
        }
        // Whatever the script left behind in its group goes with it.
        host.kill_group(pid, KillSignal::Kill);
        let Some(cur) = self.current.as_mut() else { return (true, done) };
        let Some(child) = cur.child.take() else { return (true, done) };
        let status = if child.kill_at.is_some() {
            ScriptStatus::TimedOut
        } else {
            match exit {
                Exit::Code(0) => ScriptStatus::Ok,
                Exit::Code(code) => ScriptStatus::Error { code },
                Exit::Signal(signal) => ScriptStatus::Signaled { signal },
            }
        };
        let failed = status.is_failure();
        Self::record(cur, child, status, host);
        if failed {
            self.finish(now, host, &mut done);
        } else {
            self.advance(now, host, &mut done);
        }
        (true, done)
    }

    /// Deadlines: time out the running script, escalate to SIGKILL.
    pub fn tick(&mut self, now: Instant, host: &mut dyn ScriptHost) -> Vec<Completion> {
        let mut done = Vec::new();
        let Some(cur) = self.current.as_mut() else { return done };
        let Some(child) = cur.child.as_mut() else { return done };
        match child.kill_at {
            None if now >= cur.deadline => {
                host.kill_group(child.pid, KillSignal::Term);
                child.kill_at = Some(now + self.grace);
            }
            Some(k) if now >= k => {
                host.kill_group(child.pid, KillSignal::Kill);
                let Some(child) = cur.child.take() else { return done };
                self.abandoned.insert(child.pid);
                Self::record(cur, child, ScriptStatus::TimedOut, host);
                self.finish(now, host, &mut done);
            }
            _ => {}
        }
        done
    }

    fn record(cur: &mut Current, child: Child, status: ScriptStatus, host: &mut dyn ScriptHost) {
        let name = cur.scripts[cur.next].name.clone();
        let mut output = String::from_utf8_lossy(&child.output).into_owned();
        if child.truncated {
            output.push_str("\n[output truncated]\n");
        }
        if !output.is_empty() {
            host.log_output(&name, child.pid, &output);
        }
        cur.run.scripts.push(ScriptRun { name, status, start_us: child.start_us, end_us: now_us(), output });
        cur.next += 1;
    }

    fn cancel_current(&mut self, host: &mut dyn ScriptHost, done: &mut Vec<Completion>) {
        let Some(cur) = self.current.take() else { return };
        if let Some(child) = cur.child {
            host.kill_group(child.pid, KillSignal::Kill);
            self.abandoned.insert(child.pid);
        }
        done.push(Completion { id: cur.req.id, event: cur.req.event, outcome: Outcome::Cancelled });
    }

    fn start_next(&mut self, now: Instant, host: &mut dyn ScriptHost, done: &mut Vec<Completion>) {
        while self.current.is_none() {
            let Some(req) = self.queue.pop_front() else { return };
            let scripts = host.scripts();
            let run = EventRun {
                event: req.event,
                args: req.args.clone(),
                start_us: now_us(),
                end_us: 0,
                scripts: Vec::new(),
            };
            self.current = Some(Current { deadline: now + req.timeout, req, scripts, next: 0, run, child: None });
            self.advance(now, host, done);
        }
    }

    /// Start the next enabled script, or finish the event.
    fn advance(&mut self, now: Instant, host: &mut dyn ScriptHost, done: &mut Vec<Completion>) {
        loop {
            let Some(cur) = self.current.as_mut() else { return };
            let Some(script) = cur.scripts.get(cur.next).cloned() else {
                return self.finish(now, host, done);
            };
            let t = now_us();
            let skip = |cur: &mut Current, status: ScriptStatus| {
                cur.run.scripts.push(ScriptRun {
                    name: script.name.clone(),
                    status,
                    start_us: t,
                    end_us: t,
                    output: String::new(),
                });
                cur.next += 1;
            };
            if !script.enabled {
                skip(cur, ScriptStatus::Disabled);
                continue;
            }
            if now >= cur.deadline {
                skip(cur, ScriptStatus::TimedOut);
                return self.finish(now, host, done);
            }
            match host.spawn(&script, cur.req.event, &cur.req.args) {
                Ok(pid) => {
                    cur.child = Some(Child { pid, start_us: t, output: Vec::new(), truncated: false, kill_at: None });
                    return;
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied) => {
                    // Vanished or lost its execute bit since the listing.
                    skip(cur, ScriptStatus::Disabled);
                }
                Err(e) => {
                    skip(cur, ScriptStatus::CannotRun { reason: e.to_string() });
                    return self.finish(now, host, done);
                }
            }
        }
    }

    fn finish(&mut self, now: Instant, host: &mut dyn ScriptHost, done: &mut Vec<Completion>) {
        let Some(mut cur) = self.current.take() else { return };
        cur.run.end_us = now_us();
        self.status.insert(cur.req.event, cur.run.clone());
        done.push(Completion { id: cur.req.id, event: cur.req.event, outcome: Outcome::Done(cur.run) });
        self.start_next(now, host, done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake host: scripts by name with their enabled bit; records what
    /// the runner asked for.
    #[derive(Default)]
    struct Fake {
        scripts: Vec<(&'static str, bool)>,
        next_pid: i32,
        spawned: Vec<(String, Event, Vec<String>, i32)>,
        kills: Vec<(i32, KillSignal)>,
        fail_spawn: Option<io::ErrorKind>,
    }

    impl ScriptHost for Fake {
        fn scripts(&mut self) -> Vec<ScriptEntry> {
            self.scripts
                .iter()
                .map(|(n, e)| ScriptEntry { name: n.to_string(), path: PathBuf::from(n), enabled: *e })
                .collect()
        }
        fn spawn(&mut self, s: &ScriptEntry, event: Event, args: &[String]) -> io::Result<i32> {
            if let Some(k) = self.fail_spawn {
                return Err(io::Error::from(k));
            }
            self.next_pid += 1;
            let pid = 100 + self.next_pid;
            self.spawned.push((s.name.clone(), event, args.to_vec(), pid));
            Ok(pid)
        }
        fn kill_group(&mut self, pgid: i32, signal: KillSignal) {
            self.kills.push((pgid, signal));
        }
        fn log_output(&mut self, _: &str, _: i32, _: &str) {}
    }

    fn req(id: u64, event: Event, secs: u64) -> Request {
        Request { id, event, args: vec![], timeout: Duration::from_secs(secs) }
    }

    fn statuses(run: &EventRun) -> Vec<(String, ScriptStatus)> {
        run.scripts.iter().map(|s| (s.name.clone(), s.status.clone())).collect()
    }

    fn done_run(c: &[Completion]) -> &EventRun {
        match &c.last().expect("a completion").outcome {
            Outcome::Done(r) => r,
            Outcome::Cancelled => panic!("cancelled"),
        }
    }

    #[test]
    fn scripts_run_in_order_one_at_a_time_and_disabled_are_skipped() {
        let mut h = Fake { scripts: vec![("00.a", true), ("05.off", false), ("10.b", true)], ..Fake::default() };
        let mut r = Runner::new(Duration::from_millis(500));
        let t0 = Instant::now();
        let mut rq = req(1, Event::TakeIp, 30);
        rq.args = vec!["eth0".into(), "198.51.100.1".into(), "24".into()];
        assert!(r.submit(t0, rq, &mut h).is_empty());
        assert_eq!(h.spawned.len(), 1, "second script must wait for the first");
        assert_eq!(h.spawned[0].2, vec!["eth0", "198.51.100.1", "24"]);
        r.output(101, b"hello\n");
        let (_, c) = r.exited(t0, 101, Exit::Code(0), &mut h);
        assert!(c.is_empty());
        assert_eq!(h.spawned.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(), ["00.a", "10.b"]);
        let (_, c) = r.exited(t0, 102, Exit::Code(0), &mut h);
        let run = done_run(&c);
        assert_eq!(
            statuses(run),
            vec![
                ("00.a".into(), ScriptStatus::Ok),
                ("05.off".into(), ScriptStatus::Disabled),
                ("10.b".into(), ScriptStatus::Ok)
            ]
        );
        assert_eq!(run.scripts[0].output, "hello\n");
        assert_eq!(r.status(Event::TakeIp), Some(run));
        // Leftovers of each script's group were killed at its exit.
        assert_eq!(h.kills, vec![(101, KillSignal::Kill), (102, KillSignal::Kill)]);
    }

    #[test]
    fn first_failure_ends_the_event() {
        let mut h = Fake { scripts: vec![("00.a", true), ("10.b", true)], ..Fake::default() };
        let mut r = Runner::new(Duration::from_millis(500));
        let t0 = Instant::now();
        r.submit(t0, req(1, Event::Monitor, 30), &mut h);
        let (_, c) = r.exited(t0, 101, Exit::Code(3), &mut h);
        assert_eq!(statuses(done_run(&c)), vec![("00.a".into(), ScriptStatus::Error { code: 3 })]);
        assert_eq!(h.spawned.len(), 1);
    }

    #[test]
    fn timeout_terms_then_kills_and_never_counts_as_success() {
        let mut h = Fake { scripts: vec![("00.hang", true), ("10.b", true)], ..Fake::default() };
        let mut r = Runner::new(Duration::from_millis(500));
        let t0 = Instant::now();
        r.submit(t0, req(1, Event::Monitor, 2), &mut h);
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(2)));
        assert!(r.tick(t0 + Duration::from_secs(1), &mut h).is_empty());
        assert!(h.kills.is_empty());
        assert!(r.tick(t0 + Duration::from_secs(2), &mut h).is_empty());
        assert_eq!(h.kills, vec![(101, KillSignal::Term)]);
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_millis(2500)));
        let c = r.tick(t0 + Duration::from_millis(2500), &mut h);
        assert_eq!(h.kills, vec![(101, KillSignal::Term), (101, KillSignal::Kill)]);
        assert_eq!(statuses(done_run(&c)), vec![("00.hang".into(), ScriptStatus::TimedOut)]);
        // The killed child is reaped later, silently, and nothing else runs.
        assert_eq!(r.exited(t0 + Duration::from_secs(3), 101, Exit::Signal(9), &mut h), (true, vec![]));
        assert_eq!(h.spawned.len(), 1);
    }

    #[test]
    fn script_exiting_after_term_is_still_timed_out() {
        let mut h = Fake { scripts: vec![("00.hang", true)], ..Fake::default() };
        let mut r = Runner::new(Duration::from_millis(500));
        let t0 = Instant::now();
        r.submit(t0, req(1, Event::Recovered, 1), &mut h);
        r.tick(t0 + Duration::from_secs(1), &mut h);
        let (_, c) = r.exited(t0 + Duration::from_millis(1100), 101, Exit::Code(0), &mut h);
        assert_eq!(statuses(done_run(&c)), vec![("00.hang".into(), ScriptStatus::TimedOut)]);
    }

    #[test]
    fn other_event_cancels_monitor_and_monitor_is_refused_while_others_run() {
        let mut h = Fake { scripts: vec![("00.a", true)], ..Fake::default() };
        let mut r = Runner::new(Duration::from_millis(500));
        let t0 = Instant::now();
        r.submit(t0, req(1, Event::Monitor, 30), &mut h);
        let c = r.submit(t0, req(2, Event::IpReallocated, 30), &mut h);
        assert_eq!(c, vec![Completion { id: 1, event: Event::Monitor, outcome: Outcome::Cancelled }]);
        assert_eq!(h.kills, vec![(101, KillSignal::Kill)]);
        assert_eq!(r.running(), Some(Event::IpReallocated));
        let c = r.submit(t0, req(3, Event::Monitor, 30), &mut h);
        assert_eq!(c, vec![Completion { id: 3, event: Event::Monitor, outcome: Outcome::Cancelled }]);
        assert!(r.status(Event::Monitor).is_none(), "a cancelled monitor stores no status");
        // The cancelled monitor's exit is absorbed.
        assert_eq!(r.exited(t0, 101, Exit::Signal(9), &mut h), (true, vec![]));
        let (_, c) = r.exited(t0, 102, Exit::Code(0), &mut h);
        assert_eq!(c[0].id, 2);
    }

    #[test]
    fn events_queue_in_arrival_order() {
        let mut h = Fake { scripts: vec![("00.a", true)], ..Fake::default() };
        let mut r = Runner::new(Duration::from_millis(500));
        let t0 = Instant::now();
        r.submit(t0, req(1, Event::TakeIp, 30), &mut h);
        r.submit(t0, req(2, Event::ReleaseIp, 30), &mut h);
        assert_eq!(h.spawned.len(), 1);
        let (_, c) = r.exited(t0, 101, Exit::Code(0), &mut h);
        assert_eq!(c.len(), 1);
        assert_eq!(h.spawned[1].1, Event::ReleaseIp);
        let (_, c) = r.exited(t0, 102, Exit::Code(0), &mut h);
        assert_eq!(c[0].id, 2);
    }

    #[test]
    fn unstartable_script_fails_or_counts_as_disabled() {
        let mut h =
            Fake { scripts: vec![("00.a", true)], fail_spawn: Some(io::ErrorKind::NotFound), ..Fake::default() };
        let mut r = Runner::new(Duration::from_millis(500));
        let c = r.submit(Instant::now(), req(1, Event::Monitor, 30), &mut h);
        assert_eq!(statuses(done_run(&c)), vec![("00.a".into(), ScriptStatus::Disabled)]);
        h.fail_spawn = Some(io::ErrorKind::OutOfMemory);
        let c = r.submit(Instant::now(), req(2, Event::Monitor, 30), &mut h);
        assert!(matches!(done_run(&c).scripts[0].status, ScriptStatus::CannotRun { .. }));
    }

    #[test]
    fn output_is_bounded() {
        let mut h = Fake { scripts: vec![("00.a", true)], ..Fake::default() };
        let mut r = Runner::new(Duration::from_millis(500));
        r.submit(Instant::now(), req(1, Event::Monitor, 30), &mut h);
        for _ in 0..100 {
            r.output(101, &[b'x'; 1000]);
        }
        let (_, c) = r.exited(Instant::now(), 101, Exit::Code(0), &mut h);
        let out = &done_run(&c).scripts[0].output;
        assert!(out.len() < OUTPUT_LIMIT + 64 && out.ends_with("[output truncated]\n"));
    }

    #[test]
    fn script_names() {
        for ok in ["00.rctdb", "10.interface", "50.samba.script", "99.x"] {
            assert!(is_script_name(ok), "{ok}");
        }
        for bad in
            ["README", "1.x", "aa.b", "00.", "10.interface~", "10.interface.options", "10.x.rpmnew", "10.x.dpkg-old"]
        {
            assert!(!is_script_name(bad), "{bad}");
        }
    }
}

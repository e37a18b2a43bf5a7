//! Scenario tests of the recovery daemon (issue 4): leader election with and
//! without a cluster lock, the lock helper, recovery, node states and
//! banning, and the supervision of `rctdb-recoverd` by `rctdbd`. Every
//! promise of `docs/recovery.md` has a test here (the pure election logic
//! is also property-tested in `crates/recoverd/src/sim.rs`).
//!
//! Real processes in network namespaces (see `rctdb_integration::cluster`);
//! the cluster lock file lives in a directory all hosts share. Needs root
//! and `cargo build --workspace --bins` first.
//!
//! Unless a test is about the defaults, the clusters use `leader timeout =
//! 500ms` and keepalives of 200 ms x 3. Deadlines are the contract plus a
//! stated slack for a loaded 2-core machine running debug builds; where
//! the contract gives none they are generous.
//!
//! Processes are checked through `/proc`; a zombie counts as gone (PID 1
//! of a container may never reap the orphans of a killed daemon).

use rctdb_integration::leader::{
    self, agreed_leader, check_flags, check_lock_leader, check_recovered, is_alive, leader_of, lock_file, lock_helpers,
    lock_is_held, recoverd_pid, wait_gone,
};
use rctdb_integration::{bin_dir, describe, Builder, Cluster};
use rctdb_protocol::{Generation, Pnn, RecMode, RunState};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Start-up, first connections and the first election on a busy machine.
const CONVERGE: Duration = Duration::from_secs(30);
/// `[cluster] leader timeout` of these clusters.
const LT: Duration = Duration::from_millis(500);
/// Slack on election and recovery deadlines.
const SLACK: Duration = Duration::from_secs(3);
/// What the dead must take to be gone.
const GONE: Duration = Duration::from_secs(1);
const ALL3: [usize; 3] = [0, 1, 2];

/// A cluster with the lock file in the shared directory and sub-second
/// timings.
fn lock_cluster(hosts: usize) -> Builder {
    Cluster::builder(hosts)
        .cluster_conf("cluster lock = {shared}/cluster.lock")
        .cluster_conf("leader timeout = 500ms")
        .tunable("KeepaliveInterval", "200ms")
        .tunable("KeepaliveLimit", "3")
}

/// Wait until `set` is connected, has one leader holding the lock, and is
/// recovered; returns the leader and the generation.
fn converge(c: &Cluster, set: &[usize]) -> (usize, Generation) {
    c.wait_connected(set, CONVERGE);
    let l = c.wait_until(CONVERGE, "one leader holding the cluster lock", || check_lock_leader(c, set));
    c.wait_until(CONVERGE, "a completed recovery", || check_recovered(c, set, None));
    // Nodes are UNHEALTHY until their first monitor event.
    c.wait_until(CONVERGE, "every node OK", || check_all_ok(c, set));
    (l, check(c, check_recovered(c, set, None)))
}

/// Ok once every node of `set` sees every node of `set` as `OK`.
fn check_all_ok(c: &Cluster, set: &[usize]) -> Result<(), String> {
    for &j in set {
        check_flags(c, set, j, "OK")?;
    }
    Ok(())
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `rctdb ARGS` on node `i`; panics with the cluster's state on failure.
#[track_caller]
fn cli_ok(c: &Cluster, i: usize, args: &[&str]) -> String {
    let o = c.node(i).cli(args);
    if !o.status.success() {
        panic!("{}", c.report(&format!("node {i}: rctdb {} failed\n{}", args.join(" "), describe(&o))));
    }
    stdout(&o)
}

/// An `rctdb` admin command (`ban`, `stop`, ...) running in the background:
/// it returns only after the flag shows *and* a takeover run, so the test
/// watches the cluster while it runs.
struct Admin {
    child: std::process::Child,
    what: String,
    started: Instant,
}

impl Admin {
    fn run(c: &Cluster, i: usize, args: &[&str]) -> Admin {
        let child = c
            .node(i)
            .cli_command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rctdb");
        Admin { child, what: format!("node {i}: rctdb {}", args.join(" ")), started: Instant::now() }
    }

    /// Wait (60 s at most) for a successful exit; returns its run time.
    #[track_caller]
    fn finish(mut self, c: &Cluster) -> Duration {
        let status = rctdb_integration::process::wait_timeout(&mut self.child, Duration::from_secs(60));
        if status.is_none() {
            let _ = self.child.kill();
        }
        let out = self.child.wait_with_output().expect("wait for rctdb");
        if !out.status.success() || status.is_none() {
            panic!("{}", c.report(&format!("{} failed or hung\n{}", self.what, describe(&out))));
        }
        self.started.elapsed()
    }
}

#[track_caller]
fn check<T>(c: &Cluster, r: Result<T, String>) -> T {
    r.unwrap_or_else(|e| panic!("{}", c.report(&e)))
}

fn others(set: &[usize], but: usize) -> Vec<usize> {
    set.iter().copied().filter(|&i| i != but).collect()
}

fn write_script(path: &Path, body: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::rename(&tmp, path).expect("rename script into place");
}

/// Wait until node `i`'s log has a line with `needle` after byte `mark`.
fn wait_log(c: &Cluster, i: usize, mark: usize, needle: &str, timeout: Duration) -> String {
    c.wait_until(timeout, &format!("node {i} to log {needle:?}"), || {
        leader::log_lines_since(c.node(i), mark, needle)
            .into_iter()
            .next()
            .ok_or_else(|| format!("no {needle:?} in node {i}'s log yet"))
    })
}

// ------------------------------------------------------------ the lock

#[test]
fn issue4_one_leader_holds_the_lock() {
    let c = lock_cluster(3).start();
    let (l, g) = converge(&c, &ALL3);
    let helper = lock_helpers(c.node(l));
    assert_eq!(helper.len(), 1, "{}", c.report("leader without exactly one lock helper"));
    let helper = helper[0].clone();
    assert_eq!(helper.name(), "rctdb-lock-helper", "the default helper runs: {helper:?}");
    assert_eq!(helper.argv.get(1).map(String::as_str), Some(lock_file(&c).to_str().unwrap()), "{helper:?}");
    let recoverds: Vec<i32> = ALL3.iter().map(|&i| recoverd_pid(c.node(i)).expect("a recovery daemon")).collect();

    // Sample for 3 s: the same leader everywhere, by `rctdb leader`; the
    // same helper on the leader, none elsewhere; the file locked.
    let t0 = Instant::now();
    let mut samples = 0;
    while t0.elapsed() < Duration::from_secs(3) {
        for i in ALL3 {
            let out = cli_ok(&c, i, &["leader"]);
            assert_eq!(out, format!("{l}\n"), "{}", c.report(&format!("node {i}: `rctdb leader` after convergence")));
        }
        for i in ALL3 {
            let h = lock_helpers(c.node(i));
            let ok = if i == l { h.len() == 1 && h[0].pid == helper.pid } else { h.is_empty() };
            assert!(
                ok,
                "{}",
                c.report(&format!("leader {l} (helper {}); node {i} has lock helpers {h:?}", helper.pid))
            );
        }
        assert!(check(&c, lock_is_held(&lock_file(&c))), "{}", c.report("the lock file is not locked"));
        let now: Vec<i32> = ALL3.iter().map(|&i| recoverd_pid(c.node(i)).unwrap_or(0)).collect();
        assert_eq!(now, recoverds, "recovery daemons restarted while idle");
        samples += 1;
        sleep(Duration::from_millis(100));
    }
    eprintln!("{samples} samples: leader {l}, helper pid {}", helper.pid);

    // What the operator sees.
    for i in ALL3 {
        let s = cli_ok(&c, i, &["status"]);
        for want in [format!("Generation:{}\n", g.0), "Recovery mode:NORMAL (0)\n".into(), format!("Leader:{l}\n")] {
            assert!(s.contains(&want), "node {i}: `rctdb status` lacks {want:?}:\n{s}");
        }
        let r = cli_ok(&c, i, &["getreclock"]);
        assert_eq!(r.trim(), lock_file(&c).display().to_string(), "node {i}: getreclock");
        let u = cli_ok(&c, i, &["-X", "uptime"]);
        let row: Vec<&str> = u.lines().nth(1).unwrap_or("").split('|').collect();
        assert!(row.len() >= 4 && row[3].parse::<u64>().is_ok_and(|t| t > 0), "node {i}: no last recovery in {u:?}");
        // The recovery daemon's log lines name it.
        let tag = format!("recoverd[{}]", recoverds[i]);
        assert!(leader::count_log(c.node(i), &tag) > 0, "node {i}: no line tagged {tag}");
        assert!(leader::count_log(c.node(i), "Recovery daemon started") > 0, "node {i}");
    }
    assert!(leader::count_log(c.node(l), "Cluster lock taken successfully") >= 1);
    assert!(leader::count_log(c.node(l), "Recovery complete") >= 1);
}

#[test]
fn issue4_lock_helper_contract() {
    // The default helper on its own, outside any cluster.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("lock");
    let helper = bin_dir().join("rctdb-lock-helper");
    let spawn = |args: &[&str]| {
        Command::new(&helper)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rctdb-lock-helper")
    };
    let byte = |ch: &mut std::process::Child| {
        let mut b = [0u8; 1];
        match ch.stdout.as_mut().unwrap().read(&mut b) {
            Ok(1) => b[0] as char,
            other => panic!("no answer: {other:?}"),
        }
    };
    // Not `wait()`: that closes the child's stdin first, which is itself
    // a reason for the helper to exit.
    let exit_of = |ch: &mut std::process::Child| {
        let t = Instant::now();
        loop {
            if let Some(st) = ch.try_wait().unwrap() {
                return st;
            }
            assert!(t.elapsed() < Duration::from_secs(5), "the helper did not exit");
            sleep(Duration::from_millis(5));
        }
    };
    let f = file.to_str().unwrap();
    let mut holder = spawn(&[f, "200ms"]);
    assert_eq!(byte(&mut holder), '0', "first helper takes the lock");
    // Contended: `1`, and it exits at once.
    let mut other = spawn(&[f]);
    assert_eq!(byte(&mut other), '1', "second helper is contended");
    let t = Instant::now();
    let st = exit_of(&mut other);
    assert!(st.success() && t.elapsed() < GONE, "a contended helper exits at once ({st}, {:?})", t.elapsed());
    assert!(lock_is_held(&file).unwrap());
    // SIGTERM releases.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(holder.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    exit_of(&mut holder);
    assert!(!lock_is_held(&file).unwrap(), "SIGTERM released the lock");
    // EOF on stdin (the parent went away) releases.
    let mut holder = spawn(&[f, "200ms"]);
    assert_eq!(byte(&mut holder), '0');
    drop(holder.stdin.take());
    let t = Instant::now();
    holder.wait().unwrap();
    assert!(t.elapsed() < GONE, "EOF on stdin: exit took {:?}", t.elapsed());
    assert!(!lock_is_held(&file).unwrap(), "EOF released the lock");
    // The file removed: "lock lost" within the recheck interval.
    let mut holder = spawn(&[f, "200ms"]);
    assert_eq!(byte(&mut holder), '0');
    std::fs::remove_file(&file).unwrap();
    let t = Instant::now();
    let st = exit_of(&mut holder);
    let mut err = String::new();
    holder.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!st.success(), "lost lock: non-zero exit, got {st}; stderr: {err}");
    assert!(err.contains("lock lost"), "stderr: {err}");
    assert!(t.elapsed() < Duration::from_millis(200) + GONE, "lost after {:?}", t.elapsed());
    // Bad use: `3`.
    for args in [&[][..], &[f, "bogus"][..]] {
        let mut h = spawn(args);
        assert_eq!(byte(&mut h), '3', "args {args:?}");
        assert!(!h.wait().unwrap().success());
    }
    let mut h = spawn(&[dir.path().join("no/such/dir/lock").to_str().unwrap()]);
    assert_eq!(byte(&mut h), '3', "unopenable file");
    h.wait().unwrap();
}

#[test]
fn issue4_leader_kill9_new_leader_elected() {
    let c = lock_cluster(3).start();
    let (l, g) = converge(&c, &ALL3);
    let rec = recoverd_pid(c.node(l)).unwrap();
    let helper = lock_helpers(c.node(l))[0].pid;
    let survivors = others(&ALL3, l);

    let t0 = Instant::now();
    c.kill9(l);
    let gone = check(&c, wait_gone(&[rec, helper], GONE));
    eprintln!("leader {l}'s recoverd and lock helper gone {gone:?} after kill -9 of its rctdbd");
    let nl = c.wait_until(LT + SLACK, "a new leader among the survivors", || check_lock_leader(&c, &survivors));
    let t_leader = t0.elapsed();
    let g2 = c.wait_until(LT + SLACK, "the survivors recovered in a new generation", || {
        check_recovered(&c, &survivors, Some(g))
    });
    eprintln!("new leader {nl} after {t_leader:?}; generation {} -> {} after {:?}", g.0, g2.0, t0.elapsed());
    // Whichever it notices first: its stdin, its control connection, or
    // the parent-death signal.
    let log = c.node(l).log_text();
    let said =
        ["recovery daemon parent died - exiting", "rctdbd closed the control connection - exiting", "Received SIGTERM"]
            .iter()
            .any(|w| log.contains(w));
    assert!(said, "{}", c.report(&format!("node {l}: the recovery daemon did not say why it left")));
    for &i in &survivors {
        assert_eq!(c.node(i).client().unwrap().recmode(Pnn::CURRENT).unwrap(), RecMode::Normal);
    }
}

#[test]
fn issue4_leader_kill9_elects_at_once_with_default_timeout() {
    // docs/developer.md: "a follower that sees the leader's node
    // disconnected starts an election at once" - so with the default
    // leader timeout of 5 s a killed leader is replaced well before it.
    // Several rounds, restarting the killed node each time.
    let c = Cluster::builder(3).cluster_conf("cluster lock = {shared}/cluster.lock").start();
    for round in 0..8 {
        let (l, g) = converge(&c, &ALL3);
        let rest = others(&ALL3, l);
        let t0 = Instant::now();
        c.kill9(l);
        let nl = c.wait_until(Duration::from_secs(5) + SLACK, "a new leader", || check_lock_leader(&c, &rest));
        let dt = t0.elapsed();
        c.wait_until(SLACK, "a recovery", || check_recovered(&c, &rest, Some(g)));
        eprintln!("round {round}: leader {l} killed, {nl} leads after {dt:?}");
        assert!(
            dt < Duration::from_secs(2),
            "{}",
            c.report(&format!("round {round}: a new leader only after {dt:?} (leader timeout 5 s)"))
        );
        c.start_node(l);
    }
}

#[test]
fn issue4_recoverd_kill9_is_restarted() {
    let c = lock_cluster(3).start();
    let (l, _) = converge(&c, &ALL3);
    let follower = (l + 1) % 3;

    // A follower's recovery daemon: restarted, and the leader undisturbed.
    let old = recoverd_pid(c.node(follower)).unwrap();
    let mark = leader::log_mark(c.node(follower));
    let t0 = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old), nix::sys::signal::Signal::SIGKILL).unwrap();
    let new = c.wait_until(GONE, "a new recovery daemon on the follower", || match recoverd_pid(c.node(follower)) {
        Some(p) if p != old => Ok(p),
        other => Err(format!("recoverd pid {other:?} (killed {old})")),
    });
    eprintln!("follower {follower}: recoverd {old} -> {new} after {:?}", t0.elapsed());
    wait_log(&c, follower, mark, &format!("Recovery daemon (pid {old})"), GONE);
    // Hold: the fresh daemon listens before it races, and the lock is held.
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_secs(2) {
        assert_eq!(check(&c, check_lock_leader(&c, &ALL3)), l, "the leader changed after a follower's restart");
        sleep(Duration::from_millis(50));
    }

    // The leader's: its helper goes with it, a leader is elected again.
    let old = recoverd_pid(c.node(l)).unwrap();
    let helper = lock_helpers(c.node(l))[0].pid;
    let g = leader::generation(&c, l).unwrap();
    let t0 = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old), nix::sys::signal::Signal::SIGKILL).unwrap();
    let new = c.wait_until(GONE, "a new recovery daemon on the leader", || match recoverd_pid(c.node(l)) {
        Some(p) if p != old => Ok(p),
        other => Err(format!("recoverd pid {other:?} (killed {old})")),
    });
    eprintln!("leader {l}: recoverd {old} -> {new} after {:?}", t0.elapsed());
    check(&c, wait_gone(&[helper], GONE));
    let nl = c.wait_until(LT + SLACK, "one leader again", || check_lock_leader(&c, &ALL3));
    c.wait_until(LT + SLACK, "a recovery by the new leader", || check_recovered(&c, &ALL3, Some(g)));
    check(&c, c.check_connected(&ALL3));
    check(&c, check_all_ok(&c, &ALL3));
    eprintln!("leader {nl} after {:?}", t0.elapsed());
}

#[test]
fn issue4_follower_kill9_its_daemons_go() {
    let c = lock_cluster(3).start();
    let (l, g) = converge(&c, &ALL3);
    let victim = (l + 1) % 3;
    let rec = recoverd_pid(c.node(victim)).unwrap();
    let helpers: Vec<i32> = lock_helpers(c.node(victim)).iter().map(|p| p.pid).collect();
    let ns = c.node(victim).netns.clone();
    let t0 = Instant::now();
    c.kill9(victim);
    let mut pids = helpers.clone();
    pids.push(rec);
    check(&c, wait_gone(&pids, GONE));
    let left = leader::processes_in(&ns);
    assert!(
        left.is_empty(),
        "{}",
        c.report(&format!("still alive in {ns} {:?} after kill -9: {left:?}", t0.elapsed()))
    );
    let survivors = others(&ALL3, victim);
    c.wait_until(LT + SLACK, "the survivors recovered without the dead node", || {
        check_recovered(&c, &survivors, Some(g))
    });
    assert_eq!(check(&c, check_lock_leader(&c, &survivors)), l, "the leader changed when a follower died");
}

#[test]
fn issue4_lock_file_removed_leader_steps_down() {
    let c = lock_cluster(3).start();
    let (l, g) = converge(&c, &ALL3);
    let helper = lock_helpers(c.node(l))[0].pid;
    let mark = leader::log_mark(c.node(l));
    std::fs::remove_file(lock_file(&c)).expect("remove the lock file");
    let t0 = Instant::now();
    // The default helper re-checks the file every second.
    let line = wait_log(&c, l, mark, "lock lost", Duration::from_secs(1) + SLACK);
    eprintln!("after {:?}: {line}", t0.elapsed());
    check(&c, wait_gone(&[helper], GONE));
    let nl = c.wait_until(LT + SLACK, "one leader holding the new lock file", || check_lock_leader(&c, &ALL3));
    let g2 = c.wait_until(LT + SLACK, "a recovery in a new generation", || check_recovered(&c, &ALL3, Some(g)));
    eprintln!("leader {l} -> {nl}, generation {} -> {} after {:?}", g.0, g2.0, t0.elapsed());
    assert!(lock_file(&c).exists());
    assert!(!leader::log_lines_since(c.node(l), mark, "no longer the leader").is_empty(), "node {l} stepped down");
}

#[test]
fn issue4_custom_helper_gets_its_arguments() {
    // `!prog args`: a wrapper around the default helper, with a 200 ms
    // recheck interval, that records how it was called.
    let c = Cluster::builder(2)
        .not_started(&[0, 1])
        .cluster_conf("cluster lock = !{shared}/wrap-helper {shared}/custom.lock 200ms")
        .cluster_conf("leader timeout = 500ms")
        .start();
    let shared = c.shared_dir();
    write_script(
        &shared.join("wrap-helper"),
        &format!(
            "#!/bin/sh\necho \"$*\" >> {}/wrap-args\nexec {} \"$@\"\n",
            shared.display(),
            bin_dir().join("rctdb-lock-helper").display()
        ),
    );
    c.start_node(0);
    c.start_node(1);
    c.wait_connected(&[0, 1], CONVERGE);
    let l = c.wait_until(CONVERGE, "a leader", || agreed_leader(&c, &[0, 1]));
    c.wait_until(CONVERGE, "a recovery", || check_recovered(&c, &[0, 1], None));
    let lock = shared.join("custom.lock");
    assert!(lock_is_held(&lock).unwrap(), "the custom helper's file is locked");
    let args = std::fs::read_to_string(shared.join("wrap-args")).unwrap();
    assert!(args.lines().all(|a| a == format!("{} 200ms", lock.display())), "helper arguments: {args:?}");
    assert_eq!(
        cli_ok(&c, 0, &["getreclock"]).trim(),
        format!("!{}/wrap-helper {} 200ms", shared.display(), lock.display())
    );
    // The 200 ms recheck: a removed file is noticed well within a second.
    let mark = leader::log_mark(c.node(l));
    std::fs::remove_file(&lock).unwrap();
    let t0 = Instant::now();
    wait_log(&c, l, mark, "lock lost", Duration::from_millis(200) + SLACK);
    eprintln!("lock loss seen after {:?}", t0.elapsed());
    c.wait_until(LT + SLACK, "a leader again", || agreed_leader(&c, &[0, 1]));
}

#[test]
fn issue4_hung_lock_helper_never_piles_up() {
    let c = Cluster::builder(3)
        .not_started(&ALL3)
        .cluster_conf("cluster lock = !{shared}/hang-helper")
        .cluster_conf("leader timeout = 500ms")
        .tunable("KeepaliveInterval", "200ms")
        .tunable("KeepaliveLimit", "3")
        .start();
    let script = c.shared_dir().join("hang-helper");
    // A helper stuck on a hung cluster filesystem: it never answers and
    // ignores SIGTERM, SIGINT, SIGHUP and its stdin; only SIGKILL ends it.
    write_script(&script, "#!/bin/sh\ntrap '' TERM INT HUP PIPE\nwhile :; do sleep 1; done\n");
    let marker = script.display().to_string();
    for i in ALL3 {
        c.start_node(i);
    }
    c.wait_connected(&ALL3, CONVERGE);
    let started = |c: &Cluster| -> usize {
        ALL3.iter().map(|&i| leader::count_log(c.node(i), "Started cluster lock helper")).sum()
    };
    let t0 = Instant::now();
    let mut samples = 0;
    let mut max_procs = vec![0usize; 3];
    let mut max_helpers = vec![0usize; 3];
    while started(&c) < 50 {
        assert!(t0.elapsed() < Duration::from_secs(120), "{}", c.report("fewer than 50 lock attempts in 120 s"));
        for i in ALL3 {
            let procs = leader::processes_in(&c.node(i).netns);
            let helpers: Vec<_> = procs.iter().filter(|p| p.argv.iter().any(|a| a.contains(&marker))).collect();
            max_helpers[i] = max_helpers[i].max(helpers.len());
            max_procs[i] = max_procs[i].max(procs.len());
            assert!(
                helpers.len() <= 1,
                "{}",
                c.report(&format!("node {i}: {} helpers alive: {helpers:?}", helpers.len()))
            );
            // rctdbd, recoverd, the helper and its `sleep 1`, and at most a
            // few `sleep 1` orphaned by killed helpers (each lives < 1 s).
            assert!(procs.len() <= 8, "{}", c.report(&format!("node {i}: processes pile up: {procs:?}")));
            assert_eq!(leader_of(&c, i).unwrap(), Pnn::UNKNOWN, "node {i} claims a leader with a lock nobody can take");
        }
        samples += 1;
        sleep(Duration::from_millis(100));
    }
    eprintln!(
        "{} attempts in {:?}, {samples} samples; at most {max_helpers:?} helpers and {max_procs:?} processes per node",
        started(&c),
        t0.elapsed()
    );
    for i in ALL3 {
        let n = leader::count_log(c.node(i), "did not answer");
        assert!(n >= 1, "{}", c.report(&format!("node {i}: no \"did not answer\" line")));
        assert_eq!(leader::count_log(c.node(i), "Cluster lock taken successfully"), 0);
        assert!(cli_ok(&c, i, &["status"]).contains("Leader:UNKNOWN\n"), "node {i}: status");
    }
}

// ------------------------------------------------------------ node states

#[test]
fn issue4_ban_excludes_node_then_lifts_itself() {
    let c = lock_cluster(3).start();
    let (l, g) = converge(&c, &ALL3);
    let victim = (l + 1) % 3;
    let rest = others(&ALL3, victim);

    let t0 = Instant::now();
    let ban = Admin::run(&c, victim, &["ban", "5"]);
    c.wait_until(Duration::from_secs(2), "BANNED|INACTIVE everywhere", || {
        check_flags(&c, &ALL3, victim, "BANNED|INACTIVE")
    });
    let g2 = c.wait_until(SLACK, "a recovery without the banned node", || check_recovered(&c, &rest, Some(g)));
    assert!(lock_helpers(c.node(victim)).is_empty());
    eprintln!("banned and recovered out after {:?}", t0.elapsed());
    c.wait_until(Duration::from_secs(5) + SLACK, "the ban to end by itself", || check_all_ok(&c, &ALL3));
    let back = t0.elapsed();
    assert!(back >= Duration::from_millis(4500), "{}", c.report(&format!("a 5 s ban ended after {back:?}")));
    let g3 = c.wait_until(SLACK, "a recovery with the node back", || check_recovered(&c, &ALL3, Some(g2)));
    eprintln!("ban lifted after {back:?}; generations {} -> {} -> {}", g.0, g2.0, g3.0);
    eprintln!("`rctdb ban 5` returned after {:?}", ban.finish(&c));
    assert_eq!(check(&c, check_lock_leader(&c, &ALL3)), l);

    // The leader banned: it gives up the lock, another node leads;
    // `unban` lifts the ban at once.
    let rest = others(&ALL3, l);
    let t0 = Instant::now();
    let ban = Admin::run(&c, l, &["ban", "60"]);
    let nl = c.wait_until(Duration::from_secs(1) + LT + SLACK, "a new leader", || {
        let nl = check_lock_leader(&c, &rest)?;
        match lock_helpers(c.node(l)).len() {
            0 => Ok(nl),
            n => Err(format!("the banned node still has {n} lock helpers")),
        }
    });
    c.wait_until(SLACK, "a recovery without the banned leader", || check_recovered(&c, &rest, Some(g3)));
    eprintln!("banned leader {l} replaced by {nl} after {:?}", t0.elapsed());
    ban.finish(&c);
    let t1 = Instant::now();
    let unban = Admin::run(&c, l, &["unban"]);
    c.wait_until(Duration::from_secs(1), "unban to show everywhere", || check_all_ok(&c, &ALL3));
    eprintln!("unbanned everywhere after {:?}", t1.elapsed());
    c.wait_until(SLACK, "a recovery with the node back", || check_recovered(&c, &ALL3, None));
    unban.finish(&c);
    assert_eq!(check(&c, check_lock_leader(&c, &ALL3)), nl, "an unbanned node must not take the lead back");

    // EnableBans=0 ignores bans.
    let mut cl = c.node(victim).client().unwrap();
    cl.set_tunable(Pnn::CURRENT, "EnableBans", "0").unwrap();
    let mark = leader::log_mark(c.node(victim));
    cl.set_ban(Pnn::CURRENT, 30).unwrap();
    wait_log(&c, victim, mark, "Bans are disabled", Duration::from_secs(2));
    sleep(Duration::from_millis(300));
    check(&c, check_all_ok(&c, &ALL3));
}

#[test]
fn issue4_stop_continue_disable_enable_visible_everywhere() {
    let c = lock_cluster(3).start();
    let (l, g) = converge(&c, &ALL3);
    let victim = (l + 1) % 3;
    let rest = others(&ALL3, victim);

    let a = Admin::run(&c, victim, &["stop"]);
    c.wait_until(Duration::from_secs(2), "STOPPED|INACTIVE everywhere", || {
        check_flags(&c, &ALL3, victim, "STOPPED|INACTIVE")
    });
    let g2 = c.wait_until(SLACK, "a recovery without the stopped node", || check_recovered(&c, &rest, Some(g)));
    let mode = c.node(victim).client().unwrap().recmode(Pnn::CURRENT).unwrap();
    assert_eq!(mode, RecMode::Active, "a stopped node stays in recovery mode");
    a.finish(&c);
    let a = Admin::run(&c, victim, &["continue"]);
    c.wait_until(Duration::from_secs(2), "OK everywhere after continue", || check_all_ok(&c, &ALL3));
    let g3 = c.wait_until(SLACK, "a recovery with the node back", || check_recovered(&c, &ALL3, Some(g2)));
    a.finish(&c);

    let a = Admin::run(&c, victim, &["disable"]);
    c.wait_until(Duration::from_secs(2), "DISABLED everywhere", || check_flags(&c, &ALL3, victim, "DISABLED"));
    a.finish(&c);
    // Disabled nodes stay in the VNN map: they only host no addresses.
    sleep(Duration::from_millis(500));
    assert_eq!(check(&c, check_recovered(&c, &ALL3, None)), g3, "disabling is no membership change");
    let a = Admin::run(&c, victim, &["enable"]);
    c.wait_until(Duration::from_secs(2), "OK everywhere after enable", || check_all_ok(&c, &ALL3));
    a.finish(&c);

    // The leader stopped: it gives up the lock, another node leads.
    let rest = others(&ALL3, l);
    let t0 = Instant::now();
    let a = Admin::run(&c, l, &["stop"]);
    let nl = c.wait_until(Duration::from_secs(1) + LT + SLACK, "a new leader", || {
        let nl = check_lock_leader(&c, &rest)?;
        match lock_helpers(c.node(l)).len() {
            0 => Ok(nl),
            n => Err(format!("the stopped node still has {n} lock helpers")),
        }
    });
    let g4 = c.wait_until(SLACK, "a recovery without the stopped leader", || check_recovered(&c, &rest, Some(g3)));
    eprintln!("stopped leader {l} replaced by {nl} after {:?}", t0.elapsed());
    a.finish(&c);
    let a = Admin::run(&c, l, &["continue"]);
    c.wait_until(Duration::from_secs(2), "OK everywhere", || check_all_ok(&c, &ALL3));
    c.wait_until(SLACK, "the old leader recovered back in", || check_recovered(&c, &ALL3, Some(g4)));
    a.finish(&c);
    assert_eq!(check(&c, check_lock_leader(&c, &ALL3)), nl);
}

// ------------------------------------------------------- a frozen daemon

#[test]
fn issue4_frozen_leader_daemon_gives_up_the_lock() {
    let c = lock_cluster(3).start();
    let (l, g) = converge(&c, &ALL3);
    let rec = recoverd_pid(c.node(l)).unwrap();
    let helper = lock_helpers(c.node(l))[0].pid;
    let rest = others(&ALL3, l);
    let mark = leader::log_mark(c.node(l));

    let t0 = Instant::now();
    c.sigstop(l);
    let nl = c.wait_until(LT + SLACK, "a new leader among the others", || check_lock_leader(&c, &rest));
    let t_leader = t0.elapsed();
    let line = wait_log(&c, l, mark, "does not answer", SLACK);
    check(&c, wait_gone(&[helper], GONE));
    assert!(is_alive(rec), "the frozen node's recovery daemon keeps running");
    let g2 = c.wait_until(SLACK, "the others recovered", || check_recovered(&c, &rest, Some(g)));
    eprintln!("rctdbd of {l} frozen: {line}\nnew leader {nl} after {t_leader:?}, generation {}", g2.0);

    c.sigcont(l);
    let t1 = Instant::now();
    c.wait_connected(&ALL3, Duration::from_secs(6));
    let l2 = c.wait_until(LT + SLACK, "exactly one leader", || check_lock_leader(&c, &ALL3));
    let g3 = c.wait_until(SLACK, "all recovered in a new generation", || check_recovered(&c, &ALL3, Some(g2)));
    check(&c, check_all_ok(&c, &ALL3));
    eprintln!("after SIGCONT: leader {l2}, generation {} after {:?}", g3.0, t1.elapsed());
    // And it stays that way.
    let t2 = Instant::now();
    while t2.elapsed() < Duration::from_secs(2) {
        assert_eq!(check(&c, check_lock_leader(&c, &ALL3)), l2);
        sleep(Duration::from_millis(100));
    }
}

#[test]
fn issue4_frozen_follower_does_not_silence_the_leader() {
    // Default keepalives: a SIGSTOPped follower stays "connected" for
    // 25 s. The leader must keep broadcasting meanwhile ("every leader
    // timeout / 4"), so the other follower keeps seeing it.
    let c = Cluster::builder(3)
        .cluster_conf("cluster lock = {shared}/cluster.lock")
        .cluster_conf("leader timeout = 500ms")
        .start();
    let (l, _) = converge(&c, &ALL3);
    let frozen = (l + 1) % 3;
    let other = (l + 2) % 3;
    let t0 = Instant::now();
    c.sigstop(frozen);
    let mut lost = None;
    while t0.elapsed() < Duration::from_secs(5) {
        let seen = leader_of(&c, other);
        if seen != Ok(Pnn(l as u32)) && lost.is_none() {
            lost = Some((t0.elapsed(), seen));
        }
        sleep(Duration::from_millis(50));
    }
    c.sigcont(frozen);
    if let Some((t, seen)) = lost {
        panic!(
            "{}",
            c.report(&format!(
                "node {frozen} SIGSTOPped: {t:?} later node {other} reported leader {seen:?} instead of {l}"
            ))
        );
    }
}

// ------------------------------------------------------ message election

#[test]
fn issue4_message_election_without_lock() {
    let c = Cluster::builder(3)
        .not_started(&ALL3)
        .cluster_conf("leader timeout = 500ms")
        .tunable("KeepaliveInterval", "200ms")
        .tunable("KeepaliveLimit", "3")
        .tunable("ElectionTimeout", "1")
        .start();
    // Staggered starts: node 1 runs longest, then 0, then 2.
    for i in [1, 0, 2] {
        c.start_node(i);
        sleep(Duration::from_millis(300));
    }
    c.wait_connected(&ALL3, CONVERGE);
    let eldest = |set: &[usize]| -> usize {
        *set.iter().min_by_key(|&&i| leader::recoverd(c.node(i)).map(|p| p.start_ticks).unwrap_or(u64::MAX)).unwrap()
    };
    let want = eldest(&ALL3);
    let l = c.wait_until(CONVERGE, "the longest-running node to lead", || match agreed_leader(&c, &ALL3)? {
        l if l == want => Ok(l),
        l => Err(format!("leader {l}, longest-running {want}")),
    });
    let g = c.wait_until(CONVERGE, "a recovery", || check_recovered(&c, &ALL3, None));
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
        assert_eq!(check(&c, agreed_leader(&c, &ALL3)), l, "the leader changed");
        sleep(Duration::from_millis(100));
    }
    for i in ALL3 {
        assert!(leader::count_log(c.node(i), "no split-brain protection") > 0, "node {i}: no warning at start");
        assert!(lock_helpers(c.node(i)).is_empty());
    }

    let rest = others(&ALL3, l);
    let want = eldest(&rest);
    let t0 = Instant::now();
    c.kill9(l);
    let election = Duration::from_secs(1);
    c.wait_until(LT + election + SLACK, "the longest-running survivor to lead", || match agreed_leader(&c, &rest)? {
        l if l == want => Ok(l),
        l => Err(format!("leader {l}, longest-running {want}")),
    });
    let t_leader = t0.elapsed();
    c.wait_until(SLACK, "a recovery", || check_recovered(&c, &rest, Some(g)));
    eprintln!("leader {l} killed: {want} elected after {t_leader:?}");
}

// ------------------------------------------------------------ membership

#[test]
fn issue4_late_joiner_is_recovered_in() {
    let c = lock_cluster(3).not_started(&[2]).start();
    let (l, g) = converge(&c, &[0, 1]);
    c.start_node(2);
    let t0 = Instant::now();
    c.wait_connected(&ALL3, CONVERGE);
    let g2 = c.wait_until(CONVERGE, "the joiner recovered in", || check_recovered(&c, &ALL3, Some(g)));
    c.wait_until(CONVERGE, "the joiner RUNNING", || match leader::runstate(&c, 2)? {
        RunState::Running => Ok(()),
        s => Err(format!("node 2 run state {s:?}")),
    });
    c.wait_until(SLACK, "OK everywhere", || check_all_ok(&c, &ALL3));
    eprintln!("node 2 joined: generation {} -> {} after {:?}", g.0, g2.0, t0.elapsed());
    assert_eq!(check(&c, check_lock_leader(&c, &ALL3)), l, "a joining node must not disturb the leader");
}

#[test]
fn issue4_shutdown_releases_the_lock() {
    let c = lock_cluster(3).start();
    let (l, g) = converge(&c, &ALL3);
    let rec = recoverd_pid(c.node(l)).unwrap();
    let helper = lock_helpers(c.node(l))[0].pid;
    cli_ok(&c, l, &["shutdown"]);
    let t0 = Instant::now();
    c.node(l).wait_exit(Duration::from_secs(10)).unwrap_or_else(|| panic!("{}", c.report("no exit after shutdown")));
    check(&c, wait_gone(&[rec, helper], GONE));
    let rest = others(&ALL3, l);
    let nl = c.wait_until(LT + SLACK, "a new leader", || check_lock_leader(&c, &rest));
    c.wait_until(SLACK, "a recovery", || check_recovered(&c, &rest, Some(g)));
    eprintln!("leader {l} shut down: {nl} leads after {:?}", t0.elapsed());
    // docs/recovery.md: rctdbd stops its recovery daemon with SIGTERM; it
    // releases the lock and exits 0 - an orderly stop, not "parent died".
    let tag = format!("recoverd[{rec}]");
    let lines: Vec<String> = c.node(l).log_text().lines().filter(|x| x.contains(&tag)).map(str::to_string).collect();
    let last = lines[lines.len().saturating_sub(4)..].join("\n");
    assert!(lines.iter().any(|x| x.contains("Releasing the cluster lock")), "no lock release:\n{last}");
    assert!(
        lines.iter().any(|x| x.contains("Received SIGTERM")) && !lines.iter().any(|x| x.contains("parent died")),
        "{}",
        c.report(&format!("node {l}: shutdown seen by the recovery daemon as a crash:\n{last}"))
    );
}

#[test]
fn issue4_no_leader_capability_never_races() {
    let c = lock_cluster(3).not_started(&ALL3).start();
    let no_capability = |i: usize| {
        let conf = c.node(i).read_base_file("rctdb.conf");
        c.node(i).write_base_file("rctdb.conf", &format!("{conf}\tleader capability = false\n"));
    };
    no_capability(0);
    no_capability(1);
    for i in ALL3 {
        c.start_node(i);
    }
    let (l, g) = converge(&c, &ALL3);
    assert_eq!(l, 2, "only node 2 may lead");
    let kill_at = Instant::now();
    c.kill9(2);
    // Nobody may lead now: 0 and 1 never race for the lock.
    while kill_at.elapsed() < Duration::from_secs(3) {
        for i in [0, 1] {
            assert!(lock_helpers(c.node(i)).is_empty(), "{}", c.report(&format!("node {i} races for the lock")));
        }
        sleep(Duration::from_millis(50));
    }
    for i in [0, 1] {
        assert_eq!(leader_of(&c, i).unwrap(), Pnn::UNKNOWN);
        assert_eq!(leader::count_log(c.node(i), "Started cluster lock helper"), 0, "node {i}");
        assert_eq!(leader::generation(&c, i).unwrap(), g, "nobody recovered");
    }
    // A node that starts with no leader about stays in recovery, in its
    // first recovery.
    no_capability(2);
    c.start_node(2);
    c.wait_connected(&ALL3, CONVERGE);
    sleep(Duration::from_secs(2));
    let mut cl = c.node(2).client().unwrap();
    assert_eq!(cl.recmode(Pnn::CURRENT).unwrap(), RecMode::Active);
    assert_eq!(cl.runstate(Pnn::CURRENT).unwrap(), RunState::FirstRecovery);
}

// --------------------------------------------------- recovery and credits

#[test]
fn issue4_failed_recovery_bans_the_culprit() {
    let c = lock_cluster(3).tunable("RerecoveryTimeout", "300ms").tunable("RecoveryBanPeriod", "5").start();
    let (l, g) = converge(&c, &ALL3);
    let culprit = (l + 1) % 3;
    let flag = c.node(culprit).dir.join("fail-startrecovery");
    let events = c.node(culprit).base.join("events").join("legacy");
    std::fs::create_dir_all(&events).unwrap();
    write_script(
        &events.join("50.failrecovery"),
        &format!("#!/bin/sh\n[ \"$1\" = startrecovery ] && [ -e {} ] && exit 1\nexit 0\n", flag.display()),
    );
    std::fs::write(&flag, "").unwrap();
    let mark = leader::log_mark(c.node(l));
    // Any recovery now fails on the culprit: make one happen.
    cli_ok(&c, culprit, &["stop"]);
    let cont = Admin::run(&c, culprit, &["continue"]);
    let t0 = Instant::now();
    let line = wait_log(&c, l, mark, "Recovery failed", SLACK);
    eprintln!("{line}");
    // 2 x 3 nodes credits, one per failure, one retry per 300 ms..1 s.
    c.wait_until(Duration::from_secs(20), "the culprit banned", || check_flags(&c, &ALL3, culprit, "BANNED|INACTIVE"));
    eprintln!("banned after {:?}", t0.elapsed());
    let rest = others(&ALL3, culprit);
    let g2 = c.wait_until(SLACK, "a recovery without the culprit", || check_recovered(&c, &rest, Some(g)));
    let failures = leader::log_lines_since(c.node(l), mark, "Recovery failed").len();
    assert!(failures >= 6, "banned after {failures} failed recoveries");
    assert!(!leader::log_lines_since(c.node(l), mark, "banning credits").is_empty());
    // Fixed: back after the ban period, recovered in.
    std::fs::remove_file(&flag).unwrap();
    c.wait_until(Duration::from_secs(5) + SLACK, "the ban to end", || check_all_ok(&c, &ALL3));
    c.wait_until(SLACK, "a recovery with the culprit back", || check_recovered(&c, &ALL3, Some(g2)));
    cont.finish(&c);
}

// --------------------------------------------------- supervision options

#[test]
fn issue4_recoverd_none_runs_alone() {
    let c = Cluster::builder(1).daemon_env("RCTDB_RECOVERD", "none").start();
    c.wait_until(CONVERGE, "the node to recover itself and run", || match leader::runstate(&c, 0)? {
        RunState::Running => Ok(()),
        s => Err(format!("run state {s:?}")),
    });
    let mut cl = c.node(0).client().unwrap();
    assert_eq!(cl.recmode(Pnn::CURRENT).unwrap(), RecMode::Normal);
    assert_eq!(cl.leader(Pnn::CURRENT).unwrap(), Pnn::UNKNOWN);
    assert!(recoverd_pid(c.node(0)).is_none(), "no recovery daemon with RCTDB_RECOVERD=none");
    let procs = leader::processes_in(&c.node(0).netns);
    assert_eq!(procs.len(), 1, "only rctdbd: {procs:?}");
}

#[test]
fn issue4_recoverd_program_from_env() {
    // RCTDB_RECOVERD=/path runs that program: a wrapper that records its
    // start and execs the real recovery daemon.
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("my-recoverd");
    write_script(
        &wrapper,
        &format!(
            "#!/bin/sh\necho started >> {}/started\nexec {} \"$@\"\n",
            dir.path().display(),
            bin_dir().join("rctdb-recoverd").display()
        ),
    );
    let c = Cluster::builder(1)
        .daemon_env("RCTDB_RECOVERD", wrapper.to_str().unwrap())
        .cluster_conf("cluster lock = {shared}/cluster.lock")
        .cluster_conf("leader timeout = 500ms")
        .start();
    c.wait_until(CONVERGE, "one leader", || check_lock_leader(&c, &[0]));
    c.wait_until(CONVERGE, "a recovery", || check_recovered(&c, &[0], None));
    assert!(dir.path().join("started").exists(), "the wrapper ran");
    let rec = leader::children(c.node(0).pid().unwrap() as i32);
    assert!(rec.iter().any(|p| p.name() == "rctdb-recoverd"), "recoverd exec'd by the wrapper: {rec:?}");
}

//! Scenario tests of the cluster core (issue 2): node transport, keepalive,
//! node flags, `nodes` file handling, bad input, shutdown, and the CLI.
//!
//! Each test builds its own cluster of network namespaces (see
//! `rctdb_integration::cluster`) and runs real `rctdbd` processes. Needs
//! root and `cargo build --workspace --bins` first.
//!
//! Deadlines are generous where the contract gives none (a loaded 2-core CI
//! machine must never fail them), and exactly the contract plus stated slack
//! where it does.

use rctdb_integration::{describe, host_addr, Cluster};
use rctdb_protocol::{DebugLevel, NodeFlags, Pnn, MAX_BODY_LEN};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::Output;
use std::time::{Duration, Instant};

/// Nodes connect and retry once a second; on a busy machine give them time.
const CONVERGE: Duration = Duration::from_secs(20);
/// A connection the daemon must drop.
const DROP_DEADLINE: Duration = Duration::from_secs(5);

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_success(o: &Output, what: &str) {
    assert!(o.status.success(), "{what} failed\n{}", describe(o));
}

/// `-X` rows split into fields, without the empty first and last field.
fn fields(line: &str) -> Vec<&str> {
    let inner = line.strip_prefix('|').and_then(|l| l.strip_suffix('|'));
    inner.unwrap_or_else(|| panic!("-X line not enclosed in '|': {line:?}")).split('|').collect()
}

/// CTDB's node state: `OK`, `PARTIALLYONLINE`, or flag names joined by `|`.
fn is_node_state(s: &str) -> bool {
    const NAMES: [&str; 8] =
        ["DISCONNECTED", "UNKNOWN", "DISABLED", "BANNED", "UNHEALTHY", "DELETED", "STOPPED", "INACTIVE"];
    s == "OK" || s == "PARTIALLYONLINE" || (!s.is_empty() && s.split('|').all(|w| NAMES.contains(&w)))
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------- transport

#[test]
fn issue2_three_nodes_converge() {
    let c = Cluster::builder(3).start();
    c.wait_connected(&[0, 1, 2], CONVERGE);
    for i in 0..3 {
        let pnn = c.node(i).client().and_then(|mut cl| cl.pnn(Pnn::CURRENT)).unwrap();
        assert_eq!(pnn, Pnn(i as u32), "node {i} reports the wrong PNN");
        let map = c.node(i).nodemap().unwrap();
        let seen: Vec<(u32, String)> = map.nodes.iter().map(|n| (n.pnn.0, n.addr.to_string())).collect();
        let want: Vec<(u32, String)> = (0..3).map(|j| (j as u32, host_addr(j).to_string())).collect();
        assert_eq!(seen, want, "node {i}'s node map");
    }
}

#[test]
fn issue2_kill9_is_seen_at_once_not_after_keepalive_limit() {
    // Default tunables: the keepalive limit would take 25 s; a dead process
    // closes its sockets, which the peers must notice immediately.
    let c = Cluster::builder(3).start();
    c.wait_connected(&[0, 1, 2], CONVERGE);
    let t0 = Instant::now();
    c.kill9(2);
    c.wait_disconnected(&[0, 1], 2, Duration::from_secs(2));
    eprintln!("kill -9 seen as DISCONNECTED after {:?}", t0.elapsed());
    c.check_connected(&[0, 1]).unwrap_or_else(|v| panic!("{}", c.report(&format!("0 and 1 lost each other:\n{v}"))));
}

#[test]
fn issue2_link_down_detected_within_keepalive_limit_and_reconnects() {
    let c = Cluster::builder(3).tunable("KeepaliveInterval", "200ms").tunable("KeepaliveLimit", "3").start();
    c.wait_connected(&[0, 1, 2], CONVERGE);
    // Interval x (Limit + 1) = 0.8 s, plus 1.5 s slack for a loaded machine.
    let limit = Duration::from_millis(800 + 1500);
    c.link_down(2);
    let t0 = Instant::now();
    c.wait_disconnected(&[0, 1], 2, limit);
    eprintln!("link down seen by 0 and 1 after {:?}", t0.elapsed());
    c.wait_until(
        limit.saturating_sub(t0.elapsed()) + Duration::from_millis(100),
        "node 2 to see 0 and 1 DISCONNECTED",
        || c.check_disconnected(&[2], 0).and_then(|_| c.check_disconnected(&[2], 1)),
    );
    eprintln!("node 2 saw the others go after {:?}", t0.elapsed());
    c.check_connected(&[0, 1]).unwrap_or_else(|v| panic!("{}", c.report(&format!("0 and 1 lost each other:\n{v}"))));

    c.link_up(2);
    let t1 = Instant::now();
    c.wait_connected(&[0, 1, 2], Duration::from_secs(4));
    eprintln!("reconnected {:?} after the link came back", t1.elapsed());
}

#[test]
fn issue2_stopped_process_detected_by_keepalive_and_recovers() {
    let c = Cluster::builder(3).tunable("KeepaliveInterval", "200ms").tunable("KeepaliveLimit", "3").start();
    c.wait_connected(&[0, 1, 2], CONVERGE);
    c.sigstop(2);
    let t0 = Instant::now();
    c.wait_disconnected(&[0, 1], 2, Duration::from_millis(800 + 1500));
    eprintln!("SIGSTOPped node seen as DISCONNECTED after {:?}", t0.elapsed());
    c.sigcont(2);
    c.wait_connected(&[0, 1, 2], Duration::from_secs(6));
}

#[test]
fn issue2_partition_detected_and_healed() {
    let c = Cluster::builder(3).tunable("KeepaliveInterval", "200ms").tunable("KeepaliveLimit", "3").start();
    c.wait_connected(&[0, 1, 2], CONVERGE);
    c.partition(0, 1);
    let limit = Duration::from_millis(800 + 1500);
    c.wait_until(limit, "0 and 1 to see each other DISCONNECTED", || {
        c.check_disconnected(&[0], 1).and_then(|_| c.check_disconnected(&[1], 0))
    });
    // Node 2 still reaches both, and both still see it.
    for (i, j) in [(0, 2), (1, 2), (2, 0), (2, 1)] {
        let f = c.flags_seen_by(i, j).unwrap();
        assert!(
            !f.contains(NodeFlags::DISCONNECTED),
            "{}",
            c.report(&format!("node {i} sees {j} as {f} during 0|1 partition"))
        );
    }
    c.heal(0, 1);
    c.wait_connected(&[0, 1, 2], Duration::from_secs(4));
}

#[test]
fn issue2_killed_node_restarts_and_rejoins() {
    let c = Cluster::builder(3).start();
    c.wait_connected(&[0, 1, 2], CONVERGE);
    c.kill9(1);
    c.wait_disconnected(&[0, 2], 1, Duration::from_secs(2));
    // Nothing the dead daemon started (recovery daemon, helpers) outlives it.
    let ns = c.node(1).netns.clone();
    c.wait_until(Duration::from_secs(5), "every process on node 1 to exit after kill -9 of rctdbd", || {
        let left = rctdb_integration::netns::pids(&ns);
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("still running in {ns}: {left:?}"))
        }
    });
    // Restart over the stale socket file a crash leaves behind.
    c.restart(1);
    c.wait_connected(&[0, 1, 2], CONVERGE);
}

// ---------------------------------------------------------------- nodes file

#[test]
fn issue2_connection_from_unknown_address_is_refused() {
    let mut c = Cluster::builder(2).start();
    c.wait_connected(&[0, 1], CONVERGE);
    let stranger = c.add_extra_host("192.0.2.99".parse().unwrap());
    let mut s = stranger
        .tcp_connect(c.node(0).transport_addr())
        .unwrap_or_else(|e| panic!("TCP connect from 192.0.2.99 to node 0 failed: {e}"));
    // Even a well-formed keepalive must not get it in.
    let ka = rctdb_protocol::encode(&rctdb_protocol::Packet::Keepalive(rctdb_protocol::Keepalive {
        version: 1 << 16,
        uptime_ms: 1,
    }));
    let _ = s.write_all(&ka);
    if let Err(e) = rctdb_integration::netns::expect_closed(&mut s, DROP_DEADLINE) {
        panic!("{}", c.report(&format!("connection from 192.0.2.99: {e}")));
    }
    c.wait_until(DROP_DEADLINE, "node 0 to log the refusal of 192.0.2.99", || {
        let log = c.node(0).log_text();
        match log.lines().find(|l| l.contains("Refused connection from unknown node") && l.contains("192.0.2.99")) {
            Some(_) => Ok(()),
            None => Err("no line with 'Refused connection from unknown node' and '192.0.2.99' in node 0's log".into()),
        }
    });
    c.check_connected(&[0, 1]).unwrap_or_else(|v| panic!("{}", c.report(&v)));
    let map = c.node(0).nodemap().unwrap();
    assert_eq!(map.nodes.len(), 2, "the stranger must not join the node map: {map:?}");
}

#[test]
fn issue2_reloadnodes_adds_a_node_live() {
    let mut c = Cluster::builder(3).start();
    c.wait_connected(&[0, 1, 2], CONVERGE);
    let pid_before: Vec<Option<u32>> = (0..3).map(|i| c.node(i).pid()).collect();
    let n = c.add_node();
    assert_eq!(n, 3);
    c.write_nodes_file_everywhere(&["192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14"]);
    c.start_node(3);
    let out = c.node(0).cli(&["reloadnodes"]);
    assert_success(&out, "rctdb reloadnodes");
    assert!(stdout(&out).contains("Node 3 is NEW"), "reloadnodes should report the new node\n{}", describe(&out));
    c.wait_connected(&[0, 1, 2, 3], CONVERGE);
    let after: Vec<Option<u32>> = (0..3).map(|i| c.node(i).pid()).collect();
    assert_eq!(pid_before, after, "reloadnodes must not restart daemons");
    // A second reload with no change is a no-op.
    let out = c.node(0).cli(&["reloadnodes"]);
    assert_success(&out, "second rctdb reloadnodes");
    assert!(stderr(&out).contains("No change in nodes file"), "{}", describe(&out));
}

#[test]
fn issue2_deleted_line_keeps_pnn_numbering() {
    let c = Cluster::builder(3).nodes_file(&["192.0.2.11", "#192.0.2.12", "192.0.2.13"]).not_started(&[1]).start();
    c.wait_connected(&[0, 2], CONVERGE);
    let pnn = c.node(2).client().and_then(|mut cl| cl.pnn(Pnn::CURRENT)).unwrap();
    assert_eq!(pnn, Pnn(2), "the node on line 2 after a deleted line 1");
    let map = c.node(0).nodemap().unwrap();
    assert_eq!(map.nodes.len(), 3, "deleted nodes stay in the node map: {map:?}");
    assert!(map.nodes[1].flags.contains(NodeFlags::DELETED), "PNN 1 must be DELETED: {map:?}");

    let out = c.node(2).cli(&["status"]);
    assert_success(&out, "rctdb status");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"Number of nodes:3 (including 1 deleted nodes)"), "{text}");
    assert!(!lines.iter().any(|l| l.starts_with("pnn:1 ")), "deleted node shown:\n{text}");
    assert!(lines.iter().any(|l| l.starts_with("pnn:0 192.0.2.11 ")), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("pnn:2 192.0.2.13 ") && l.ends_with(" (THIS NODE)")), "{text}");

    let out = c.node(0).cli(&["listnodes"]);
    assert_success(&out, "rctdb listnodes");
    assert_eq!(stdout(&out), "192.0.2.11\n192.0.2.13\n");
    let out = c.node(0).cli(&["-X", "listnodes"]);
    assert_success(&out, "rctdb -X listnodes");
    assert_eq!(stdout(&out), "|0|192.0.2.11|\n|2|192.0.2.13|\n");
}

// ---------------------------------------------------------------- bad input

/// Frames a peer must not get away with: each must close its connection.
fn bad_frames() -> Vec<(&'static str, Vec<u8>)> {
    let header = |version: u16, reserved: u16, len: u32| {
        let mut v = b"RCTD".to_vec();
        v.extend_from_slice(&version.to_le_bytes());
        v.extend_from_slice(&reserved.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v
    };
    let mut bad_body = header(1, 0, 8);
    bad_body.extend_from_slice(&[0xff; 8]);
    let mut oversized = header(1, 0, MAX_BODY_LEN as u32 + 1);
    oversized.extend_from_slice(&[0u8; 64]);
    vec![
        ("garbage", b"GET / HTTP/1.0\r\nHost: rctdb\r\n\r\n".to_vec()),
        ("oversized frame header", oversized),
        ("length 0xffffffff", header(1, 0, u32::MAX)),
        ("undecodable body", bad_body),
        ("wrong version", header(7, 0, 0)),
    ]
}

#[test]
fn issue2_garbage_on_node_transport_drops_only_that_connection() {
    // Host 3 is in `nodes` but runs no daemon: its address gets past the
    // unknown-node check, so the frames themselves are what is tested.
    let c = Cluster::builder(4).not_started(&[3]).start();
    c.wait_connected(&[0, 1, 2], CONVERGE);
    for (what, bytes) in bad_frames() {
        let log_before = c.node(0).log_text().len();
        let mut s = c.node(3).tcp_connect(c.node(0).transport_addr()).unwrap_or_else(|e| panic!("connect: {e}"));
        let _ = s.write_all(&bytes);
        if let Err(e) = rctdb_integration::netns::expect_closed(&mut s, DROP_DEADLINE) {
            panic!("{}", c.report(&format!("{what} from 192.0.2.14 to node 0: {e}")));
        }
        assert!(c.node(0).is_running(), "{}", c.report(&format!("node 0 died after {what}")));
        c.wait_until(DROP_DEADLINE, &format!("node 0 to log the {what} naming the peer 192.0.2.14"), || {
            let log = c.node(0).log_text();
            let new = log.get(log_before..).unwrap_or("");
            if new.contains("192.0.2.14") {
                Ok(())
            } else {
                Err(format!("new log lines:\n{new}"))
            }
        });
    }
    let n = c.node(0).client().and_then(|mut cl| cl.ping(Pnn::CURRENT));
    assert!(n.is_ok(), "{}", c.report(&format!("ping after garbage: {n:?}")));
    c.check_connected(&[0, 1, 2])
        .unwrap_or_else(|v| panic!("{}", c.report(&format!("peers lost after garbage:\n{v}"))));
}

#[test]
fn issue2_garbage_on_control_socket_drops_only_that_connection() {
    let c = Cluster::builder(1).start();
    let mut good = c.node(0).client().unwrap();
    good.ping(Pnn::CURRENT).unwrap();
    for (what, bytes) in bad_frames() {
        let mut s = UnixStream::connect(&c.node(0).socket).unwrap();
        let _ = s.write_all(&bytes);
        if let Err(e) = rctdb_integration::netns::expect_closed(&mut s, DROP_DEADLINE) {
            panic!("{}", c.report(&format!("{what} on the control socket: {e}")));
        }
        assert!(c.node(0).is_running(), "{}", c.report(&format!("rctdbd died after {what} on the control socket")));
    }
    // An unrelated client keeps its connection, and new ones are served.
    assert!(good.ping(Pnn::CURRENT).is_ok(), "{}", c.report("established client lost its connection"));
    assert!(
        c.node(0).client().and_then(|mut cl| cl.ping(Pnn::CURRENT)).is_ok(),
        "{}",
        c.report("new client not served")
    );
}

/// The `rctdb.conf` the harness writes, for tests that break one line.
fn good_conf() -> String {
    "[logging]\n\tlocation = file:\n\tlog level = INFO\n[cluster]\n\tnode address = 192.0.2.11\n\ttransport port = 4379\n"
        .to_string()
}

#[test]
fn issue2_bad_config_exits_nonzero_naming_file_and_line() {
    let c = Cluster::builder(1).not_started(&[0]).start();
    let n = c.node(0);
    let good_nodes = n.read_base_file("nodes");
    let cases: Vec<(&str, String, &str)> = vec![
        ("nodes", "192.0.2.11\n192.0.2.12\nnot-an-address\n".into(), "nodes:3:"),
        ("rctdb.conf", good_conf().replace("transport port = 4379", "transport port = banana"), "rctdb.conf:6:"),
        ("rctdb.conf", good_conf().replace("[logging]\n", "[logging]\nthis is not ini\n"), "rctdb.conf:2:"),
        ("tunables", "KeepaliveLimit=3\nKeepaliveInterval=soon\n".into(), "tunables:2:"),
    ];
    for (file, contents, want) in cases {
        n.write_base_file("rctdb.conf", &good_conf());
        n.write_base_file("nodes", &good_nodes);
        n.write_base_file("tunables", "");
        n.write_base_file(file, &contents);
        let (status, log) = c.start_expect_exit(0, Duration::from_secs(10));
        assert!(!status.success(), "rctdbd exited 0 with a bad {file}:\n{contents}\n--- log ---\n{log}");
        assert!(status.code().is_some(), "rctdbd was killed by a signal with a bad {file}: {status}\n{log}");
        let line = log.lines().find(|l| l.contains(want));
        assert!(line.is_some(), "stderr should name `{want}` for bad {file}:\n{contents}\n--- stderr ---\n{log}");
        assert!(!n.socket.exists(), "a failed start must not leave a socket");

        let out = n.cli(&["config", "validate"]);
        assert!(!out.status.success(), "`rctdb config validate` accepted a bad {file}\n{}", describe(&out));
        let all = stdout(&out) + &stderr(&out);
        assert!(all.contains(want), "`rctdb config validate` should name `{want}`\n{}", describe(&out));
    }
    n.write_base_file("rctdb.conf", &good_conf());
    n.write_base_file("nodes", &good_nodes);
    n.write_base_file("tunables", "");
    let out = n.cli(&["config", "validate"]);
    assert_success(&out, "`rctdb config validate` on a good configuration");
}

// ---------------------------------------------------------------- stopping

#[test]
fn issue2_sigterm_stops_cleanly() {
    let c = Cluster::builder(2).start();
    c.wait_connected(&[0, 1], CONVERGE);
    c.node(1).signal(rctdb_integration::Signal::SIGTERM);
    let status = c.node(1).wait_exit(Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("{}", c.report("rctdbd still running 10 s after SIGTERM")));
    assert!(status.success(), "{}", c.report(&format!("SIGTERM: rctdbd exited with {status}")));
    assert!(!c.node(1).socket.exists(), "socket {} left behind", c.node(1).socket.display());
    c.wait_disconnected(&[0], 1, Duration::from_secs(2));
}

#[test]
fn issue2_cli_shutdown_stops_cleanly() {
    let c = Cluster::builder(1).start();
    let out = c.node(0).cli(&["shutdown"]);
    assert_success(&out, "rctdb shutdown");
    let status = c.node(0).wait_exit(Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("{}", c.report("rctdbd still running 10 s after `rctdb shutdown`")));
    assert!(status.success(), "{}", c.report(&format!("shutdown: rctdbd exited with {status}")));
    assert!(!c.node(0).socket.exists(), "socket {} left behind", c.node(0).socket.display());
}

// ---------------------------------------------------------------- CLI

/// Check `rctdb status` output line by line against CTDB's format.
fn check_status(text: &str, nodes: usize, this: usize) {
    let mut lines = text.lines();
    let mut next = |what: &str| lines.next().unwrap_or_else(|| panic!("status ends before {what}:\n{text}"));
    assert_eq!(next("the header"), format!("Number of nodes:{nodes}"), "{text}");
    for i in 0..nodes {
        let l = next("a node line");
        let prefix = format!("pnn:{i} {:<16} ", host_addr(i).to_string());
        let rest = l.strip_prefix(&prefix).unwrap_or_else(|| panic!("expected {prefix:?}...:\n{text}"));
        let (state, this_node) = match rest.strip_suffix(" (THIS NODE)") {
            Some(s) => (s, true),
            None => (rest, false),
        };
        assert!(is_node_state(state), "bad node state {state:?}:\n{text}");
        assert!(!state.contains("DISCONNECTED"), "node {i} shown DISCONNECTED in a converged cluster:\n{text}");
        assert_eq!(this_node, i == this, "(THIS NODE) marker on the wrong line:\n{text}");
    }
    let g = next("Generation");
    let g = g.strip_prefix("Generation:").unwrap_or_else(|| panic!("expected Generation:, got {g:?}\n{text}"));
    assert!(g == "INVALID" || is_number(g), "{text}");
    let size = next("Size");
    let size: usize = size
        .strip_prefix("Size:")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("expected Size:N, got {size:?}\n{text}"));
    for h in 0..size {
        let l = next("a hash line");
        let lm = l.strip_prefix(&format!("hash:{h} lmaster:")).unwrap_or_else(|| panic!("bad hash line {l:?}\n{text}"));
        assert!(is_number(lm), "{text}");
    }
    let rm = next("Recovery mode");
    assert!(rm == "Recovery mode:NORMAL (0)" || rm == "Recovery mode:RECOVERY (1)", "bad {rm:?}\n{text}");
    let leader = next("Leader");
    let leader = leader.strip_prefix("Leader:").unwrap_or_else(|| panic!("expected Leader:, got {leader:?}\n{text}"));
    assert!(leader == "UNKNOWN" || is_number(leader), "{text}");
    assert_eq!(lines.next(), None, "unexpected trailing lines:\n{text}");
}

#[test]
fn issue2_cli_status_matches_ctdb_format() {
    let c = Cluster::builder(3).start();
    c.wait_connected(&[0, 1, 2], CONVERGE);
    let out = c.node(0).cli(&["status"]);
    assert_success(&out, "rctdb status");
    check_status(&stdout(&out), 3, 0);
    let out = c.node(0).cli(&["-n", "1", "status"]);
    assert_success(&out, "rctdb -n 1 status");
    check_status(&stdout(&out), 3, 1);

    // nodestatus: the node's own line only.
    let out = c.node(2).cli(&["nodestatus"]);
    let text = stdout(&out);
    let want = format!("pnn:2 {:<16} ", "192.0.2.13");
    assert!(
        text.starts_with(&want) && text.trim_end().ends_with(" (THIS NODE)") && text.lines().count() == 1,
        "{}",
        describe(&out)
    );
}

#[test]
fn issue2_cli_machine_readable_status() {
    let c = Cluster::builder(3).start();
    c.wait_connected(&[0, 1, 2], CONVERGE);
    for this in [0usize, 1] {
        let out = c.node(0).cli(&["-n", &this.to_string(), "-X", "status"]);
        assert_success(&out, "rctdb -X status");
        let text = stdout(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "header + 3 rows expected:\n{text}");
        assert_eq!(
            lines[0],
            "|Node|IP|Disconnected|Unknown|Banned|Disabled|Unhealthy|Stopped|Inactive|PartiallyOnline|ThisNode|"
        );
        for (i, row) in lines[1..].iter().enumerate() {
            let f = fields(row);
            assert_eq!(f.len(), 11, "bad row {row:?}");
            assert_eq!(f[0], i.to_string(), "{text}");
            assert_eq!(f[1], host_addr(i).to_string(), "{text}");
            assert!(f[2..10].iter().all(|v| *v == "0" || *v == "1"), "flag columns must be 0/1: {row:?}");
            assert_eq!(f[2], "0", "node {i} disconnected in a converged cluster: {row:?}");
            assert_eq!(f[10], if i == this { "Y" } else { "N" }, "ThisNode column: {text}");
        }
    }
}

#[test]
fn issue2_cli_forwards_to_other_nodes_with_n() {
    let c = Cluster::builder(3).start();
    c.wait_connected(&[0, 1, 2], CONVERGE);
    // Give node 1 alone a distinct value, then read it through node 0.
    c.node(1).client().and_then(|mut cl| cl.set_tunable(Pnn::CURRENT, "MonitorInterval", "23")).unwrap();
    let out = c.node(0).cli(&["-n", "1", "getvar", "MonitorInterval"]);
    assert_success(&out, "rctdb -n 1 getvar");
    assert_eq!(stdout(&out), "MonitorInterval            = 23\n");
    let out = c.node(0).cli(&["getvar", "MonitorInterval"]);
    assert_success(&out, "rctdb getvar");
    assert_eq!(stdout(&out), "MonitorInterval            = 15\n");

    let out = c.node(0).cli(&["-n", "1", "uptime"]);
    assert_success(&out, "rctdb -n 1 uptime");
    let text = stdout(&out);
    assert!(text.starts_with("Current time of node 1        :"), "{text}");
    assert!(text.lines().nth(1).is_some_and(|l| l.starts_with("Ctdbd start time              : (")), "{text}");

    let out = c.node(0).cli(&["-n", "1", "ping"]);
    assert_success(&out, "rctdb -n 1 ping");
    assert!(stdout(&out).starts_with("response from 1 time="), "{}", describe(&out));

    let out = c.node(0).cli(&["-n", "all", "ping"]);
    assert_success(&out, "rctdb -n all ping");
    let text = stdout(&out);
    for i in 0..3 {
        assert!(text.lines().any(|l| l.starts_with(&format!("response from {i} time="))), "no reply from {i}:\n{text}");
    }

    let out = c.node(2).cli(&["pnn"]);
    assert_success(&out, "rctdb pnn");
    assert_eq!(stdout(&out), "2\n");
}

#[test]
fn issue2_cli_node_option_to_dead_or_unknown_node_fails_clearly() {
    let c = Cluster::builder(3).start();
    c.wait_connected(&[0, 1, 2], CONVERGE);
    c.kill9(2);
    c.wait_disconnected(&[0], 2, Duration::from_secs(5));
    let t0 = Instant::now();
    let out = c.node(0).cli(&["-n", "2", "ping"]);
    assert!(!out.status.success(), "ping to a dead node succeeded\n{}", describe(&out));
    let all = stdout(&out) + &stderr(&out);
    assert!(all.contains("Node 2 has status DISCONNECTED"), "unclear message\n{}", describe(&out));
    assert!(t0.elapsed() < Duration::from_secs(5), "took {:?} to fail", t0.elapsed());

    let out = c.node(0).cli(&["-n", "7", "ping"]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!((stdout(&out) + &stderr(&out)).contains("Node 7 does not exist"), "{}", describe(&out));
}

#[test]
fn issue2_cli_setdebug_getdebug_roundtrip() {
    let c = Cluster::builder(1).start();
    let n = c.node(0);
    let out = n.cli(&["getdebug"]);
    assert_success(&out, "rctdb getdebug");
    assert_eq!(stdout(&out), "INFO\n", "log level from rctdb.conf");
    for (arg, want) in [("DEBUG", "DEBUG"), ("2", "WARNING"), ("err", "ERROR"), ("notice", "NOTICE")] {
        let out = n.cli(&["setdebug", arg]);
        assert_success(&out, &format!("rctdb setdebug {arg}"));
        assert_eq!(stdout(&out), "", "setdebug is silent");
        let out = n.cli(&["getdebug"]);
        assert_eq!(stdout(&out), format!("{want}\n"), "after setdebug {arg}");
    }
    let level = n.client().and_then(|mut cl| cl.debug_level(Pnn::CURRENT)).unwrap();
    assert_eq!(level, DebugLevel::Notice);
    let out = n.cli(&["setdebug", "foobar"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("Invalid debug level 'foobar'. Valid levels are:"), "{}", describe(&out));
}

#[test]
fn issue2_cli_setvar_getvar_roundtrip() {
    let c = Cluster::builder(1).start();
    let n = c.node(0);
    let get = |name: &str| {
        let out = n.cli(&["getvar", name]);
        assert_success(&out, &format!("rctdb getvar {name}"));
        stdout(&out)
    };
    assert_eq!(get("MonitorInterval"), "MonitorInterval            = 15\n");
    let out = n.cli(&["setvar", "MonitorInterval", "20"]);
    assert_success(&out, "rctdb setvar MonitorInterval 20");
    assert_eq!(stdout(&out), "", "setvar is silent");
    assert_eq!(get("MonitorInterval"), "MonitorInterval            = 20\n");
    assert_eq!(get("monitorinterval"), "monitorinterval            = 20\n", "name echoed as typed");

    // Sub-second timing values.
    let out = n.cli(&["setvar", "KeepaliveInterval", "200ms"]);
    assert_success(&out, "rctdb setvar KeepaliveInterval 200ms");
    assert_eq!(get("KeepaliveInterval"), "KeepaliveInterval          = 200ms\n");
    let out = n.cli(&["setvar", "KeepaliveInterval", "5"]);
    assert_success(&out, "rctdb setvar KeepaliveInterval 5");
    assert_eq!(get("KeepaliveInterval"), "KeepaliveInterval          = 5\n");

    let out = n.cli(&["getvar", "NoSuchTunable"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stdout(&out).contains("No such tunable NoSuchTunable"), "{}", describe(&out));
    let out = n.cli(&["setvar", "NoSuchTunable", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));

    let out = n.cli(&["listvars"]);
    assert_success(&out, "rctdb listvars");
    let text = stdout(&out);
    assert!(text.lines().any(|l| l == "KeepaliveLimit             = 5"), "{text}");
    assert!(text.lines().any(|l| l == "MonitorInterval            = 20"), "{text}");
}

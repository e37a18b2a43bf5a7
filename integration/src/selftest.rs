//! Tests of the harness itself, with no daemon: addresses, links, routes,
//! and that teardown leaves nothing behind.

use crate::{netns, Cluster};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

fn listen(ns: &str, addr: SocketAddr) -> TcpListener {
    netns::in_netns(ns, move || TcpListener::bind(addr)).expect("enter namespace").expect("bind")
}

#[test]
fn hosts_reach_each_other_and_faults_cut_them_off() {
    let mut c = Cluster::builder(2).not_started(&[0, 1]).start();
    let x = c.add_extra_host("192.0.2.99".parse().unwrap()).netns.clone();
    let dest: SocketAddr = "192.0.2.11:5555".parse().unwrap();
    let l = listen(&c.node(0).netns, dest);

    // Host 1 reaches host 0, and the source address is host 1's.
    let mut s = c.node(1).tcp_connect(dest).expect("connect from host 1");
    let (mut a, peer) = l.accept().unwrap();
    assert_eq!(peer.ip().to_string(), "192.0.2.12");
    s.write_all(b"hi").unwrap();
    let mut buf = [0u8; 2];
    a.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");
    drop(a);
    netns::expect_closed(&mut s, Duration::from_secs(2)).unwrap();

    // The extra host too.
    let _s = netns::tcp_connect(&x, dest, Duration::from_secs(2)).expect("connect from extra host");
    assert_eq!(l.accept().unwrap().1.ip().to_string(), "192.0.2.99");

    // The root namespace cannot reach test hosts.
    assert!(std::net::TcpStream::connect_timeout(&dest, Duration::from_millis(300)).is_err());

    // Link down: silent, connects time out.
    c.link_down(1);
    assert!(netns::tcp_connect(&c.node(1).netns, dest, Duration::from_millis(500)).is_err());
    c.link_up(1);
    c.wait_until(Duration::from_secs(10), "host 1 to reach host 0 again", || {
        netns::tcp_connect(&c.node(1).netns, dest, Duration::from_millis(500)).map(|_| ()).map_err(|e| e.to_string())
    });

    // Partition: 0 and 1 cut off, the extra host still gets through.
    c.partition(0, 1);
    assert!(netns::tcp_connect(&c.node(1).netns, dest, Duration::from_millis(500)).is_err());
    netns::tcp_connect(&x, dest, Duration::from_secs(2)).expect("extra host still connects");
    c.heal(0, 1);
    netns::tcp_connect(&c.node(1).netns, dest, Duration::from_secs(2)).expect("healed");

    // exec_in runs inside the namespace.
    let out = c.exec_in(0, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("192.0.2.11/24"), "{}", crate::describe(&out));
}

#[test]
fn teardown_kills_processes_and_removes_namespaces() {
    let c = Cluster::builder(1).not_started(&[0]).start();
    let ns = c.node(0).netns.clone();
    let sw = format!("{}-sw", ns.trim_end_matches("-n0"));
    // A long-lived process inside the namespace, not our child's group.
    let mut child = std::process::Command::new("ip").args(["netns", "exec", &ns, "sleep", "1000"]).spawn().unwrap();
    c.wait_until(Duration::from_secs(5), "sleep to start", || {
        if netns::pids(&ns).is_empty() {
            Err("no pids yet".into())
        } else {
            Ok(())
        }
    });
    let dir = c.dir().to_path_buf();
    drop(c);
    assert!(child.wait().is_ok());
    assert!(!Path::new("/run/netns").join(&ns).exists(), "{ns} left behind");
    assert!(!Path::new("/run/netns").join(&sw).exists(), "{sw} left behind");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn stale_namespaces_are_those_of_dead_pids() {
    let me = std::process::id();
    assert!(!netns::is_stale(&format!("rctdbt-{me}-0-n0")), "our own");
    assert!(!netns::is_stale("rctdbt-1-3-sw"), "pid 1 is alive");
    assert!(netns::is_stale("rctdbt-0-3-sw"), "pid 0 never names a process");
    assert!(!netns::is_stale("rctdb-demo-n0"), "not the harness's prefix");
    assert!(!netns::is_stale("other-0-1"), "someone else's");
}

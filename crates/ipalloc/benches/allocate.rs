//! LCP2 allocation cost, as a plain binary (criterion's build costs more than a minute):
//! `cargo bench -p rctdb-ipalloc` prints min / median / max wall time per case.
//!
//! Cases: 1000 IPs × 32 nodes all unassigned; the settled result with node 7 failed (its
//! IPs redistributed); node 7 back (failback to the empty node); 4000 IPs × 64 nodes all
//! unassigned, to show the growth. Run without `--bench` (e.g. by `cargo test
//! --all-targets`) it does one quick smoke run only.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rctdb_ipalloc::{allocate, allocate_filtered, Algorithm, Input, Level, NodeIps, Pnn};

/// IP number `i`: 200 addresses per /24 of 10.0.0.0/8.
fn addr(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + (i / 200) * 256 + i % 200 + 1))
}

/// `count` IPs configured on every node; owners from `owner`; `failed` nodes host nothing.
fn cluster(count: u32, nodes: usize, owner: &dyn Fn(IpAddr) -> Pnn, failed: &[usize]) -> Input {
    let addrs: Vec<IpAddr> = (0..count).map(addr).collect();
    let nodes = (0..nodes)
        .map(|n| NodeIps {
            known: addrs.iter().map(|ip| (*ip, owner(*ip))).collect(),
            available: if failed.contains(&n) { Vec::new() } else { addrs.clone() },
        })
        .collect();
    Input { algorithm: Algorithm::Lcp2, nodes, ..Input::default() }
}

/// Allocate `input`, then describe the result as an owner lookup for the next step.
fn settle(input: &Input) -> impl Fn(IpAddr) -> Pnn {
    let result = allocate_filtered(input, Level::Err, &mut |_, _| {});
    move |ip| result.iter().find(|(a, _)| *a == ip).and_then(|(_, o)| *o).unwrap_or(Pnn::UNKNOWN)
}

fn measure(name: &str, runs: usize, mut f: impl FnMut()) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<44} runs {runs:>3}  min {:>9.2} ms  median {:>9.2} ms  max {:>9.2} ms",
        ms(times[0]),
        ms(times[runs / 2]),
        ms(times[runs - 1])
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let runs = |n: usize| if full { n } else { 1 };
    let quiet = |input: &Input| {
        black_box(allocate_filtered(black_box(input), Level::Notice, &mut |_, _| {}));
    };

    let fresh = cluster(1000, 32, &|_| Pnn::UNKNOWN, &[]);
    measure("lcp2 1000 IPs x 32 nodes, all unassigned", runs(15), || quiet(&fresh));
    if !full {
        return;
    }
    let mut lines = 0usize;
    measure("  same, every DEBUG line formatted", runs(5), || {
        black_box(allocate(black_box(&fresh), &mut |_, _| lines += 1));
    });
    println!("  ({} DEBUG/INFO lines per run)", lines / 5);

    let failed = cluster(1000, 32, &settle(&fresh), &[7]);
    measure("lcp2 1000 x 32, node 7 failed", runs(31), || quiet(&failed));
    let back = cluster(1000, 32, &settle(&failed), &[]);
    measure("lcp2 1000 x 32, node 7 back (failback)", runs(31), || quiet(&back));

    let fresh2k = cluster(2000, 64, &|_| Pnn::UNKNOWN, &[]);
    measure("lcp2 2000 IPs x 64 nodes, all unassigned", runs(7), || quiet(&fresh2k));
    let big = cluster(4000, 64, &|_| Pnn::UNKNOWN, &[]);
    measure("lcp2 4000 IPs x 64 nodes, all unassigned", runs(5), || quiet(&big));
    let big_failed = cluster(4000, 64, &settle(&big), &[7]);
    measure("lcp2 4000 x 64, node 7 failed", runs(11), || quiet(&big_failed));
    let big_back = cluster(4000, 64, &settle(&big_failed), &[]);
    measure("lcp2 4000 x 64, node 7 back (failback)", runs(11), || quiet(&big_back));
}

//! Shell-level tests of the event-script library (`scripts/functions`)
//! and the stock event scripts (`scripts/events/legacy/`), driven from
//! cargo: each test runs one group of `scripts/tests/run.sh` and asserts
//! that it passed. The groups run under every installed shell of dash and
//! bash. `interface` builds a private network namespace and needs root,
//! like the other namespace tests.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn run_sh() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/tests/run.sh")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// Run one group of run.sh; panic with its whole output unless it passed.
fn group(name: &str) {
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(run_sh())
        .arg(name)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", run_sh().display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout.lines().last().unwrap_or("").to_string();
    assert!(
        out.status.success() && summary.contains("0 failed"),
        "scripts/tests/run.sh {name} failed ({}) after {:.1}s\n--- stdout\n{stdout}--- stderr\n{stderr}",
        out.status,
        started.elapsed().as_secs_f64()
    );
    assert!(!summary.starts_with("0 passed"), "scripts/tests/run.sh {name} ran no check:\n{stdout}");
    println!("run.sh {name}: {summary}");
}

#[test]
fn scripts_lint() {
    group("lint");
}

#[test]
fn scripts_lib() {
    group("lib");
}

#[test]
fn scripts_bounded() {
    group("bounded");
}

#[test]
fn scripts_housekeeping() {
    group("housekeeping");
}

#[test]
fn scripts_reclock() {
    group("reclock");
}

#[test]
fn scripts_interface() {
    assert!(is_root(), "the interface script tests need root (network namespace); try `sudo scripts/test.sh`");
    group("interface");
}

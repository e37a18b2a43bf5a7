//! `validate_dir` on real directories. Each case writes a few files into a
//! fresh base directory and lists the expected report lines, with `{base}`
//! standing for the directory.

use rctdb_config::{validate_dir, Report};
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn run(files: &[(&str, &str)]) -> (Report, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        fs::write(&p, text).unwrap();
        if name.ends_with(".sh") {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    let base = dir.path().display().to_string();
    let mut r = validate_dir(dir.path());
    for s in r.errors.iter_mut().chain(r.warnings.iter_mut()) {
        *s = s.replace(&base, "{base}");
    }
    (r, base)
}

#[test]
fn good_directory() {
    let (r, _) = run(&[
        ("nodes", "192.0.2.1\n192.0.2.2\n"),
        ("rctdb.conf", "[cluster]\nnode address = 192.0.2.2\n[event]\ndebug script = debug.sh\n"),
        ("debug.sh", "#!/bin/sh\n"),
        ("tunables", "KeepaliveInterval=200ms\n"),
        ("public_addresses", "198.51.100.1/24 eth0\n"),
    ]);
    assert_eq!(r, Report::default());
    assert!(r.is_ok());
}

#[test]
fn only_nodes_is_enough() {
    let (r, _) = run(&[("nodes", "192.0.2.1\n")]);
    assert_eq!(r, Report::default());
}

#[test]
fn empty_directory() {
    let (r, _) = run(&[]);
    assert_eq!(r.errors, vec!["{base}/nodes: file not found (the nodes file is required)"]);
    assert!(r.warnings.is_empty());
    assert!(!r.is_ok());
}

#[test]
fn every_file_every_error() {
    let (r, _) = run(&[
        ("nodes", "192.0.2.1\nbad\n192.0.2.1\n"),
        ("rctdb.conf", "[cluster]\nleader timeout = x\nfoo = 1\n[bogus]\n[failover]\ndisabled = maybe\n"),
        ("tunables", "Nope=1\nKeepaliveLimit=x\n"),
        ("public_addresses", "198.51.100.1 eth0\n198.51.100.2/24\n"),
    ]);
    assert_eq!(
        r.errors,
        vec![
            "{base}/rctdb.conf:2: invalid value \"x\" for [cluster] leader timeout: expected a duration such as 5, 0.25, 1.5s or 200ms (whole milliseconds)",
            "{base}/rctdb.conf:6: invalid value \"maybe\" for [failover] disabled: expected true, yes, false or no",
            "{base}/nodes:2: Invalid node address bad",
            "{base}/nodes:3: Duplicate node address 192.0.2.1 (also on line 1)",
            "{base}/tunables:1: Unknown tunable Nope",
            "{base}/tunables:2: Invalid value x for tunable KeepaliveLimit",
            "{base}/public_addresses:1: Missing /maskbits in public address 198.51.100.1",
            "{base}/public_addresses:2: No interface specified",
        ]
    );
    assert_eq!(
        r.warnings,
        vec![
            "{base}/rctdb.conf:3: unknown option [cluster] -> \"foo\"",
            "{base}/rctdb.conf:4: unknown section [bogus]"
        ]
    );
}

#[test]
fn node_address_must_be_a_node() {
    let (r, _) = run(&[
        ("nodes", "192.0.2.1\n#192.0.2.2\n"),
        ("rctdb.conf", "# my node\n[cluster]\nnode address = 192.0.2.2\n"),
    ]);
    assert_eq!(r.errors, vec!["{base}/rctdb.conf:3: [cluster] node address 192.0.2.2 is not a node in {base}/nodes"]);
}

#[test]
fn empty_nodes_file() {
    let (r, _) = run(&[("nodes", "\n#192.0.2.1\n")]);
    assert_eq!(r.errors, vec!["{base}/nodes: no nodes defined"]);
}

#[test]
fn executables() {
    let (r, _) = run(&[
        ("nodes", "192.0.2.1\n"),
        (
            "rctdb.conf",
            "[event]\ndebug script = missing.sh\n[cluster]\ncluster lock = !/nonexistent/helper x\n\
             [failover]\nfence command = /nonexistent/fence\n",
        ),
        ("plain", ""),
    ]);
    assert_eq!(r.errors.len(), 1, "{r:?}");
    assert!(r.errors[0].starts_with("{base}/rctdb.conf:2: [event] debug script: {base}/missing.sh: "), "{r:?}");
    assert_eq!(r.warnings.len(), 2, "{r:?}");
    assert!(r.warnings[0].starts_with("{base}/rctdb.conf:4: cluster lock helper: /nonexistent/helper: "), "{r:?}");
    assert!(r.warnings[1].starts_with("{base}/rctdb.conf:6: [failover] fence command: /nonexistent/fence: "), "{r:?}");

    let (r, _) = run(&[("nodes", "192.0.2.1\n"), ("rctdb.conf", "[event]\ndebug script = plain\n"), ("plain", "")]);
    assert_eq!(r.errors, vec!["{base}/rctdb.conf:2: [event] debug script: {base}/plain is not executable"]);
}

#[test]
fn recovery_lock_alias_line_is_used() {
    let (r, _) = run(&[("nodes", "192.0.2.1\n"), ("rctdb.conf", "[cluster]\n\nrecovery lock = !/nonexistent/h\n")]);
    assert_eq!(r.warnings.len(), 2, "{r:?}");
    assert!(r.warnings[0].contains("deprecated"));
    assert!(r.warnings[1].starts_with("{base}/rctdb.conf:3: cluster lock helper"), "{r:?}");
}

#[test]
fn unreadable_is_error_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("nodes")).unwrap();
    fs::create_dir(dir.path().join("rctdb.conf")).unwrap();
    let r = validate_dir(dir.path());
    assert_eq!(r.errors.len(), 2, "{r:?}");
}

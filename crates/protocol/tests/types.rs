//! The domain types' own logic: event names, argument counts, what may run
//! during recovery, and script status words.

use rctdb_protocol::*;
use std::collections::BTreeSet;

#[test]
fn event_all_lists_every_variant_once_in_wire_order() {
    assert_eq!(Event::ALL.len(), 12);
    let distinct: BTreeSet<Event> = Event::ALL.into_iter().collect();
    assert_eq!(distinct.len(), Event::ALL.len());
    // Ord is derived, so declaration (= wire) order is sorted order.
    assert!(Event::ALL.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn event_names_are_ctdbs() {
    let names: Vec<&str> = Event::ALL.into_iter().map(Event::name).collect();
    assert_eq!(
        names,
        [
            "init",
            "setup",
            "startup",
            "startrecovery",
            "recovered",
            "takeip",
            "releaseip",
            "updateip",
            "monitor",
            "ipreallocated",
            "startipreallocate",
            "shutdown",
        ]
    );
    for e in Event::ALL {
        assert_eq!(e.to_string(), e.name());
    }
}

#[test]
fn event_from_name_inverts_name() {
    for e in Event::ALL {
        assert_eq!(Event::from_name(e.name()), Some(e), "{e:?}");
    }
}

#[test]
fn event_from_name_is_exact() {
    for s in [
        "",
        "INIT",
        "Monitor",
        " monitor",
        "monitor ",
        "takeip\n",
        "take_ip",
        "start",
        "ipreallocate",
        "stopped",
        "startrecoveryx",
    ] {
        assert_eq!(Event::from_name(s), None, "{s:?}");
    }
}

#[test]
fn event_arg_counts() {
    for e in Event::ALL {
        let want = match e.name() {
            "takeip" | "releaseip" => 3,
            "updateip" => 4,
            _ => 0,
        };
        assert_eq!(e.arg_count(), want, "{e}");
    }
    assert_eq!(Event::TakeIp.arg_count(), 3);
    assert_eq!(Event::ReleaseIp.arg_count(), 3);
    assert_eq!(Event::UpdateIp.arg_count(), 4);
}

#[test]
fn events_allowed_in_recovery_are_exactly_ctdbs() {
    let allowed: BTreeSet<&str> = Event::ALL.into_iter().filter(|e| e.allowed_in_recovery()).map(Event::name).collect();
    assert_eq!(
        allowed,
        BTreeSet::from([
            "init",
            "setup",
            "startrecovery",
            "shutdown",
            "releaseip",
            "ipreallocated",
            "startipreallocate",
        ])
    );
}

#[test]
fn script_status_words() {
    let cases = [
        (ScriptStatus::Ok, "OK"),
        (ScriptStatus::Error { code: 1 }, "ERROR"),
        (ScriptStatus::Error { code: 255 }, "ERROR"),
        (ScriptStatus::TimedOut, "TIMEDOUT"),
        (ScriptStatus::Disabled, "DISABLED"),
        (ScriptStatus::Cancelled, "CANCELLED"),
        (ScriptStatus::Signaled { signal: 9 }, "CANNOT RUN"),
        (ScriptStatus::CannotRun { reason: "Exec format error".into() }, "CANNOT RUN"),
    ];
    for (status, word) in cases {
        assert_eq!(status.word(), word, "{status:?}");
    }
}

#[test]
fn only_ok_and_disabled_scripts_pass() {
    let passing = [ScriptStatus::Ok, ScriptStatus::Disabled];
    let failing = [
        ScriptStatus::Error { code: 1 },
        ScriptStatus::TimedOut,
        ScriptStatus::Cancelled,
        ScriptStatus::Signaled { signal: 6 },
        ScriptStatus::CannotRun { reason: String::new() },
    ];
    for s in passing {
        assert!(!s.is_failure(), "{s:?}");
    }
    for s in failing {
        assert!(s.is_failure(), "{s:?}");
    }
}

#[test]
fn event_run_failure_is_the_first_failing_script() {
    let script =
        |name: &str, status| ScriptRun { name: name.into(), status, start_us: 0, end_us: 0, output: String::new() };
    let mut run = EventRun {
        event: Event::Monitor,
        args: vec![],
        start_us: 0,
        end_us: 0,
        scripts: vec![script("00.ctdb", ScriptStatus::Ok), script("01.off", ScriptStatus::Disabled)],
    };
    assert_eq!(run.failure(), None);
    run.scripts.push(script("10.interface", ScriptStatus::Error { code: 1 }));
    run.scripts.push(script("20.late", ScriptStatus::TimedOut));
    assert_eq!(run.failure().map(|s| s.name.as_str()), Some("10.interface"));
}

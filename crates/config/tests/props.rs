//! Property tests: no parser panics on any text, and the formats that
//! rctdb writes read back to the same values.

use proptest::prelude::*;
use rctdb_config::{
    format_duration, format_tunable, parse_duration, Conf, Nodes, Pnn, PublicAddresses, Tunable, Tunables, MAX_DURATION,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

/// Text made of lines that look like configuration, to get past the first
/// checks of each parser, mixed with arbitrary strings.
fn config_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("[cluster]".to_string()),
        Just("[logging]".to_string()),
        Just("[".to_string()),
        Just("#".to_string()),
        Just(";".to_string()),
        Just("=".to_string()),
        Just("\\".to_string()),
        Just("/".to_string()),
        Just(",".to_string()),
        Just("leader timeout".to_string()),
        Just("cluster lock".to_string()),
        Just("!".to_string()),
        Just("KeepaliveInterval".to_string()),
        Just("192.0.2.1".to_string()),
        Just("2001:db8::1".to_string()),
        Just("0x".to_string()),
        Just("ms".to_string()),
        Just("1.5".to_string()),
        Just("eth0".to_string()),
        "[ \t]{0,3}",
        "[0-9]{1,25}",
        any::<String>(),
    ];
    prop::collection::vec(prop::collection::vec(token, 0..6).prop_map(|t| t.concat()), 0..12)
        .prop_map(|lines| lines.join("\n"))
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), config_like()]
}

proptest! {
    #[test]
    fn nodes_never_panics(text in any_text()) {
        let _ = Nodes::parse(&text, Path::new("n"));
    }

    #[test]
    fn conf_never_panics(text in any_text()) {
        if let Ok((conf, _)) = Conf::parse(&text, Path::new("c")) {
            // Whatever parsed, dumps and reads back the same.
            let (again, _) = Conf::parse(&conf.dump(), Path::new("c")).expect("dump parses");
            prop_assert_eq!(again, conf);
        }
    }

    #[test]
    fn tunables_never_panics(text in any_text()) {
        let _ = Tunables::parse(&text, Path::new("t"));
    }

    #[test]
    fn public_addresses_never_panics(text in any_text()) {
        let _ = PublicAddresses::parse(&text, Path::new("p"));
    }

    #[test]
    fn parse_duration_never_panics(s in any_text()) {
        if let Ok(d) = parse_duration(&s) {
            prop_assert!(d <= MAX_DURATION);
            prop_assert_eq!(d.subsec_nanos() % 1_000_000, 0);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }

    #[test]
    fn duration_round_trip(ms in 0u64..=u64::from(u32::MAX) * 1000) {
        let d = Duration::from_millis(ms);
        prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }

    #[test]
    fn small_duration_round_trip(ms in 0u64..100_000) {
        let d = Duration::from_millis(ms);
        prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }

    #[test]
    fn tunable_round_trip(idx in 0..Tunable::ALL.len(), raw in 0u64..=u64::from(u32::MAX)) {
        let t = Tunable::ALL[idx];
        let mut x = Tunables::defaults();
        prop_assert_eq!(x.set(&t.name().to_ascii_lowercase(), &format_tunable(t, raw)), Ok(t));
        prop_assert_eq!(x.raw(t), raw);
    }

    #[test]
    fn nodes_round_trip(list in node_list(), seed in any::<u64>()) {
        let text = render_nodes(&list, seed);
        let nodes = Nodes::parse(&text, Path::new("n")).expect("valid list parses");
        let got: Vec<(Pnn, Option<IpAddr>)> = nodes.entries.iter().map(|e| (e.pnn, e.addr)).collect();
        let want: Vec<(Pnn, Option<IpAddr>)> =
            list.iter().enumerate().map(|(i, a)| (Pnn(i as u32), *a)).collect();
        prop_assert_eq!(got, want);
    }
}

fn addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|n| IpAddr::V4(Ipv4Addr::from(n))),
        any::<u128>().prop_map(|n| IpAddr::V6(Ipv6Addr::from(n))),
    ]
}

/// A valid list: unique addresses (v4-mapped counted as v4), none
/// unspecified, some deleted, at least one present.
fn node_list() -> impl Strategy<Value = Vec<Option<IpAddr>>> {
    prop::collection::vec(prop::option::weighted(0.8, addr()), 1..20).prop_filter_map(
        "needs unique present nodes",
        |v| {
            let mut seen = std::collections::HashSet::new();
            let v: Vec<Option<IpAddr>> =
                v.into_iter().map(|a| a.filter(|a| !a.is_unspecified() && seen.insert(a.to_canonical()))).collect();
            v.iter().any(Option::is_some).then_some(v)
        },
    )
}

/// Render a node list the way an operator might write it: blank lines in
/// between, stray spaces and tabs, brackets on some IPv6 addresses.
fn render_nodes(list: &[Option<IpAddr>], seed: u64) -> String {
    let mut s = seed;
    let mut bit = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 33) & 1 == 1
    };
    let mut out = String::new();
    for a in list {
        if bit() {
            out.push_str(if bit() { "\n" } else { " \t \n" });
        }
        let pad = if bit() { " \t" } else { "" };
        let body = match a {
            None => "#deleted".to_string(),
            Some(IpAddr::V6(v6)) if bit() => format!("[{v6}]"),
            Some(a) => a.to_string(),
        };
        out.push_str(&format!("{pad}{body}{pad}\n"));
    }
    out
}

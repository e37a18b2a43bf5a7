//! Public IP allocation: which node hosts which public address after a takeover run.
//!
//! This is CTDB's allocator (reference §8.2–§8.5), rewritten from the behavioural
//! specification. The leader's recovery daemon gathers every node's public IP lists and
//! calls [`allocate`]; the result is the new owner of every address. The what-if front end
//! ([`whatif`]) replays CTDB's `ctdb_takeover_tests ipalloc` text format on top of it.
//!
//! Invariants:
//! * pure: no I/O, no clock, no randomness — the same [`Input`] always gives the same result
//!   and the same log lines;
//! * the result lists every address of the merged list once, in merged-list order
//!   (descending address key, IPv6 before IPv4);
//! * an address is only ever given to a node that has it in its `available` list;
//! * all LCP2 cost arithmetic is unsigned 32-bit and wraps exactly like CTDB's `uint32_t`,
//!   and numbers in log lines are printed as signed 32-bit (`%d`), so traces match CTDB's.
#![forbid(unsafe_code)]

mod det;
mod lcp2;
mod nondet;
mod state;
mod whatif;

use std::collections::BTreeMap;
use std::net::IpAddr;

pub use rctdb_protocol::Pnn;
pub use whatif::{parse_home_nodes, whatif, WhatIfArgs};

/// The allocation algorithm, CTDB's `IPAllocAlgorithm` tunable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// 0: every address has a fixed home node (§8.4.2).
    Deterministic,
    /// 1: fill by least coverage, then even out the counts (§8.4.1).
    NonDeterministic,
    /// 2 (default): spread each subnet by address distance (§8.3).
    #[default]
    Lcp2,
}

impl Algorithm {
    /// Map the tunable's value: 0, 1, 2; any other value means LCP2, as in CTDB.
    pub fn from_tunable(value: u64) -> Algorithm {
        match value {
            0 => Algorithm::Deterministic,
            1 => Algorithm::NonDeterministic,
            _ => Algorithm::Lcp2,
        }
    }

    /// The tunable's value for this algorithm.
    pub fn tunable(self) -> u64 {
        match self {
            Algorithm::Deterministic => 0,
            Algorithm::NonDeterministic => 1,
            Algorithm::Lcp2 => 2,
        }
    }
}

/// What one node reported about public addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeIps {
    /// Every public IP this node has configured, with the owner this node believes it has
    /// ([`Pnn::UNKNOWN`] = unassigned).
    pub known: Vec<(IpAddr, Pnn)>,
    /// The IPs this node can host now (the caller applies the availability rule of §8.1
    /// step 3 / §8.2).
    pub available: Vec<IpAddr>,
}

/// Everything one allocation depends on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Input {
    pub algorithm: Algorithm,
    /// NoIPFailback tunable: only fill unassigned addresses, never rebalance.
    pub no_ip_failback: bool,
    /// NoIPTakeover tunable: no node may gain an address.
    pub no_ip_takeover: bool,
    /// One entry per node of the node map, index = PNN (N includes deleted/disconnected
    /// nodes; give them empty lists).
    pub nodes: Vec<NodeIps>,
    /// LCP2 force-rebalance targets (REBALANCE_NODE).
    pub force_rebalance: Vec<Pnn>,
    /// Deterministic algorithm's `home_nodes` overrides.
    pub home_nodes: BTreeMap<IpAddr, Pnn>,
}

/// Severity of a log line, CTDB's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

impl Level {
    /// All levels, most severe first.
    pub const ALL: [Level; 5] = [Level::Err, Level::Warning, Level::Notice, Level::Info, Level::Debug];

    /// CTDB's number for the level (ERR 0, WARNING 1, NOTICE 3, INFO 5, DEBUG 10); a line is
    /// shown when its number is at most the configured one.
    pub const fn value(self) -> u32 {
        match self {
            Level::Err => 0,
            Level::Warning => 1,
            Level::Notice => 3,
            Level::Info => 5,
            Level::Debug => 10,
        }
    }

    /// CTDB's name for the level.
    pub const fn name(self) -> &'static str {
        match self {
            Level::Err => "ERR",
            Level::Warning => "WARNING",
            Level::Notice => "NOTICE",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }

    /// The most verbose level whose number is at most `value` (any number shows ERR).
    pub fn from_value(value: u32) -> Level {
        Level::ALL.into_iter().rev().find(|l| l.value() <= value).unwrap_or(Level::Err)
    }

    /// Parse a level name (case-insensitive; `ERROR` is accepted for `ERR`) or a number.
    pub fn parse(s: &str) -> Option<Level> {
        if let Ok(v) = s.parse::<u32>() {
            return Some(Level::from_value(v));
        }
        if s.eq_ignore_ascii_case("ERROR") {
            return Some(Level::Err);
        }
        Level::ALL.into_iter().find(|l| l.name().eq_ignore_ascii_case(s))
    }
}

/// Allocate every public address to a node (or to nobody).
///
/// Returns (ip, new owner or `None`) in merged-list order (descending address key), and
/// emits CTDB's log lines, at every level, through `log`.
pub fn allocate(input: &Input, log: &mut dyn FnMut(Level, &str)) -> Vec<(IpAddr, Option<Pnn>)> {
    allocate_filtered(input, Level::Debug, log)
}

/// [`allocate`], formatting and emitting only log lines at or above the severity of `max`
/// (CTDB number ≤ `max.value()`). The result does not depend on `max`; this only saves the
/// cost of formatting LCP2's DEBUG trace, which grows as IPs² × nodes.
pub fn allocate_filtered(input: &Input, max: Level, log: &mut dyn FnMut(Level, &str)) -> Vec<(IpAddr, Option<Pnn>)> {
    let mut st = state::State::new(input, max, log);
    match input.algorithm {
        Algorithm::Lcp2 => lcp2::run(&mut st, &input.force_rebalance, input.no_ip_failback),
        Algorithm::NonDeterministic => nondet::run(&mut st, input.no_ip_failback),
        Algorithm::Deterministic => det::run(&mut st, &input.home_nodes, input.no_ip_failback),
    }
    st.result()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_tunable_values() {
        assert_eq!(Algorithm::from_tunable(0), Algorithm::Deterministic);
        assert_eq!(Algorithm::from_tunable(1), Algorithm::NonDeterministic);
        assert_eq!(Algorithm::from_tunable(2), Algorithm::Lcp2);
        assert_eq!(Algorithm::from_tunable(3), Algorithm::Lcp2);
        assert_eq!(Algorithm::from_tunable(u64::MAX), Algorithm::Lcp2);
        for a in [Algorithm::Deterministic, Algorithm::NonDeterministic, Algorithm::Lcp2] {
            assert_eq!(Algorithm::from_tunable(a.tunable()), a);
        }
    }

    #[test]
    fn level_numbers_and_names() {
        assert_eq!(Level::ALL.map(Level::value), [0, 1, 3, 5, 10]);
        assert_eq!(Level::parse("err"), Some(Level::Err));
        assert_eq!(Level::parse("ERROR"), Some(Level::Err));
        assert_eq!(Level::parse("NOTICE"), Some(Level::Notice));
        assert_eq!(Level::parse("4"), Some(Level::Notice));
        assert_eq!(Level::parse("10"), Some(Level::Debug));
        assert_eq!(Level::parse("99"), Some(Level::Debug));
        assert_eq!(Level::parse("verbose"), None);
    }

    #[test]
    fn empty_input_allocates_nothing() {
        for algorithm in [Algorithm::Deterministic, Algorithm::NonDeterministic, Algorithm::Lcp2] {
            let input = Input { algorithm, ..Input::default() };
            assert!(allocate(&input, &mut |_, _| {}).is_empty());
        }
    }
}

//! The what-if front end (`rctdb ipalloc`, §10.2): CTDB's `ctdb_takeover_tests ipalloc`
//! text format in, the log lines and the allocation out. Pure: the caller reads stdin and
//! any `home_nodes` file and prints the result.
//!
//! Arguments are parsed in two stages: [`WhatIfArgs::parse`] turns words into validated
//! values, [`whatif`] checks them against each other and against stdin.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use rctdb_protocol::{NodeFlags, RunState};

use crate::{allocate_filtered, Algorithm, Input, Level, NodeIps, Pnn};

/// Node flag bits that make a node unable to host addresses (INACTIVE | DISABLED).
const CANNOT_HOST: u32 = 0x3F;

/// Options of one what-if run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatIfArgs {
    pub algorithm: Algorithm,
    /// NODESTATES: one flag word per node; the count is N.
    pub node_flags: Vec<NodeFlags>,
    /// stdin holds N blocks, block k = node k's own view.
    pub multi: bool,
    /// Per-node runstates: empty = all RUNNING, one value = every node, else one per node.
    pub runstates: Vec<RunState>,
    pub no_ip_takeover: bool,
    pub no_ip_failback: bool,
    /// Contents of a `home_nodes` file (deterministic algorithm).
    pub home_nodes: Option<String>,
    /// LCP2 force-rebalance targets.
    pub force_rebalance: Vec<Pnn>,
    /// Show log lines at or above this severity (default DEBUG, i.e. all).
    pub log_level: Level,
}

impl WhatIfArgs {
    pub const USAGE: &'static str = "usage: ipalloc [--algorithm lcp2|det|nondet] NODESTATES [--multi] \
[--runstates LIST] [--no-ip-takeover] [--no-ip-failback] [--home-nodes FILE] [--force-rebalance LIST] \
[--log-level ERR|WARNING|NOTICE|INFO|DEBUG]";

    /// Defaults for the given node states: LCP2, all RUNNING, no knobs, DEBUG.
    pub fn new(node_flags: Vec<NodeFlags>) -> WhatIfArgs {
        WhatIfArgs {
            algorithm: Algorithm::Lcp2,
            node_flags,
            multi: false,
            runstates: Vec::new(),
            no_ip_takeover: false,
            no_ip_failback: false,
            home_nodes: None,
            force_rebalance: Vec::new(),
            log_level: Level::Debug,
        }
    }

    /// Parse the words after `ipalloc`. `read_file` returns the contents of the file named
    /// by `--home-nodes` (the crate does no I/O itself).
    ///
    /// Options may also be written `--opt=value`; `multi` is accepted for `--multi`, as in
    /// CTDB's test program. A command-line front end is then:
    ///
    /// ```no_run
    /// # fn main() -> Result<(), String> {
    /// use rctdb_ipalloc::{whatif, WhatIfArgs};
    /// let words: Vec<String> = std::env::args().skip(2).collect(); // after `rctdb ipalloc`
    /// let args = WhatIfArgs::parse(&words, &mut |p| std::fs::read_to_string(p).map_err(|e| e.to_string()))?;
    /// let stdin = std::io::read_to_string(std::io::stdin()).map_err(|e| e.to_string())?;
    /// print!("{}", whatif(&args, &stdin)?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn parse(
        args: &[String],
        read_file: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<WhatIfArgs, String> {
        let mut out = WhatIfArgs::new(Vec::new());
        let mut states: Option<Vec<NodeFlags>> = None;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            let mut value = |what: &str| -> Result<String, String> {
                match inline.clone() {
                    Some(v) => Ok(v),
                    None => it.next().cloned().ok_or_else(|| format!("{what} needs a value")),
                }
            };
            match name {
                "--algorithm" => out.algorithm = parse_algorithm(&value(name)?)?,
                "--multi" | "multi" => out.multi = true,
                "--runstates" => out.runstates = parse_runstates(&value(name)?)?,
                "--no-ip-takeover" => out.no_ip_takeover = true,
                "--no-ip-failback" => out.no_ip_failback = true,
                "--home-nodes" => {
                    let path = value(name)?;
                    out.home_nodes = Some(read_file(&path).map_err(|e| format!("--home-nodes {path}: {e}"))?);
                }
                "--force-rebalance" => {
                    out.force_rebalance = split_list(&value(name)?, "--force-rebalance")?
                        .into_iter()
                        .map(|w| parse_u32(w).map(Pnn).ok_or_else(|| format!("--force-rebalance: bad PNN \"{w}\"")))
                        .collect::<Result<_, _>>()?;
                }
                "--log-level" => {
                    let v = value(name)?;
                    out.log_level = Level::parse(&v).ok_or_else(|| format!("--log-level: unknown level \"{v}\""))?;
                }
                _ if name.starts_with('-') && name.len() > 1 => {
                    return Err(format!("unknown option \"{arg}\"\n{}", Self::USAGE))
                }
                _ if states.is_none() => states = Some(parse_node_states(arg)?),
                _ => return Err(format!("unexpected argument \"{arg}\"\n{}", Self::USAGE)),
            }
        }
        out.node_flags = states.ok_or_else(|| format!("missing NODESTATES\n{}", Self::USAGE))?;
        out.runstates_per_node()?;
        Ok(out)
    }

    /// The runstate of every node.
    fn runstates_per_node(&self) -> Result<Vec<RunState>, String> {
        let n = self.node_flags.len();
        match self.runstates.len() {
            0 => Ok(vec![RunState::Running; n]),
            1 => Ok(vec![self.runstates[0]; n]),
            k if k == n => Ok(self.runstates.clone()),
            k => Err(format!("--runstates has {k} values; expected 1 or {n} (one per node)")),
        }
    }
}

fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    match s.to_ascii_lowercase().as_str() {
        "lcp2" => Ok(Algorithm::Lcp2),
        "det" | "deterministic" => Ok(Algorithm::Deterministic),
        "nondet" | "non-deterministic" => Ok(Algorithm::NonDeterministic),
        _ => parse_u32(s)
            .map(|v| Algorithm::from_tunable(v.into()))
            .ok_or_else(|| format!("--algorithm: unknown algorithm \"{s}\" (lcp2, det or nondet)")),
    }
}

/// An unsigned number the way C's `strtoul(s, NULL, 0)` reads a whole word: `0x` hex,
/// leading `0` octal, else decimal.
fn parse_u32(s: &str) -> Option<u32> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

fn split_list<'a>(s: &'a str, what: &str) -> Result<Vec<&'a str>, String> {
    let items: Vec<&str> = s.split(',').map(str::trim).collect();
    if items.iter().any(|w| w.is_empty()) {
        return Err(format!("{what}: empty item in \"{s}\""));
    }
    Ok(items)
}

fn parse_node_states(s: &str) -> Result<Vec<NodeFlags>, String> {
    split_list(s, "NODESTATES")?
        .into_iter()
        .map(|w| parse_u32(w).map(NodeFlags).ok_or_else(|| format!("NODESTATES: bad flag word \"{w}\"")))
        .collect()
}

fn parse_runstates(s: &str) -> Result<Vec<RunState>, String> {
    split_list(s, "--runstates")?
        .into_iter()
        .map(|w| {
            parse_u32(w)
                .and_then(|v| RunState::ALL.get(v as usize).copied())
                .or_else(|| RunState::parse(w))
                .ok_or_else(|| format!("--runstates: bad runstate \"{w}\" (0-6 or a name such as RUNNING)"))
        })
        .collect()
}

/// Parse a `home_nodes` file (§8.4.2): lines `<ip> <pnn>` separated by spaces or tabs;
/// lines with fewer than two fields are skipped. An unparsable address or PNN is an error
/// naming the line; CTDB then ignores the whole file.
pub fn parse_home_nodes(contents: &str) -> Result<BTreeMap<IpAddr, Pnn>, String> {
    let mut map = BTreeMap::new();
    for (i, line) in contents.lines().enumerate() {
        let fields: Vec<&str> = line.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
        if fields.len() < 2 {
            continue;
        }
        let ip: IpAddr =
            fields[0].parse().map_err(|_| format!("home_nodes line {}: bad address \"{}\"", i + 1, fields[0]))?;
        let pnn: u32 =
            fields[1].parse().map_err(|_| format!("home_nodes line {}: bad PNN \"{}\"", i + 1, fields[1]))?;
        map.insert(ip, Pnn(pnn));
    }
    Ok(map)
}

/// One stdin line: address and owner (`-1` or missing = unassigned).
fn parse_ip_owner(lineno: usize, fields: &[&str]) -> Result<(IpAddr, Pnn), String> {
    let ip: IpAddr = fields[0].parse().map_err(|_| format!("stdin line {lineno}: bad IP address \"{}\"", fields[0]))?;
    let owner = match fields.get(1) {
        None | Some(&"-1") => Pnn::UNKNOWN,
        Some(w) => {
            Pnn(w.parse::<u32>().map_err(|_| format!("stdin line {lineno}: bad owner \"{w}\" (a PNN or -1)"))?)
        }
    };
    Ok((ip, owner))
}

/// Each node's `known` list from stdin.
fn read_layout(stdin: &str, n: usize, multi: bool) -> Result<Vec<Vec<(IpAddr, Pnn)>>, String> {
    let mut known: Vec<Vec<(IpAddr, Pnn)>> = vec![Vec::new(); n];
    let mut seen: HashSet<IpAddr> = HashSet::new();
    let mut block = 0;
    for (i, line) in stdin.lines().enumerate() {
        let lineno = i + 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            if !multi {
                break;
            }
            block += 1;
            seen.clear();
            continue;
        }
        if multi && block >= n {
            break;
        }
        let max_fields = if multi { 2 } else { 3 };
        if fields.len() > max_fields {
            let what = if multi { "multi mode takes \"IP OWNER\" only" } else { "expected \"IP OWNER [PNN,...]\"" };
            return Err(format!("stdin line {lineno}: too many fields ({what})"));
        }
        let (ip, owner) = parse_ip_owner(lineno, &fields)?;
        if !seen.insert(ip) {
            return Err(format!("stdin line {lineno}: duplicate address {ip}"));
        }
        if multi {
            known[block].push((ip, owner));
            continue;
        }
        match fields.get(2) {
            None => known.iter_mut().for_each(|k| k.push((ip, owner))),
            Some(list) => {
                let mut listed = vec![false; n];
                for w in split_list(list, &format!("stdin line {lineno}"))? {
                    let node = parse_u32(w)
                        .map(|v| v as usize)
                        .filter(|&v| v < n)
                        .ok_or_else(|| format!("stdin line {lineno}: bad node \"{w}\" (0..{} expected)", n - 1))?;
                    if std::mem::replace(&mut listed[node], true) {
                        return Err(format!("stdin line {lineno}: node {node} listed twice"));
                    }
                    known[node].push((ip, owner));
                }
            }
        }
    }
    Ok(known)
}

/// Run one what-if allocation: `stdin` is the IP layout; the result is what CTDB's test
/// program prints: the log lines at or above `log_level`, then `"<ip> <owner>"` per
/// address in merged order (`-1` = unhosted). Bad input is an error naming the line.
pub fn whatif(args: &WhatIfArgs, stdin: &str) -> Result<String, String> {
    let n = args.node_flags.len();
    if n == 0 {
        return Err("NODESTATES names no node".to_string());
    }
    let runstates = args.runstates_per_node()?;
    if let Some(p) = args.force_rebalance.iter().find(|p| p.0 as usize >= n) {
        return Err(format!("--force-rebalance: no node {} (NODESTATES has {n})", p.0));
    }
    let known = read_layout(stdin, n, args.multi)?;
    let mut out = String::new();
    let home_nodes = match args.home_nodes.as_deref().map(parse_home_nodes) {
        None => BTreeMap::new(),
        Some(Ok(map)) => map,
        Some(Err(e)) => {
            out.push_str(&format!("{e}; ignoring home_nodes\n"));
            BTreeMap::new()
        }
    };
    let nodes = known
        .into_iter()
        .enumerate()
        .map(|(k, known)| {
            let can_host = runstates[k] == RunState::Running && args.node_flags[k].0 & CANNOT_HOST == 0;
            let available = if can_host { known.iter().map(|(ip, _)| *ip).collect() } else { Vec::new() };
            NodeIps { known, available }
        })
        .collect();
    let input = Input {
        algorithm: args.algorithm,
        no_ip_failback: args.no_ip_failback,
        no_ip_takeover: args.no_ip_takeover,
        nodes,
        force_rebalance: args.force_rebalance.clone(),
        home_nodes,
    };
    let result = allocate_filtered(&input, args.log_level, &mut |_, line| {
        out.push_str(line);
        out.push('\n');
    });
    for (ip, owner) in result {
        let _ = match owner {
            Some(p) => writeln!(out, "{ip} {}", p.0),
            None => writeln!(out, "{ip} -1"),
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &str) -> Result<WhatIfArgs, String> {
        let v: Vec<String> = words.split_whitespace().map(String::from).collect();
        WhatIfArgs::parse(&v, &mut |p| if p == "hn" { Ok("10.0.0.1 1\n".into()) } else { Err("no such file".into()) })
    }

    #[test]
    fn numbers_parse_like_strtoul_base_0() {
        assert_eq!(parse_u32("0"), Some(0));
        assert_eq!(parse_u32("12"), Some(12));
        assert_eq!(parse_u32("0x20"), Some(32));
        assert_eq!(parse_u32("0X3f"), Some(63));
        assert_eq!(parse_u32("010"), Some(8));
        assert_eq!(parse_u32("08"), None);
        assert_eq!(parse_u32("0x"), None);
        assert_eq!(parse_u32("-1"), None);
        assert_eq!(parse_u32(""), None);
        assert_eq!(parse_u32("4294967296"), None);
    }

    #[test]
    fn parse_full_command_line() {
        let a = args("--algorithm det 0x20,0,2 --multi --runstates 4,5,5 --no-ip-takeover --no-ip-failback --home-nodes hn --force-rebalance 1,2 --log-level info").unwrap();
        assert_eq!(a.algorithm, Algorithm::Deterministic);
        assert_eq!(a.node_flags, vec![NodeFlags(0x20), NodeFlags(0), NodeFlags(2)]);
        assert!(a.multi && a.no_ip_takeover && a.no_ip_failback);
        assert_eq!(a.runstates, vec![RunState::Startup, RunState::Running, RunState::Running]);
        assert_eq!(a.home_nodes.as_deref(), Some("10.0.0.1 1\n"));
        assert_eq!(a.force_rebalance, vec![Pnn(1), Pnn(2)]);
        assert_eq!(a.log_level, Level::Info);
        let b = args("0,0 multi --algorithm=nondet --runstates=RUNNING --log-level=3").unwrap();
        assert_eq!(b.algorithm, Algorithm::NonDeterministic);
        assert!(b.multi);
        assert_eq!(b.runstates, vec![RunState::Running]);
        assert_eq!(b.log_level, Level::Notice);
        let c = args("0").unwrap();
        assert_eq!(c, WhatIfArgs::new(vec![NodeFlags(0)]));
    }

    #[test]
    fn parse_errors_are_clear() {
        for (words, want) in [
            ("", "missing NODESTATES"),
            ("0,0 1,1", "unexpected argument \"1,1\""),
            ("0,,0", "NODESTATES: empty item"),
            ("0,zz", "NODESTATES: bad flag word \"zz\""),
            ("0 --algorithm", "--algorithm needs a value"),
            ("0 --algorithm best", "unknown algorithm \"best\""),
            ("0,0,0 --runstates 5,5", "--runstates has 2 values; expected 1 or 3"),
            ("0 --runstates 9", "bad runstate \"9\""),
            ("0 --home-nodes nope", "--home-nodes nope: no such file"),
            ("0 --log-level loud", "unknown level \"loud\""),
            ("0 --frobnicate", "unknown option \"--frobnicate\""),
        ] {
            let err = args(words).unwrap_err();
            assert!(err.contains(want), "{words:?}: {err:?} lacks {want:?}");
        }
    }

    #[test]
    fn stdin_errors_name_the_line() {
        let a = WhatIfArgs::new(vec![NodeFlags(0); 2]);
        for (stdin, want) in [
            ("10.0.0.1 0\nnot-an-ip 1\n", "stdin line 2: bad IP address \"not-an-ip\""),
            ("10.0.0.1 zero\n", "stdin line 1: bad owner \"zero\""),
            ("10.0.0.1 -2\n", "stdin line 1: bad owner \"-2\""),
            ("10.0.0.1 0 0,2\n", "stdin line 1: bad node \"2\" (0..1 expected)"),
            ("10.0.0.1 0 0,0\n", "stdin line 1: node 0 listed twice"),
            ("10.0.0.1 0 0 extra\n", "stdin line 1: too many fields"),
            ("10.0.0.1 0\n10.0.0.1 1\n", "stdin line 2: duplicate address 10.0.0.1"),
        ] {
            let err = whatif(&a, stdin).unwrap_err();
            assert!(err.contains(want), "{stdin:?}: {err:?} lacks {want:?}");
        }
        let m = WhatIfArgs { multi: true, ..a.clone() };
        let err = whatif(&m, "10.0.0.1 0 0\n").unwrap_err();
        assert!(err.contains("stdin line 1: too many fields (multi mode"), "{err}");
        // The same address may appear once per block in multi mode.
        assert!(whatif(&m, "10.0.0.1 0\n\n10.0.0.1 0\n").is_ok());
        let bad_rs = WhatIfArgs { runstates: vec![RunState::Running; 3], ..a.clone() };
        assert!(whatif(&bad_rs, "").unwrap_err().contains("--runstates has 3 values"));
        let bad_fr = WhatIfArgs { force_rebalance: vec![Pnn(2)], ..a };
        assert!(whatif(&bad_fr, "").unwrap_err().contains("no node 2"));
    }

    #[test]
    fn home_nodes_file() {
        let m = parse_home_nodes("10.0.0.1 1\n\nlonely\n10.0.0.2\t\t0 extra\n").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[&"10.0.0.2".parse::<IpAddr>().unwrap()], Pnn(0));
        assert_eq!(
            parse_home_nodes("10.0.0.1 1\n10.0.0.x 2\n").unwrap_err(),
            "home_nodes line 2: bad address \"10.0.0.x\""
        );
        assert_eq!(parse_home_nodes("10.0.0.1 -1\n").unwrap_err(), "home_nodes line 1: bad PNN \"-1\"");
    }
}

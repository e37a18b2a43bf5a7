//! The `nodes` file: the private address of every node, one per line, in
//! PNN order.
//!
//! Rules (CTDB's, ref §2.2):
//! - leading and trailing spaces and tabs are stripped from each line;
//! - a blank line is skipped and does **not** take a PNN;
//! - a line starting with `#` is a **deleted node** and **does** take a PNN.
//!   This is CTDB's way of removing a node without renumbering the others,
//!   and it has a sharp edge: *any* comment line is a deleted node, so a
//!   `# comment` appended to the file creates one more (deleted) node;
//! - any other line must be exactly one IPv4 or IPv6 address (`[v6]`
//!   brackets accepted). Trailing words, `ip:port` and the like are errors.
//!   Unlike CTDB, the unspecified address (`0.0.0.0`, `::`) is refused too:
//!   it is what the node map shows for deleted nodes;
//! - an address may appear only once (a v4-mapped IPv6 address counts as
//!   the IPv4 address it maps);
//! - at least one node must not be deleted.
//!
//! Invariant of [`Nodes`]: `entries[i].pnn == Pnn(i)` for every `i`.

use crate::error::{read_required, ConfigError};
use rctdb_protocol::{NodeFlags, NodeInfo, NodeMap, Pnn};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// One line of the nodes file that takes a PNN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEntry {
    /// The node's number: its index among the non-blank lines.
    pub pnn: Pnn,
    /// Private address; `None` for a deleted (`#`) line.
    pub addr: Option<IpAddr>,
    /// 1-based line in the file.
    pub line: usize,
}

/// The parsed nodes file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nodes {
    /// The file it was read from (for messages).
    pub file: PathBuf,
    /// Every node, deleted ones included, in PNN order.
    pub entries: Vec<NodeEntry>,
}

/// Parse one node address: a bare IPv4/IPv6 address or `[IPv6]`. The
/// unspecified address is refused.
pub(crate) fn parse_node_addr(s: &str) -> Option<IpAddr> {
    let addr = match s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) => IpAddr::V6(inner.parse::<Ipv6Addr>().ok()?),
        None => s.parse::<IpAddr>().ok()?,
    };
    if addr.is_unspecified() {
        return None;
    }
    Some(addr)
}

/// Largest number of entries: PNNs from 0xF000_0000 up are pseudo-nodes.
const MAX_NODES: usize = 0xF000_0000;

impl Nodes {
    /// Parse the text of a nodes file; `file` is used in messages only.
    /// Returns the first error.
    pub fn parse(text: &str, file: &Path) -> Result<Nodes, ConfigError> {
        let (nodes, mut errors) = Nodes::parse_all(text, file);
        if errors.is_empty() {
            Ok(nodes)
        } else {
            Err(errors.swap_remove(0))
        }
    }

    /// Parse, collecting every error (for `rctdb config validate`). The
    /// returned `Nodes` holds the lines that were valid.
    pub(crate) fn parse_all(text: &str, file: &Path) -> (Nodes, Vec<ConfigError>) {
        let mut entries: Vec<NodeEntry> = Vec::new();
        let mut errors = Vec::new();
        let mut seen: HashMap<IpAddr, usize> = HashMap::new();
        for (idx, raw) in text.lines().enumerate() {
            let line = idx + 1;
            let t = raw.trim_matches([' ', '\t']);
            if t.is_empty() {
                continue;
            }
            if entries.len() >= MAX_NODES {
                errors.push(ConfigError::line_err(file, line, "Too many nodes"));
                break;
            }
            let pnn = Pnn(u32::try_from(entries.len()).unwrap_or(u32::MAX));
            if t.starts_with('#') {
                entries.push(NodeEntry { pnn, addr: None, line });
                continue;
            }
            let Some(addr) = parse_node_addr(t) else {
                errors.push(ConfigError::line_err(file, line, format!("Invalid node address {t}")));
                // Keep the PNN so later lines keep their numbers.
                entries.push(NodeEntry { pnn, addr: None, line });
                continue;
            };
            if let Some(prev) = seen.get(&addr.to_canonical()) {
                errors.push(ConfigError::line_err(
                    file,
                    line,
                    format!("Duplicate node address {addr} (also on line {prev})"),
                ));
            } else {
                seen.insert(addr.to_canonical(), line);
            }
            entries.push(NodeEntry { pnn, addr: Some(addr), line });
        }
        if errors.is_empty() && entries.iter().all(|e| e.addr.is_none()) {
            errors.push(ConfigError::file_err(file, "no nodes defined"));
        }
        (Nodes { file: file.to_path_buf(), entries }, errors)
    }

    /// Read and parse a nodes file. A missing file is an error.
    pub fn load(file: &Path) -> Result<Nodes, ConfigError> {
        Nodes::parse(&read_required(file)?, file)
    }

    /// Number of nodes, deleted ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no entries at all (never true after a successful
    /// parse).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of a PNN, deleted or not.
    pub fn get(&self, pnn: Pnn) -> Option<&NodeEntry> {
        self.entries.get(usize::try_from(pnn.0).ok()?)
    }

    /// Address of a node; `None` if it is deleted or out of range.
    pub fn addr(&self, pnn: Pnn) -> Option<IpAddr> {
        self.get(pnn)?.addr
    }

    /// The PNN of a non-deleted node with this address. A v4-mapped IPv6
    /// address matches the IPv4 address it maps, and the other way round.
    pub fn pnn_of(&self, addr: IpAddr) -> Option<Pnn> {
        let want = addr.to_canonical();
        self.entries.iter().find(|e| e.addr.map(|a| a.to_canonical()) == Some(want)).map(|e| e.pnn)
    }

    /// Nodes that are not deleted, with their addresses.
    pub fn present(&self) -> impl Iterator<Item = (Pnn, IpAddr)> + '_ {
        self.entries.iter().filter_map(|e| Some((e.pnn, e.addr?)))
    }

    /// The node map of this file: every entry, deleted ones with address
    /// `0.0.0.0` and flag `DELETED`, the others with no flags.
    pub fn to_node_map(&self) -> NodeMap {
        NodeMap {
            nodes: self
                .entries
                .iter()
                .map(|e| match e.addr {
                    Some(addr) => NodeInfo { pnn: e.pnn, addr, flags: NodeFlags::empty() },
                    None => NodeInfo { pnn: e.pnn, addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED), flags: NodeFlags::DELETED },
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Nodes, ConfigError> {
        Nodes::parse(text, Path::new("/etc/rctdb/nodes"))
    }

    /// Render entries as `pnn:addr` (`pnn:#` for deleted) to compare compactly.
    fn render(n: &Nodes) -> String {
        n.entries
            .iter()
            .map(|e| match e.addr {
                Some(a) => format!("{}:{}@{}", e.pnn, a, e.line),
                None => format!("{}:#@{}", e.pnn, e.line),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Each case: a text block, then `=>` and either the rendered entries or
    /// `! message` (the full Display of the first error).
    const CASES: &str = r"192.0.2.1
192.0.2.2
=> 0:192.0.2.1@1 1:192.0.2.2@2
---
192.0.2.1
#192.0.2.2
192.0.2.3
=> 0:192.0.2.1@1 1:#@2 2:192.0.2.3@3
---

192.0.2.1

  	192.0.2.2	  

=> 0:192.0.2.1@2 1:192.0.2.2@4
---
# a comment is a deleted node
192.0.2.1
=> 0:#@1 1:192.0.2.1@2
---
192.0.2.1
# trailing comment adds a node
=> 0:192.0.2.1@1 1:#@2
---
2001:db8::1
[2001:db8::2]
::ffff:192.0.2.9
=> 0:2001:db8::1@1 1:2001:db8::2@2 2:::ffff:192.0.2.9@3
---
192.0.2.1
192.0.2.x
=> ! /etc/rctdb/nodes:2: Invalid node address 192.0.2.x
---
192.0.2.1 extra
=> ! /etc/rctdb/nodes:1: Invalid node address 192.0.2.1 extra
---
192.0.2.1:4379
=> ! /etc/rctdb/nodes:1: Invalid node address 192.0.2.1:4379
---
[192.0.2.1]
=> ! /etc/rctdb/nodes:1: Invalid node address [192.0.2.1]
---
[2001:db8::1
=> ! /etc/rctdb/nodes:1: Invalid node address [2001:db8::1
---
192.0.2.01
=> ! /etc/rctdb/nodes:1: Invalid node address 192.0.2.01
---
0.0.0.0
=> ! /etc/rctdb/nodes:1: Invalid node address 0.0.0.0
---
::
=> ! /etc/rctdb/nodes:1: Invalid node address ::
---
192.0.2.1
192.0.2.2
 192.0.2.1
=> ! /etc/rctdb/nodes:3: Duplicate node address 192.0.2.1 (also on line 1)
---
192.0.2.1
::ffff:192.0.2.1
=> ! /etc/rctdb/nodes:2: Duplicate node address ::ffff:192.0.2.1 (also on line 1)
---
2001:db8::1
[2001:DB8:0::1]
=> ! /etc/rctdb/nodes:2: Duplicate node address 2001:db8::1 (also on line 1)
---
=> ! /etc/rctdb/nodes: no nodes defined
---


=> ! /etc/rctdb/nodes: no nodes defined
---
#192.0.2.1
#192.0.2.2
=> ! /etc/rctdb/nodes: no nodes defined
";

    #[test]
    fn table() {
        for case in CASES.split("---\n") {
            let (text, want) = case.rsplit_once("=> ").expect("case has =>");
            let want = want.trim_end();
            let got = match parse(text) {
                Ok(n) => render(&n),
                Err(e) => format!("! {e}"),
            };
            assert_eq!(got, want, "input:\n{text}");
        }
    }

    #[test]
    fn all_errors_collected() {
        let (_, errs) = Nodes::parse_all("x\n192.0.2.1\ny\n192.0.2.1\n", Path::new("n"));
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            vec![
                "n:1: Invalid node address x",
                "n:3: Invalid node address y",
                "n:4: Duplicate node address 192.0.2.1 (also on line 2)"
            ]
        );
    }

    #[test]
    fn lookups() {
        let n = parse("192.0.2.1\n#192.0.2.2\n\n2001:db8::3\n").unwrap();
        assert_eq!(n.len(), 3);
        assert!(!n.is_empty());
        assert_eq!(n.addr(Pnn(0)), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(n.addr(Pnn(1)), None);
        assert_eq!(n.addr(Pnn(2)), Some("2001:db8::3".parse().unwrap()));
        assert_eq!(n.addr(Pnn(3)), None);
        assert_eq!(n.addr(Pnn::UNKNOWN), None);
        assert_eq!(n.pnn_of("192.0.2.1".parse().unwrap()), Some(Pnn(0)));
        assert_eq!(n.pnn_of("::ffff:192.0.2.1".parse().unwrap()), Some(Pnn(0)));
        assert_eq!(n.pnn_of("192.0.2.2".parse().unwrap()), None, "deleted nodes have no address");
        assert_eq!(n.pnn_of("2001:db8::3".parse().unwrap()), Some(Pnn(2)));
        assert_eq!(n.present().map(|(p, _)| p).collect::<Vec<_>>(), vec![Pnn(0), Pnn(2)]);
    }

    #[test]
    fn node_map() {
        let n = parse("192.0.2.1\n#192.0.2.2\n192.0.2.3\n").unwrap();
        let m = n.to_node_map();
        assert_eq!(
            m.nodes,
            vec![
                NodeInfo { pnn: Pnn(0), addr: "192.0.2.1".parse().unwrap(), flags: NodeFlags::empty() },
                NodeInfo { pnn: Pnn(1), addr: "0.0.0.0".parse().unwrap(), flags: NodeFlags::DELETED },
                NodeInfo { pnn: Pnn(2), addr: "192.0.2.3".parse().unwrap(), flags: NodeFlags::empty() },
            ]
        );
    }

    #[test]
    fn load_missing_is_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("nodes");
        let e = Nodes::load(&f).unwrap_err();
        assert!(matches!(e, ConfigError::Io { .. }));
        assert!(e.to_string().starts_with(&format!("{}: ", f.display())), "{e}");
        std::fs::write(&f, "192.0.2.1\n").unwrap();
        assert_eq!(Nodes::load(&f).unwrap().len(), 1);
    }

    #[test]
    fn crlf_lines() {
        let n = parse("192.0.2.1\r\n192.0.2.2\r\n").unwrap();
        assert_eq!(n.len(), 2);
    }
}

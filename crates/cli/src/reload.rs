//! The checks `reloadnodes` makes before it asks any node to reload: a
//! pure function from the local nodes file, the running node map and the
//! nodes files of the connected nodes to the messages CTDB prints and a
//! verdict (reference §9.6).

use crate::format::Stream;
use rctdb_config::Nodes;
use rctdb_protocol::{NodeFlags, NodeInfo, NodeMap, Pnn};

/// One message for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub stream: Stream,
    pub text: String,
}

fn out(text: String) -> Line {
    Line { stream: Stream::Stdout, text }
}

fn err(text: String) -> Line {
    Line { stream: Stream::Stderr, text }
}

/// What to do after the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Changes found and none is an error: reload every connected node.
    Reload,
    /// Nothing changed (exit 0 without reloading).
    NoChange,
    /// Refuse to reload (exit 1).
    Error,
}

/// Messages in print order, and the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadCheck {
    pub lines: Vec<Line>,
    pub verdict: Verdict,
}

fn deleted(n: &NodeInfo) -> bool {
    n.flags.contains(NodeFlags::DELETED)
}

/// Same length, and per PNN the same deleted-ness and (for present nodes)
/// the same address.
fn same_file(a: &NodeMap, b: &NodeMap) -> bool {
    a.nodes.len() == b.nodes.len()
        && a.nodes.iter().zip(&b.nodes).all(|(x, y)| {
            x.pnn == y.pnn && deleted(x) == deleted(y) && (deleted(x) || x.addr.to_canonical() == y.addr.to_canonical())
        })
}

/// Check an edited nodes file.
///
/// * `local`: the PNN of the node the tool runs on (for messages);
/// * `file`: the nodes file this tool read;
/// * `running`: the node map of the local daemon;
/// * `remote_files`: the nodes file of every connected node, as that node
///   reads it (`GET_NODES_FILE`), in PNN order.
///
/// One difference from CTDB: an entry appended to the file as a deleted
/// (`#`) line is reported as `Node %u is DELETED`, not `NEW`, since no node
/// joins.
pub fn check(local: Pnn, file: &Nodes, running: &NodeMap, remote_files: &[(Pnn, NodeMap)]) -> ReloadCheck {
    let fmap = file.to_node_map();
    for (pnn, theirs) in remote_files {
        if !same_file(&fmap, theirs) {
            return ReloadCheck {
                lines: vec![err(format!("ERROR: Nodes file on node {pnn} differs from current node ({local})"))],
                verdict: Verdict::Error,
            };
        }
    }

    let mut lines = Vec::new();
    let mut reload = false;
    let mut failed = false;
    for (i, run) in running.nodes.iter().enumerate() {
        let Some(f) = fmap.nodes.get(i) else {
            lines.push(err(format!("Node {} ({}) missing from nodes file", run.pnn, run.addr)));
            failed = true;
            continue;
        };
        match (deleted(run), deleted(f)) {
            (true, true) => {}
            (false, false) => {
                if run.addr.to_canonical() != f.addr.to_canonical() {
                    lines.push(err(format!(
                        "Node {} has changed IP address (was {}, now {})",
                        run.pnn, run.addr, f.addr
                    )));
                    failed = true;
                } else if run.flags.contains(NodeFlags::DISCONNECTED) {
                    lines.push(err(format!(
                        "WARNING: Node {} is disconnected. You MUST fix this node manually!",
                        run.pnn
                    )));
                }
            }
            (false, true) => {
                lines.push(out(format!("Node {} is DELETED", run.pnn)));
                reload = true;
                if !run.flags.contains(NodeFlags::DISCONNECTED) {
                    lines.push(err(format!("ERROR: Node {} is still connected", run.pnn)));
                    failed = true;
                }
            }
            (true, false) => {
                lines.push(out(format!("Node {} is UNDELETED", run.pnn)));
                reload = true;
            }
        }
    }
    if failed {
        lines.push(err("ERROR: Nodes will not be reloaded due to previous error".to_string()));
        return ReloadCheck { lines, verdict: Verdict::Error };
    }
    for f in fmap.nodes.iter().skip(running.nodes.len()) {
        let what = if deleted(f) { "DELETED" } else { "NEW" };
        lines.push(out(format!("Node {} is {what}", f.pnn)));
        reload = true;
    }
    if !reload {
        lines.push(err("No change in nodes file, skipping unnecessary reload".to_string()));
        return ReloadCheck { lines, verdict: Verdict::NoChange };
    }
    ReloadCheck { lines, verdict: Verdict::Reload }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn nodes(text: &str) -> Nodes {
        Nodes::parse(text, Path::new("/etc/rctdb/nodes")).expect("valid nodes file")
    }

    /// A running map: `(address or "#" for deleted, flags)`.
    fn running(spec: &[(&str, u32)]) -> NodeMap {
        NodeMap {
            nodes: spec
                .iter()
                .enumerate()
                .map(|(i, &(a, f))| NodeInfo {
                    pnn: Pnn(i as u32),
                    addr: if a == "#" { "0.0.0.0".parse().unwrap() } else { a.parse().unwrap() },
                    flags: NodeFlags(if a == "#" { f | 0x10 } else { f }),
                })
                .collect(),
        }
    }

    /// Render the result as the terminal would show it, `1>`/`2>` marking
    /// the stream.
    fn show(c: &ReloadCheck) -> String {
        let mut s = format!("{:?}\n", c.verdict);
        for l in &c.lines {
            s.push_str(if l.stream == Stream::Stdout { "1> " } else { "2> " });
            s.push_str(&l.text);
            s.push('\n');
        }
        s
    }

    fn run(file: &str, map: &[(&str, u32)]) -> String {
        let f = nodes(file);
        let m = running(map);
        // Every connected node has the same file.
        let remote: Vec<(Pnn, NodeMap)> = m
            .present()
            .filter(|n| !n.flags.contains(NodeFlags::DISCONNECTED))
            .map(|n| (n.pnn, f.to_node_map()))
            .collect();
        show(&check(Pnn(0), &f, &m, &remote))
    }

    #[test]
    fn unchanged() {
        assert_eq!(
            run("10.0.0.1\n10.0.0.2\n", &[("10.0.0.1", 0), ("10.0.0.2", 2)]),
            "NoChange\n2> No change in nodes file, skipping unnecessary reload\n"
        );
    }

    #[test]
    fn unchanged_with_deleted_and_disconnected() {
        assert_eq!(
            run("10.0.0.1\n#10.0.0.2\n10.0.0.3\n", &[("10.0.0.1", 0), ("#", 0x01), ("10.0.0.3", 0x03)]),
            "NoChange
2> WARNING: Node 2 is disconnected. You MUST fix this node manually!
2> No change in nodes file, skipping unnecessary reload
"
        );
    }

    #[test]
    fn new_nodes() {
        assert_eq!(
            run("10.0.0.1\n10.0.0.2\n10.0.0.3\n#\n", &[("10.0.0.1", 0), ("10.0.0.2", 0)]),
            "Reload\n1> Node 2 is NEW\n1> Node 3 is DELETED\n"
        );
    }

    #[test]
    fn deleted_disconnected_node() {
        assert_eq!(
            run("10.0.0.1\n#10.0.0.2\n", &[("10.0.0.1", 0), ("10.0.0.2", 0x03)]),
            "Reload\n1> Node 1 is DELETED\n"
        );
    }

    #[test]
    fn deleted_node_still_connected() {
        assert_eq!(
            run("10.0.0.1\n#10.0.0.2\n", &[("10.0.0.1", 0), ("10.0.0.2", 0)]),
            "Error
1> Node 1 is DELETED
2> ERROR: Node 1 is still connected
2> ERROR: Nodes will not be reloaded due to previous error
"
        );
    }

    #[test]
    fn undeleted_node() {
        assert_eq!(run("10.0.0.1\n10.0.0.2\n", &[("10.0.0.1", 0), ("#", 0x01)]), "Reload\n1> Node 1 is UNDELETED\n");
    }

    #[test]
    fn changed_address_is_an_error_and_stops_new_nodes() {
        assert_eq!(
            run("10.0.0.1\n10.0.0.9\n10.0.0.3\n", &[("10.0.0.1", 0), ("10.0.0.2", 0x01)]),
            "Error
2> Node 1 has changed IP address (was 10.0.0.2, now 10.0.0.9)
2> ERROR: Nodes will not be reloaded due to previous error
"
        );
    }

    #[test]
    fn missing_from_file() {
        assert_eq!(
            run("10.0.0.1\n", &[("10.0.0.1", 0), ("10.0.0.2", 0x01)]),
            "Error
2> Node 1 (10.0.0.2) missing from nodes file
2> ERROR: Nodes will not be reloaded due to previous error
"
        );
    }

    #[test]
    fn other_node_has_a_different_file() {
        let f = nodes("10.0.0.1\n10.0.0.2\n10.0.0.3\n");
        let m = running(&[("10.0.0.1", 0), ("10.0.0.2", 0)]);
        let cases = [
            nodes("10.0.0.1\n10.0.0.2\n"),            // shorter
            nodes("10.0.0.1\n10.0.0.2\n#10.0.0.3\n"), // deleted there
            nodes("10.0.0.1\n10.0.0.2\n10.0.0.4\n"),  // other address
        ];
        for theirs in cases {
            let remote = vec![(Pnn(0), f.to_node_map()), (Pnn(1), theirs.to_node_map())];
            assert_eq!(
                show(&check(Pnn(0), &f, &m, &remote)),
                "Error\n2> ERROR: Nodes file on node 1 differs from current node (0)\n"
            );
        }
    }

    #[test]
    fn deleted_lines_compare_equal_whatever_their_text() {
        let f = nodes("10.0.0.1\n#old\n10.0.0.3\n");
        let m = running(&[("10.0.0.1", 0), ("#", 0x01), ("10.0.0.3", 0)]);
        let remote = vec![(Pnn(2), nodes("10.0.0.1\n#\n10.0.0.3\n").to_node_map())];
        assert_eq!(check(Pnn(2), &f, &m, &remote).verdict, Verdict::NoChange);
    }
}

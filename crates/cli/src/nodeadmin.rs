//! `disable`, `enable`, `stop`, `continue`, `ban SECONDS`, `unban`
//! (CTDB §9.6), the pure part: which flag each command moves and in which
//! direction, the control it sends, whether the target already is in the
//! requested state, and every message the tool prints.
//!
//! The sequence itself (read the local node map, send the control, poll
//! the local node map until the flag shows) is in `run.rs`.

use rctdb_protocol::{Control, NodeFlags, Pnn};
use serde_json::{json, Value};
use std::time::Duration;

/// How often the tool re-reads the local node map while it waits for the
/// flag to show. CTDB's tool sleeps 1 s between reads; rctdbd propagates
/// a node's flags within milliseconds, so the tool polls ten times faster
/// and returns sooner. `-T` still bounds the wait.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A node-administration command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeAction {
    /// Set PERMANENTLY_DISABLED.
    Disable,
    /// Clear PERMANENTLY_DISABLED.
    Enable,
    /// Set STOPPED.
    Stop,
    /// Clear STOPPED.
    Continue,
    /// Set BANNED for this many seconds (never 0: that is `unban`).
    Ban { seconds: u32 },
    /// Clear BANNED.
    Unban,
}

impl NodeAction {
    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            NodeAction::Disable => "disable",
            NodeAction::Enable => "enable",
            NodeAction::Stop => "stop",
            NodeAction::Continue => "continue",
            NodeAction::Ban { .. } => "ban",
            NodeAction::Unban => "unban",
        }
    }

    /// The one flag the command changes.
    pub fn flag(self) -> NodeFlags {
        match self {
            NodeAction::Disable | NodeAction::Enable => NodeFlags::PERMANENTLY_DISABLED,
            NodeAction::Stop | NodeAction::Continue => NodeFlags::STOPPED,
            NodeAction::Ban { .. } | NodeAction::Unban => NodeFlags::BANNED,
        }
    }

    /// True if the command sets its flag, false if it clears it.
    pub fn sets(self) -> bool {
        matches!(self, NodeAction::Disable | NodeAction::Stop | NodeAction::Ban { .. })
    }

    /// The control sent to the target node.
    pub fn control(self) -> Control {
        match self {
            NodeAction::Disable => Control::DisableNode,
            NodeAction::Enable => Control::EnableNode,
            NodeAction::Stop => Control::StopNode,
            NodeAction::Continue => Control::ContinueNode,
            NodeAction::Ban { seconds } => Control::SetBanState { seconds },
            NodeAction::Unban => Control::SetBanState { seconds: 0 },
        }
    }

    /// Does a node with `flags` show the requested state?
    pub fn reached(self, flags: NodeFlags) -> bool {
        flags.contains(self.flag()) == self.sets()
    }

    /// The state word of the messages.
    fn state(self) -> &'static str {
        match self {
            NodeAction::Disable | NodeAction::Enable => "disabled",
            NodeAction::Stop | NodeAction::Continue => "stopped",
            NodeAction::Ban { .. } | NodeAction::Unban => "banned",
        }
    }

    /// `Node %u is already disabled|stopped|banned` or `Node %u is not
    /// disabled|stopped|banned` if a node with `flags` needs nothing done
    /// (the tool prints it on stderr and exits 0); `None` otherwise.
    pub fn already(self, pnn: Pnn, flags: NodeFlags) -> Option<String> {
        if !self.reached(flags) {
            return None;
        }
        let how = if self.sets() { "already" } else { "not" };
        Some(format!("Node {pnn} is {how} {}", self.state()))
    }

    /// The line printed when the control fails.
    pub fn failure(self, pnn: Pnn) -> String {
        match self {
            NodeAction::Continue => format!("Failed to continue stopped node {pnn}"),
            other => format!("Failed to {} node {pnn}", other.name()),
        }
    }

    /// `--json`: `{"pnn", "action", ["seconds",] "result": "ok"|"already"}`;
    /// `seconds` only for `ban`.
    pub fn json(self, pnn: Pnn, already: bool) -> Value {
        let result = if already { "already" } else { "ok" };
        match self {
            NodeAction::Ban { seconds } => {
                json!({ "pnn": pnn.0, "action": self.name(), "seconds": seconds, "result": result })
            }
            _ => json!({ "pnn": pnn.0, "action": self.name(), "result": result }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [NodeAction; 6] = [
        NodeAction::Disable,
        NodeAction::Enable,
        NodeAction::Stop,
        NodeAction::Continue,
        NodeAction::Ban { seconds: 30 },
        NodeAction::Unban,
    ];

    #[test]
    fn flags_and_controls() {
        let got: Vec<(&str, u32, bool, Control)> =
            ALL.iter().map(|a| (a.name(), a.flag().0, a.sets(), a.control())).collect();
        assert_eq!(
            got,
            vec![
                ("disable", 0x04, true, Control::DisableNode),
                ("enable", 0x04, false, Control::EnableNode),
                ("stop", 0x20, true, Control::StopNode),
                ("continue", 0x20, false, Control::ContinueNode),
                ("ban", 0x08, true, Control::SetBanState { seconds: 30 }),
                ("unban", 0x08, false, Control::SetBanState { seconds: 0 }),
            ]
        );
    }

    #[test]
    fn already_messages_when_in_the_requested_state() {
        // Every flag set (but UNKNOWN): the setting commands have nothing to do.
        let all = NodeFlags(0x3f);
        let none = NodeFlags(0);
        let p = Pnn(3);
        let msgs: Vec<Option<String>> = ALL.iter().map(|a| a.already(p, all)).collect();
        assert_eq!(
            msgs,
            vec![
                Some("Node 3 is already disabled".to_string()),
                None,
                Some("Node 3 is already stopped".to_string()),
                None,
                Some("Node 3 is already banned".to_string()),
                None,
            ]
        );
        let msgs: Vec<Option<String>> = ALL.iter().map(|a| a.already(p, none)).collect();
        assert_eq!(
            msgs,
            vec![
                None,
                Some("Node 3 is not disabled".to_string()),
                None,
                Some("Node 3 is not stopped".to_string()),
                None,
                Some("Node 3 is not banned".to_string()),
            ]
        );
    }

    #[test]
    fn only_the_commands_own_flag_counts() {
        // UNHEALTHY is part of the DISABLED mask but not what `disable` sets.
        assert_eq!(NodeAction::Disable.already(Pnn(0), NodeFlags::UNHEALTHY), None);
        assert_eq!(NodeAction::Enable.already(Pnn(0), NodeFlags::UNHEALTHY), Some("Node 0 is not disabled".into()));
        // A banned node is INACTIVE, not STOPPED.
        assert_eq!(NodeAction::Stop.already(Pnn(1), NodeFlags(0x08)), None);
        assert_eq!(NodeAction::Continue.already(Pnn(1), NodeFlags(0x08)), Some("Node 1 is not stopped".into()));
        // Ban and disable on top of each other.
        assert_eq!(NodeAction::Ban { seconds: 1 }.already(Pnn(2), NodeFlags(0x04)), None);
        assert_eq!(NodeAction::Unban.already(Pnn(2), NodeFlags(0x0c)), None);
    }

    #[test]
    fn reached_is_the_wait_condition() {
        assert!(!NodeAction::Stop.reached(NodeFlags(0)));
        assert!(NodeAction::Stop.reached(NodeFlags(0x20)));
        assert!(NodeAction::Continue.reached(NodeFlags(0)));
        assert!(!NodeAction::Continue.reached(NodeFlags(0x22)));
        assert!(NodeAction::Ban { seconds: 5 }.reached(NodeFlags(0x08)));
        assert!(NodeAction::Unban.reached(NodeFlags(0x02)));
    }

    #[test]
    fn failure_messages() {
        let got: Vec<String> = ALL.iter().map(|a| a.failure(Pnn(1))).collect();
        assert_eq!(
            got,
            vec![
                "Failed to disable node 1",
                "Failed to enable node 1",
                "Failed to stop node 1",
                "Failed to continue stopped node 1",
                "Failed to ban node 1",
                "Failed to unban node 1",
            ]
        );
    }

    #[test]
    fn json_results() {
        assert_eq!(
            NodeAction::Disable.json(Pnn(0), false).to_string(),
            r#"{"pnn":0,"action":"disable","result":"ok"}"#
        );
        assert_eq!(
            NodeAction::Continue.json(Pnn(2), true).to_string(),
            r#"{"pnn":2,"action":"continue","result":"already"}"#
        );
        assert_eq!(
            NodeAction::Ban { seconds: 30 }.json(Pnn(1), false).to_string(),
            r#"{"pnn":1,"action":"ban","seconds":30,"result":"ok"}"#
        );
        assert_eq!(
            NodeAction::Unban.json(Pnn(1), true).to_string(),
            r#"{"pnn":1,"action":"unban","result":"already"}"#
        );
    }

    #[test]
    fn polls_faster_than_ctdb() {
        assert_eq!(POLL_INTERVAL, Duration::from_millis(100));
    }
}

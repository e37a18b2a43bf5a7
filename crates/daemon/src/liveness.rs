//! Per-peer link state and keepalive counting, without sockets or clocks.
//!
//! Each peer has two TCP connections, as in CTDB: our *outgoing* one (we
//! send on it) and its *incoming* one (we receive on it). A peer is
//! connected while both are up and it has not gone silent. The event loop
//! feeds [`LinkEvent`]s in and carries out the [`LinkAction`]s that come
//! back; `Tick` arrives every `KeepaliveInterval`.
//!
//! Invariants (checked by the property tests below):
//! - `connected` implies both connections are up;
//! - a connected peer that sends nothing is declared dead on the
//!   `KeepaliveLimit`-th tick at the latest, i.e. within
//!   `KeepaliveInterval x (KeepaliveLimit + 1)` of its last packet;
//! - a peer that keeps sending at least once per interval is never
//!   declared dead;
//! - losing either connection of a connected peer declares it dead at once
//!   and both connections are dropped, so they are re-established together.

/// Something that happened to one peer's link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent {
    /// Our outgoing connection to the peer completed.
    OutgoingUp,
    /// The peer's connection to us was accepted.
    IncomingUp,
    /// Either connection closed, failed, or carried a malformed frame.
    ConnectionLost,
    /// A packet arrived from the peer.
    Received,
    /// The keepalive interval elapsed.
    Tick,
}

/// What the event loop must do in response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAction {
    /// The peer became connected: clear DISCONNECTED.
    Connected,
    /// The peer was connected and is now dead: set DISCONNECTED|UNHEALTHY,
    /// fail controls pending on it.
    Dead,
    /// Close both connections; reconnect later.
    DropConnections,
    /// Send a keepalive on the outgoing connection.
    SendKeepalive,
}

/// Link state of one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerLink {
    outgoing_up: bool,
    incoming_up: bool,
    connected: bool,
    /// Packets received since the last tick.
    rx_count: u32,
    /// Consecutive ticks with nothing received.
    silent_ticks: u32,
}

impl PeerLink {
    #[cfg(test)]
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    #[cfg(test)]
    pub fn outgoing_up(&self) -> bool {
        self.outgoing_up
    }

    /// Apply one event. `limit` is `KeepaliveLimit` (at least 1).
    pub fn handle(&mut self, event: LinkEvent, limit: u32) -> Vec<LinkAction> {
        let limit = limit.max(1);
        match event {
            LinkEvent::OutgoingUp => {
                self.outgoing_up = true;
                self.check_connected()
            }
            LinkEvent::IncomingUp => {
                self.incoming_up = true;
                self.check_connected()
            }
            LinkEvent::ConnectionLost => self.lose(),
            LinkEvent::Received => {
                self.rx_count = self.rx_count.saturating_add(1);
                vec![]
            }
            LinkEvent::Tick => {
                if !self.connected {
                    return if self.outgoing_up { vec![LinkAction::SendKeepalive] } else { vec![] };
                }
                if self.rx_count == 0 {
                    self.silent_ticks += 1;
                } else {
                    self.silent_ticks = 0;
                }
                self.rx_count = 0;
                if self.silent_ticks >= limit {
                    self.lose()
                } else {
                    vec![LinkAction::SendKeepalive]
                }
            }
        }
    }

    fn check_connected(&mut self) -> Vec<LinkAction> {
        if self.outgoing_up && self.incoming_up && !self.connected {
            self.connected = true;
            self.rx_count = 0;
            self.silent_ticks = 0;
            vec![LinkAction::Connected]
        } else {
            vec![]
        }
    }

    fn lose(&mut self) -> Vec<LinkAction> {
        let was_connected = self.connected;
        *self = PeerLink::default();
        if was_connected {
            vec![LinkAction::Dead, LinkAction::DropConnections]
        } else {
            vec![LinkAction::DropConnections]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn up() -> PeerLink {
        let mut l = PeerLink::default();
        assert_eq!(l.handle(LinkEvent::OutgoingUp, 3), vec![]);
        assert_eq!(l.handle(LinkEvent::IncomingUp, 3), vec![LinkAction::Connected]);
        l
    }

    #[test]
    fn connected_needs_both_directions() {
        let mut l = PeerLink::default();
        assert!(l.handle(LinkEvent::IncomingUp, 3).is_empty());
        assert!(!l.is_connected());
        assert_eq!(l.handle(LinkEvent::OutgoingUp, 3), vec![LinkAction::Connected]);
        assert!(l.is_connected());
    }

    #[test]
    fn silent_peer_dies_on_the_limit_th_tick() {
        let mut l = up();
        assert_eq!(l.handle(LinkEvent::Tick, 3), vec![LinkAction::SendKeepalive]);
        assert_eq!(l.handle(LinkEvent::Tick, 3), vec![LinkAction::SendKeepalive]);
        assert_eq!(l.handle(LinkEvent::Tick, 3), vec![LinkAction::Dead, LinkAction::DropConnections]);
        assert!(!l.is_connected());
        assert!(!l.outgoing_up());
    }

    #[test]
    fn any_packet_resets_the_silence() {
        let mut l = up();
        l.handle(LinkEvent::Tick, 2);
        l.handle(LinkEvent::Received, 2);
        assert_eq!(l.handle(LinkEvent::Tick, 2), vec![LinkAction::SendKeepalive]);
        assert_eq!(l.handle(LinkEvent::Tick, 2), vec![LinkAction::SendKeepalive]);
        assert_eq!(l.handle(LinkEvent::Tick, 2), vec![LinkAction::Dead, LinkAction::DropConnections]);
    }

    #[test]
    fn losing_a_connection_kills_at_once() {
        let mut l = up();
        assert_eq!(l.handle(LinkEvent::ConnectionLost, 5), vec![LinkAction::Dead, LinkAction::DropConnections]);
        // Not connected: only the sockets go.
        assert_eq!(l.handle(LinkEvent::ConnectionLost, 5), vec![LinkAction::DropConnections]);
    }

    /// Simulated time: the peer sends a packet at some instants (in ms);
    /// we tick every `interval` ms. Returns the tick time at which the peer
    /// was declared dead, if it was.
    fn simulate(interval: u64, limit: u32, sends: &[u64], until: u64) -> Option<u64> {
        let mut l = up();
        let mut sends = sends.to_vec();
        sends.sort_unstable();
        let mut si = 0;
        let mut t = interval;
        while t <= until {
            while si < sends.len() && sends[si] < t {
                l.handle(LinkEvent::Received, limit);
                si += 1;
            }
            if l.handle(LinkEvent::Tick, limit).contains(&LinkAction::Dead) {
                return Some(t);
            }
            t += interval;
        }
        None
    }

    proptest! {
        #[test]
        fn silent_peer_detected_within_interval_times_limit_plus_one(
            interval in 1u64..1000, limit in 1u32..10, last_send in 0u64..10_000,
        ) {
            let sends: Vec<u64> = (0..=last_send).step_by(interval as usize).chain([last_send]).collect();
            let dead_at = simulate(interval, limit, &sends, last_send + interval * (limit as u64 + 2));
            let dead_at = dead_at.expect("a silent peer must be declared dead");
            prop_assert!(dead_at > last_send);
            prop_assert!(dead_at <= last_send + interval * (limit as u64 + 1),
                "dead at {} but last packet at {}", dead_at, last_send);
        }

        #[test]
        fn chatty_peer_never_dies(
            interval in 1u64..1000, limit in 1u32..10, phase in 0u64..1000, jitter in proptest::collection::vec(0u64..1000, 50),
        ) {
            // One packet per interval at a jittered offset inside it.
            let sends: Vec<u64> = jitter.iter().enumerate()
                .map(|(i, j)| i as u64 * interval + (phase + j) % interval).collect();
            let end = interval * (jitter.len() as u64);
            prop_assert_eq!(simulate(interval, limit, &sends, end), None);
        }

        #[test]
        fn connected_implies_both_connections_up(events in proptest::collection::vec(0u8..5, 0..200), limit in 1u32..5) {
            let mut l = PeerLink::default();
            for e in events {
                let ev = [LinkEvent::OutgoingUp, LinkEvent::IncomingUp, LinkEvent::ConnectionLost,
                          LinkEvent::Received, LinkEvent::Tick][e as usize];
                let was = l.is_connected();
                let actions = l.handle(ev, limit);
                prop_assert!(!l.is_connected() || (l.outgoing_up && l.incoming_up));
                prop_assert_eq!(actions.contains(&LinkAction::Dead), was && !l.is_connected());
                prop_assert_eq!(actions.contains(&LinkAction::Connected), !was && l.is_connected());
            }
        }
    }
}

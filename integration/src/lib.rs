//! Multi-host test harness for rctdb: each test host is a Linux network
//! namespace on a shared bridge, running one real `rctdbd`.
//!
//! ```no_run
//! use rctdb_integration::Cluster;
//! use std::time::Duration;
//!
//! let c = Cluster::builder(3).tunable("KeepaliveInterval", "200ms").start();
//! c.wait_connected(&[0, 1, 2], Duration::from_secs(10));
//! c.kill9(2);
//! c.wait_disconnected(&[0, 1], 2, Duration::from_secs(2));
//! ```
//!
//! Needs root and `ip` (iproute2). Binaries come from `$RCTDB_BIN_DIR` or
//! the workspace's `target/{debug,release}`: run `cargo build --workspace
//! --bins` first. Addresses: hosts 192.0.2.0/24 only; nothing is created
//! in, or sent to, the root namespace except through unix sockets in a
//! temporary directory. Everything is removed on Drop, on panic, and (for a
//! run that was killed) by the next run's start-up.

pub mod bench;
pub mod cluster;
pub mod ctdb;
pub mod failover;
pub mod leader;
pub mod netns;
pub mod partition;
pub mod png;
pub mod process;
pub mod scripts;

pub use cluster::{host_addr, Builder, Cluster, ExtraHost, Node, TRANSPORT_PORT};
pub use nix::sys::signal::Signal;
pub use process::{bin_dir, describe};

#[cfg(test)]
mod selftest;

//! Where rctdb keeps its files: the base (configuration), run and state
//! directories, and the well-known files inside them.
//!
//! The directories come from `RCTDB_BASE`, `RCTDB_RUNDIR` and `RCTDB_VARDIR`;
//! an unset or empty variable means the default. Nothing here touches the
//! filesystem.

use std::env;
use std::path::PathBuf;

/// Default configuration directory.
pub const DEFAULT_BASE: &str = "/etc/rctdb";
/// Default run directory (socket, pid files).
pub const DEFAULT_RUNDIR: &str = "/run/rctdb";
/// Default state directory.
pub const DEFAULT_VARDIR: &str = "/var/lib/rctdb";

/// The three directories of an rctdb node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Configuration directory (`$RCTDB_BASE`, default `/etc/rctdb`).
    pub base: PathBuf,
    /// Run directory (`$RCTDB_RUNDIR`, default `/run/rctdb`).
    pub rundir: PathBuf,
    /// State directory (`$RCTDB_VARDIR`, default `/var/lib/rctdb`).
    pub vardir: PathBuf,
}

fn env_dir(var: &str, default: &str) -> PathBuf {
    match env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(default),
    }
}

impl Paths {
    /// All three directories from the environment, or their defaults.
    pub fn from_env() -> Paths {
        Paths::with_base(env_dir("RCTDB_BASE", DEFAULT_BASE))
    }

    /// The given base directory; run and state directories from the
    /// environment or their defaults.
    pub fn with_base(base: PathBuf) -> Paths {
        Paths { base, rundir: env_dir("RCTDB_RUNDIR", DEFAULT_RUNDIR), vardir: env_dir("RCTDB_VARDIR", DEFAULT_VARDIR) }
    }

    /// `base/rctdb.conf`.
    pub fn conf_file(&self) -> PathBuf {
        self.base.join("rctdb.conf")
    }

    /// `base/nodes`.
    pub fn nodes_file(&self) -> PathBuf {
        self.base.join("nodes")
    }

    /// `base/tunables`.
    pub fn tunables_file(&self) -> PathBuf {
        self.base.join("tunables")
    }

    /// `base/public_addresses`.
    pub fn public_addresses_file(&self) -> PathBuf {
        self.base.join("public_addresses")
    }

    /// `base/events/legacy`: the event scripts.
    pub fn events_dir(&self) -> PathBuf {
        self.base.join("events").join("legacy")
    }

    /// `base/functions`: the shell library sourced by event scripts.
    pub fn functions_file(&self) -> PathBuf {
        self.base.join("functions")
    }

    /// `rundir/rctdbd.socket`: the control socket.
    pub fn socket(&self) -> PathBuf {
        self.rundir.join("rctdbd.socket")
    }

    /// `rundir/rctdbd.pid`.
    pub fn pid_file(&self) -> PathBuf {
        self.rundir.join("rctdbd.pid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_under_directories() {
        let p = Paths { base: "/b".into(), rundir: "/r".into(), vardir: "/v".into() };
        assert_eq!(p.conf_file(), PathBuf::from("/b/rctdb.conf"));
        assert_eq!(p.nodes_file(), PathBuf::from("/b/nodes"));
        assert_eq!(p.tunables_file(), PathBuf::from("/b/tunables"));
        assert_eq!(p.public_addresses_file(), PathBuf::from("/b/public_addresses"));
        assert_eq!(p.events_dir(), PathBuf::from("/b/events/legacy"));
        assert_eq!(p.functions_file(), PathBuf::from("/b/functions"));
        assert_eq!(p.socket(), PathBuf::from("/r/rctdbd.socket"));
        assert_eq!(p.pid_file(), PathBuf::from("/r/rctdbd.pid"));
    }

    #[test]
    fn with_base_keeps_base() {
        let p = Paths::with_base("/x".into());
        assert_eq!(p.base, PathBuf::from("/x"));
        assert!(!p.rundir.as_os_str().is_empty());
        assert!(!p.vardir.as_os_str().is_empty());
    }
}

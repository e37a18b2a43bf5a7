//! rctdb configuration files: parse, validate, and report `file:line` errors.
//!
//! Every file an operator edits is read in two stages, as ripgrep reads its
//! arguments: a raw pass that splits the text into lines and keeps each line's
//! number, then a validating pass that builds types which cannot hold an
//! invalid value (an address that is not an IP, a duration that is not whole
//! milliseconds, an unknown tunable). Nothing downstream ever sees raw text.
//!
//! Files (all under [`Paths::base`], default `/etc/rctdb`):
//!
//! | File | Type | Missing file |
//! |---|---|---|
//! | `nodes` | [`Nodes`] | error |
//! | `rctdb.conf` | [`Conf`] | all defaults |
//! | `tunables` | [`Tunables`] | all defaults |
//! | `public_addresses` | [`PublicAddresses`] | no addresses |
//!
//! Invariants:
//! - every error names the file, and the line when there is one
//!   (`/etc/rctdb/nodes:3: Invalid node address 192.0.2.x`);
//! - no input, however malformed, makes a parser panic;
//! - load (start-up) and reload go through the same parser and validation.
//!
//! [`validate_dir`] checks a whole base directory offline for
//! `rctdb config validate`.
//!
//! ```
//! use rctdb_config::{Nodes, Pnn};
//! use std::path::Path;
//!
//! let nodes = Nodes::parse("192.0.2.1\n#192.0.2.2\n192.0.2.3\n", Path::new("nodes")).unwrap();
//! assert_eq!(nodes.addr(Pnn(1)), None); // deleted, but PNN 1 is taken
//! assert_eq!(nodes.pnn_of("192.0.2.3".parse().unwrap()), Some(Pnn(2)));
//!
//! let err = Nodes::parse("192.0.2.1\n192.0.2.x\n", Path::new("/etc/rctdb/nodes")).unwrap_err();
//! assert_eq!(err.to_string(), "/etc/rctdb/nodes:2: Invalid node address 192.0.2.x");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod conf;
mod duration;
mod error;
mod ini;
mod nodes;
mod paths;
mod public_addresses;
mod tunables;
mod validate;

pub use conf::{
    ClusterConf, ClusterLock, Conf, ConfWarning, EventConf, FailoverConf, LegacyConf, LogLocation, LoggingConf,
    DEFAULT_LOG_FILE, DEFAULT_TRANSPORT_PORT,
};
pub use duration::{format_duration, parse_duration, MAX_DURATION};
pub use error::ConfigError;
pub use nodes::{NodeEntry, Nodes};
pub use paths::{Paths, DEFAULT_BASE, DEFAULT_RUNDIR, DEFAULT_VARDIR};
pub use public_addresses::{PublicAddress, PublicAddresses, MAX_IFACE_LEN};
pub use rctdb_protocol::{DebugLevel, NodeFlags, NodeInfo, NodeMap, Pnn};
pub use tunables::{format_tunable, Tunable, TunableError, TunableUnit, Tunables, OBSOLETE_TUNABLES};
pub use validate::{validate_dir, Report};

//! Offline check of a whole base directory, for `rctdb config validate`.
//!
//! Unlike the loaders, which stop at the first error, this collects every
//! error of every file, so an operator fixes them all in one go. It reads
//! files but changes nothing.

use crate::conf::{ClusterLock, Conf};
use crate::error::{read_optional, ConfigError};
use crate::nodes::Nodes;
use crate::paths::Paths;
use crate::public_addresses::PublicAddresses;
use crate::tunables::Tunables;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What `validate_dir` found. Each entry is a complete `file:line: msg`
/// (or `file: msg`) line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Problems that stop the daemon from starting.
    pub errors: Vec<String>,
    /// Things worth a look that do not stop it.
    pub warnings: Vec<String>,
}

impl Report {
    /// True if there are no errors (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Why an executable named in the configuration is unusable, if it is.
fn executable_problem(path: &Path) -> Option<String> {
    match fs::metadata(path) {
        Err(e) => Some(format!("{}: {e}", path.display())),
        Ok(m) if !m.is_file() => Some(format!("{} is not a regular file", path.display())),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Some(format!("{} is not executable", path.display())),
        Ok(_) => None,
    }
}

/// Check `rctdb.conf`, `nodes` (required), `tunables` and
/// `public_addresses` (if present) in `base`, and that `[cluster] node
/// address`, if set, is one of the nodes. Also checks that `[event] debug
/// script` (relative to `base` if not absolute) is an executable file
/// (an error, as in CTDB), and warns if the cluster lock helper or the fence
/// command is not an executable file on this host.
pub fn validate_dir(base: &Path) -> Report {
    let paths = Paths::with_base(base.to_path_buf());
    let mut report = Report::default();
    let errors = |errs: Vec<ConfigError>, report: &mut Report| {
        report.errors.extend(errs.iter().map(ToString::to_string));
    };

    let conf_file = paths.conf_file();
    let conf = match read_optional(&conf_file) {
        Ok(Some(text)) => {
            let p = Conf::parse_all(&text, &conf_file);
            errors(p.errors, &mut report);
            report.warnings.extend(p.warnings.iter().map(ToString::to_string));
            Some((p.conf, p.lines))
        }
        Ok(None) => None,
        Err(e) => {
            errors(vec![e], &mut report);
            None
        }
    };
    let at = |key: (&'static str, &'static str)| -> String {
        match conf.as_ref().and_then(|(_, lines)| lines.get(&key)) {
            Some(line) => format!("{}:{line}", conf_file.display()),
            None => conf_file.display().to_string(),
        }
    };

    let nodes_file = paths.nodes_file();
    let nodes = match read_optional(&nodes_file) {
        Ok(Some(text)) => {
            let (nodes, errs) = Nodes::parse_all(&text, &nodes_file);
            let ok = errs.is_empty();
            errors(errs, &mut report);
            ok.then_some(nodes)
        }
        Ok(None) => {
            report.errors.push(format!("{}: file not found (the nodes file is required)", nodes_file.display()));
            None
        }
        Err(e) => {
            errors(vec![e], &mut report);
            None
        }
    };

    let (_, errs) = Tunables::load_lenient(&paths.tunables_file());
    errors(errs, &mut report);

    let pa_file = paths.public_addresses_file();
    match read_optional(&pa_file) {
        Ok(Some(text)) => errors(PublicAddresses::parse_all(&text, &pa_file).1, &mut report),
        Ok(None) => {}
        Err(e) => errors(vec![e], &mut report),
    }

    if let Some((conf, _)) = &conf {
        if let (Some(addr), Some(nodes)) = (conf.cluster.node_address, &nodes) {
            if nodes.pnn_of(addr).is_none() {
                report.errors.push(format!(
                    "{}: [cluster] node address {addr} is not a node in {}",
                    at(("cluster", "node address")),
                    nodes_file.display()
                ));
            }
        }
        if let Some(script) = &conf.event.debug_script {
            let full: PathBuf = base.join(script);
            if let Some(problem) = executable_problem(&full) {
                report.errors.push(format!("{}: [event] debug script: {problem}", at(("event", "debug script"))));
            }
        }
        if let Some(ClusterLock::Helper { argv }) = &conf.cluster.cluster_lock {
            if let Some(problem) = argv.first().and_then(|p| executable_problem(Path::new(p))) {
                report.warnings.push(format!("{}: cluster lock helper: {problem}", at(("cluster", "cluster lock"))));
            }
        }
        if let Some(cmd) = &conf.failover.fence_command {
            if let Some(problem) = executable_problem(cmd) {
                report
                    .warnings
                    .push(format!("{}: [failover] fence command: {problem}", at(("failover", "fence command"))));
            }
        }
    }
    report
}

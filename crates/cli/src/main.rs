//! `rctdb`: the rctdb administration tool, CTDB's `ctdb` for rctdbd.
//!
//! `rctdb [OPTIONS] COMMAND [ARGS]`; options may appear anywhere. Arguments
//! are parsed by clap ([`args::RawArgs`]), validated into
//! [`args::Invocation`], then run by [`run::run`]; all output text comes
//! from the pure functions of [`format`].
//!
//! Exit status: 0 on success; 1 for bad arguments, connection failures and
//! most control failures; the daemon's errno-style code when it sent one
//! (110 when a control timed out); for `nodestatus`, the OR of the node
//! flags shown; for the event commands, CTDB's event tool's statuses
//! (`event run`: 8 failed, 110 timed out, 125 cancelled; `event status`:
//! the run's result; 2 for an unknown component or script, 22 for an
//! invalid script name or an event that never ran; `scriptstatus`: 0);
//! 22 for `ban 0`; 0 for `disable`/`enable`/`stop`/`continue`/`ban`/`unban`
//! on a node already in the requested state. Public-IP commands: `ipinfo`
//! of an unknown address and `setifacelink` of an unknown interface exit
//! 1; `addip` of a known address and `delip` of an unknown one exit 0
//! (message on stderr); `ipreallocate` (also run after `addip`, `delip`,
//! `reloadips` and a state change by the node-administration commands)
//! exits 110 when no leader answered before `-T`, or with the errno of a
//! negative answer (1 for -1). `-T` bounds the whole run (including the
//! node-administration commands' wait for the flag): past it the tool
//! prints `Maximum runtime exceeded - exiting` and exits 1.
#![forbid(unsafe_code)]

mod args;
mod format;
mod nodeadmin;
mod publicip;
mod reload;
mod run;
mod scripts;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;
use std::io::Write;
use std::time::Duration;

/// Exit status for a clap error: 0 for `--help`/`--version`, 1 otherwise
/// (never clap's 2), with CTDB's message for an unknown command.
fn clap_exit(e: &clap::Error) -> i32 {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            0
        }
        ErrorKind::InvalidSubcommand => {
            match e.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(cmd)) => eprintln!("Unknown command '{cmd}'"),
                _ => {
                    let _ = e.print();
                }
            }
            1
        }
        _ => {
            let _ = e.print();
            1
        }
    }
}

/// Exit the process once `limit` has passed, whatever the main thread is
/// blocked on.
fn start_watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        let _ = std::io::stdout().lock().flush();
        eprintln!("Maximum runtime exceeded - exiting");
        std::process::exit(1);
    });
}

/// `rctdb ipalloc ...`: the offline what-if tool. Its arguments follow
/// CTDB's takeover test program (NODESTATES, `--multi`, ...), not the
/// tool's global options, so it has its own parser (`rctdb_ipalloc`).
fn ipalloc(args: &[String]) -> i32 {
    let mut read_file = |path: &str| std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"));
    let parsed = match rctdb_ipalloc::WhatIfArgs::parse(args, &mut read_file) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            eprintln!(
                "Usage: rctdb ipalloc --algorithm lcp2|det|nondet NODESTATES [--multi] [--runstates LIST] \
                 [--no-ip-takeover] [--no-ip-failback] [--home-nodes FILE] [--log-level LEVEL] < layout"
            );
            return 1;
        }
    };
    let mut input = String::new();
    if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut input) {
        eprintln!("Failed to read the IP layout from stdin: {e}");
        return 1;
    }
    match rctdb_ipalloc::whatif(&parsed, &input) {
        Ok(out) => {
            print!("{out}");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("ipalloc") {
        std::process::exit(ipalloc(&argv[2..]));
    }
    let raw = match args::fast_path(&argv) {
        Some(raw) => raw,
        None => match args::RawArgs::try_parse_from(&argv) {
            Ok(raw) => raw,
            Err(e) => std::process::exit(clap_exit(&e)),
        },
    };
    let inv = match args::validate(raw) {
        Ok(inv) => inv,
        Err(e) => {
            if e.stdout {
                println!("{}", e.message);
            } else {
                eprintln!("{}", e.message);
            }
            std::process::exit(e.status);
        }
    };
    if let Some(limit) = inv.options.max_runtime.filter(|_| args::needs_watchdog(&inv)) {
        start_watchdog(limit);
    }
    std::process::exit(run::run(&inv));
}

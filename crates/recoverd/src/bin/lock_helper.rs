//! rctdb-lock-helper: the default cluster-lock helper.
//!
//! `rctdb-lock-helper FILE [RECHECK-SECONDS]` follows CTDB's mutex-helper
//! contract: it writes exactly one byte to stdout — `0` lock held, `1`
//! contended, `3` error (`2`, timeout, is the caller's business) — and,
//! having written `0`, holds the lock until SIGTERM. It exits (and so
//! releases the lock) when:
//! - its parent goes away (EOF on stdin, which the parent holds as a pipe,
//!   or a changed parent pid), or
//! - the lock file is removed or replaced: a lock on a file nobody else can
//!   open any more protects nothing, so the holder gives it up and the
//!   recovery daemon sees "lock lost".
//!
//! The lock is an OFD fcntl lock on byte 0, on a close-on-exec descriptor.
#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::process::ExitCode;
use std::time::Duration;

fn answer(byte: u8) {
    let mut out = std::io::stdout();
    let _ = out.write_all(&[byte]);
    let _ = out.flush();
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 || args.len() > 3 {
        eprintln!("Usage: rctdb-lock-helper FILE [RECHECK-SECONDS]");
        answer(b'3');
        return ExitCode::from(1);
    }
    let path = &args[1];
    let recheck = match args.get(2).map(|s| rctdb_config::parse_duration(s)) {
        None => Duration::from_secs(1),
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            eprintln!("rctdb-lock-helper: bad recheck interval: {e}");
            answer(b'3');
            return ExitCode::from(1);
        }
    };
    let _ = rctdb_sys::set_parent_death_signal(libc_sigterm());
    let parent = rctdb_sys::parent_pid();
    let file = match OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rctdb-lock-helper: cannot open {path}: {e}");
            answer(b'3');
            return ExitCode::from(1);
        }
    };
    match rctdb_sys::ofd_write_lock(&file, 0, 1, false) {
        Ok(true) => answer(b'0'),
        Ok(false) => {
            answer(b'1');
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("rctdb-lock-helper: cannot lock {path}: {e}");
            answer(b'3');
            return ExitCode::from(1);
        }
    }
    hold(&file, path, parent, recheck)
}

fn libc_sigterm() -> i32 {
    nix::sys::signal::Signal::SIGTERM as i32
}

/// Hold the lock until the parent goes or the file changes under us.
fn hold(file: &File, path: &str, parent: i32, recheck: Duration) -> ExitCode {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let (dev, ino) = match file.metadata() {
        Ok(m) => (m.dev(), m.ino()),
        Err(e) => {
            eprintln!("rctdb-lock-helper: cannot stat {path}: {e}");
            return ExitCode::from(1);
        }
    };
    let stdin = std::io::stdin();
    let timeout = PollTimeout::try_from(recheck.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX);
    loop {
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => {}
            Ok(_) => {
                // Our parent holds the other end; readable means EOF or
                // junk, and either way it is time to go.
                eprintln!("rctdb-lock-helper: parent went away, releasing {path}");
                return ExitCode::SUCCESS;
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                eprintln!("rctdb-lock-helper: poll: {e}");
                return ExitCode::from(1);
            }
        }
        if rctdb_sys::parent_pid() != parent {
            eprintln!("rctdb-lock-helper: parent went away, releasing {path}");
            return ExitCode::SUCCESS;
        }
        match std::fs::metadata(path) {
            Ok(m) if m.dev() == dev && m.ino() == ino => {}
            Ok(_) => {
                eprintln!("rctdb-lock-helper: lock lost - lock file {path} inode changed");
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("rctdb-lock-helper: lock lost - lock file {path} check failed: {e}");
                return ExitCode::from(1);
            }
        }
    }
}

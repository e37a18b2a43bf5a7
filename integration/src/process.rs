//! Running short-lived commands with a deadline, and finding the binaries
//! under test.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Where `rctdbd` and `rctdb` are: `$RCTDB_BIN_DIR`, else
/// `$CARGO_TARGET_DIR` (or the workspace's `target/`) + `debug` or
/// `release`, matching how this harness itself was built.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RCTDB_BIN_DIR") {
        return PathBuf::from(d);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => workspace.join(t),
        None => workspace.join("target"),
    };
    target.join(if cfg!(debug_assertions) { "debug" } else { "release" })
}

/// Path of binary `name` in [`bin_dir`]; panics with the fix if missing.
pub fn binary(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    if !p.is_file() {
        let profile = if cfg!(debug_assertions) { "" } else { " --release" };
        panic!(
            "{} not found: build the binaries first with `cargo build{profile} --workspace --bins` \
             (or point RCTDB_BIN_DIR at a directory holding rctdbd and rctdb)",
            p.display()
        );
    }
    p
}

/// Run `cmd` to completion, capturing stdout and stderr; kill it and fail if
/// it runs longer than `timeout`.
pub fn output_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{desc}: {e}"))?;
    let mut so = child.stdout.take().expect("piped stdout");
    let mut se = child.stderr.take().expect("piped stderr");
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let status = match wait_timeout(&mut child, timeout) {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = t_out.join().unwrap_or_default();
            let stderr = t_err.join().unwrap_or_default();
            return Err(format!(
                "{desc} did not finish within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            ));
        }
    };
    Ok(Output { status, stdout: t_out.join().unwrap_or_default(), stderr: t_err.join().unwrap_or_default() })
}

/// Wait for `child` to exit, at most `timeout`.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Both streams of `out` as text, for failure messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

//! `event script list|enable|disable legacy`: the event-script directory
//! (`$RCTDB_BASE/events/legacy`), handled on the files directly as CTDB's
//! event tool does, with no daemon.
//!
//! A script is an entry named `NN.name` (two digits, a dot, a name) or
//! `NN.name.script`, shown without `.script`; editor and package-manager
//! leftovers (`~`, `.rpmnew`, `.rpmsave`, `.rpmorig`, `.dpkg-*`) and
//! `.options` files are not scripts. A script is enabled when the entry
//! resolves (following symlinks) to a regular file with the owner execute
//! bit: the rule rctdbd applies when it runs an event.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One script of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Displayed name (`NN.name`).
    pub name: String,
    pub path: PathBuf,
    pub enabled: bool,
}

/// Is `file_name` an event script's file name (or a valid script name)?
pub fn is_script_name(file_name: &str) -> bool {
    let b = file_name.as_bytes();
    if b.len() < 4 || !b[0].is_ascii_digit() || !b[1].is_ascii_digit() || b[2] != b'.' {
        return false;
    }
    const SKIP: [&str; 5] = ["~", ".options", ".rpmnew", ".rpmsave", ".rpmorig"];
    !SKIP.iter().any(|s| file_name.ends_with(s)) && !file_name.contains(".dpkg-")
}

/// The name a script file is shown under.
pub fn display_name(file_name: &str) -> &str {
    match file_name.strip_suffix(".script") {
        Some(n) if is_script_name(n) => n,
        _ => file_name,
    }
}

fn is_enabled(path: &Path) -> bool {
    std::fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o100 != 0).unwrap_or(false)
}

/// The scripts of `dir`, in name order.
pub fn list(dir: &Path) -> io::Result<Vec<Script>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(file_name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !is_script_name(&file_name) {
            continue;
        }
        let path = entry.path();
        out.push(Script { name: display_name(&file_name).to_string(), enabled: is_enabled(&path), path });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.path.cmp(&b.path)));
    Ok(out)
}

/// Why enabling or disabling failed.
#[derive(Debug)]
pub enum SwitchError {
    /// The events directory does not exist.
    NoDir,
    /// No script of that name (or its symlink dangles, for enable).
    NoScript,
    Io(io::Error),
}

/// Enable (`chmod u+x,g+x,o+x`) or disable (`chmod a-x`) the script shown
/// as `name`, through symlinks. Disabling a dangling symlink succeeds: it
/// is disabled already.
pub fn switch(dir: &Path, name: &str, enable: bool) -> Result<(), SwitchError> {
    let all = list(dir).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => SwitchError::NoDir,
        _ => SwitchError::Io(e),
    })?;
    let matching: Vec<&Script> = all.iter().filter(|s| s.name == name).collect();
    if matching.is_empty() {
        return Err(SwitchError::NoScript);
    }
    for s in matching {
        let meta = match std::fs::metadata(&s.path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if enable {
                    return Err(SwitchError::NoScript);
                }
                continue;
            }
            Err(e) => return Err(SwitchError::Io(e)),
        };
        let mode = meta.permissions().mode();
        let new = if enable { mode | 0o111 } else { mode & !0o111 };
        if new != mode {
            std::fs::set_permissions(&s.path, std::fs::Permissions::from_mode(new)).map_err(SwitchError::Io)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_names() {
        for ok in ["00.ctdb", "10.interface", "50.samba.script", "99.x"] {
            assert!(is_script_name(ok), "{ok}");
        }
        for bad in [
            "README",
            "1.x",
            "aa.b",
            "00.",
            "10.interface~",
            "10.interface.options",
            "10.x.rpmnew",
            "10.x.rpmsave",
            "10.x.rpmorig",
            "10.x.dpkg-old",
            "10.x.dpkg-new.sh",
        ] {
            assert!(!is_script_name(bad), "{bad}");
        }
        assert_eq!(display_name("50.samba.script"), "50.samba");
        assert_eq!(display_name("50.samba"), "50.samba");
        // `.script` alone is not stripped to an invalid name.
        assert_eq!(display_name("00..script"), "00..script");
    }
}

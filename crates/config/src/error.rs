//! The one error type of this crate.
//!
//! Every error carries the file it is about and, when a single line is at
//! fault, that line's number (1-based), so the `Display` form is what an
//! operator needs to fix the file: `/etc/rctdb/nodes:3: Invalid node address x`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A configuration file could not be read, or its content is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// One line of a file is invalid.
    #[error("{}:{line}: {msg}", file.display())]
    Line {
        /// The file that holds the line.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, without the location.
        msg: String,
    },
    /// The file could not be read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file that could not be read.
        file: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file as a whole is invalid (for example no nodes at all).
    #[error("{}: {msg}", file.display())]
    File {
        /// The file at fault.
        file: PathBuf,
        /// What is wrong, without the location.
        msg: String,
    },
}

impl ConfigError {
    /// The file this error is about.
    pub fn file(&self) -> &Path {
        match self {
            ConfigError::Line { file, .. } | ConfigError::Io { file, .. } | ConfigError::File { file, .. } => file,
        }
    }

    /// The 1-based line at fault, if the error is about one line.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Line { line, .. } => Some(*line),
            _ => None,
        }
    }

    pub(crate) fn line_err(file: &Path, line: usize, msg: impl Into<String>) -> ConfigError {
        ConfigError::Line { file: file.to_path_buf(), line, msg: msg.into() }
    }

    pub(crate) fn file_err(file: &Path, msg: impl Into<String>) -> ConfigError {
        ConfigError::File { file: file.to_path_buf(), msg: msg.into() }
    }

    pub(crate) fn io(file: &Path, source: io::Error) -> ConfigError {
        ConfigError::Io { file: file.to_path_buf(), source }
    }
}

/// Read a whole file as UTF-8. `Ok(None)` if it does not exist.
pub(crate) fn read_optional(file: &Path) -> Result<Option<String>, ConfigError> {
    match fs::read_to_string(file) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::io(file, e)),
    }
}

/// Read a whole file as UTF-8; a missing file is an error.
pub(crate) fn read_required(file: &Path) -> Result<String, ConfigError> {
    fs::read_to_string(file).map_err(|e| ConfigError::io(file, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_accessors() {
        let l = ConfigError::line_err(Path::new("/etc/rctdb/nodes"), 3, "Invalid node address 192.0.2.x");
        assert_eq!(l.to_string(), "/etc/rctdb/nodes:3: Invalid node address 192.0.2.x");
        assert_eq!(l.line(), Some(3));
        assert_eq!(l.file(), Path::new("/etc/rctdb/nodes"));

        let f = ConfigError::file_err(Path::new("/etc/rctdb/nodes"), "no nodes defined");
        assert_eq!(f.to_string(), "/etc/rctdb/nodes: no nodes defined");
        assert_eq!(f.line(), None);

        let i = ConfigError::io(Path::new("/x"), io::Error::new(io::ErrorKind::PermissionDenied, "denied"));
        assert_eq!(i.to_string(), "/x: denied");
        assert!(std::error::Error::source(&i).is_some());
        assert_eq!(i.file(), Path::new("/x"));
    }

    #[test]
    fn read_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        assert!(read_optional(&f).unwrap().is_none());
        assert!(matches!(read_required(&f), Err(ConfigError::Io { .. })));
        fs::write(&f, "x").unwrap();
        assert_eq!(read_optional(&f).unwrap().as_deref(), Some("x"));
        assert_eq!(read_required(&f).unwrap(), "x");
        // A directory is not a missing file.
        assert!(read_optional(dir.path()).is_err());
    }
}

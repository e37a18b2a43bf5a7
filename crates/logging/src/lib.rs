//! Logging for rctdb's daemons: one line per record, naming the process
//! and CTDB's level.
//!
//! ```text
//! 2026/11/22 10:00:00.123456 rctdbd[1234]: NOTICE: PNN is 0
//! ```
//!
//! The `log` crate has five levels and CTDB has five; they map as
//! `error!`=ERROR, `warn!`=WARNING, `info!`=NOTICE, `debug!`=INFO,
//! `trace!`=DEBUG. The level changes at run time through
//! `log::set_max_level` (the `setdebug` control).
#![forbid(unsafe_code)]

use log::{Level, LevelFilter};
use rctdb_protocol::DebugLevel;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// CTDB's level name for a `log` level.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "NOTICE",
        Level::Debug => "INFO",
        Level::Trace => "DEBUG",
    }
}

/// The `log` level that prints as CTDB's `level`.
pub fn to_level(level: DebugLevel) -> Level {
    match level {
        DebugLevel::Error => Level::Error,
        DebugLevel::Warning => Level::Warn,
        DebugLevel::Notice => Level::Info,
        DebugLevel::Info => Level::Debug,
        DebugLevel::Debug => Level::Trace,
    }
}

pub fn to_filter(level: DebugLevel) -> LevelFilter {
    match level {
        DebugLevel::Error => LevelFilter::Error,
        DebugLevel::Warning => LevelFilter::Warn,
        DebugLevel::Notice => LevelFilter::Info,
        DebugLevel::Info => LevelFilter::Debug,
        DebugLevel::Debug => LevelFilter::Trace,
    }
}

pub fn from_filter(filter: LevelFilter) -> DebugLevel {
    match filter {
        LevelFilter::Off | LevelFilter::Error => DebugLevel::Error,
        LevelFilter::Warn => DebugLevel::Warning,
        LevelFilter::Info => DebugLevel::Notice,
        LevelFilter::Debug => DebugLevel::Info,
        LevelFilter::Trace => DebugLevel::Debug,
    }
}

/// The current level.
pub fn current() -> DebugLevel {
    from_filter(log::max_level())
}

/// Change the level at run time.
pub fn set_level(level: DebugLevel) {
    log::set_max_level(to_filter(level));
}

/// `2026/11/22 10:00:00.123456` in local time.
pub fn timestamp() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let t = rctdb_sys::local_time(now.as_secs() as i64);
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06}",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        now.subsec_micros()
    )
}

/// Install the logger for process `name` (`rctdbd`, `recoverd`), writing
/// to `file` (appending) or to stderr when `file` is `None`.
pub fn init(name: &'static str, file: Option<&Path>, level: DebugLevel) -> std::io::Result<()> {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(LevelFilter::Trace);
    // A target of the form `name[pid]` names another process whose
    // output we relay (an event script); anything else is our own line.
    builder.format(move |buf, record| {
        let target = record.target();
        if target.ends_with(']') && target.contains('[') {
            writeln!(buf, "{} {}: {}: {}", timestamp(), target, level_name(record.level()), record.args())
        } else {
            writeln!(
                buf,
                "{} {}[{}]: {}: {}",
                timestamp(),
                name,
                std::process::id(),
                level_name(record.level()),
                record.args()
            )
        }
    });
    match file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
            builder.target(env_logger::Target::Pipe(Box::new(f)));
        }
        None => {
            builder.target(env_logger::Target::Stderr);
        }
    }
    builder.try_init().map_err(std::io::Error::other)?;
    set_level(level);
    Ok(())
}

//! Shared by the benchmark binaries: how a duration is printed.

use std::time::Duration;

/// `812 us`, `1.73 ms`, `422 ms`: three significant figures or so.
pub fn fmt_duration(d: Duration) -> String {
    fmt_secs(d.as_secs_f64())
}

/// The same for a signed number of seconds (a difference of medians).
pub fn fmt_secs(s: f64) -> String {
    let ms = s * 1000.0;
    if ms.abs() < 1.0 {
        format!("{:.1} us", ms * 1000.0)
    } else if ms.abs() < 100.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(fmt_duration(Duration::from_micros(812)), "812.0 us");
        assert_eq!(fmt_duration(Duration::from_micros(1730)), "1.73 ms");
        assert_eq!(fmt_duration(Duration::from_millis(422)), "422 ms");
        assert_eq!(fmt_secs(-0.000046), "-46.0 us");
    }
}

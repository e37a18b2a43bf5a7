//! Duration syntax shared by `rctdb.conf` and the timing tunables.
//!
//! Accepted forms (no sign, no spaces inside, lower-case units):
//!
//! | Text | Meaning |
//! |---|---|
//! | `5`, `5s` | whole seconds |
//! | `0.25`, `1.5s` | decimal seconds, at most millisecond precision (`1.0001` is an error, `1.5000` is fine) |
//! | `200ms` | whole milliseconds |
//!
//! Invariant: every parsed duration is a whole number of milliseconds and at
//! most [`MAX_DURATION`], so adding it to an `Instant` cannot overflow and
//! [`format_duration`] gives back text that parses to the same value.

use std::time::Duration;

/// The largest duration accepted: 2^32-1 seconds (CTDB's tunables are
/// 32-bit), about 136 years.
pub const MAX_DURATION: Duration = Duration::from_secs(u32::MAX as u64);

const MAX_MILLIS: u64 = u32::MAX as u64 * 1000;

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parse a string of ASCII digits, with overflow checks.
fn digits_value(s: &str) -> Option<u64> {
    s.chars().try_fold(0u64, |acc, c| acc.checked_mul(10)?.checked_add(u64::from(c.to_digit(10)?)))
}

/// Parse a duration: `N`, `Ns`, `Nms`, or decimal seconds `D.F` / `D.Fs`.
///
/// Surrounding whitespace is ignored. The error is a sentence suitable
/// after "invalid value": it says what was expected.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || {
        format!(
            "invalid duration \"{t}\": expected seconds (5, 0.25, 1.5s) or milliseconds (200ms), \
             at most {} s, in whole milliseconds",
            u32::MAX
        )
    };
    let millis = if let Some(ms) = t.strip_suffix("ms") {
        if !all_digits(ms) {
            return Err(bad());
        }
        digits_value(ms).ok_or_else(bad)?
    } else {
        let secs = t.strip_suffix('s').unwrap_or(t);
        let (whole, frac) = match secs.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (secs, None),
        };
        if !all_digits(whole) {
            return Err(bad());
        }
        let mut frac_ms = 0u64;
        if let Some(f) = frac {
            if !all_digits(f) {
                return Err(bad());
            }
            let (head, tail) = f.split_at(f.len().min(3));
            if tail.bytes().any(|b| b != b'0') {
                return Err(bad());
            }
            // Pad to three digits: "5" -> 500 ms, "25" -> 250 ms.
            let v = digits_value(head).ok_or_else(bad)?;
            frac_ms = v * 10u64.pow(3 - head.len() as u32);
        }
        digits_value(whole).and_then(|w| w.checked_mul(1000)).and_then(|w| w.checked_add(frac_ms)).ok_or_else(bad)?
    };
    if millis > MAX_MILLIS {
        return Err(bad());
    }
    Ok(Duration::from_millis(millis))
}

/// Render a duration in the syntax [`parse_duration`] reads: `"5"` for whole
/// seconds, else `"200ms"`. Sub-millisecond parts are dropped.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    // Not `is_multiple_of`: the workspace supports Rust 1.80.
    let (secs, rem) = (ms / 1000, ms % 1000);
    if rem == 0 {
        format!("{secs}")
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `input => millis` or `input => !` for an error.
    const CASES: &str = "
        5           => 5000
        5s          => 5000
        0           => 0
        0s          => 0
        0ms         => 0
        200ms       => 200
        0.2         => 200
        0.25        => 250
        0.25s       => 250
        1.5s        => 1500
        1.5000      => 1500
        1.001       => 1001
        0.001       => 1
        007         => 7000
        4294967295  => 4294967295000
        4294967296  => !
        4294967295001ms => !
        99999999999999999999 => !
        abc         => !
        -1          => !
        +1          => !
        1.0001      => !
        1.5ms       => !
        .5          => !
        5.          => !
        1.2.3       => !
        5 s         => !
        5m          => !
        5S          => !
        ms          => !
        s           => !
        1e3         => !
        0x10        => !
    ";

    #[test]
    fn table() {
        for row in CASES.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (input, want) = row.split_once("=>").expect("table row");
            let (input, want) = (input.trim(), want.trim());
            let got = parse_duration(input);
            if want == "!" {
                assert!(got.is_err(), "{input:?} should fail, got {got:?}");
            } else {
                let ms: u64 = want.parse().expect("table millis");
                assert_eq!(got, Ok(Duration::from_millis(ms)), "{input:?}");
            }
        }
    }

    #[test]
    fn empty_is_error() {
        assert!(parse_duration("").is_err());
        assert!(parse_duration("  ").is_err());
    }

    #[test]
    fn error_text_names_input() {
        let e = parse_duration("abc").unwrap_err();
        assert!(e.starts_with("invalid duration \"abc\": expected seconds"), "{e}");
    }

    #[test]
    fn format() {
        assert_eq!(format_duration(Duration::from_secs(5)), "5");
        assert_eq!(format_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0");
        assert_eq!(format_duration(Duration::from_micros(2500)), "2ms");
        assert_eq!(format_duration(MAX_DURATION), "4294967295");
    }
}

//! Times as dockerd prints them: RFC 3339 in UTC, with nine fraction digits
//! (`rfc3339NanoFixed`, API timestamps) or Go's `RFC3339Nano` (trailing zeros dropped: log
//! entries, stats, `PathStat`).

use time::{OffsetDateTime, UtcOffset};

/// `2024-01-02T03:04:05.000000006Z`: always nine fraction digits.
pub(crate) fn fixed(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!("{}.{:09}Z", seconds(t), t.nanosecond())
}

/// `2024-01-02T03:04:05.1Z` / `2024-01-02T03:04:05Z`: Go's `RFC3339Nano`.
pub(crate) fn go(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let mut out = seconds(t);
    if t.nanosecond() != 0 {
        let fraction = format!("{:09}", t.nanosecond());
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

fn seconds(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        let t = time::macros::datetime!(2024-01-02 03:04:05.1 UTC);
        assert_eq!(fixed(t), "2024-01-02T03:04:05.100000000Z");
        assert_eq!(go(t), "2024-01-02T03:04:05.1Z");
        let whole = time::macros::datetime!(2024-01-02 03:04:05 UTC);
        assert_eq!(go(whole), "2024-01-02T03:04:05Z");
        assert_eq!(fixed(whole), "2024-01-02T03:04:05.000000000Z");
        let elsewhere = time::macros::datetime!(2024-01-02 05:04:05.000000006 +02:00);
        assert_eq!(fixed(elsewhere), "2024-01-02T03:04:05.000000006Z", "always UTC");
        assert_eq!(go(elsewhere), "2024-01-02T03:04:05.000000006Z", "always UTC");
    }
}

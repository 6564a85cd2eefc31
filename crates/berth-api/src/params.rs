//! Query-parameter conventions shared by every endpoint.

use serde::{Deserialize, Deserializer};

/// Go's `strconv.ParseBool`: `1 t T TRUE true True` and `0 f F FALSE false False`, nothing else.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// dockerd's `BoolValue`: false for `""`, `0`, `no`, `false`, `none` (trimmed, any case), true for
/// anything else.
pub fn bool_value_of(s: &str) -> bool {
    let s = s.trim().to_ascii_lowercase();
    !matches!(s.as_str(), "" | "0" | "no" | "false" | "none")
}

/// Serde adapter applying [`bool_value_of`] to a query parameter: use with
/// `#[serde(default, deserialize_with = "berth_api::params::bool_value")]`.
pub fn bool_value<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    Ok(bool_value_of(&s))
}

/// Parses dockerd's timestamp parameters (`since`, `until`): Unix seconds with an optional
/// fraction of up to nine digits (`1700000000`, `1700000000.123456789`). Returns Unix nanoseconds.
pub fn parse_timestamp(name: &str, value: &str) -> Result<i64, crate::Error> {
    let bad = || {
        crate::Error::invalid(format!(
            "invalid value for {name}: {value:?}: expected Unix seconds such as 1700000000 or 1700000000.5"
        ))
    };
    let (secs, frac) = value.trim().split_once('.').unwrap_or((value.trim(), ""));
    let negative = secs.starts_with('-');
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: i64 =
        if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().map_err(|_| bad())? };
    let nanos = if negative { -nanos } else { nanos };
    secs.checked_mul(1_000_000_000).and_then(|s| s.checked_add(nanos)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::{bool_value_of, parse_timestamp};

    #[test]
    fn timestamps_are_seconds_with_optional_fraction() {
        assert_eq!(parse_timestamp("since", "12").expect("int"), 12_000_000_000);
        assert_eq!(parse_timestamp("since", "12.5").expect("frac"), 12_500_000_000);
        assert_eq!(parse_timestamp("since", "1.000000001").expect("nanos"), 1_000_000_001);
        let err = parse_timestamp("until", "yesterday").expect_err("words");
        assert!(err.message().contains("until"), "{}", err.message());
        assert!(parse_timestamp("since", "1.1234567891").is_err());
        assert!(parse_timestamp("since", "99999999999999999").is_err());
    }

    #[test]
    fn bool_value_matches_dockerd() {
        for f in ["", "0", "no", "FALSE", " none ", "No"] {
            assert!(!bool_value_of(f), "{f:?}");
        }
        for t in ["1", "true", "yes", "anything", "True"] {
            assert!(bool_value_of(t), "{t:?}");
        }
    }
}

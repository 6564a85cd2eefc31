use std::cmp::Ordering;
use std::fmt;

/// The oldest API version Berth serves (dockerd 28's default minimum).
pub const MIN_API_VERSION: ApiVersion = ApiVersion::new(1, 24);

/// The newest API version Berth implements; unversioned requests are served as this version.
pub const MAX_API_VERSION: ApiVersion = ApiVersion::new(1, 51);

/// A Docker API version such as `1.51`.
///
/// Comparison follows dockerd: split on `.`, compare components as integers, and treat missing or
/// non-numeric components as 0 (so `1.51.0 == 1.51` and `1 < 1.24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiVersion {
    parts: [u32; 3],
}

impl ApiVersion {
    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { parts: [major, minor, 0] }
    }

    /// Parses leniently, as dockerd compares: any string yields a version.
    pub fn parse_lenient(s: &str) -> Self {
        let mut parts = [0u32; 3];
        for (slot, piece) in parts.iter_mut().zip(s.split('.')) {
            *slot = piece.parse().unwrap_or(0);
        }
        Self { parts }
    }

    /// Parses strictly: `MAJOR.MINOR` digits only (what a `/vX.Y` path prefix may hold).
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return None;
        }
        Some(Self::parse_lenient(s))
    }

    /// The major component.
    pub fn major(self) -> u32 {
        self.parts[0]
    }

    /// The minor component.
    pub fn minor(self) -> u32 {
        self.parts[1]
    }
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts.cmp(&other.parts)
    }
}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [major, minor, patch] = self.parts;
        if patch == 0 { write!(f, "{major}.{minor}") } else { write!(f, "{major}.{minor}.{patch}") }
    }
}

impl std::str::FromStr for ApiVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| format!("invalid API version: {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_like_dockerd() {
        let v = ApiVersion::parse_lenient;
        assert_eq!(v("1.51.0"), v("1.51"));
        assert!(v("1") < v("1.24"));
        assert!(v("1.9") < v("1.24"));
        assert!(v("1.100") > v("1.51"));
        assert!(v("2.0") > v("1.51"));
        assert_eq!(v("1.x"), v("1.0"));
    }

    #[test]
    fn strict_parse_accepts_only_digits_and_dots() {
        assert_eq!(ApiVersion::parse("1.41"), Some(ApiVersion::new(1, 41)));
        assert_eq!(ApiVersion::parse("1.41a"), None);
        assert_eq!(ApiVersion::parse(""), None);
    }

    #[test]
    fn displays_without_zero_patch() {
        assert_eq!(MAX_API_VERSION.to_string(), "1.51");
        assert_eq!(ApiVersion::parse_lenient("1.2.3").to_string(), "1.2.3");
    }
}

//! Image references (`localhost:5000/team/app:1`, `busybox@sha256:...`) and digests, parsed with
//! the grammar and the error messages of `github.com/distribution/reference` and
//! `github.com/opencontainers/go-digest`, which dockerd uses for every name a client sends.

use std::fmt;

/// The registry of names without one.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag of a name without tag or digest.
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a reference or digest does not parse. The messages are dockerd's, word for word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The string does not follow the reference grammar.
    #[error("invalid reference format")]
    InvalidFormat,
    /// A tag does not match `[\w][\w.-]{0,127}`.
    #[error("invalid tag format")]
    InvalidTag,
    /// The name part has upper-case letters (grammar check).
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// Nothing to parse.
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// The path is longer than 255 bytes.
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// The repository has upper-case letters (normalization check).
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    RepositoryUppercase(String),
    /// A bare 64-hex string is an image ID, never a name.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier(String),
    /// The digest part is malformed.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

impl From<ReferenceError> for crate::Error {
    fn from(err: ReferenceError) -> Self {
        crate::Error::invalid(err.to_string())
    }
}

/// Why a digest does not parse (go-digest's errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not `algorithm:hex`.
    #[error("invalid checksum digest format")]
    InvalidFormat,
    /// The hex part has the wrong length for the algorithm.
    #[error("invalid checksum digest length")]
    InvalidLength,
    /// Not sha256, sha384 or sha512.
    #[error("unsupported digest algorithm")]
    Unsupported,
}

impl From<DigestError> for crate::Error {
    fn from(err: DigestError) -> Self {
        crate::Error::invalid(err.to_string())
    }
}

/// A validated content digest: `sha256:<64 lower-case hex>` (or sha384, sha512).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parses and validates like go-digest's `Parse`.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let Some((algorithm, encoded)) = s.split_once(':') else {
            return Err(DigestError::InvalidFormat);
        };
        if algorithm.is_empty() || encoded.is_empty() {
            return Err(DigestError::InvalidFormat);
        }
        let hex_len = match algorithm {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ if is_go_digest(s) => return Err(DigestError::Unsupported),
            _ => return Err(DigestError::InvalidFormat),
        };
        if encoded.len() != hex_len {
            return Err(DigestError::InvalidLength);
        }
        if !encoded.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::InvalidFormat);
        }
        Ok(Self(s.to_owned()))
    }

    /// `sha256:...` as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm (`sha256`).
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The hex part.
    pub fn encoded(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, e)| e)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A named reference: registry domain, repository path, and an optional tag and digest.
///
/// Built only by the parsers, so it is always valid. `Display` is the full normalized form
/// (`docker.io/library/busybox:latest`); [`Reference::familiar`] is what users see (`busybox:latest`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// What `ParseAnyReference` finds: an image ID / digest, or a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyReference {
    /// A bare 64-hex ID (as `sha256:<id>`) or an `algorithm:hex` digest.
    Digest(String),
    /// A name, normalized.
    Named(Reference),
}

impl Reference {
    /// dockerd's `reference.ParseNormalizedNamed`: fills in `docker.io` and `library/`, keeps the
    /// tag and digest as given (no default tag).
    pub fn parse_normalized(s: &str) -> Result<Self, ReferenceError> {
        if is_identifier(s) {
            return Err(ReferenceError::HexIdentifier(s.to_owned()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder.split(':').next().unwrap_or("");
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::RepositoryUppercase(remote.to_owned()));
        }
        Self::parse(&format!("{domain}/{remainder}"))
    }

    /// dockerd's `reference.ParseAnyReference`: a 64-hex ID or a digest first, else a normalized
    /// name.
    pub fn parse_any(s: &str) -> Result<AnyReference, ReferenceError> {
        if is_identifier(s) {
            return Ok(AnyReference::Digest(format!("sha256:{s}")));
        }
        if let Ok(digest) = Digest::parse(s) {
            return Ok(AnyReference::Digest(digest.0));
        }
        Self::parse_normalized(s).map(AnyReference::Named)
    }

    /// `reference.Parse`: the grammar, without normalization.
    fn parse(s: &str) -> Result<Self, ReferenceError> {
        let Some((name, tag, digest)) = split_reference(s) else {
            if s.is_empty() {
                return Err(ReferenceError::NameEmpty);
            }
            if split_reference(&s.to_lowercase()).is_some() {
                return Err(ReferenceError::NameContainsUppercase);
            }
            return Err(ReferenceError::InvalidFormat);
        };
        let (domain, path) = match name.split_once('/') {
            Some((d, rest)) if is_domain_and_port(d) && is_remote_name(rest) => (d, rest),
            _ => ("", name),
        };
        if path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong);
        }
        let digest = digest.map(Digest::parse).transpose()?;
        Ok(Self {
            domain: domain.to_owned(),
            path: path.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// `reference.WithTag`: this name with `tag` (replacing any tag; a digest is kept).
    pub fn with_tag(mut self, tag: &str) -> Result<Self, ReferenceError> {
        if !is_tag(tag) {
            return Err(ReferenceError::InvalidTag);
        }
        self.tag = Some(tag.to_owned());
        Ok(self)
    }

    /// `reference.WithDigest`: this name with `digest` (a tag is kept).
    pub fn with_digest(mut self, digest: Digest) -> Self {
        self.digest = Some(digest);
        self
    }

    /// `reference.TrimNamed`: the name alone.
    pub fn trim(mut self) -> Self {
        self.tag = None;
        self.digest = None;
        self
    }

    /// `reference.TagNameOnly`: adds `:latest` to a name without tag or digest.
    pub fn with_default_tag(self) -> Self {
        if self.is_name_only() { Self { tag: Some(DEFAULT_TAG.to_owned()), ..self } } else { self }
    }

    /// True when there is neither tag nor digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// Registry domain (`docker.io`, `localhost:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Repository path within the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Full repository name (`docker.io/library/busybox`).
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// Repository name as users write it (`busybox`, `team/app`, `localhost:5000/app`).
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_owned(),
            _ => self.path.clone(),
        }
    }

    /// The whole reference as users write it (`busybox:latest`).
    pub fn familiar(&self) -> String {
        self.render(self.familiar_name())
    }

    fn render(&self, mut name: String) -> String {
        if let Some(tag) = &self.tag {
            name.push(':');
            name.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            name.push('@');
            name.push_str(digest.as_str());
        }
        name
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.name()))
    }
}

/// `splitDockerDomain`: which part of `name` is a registry, with docker.io's defaults.
fn split_docker_domain(name: &str) -> (&str, String) {
    let Some((maybe_domain, rest)) = name.split_once('/') else {
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_REPO_PREFIX}{name}"));
    };
    let (domain, remote) = if maybe_domain == "localhost"
        || maybe_domain.contains(['.', ':'])
        || maybe_domain.to_lowercase() != maybe_domain
    {
        if maybe_domain == LEGACY_DEFAULT_DOMAIN {
            (DEFAULT_DOMAIN, rest.to_owned())
        } else {
            (maybe_domain, rest.to_owned())
        }
    } else {
        (DEFAULT_DOMAIN, name.to_owned())
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        return (domain, format!("{OFFICIAL_REPO_PREFIX}{remote}"));
    }
    (domain, remote)
}

/// Matches `^(name)(?::(tag))?(?:@(digest))?$`; returns the three parts.
fn split_reference(s: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let (left, digest) = match s.split_once('@') {
        Some((left, digest)) => {
            if !is_digest_pattern(digest) {
                return None;
            }
            (left, Some(digest))
        }
        None => (s, None),
    };
    // A ':' followed by no '/' cannot be a port (a port is always followed by the path).
    let (name, tag) = match left.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (left, None),
    };
    if tag.is_some_and(|t| !is_tag(t)) || !is_name(name) {
        return None;
    }
    Some((name, tag, digest))
}

/// `(?:domainAndPort/)?remoteName`.
fn is_name(s: &str) -> bool {
    is_remote_name(s)
        || s.split_once('/').is_some_and(|(d, rest)| is_domain_and_port(d) && is_remote_name(rest))
}

/// `pathComponent(?:/pathComponent)*`.
fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn is_path_component(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &s[sep_start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
}

/// `host(?::[0-9]+)?` with `host = domainName | \[[a-fA-F0-9:]+\]`.
fn is_domain_and_port(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        (None, after)
    } else {
        match s.split_once(':') {
            Some((host, _)) => (Some(host), &s[host.len()..]),
            None => (Some(s), ""),
        }
    };
    if let Some(host) = host
        && !host.split('.').all(is_domain_component)
    {
        return false;
    }
    match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_domain_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

/// `[\w][\w.-]{0,127}`.
fn is_tag(s: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes[1..].iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`.
fn is_digest_pattern(s: &str) -> bool {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return false;
    };
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    };
    algorithm.split(['-', '_', '+', '.']).all(component_ok)
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// go-digest's `[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`.
fn is_go_digest(s: &str) -> bool {
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return false;
    };
    let component_ok =
        |c: &str| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    algorithm.split(['.', '+', '_', '-']).all(component_ok)
        && !encoded.is_empty()
        && encoded.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
}

/// `^[a-f0-9]{64}$`: an image ID without its algorithm.
pub fn is_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn full(s: &str) -> String {
        match Reference::parse_normalized(s) {
            Ok(r) => format!("{r} | {} | {} | {}", r.domain(), r.path(), r.familiar()),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn normalizes_like_distribution_reference() {
        let cases = [
            ("busybox", "docker.io/library/busybox | docker.io | library/busybox | busybox"),
            (
                "busybox:1.36",
                "docker.io/library/busybox:1.36 | docker.io | library/busybox | busybox:1.36",
            ),
            ("team/app", "docker.io/team/app | docker.io | team/app | team/app"),
            (
                "localhost:5000/team/app:1",
                "localhost:5000/team/app:1 | localhost:5000 | team/app | localhost:5000/team/app:1",
            ),
            ("localhost/app", "localhost/app | localhost | app | localhost/app"),
            (
                "index.docker.io/busybox",
                "docker.io/library/busybox | docker.io | library/busybox | busybox",
            ),
            (
                "docker.io/library/a/b",
                "docker.io/library/a/b | docker.io | library/a/b | library/a/b",
            ),
            ("[::1]:5000/app:v", "[::1]:5000/app:v | [::1]:5000 | app | [::1]:5000/app:v"),
            ("Foo/bar", "Foo/bar | Foo | bar | Foo/bar"),
            (
                "a__b/c--d/e.f",
                "docker.io/a__b/c--d/e.f | docker.io | a__b/c--d/e.f | a__b/c--d/e.f",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(full(input), want, "{input}");
        }
        let digested = format!("busybox@sha256:{HEX}");
        let r = Reference::parse_normalized(&digested).expect("digest");
        assert_eq!(r.digest().map(Digest::as_str), Some(&*format!("sha256:{HEX}")));
        assert_eq!(r.familiar(), digested);
        let both = Reference::parse_normalized(&format!("busybox:1@sha256:{HEX}")).expect("both");
        assert_eq!(both.tag(), Some("1"));
    }

    #[test]
    fn errors_carry_dockerds_messages() {
        let cases = [
            (
                "INVALID",
                "invalid reference format: repository name (library/INVALID) must be lowercase",
            ),
            ("", "invalid reference format"),
            ("a:b:c", "invalid reference format"),
            ("busybox:", "invalid reference format"),
            ("a..b", "invalid reference format"),
            ("a___b", "invalid reference format"),
            ("-a", "invalid reference format"),
            (
                "localhost:5000/Team",
                "invalid reference format: repository name (Team) must be lowercase",
            ),
            ("a/b:Tag!", "invalid reference format"),
            (
                HEX,
                "invalid repository name (0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef), cannot specify 64-byte hexadecimal strings",
            ),
            ("busybox@sha256:abc", "invalid reference format"),
            ("busybox@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm"),
            ("busybox@sha256:0123456789abcdef0123456789abcdef", "invalid checksum digest length"),
        ];
        for (input, want) in cases {
            assert_eq!(full(input), format!("error: {want}"), "{input:?}");
        }
        let long = format!("a/{}", "b".repeat(300));
        assert_eq!(full(&long), "error: repository name must not be more than 255 characters");
    }

    #[test]
    fn tags_and_digests() {
        let r = Reference::parse_normalized("busybox").expect("parse");
        assert!(r.is_name_only());
        assert_eq!(r.clone().with_default_tag().to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.clone().with_tag("bad:tag").expect_err("tag"), ReferenceError::InvalidTag);
        assert!(r.clone().with_tag(&"t".repeat(129)).is_err());
        assert_eq!(r.with_tag("v1.0-rc_1").expect("tag").familiar(), "busybox:v1.0-rc_1");

        assert_eq!(Digest::parse("sha256").expect_err("no colon"), DigestError::InvalidFormat);
        assert_eq!(
            Digest::parse(&format!("sha256:{}", HEX.to_uppercase())).expect_err("upper"),
            DigestError::InvalidFormat
        );
        assert_eq!(Digest::parse("foo:bar").expect_err("alg"), DigestError::Unsupported);
        assert_eq!(Digest::parse("Foo:bar").expect_err("alg"), DigestError::InvalidFormat);
        let d = Digest::parse(&format!("sha256:{HEX}")).expect("digest");
        assert_eq!((d.algorithm(), d.encoded()), ("sha256", HEX));
    }

    #[test]
    fn any_reference_recognizes_ids_and_digests() {
        assert_eq!(
            Reference::parse_any(HEX).expect("id"),
            AnyReference::Digest(format!("sha256:{HEX}"))
        );
        assert_eq!(
            Reference::parse_any(&format!("sha256:{HEX}")).expect("digest"),
            AnyReference::Digest(format!("sha256:{HEX}"))
        );
        assert!(matches!(Reference::parse_any("busybox").expect("name"), AnyReference::Named(_)));
    }
}

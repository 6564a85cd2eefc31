//! `--log-opt` for the `json-file` driver, validated with dockerd's rules and wording
//! (`daemon/logger/jsonfilelog/jsonfilelog.go`, `daemon/logger/loginfo.go`).

use std::collections::BTreeMap;

use berth_api::params::parse_go_bool;
use berth_api::{Error, Result};

/// The options dockerd's `json-file` driver accepts; anything else is refused.
const KNOWN: &[&str] =
    &["max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"];

/// How a container's log is written: rotation limits and the attributes stored with every
/// entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogOptions {
    /// `max-size`: rotate once the file reaches this many bytes; `None` never rotates.
    pub(crate) max_size: Option<u64>,
    /// `max-file`: how many files to keep, the current one included (at least 1).
    pub(crate) max_file: usize,
    /// `compress`: gzip rotated files (`<log>.1.gz`, …).
    pub(crate) compress: bool,
    /// `attrs` of every entry (`docker logs --details`), once resolved by
    /// [`LogOptions::resolve_attrs`].
    pub(crate) attrs: BTreeMap<String, String>,
    /// `labels`: names of container labels to store as attributes.
    labels: Vec<String>,
    /// `env`: names of environment variables to store as attributes.
    env: Vec<String>,
    /// `tag`: the `tag` attribute's template, when set.
    tag: Option<String>,
}

impl Default for LogOptions {
    /// dockerd's defaults: one file that never rotates, no attributes.
    fn default() -> Self {
        Self {
            max_size: None,
            max_file: 1,
            compress: false,
            attrs: BTreeMap::new(),
            labels: Vec::new(),
            env: Vec::new(),
            tag: None,
        }
    }
}

/// The container facts attributes are taken from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogContext<'a> {
    /// The full container ID.
    pub(crate) id: &'a str,
    /// The container name, with or without its leading `/`.
    pub(crate) name: &'a str,
    /// The image ID (`sha256:…`).
    pub(crate) image_id: &'a str,
    /// The image as the user named it (`Config.Image`).
    pub(crate) image_name: &'a str,
    /// `Config.Labels`.
    pub(crate) labels: &'a BTreeMap<String, String>,
    /// `Config.Env` (`KEY=value`).
    pub(crate) env: &'a [String],
}

impl LogOptions {
    /// Parses a container's `HostConfig.LogConfig.Config` (`--log-opt`). Errors are 400s with
    /// dockerd's messages. `labels-regex`, `env-regex` are accepted and not applied.
    ///
    /// dockerd checks only the names when a container is created, and the values when its
    /// logger starts.
    pub(crate) fn parse<'a>(
        opts: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Self> {
        let opts: BTreeMap<&str, &str> =
            opts.into_iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        check_keys(opts.keys().copied())?;
        let mut options = LogOptions::default();
        if let Some(value) = opts.get("max-size") {
            options.max_size = parse_max_size(value)?;
        }
        if let Some(value) = opts.get("max-file") {
            let n: i64 = value.parse().map_err(|e: std::num::ParseIntError| {
                Error::invalid(go_parse_error("strconv.Atoi", value, &e.to_string()))
            })?;
            if n < 1 {
                return Err(Error::invalid("max-file cannot be less than 1"));
            }
            options.max_file = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(value) = opts.get("compress") {
            options.compress = parse_go_bool(value).ok_or_else(|| {
                Error::invalid(go_parse_error("strconv.ParseBool", value, "invalid syntax"))
            })?;
            if options.compress && (options.max_file == 1 || options.max_size.is_none()) {
                return Err(Error::invalid(
                    "compress cannot be true when max-file is less than 2 or max-size is not set",
                ));
            }
        }
        let list = |key: &str| -> Vec<String> {
            opts.get(key)
                .filter(|v| !v.is_empty())
                .map(|v| v.split(',').map(str::to_owned).collect())
                .unwrap_or_default()
        };
        options.labels = list("labels");
        options.env = list("env");
        options.tag = opts.get("tag").filter(|t| !t.is_empty()).map(|t| (*t).to_owned());
        Ok(options)
    }

    /// Fills [`LogOptions::attrs`] from the container, as dockerd's `Info.ExtraAttributes`: each
    /// label named by `labels` and each variable named by `env` that the container has, and
    /// `tag` (its `{{.ID}}`, `{{.FullID}}`, `{{.Name}}`, `{{.ImageID}}`, `{{.ImageFullID}}`,
    /// `{{.ImageName}}` and `{{.DaemonName}}` replaced) when set.
    pub(crate) fn resolve_attrs(&mut self, ctx: &LogContext<'_>) {
        let mut attrs = BTreeMap::new();
        for name in &self.labels {
            if let Some(value) = ctx.labels.get(name) {
                attrs.insert(name.clone(), value.clone());
            }
        }
        let env: BTreeMap<&str, &str> = ctx.env.iter().filter_map(|e| e.split_once('=')).collect();
        for name in &self.env {
            if let Some(value) = env.get(name.as_str()) {
                attrs.insert(name.clone(), (*value).to_owned());
            }
        }
        if let Some(tag) = &self.tag {
            let tag = expand_tag(tag, ctx);
            if !tag.is_empty() {
                attrs.insert("tag".to_owned(), tag);
            }
        }
        self.attrs = attrs;
    }
}

/// Refuses the first of `keys` that is not a `json-file` option, with dockerd's message.
fn check_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<()> {
    match keys.into_iter().find(|k| !KNOWN.contains(k)) {
        Some(key) => {
            Err(Error::invalid(format!("unknown log opt '{key}' for json-file log driver")))
        }
        None => Ok(()),
    }
}

/// `tag` with the fields of dockerd's `logger.Info` Berth knows replaced; other template
/// actions are left as written.
fn expand_tag(tag: &str, ctx: &LogContext<'_>) -> String {
    let fields = [
        ("{{.ID}}", truncate_id(ctx.id)),
        ("{{.FullID}}", ctx.id),
        ("{{.Name}}", ctx.name.trim_start_matches('/')),
        ("{{.ImageID}}", truncate_id(ctx.image_id)),
        ("{{.ImageFullID}}", ctx.image_id),
        ("{{.ImageName}}", ctx.image_name),
        ("{{.DaemonName}}", "docker"),
    ];
    fields.iter().fold(tag.to_owned(), |tag, (field, value)| tag.replace(field, value))
}

/// dockerd's `stringid.TruncateID`: without an algorithm prefix, at most 12 characters.
fn truncate_id(id: &str) -> &str {
    let id = id.split_once(':').map_or(id, |(_, hex)| hex);
    id.get(..12).unwrap_or(id)
}

/// `max-size` as dockerd reads it (`units.FromHumanSize`: decimal units, so `10m` is
/// 10 000 000 bytes). `-1`, the documented default, means no limit.
fn parse_max_size(value: &str) -> Result<Option<u64>> {
    if value.trim() == "-1" {
        return Ok(None);
    }
    let size = from_human_size(value).map_err(Error::invalid)?;
    if size <= 0 {
        return Err(Error::invalid("max-size must be a positive number"));
    }
    Ok(u64::try_from(size).ok())
}

/// go-units' `FromHumanSize`: a decimal number, an optional space, and an optional unit among
/// `b`, `k`, `m`, `g`, `t`, `p` (case-insensitive, powers of 1000) optionally followed by `b`
/// or `ib`. The error is go-units' message.
pub(super) fn from_human_size(s: &str) -> std::result::Result<i64, String> {
    let Some(sep) = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(format!("invalid size: '{s}'"));
    };
    let (num, suffix) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..=sep], &s[sep + 1..])
    };
    let size: f64 =
        num.parse().map_err(|_| go_parse_error("strconv.ParseFloat", num, "invalid syntax"))?;
    if size < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    let bad_suffix = || format!("invalid suffix: '{}'", suffix.to_ascii_lowercase());
    let lower = suffix.to_ascii_lowercase();
    let multiplier: f64 = match lower.as_bytes() {
        [] => 1.0,
        [b'b'] => 1.0,
        [unit, rest @ ..] if rest.is_empty() || rest == b"b" || rest == b"ib" => match unit {
            b'k' => 1e3,
            b'm' => 1e6,
            b'g' => 1e9,
            b't' => 1e12,
            b'p' => 1e15,
            _ => return Err(bad_suffix()),
        },
        _ => return Err(bad_suffix()),
    };
    // Go's int64(float64) conversion: truncation, saturating here.
    Ok((size * multiplier) as i64)
}

/// The text of Go's `*strconv.NumError` (`strconv.Atoi: parsing "x": invalid syntax`).
fn go_parse_error(func: &str, input: &str, reason: &str) -> String {
    let reason = if reason.contains("too large") || reason.contains("too small") {
        "value out of range"
    } else {
        "invalid syntax"
    };
    format!("{func}: parsing {input:?}: {reason}")
}

//! Query parameters of the container and exec endpoints, read with dockerd's rules. Every
//! rejection is a 400 naming the problem unless dockerd answers otherwise (noted).

use berth_api::{ApiVersion, Error, Filters};
use berth_backend::{ContainerListOptions, ContainerStopOptions};

/// Filter keys dockerd accepts on `GET /containers/json`.
pub(crate) const LIST_FILTERS: &[&str] = &[
    "ancestor",
    "before",
    "exited",
    "id",
    "isolation",
    "label",
    "name",
    "status",
    "health",
    "since",
    "volume",
    "network",
    "is-task",
    "publish",
    "expose",
];

/// Filter keys dockerd accepts on `POST /containers/prune`.
pub(crate) const PRUNE_FILTERS: &[&str] = &["label", "label!", "until"];

pub(crate) use berth_http::Form;

/// Container-specific readings of the query.
pub(crate) trait ContainerForm {
    /// `httputils.Uint32Value` for `h`/`w` of resize: empty is 0; anything else must parse.
    fn resize_dim(&self, key: &str, what: &str) -> Result<u32, Error>;
    /// dockerd's `ArchiveFormValues`: `path` is required (the missing space is dockerd's).
    fn archive_path(&self) -> Result<&str, Error>;
}

impl ContainerForm for Form {
    fn resize_dim(&self, key: &str, what: &str) -> Result<u32, Error> {
        let value = self.get(key);
        if value.is_empty() {
            return Ok(0);
        }
        value.parse().map_err(|_| {
            Error::invalid(format!(
                "invalid resize {what} {value:?}: strconv.ParseUint: parsing {value:?}: invalid syntax"
            ))
        })
    }

    fn archive_path(&self) -> Result<&str, Error> {
        match self.get("path") {
            "" => Err(Error::invalid("bad parameter: pathcannot be empty")),
            path => Ok(path),
        }
    }
}

/// `filters`, parsed and restricted to `accepted`.
pub(crate) fn filters(form: &Form, accepted: &[&str]) -> Result<Filters, Error> {
    let filters = Filters::parse(form.get("filters"))?;
    filters.validate(accepted)?;
    Ok(filters)
}

/// Go's `strconv.Atoi` failure, which dockerd does not classify: a 500.
fn atoi(value: &str) -> Result<i64, Error> {
    value.parse().map_err(|_| {
        let why = if value.trim_start_matches(['+', '-']).bytes().all(|b| b.is_ascii_digit()) {
            "value out of range"
        } else {
            "invalid syntax"
        };
        Error::system(format!("strconv.Atoi: parsing {value:?}: {why}"))
    })
}

/// `GET /containers/json`.
pub(crate) fn list_options(form: &Form) -> Result<ContainerListOptions, Error> {
    let limit = match form.get("limit") {
        "" => 0,
        value => atoi(value)?,
    };
    Ok(ContainerListOptions {
        all: form.bool("all"),
        size: form.bool("size"),
        limit,
        filters: filters(form, LIST_FILTERS)?,
    })
}

/// Stop and restart: `t` (any version), `signal` (API ≥ 1.42).
pub(crate) fn stop_options(
    form: &Form,
    version: ApiVersion,
) -> Result<ContainerStopOptions, Error> {
    let signal = match form.get("signal") {
        s if !s.is_empty() && version >= ApiVersion::new(1, 42) => Some(s.to_owned()),
        _ => None,
    };
    let timeout = match form.get("t") {
        "" => None,
        value => Some(atoi(value)?),
    };
    Ok(ContainerStopOptions { timeout, signal })
}

/// Validates `detachKeys` as dockerd's `term.ToBytes`: comma-separated keys, each one character
/// or `ctrl-<a-z@[\]^_>`.
pub(crate) fn detach_keys(keys: &str) -> Result<(), Error> {
    if keys.is_empty() {
        return Ok(());
    }
    let invalid = || Error::invalid(format!("Invalid detach keys ({keys}) provided"));
    for key in keys.split(',') {
        let key = key.trim();
        if key.chars().count() == 1 {
            continue;
        }
        let Some(rest) = key.strip_prefix("ctrl-") else { return Err(invalid()) };
        let mut chars = rest.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None)
                if c.is_ascii_lowercase() || matches!(c, '@' | '[' | '\\' | ']' | '^' | '_') => {}
            _ => return Err(invalid()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_follow_term_to_bytes() {
        assert!(detach_keys("").is_ok());
        assert!(detach_keys("ctrl-p,ctrl-q").is_ok());
        assert!(detach_keys("a,ctrl-@,ctrl-_").is_ok());
        let err = detach_keys("ctrl-P").expect_err("uppercase");
        assert_eq!(err.message(), "Invalid detach keys (ctrl-P) provided");
        assert!(detach_keys("ctrl-").is_err());
        assert!(detach_keys("shift-a").is_err());
    }
}

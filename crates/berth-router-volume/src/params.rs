//! Query parameters of the volume endpoints, read with dockerd's rules. Every rejection is a 400
//! naming the problem.

use berth_api::{ApiVersion, Error, Filters};
use berth_http::Form;

/// Filter keys dockerd accepts on `GET /volumes`.
const LIST_FILTERS: &[&str] = &["dangling", "driver", "label", "name"];

/// Filter keys dockerd accepts on `POST /volumes/prune`.
const PRUNE_FILTERS: &[&str] = &["all", "label", "label!"];

/// The name in a `/volumes/{name:.*}` path (percent-decoded, as gorilla/mux matches).
pub(crate) fn volume_name(uri_path: &str) -> String {
    berth_http::percent_decode(uri_path.strip_prefix("/volumes/").unwrap_or(""))
}

/// dockerd's `WithMinimumAPIVersion` answer for a route older clients may not use.
pub(crate) fn require_version(
    version: ApiVersion,
    minimum: ApiVersion,
    route: &str,
) -> Result<(), Error> {
    if version < minimum {
        return Err(Error::invalid(format!("{route} requires minimum API version {minimum}")));
    }
    Ok(())
}

/// `GET /volumes`: malformed JSON is wrapped as dockerd wraps it; keys and `dangling` checked.
pub(crate) fn list_filters(form: &Form) -> Result<Filters, Error> {
    let filters = Filters::parse(form.get("filters")).map_err(|err| {
        Error::invalid(format!("error reading volume filters: {}", err.message()))
    })?;
    filters.validate(LIST_FILTERS)?;
    filters.get_bool("dangling")?;
    Ok(filters)
}

/// `POST /volumes/prune`: below API 1.42 every unused volume goes (`all=true` added, as
/// dockerd); `all` is checked before the keys, as dockerd does.
pub(crate) fn prune_filters(form: &Form, version: ApiVersion) -> Result<Filters, Error> {
    let mut filters = Filters::parse(form.get("filters"))?;
    if version < ApiVersion::new(1, 42) {
        filters.add("all", "true");
    }
    berth_api::volume::prune_all(&filters)?;
    filters.validate(PRUNE_FILTERS)?;
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(filters: &str) -> Form {
        Form(vec![("filters".to_owned(), filters.to_owned())])
    }

    #[test]
    fn names_come_from_the_whole_rest_of_the_path() {
        assert_eq!(volume_name("/volumes/data"), "data");
        assert_eq!(volume_name("/volumes/a%2Fb"), "a/b");
        assert_eq!(volume_name("/volumes/"), "");
    }

    #[test]
    fn list_filters_follow_dockerd() {
        let err = |f: &str| list_filters(&form(f)).expect_err(f).message().to_owned();
        assert_eq!(err("nope"), "error reading volume filters: invalid filter");
        assert_eq!(err(r#"{"colour":["red"]}"#), "invalid filter 'colour'");
        assert_eq!(err(r#"{"dangling":["maybe"]}"#), "invalid filter 'dangling=[maybe]'");
        assert!(list_filters(&form(r#"{"dangling":["1"],"name":["a"]}"#)).is_ok());
    }

    #[test]
    fn old_clients_prune_everything_unused() {
        let old = prune_filters(&form(""), ApiVersion::new(1, 41)).expect("1.41");
        assert_eq!(old.get("all").collect::<Vec<_>>(), ["true"]);
        let new = prune_filters(&form(""), ApiVersion::new(1, 42)).expect("1.42");
        assert!(!new.contains("all"));
        let clash = prune_filters(&form(r#"{"all":["false"]}"#), ApiVersion::new(1, 41));
        assert_eq!(
            clash.expect_err("two values").message(),
            "invalid filter 'all=[false true]': only one value is expected"
        );
        let key = prune_filters(&form(r#"{"dangling":["true"]}"#), ApiVersion::new(1, 51));
        assert_eq!(key.expect_err("key").message(), "invalid filter 'dangling'");
        let required = require_version(ApiVersion::new(1, 24), ApiVersion::new(1, 25), "POST /x");
        assert_eq!(
            required.expect_err("old").message(),
            "POST /x requires minimum API version 1.25"
        );
    }
}

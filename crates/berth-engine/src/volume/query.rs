//! Which volumes the list and prune filters select, with dockerd's semantics: values of one key
//! are OR'ed (labels: AND'ed), keys AND'ed.

use std::collections::BTreeMap;

use berth_api::Filters;

/// `GET /volumes` filters: `driver`, `name`, `label`, `dangling`.
pub(super) fn matches_list(
    filters: &Filters,
    name: &str,
    driver: &str,
    labels: Option<&BTreeMap<String, String>>,
    unreferenced: bool,
) -> bool {
    if !filters.exact_match("driver", driver) {
        return false;
    }
    if !filters.pattern_match("name", name) {
        return false;
    }
    if let Ok(Some(dangling)) = filters.get_bool("dangling")
        && dangling != unreferenced
    {
        return false;
    }
    matches_labels(filters, labels)
}

/// `label` (every one must match) and `label!` (excluded when every one matches).
pub(super) fn matches_labels(filters: &Filters, labels: Option<&BTreeMap<String, String>>) -> bool {
    let get = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
    filters.match_labels("label", get)
        && !(filters.contains("label!") && filters.match_labels("label!", get))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(json: &str) -> Filters {
        Filters::parse(json).expect("filters")
    }

    #[test]
    fn list_filters_and_together() {
        let labels: BTreeMap<String, String> = [("env".to_owned(), "prod".to_owned())].into();
        let pick = |json: &str, name: &str, unreferenced: bool| {
            matches_list(&filters(json), name, "local", Some(&labels), unreferenced)
        };
        assert!(pick("", "data", true));
        assert!(pick(r#"{"name":["at"]}"#, "data", true));
        assert!(pick(r#"{"name":["^da","nope"]}"#, "data", true));
        assert!(!pick(r#"{"name":["^at"]}"#, "data", true));
        assert!(pick(r#"{"name":["ta$"]}"#, "data", true));
        assert!(!pick(r#"{"name":["^dat$"]}"#, "data", true));
        // dockerd's filter is a regular expression.
        assert!(pick(r#"{"name":["^d.t+a$"]}"#, "data", true));
        assert!(!pick(r#"{"name":["^d[0-9]"]}"#, "data", true));
        assert!(pick(r#"{"driver":["local"]}"#, "data", true));
        assert!(!pick(r#"{"driver":["nfs"]}"#, "data", true));
        assert!(pick(r#"{"dangling":["true"]}"#, "data", true));
        assert!(!pick(r#"{"dangling":["true"]}"#, "data", false));
        assert!(pick(r#"{"dangling":["0"]}"#, "data", false));
        assert!(pick(r#"{"label":["env=prod"],"dangling":["1"]}"#, "data", true));
        assert!(!pick(r#"{"label":["env=dev"]}"#, "data", true));
    }

    #[test]
    fn negated_labels_exclude() {
        let labels: BTreeMap<String, String> = [("keep".to_owned(), String::new())].into();
        assert!(!matches_labels(&filters(r#"{"label!":["keep"]}"#), Some(&labels)));
        assert!(matches_labels(&filters(r#"{"label!":["other"]}"#), Some(&labels)));
        assert!(matches_labels(&filters(r#"{"label!":["keep"]}"#), None));
        assert!(!matches_labels(&filters(r#"{"label":["keep"]}"#), None));
    }
}

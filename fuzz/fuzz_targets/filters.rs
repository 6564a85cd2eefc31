//! The `filters` query parameter (`berth_api::Filters`) and what the API groups do with it:
//! key checks, booleans, regular-expression and label matching, timestamps, network list and
//! prune filters, the volume prune `all` filter.

#![no_main]

use berth_api::Filters;
use berth_api::network::{self, Network};
use libfuzzer_sys::fuzz_target;

/// Keys some endpoint reads, and one no endpoint knows.
const KEYS: &[&str] = &[
    "all",
    "ancestor",
    "before",
    "dangling",
    "driver",
    "id",
    "label",
    "label!",
    "name",
    "network",
    "reference",
    "scope",
    "since",
    "status",
    "type",
    "until",
    "unknown",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(filters) = Filters::parse(text) else { return };
    let _ = filters.validate(&KEYS[..KEYS.len() - 1]);
    let labels = |key: &str| match key {
        "com.example" => Some("1"),
        "empty" => Some(""),
        _ => None,
    };
    for key in KEYS {
        let _ = filters.get_bool(key);
        let _ = filters.invalid_value(key);
        filters.pattern_match(key, "berth_web-1");
        filters.exact_match(key, "bridge");
        filters.any_match(key, ["bridge", "local"]);
        filters.match_labels(key, labels);
        for value in filters.get(key) {
            let _ = berth_api::params::parse_timestamp(key, value);
        }
    }
    let _ = berth_api::volume::prune_all(&filters);
    if network::validate_list_filters(&filters).is_ok() {
        for net in [Network::default(), Network { name: "bridge".into(), ..Network::default() }] {
            network::matches(&net, &filters);
        }
    }
    if network::validate_prune_filters(&filters).is_ok() {
        network::prunable(&Network::default(), &filters);
    }
});

use serde_json::json;

use super::*;
use crate::container::{
    ContainerCreateBody, ContainerUpdateBody, HOST_CONFIG_FIELDS, HostConfig, Mount, Resources,
    decode_body,
};

#[test]
fn keys_match_fields_in_any_case_at_every_depth() {
    let body: ContainerCreateBody = decode_body(json!({
        "image": "busybox",
        "CMD": ["true"],
        "healthcheck": {"test": ["CMD", "true"], "interval": 1_000_000_000},
        "hostconfig": {
            "binds": ["/a:/b"],
            "memory": 1024,
            "ulimits": [{"name": "nofile", "soft": 1, "hard": 2}],
            "restartpolicy": {"name": "always"},
            "logconfig": {"type": "none"},
        },
        "networkingconfig": {"endpointsconfig": {"net": {"aliases": ["web"]}}},
    }))
    .expect("decodes");
    assert_eq!(body.config.image, "busybox");
    assert_eq!(body.config.cmd, Some(vec!["true".to_owned()]));
    let health = body.config.healthcheck.expect("healthcheck");
    assert_eq!(health.test, ["CMD", "true"]);
    assert_eq!(health.interval, 1_000_000_000);
    let hc = body.host_config.expect("host config");
    assert_eq!(hc.binds, Some(vec!["/a:/b".to_owned()]));
    assert_eq!(hc.resources.memory, 1024);
    let ulimits = hc.resources.ulimits.expect("ulimits");
    assert_eq!((ulimits[0].name.as_str(), ulimits[0].soft, ulimits[0].hard), ("nofile", 1, 2));
    assert_eq!(hc.restart_policy.name, "always");
    assert_eq!(hc.log_config.kind, "none");
    let endpoints = body.networking_config.expect("networking").endpoints_config.expect("eps");
    assert_eq!(endpoints["net"].aliases, Some(vec!["web".to_owned()]));
}

#[test]
fn map_keys_are_kept_as_sent() {
    let body: ContainerCreateBody = decode_body(json!({
        "Image": "busybox",
        "Labels": {"image": "x", "Cmd": "y"},
        "HostConfig": {"Sysctls": {"net.ipv4.ip_forward": "1"}, "Tmpfs": {"/Run": ""}},
    }))
    .expect("decodes");
    let labels = body.config.labels.expect("labels");
    assert_eq!(labels.keys().collect::<Vec<_>>(), ["Cmd", "image"]);
    let hc = body.host_config.expect("host config");
    assert!(hc.tmpfs.expect("tmpfs").contains_key("/Run"));
}

#[test]
fn null_leaves_the_zero_value_and_unknown_keys_are_ignored() {
    let body: ContainerCreateBody = decode_body(json!({
        "Image": null,
        "Tty": null,
        "NoSuchField": 1,
        "HostConfig": {"Memory": null, "Privileged": null, "nosuch": true},
    }))
    .expect("decodes");
    assert_eq!(body.config.image, "");
    assert!(!body.config.tty);
    let hc = body.host_config.expect("host config");
    assert_eq!(hc.resources.memory, 0);
    assert!(!hc.privileged);
}

#[test]
fn an_exact_name_wins_over_a_folded_one_and_two_spellings_do_not_fail() {
    // `Dns` is a field; "DNS" folds to it.
    let hc: HostConfig = decode_body(json!({"DNS": ["1.1.1.1"]})).expect("decodes");
    assert_eq!(hc.dns, Some(vec!["1.1.1.1".to_owned()]));
    let hc: HostConfig =
        decode_body(json!({"Privileged": true, "privileged": true})).expect("two spellings");
    assert!(hc.privileged);
    assert_eq!(field_name("Dns", &["DNS", "Dns"]), Some("Dns"));
    assert_eq!(field_name("dns", &["Dns", "DNS"]), Some("Dns"));
    assert_eq!(field_name("Dnsx", &["Dns"]), None);
}

#[test]
fn the_update_body_reads_resources_and_its_own_field_in_any_case() {
    let update: ContainerUpdateBody =
        decode_body(json!({"memory": 5_000_000, "restartpolicy": {"name": "on-failure", "maximumretrycount": 3}}))
            .expect("decodes");
    assert_eq!(update.resources.memory, 5_000_000);
    assert_eq!(update.restart_policy.name, "on-failure");
    assert_eq!(update.restart_policy.maximum_retry_count, 3);
}

#[test]
fn a_wrong_type_is_still_an_error_naming_it() {
    let err = decode_body::<HostConfig>(json!({"privileged": "yes"})).expect_err("a string");
    assert!(err.message().contains("invalid type: string \"yes\", expected a boolean"), "{err}");
    let err = decode_body::<ContainerCreateBody>(json!({"HostConfig": {"memory": "lots"}}))
        .expect_err("a string");
    assert!(err.message().contains("invalid type: string \"lots\""), "{err}");
}

#[test]
fn encoded_values_decode_back_unchanged() {
    // Stored records go through the same decoder with serde_json.
    let hc = full_host_config();
    let encoded = serde_json::to_string(&hc).expect("encode");
    assert_eq!(serde_json::from_str::<HostConfig>(&encoded).expect("decode"), hc);
    let body = ContainerCreateBody {
        config: crate::container::Config { image: "busybox".into(), ..Default::default() },
        host_config: Some(hc),
        networking_config: None,
    };
    let encoded = serde_json::to_value(&body).expect("encode");
    assert_eq!(encoded["Image"], "busybox");
    assert_eq!(serde_json::from_value::<ContainerCreateBody>(encoded).expect("decode"), body);
}

#[test]
fn host_config_fields_lists_every_own_member() {
    let encoded = serde_json::to_value(full_host_config()).expect("encode");
    let resources = struct_fields::<Resources>();
    let mut own: Vec<&str> = encoded
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .filter(|k| !resources.contains(k))
        .collect();
    own.sort_unstable();
    let mut listed = HOST_CONFIG_FIELDS.to_vec();
    listed.sort_unstable();
    assert_eq!(own, listed);
}

#[test]
fn struct_fields_reads_a_derived_struct_and_nothing_else() {
    let fields = struct_fields::<Resources>();
    assert!(fields.contains(&"Memory") && fields.contains(&"Ulimits"), "{fields:?}");
    assert!(struct_fields::<String>().is_empty());
}

/// A `HostConfig` with every field that is left out of the encoding when empty set.
fn full_host_config() -> HostConfig {
    let map = || Some([("k".to_owned(), "v".to_owned())].into_iter().collect());
    HostConfig {
        annotations: map(),
        storage_opt: map(),
        tmpfs: map(),
        sysctls: map(),
        runtime: "runc".into(),
        mounts: Some(vec![Mount::default()]),
        init: Some(true),
        privileged: true,
        resources: Resources { memory: 1 << 20, ..Default::default() },
        ..Default::default()
    }
}

#[test]
fn a_struct_object_with_many_unknown_members_still_decodes_its_fields() {
    // Renaming keeps one entry per name in a map: 100 000 members stay linear work.
    let mut object: serde_json::Map<String, serde_json::Value> =
        (0..100_000).map(|i| (format!("x{i}"), json!(i))).collect();
    object.insert("privileged".to_owned(), json!(true));
    object.insert("Privileged".to_owned(), json!(true));
    let hc: HostConfig = decode_body(serde_json::Value::Object(object)).expect("decodes");
    assert!(hc.privileged);
}

use expect_test::expect;

use super::*;
use crate::container::decode_body;
use crate::{ErrorKind, Filters};

fn network(name: &str, id: &str) -> Network {
    Network {
        name: name.into(),
        id: id.into(),
        created: "2024-01-02T03:04:05.123456789Z".into(),
        scope: "local".into(),
        driver: "bridge".into(),
        enable_ipv4: true,
        ipam: Ipam {
            driver: "default".into(),
            options: None,
            config: Some(vec![IpamConfig {
                subnet: "172.18.0.0/16".into(),
                gateway: "172.18.0.1".into(),
                ..IpamConfig::default()
            }]),
        },
        ..Network::default()
    }
}

fn with_container(mut n: Network) -> Network {
    n.containers.insert(
        "c0ffee".into(),
        EndpointResource {
            name: "web".into(),
            endpoint_id: "e1".into(),
            mac_address: "02:42:ac:12:00:02".into(),
            ipv4_address: "172.18.0.2/16".into(),
            ipv6_address: String::new(),
        },
    );
    n
}

fn filters(json: &str) -> Filters {
    Filters::parse(json).expect("filters")
}

#[test]
fn inspect_marshals_like_dockerd() {
    let n = with_container(network("app", "abc"));
    expect![[r#"{"Name":"app","Id":"abc","Created":"2024-01-02T03:04:05.123456789Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigFrom":{"Network":""},"ConfigOnly":false,"Containers":{"c0ffee":{"Name":"web","EndpointID":"e1","MacAddress":"02:42:ac:12:00:02","IPv4Address":"172.18.0.2/16","IPv6Address":""}},"Options":{},"Labels":{}}"#]]
    .assert_eq(&serde_json::to_string(&n).expect("json"));
}

#[test]
fn list_entries_drop_containers_from_api_1_28() {
    let n = with_container(network("app", "abc"));
    assert_eq!(n.for_list(ApiVersion::new(1, 27)).containers.len(), 1);
    let listed = n.for_list(ApiVersion::new(1, 28));
    assert!(listed.containers.is_empty());
    assert!(serde_json::to_string(&listed).expect("json").contains(r#""Containers":{}"#));
}

#[test]
fn small_bodies_marshal_like_dockerd() {
    let created = NetworkCreateResponse { id: "abc".into(), warning: String::new() };
    assert_eq!(serde_json::to_string(&created).expect("json"), r#"{"Id":"abc","Warning":""}"#);
    let prune = NetworkPruneReport::default();
    assert_eq!(serde_json::to_string(&prune).expect("json"), r#"{"NetworksDeleted":null}"#);
    let connect = NetworkConnectRequest { container: "web".into(), endpoint_config: None };
    assert_eq!(serde_json::to_string(&connect).expect("json"), r#"{"Container":"web"}"#);
    let request = NetworkCreateRequest { name: "n".into(), ..NetworkCreateRequest::default() };
    expect![[r#"{"Driver":"","Scope":"","IPAM":null,"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":null,"Labels":null,"Name":"n"}"#]]
    .assert_eq(&serde_json::to_string(&request).expect("json"));
}

#[test]
fn create_body_is_read_like_go_reads_it() {
    // What docker-py sends: nulls for unset values, and fields this version does not know.
    let body = serde_json::json!({
        "Name": "app", "Driver": null, "Options": null, "CheckDuplicate": null,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.9.0.0/16", "Gateway": null,
                 "AuxiliaryAddresses": {"db": "10.9.0.5"}}], "Options": {}},
        "EnableIPv6": false, "Labels": {"a": "b"}, "Internal": true, "FutureField": 1
    });
    let request: NetworkCreateRequest = decode_body(body).expect("decodes");
    assert_eq!(request.name, "app");
    assert_eq!(request.driver, "");
    assert_eq!(request.enable_ipv6, Some(false));
    assert_eq!(request.enable_ipv4, None);
    assert!(request.internal);
    let pool = &request.ipam.expect("ipam").config.expect("config")[0];
    assert_eq!(pool.subnet, "10.9.0.0/16");
    assert_eq!(pool.aux_addresses.get("db").map(String::as_str), Some("10.9.0.5"));

    let connect: NetworkConnectRequest = decode_body(serde_json::json!({
        "Container": "web",
        "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.9.0.7"}, "Aliases": ["db"]}
    }))
    .expect("connect");
    let endpoint = connect.endpoint_config.expect("endpoint");
    assert_eq!(endpoint.ipam_config.expect("ipam").ipv4_address, "10.9.0.7");
    let disconnect: NetworkDisconnectRequest =
        decode_body(serde_json::json!({"Container": "web", "Force": true})).expect("disconnect");
    assert!(disconnect.force);
    assert!(decode_body::<NetworkCreateRequest>(serde_json::json!({"Internal": "yes"})).is_err());
}

#[test]
fn go_booleans_are_strict() {
    for t in ["1", "t", "T", "TRUE", "true", "True"] {
        assert_eq!(parse_go_bool(t), Some(true), "{t}");
    }
    for f in ["0", "f", "F", "FALSE", "false", "False"] {
        assert_eq!(parse_go_bool(f), Some(false), "{f}");
    }
    for bad in ["", "yes", "tRUE", " true"] {
        assert_eq!(parse_go_bool(bad), None, "{bad:?}");
    }
}

#[test]
fn list_filters_are_checked_with_dockerd_messages() {
    let err = |json: &str| validate_list_filters(&filters(json)).expect_err(json).to_string();
    assert_eq!(err(r#"{"colour":["red"]}"#), "invalid filter 'colour'");
    assert_eq!(err(r#"{"label!":["a"]}"#), "invalid filter 'label!'");
    assert_eq!(
        err(r#"{"dangling":["true","1"]}"#),
        r#"got more than one value for filter key "dangling""#
    );
    assert_eq!(
        err(r#"{"dangling":["TRUE"]}"#),
        r#"invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")"#
    );
    assert_eq!(err(r#"{"type":["custom","bogus"]}"#), "invalid filter: 'type'='bogus'");
    let ok = r#"{"dangling":["0"],"driver":["bridge"],"id":["a"],"label":["x"],"name":["n"],"scope":["local"],"type":["custom","builtin"]}"#;
    assert!(validate_list_filters(&filters(ok)).is_ok());
    let e = validate_list_filters(&filters(r#"{"type":["x"]}"#)).expect_err("bad type");
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
}

#[test]
fn list_filters_match_like_dockerd() {
    let mut labelled = network("myweb1", "0123abcd");
    labelled.labels.insert("tier".into(), "front".into());
    let used = with_container(network("db", "4567ef01"));
    let bridge = network("bridge", "89abcdef");
    let host = Network { driver: "host".into(), ..network("host", "fedcba98") };
    let all = [&labelled, &used, &bridge, &host];
    let names = |json: &str| -> Vec<&str> {
        let f = filters(json);
        all.iter().filter(|n| matches(n, &f)).map(|n| n.name.as_str()).collect()
    };
    assert_eq!(names("{}"), ["myweb1", "db", "bridge", "host"]);
    assert_eq!(names(r#"{"name":["web"]}"#), ["myweb1"], "unanchored expression");
    assert_eq!(names(r#"{"name":["^web$"]}"#), Vec::<&str>::new());
    assert_eq!(names(r#"{"name":["^d","^h"]}"#), ["db", "host"], "values are OR'ed");
    assert_eq!(names(r#"{"name":["b("]}"#), Vec::<&str>::new(), "invalid expression, no match");
    assert_eq!(names(r#"{"id":["^4567"]}"#), ["db"]);
    assert_eq!(names(r#"{"id":["abc"]}"#), ["myweb1", "bridge"], "anywhere in the ID");
    assert_eq!(names(r#"{"driver":["host"]}"#), ["host"]);
    assert_eq!(names(r#"{"driver":["bri"]}"#), Vec::<&str>::new(), "driver is exact");
    assert_eq!(names(r#"{"label":["tier"]}"#), ["myweb1"]);
    assert_eq!(names(r#"{"label":["tier=back"]}"#), Vec::<&str>::new());
    assert_eq!(names(r#"{"scope":["local"],"type":["builtin"]}"#), ["bridge", "host"]);
    assert_eq!(names(r#"{"type":["custom"]}"#), ["myweb1", "db"]);
    assert_eq!(names(r#"{"type":["custom","builtin"]}"#).len(), 4);
    assert_eq!(names(r#"{"dangling":["true"]}"#), ["myweb1"]);
    assert_eq!(names(r#"{"dangling":["false"]}"#), ["db", "bridge", "host"]);
    assert_eq!(names(r#"{"dangling":["1"],"name":["db"]}"#), Vec::<&str>::new(), "keys AND'ed");
}

#[test]
fn prune_selects_unused_user_networks() {
    let mut tagged = network("a", "1");
    tagged.labels.insert("keep".into(), "yes".into());
    tagged.labels.insert("env".into(), "dev".into());
    let plain = network("b", "2");
    let used = with_container(network("c", "3"));
    let config_only = Network { config_only: true, ..network("d", "4") };
    let bridge = network("bridge", "5");
    let all = [&tagged, &plain, &used, &config_only, &bridge];
    let pruned = |json: &str| -> Vec<&str> {
        let f = filters(json);
        validate_prune_filters(&f).expect("valid");
        all.iter().filter(|n| prunable(n, &f)).map(|n| n.name.as_str()).collect()
    };
    assert_eq!(pruned("{}"), ["a", "b"]);
    assert_eq!(pruned(r#"{"label":["keep=yes"]}"#), ["a"]);
    assert_eq!(pruned(r#"{"label!":["keep"]}"#), ["b"]);
    // label! excludes only networks that carry every label! given (dockerd's MatchKVList).
    assert_eq!(pruned(r#"{"label!":["keep","other"]}"#), ["a", "b"]);
    let err = |json: &str| validate_prune_filters(&filters(json)).expect_err(json).to_string();
    assert_eq!(err(r#"{"dangling":["true"]}"#), "invalid filter 'dangling'");
    assert_eq!(err(r#"{"until":["1h","2h"]}"#), "more than one until filter specified");
}

fn key(n: &Network) -> (&str, &str) {
    (n.id.as_str(), n.name.as_str())
}

#[test]
fn find_resolves_id_name_then_prefix() {
    let nets = [network("app", "aaaa1111"), network("aaaa", "bbbb2222"), network("x", "aaab3333")];
    let found = |term: &str| find(&nets, term, key, Lookup::Inspect).map(|n| n.name.clone());
    assert_eq!(found("bbbb2222").expect("full id"), "aaaa");
    assert_eq!(found("aaaa").expect("name before prefix"), "aaaa");
    assert_eq!(found("aaab").expect("unique prefix"), "x");
    let err = found("nope").expect_err("missing");
    assert_eq!((err.kind(), err.message()), (ErrorKind::NotFound, "network nope not found"));
    let msg = |lookup| find(&nets, "aaa", key, lookup).expect_err("ambiguous").to_string();
    assert_eq!(
        msg(Lookup::Inspect),
        "2 matches found based on ID prefix: network aaa is ambiguous"
    );
    assert_eq!(
        msg(Lookup::Remove),
        "network aaa is ambiguous (2 matches found based on ID prefix)"
    );
    assert_eq!(msg(Lookup::Use), "network aaa is ambiguous (2 matches found based on ID prefix)");
    let twins = [network("dup", "1111"), network("dup", "2222")];
    let by_name = |lookup| find(&twins, "dup", key, lookup).expect_err("ambiguous").to_string();
    assert_eq!(by_name(Lookup::Inspect), "2 matches found based on name: network dup is ambiguous");
    assert_eq!(by_name(Lookup::Remove), "network dup is ambiguous (2 matches found based on name)");
    assert_eq!(by_name(Lookup::Use), "network dup is ambiguous (2 matches found on name)");
    // Any record type, with the key as a closure.
    let records = [("1111".to_owned(), "dup".to_owned())];
    let record = find(&records, "dup", |r| (r.0.as_str(), r.1.as_str()), Lookup::Use);
    assert_eq!(record.expect("by name").0, "1111");
}

fn create(json: serde_json::Value) -> NetworkCreateRequest {
    decode_body(json).expect("request")
}

/// Runs both rounds; the error as `status message`, or the normalized request.
fn check(json: serde_json::Value) -> std::result::Result<NetworkCreateRequest, String> {
    let mut request = create(json);
    prepare_create(&mut request)
        .and_then(|()| check_create(&mut request))
        .map(|()| request)
        .map_err(|e| format!("{} {}", e.status().as_u16(), e.message()))
}

fn rejects(json: serde_json::Value) -> String {
    check(json).expect_err("rejected")
}

#[test]
fn create_requests_are_normalized() {
    use serde_json::json;
    let plain = check(json!({"Name": "app"})).expect("valid");
    assert_eq!(
        (plain.driver.as_str(), plain.enable_ipv4, plain.enable_ipv6),
        ("bridge", Some(true), Some(false))
    );
    let by_option =
        check(json!({"Name": "a", "Options": {"com.docker.network.enable_ipv4": "true"}}))
            .expect("valid");
    assert!(
        by_option.options.expect("options").contains_key("com.docker.network.enable_ipv4"),
        "option kept"
    );
    let field_wins = check(json!({"Name": "a", "EnableIPv6": false,
        "Options": {"com.docker.network.enable_ipv6": "true", "x": "y"}}))
    .expect("valid");
    assert_eq!(field_wins.enable_ipv6, Some(false));
    assert_eq!(
        field_wins.options.expect("options").keys().collect::<Vec<_>>(),
        ["x"],
        "option dropped"
    );
    let config_only =
        check(json!({"Name": "c", "ConfigOnly": true, "Driver": "macvlan"})).expect("valid");
    assert_eq!((config_only.driver.as_str(), config_only.scope.as_str()), ("null", "local"));
    let pools = json!({"Name": "p", "IPAM": {"Config": [
        {"Subnet": "10.1.0.0/16", "IPRange": "10.1.4.0/24", "Gateway": "10.1.0.1",
         "AuxiliaryAddresses": {"r": "10.1.0.2"}},
        {"Subnet": "fd00::/64", "Gateway": "nonsense"}]}});
    assert!(check(pools).is_ok(), "IPv6 pools are not checked while IPv6 is off");
    assert!(
        check(json!({"Name": "s", "Scope": "local", "Internal": true, "Attachable": true})).is_ok()
    );
}

#[test]
fn create_requests_are_refused_like_dockerd() {
    use serde_json::json;
    assert_eq!(
        rejects(json!({"Name": "bridge"})),
        "403 operation is not permitted on predefined bridge network "
    );
    assert_eq!(
        rejects(json!({"Name": "default", "Driver": "nope"})),
        "403 operation is not permitted on predefined default network "
    );
    assert_eq!(rejects(json!({})), "400 invalid name: name is empty");
    assert_eq!(rejects(json!({"Name": "  "})), "400 invalid name: name is empty");
    assert!(
        rejects(json!({"Name": "o", "Driver": "overlay"}))
            .starts_with("403 This node is not a swarm manager.")
    );
    assert_eq!(
        rejects(json!({"Name": "b", "Options": {"com.docker.network.enable_ipv4": "yes"}})),
        r#"400 driver-opt "com.docker.network.enable_ipv4" is not a valid bool"#
    );
    assert_eq!(rejects(json!({"Name": "d", "Driver": "nope"})), r#"404 plugin "nope" not found"#);
    assert!(
        rejects(json!({"Name": "m", "Driver": "macvlan"}))
            .starts_with("501 the macvlan network driver")
    );
    assert_eq!(
        rejects(json!({"Name": "h", "Driver": "host"})),
        r#"403 only one instance of "host" network is allowed"#
    );
    assert_eq!(
        rejects(json!({"Name": "n", "Driver": "null"})),
        r#"403 only one instance of "null" network is allowed"#
    );
    assert_eq!(
        rejects(json!({"Name": "i", "Ingress": true})),
        "403 Ingress network can only be global scope network"
    );
    assert_eq!(
        rejects(json!({"Name": "s", "Scope": "swarm"})),
        "403 cannot create a swarm scoped network when swarm is not active"
    );
    assert_eq!(
        rejects(json!({"Name": "p", "IPAM": {"Driver": "ext"}})),
        r#"404 plugin "ext" not found"#
    );
    assert!(rejects(json!({"Name": "p", "IPAM": {"Driver": "null"}})).starts_with("501 "));
    assert_eq!(
        rejects(json!({"Name": "v4", "EnableIPv4": false})),
        "400 IPv4 or IPv6 must be enabled"
    );
    assert!(
        rejects(json!({"Name": "v6", "EnableIPv6": true}))
            .starts_with("501 IPv6 networks are not implemented")
    );
    assert!(
        rejects(json!({"Name": "v6", "Options": {"com.docker.network.enable_ipv6": "1"}}))
            .starts_with("501 ")
    );
    assert!(
        rejects(json!({"Name": "c", "ConfigOnly": true, "EnableIPv6": true})).starts_with("501 ")
    );
    assert!(
        rejects(json!({"Name": "c", "ConfigOnly": true, "Internal": true}))
            .starts_with("403 configuration network can only contain network specific fields.")
    );
    assert_eq!(
        rejects(json!({"Name": "c", "ConfigOnly": true, "ConfigFrom": {"Network": "x"}})),
        "403 a configuration network cannot depend on another configuration network"
    );
    assert_eq!(
        rejects(json!({"Name": "f", "ConfigFrom": {"Network": "x"}, "Labels": {"a": "b"}})),
        "403 user specified configurations are not supported if the network depends on a configuration network"
    );
    assert_eq!(
        rejects(json!({"Name": "f", "ConfigFrom": {"Network": "x"}, "Options": {"a": "b"}})),
        "403 network driver options are not supported if the network depends on a configuration network"
    );
    assert!(
        check(json!({"Name": "f", "ConfigFrom": {"Network": "x"}, "IPAM": {"Driver": "default"}}))
            .is_ok()
    );
    let empty_from = json!({"Name": "f", "ConfigFrom": {"Network": ""}, "Labels": {"a": "b"}});
    assert!(check(empty_from).is_ok(), "an empty ConfigFrom is no ConfigFrom");
}

#[test]
fn ipam_errors_follow_validate_ipam() {
    use serde_json::json;
    let pools =
        |config: serde_json::Value| rejects(json!({"Name": "p", "IPAM": {"Config": config}}));
    assert_eq!(
        pools(json!([{"Subnet": "10.1.0.0"}])),
        "400 invalid network config:\ninvalid subnet 10.1.0.0: invalid CIDR block notation"
    );
    assert_eq!(
        pools(json!([{}])),
        "400 invalid network config:\ninvalid subnet : invalid CIDR block notation"
    );
    assert_eq!(
        pools(json!([{"Subnet": "10.1.2.3/16"}])),
        "400 invalid network config:\ninvalid subnet 10.1.2.3/16: it should be 10.1.0.0/16"
    );
    expect![[r#"
        400 invalid network config:
        * invalid ip-range 10.0.0.0/8: CIDR block is bigger than its parent subnet 10.1.0.0/16
        * invalid ip-range 10.1.0.1/24: it should be 10.1.0.0/24
        * invalid ip-range 10.2.0.0/24: parent subnet 10.1.0.0/16 doesn't contain ip-range
        * invalid ip-range fd00::/64: parent subnet is an IPv4 block
        * invalid ip-range bogus: invalid CIDR block notation"#]]
    .assert_eq(&pools(json!([
        {"Subnet": "10.1.0.0/16", "IPRange": "10.0.0.0/8"},
        {"Subnet": "10.1.0.0/16", "IPRange": "10.1.0.1/24"},
        {"Subnet": "10.1.0.0/16", "IPRange": "10.2.0.0/24"},
        {"Subnet": "10.1.0.0/16", "IPRange": "fd00::/64"},
        {"Subnet": "10.1.0.0/16", "IPRange": "bogus"}
    ])));
    expect![[r#"
        400 invalid network config:
        * invalid gateway 10.2.0.1: parent subnet 10.1.0.0/16 doesn't contain this address
        * invalid auxiliary address a: invalid address
        * invalid auxiliary address b: parent subnet is an IPv4 block
        * invalid gateway 10.1.0.1/16: invalid address"#]]
    .assert_eq(&pools(json!([
        {"Subnet": "10.1.0.0/16", "Gateway": "10.2.0.1", "AuxiliaryAddresses": {"a": "x", "b": "::1"}},
        {"Subnet": "10.1.0.0/16", "Gateway": "10.1.0.1/16"}
    ])));
    // With IPv6 on, IPv6 pools are checked (and then IPv6 itself is refused).
    assert_eq!(
        rejects(
            json!({"Name": "p", "EnableIPv6": true, "IPAM": {"Config": [{"Subnet": "fd00::1/64"}]}})
        ),
        "400 invalid network config:\ninvalid subnet fd00::1/64: it should be fd00::/64"
    );
}

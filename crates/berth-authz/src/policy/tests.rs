use std::sync::Arc;

use berth_api::ErrorKind;
use berth_middleware::authz::{Authorizer, Peer, RequestBody, RequestInfo};
use bytes::Bytes;
use expect_test::{Expect, expect};
use futures_util::FutureExt;
use http::{HeaderMap, Method};
use serde_json::json;

use super::group::GroupSet;
use super::rule::PathPattern;
use super::*;

pub(super) fn policy(text: &str) -> Policy {
    match text.parse() {
        Ok(policy) => policy,
        Err(err) => panic!("policy should be valid: {err}"),
    }
}

fn check_error(text: &str, expect: Expect) {
    let err = text.parse::<Policy>().expect_err("policy should be invalid");
    expect.assert_eq(&err.to_string());
}

/// A request as the authz layer describes it; anonymous and without a body unless changed.
pub(super) struct Req(RequestInfo);

pub(super) fn req(method: &str, path: &str) -> Req {
    Req(RequestInfo {
        method: Method::from_bytes(method.as_bytes()).expect("method"),
        uri: format!("/v1.51{path}?x=1"),
        path: path.to_owned(),
        headers: HeaderMap::new(),
        body: RequestBody::Empty,
        peer: Arc::new(Peer::default()),
    })
}

impl Req {
    pub(super) fn uid(mut self, uid: u32, gid: u32) -> Self {
        self.0.peer = Arc::new(Peer { uid: Some(uid), gid: Some(gid), ..Peer::default() });
        self
    }

    pub(super) fn cert(mut self, cn: &str, ous: &[&str]) -> Self {
        self.0.peer = Arc::new(Peer {
            certificates: vec![Bytes::from_static(b"der")],
            common_name: Some(cn.to_owned()),
            organizational_units: ous.iter().map(|ou| (*ou).to_owned()).collect(),
            ..Peer::default()
        });
        self
    }

    pub(super) fn json(mut self, body: serde_json::Value) -> Self {
        self.0.body = RequestBody::Json(Bytes::from(body.to_string()));
        self
    }

    pub(super) fn body(mut self, body: RequestBody) -> Self {
        self.0.body = body;
        self
    }
}

/// `"allow"`, or the message of the denial.
pub(super) fn decide(policy: &Policy, req: &Req) -> String {
    match policy.decide(&req.0) {
        Ok(()) => "allow".to_owned(),
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::Forbidden, "{err:?}");
            assert_eq!(err.status(), http::StatusCode::FORBIDDEN);
            err.message().to_owned()
        }
    }
}

#[test]
fn parse_errors_name_the_problem_and_where() {
    check_error(
        "[[rule]]\nname = \"a\"\naction = \"allow\"\nmethod = [\"GET\"]\n",
        expect![[
            r#"invalid authorization policy (line 4, column 1): unknown field `method`, expected one of `name`, `action`, `message`, `methods`, `paths`, `groups`, `uid`, `gid`, `cn`, `ou`, `body`, `body_set`"#
        ]],
    );
    check_error(
        "defualt = \"allow\"\n",
        expect![[
            r#"invalid authorization policy (line 1, column 1): unknown field `defualt`, expected `default` or `rule`"#
        ]],
    );
    check_error(
        "[[rule]]\nname = \"a\"\naction = \"allow\"\n[[rule]]\nname = \"a\"\naction = \"deny\"\n",
        expect![[
            r#"invalid authorization policy (line 5, column 8): rule 2 has the name "a" of rule 1; names must be unique"#
        ]],
    );
    check_error(
        "[[rule]]\nname = \" \"\naction = \"allow\"\n",
        expect![[r#"invalid authorization policy (line 2, column 8): rule 1 has an empty name"#]],
    );
    check_error(
        "[[rule]]\naction = \"allow\"\n",
        expect![[r#"invalid authorization policy (line 1, column 1): missing field `name`"#]],
    );
    check_error(
        "[[rule]]\nname = \"a\"\naction = \"permit\"\n",
        expect![[
            r#"invalid authorization policy (line 3, column 10): unknown variant `permit`, expected `allow` or `deny`"#
        ]],
    );
    check_error(
        "default = \"maybe\"\n",
        expect![[
            r#"invalid authorization policy (line 1, column 11): unknown variant `maybe`, expected `allow` or `deny`"#
        ]],
    );
    check_error(
        "[[rule]]\nname = \"a\"\naction = \"allow\"\ngroups = [\"images\", \"container\"]\n",
        expect![[
            r#"invalid authorization policy (line 4, column 10): unknown API group "container": expected "*" or one of containers, exec, images, volumes, networks, plugins, swarm, system, other"#
        ]],
    );
    check_error(
        "[[rule]]\nname = \"a\"\naction = \"allow\"\ngroups = [\"images:list\"]\n",
        expect![[
            r#"invalid authorization policy (line 4, column 10): unknown access "list" in group "images:list": expected "read" or "write""#
        ]],
    );
    check_error(
        "[[rule]]\nname = \"a\"\naction = \"allow\"\nmethods = [\"get\", \"FETCH\"]\n",
        expect![[
            r#"invalid authorization policy (line 4, column 11): unknown HTTP method "FETCH": expected one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE"#
        ]],
    );
    check_error(
        "[[rule]]\nname = \"a\"\naction = \"allow\"\nuid = []\n",
        expect![[
            r#"invalid authorization policy (line 4, column 7): an empty list matches nothing; leave the matcher out to match everything"#
        ]],
    );
    check_error(
        "[[rule]]\nname = \"a\"\naction = \"allow\"\nuid = [-1]\n",
        expect![[
            r#"invalid authorization policy (line 4, column 8): invalid value: integer `-1`, expected u32"#
        ]],
    );
    check_error(
        "[[rule]]\nname = \"a\"\naction = \"deny\"\nbody = {}\n",
        expect![[
            r#"invalid authorization policy (line 4, column 8): rule "a": an empty body table; leave `body` out to match every body"#
        ]],
    );
    check_error(
        "[[rule]]\nname = \"a\"\naction = \"deny\"\nbody = { \"HostConfig/Privileged\" = true }\n",
        expect![[
            r#"invalid authorization policy (line 4, column 10): JSON pointer "HostConfig/Privileged" does not start with "/""#
        ]],
    );
    check_error(
        "[[rule]]\nname = \"a\"\naction = \"deny\"\nbody_set = [\"/a~2b\"]\n",
        expect![[
            r#"invalid authorization policy (line 4, column 12): JSON pointer "/a~2b": "~" must be followed by 0 or 1 ("~0" is ~, "~1" is /)"#
        ]],
    );
    check_error(
        "[[rule]]\nname = \"a\"\naction = \"deny\"\nbody = { \"/Created\" = 1979-05-27T07:32:00Z }\n",
        expect![[
            r#"invalid authorization policy (line 4, column 23): JSON has no date-time values; write "1979-05-27T07:32:00Z" as a string if the body has one"#
        ]],
    );
    check_error(
        "[[rule]]\nname = \"a\"\naction = \"deny\"\nbody = { \"/x\" = nan }\n",
        expect![[
            r#"invalid authorization policy (line 4, column 17): NaN has no JSON representation"#
        ]],
    );
    check_error(
        "[[rule]\nname = \"a\"\n",
        expect![
            "invalid authorization policy (line 1, column 8): unclosed array table, expected `]`"
        ],
    );
}

#[test]
fn bad_path_patterns_are_rejected() {
    let cases = [
        ("containers/json", "path pattern \"containers/json\" does not start with \"/\""),
        ("/images/**/x/**", "path pattern \"/images/**/x/**\" has more than one \"**\""),
        (
            "/containers/*x",
            "path pattern \"/containers/*x\": \"*\" and \"**\" stand for whole segments, not parts of \"*x\"",
        ),
        (
            "/v1.41/containers/json",
            "path pattern \"/v1.41/containers/json\" starts with an API version; patterns match the path without the /vX.Y prefix",
        ),
        (
            "/containers/json?all=1",
            "path pattern \"/containers/json?all=1\" has a query; patterns match the path without it",
        ),
    ];
    for (pattern, message) in cases {
        assert_eq!(PathPattern::parse(pattern).expect_err(pattern), message);
        let text =
            format!("[[rule]]\nname = \"a\"\naction = \"allow\"\npaths = [\"/ok\", {pattern:?}]\n");
        let err = text.parse::<Policy>().expect_err(pattern).to_string();
        assert!(err.ends_with(message), "{err}");
        assert!(err.contains("(line 4, column 9)"), "{err}");
    }
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("authz.toml");
    std::fs::write(&path, "default = \"allow\"\n[[rule]]\nname = \"x\"\n").expect("write");
    let err = Policy::load(&path).expect_err("missing action");
    assert_eq!(
        err.to_string(),
        format!(
            "invalid authorization policy {} (line 2, column 1): missing field `action`",
            path.display()
        )
    );

    let missing = dir.path().join("nope.toml");
    let err = Policy::load(&missing).expect_err("missing file");
    assert_eq!(err.to_string(), format!("cannot read authorization policy {}", missing.display()));
    let source = std::error::Error::source(&err).expect("io error as source");
    assert!(source.to_string().contains("No such file"), "{source}");

    std::fs::write(&path, "[[rule]]\nname = \"x\"\naction = \"allow\"\n").expect("write");
    let loaded = Policy::load(&path).expect("valid");
    assert_eq!(loaded.rule_names().collect::<Vec<_>>(), ["x"]);
    assert_eq!(loaded.default_action(), Action::Deny);
}

#[test]
fn groups_are_derived_from_the_path() {
    let table = [
        ("/containers/json", Group::Containers),
        ("/containers/create", Group::Containers),
        ("/containers/abc/start", Group::Containers),
        ("/containers/abc/attach", Group::Containers),
        ("/containers/abc", Group::Containers),
        ("/containers/prune", Group::Containers),
        ("/containers/exec", Group::Containers),
        ("/commit", Group::Containers),
        ("/containers/abc/exec", Group::Exec),
        ("/containers/exec/exec", Group::Exec),
        ("/exec/123/start", Group::Exec),
        ("/exec/123/json", Group::Exec),
        ("/exec/123/resize", Group::Exec),
        ("/images/json", Group::Images),
        ("/images/localhost:5000/team/app:1/json", Group::Images),
        ("/images/create", Group::Images),
        ("/build", Group::Images),
        ("/build/prune", Group::Images),
        ("/distribution/busybox/json", Group::Images),
        ("/session", Group::Images),
        ("/grpc", Group::Images),
        ("/volumes", Group::Volumes),
        ("/volumes/create", Group::Volumes),
        ("/networks/abc/connect", Group::Networks),
        ("/plugins/pull", Group::Plugins),
        ("/swarm/init", Group::Swarm),
        ("/nodes", Group::Swarm),
        ("/services/create", Group::Swarm),
        ("/tasks", Group::Swarm),
        ("/secrets/abc", Group::Swarm),
        ("/configs", Group::Swarm),
        ("/_ping", Group::System),
        ("/version", Group::System),
        ("/info", Group::System),
        ("/events", Group::System),
        ("/system/df", Group::System),
        ("/auth", Group::System),
        ("/", Group::Other),
        ("/Containers/json", Group::Other),
        ("/containersx/json", Group::Other),
        ("/nope", Group::Other),
    ];
    for (path, group) in table {
        assert_eq!(Group::of_path(path), group, "{path}");
    }
    assert_eq!(Access::of_request(&Method::GET, "/containers/json"), Access::Read);
    assert_eq!(Access::of_request(&Method::HEAD, "/containers/a/archive"), Access::Read);
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        assert_eq!(Access::of_request(&method, "/containers/json"), Access::Write, "{method}");
    }
    // The attach websocket carries stdin: a GET that writes.
    assert_eq!(Access::of_request(&Method::GET, "/containers/a/attach/ws"), Access::Write);
    assert_eq!(Access::of_request(&Method::GET, "/containers/a/attach"), Access::Read);
    assert_eq!(Access::of_request(&Method::GET, "/images/attach/ws"), Access::Read);
}

#[test]
fn group_spellings_select_group_and_access() {
    let inside = |spec: &str, method: Method, path: &str| {
        GroupSet::parse(spec).expect(spec).intersects(GroupSet::of_request(&method, path))
    };
    assert!(inside("exec", Method::POST, "/exec/1/start"));
    assert!(inside("exec", Method::GET, "/exec/1/json"));
    assert!(!inside("exec", Method::POST, "/containers/1/start"));
    assert!(inside("images:read", Method::HEAD, "/images/x/json"));
    assert!(!inside("images:read", Method::POST, "/images/create"));
    assert!(inside("images:write", Method::DELETE, "/images/x"));
    assert!(!inside("images:write", Method::GET, "/images/json"));
    assert!(inside("*", Method::PUT, "/nope"));
    assert!(inside("*:read", Method::GET, "/nope"));
    assert!(!inside("*:read", Method::POST, "/containers/create"));
    assert!(inside("*:write", Method::POST, "/containers/create"));
    assert!(!inside("*:write", Method::GET, "/_ping"));
}

#[test]
fn path_patterns_match_segments() {
    let cases: [(&str, &[&str], &[&str]); 10] = [
        (
            "/containers/json",
            &["/containers/json"],
            &["/containers/json/x", "/containers", "/containers/jso"],
        ),
        (
            "/containers/*/logs",
            &["/containers/abc/logs", "/containers//logs"],
            &["/containers/logs", "/containers/a/b/logs", "/containers/abc/logs/x"],
        ),
        (
            "/containers/**",
            &["/containers", "/containers/", "/containers/json", "/containers/a/b/c"],
            &["/containersx", "/images/json", "/"],
        ),
        ("/**", &["/", "/anything/at/all"], &[]),
        ("/*", &["/_ping", "/"], &["/a/b"]),
        ("/", &["/"], &["/_ping"]),
        ("/images/*/json", &["/images/busybox/json"], &["/images/library/busybox/json"]),
        // Image names hold slashes: `**` in the middle spans them.
        (
            "/images/**/push",
            &["/images/busybox/push", "/images/localhost:5000/team/app/push", "/images/push"],
            &["/images/app/push/x", "/images/app/tag", "/push"],
        ),
        (
            "/containers/*/**/x",
            &["/containers/a/x", "/containers/a/b/c/x"],
            &["/containers/x", "/containers/a/x/y"],
        ),
        ("/**/json", &["/json", "/containers/json", "/a/b/c/json"], &["/", "/containers/json/x"]),
    ];
    for (pattern, yes, no) in cases {
        let compiled = PathPattern::parse(pattern).expect(pattern);
        for path in yes {
            assert!(compiled.matches(path), "{pattern} should match {path}");
        }
        for path in no {
            assert!(!compiled.matches(path), "{pattern} should not match {path}");
        }
    }
}

#[test]
fn first_matching_rule_decides() {
    let p = policy(
        r#"
        default = "allow"
        [[rule]]
        name = "let-ping"
        action = "allow"
        paths = ["/_ping"]
        [[rule]]
        name = "no-system"
        action = "deny"
        groups = ["system"]
        message = "not here"
        [[rule]]
        name = "no-ping-either"
        action = "deny"
        paths = ["/_ping", "/version"]
        "#,
    );
    assert_eq!(decide(&p, &req("GET", "/_ping")), "allow");
    assert_eq!(
        decide(&p, &req("GET", "/version")),
        r#"authorization denied by policy rule "no-system": not here"#
    );
    assert_eq!(decide(&p, &req("GET", "/containers/json")), "allow");
    assert_eq!(p.rule_names().collect::<Vec<_>>(), ["let-ping", "no-system", "no-ping-either"]);
}

#[test]
fn default_decides_when_no_rule_matches() {
    let deny = policy("[[rule]]\nname = \"ping\"\naction = \"allow\"\npaths = [\"/_ping\"]\n");
    assert_eq!(deny.default_action(), Action::Deny);
    assert_eq!(decide(&deny, &req("GET", "/_ping")), "allow");
    assert_eq!(
        decide(&deny, &req("POST", "/containers/abc/start")),
        "authorization denied by policy: no rule allows POST /containers/abc/start"
    );
    let empty = policy("");
    assert_eq!(
        decide(&empty, &req("GET", "/_ping")),
        "authorization denied by policy: no rule allows GET /_ping"
    );
    let allow = policy("default = \"allow\"\n");
    assert_eq!(allow.default_action(), Action::Allow);
    assert_eq!(decide(&allow, &req("DELETE", "/images/x")), "allow");
    let plain = policy("default = \"allow\"\n[[rule]]\nname = \"x\"\naction = \"deny\"\n");
    assert_eq!(decide(&plain, &req("GET", "/_ping")), r#"authorization denied by policy rule "x""#);
}

#[test]
fn methods_match_in_any_case() {
    let p =
        policy("[[rule]]\nname = \"reads\"\naction = \"allow\"\nmethods = [\"get\", \"Head\"]\n");
    assert_eq!(decide(&p, &req("GET", "/containers/json")), "allow");
    assert_eq!(decide(&p, &req("HEAD", "/containers/a/archive")), "allow");
    assert_ne!(decide(&p, &req("POST", "/containers/create")), "allow");
}

#[test]
fn unix_credentials_match_only_unix_peers() {
    let p = policy(
        r#"
        [[rule]]
        name = "root"
        action = "allow"
        uid = [0]
        [[rule]]
        name = "docker-group"
        action = "allow"
        gid = [998, 999]
        groups = ["*:read"]
        "#,
    );
    assert_eq!(decide(&p, &req("POST", "/containers/create").uid(0, 0)), "allow");
    assert_eq!(decide(&p, &req("GET", "/info").uid(1000, 999)), "allow");
    assert_ne!(decide(&p, &req("POST", "/containers/create").uid(1000, 999)), "allow");
    assert_ne!(decide(&p, &req("GET", "/info").uid(1000, 1000)), "allow");
    // TCP and TLS peers have no credentials: uid 0 rules never match them.
    assert_ne!(decide(&p, &req("GET", "/info")), "allow");
    assert_ne!(decide(&p, &req("GET", "/info").cert("root", &["0"])), "allow");
}

#[test]
fn certificate_subjects_match_only_tls_peers() {
    let p = policy(
        r#"
        [[rule]]
        name = "admin"
        action = "allow"
        cn = ["admin"]
        [[rule]]
        name = "team-web"
        action = "allow"
        ou = ["web", "ops"]
        groups = ["containers"]
        "#,
    );
    assert_eq!(decide(&p, &req("DELETE", "/images/x").cert("admin", &[])), "allow");
    assert_ne!(decide(&p, &req("DELETE", "/images/x").cert("Admin", &[])), "allow");
    assert_eq!(
        decide(&p, &req("POST", "/containers/create").cert("bob", &["dev", "ops"])),
        "allow"
    );
    assert_ne!(decide(&p, &req("POST", "/images/create").cert("bob", &["ops"])), "allow");
    assert_ne!(decide(&p, &req("POST", "/containers/create").cert("bob", &["dev"])), "allow");
    assert_ne!(decide(&p, &req("POST", "/containers/create").uid(0, 0)), "allow");
    assert_ne!(decide(&p, &req("POST", "/containers/create")), "allow");
}

fn privileged_policy() -> Policy {
    policy(
        r#"
        default = "allow"
        [[rule]]
        name = "no-privileged"
        action = "deny"
        paths = ["/containers/create"]
        body = { "/HostConfig/Privileged" = true, "/Image" = "busybox" }
        [[rule]]
        name = "create-needs-a-known-body"
        action = "allow"
        paths = ["/containers/create"]
        body = { "/Image" = "busybox" }
        [[rule]]
        name = "create"
        action = "deny"
        paths = ["/containers/create"]
        "#,
    )
}

#[test]
fn body_matchers_compare_json_values() {
    let p = privileged_policy();
    let create = || req("POST", "/containers/create");
    let denied = r#"authorization denied by policy rule "no-privileged""#;
    assert_eq!(
        decide(&p, &create().json(json!({"Image": "busybox", "HostConfig": {"Privileged": true}}))),
        denied
    );
    assert_eq!(
        decide(
            &p,
            &create().json(json!({"Image": "busybox", "HostConfig": {"Privileged": false}}))
        ),
        "allow"
    );
    // All pairs must be equal.
    assert_eq!(
        decide(&p, &create().json(json!({"Image": "alpine", "HostConfig": {"Privileged": true}}))),
        r#"authorization denied by policy rule "create""#
    );
    // A missing pointer is not equal.
    assert_eq!(decide(&p, &create().json(json!({"Image": "busybox"}))), "allow");
    assert_eq!(
        decide(&p, &create().json(json!({"Image": "busybox", "HostConfig": null}))),
        "allow"
    );
    assert_eq!(
        decide(&p, &create().json(json!(["Image"]))),
        r#"authorization denied by policy rule "create""#
    );
    // Not a boolean: not equal (and the handler refuses it anyway).
    assert_eq!(
        decide(
            &p,
            &create().json(json!({"Image": "busybox", "HostConfig": {"Privileged": "true"}}))
        ),
        "allow"
    );
}

#[test]
fn body_matchers_fail_closed() {
    let p = privileged_policy();
    let create = || req("POST", "/containers/create");
    // No body: no body matcher matches, whatever the action.
    assert_eq!(decide(&p, &create()), r#"authorization denied by policy rule "create""#);
    // Hidden and unparsable bodies: the deny rule applies, the allow rule does not.
    let denied = r#"authorization denied by policy rule "no-privileged""#;
    assert_eq!(decide(&p, &create().body(RequestBody::Hidden)), denied);
    let garbage = RequestBody::Json(Bytes::from_static(b"{\"Image\": \"busybox\", "));
    assert_eq!(decide(&p, &create().body(garbage)), denied);

    let allow_only = policy(
        r#"
        [[rule]]
        name = "busybox"
        action = "allow"
        body = { "/Image" = "busybox" }
        "#,
    );
    let no_rule = "authorization denied by policy: no rule allows POST /containers/create";
    assert_eq!(decide(&allow_only, &create().body(RequestBody::Hidden)), no_rule);
    assert_eq!(
        decide(&allow_only, &create().body(RequestBody::Json(Bytes::from_static(b"nope")))),
        no_rule
    );
    assert_eq!(decide(&allow_only, &create().json(json!({"Image": "busybox"}))), "allow");
}

#[test]
fn body_set_matches_fields_that_are_given() {
    let p = policy(
        r#"
        default = "allow"
        [[rule]]
        name = "no-caps"
        action = "deny"
        body_set = ["/HostConfig/CapAdd", "/HostConfig/Devices"]
        "#,
    );
    let create = |body: serde_json::Value| req("POST", "/containers/create").json(body);
    let denied = r#"authorization denied by policy rule "no-caps""#;
    for body in [
        json!({"HostConfig": {"CapAdd": ["SYS_ADMIN"]}}),
        json!({"HostConfig": {"CapAdd": "NET_ADMIN"}}),
        json!({"HostConfig": {"CapAdd": null, "Devices": [{"PathOnHost": "/dev/kmsg"}]}}),
    ] {
        assert_eq!(decide(&p, &create(body.clone())), denied, "{body}");
    }
    for body in [
        json!({}),
        json!({"HostConfig": {"CapAdd": null, "Devices": []}}),
        json!({"HostConfig": {"CapAdd": [], "Devices": null}}),
        json!({"HostConfig": {"CapAdd": ""}}),
    ] {
        assert_eq!(decide(&p, &create(body.clone())), "allow", "{body}");
    }
    assert_eq!(decide(&p, &req("POST", "/containers/create").body(RequestBody::Hidden)), denied);
    assert_eq!(decide(&p, &req("POST", "/containers/create")), "allow");
}

#[test]
fn numbers_compare_by_value_and_tables_as_objects() {
    let p = policy(
        r#"
        default = "allow"
        [[rule]]
        name = "float"
        action = "deny"
        body = { "/a" = 1.0 }
        [[rule]]
        name = "object"
        action = "deny"
        body = { "/b" = { x = [1, "y"] }, "/c~1d" = -2 }
        [[rule]]
        name = "whole"
        action = "deny"
        body = { "" = [] }
        "#,
    );
    let d = |body: serde_json::Value| decide(&p, &req("POST", "/x").json(body));
    assert_eq!(d(json!({"a": 1})), r#"authorization denied by policy rule "float""#);
    assert_eq!(d(json!({"a": 1.5})), "allow");
    assert_eq!(
        d(json!({"b": {"x": [1.0, "y"]}, "c/d": -2})),
        r#"authorization denied by policy rule "object""#
    );
    assert_eq!(d(json!({"b": {"x": [1, "y"], "z": 0}, "c/d": -2})), "allow");
    assert_eq!(d(json!({"b": {"x": [1, "y"]}, "c/d": 2})), "allow");
    assert_eq!(d(json!([])), r#"authorization denied by policy rule "whole""#);
}

#[test]
fn body_is_not_needed_when_other_matchers_fail() {
    // The deny rule's other matchers fail, so its body matcher is never asked and the hidden
    // body does not make it apply.
    let p = policy(
        r#"
        default = "allow"
        [[rule]]
        name = "ci-privileged"
        action = "deny"
        ou = ["ci"]
        body = { "/HostConfig/Privileged" = true }
        "#,
    );
    let hidden = || req("POST", "/containers/create").body(RequestBody::Hidden);
    assert_eq!(decide(&p, &hidden().cert("dev", &["dev"])), "allow");
    assert_ne!(decide(&p, &hidden().cert("ci", &["ci"])), "allow");
}

#[test]
fn policy_is_an_authorizer() {
    let p = policy("[[rule]]\nname = \"ping\"\naction = \"allow\"\npaths = [\"/_ping\"]\n");
    assert_eq!(p.name(), "policy");
    assert!(!p.inspects_responses());
    let ping = Arc::new(req("GET", "/_ping").0);
    let verdict = p.authorize_request(ping).now_or_never().expect("ready at once");
    assert!(verdict.is_ok());
    let info = Arc::new(req("GET", "/info").0);
    let err = p.authorize_request(info).now_or_never().expect("ready at once").expect_err("denied");
    assert_eq!(err.status(), http::StatusCode::FORBIDDEN);
    assert_eq!(err.message(), "authorization denied by policy: no rule allows GET /info");
}

//! The policies in `docs/authorization.md`, read from the file itself: every TOML block must be
//! a valid policy, and the examples must decide as the text says.

use berth_middleware::authz::RequestBody;
use serde_json::json;

use super::Policy;
use super::tests::{decide, policy, req};

const DOC: &str = include_str!("../../../../docs/authorization.md");

fn toml_blocks() -> Vec<&'static str> {
    let mut blocks = Vec::new();
    let mut rest = DOC;
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + "```toml\n".len()..];
        let end = body.find("```").expect("closed code block");
        blocks.push(&body[..end]);
        rest = &body[end + 3..];
    }
    blocks
}

/// The one TOML block holding `name = "<rule>"`.
fn example(rule: &str) -> Policy {
    let needle = format!("name = \"{rule}\"");
    let found: Vec<_> = toml_blocks().into_iter().filter(|b| b.contains(&needle)).collect();
    assert_eq!(found.len(), 1, "exactly one block defines rule {rule}");
    policy(found[0])
}

/// The text must quote `message` as it is.
fn documented(message: &str) -> &str {
    assert!(DOC.contains(message), "docs/authorization.md does not show {message:?}");
    message
}

#[test]
fn every_toml_block_is_a_valid_policy() {
    let blocks = toml_blocks();
    assert!(blocks.len() >= 4, "{} blocks", blocks.len());
    for block in blocks {
        if let Err(err) = block.parse::<Policy>() {
            panic!("{err}\n{block}");
        }
    }
}

#[test]
fn documented_load_error_is_what_load_says() {
    let text = "default = \"deny\"\n\n[[rule]]\nname = \"x\"\naction = \"allow\"\n\ngroups = [\"container\"]\n";
    let err = text.parse::<Policy>().expect_err("bad group").to_string();
    let shown = err.replace(
        "invalid authorization policy",
        "invalid authorization policy /etc/berth/authz.toml",
    );
    documented(&shown);
}

#[test]
fn format_example() {
    let p = example("monitoring");
    let ci = || req("POST", "/containers/create").cert("runner", &["ci"]);
    assert_eq!(decide(&p, &req("POST", "/containers/create").uid(0, 0)), "allow");
    assert_eq!(decide(&p, &req("GET", "/containers/json").uid(1001, 1001)), "allow");
    assert_eq!(
        decide(&p, &req("POST", "/exec/1/start").cert("runner", &["ci"])),
        documented(
            r#"authorization denied by policy rule "ci-no-exec": CI may not exec into containers"#
        )
    );
    assert_eq!(
        decide(&p, &ci().json(json!({"HostConfig": {"Privileged": true}}))),
        r#"authorization denied by policy rule "ci-no-privileged""#
    );
    // Not denied by a rule, but nothing allows CI either: default deny.
    assert_eq!(
        decide(&p, &ci().json(json!({"HostConfig": {"Privileged": false}}))),
        "authorization denied by policy: no rule allows POST /containers/create"
    );
}

#[test]
fn monitoring_example() {
    let p = example("monitoring-by-uid");
    let agent = |method, path| req(method, path).uid(1001, 1001);
    assert_eq!(decide(&p, &agent("GET", "/containers/json")), "allow");
    assert_eq!(decide(&p, &agent("HEAD", "/_ping")), "allow");
    assert_eq!(decide(&p, &agent("GET", "/events")), "allow");
    assert_eq!(
        decide(&p, &agent("POST", "/containers/web/stop")),
        documented("authorization denied by policy: no rule allows POST /containers/web/stop")
    );
    let no_copies = documented(
        r#"authorization denied by policy rule "no-file-copies": copying files out of containers and images is not allowed"#,
    );
    assert_eq!(decide(&p, &agent("GET", "/containers/web/export")), no_copies);
    assert_eq!(decide(&p, &agent("HEAD", "/containers/web/archive")), no_copies);
    assert_eq!(decide(&p, &agent("GET", "/images/get")), no_copies);
    assert_eq!(decide(&p, &agent("GET", "/images/localhost:5000/team/app/get")), no_copies);
    assert_ne!(decide(&p, &agent("GET", "/containers/web/attach/ws")), "allow");

    let cert = |cn: &str| req("GET", "/info").cert(cn, &[]);
    assert_eq!(decide(&p, &cert("prometheus")), "allow");
    assert_ne!(decide(&p, &cert("grafana")), "allow");
    assert_ne!(decide(&p, &req("POST", "/images/create").cert("prometheus", &[])), "allow");
    // Root may still copy files; an anonymous TCP client may not even ping.
    assert_eq!(decide(&p, &req("GET", "/containers/web/export").uid(0, 0)), "allow");
    assert_ne!(decide(&p, &req("GET", "/_ping")), "allow");
    assert_ne!(decide(&p, &req("GET", "/_ping").uid(1000, 1001)), "allow");
}

#[test]
fn ci_example() {
    let p = example("ci-no-host-access");
    let ci = |method, path| req(method, path).cert("runner-7", &["ci"]);
    let create = |body| ci("POST", "/containers/create").json(body);
    let usual = json!({
        "Image": "rust:1", "Cmd": ["cargo", "test"],
        "HostConfig": {
            "Binds": null, "CapAdd": null, "Devices": [], "DeviceCgroupRules": null,
            "Mounts": null, "VolumesFrom": null, "PidMode": "", "IpcMode": "", "UsernsMode": "",
            "SecurityOpt": null, "CgroupParent": "", "NetworkMode": "default", "Privileged": false
        }
    });
    assert_eq!(decide(&p, &create(usual.clone())), "allow");
    for (method, path) in [
        ("POST", "/images/create"),
        ("POST", "/containers/abc/start"),
        ("POST", "/containers/abc/attach"),
        ("DELETE", "/containers/abc"),
        ("POST", "/volumes/create"),
        ("GET", "/_ping"),
    ] {
        assert_eq!(decide(&p, &ci(method, path)), "allow", "{method} {path}");
    }

    let privileged = documented(
        r#"authorization denied by policy rule "ci-no-privileged": CI may not run privileged containers"#,
    );
    let mut body = usual.clone();
    body["HostConfig"]["Privileged"] = json!(true);
    assert_eq!(decide(&p, &create(body)), privileged);

    let host_access = r#"authorization denied by policy rule "ci-no-host-access": CI containers may not use capabilities, devices, mounts, security options or host namespaces"#;
    for (field, value) in [
        ("CapAdd", json!(["SYS_ADMIN"])),
        ("CapAdd", json!("ALL")),
        ("Devices", json!([{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}])),
        ("DeviceCgroupRules", json!(["b *:* rwm"])),
        ("Binds", json!(["/:/host"])),
        ("Binds", json!(["cache:/cache"])),
        ("Mounts", json!([{"Type": "bind", "Source": "/", "Target": "/host"}])),
        ("VolumesFrom", json!(["other"])),
        ("PidMode", json!("host")),
        ("IpcMode", json!("host")),
        ("UsernsMode", json!("host")),
        ("SecurityOpt", json!(["seccomp=unconfined"])),
        ("CgroupParent", json!("/")),
    ] {
        let mut body = usual.clone();
        body["HostConfig"][field] = value.clone();
        assert_eq!(decide(&p, &create(body)), host_access, "{field}: {value}");
    }
    let mut body = usual.clone();
    body["HostConfig"]["NetworkMode"] = json!("host");
    assert_eq!(
        decide(&p, &create(body)),
        r#"authorization denied by policy rule "ci-no-host-network": CI may not use the host network"#
    );

    assert_eq!(
        decide(&p, &ci("POST", "/containers/abc/exec")),
        documented(
            r#"authorization denied by policy rule "ci-no-exec": CI may not exec into containers"#
        )
    );
    assert_eq!(
        decide(
            &p,
            &ci("POST", "/volumes/create").json(json!({
                "Name": "root", "DriverOpts": {"type": "none", "o": "bind", "device": "/"}
            }))
        ),
        r#"authorization denied by policy rule "ci-no-volume-options": CI may only create plain volumes"#
    );
    assert_eq!(decide(&p, &ci("POST", "/volumes/create").json(json!({"Name": "cache"}))), "allow");
    assert_eq!(
        decide(&p, &ci("POST", "/plugins/pull")),
        r#"authorization denied by policy rule "ci-no-daemon-changes""#
    );
    assert_eq!(decide(&p, &ci("GET", "/swarm")), "allow");
    // A body Berth cannot read is refused by the first deny rule with a body matcher.
    assert_eq!(decide(&p, &ci("POST", "/containers/create").body(RequestBody::Hidden)), privileged);
    // Other OUs are not CI, and get nothing.
    assert_eq!(
        decide(&p, &req("POST", "/containers/abc/exec").cert("x", &["dev"])),
        "authorization denied by policy: no rule allows POST /containers/abc/exec"
    );
}

#[test]
fn teams_example() {
    let p = example("team-dev");
    let person = |ous: &[&str], method, path| req(method, path).cert("alice", ous);
    assert_eq!(decide(&p, &person(&["ops"], "POST", "/plugins/pull")), "allow");
    assert_eq!(decide(&p, &person(&["dev"], "POST", "/exec/1/start")), "allow");
    assert_eq!(decide(&p, &person(&["dev"], "POST", "/networks/create")), "allow");
    assert_eq!(decide(&p, &person(&["dev"], "POST", "/auth")), "allow");
    assert_eq!(
        decide(&p, &person(&["dev"], "POST", "/swarm/init")),
        "authorization denied by policy: no rule allows POST /swarm/init"
    );
    assert_eq!(
        decide(
            &p,
            &person(&["dev"], "POST", "/containers/create")
                .json(json!({"HostConfig": {"Privileged": true}}))
        ),
        r#"authorization denied by policy rule "team-dev-no-privileged": ask ops"#
    );
    assert_eq!(decide(&p, &person(&["audit"], "GET", "/containers/json")), "allow");
    assert_ne!(decide(&p, &person(&["audit"], "POST", "/containers/abc/stop")), "allow");
    // Several OUs: the first rule that matches any of them decides.
    assert_eq!(decide(&p, &person(&["audit", "dev"], "POST", "/containers/abc/stop")), "allow");
    assert_eq!(decide(&p, &person(&["dev", "ops"], "POST", "/plugins/pull")), "allow");
    assert_ne!(decide(&p, &req("GET", "/containers/json")), "allow");
}

use super::*;

/// Every accepted form, with its canonical string.
#[test]
fn parse_accepts() {
    let cases: &[(&str, &str)] = &[
        // blank: the default socket
        ("", "unix:///var/run/berth.sock"),
        ("   ", "unix:///var/run/berth.sock"),
        // no scheme: tcp
        (":5555", "tcp://localhost:5555"),
        ("0.0.0.1:5555", "tcp://0.0.0.1:5555"),
        ("[::1]", "tcp://[::1]:2375"),
        ("[::1]:5555", "tcp://[::1]:5555"),
        ("localhost", "tcp://localhost:2375"),
        ("example.com:", "tcp://example.com:2375"),
        (" 10.0.0.1:2376 ", "tcp://10.0.0.1:2376"),
        // tcp: missing host -> localhost, missing port -> 2375
        ("tcp://", "tcp://localhost:2375"),
        ("tcp://:2375", "tcp://localhost:2375"),
        ("tcp://:7777", "tcp://localhost:7777"),
        ("tcp://0.0.0.0", "tcp://0.0.0.0:2375"),
        ("tcp://0.0.0.0:2376", "tcp://0.0.0.0:2376"),
        ("tcp://[::]:2376", "tcp://[::]:2376"),
        ("tcp://[fe80::1]", "tcp://[fe80::1]:2375"),
        ("tcp://host.example:1", "tcp://host.example:1"),
        // out-of-range ports pass parsing and fail at bind, as in dockerd
        ("tcp://localhost:99999", "tcp://localhost:99999"),
        // unix: empty is our default socket, relative paths allowed
        ("unix://", "unix:///var/run/berth.sock"),
        ("unix:///run/x.sock", "unix:///run/x.sock"),
        ("unix://relative/x.sock", "unix://relative/x.sock"),
        ("unix:///var/run/docker.sock", "unix:///var/run/docker.sock"),
        // fd
        ("fd://", "fd://"),
        ("fd://*", "fd://"),
        ("fd://3", "fd://3"),
        ("fd://12", "fd://12"),
    ];
    for (input, want) in cases {
        let host = Host::parse(input).unwrap_or_else(|e| panic!("{input:?}: unexpected error {e}"));
        assert_eq!(host.to_string(), *want, "input {input:?}");
        // The canonical form parses to the same host.
        assert_eq!(Host::parse(&host.to_string()).ok(), Some(host), "round trip of {input:?}");
    }
}

#[test]
fn parse_variants() {
    let cases: &[(&str, Host)] = &[
        ("tcp://:1", Host::Tcp("localhost:1".into())),
        ("[::1]", Host::Tcp("[::1]:2375".into())),
        ("unix:///a/b", Host::Unix("/a/b".into())),
        ("fd://", Host::Fd(FdSpec::All)),
        ("fd://*", Host::Fd(FdSpec::All)),
        ("fd://4", Host::Fd(FdSpec::One(4))),
    ];
    for (input, want) in cases {
        assert_eq!(Host::parse(input).as_ref(), Ok(want), "input {input:?}");
    }
}

/// Every rejected form, with dockerd's message.
#[test]
fn parse_rejects() {
    let cases: &[(&str, &str)] = &[
        (
            "tcp://localhost:2375/",
            "invalid bind address (tcp://localhost:2375/): should not contain a path element",
        ),
        (
            "tcp://localhost/path",
            "invalid bind address (tcp://localhost/path): should not contain a path element",
        ),
        (
            "localhost:5555/path",
            "invalid bind address (localhost:5555/path): should not contain a path element",
        ),
        ("tcp://localhost:0", "invalid bind address (tcp://localhost:0): invalid port: 0"),
        ("tcp://localhost:000", "invalid bind address (tcp://localhost:000): invalid port: 000"),
        ("tcp://localhost:abc", "invalid bind address (tcp://localhost:abc): invalid port: abc"),
        ("tcp://localhost:-1", "invalid bind address (tcp://localhost:-1): invalid port: -1"),
        ("tcp://[::1]x", "invalid bind address (tcp://[::1]x): invalid port: x"),
        ("tcp://[::1", "invalid bind address (tcp://[::1): missing ']' in host"),
        (":0", "invalid bind address (:0): invalid port: 0"),
        // Found by the `host` fuzz target: shown as `tcp://[]\n:\n:\n]:2375`, which did not parse.
        ("]\n:\n:\n:", "invalid bind address (]\n:\n:\n:): unexpected ']' in host"),
        ("tcp://a]:1", "invalid bind address (tcp://a]:1): unexpected ']' in host"),
        ("tcp://[a[b]:1", "invalid bind address (tcp://[a[b]:1): unexpected '[' in host"),
        ("unix://tcp://x", "invalid unix address: tcp://x"),
        ("unix:///a://b", "invalid unix address: /a://b"),
        ("fd://three", "failed to parse systemd fd address: should be a number: three"),
        ("fd://-1", "failed to parse systemd fd address: should be a number: -1"),
        ("fd://3/", "failed to parse systemd fd address: should be a number: 3/"),
        ("udp://0.0.0.0:1", "invalid bind address (udp://0.0.0.0:1): unsupported proto 'udp'"),
        (
            "npipe:////./pipe/docker_engine",
            "invalid bind address (npipe:////./pipe/docker_engine): unsupported proto 'npipe'",
        ),
        ("ssh://host", "invalid bind address (ssh://host): unsupported proto 'ssh'"),
        ("TCP://host:1", "invalid bind address (TCP://host:1): unsupported proto 'TCP'"),
        ("://host", "invalid bind address (://host): unsupported proto ''"),
    ];
    for (input, want) in cases {
        match Host::parse(input) {
            Ok(host) => panic!("{input:?}: expected an error, got {host}"),
            Err(e) => assert_eq!(e.to_string(), *want, "input {input:?}"),
        }
    }
}

#[test]
fn parse_hosts_defaults() {
    let cases: &[(&[&str], bool, &[&str])] = &[
        (&[], false, &["unix:///var/run/berth.sock"]),
        // with TLS and no -H, dockerd listens only on tcp://localhost:2376
        (&[], true, &["tcp://localhost:2376"]),
        (&[""], true, &["tcp://localhost:2376"]),
        (&[" "], false, &["unix:///var/run/berth.sock"]),
        // an explicit tcp host without a port gets 2375, even with TLS
        (&["tcp://0.0.0.0"], true, &["tcp://0.0.0.0:2375"]),
    ];
    for (input, tls, want) in cases {
        let input: Vec<String> = input.iter().map(|s| s.to_string()).collect();
        let got: Vec<String> =
            parse_hosts(&input, *tls).expect("valid hosts").iter().map(Host::to_string).collect();
        assert_eq!(got, *want, "input {input:?} tls {tls}");
    }
}

#[test]
fn parse_hosts_dedups_and_sorts() {
    let input: Vec<String> = [
        "unix:///run/b.sock",
        "tcp://:2375",
        "fd://*",
        "localhost:2375",
        "unix:///run/a.sock",
        "fd://",
        "tcp://localhost",
        "fd://3",
        "unix:///run/b.sock",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let got: Vec<String> =
        parse_hosts(&input, false).expect("valid hosts").iter().map(Host::to_string).collect();
    assert_eq!(
        got,
        ["fd://", "fd://3", "tcp://localhost:2375", "unix:///run/a.sock", "unix:///run/b.sock",]
    );
}

#[test]
fn parse_hosts_reports_the_first_bad_host() {
    let input = vec!["unix:///ok.sock".to_owned(), "tcp://x:0".to_owned()];
    let err = parse_hosts(&input, false).expect_err("port 0 is invalid");
    assert_eq!(err.to_string(), "invalid bind address (tcp://x:0): invalid port: 0");
}

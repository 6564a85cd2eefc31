//! Where plugins are found, in which order, and what their files mean.

use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use super::{Dirs, NAME, write};
use crate::plugin::{PluginAddr, PluginDirs, PluginError, TlsSpec};

fn bind(path: &std::path::Path) -> UnixListener {
    std::fs::create_dir_all(path.parent().expect("socket has a directory")).expect("mkdir");
    UnixListener::bind(path).expect("bind socket")
}

fn tcp(port: u16) -> PluginAddr {
    PluginAddr::Tcp { host: "127.0.0.1".to_owned(), port }
}

#[test]
fn default_dirs_are_dockerds() {
    let dirs = PluginDirs::default();
    assert_eq!(dirs.sockets, PathBuf::from("/run/docker/plugins"));
    assert_eq!(
        dirs.specs,
        [PathBuf::from("/etc/docker/plugins"), PathBuf::from("/usr/lib/docker/plugins")]
    );
}

#[test]
fn sockets_come_first_then_spec_files_in_dockerd_order() {
    let d = Dirs::new();
    let dirs = d.plugin_dirs();
    let files = [
        (d.usr().join(format!("{NAME}.spec")), "tcp://127.0.0.1:8"),
        (d.etc().join(NAME).join(format!("{NAME}.json")), r#"{"Addr":"tcp://127.0.0.1:7"}"#),
        (d.etc().join(format!("{NAME}.json")), r#"{"Addr":"tcp://127.0.0.1:6"}"#),
        (d.etc().join(NAME).join(format!("{NAME}.spec")), "tcp://127.0.0.1:5"),
        (d.etc().join(format!("{NAME}.spec")), "tcp://127.0.0.1:4"),
    ];
    for (path, contents) in &files {
        write(path, contents);
    }
    let nested = d.sockets().join(NAME).join(format!("{NAME}.sock"));
    let _nested = bind(&nested);
    let _root = bind(&d.socket());

    // Remove the winner each time: the next in line must be found.
    let found = dirs.find(NAME).expect("root socket");
    assert_eq!(found.addr, PluginAddr::Unix(d.socket()));
    assert_eq!(found.found_at, d.socket());
    std::fs::remove_file(d.socket()).expect("rm");
    assert_eq!(dirs.find(NAME).expect("nested socket").addr, PluginAddr::Unix(nested.clone()));
    std::fs::remove_file(&nested).expect("rm");
    for (i, (path, _)) in files.iter().enumerate().rev() {
        let found = dirs.find(NAME).expect("a spec file");
        assert_eq!(found.addr, tcp(8 - i as u16), "{}", path.display());
        assert_eq!(&found.found_at, path);
        std::fs::remove_file(path).expect("rm");
    }
    assert!(matches!(dirs.find(NAME), Err(PluginError::NotFound { .. })));
}

#[test]
fn a_socket_path_that_is_not_a_socket_is_skipped() {
    let d = Dirs::new();
    write(&d.socket(), "not a socket");
    write(&d.etc().join(format!("{NAME}.spec")), "tcp://127.0.0.1:9");
    assert_eq!(d.plugin_dirs().find(NAME).expect("spec").addr, tcp(9));
}

#[test]
fn spec_files_hold_a_url_with_a_scheme() {
    let d = Dirs::new();
    let spec = d.etc().join(format!("{NAME}.spec"));
    let cases = [
        ("  tcp://127.0.0.1:2375\n", tcp(2375)),
        ("http://plugin.example:81", PluginAddr::Tcp { host: "plugin.example".into(), port: 81 }),
        ("tcp://[::1]:90", PluginAddr::Tcp { host: "::1".into(), port: 90 }),
        ("https://plugin.example", PluginAddr::Https { host: "plugin.example".into(), port: 443 }),
        ("https://10.0.0.1:8443/", PluginAddr::Https { host: "10.0.0.1".into(), port: 8443 }),
        ("unix:///run/p/x.sock", PluginAddr::Unix(PathBuf::from("/run/p/x.sock"))),
    ];
    for (contents, addr) in cases {
        write(&spec, contents);
        let found = d.plugin_dirs().find(NAME).expect(contents);
        assert_eq!(found.addr, addr, "{contents:?}");
        // dockerd's local plugins skip verification.
        assert_eq!(found.tls, Some(TlsSpec { insecure_skip_verify: true, ..TlsSpec::default() }));
    }
}

#[test]
fn addresses_print_as_what_parses_back() {
    for text in ["tcp://[::1]:90", "https://plugin.example", "unix:///run/p/x.sock", "x://h:1"] {
        let addr = PluginAddr::parse(text).expect(text);
        assert_eq!(PluginAddr::parse(&addr.to_string()), Ok(addr), "{text:?}");
    }
    // Found by the `host` fuzz target: this printed as `tcp://[1j]jjjjjj:]:11`, which does not
    // parse; a bracket outside an IPv6 literal is refused instead.
    for text in [":\u{1}\u{19}p://1j]jjjjjj::11", "tcp://a]b:1", "tcp://[a[b]:1"] {
        assert_eq!(
            PluginAddr::parse(text),
            Err(format!("invalid host and port in {text}")),
            "{text:?}"
        );
    }
}

#[test]
fn a_spec_without_scheme_is_an_unknown_protocol() {
    let d = Dirs::new();
    let spec = d.etc().join(format!("{NAME}.spec"));
    write(&spec, "127.0.0.1:8080\n");
    // A later, valid file does not rescue an invalid first one.
    write(&d.usr().join(format!("{NAME}.spec")), "tcp://127.0.0.1:1");
    let err = d.plugin_dirs().find(NAME).expect_err("no scheme");
    assert!(matches!(err, PluginError::InvalidSpec { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("plugin {NAME}: invalid plugin file {}: Unknown protocol", spec.display())
    );
}

#[test]
fn json_files_carry_tls_settings() {
    let d = Dirs::new();
    let json = d.etc().join(format!("{NAME}.json"));
    let https = PluginAddr::Https { host: "authz.example".into(), port: 8443 };

    write(
        &json,
        r#"{"Name":"other","Addr":"https://authz.example:8443",
            "TLSConfig":{"CAFile":"/pki/ca.pem","CertFile":"/pki/c.pem","KeyFile":"/pki/k.pem"}}"#,
    );
    let found = d.plugin_dirs().find(NAME).expect("json");
    assert_eq!(found.name, NAME, "the configured name wins over the file's");
    assert_eq!(found.addr, https);
    assert_eq!(
        found.tls,
        Some(TlsSpec {
            ca_file: Some("/pki/ca.pem".into()),
            cert_file: Some("/pki/c.pem".into()),
            key_file: Some("/pki/k.pem".into()),
            insecure_skip_verify: false,
        })
    );

    // A TLSConfig without a CA file means no verification; an empty string is no file.
    for tls in [r#"{}"#, r#"{"CAFile":"","InsecureSkipVerify":false}"#] {
        write(&json, &format!(r#"{{"Addr":"https://authz.example:8443","TLSConfig":{tls}}}"#));
        let found = d.plugin_dirs().find(NAME).expect("json");
        assert_eq!(found.tls, Some(TlsSpec { insecure_skip_verify: true, ..TlsSpec::default() }));
    }

    // No TLSConfig at all: verify against the system roots.
    write(&json, r#"{"Addr":"https://authz.example:8443"}"#);
    assert_eq!(d.plugin_dirs().find(NAME).expect("json").tls, None);

    write(&json, r#"{"Addr": "#);
    let err = d.plugin_dirs().find(NAME).expect_err("truncated json");
    assert!(matches!(err, PluginError::InvalidSpec { .. }), "{err:?}");
    write(&json, r#"{"Addr":"authz.example:8443"}"#);
    let err = d.plugin_dirs().find(NAME).expect_err("no scheme");
    assert!(err.to_string().ends_with(": Unknown protocol"), "{err}");
}

#[test]
fn not_found_names_the_plugin_and_the_directories() {
    let d = Dirs::new();
    let err = d.plugin_dirs().find(NAME).expect_err("nothing there");
    assert_eq!(
        err.to_string(),
        format!(
            "plugin {NAME} not found in {}, {}, {}",
            d.sockets().display(),
            d.etc().display(),
            d.usr().display()
        )
    );
}

#[test]
fn names_cannot_escape_the_directories() {
    let d = Dirs::new();
    // A spec file one level up that `../NAME` would reach.
    write(&d.scratch(&format!("{NAME}.spec")), "tcp://127.0.0.1:1");
    for name in ["", "a/b", "..", format!("../{NAME}").as_str(), "x..y", "/abs"] {
        let err = d.plugin_dirs().find(name).expect_err(name);
        assert!(matches!(err, PluginError::InvalidName { .. }), "{name:?}: {err:?}");
    }
    let err = d.plugin_dirs().find("a/b").expect_err("slash");
    assert_eq!(
        err.to_string(),
        r#"invalid authorization plugin name "a/b": it must be non-empty and contain neither '/' nor '..'"#
    );
}

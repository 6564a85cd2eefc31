// figment's Jail closures return figment::Error, which is large; that is its API, not ours.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;

use figment::Jail;
use figment::providers::Env;

use super::*;

fn flags_with_file(path: &str) -> Flags {
    Flags { config_file: Some(PathBuf::from(path)), ..Flags::default() }
}

fn load_in(jail: &Jail, flags: &Flags) -> Result<Config, ConfigError> {
    let _ = jail;
    Config::load_with_env(flags, Env::prefixed("BERTH_"))
}

#[test]
fn missing_default_file_gives_defaults() {
    Jail::expect_with(|jail| {
        let flags = Flags { config_file: None, ..Flags::default() };
        // The default path may exist on a developer machine; only check the flag-free parts we own.
        let config = Config::load_with_env(&flags, Env::prefixed("BERTH_UNSET_PREFIX_"));
        if !Path::new(DEFAULT_CONFIG_FILE).exists() {
            let config = config.expect("defaults load");
            assert_eq!(config, Config::default());
        }
        let _ = jail;
        Ok(())
    });
}

#[test]
fn explicit_missing_file_is_an_error() {
    Jail::expect_with(|jail| {
        let err = load_in(jail, &flags_with_file("nope.json")).expect_err("missing file");
        assert!(err.to_string().contains("nope.json"), "{err}");
        Ok(())
    });
}

#[test]
fn layering_defaults_file_env_flags() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "daemon.json",
            r#"{"debug": true, "labels": ["a=1"], "shutdown-timeout": 30, "log-level": "warn"}"#,
        )?;
        jail.set_env("BERTH_SHUTDOWN_TIMEOUT", "40");
        jail.set_env("BERTH_NOT_A_KEY", "ignored");
        let mut flags = flags_with_file("daemon.json");
        flags.experimental = Some(true);
        let config = load_in(jail, &flags).expect("loads");
        assert!(config.debug, "from file");
        assert_eq!(config.labels, vec!["a=1".to_owned()]);
        assert_eq!(config.shutdown_timeout, 40, "env beats file");
        assert!(config.experimental, "flag");
        assert_eq!(config.log_level, "warn");
        assert_eq!(config.group, "docker", "default");
        Ok(())
    });
}

#[test]
fn flag_and_file_conflict_names_the_key() {
    Jail::expect_with(|jail| {
        jail.create_file("daemon.json", r#"{"debug": false}"#)?;
        let mut flags = flags_with_file("daemon.json");
        flags.debug = Some(true);
        let err = load_in(jail, &flags).expect_err("conflict");
        let text = err.to_string();
        assert!(text.contains("debug: (from flag: true, from file: false)"), "{text}");
        Ok(())
    });
}

#[test]
fn unknown_key_is_named() {
    Jail::expect_with(|jail| {
        jail.create_file("daemon.json", r#"{"debug": true, "colour": "blue"}"#)?;
        let err = load_in(jail, &flags_with_file("daemon.json")).expect_err("unknown key");
        assert!(err.to_string().contains("colour"), "{err}");
        Ok(())
    });
}

#[test]
fn bad_values_are_rejected_with_reasons() {
    Jail::expect_with(|jail| {
        for (body, needle) in [
            (r#"{"log-level": "loud"}"#, "log-level"),
            (r#"{"labels": ["novalue"]}"#, "novalue"),
            (r#"{"api-cors-header": "not an origin"}"#, "not an origin"),
            (r#"{"hosts": ["ftp://x"]}"#, "ftp"),
            (r#"{"debug": "#, "not valid JSON"),
            (r#"[1]"#, "JSON object"),
            (r#"{"log-format": "xml"}"#, "xml"),
        ] {
            jail.create_file("daemon.json", body)?;
            let err = load_in(jail, &flags_with_file("daemon.json")).expect_err(body);
            assert!(err.to_string().contains(needle), "{body}: {err}");
        }
        Ok(())
    });
}

#[test]
fn cors_accepts_string_or_list() {
    Jail::expect_with(|jail| {
        jail.create_file("daemon.json", r#"{"api-cors-header": "https://a.example, *"}"#)?;
        let c = load_in(jail, &flags_with_file("daemon.json")).expect("string");
        assert_eq!(c.api_cors_header, vec!["https://a.example".to_owned(), "*".to_owned()]);
        jail.create_file("daemon.json", r#"{"api-cors-header": ["https://b.example"]}"#)?;
        let c = load_in(jail, &flags_with_file("daemon.json")).expect("list");
        assert_eq!(c.api_cors_header, vec!["https://b.example".to_owned()]);
        Ok(())
    });
}

#[test]
fn tls_alone_implies_verify_unless_disabled() {
    let mut c = Config { tls: Some(true), ..Config::default() };
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::write(dir.path().join(name), "x").expect("write");
    }
    c.tlscert = Some(dir.path().join("cert.pem"));
    c.tlskey = Some(dir.path().join("key.pem"));
    c.tlscacert = Some(dir.path().join("ca.pem"));
    assert!(c.tls_settings().expect("tls").verify);
    c.tlsverify = Some(false);
    assert!(!c.tls_settings().expect("tls").verify);
    c.tlskey = Some(dir.path().join("missing.pem"));
    assert!(c.tls_settings().expect_err("missing key").to_string().contains("missing.pem"));
}

#[test]
fn log_directive_follows_debug_and_level() {
    let mut c = Config::default();
    assert!(c.log_directive().starts_with("info,"));
    c.log_level = "fatal".into();
    assert!(c.log_directive().starts_with("error,"));
    c.debug = true;
    assert!(c.log_directive().starts_with("debug,"));
    assert_eq!(Config { shutdown_timeout: -1, ..Config::default() }.shutdown_timeout(), None);
}

//! `-H` addresses (`berth_listeners::Host`, `parse_hosts`) and authorization plugin addresses
//! (the `Addr` of a plugin spec file). A parsed address shows in canonical form, and that form
//! parses back to the same address.

#![no_main]

use berth_listeners::{Host, parse_hosts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(host) = Host::parse(text) {
        let shown = host.to_string();
        let again = Host::parse(&shown)
            .unwrap_or_else(|err| panic!("{text:?} parsed as {shown:?}, which fails: {err}"));
        assert_eq!(again, host, "{text:?} parsed as {shown:?}");
    }
    // A daemon.json "hosts" list, one value per line.
    let hosts: Vec<String> = text.split('\n').map(str::to_owned).collect();
    for tls in [false, true] {
        if let Ok(parsed) = parse_hosts(&hosts, tls) {
            assert!(!parsed.is_empty(), "{hosts:?} parsed as no host");
            assert!(parsed.windows(2).all(|w| w[0].to_string() < w[1].to_string()), "{parsed:?}");
        }
    }
    if let Ok(addr) = berth_authz::fuzzing::plugin_addr(text) {
        let shown = addr.to_string();
        let again = berth_authz::fuzzing::plugin_addr(&shown)
            .unwrap_or_else(|err| panic!("{text:?} parsed as {shown:?}, which fails: {err}"));
        assert_eq!(again, addr, "{text:?} parsed as {shown:?}");
    }
});

//! Go path rules and the lexical resolver.

use super::Fixture;
use crate::fs::paths::{
    archive_path, clean_abs, clean_entry_name, go_base, preserve_trailing, resolve_in_root,
};

#[test]
fn paths_are_cleaned_as_go_joins_them_with_slash() {
    let table = [
        ("etc/hostname", "/etc/hostname"),
        ("/etc//./hostname", "/etc/hostname"),
        ("/../../etc", "/etc"),
        ("/a/b/../../..", "/"),
        ("", "/"),
        (".", "/"),
        ("/etc/", "/etc"),
    ];
    for (input, want) in table {
        assert_eq!(clean_abs(input), want, "{input:?}");
    }
}

#[test]
fn base_names_follow_go() {
    let table = [("/etc/", "etc"), ("/", "/"), ("/etc/.", "."), ("", "."), ("a", "a"), ("//", "/")];
    for (input, want) in table {
        assert_eq!(go_base(input), want, "{input:?}");
    }
}

#[test]
fn trailing_slash_and_dot_survive_cleaning() {
    assert_eq!(preserve_trailing("/etc", "/etc/"), "/etc/");
    assert_eq!(preserve_trailing("/etc", "/etc/."), "/etc/.");
    assert_eq!(preserve_trailing("/", "."), "/.");
    assert_eq!(preserve_trailing("/etc", "/etc"), "/etc");
    assert_eq!(archive_path("etc/./"), "/etc/./", "Go keeps both");
    assert_eq!(archive_path("/var/log/."), "/var/log/.");
    assert_eq!(archive_path("/"), "/");
}

#[test]
fn entry_names_are_cleaned_and_escapes_refused() {
    let ok = |name: &str| {
        clean_entry_name(name.as_bytes()).map(|n| n.map(|n| String::from_utf8(n).expect("utf8")))
    };
    assert_eq!(ok("/abs/file"), Ok(Some("abs/file".to_owned())));
    assert_eq!(ok("./a/./b/"), Ok(Some("a/b".to_owned())));
    assert_eq!(ok("a/../b"), Ok(Some("b".to_owned())));
    assert_eq!(ok("./"), Ok(None));
    assert_eq!(ok("../x"), Err(()));
    assert_eq!(ok("a/../../x"), Err(()));
    assert_eq!(ok("/../x"), Err(()));
}

#[test]
fn plain_paths_resolve_below_the_root() {
    let f = Fixture::new();
    f.file("/a/b", "x");
    let got = resolve_in_root(&f.root, "/a/b", false).expect("resolve");
    assert_eq!(got, f.at("a/b"));
    let got = resolve_in_root(&f.root, "a/./b/", false).expect("resolve");
    assert_eq!(got, f.at("a/b"));
}

#[test]
fn a_link_to_slash_stays_in_the_root() {
    let f = Fixture::new();
    f.symlink("/etc", "/").file("/passwd", "container's");
    let got = resolve_in_root(&f.root, "/etc/passwd", false).expect("resolve");
    assert_eq!(got, f.at("passwd"));
    let got = resolve_in_root(&f.root, "/etc", true).expect("resolve");
    assert_eq!(got, f.root);
}

#[test]
fn dot_dot_links_cannot_climb_out() {
    let f = Fixture::new();
    f.symlink("/a", "../../../..");
    assert_eq!(resolve_in_root(&f.root, "/a/x", false).expect("resolve"), f.at("x"));
    f.symlink("/deep/er", "../../../../../../../../../");
    assert_eq!(
        resolve_in_root(&f.root, "/deep/er/sentinel", true).expect("resolve"),
        f.at("sentinel")
    );
    assert_eq!(resolve_in_root(&f.root, "/../../../x", false).expect("resolve"), f.at("x"));
    // A link to the host's absolute path lands at the same path inside the root.
    let host = f.host_path();
    f.symlink("/h", &host);
    let got = resolve_in_root(&f.root, "/h/sentinel", true).expect("resolve");
    assert_eq!(got, f.root.join(host.trim_start_matches('/')).join("sentinel"));
}

#[test]
fn absolute_links_are_taken_from_the_root() {
    let f = Fixture::new();
    f.symlink("/link", "/etc/passwd");
    assert_eq!(resolve_in_root(&f.root, "/link", true).expect("resolve"), f.at("etc/passwd"));
    // The last element is not followed unless asked to (or by a trailing slash).
    assert_eq!(resolve_in_root(&f.root, "/link", false).expect("resolve"), f.at("link"));
    f.symlink("/dirlink", "/var/lib");
    assert_eq!(resolve_in_root(&f.root, "/dirlink/", false).expect("resolve"), f.at("var/lib"));
    assert_eq!(resolve_in_root(&f.root, "/dirlink/.", false).expect("resolve"), f.at("var/lib"));
}

#[test]
fn relative_links_resolve_from_their_directory() {
    let f = Fixture::new();
    f.dir("/c").symlink("/a/b", "../c").symlink("/a/up", "..");
    assert_eq!(resolve_in_root(&f.root, "/a/b/f", false).expect("resolve"), f.at("c/f"));
    // `..` after a link climbs from the link's target, as the kernel does.
    assert_eq!(resolve_in_root(&f.root, "/a/b/../x", false).expect("resolve"), f.at("x"));
    assert_eq!(resolve_in_root(&f.root, "/a/up/c", false).expect("resolve"), f.at("c"));
}

#[test]
fn dangling_links_resolve_as_far_as_they_go() {
    let f = Fixture::new();
    f.symlink("/d", "/missing/dir");
    assert_eq!(resolve_in_root(&f.root, "/d/x", false).expect("resolve"), f.at("missing/dir/x"));
}

#[test]
fn link_loops_are_an_error() {
    let f = Fixture::new();
    f.symlink("/a", "b").symlink("/b", "a").symlink("/self", "/self");
    for path in ["/a", "/b/x", "/self"] {
        let err = resolve_in_root(&f.root, path, true).expect_err("a loop");
        assert_eq!(err.status().as_u16(), 500);
        assert!(err.message().contains("too many symbolic links"), "{}", err.message());
    }
}

//! gorilla/mux's greedy route variables, by hand: which dockerd route a path under `/images/` or
//! `/distribution/` selects, and the `{name:.*}` it captures.

use berth_http::percent_decode;

/// The part of `uri_path` after `prefix`, percent-decoded: gorilla matches on the decoded path,
/// so `%2F` separates segments like `/` does.
pub(crate) fn name_after(uri_path: &str, prefix: &str) -> String {
    percent_decode(uri_path.strip_prefix(prefix).unwrap_or(""))
}

/// The `GET /images/{name:.*}/...` routes, in dockerd's registration order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GetRoute<'a> {
    /// `/images/{name}/get`.
    Save(&'a str),
    /// `/images/{name}/history`.
    History(&'a str),
    /// `/images/{name}/json`.
    Inspect(&'a str),
}

/// Picks the `GET` route for `rest` (the path after `/images/`); `None` is dockerd's 404.
pub(crate) fn get_route(rest: &str) -> Option<GetRoute<'_>> {
    if let Some(name) = rest.strip_suffix("/get") {
        return Some(GetRoute::Save(name));
    }
    if let Some(name) = rest.strip_suffix("/history") {
        return Some(GetRoute::History(name));
    }
    rest.strip_suffix("/json").map(GetRoute::Inspect)
}

/// The `POST /images/{name:.*}/...` routes, in dockerd's registration order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PostRoute<'a> {
    /// `/images/{name}/push`.
    Push(&'a str),
    /// `/images/{name}/tag`.
    Tag(&'a str),
}

/// Picks the `POST` route for `rest` (the path after `/images/`); `None` is dockerd's 404.
pub(crate) fn post_route(rest: &str) -> Option<PostRoute<'_>> {
    if let Some(name) = rest.strip_suffix("/push") {
        return Some(PostRoute::Push(name));
    }
    rest.strip_suffix("/tag").map(PostRoute::Tag)
}

/// `/distribution/{name:.*}/json`: the name, or `None` for dockerd's 404.
pub(crate) fn distribution_name(rest: &str) -> Option<&str> {
    rest.strip_suffix("/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_select_routes_greedily() {
        assert_eq!(
            get_route("localhost:5000/team/app:1/json"),
            Some(GetRoute::Inspect("localhost:5000/team/app:1"))
        );
        assert_eq!(get_route("a/get/json"), Some(GetRoute::Inspect("a/get")));
        assert_eq!(get_route("a/json/get"), Some(GetRoute::Save("a/json")));
        assert_eq!(get_route("json/history"), Some(GetRoute::History("json")));
        assert_eq!(get_route("foo/bogus"), None);
        assert_eq!(get_route("foo"), None);
        assert_eq!(get_route("json"), None, "needs a slash before the suffix");
        assert_eq!(post_route("load/push"), Some(PostRoute::Push("load")));
        assert_eq!(post_route("a/push/tag"), Some(PostRoute::Tag("a/push")));
        assert_eq!(post_route("push"), None);
        assert_eq!(
            distribution_name("registry:5000/a/b@sha256:x/json"),
            Some("registry:5000/a/b@sha256:x")
        );
        assert_eq!(distribution_name("busybox"), None);
    }

    #[test]
    fn names_are_percent_decoded() {
        assert_eq!(name_after("/images/a%2Fb%3A1/json", "/images/"), "a/b:1/json");
        assert_eq!(name_after("/images/100%/json", "/images/"), "100%/json");
        assert_eq!(name_after("/images/%zz", "/images/"), "%zz");
        assert_eq!(name_after("/other", "/images/"), "");
    }
}

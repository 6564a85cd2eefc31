//! gorilla/mux's greedy `{id:.*}` by hand: the network reference a path under `/networks/`
//! captures, and which `POST` route it selects.

use berth_http::percent_decode;

/// The reference after `/networks/`, percent-decoded (gorilla matches the decoded path, so
/// `%2F` separates like `/`); empty for `/networks/` itself.
pub(crate) fn network_ref(uri_path: &str) -> String {
    percent_decode(uri_path.strip_prefix("/networks/").unwrap_or(""))
}

/// The `POST /networks/{id:.*}/<action>` routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostRoute<'a> {
    /// `/networks/{id}/connect`.
    Connect(&'a str),
    /// `/networks/{id}/disconnect`.
    Disconnect(&'a str),
}

/// Picks the `POST` route for `rest` (the reference part of the path); `None` is dockerd's 404.
pub(crate) fn post_route(rest: &str) -> Option<PostRoute<'_>> {
    if let Some(id) = rest.strip_suffix("/connect") {
        return Some(PostRoute::Connect(id));
    }
    rest.strip_suffix("/disconnect").map(PostRoute::Disconnect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_select_routes_greedily() {
        assert_eq!(post_route("app/connect"), Some(PostRoute::Connect("app")));
        assert_eq!(post_route("a/b/disconnect"), Some(PostRoute::Disconnect("a/b")));
        assert_eq!(post_route("a/connect/disconnect"), Some(PostRoute::Disconnect("a/connect")));
        assert_eq!(post_route("/connect"), Some(PostRoute::Connect("")));
        assert_eq!(post_route("appdisconnect"), None);
        assert_eq!(post_route("connect"), None, "needs a slash before the action");
        assert_eq!(post_route("app/bogus"), None);
        assert_eq!(network_ref("/networks/a%2Fb/connect"), "a/b/connect");
        assert_eq!(network_ref("/networks/"), "");
    }
}

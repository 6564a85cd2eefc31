//! gorilla/mux's greedy `{name:.*}` by hand: which dockerd route a path under `/containers/` or
//! `/exec/` selects, and the name it captures.

use berth_http::percent_decode;

/// The part of `uri_path` after `prefix`, percent-decoded (gorilla matches the decoded path).
pub(crate) fn name_after(uri_path: &str, prefix: &str) -> String {
    percent_decode(uri_path.strip_prefix(prefix).unwrap_or(""))
}

/// `rest` minus `/<suffix>`, for each suffix in dockerd's registration order; the first match
/// wins. `None` is dockerd's 404.
pub(crate) fn route<'a, 's>(rest: &'a str, suffixes: &[&'s str]) -> Option<(&'s str, &'a str)> {
    suffixes.iter().find_map(|suffix| {
        let name = rest.strip_suffix(suffix)?.strip_suffix('/')?;
        Some((*suffix, name))
    })
}

/// `GET /containers/{name:.*}/<suffix>`, in registration order.
pub(crate) const GET_SUFFIXES: &[&str] =
    &["export", "changes", "json", "top", "logs", "stats", "attach/ws", "archive"];

/// `POST /containers/{name:.*}/<suffix>`, in registration order.
pub(crate) const POST_SUFFIXES: &[&str] = &[
    "kill", "pause", "unpause", "restart", "start", "stop", "wait", "resize", "attach", "exec",
    "rename", "update",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_select_routes_greedily() {
        assert_eq!(route("web/json", GET_SUFFIXES), Some(("json", "web")));
        assert_eq!(route("a/json/top", GET_SUFFIXES), Some(("top", "a/json")));
        assert_eq!(route("web/attach/ws", GET_SUFFIXES), Some(("attach/ws", "web")));
        assert_eq!(route("json", GET_SUFFIXES), None);
        assert_eq!(route("web/bogus", GET_SUFFIXES), None);
        assert_eq!(route("web/unpause", POST_SUFFIXES), Some(("unpause", "web")));
        assert_eq!(route("/start", POST_SUFFIXES), Some(("start", "")));
        assert_eq!(name_after("/containers/a%2Fb/json", "/containers/"), "a/b/json");
    }
}

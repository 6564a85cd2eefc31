//! The Docker Engine API route table (dockerd 28.5.2) and what Berth does with each route.
//!
//! Requests that no Berth router matched end here: a route dockerd has but Berth does not
//! implement yet answers 501 naming it; anything else is dockerd's 404 `page not found`.
//! `docs/api-coverage.md` is generated from this table (see the test at the bottom).

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use berth_http::{error_response, not_found};
use http::{Method, StatusCode};

/// How Berth serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Served by a router.
    Implemented,
    /// Answers 501 until its issue lands.
    NotYet,
    /// Served as a dockerd outside any swarm answers (503; swarm init/join 501).
    Standalone,
}

/// One dockerd route: API group, method, path pattern (`{x}` one segment, `{x*}` greedy).
pub(crate) struct Route {
    pub(crate) group: &'static str,
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) status: Status,
}

const fn r(group: &'static str, method: &'static str, path: &'static str, status: Status) -> Route {
    Route { group, method, path, status }
}

use Status::{Implemented as I, NotYet as N, Standalone as S};

/// Every route of dockerd 28.5.2, in dockerd's registration order within each group.
pub(crate) const ROUTES: &[Route] = &[
    r("system", "OPTIONS", "/{anyroute*}", I),
    r("system", "GET", "/_ping", I),
    r("system", "HEAD", "/_ping", I),
    r("system", "GET", "/events", I),
    r("system", "GET", "/info", I),
    r("system", "GET", "/version", I),
    r("system", "GET", "/system/df", I),
    r("system", "POST", "/auth", I),
    r("container", "GET", "/containers/{name*}/checkpoints", N),
    r("container", "POST", "/containers/{name*}/checkpoints", N),
    r("container", "DELETE", "/containers/{name}/checkpoints/{checkpoint}", N),
    r("container", "HEAD", "/containers/{name*}/archive", I),
    r("container", "GET", "/containers/json", I),
    r("container", "GET", "/containers/{name*}/export", I),
    r("container", "GET", "/containers/{name*}/changes", I),
    r("container", "GET", "/containers/{name*}/json", I),
    r("container", "GET", "/containers/{name*}/top", I),
    r("container", "GET", "/containers/{name*}/logs", I),
    r("container", "GET", "/containers/{name*}/stats", I),
    r("container", "GET", "/containers/{name*}/attach/ws", I),
    r("container", "GET", "/containers/{name*}/archive", I),
    r("container", "POST", "/containers/create", I),
    r("container", "POST", "/containers/{name*}/kill", I),
    r("container", "POST", "/containers/{name*}/pause", I),
    r("container", "POST", "/containers/{name*}/unpause", I),
    r("container", "POST", "/containers/{name*}/restart", I),
    r("container", "POST", "/containers/{name*}/start", I),
    r("container", "POST", "/containers/{name*}/stop", I),
    r("container", "POST", "/containers/{name*}/wait", I),
    r("container", "POST", "/containers/{name*}/resize", I),
    r("container", "POST", "/containers/{name*}/attach", I),
    r("container", "POST", "/containers/{name*}/rename", I),
    r("container", "POST", "/containers/{name*}/update", I),
    r("container", "POST", "/containers/prune", I),
    r("container", "POST", "/commit", I),
    r("container", "PUT", "/containers/{name*}/archive", I),
    r("container", "DELETE", "/containers/{name*}", I),
    r("exec", "POST", "/containers/{name*}/exec", I),
    r("exec", "POST", "/exec/{name*}/start", I),
    r("exec", "POST", "/exec/{name*}/resize", I),
    r("exec", "GET", "/exec/{id*}/json", I),
    r("image", "GET", "/images/json", I),
    r("image", "GET", "/images/search", N),
    r("image", "GET", "/images/get", I),
    r("image", "GET", "/images/{name*}/get", I),
    r("image", "GET", "/images/{name*}/history", I),
    r("image", "GET", "/images/{name*}/json", I),
    r("image", "POST", "/images/load", I),
    r("image", "POST", "/images/create", I),
    r("image", "POST", "/images/{name*}/push", I),
    r("image", "POST", "/images/{name*}/tag", I),
    r("image", "POST", "/images/prune", I),
    r("image", "DELETE", "/images/{name*}", I),
    r("distribution", "GET", "/distribution/{name*}/json", I),
    r("volume", "GET", "/volumes", I),
    r("volume", "GET", "/volumes/{name*}", I),
    r("volume", "POST", "/volumes/create", I),
    r("volume", "POST", "/volumes/prune", I),
    r("volume", "PUT", "/volumes/{name*}", S),
    r("volume", "DELETE", "/volumes/{name*}", I),
    r("network", "GET", "/networks", I),
    r("network", "GET", "/networks/", I),
    r("network", "GET", "/networks/{id*}", I),
    r("network", "POST", "/networks/create", I),
    r("network", "POST", "/networks/{id*}/connect", I),
    r("network", "POST", "/networks/{id*}/disconnect", I),
    r("network", "POST", "/networks/prune", I),
    r("network", "DELETE", "/networks/{id*}", I),
    r("build", "POST", "/build", N),
    r("build", "POST", "/build/prune", N),
    r("build", "POST", "/build/cancel", N),
    r("session", "POST", "/session", N),
    r("swarm", "POST", "/swarm/init", S),
    r("swarm", "POST", "/swarm/join", S),
    r("swarm", "POST", "/swarm/leave", S),
    r("swarm", "GET", "/swarm", S),
    r("swarm", "GET", "/swarm/unlockkey", S),
    r("swarm", "POST", "/swarm/update", S),
    r("swarm", "POST", "/swarm/unlock", S),
    r("swarm", "GET", "/services", S),
    r("swarm", "GET", "/services/{id}", S),
    r("swarm", "POST", "/services/create", S),
    r("swarm", "POST", "/services/{id}/update", S),
    r("swarm", "DELETE", "/services/{id}", S),
    r("swarm", "GET", "/services/{id}/logs", S),
    r("swarm", "GET", "/nodes", S),
    r("swarm", "GET", "/nodes/{id}", S),
    r("swarm", "DELETE", "/nodes/{id}", S),
    r("swarm", "POST", "/nodes/{id}/update", S),
    r("swarm", "GET", "/tasks", S),
    r("swarm", "GET", "/tasks/{id}", S),
    r("swarm", "GET", "/tasks/{id}/logs", S),
    r("swarm", "GET", "/secrets", S),
    r("swarm", "POST", "/secrets/create", S),
    r("swarm", "DELETE", "/secrets/{id}", S),
    r("swarm", "GET", "/secrets/{id}", S),
    r("swarm", "POST", "/secrets/{id}/update", S),
    r("swarm", "GET", "/configs", S),
    r("swarm", "POST", "/configs/create", S),
    r("swarm", "DELETE", "/configs/{id}", S),
    r("swarm", "GET", "/configs/{id}", S),
    r("swarm", "POST", "/configs/{id}/update", S),
    r("plugin", "GET", "/plugins", N),
    r("plugin", "GET", "/plugins/{name*}/json", N),
    r("plugin", "GET", "/plugins/privileges", N),
    r("plugin", "DELETE", "/plugins/{name*}", N),
    r("plugin", "POST", "/plugins/{name*}/enable", N),
    r("plugin", "POST", "/plugins/{name*}/disable", N),
    r("plugin", "POST", "/plugins/pull", N),
    r("plugin", "POST", "/plugins/{name*}/push", N),
    r("plugin", "POST", "/plugins/{name*}/upgrade", N),
    r("plugin", "POST", "/plugins/{name*}/set", N),
    r("plugin", "POST", "/plugins/create", N),
    r("debug", "GET", "/debug/vars", N),
    r("debug", "GET", "/debug/pprof/", N),
    r("debug", "GET", "/debug/pprof/cmdline", N),
    r("debug", "GET", "/debug/pprof/profile", N),
    r("debug", "GET", "/debug/pprof/symbol", N),
    r("debug", "GET", "/debug/pprof/trace", N),
    r("debug", "GET", "/debug/pprof/{name}", N),
    r("grpc", "POST", "/grpc", N),
];

/// Matches `path` against a pattern: `{x}` is one non-empty segment, `{x*}` any text (greedy,
/// may contain `/`, may be empty), as gorilla/mux's `{x:.*}`.
fn pattern_matches(pattern: &str, path: &str) -> bool {
    let Some(start) = pattern.find('{') else {
        return pattern == path;
    };
    let Some(prefix_rest) = path.strip_prefix(&pattern[..start]) else {
        return false;
    };
    let Some(close) = pattern[start..].find('}') else {
        return false;
    };
    let var = &pattern[start + 1..start + close];
    let after = &pattern[start + close + 1..];
    if var.ends_with('*') {
        // Greedy: try the longest capture first, as a regex `.*` does.
        (0..=prefix_rest.len())
            .rev()
            .filter(|&i| prefix_rest.is_char_boundary(i))
            .any(|i| pattern_matches(after, &prefix_rest[i..]))
    } else {
        let end = prefix_rest.find('/').unwrap_or(prefix_rest.len());
        end > 0 && pattern_matches(after, &prefix_rest[end..])
    }
}

/// The first dockerd route matching `method` and `path` (registration order, as gorilla/mux).
pub(crate) fn lookup(method: &Method, path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.method == method.as_str() && pattern_matches(r.path, path))
}

/// Fallback for requests no router matched.
pub(crate) async fn fallback(request: Request) -> Response {
    let path = request.uri().path();
    match lookup(request.method(), path) {
        Some(route) if route.status == Status::NotYet => error_response(
            StatusCode::NOT_IMPLEMENTED,
            &format!(
                "{} {} is not implemented by Berth yet (the {} API group); see docs/api-coverage.md",
                route.method, route.path, route.group
            ),
        ),
        _ => not_found().await.into_response(),
    }
}

/// The markdown of `docs/api-coverage.md`.
#[cfg(test)]
pub(crate) fn coverage_markdown() -> String {
    let mut out = String::from(
        "# API coverage\n\n\
         Every route of the Docker Engine API as dockerd 28.5.2 registers it, and what Berth does\n\
         with it. Generated from `crates/berth-daemon/src/coverage.rs` by its test\n\
         (`UPDATE_EXPECT=1 cargo test -p berth-daemon coverage` rewrites this file).\n\n\
         - **implemented**: served by a Berth router.\n\
         - **standalone**: answered as a dockerd outside any swarm answers: `503` with\n\
           dockerd's message (`swarm init` and `swarm join` answer `501`: Berth has no swarm mode;\n\
           `PUT /volumes/{name*}` updates swarm cluster volumes only).\n\
         - **implemented** container routes have limits listed in `docs/containers.md` (for\n\
           example published ports answer 501 until issue 6).\n\
         - **501**: answers `501 Not Implemented` with a message naming the route, until the issue\n\
           that builds it lands.\n\n\
         Paths are shown without the optional `/vX.Y` prefix; `{name*}` matches text containing `/`.\n\n",
    );
    let count = |status| ROUTES.iter().filter(|r| r.status == status).count();
    out.push_str(&format!(
        "{} of {} routes implemented, {} answered as a standalone engine, {} answer 501.\n",
        count(Status::Implemented),
        ROUTES.len(),
        count(Status::Standalone),
        count(Status::NotYet),
    ));
    let mut group = "";
    for route in ROUTES {
        if route.group != group {
            group = route.group;
            out.push_str(&format!("\n## {group}\n\n| method | path | Berth |\n|---|---|---|\n"));
        }
        let status = match route.status {
            Status::Implemented => "implemented",
            Status::Standalone => "standalone",
            Status::NotYet => "501",
        };
        out.push_str(&format!("| {} | `{}` | {status} |\n", route.method, route.path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_gorilla_semantics() {
        assert!(pattern_matches("/containers/{name*}/json", "/containers/abc/json"));
        assert!(pattern_matches("/images/{name*}/json", "/images/localhost:5000/team/app:1/json"));
        assert!(pattern_matches("/images/{name*}", "/images/a/b"));
        assert!(!pattern_matches("/services/{id}", "/services/a/b"));
        assert!(!pattern_matches("/services/{id}", "/services/"));
        assert!(pattern_matches("/{anyroute*}", "/whatever/you/like"));
        assert!(!pattern_matches("/containers/json", "/containers/json2"));
    }

    #[test]
    fn lookup_uses_registration_order() {
        let route = lookup(&Method::GET, "/containers/json").expect("list route");
        assert_eq!(route.path, "/containers/json");
        let route = lookup(&Method::DELETE, "/containers/x/checkpoints/y").expect("checkpoint");
        assert_eq!(route.path, "/containers/{name}/checkpoints/{checkpoint}");
        assert!(lookup(&Method::GET, "/containers/x/bogus").is_none());
        assert!(lookup(&Method::PATCH, "/containers/json").is_none());
    }

    #[test]
    fn table_has_all_121_dockerd_routes() {
        // dockerd 28.5.2 registers 121 routes, the OPTIONS catch-all included.
        assert_eq!(ROUTES.len(), 121);
    }

    #[test]
    fn coverage_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api-coverage.md");
        expect_test::expect_file![path].assert_eq(&coverage_markdown());
    }
}

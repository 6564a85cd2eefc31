//! The network router over a fake backend, driven with `oneshot` (no socket).
//!
//! The fake records every call with what reached it, so a test checks the answer and the
//! parsing at once. Names steer it: `missing` is a 404, `busy` is in use, `taken` exists.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use berth_api::network::{
    EndpointResource, Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneReport,
};
use berth_api::{ApiVersion, Error, ErrorKind, Filters, Result};
use berth_backend::{NetworkBackend, NetworkInspectOptions};
use berth_http::RequestApiVersion;
use expect_test::{Expect, expect};
use http::{Method, Request};
use http_body_util::BodyExt;
use tower::ServiceExt;

#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
}

impl Fake {
    fn record(&self, call: String) {
        self.calls.lock().expect("lock").push(call);
    }
}

fn found(term: &str) -> Result<()> {
    match term {
        "missing" => Err(Error::not_found(format!("network {term} not found"))),
        _ => Ok(()),
    }
}

fn network(name: &str) -> Network {
    let mut network = Network {
        name: name.to_owned(),
        id: "0123abcd".into(),
        created: "2024-01-02T03:04:05.5Z".into(),
        scope: "local".into(),
        driver: "bridge".into(),
        enable_ipv4: true,
        ..Network::default()
    };
    network.containers.insert(
        "c0ffee".into(),
        EndpointResource {
            name: "web".into(),
            endpoint_id: "e1".into(),
            ipv4_address: "172.18.0.2/16".into(),
            ..EndpointResource::default()
        },
    );
    network
}

/// The filters as `key=v1|v2`, keys sorted.
fn show(filters: &Filters) -> String {
    let keys = ["dangling", "driver", "id", "label", "label!", "name", "scope", "type", "until"];
    let shown: Vec<String> = keys
        .iter()
        .filter(|key| filters.contains(key))
        .map(|key| format!("{key}={}", filters.get(key).collect::<Vec<_>>().join("|")))
        .collect();
    shown.join(",")
}

#[async_trait::async_trait]
impl NetworkBackend for Fake {
    async fn list(&self, filters: Filters) -> Result<Vec<Network>> {
        self.record(format!("list {}", show(&filters)));
        Ok(vec![network("app")])
    }

    async fn inspect(&self, term: &str, o: NetworkInspectOptions) -> Result<Network> {
        self.record(format!("inspect {term:?} verbose={} scope={:?}", o.verbose, o.scope));
        found(term)?;
        Ok(network(term))
    }

    async fn create(&self, r: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        self.record(format!(
            "create name={:?} driver={:?} ipv4={:?} ipv6={:?} internal={} pools={:?} labels={:?}",
            r.name,
            r.driver,
            r.enable_ipv4,
            r.enable_ipv6,
            r.internal,
            r.ipam.and_then(|i| i.config).map(|c| c.len()),
            r.labels
        ));
        if r.name == "taken" {
            return Err(Error::conflict("network with name taken already exists"));
        }
        Ok(NetworkCreateResponse { id: "0123abcd".into(), warning: String::new() })
    }

    async fn remove(&self, term: &str) -> Result<()> {
        self.record(format!("remove {term:?}"));
        if term == "busy" {
            return Err(Error::new(
                ErrorKind::Forbidden,
                r#"error while removing network: network busy has active endpoints (name:"web" id:"e1")"#,
            ));
        }
        found(term)
    }

    async fn prune(&self, filters: Filters) -> Result<NetworkPruneReport> {
        self.record(format!("prune {}", show(&filters)));
        Ok(NetworkPruneReport { networks_deleted: Some(vec!["old".into()]) })
    }

    async fn connect(&self, term: &str, r: NetworkConnectRequest) -> Result<()> {
        let endpoint = r.endpoint_config.unwrap_or_default();
        self.record(format!(
            "connect {term:?} container={:?} aliases={:?} ip={:?}",
            r.container,
            endpoint.aliases,
            endpoint.ipam_config.map(|i| i.ipv4_address)
        ));
        found(term)
    }

    async fn disconnect(&self, term: &str, r: NetworkDisconnectRequest) -> Result<()> {
        self.record(format!("disconnect {term:?} container={:?} force={}", r.container, r.force));
        found(term)
    }
}

/// A request to send: method, URI, API version (the newest when `None`), JSON body.
struct Call {
    method: Method,
    uri: String,
    minor: Option<u32>,
    body: Option<(&'static str, &'static str)>,
}

fn req(method: Method, uri: &str) -> Call {
    Call { method, uri: uri.to_owned(), minor: None, body: None }
}

impl Call {
    fn version(mut self, minor: u32) -> Self {
        self.minor = Some(minor);
        self
    }

    fn json(self, body: &'static str) -> Self {
        self.typed("application/json", body)
    }

    fn typed(mut self, content_type: &'static str, body: &'static str) -> Self {
        self.body = Some((content_type, body));
        self
    }

    /// Status, content type and length, body, then the calls the backend received.
    async fn send(self) -> String {
        let fake = Arc::new(Fake::default());
        let app = berth_router_network::router(Arc::clone(&fake) as Arc<dyn NetworkBackend>);
        let mut builder = Request::builder().method(self.method).uri(&self.uri);
        if let Some((content_type, _)) = self.body {
            builder = builder.header("content-type", content_type);
        }
        let body = self.body.map_or("", |(_, body)| body);
        let mut request = builder.body(Body::from(body)).expect("request");
        if let Some(minor) = self.minor {
            request.extensions_mut().insert(RequestApiVersion(ApiVersion::new(1, minor)));
        }
        let res = app.oneshot(request).await.expect("infallible");
        let header = |name: &str| {
            res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned()
        };
        let mut out =
            format!("{} {} {}\n", res.status(), header("content-type"), header("content-length"));
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        out.push_str(&String::from_utf8_lossy(&bytes));
        for call in fake.calls.lock().expect("lock").iter() {
            out.push_str(&format!("> {call}\n"));
        }
        out
    }
}

async fn check(call: Call, want: Expect) {
    want.assert_eq(&call.send().await);
}

#[tokio::test]
async fn list_checks_filters_and_drops_containers_from_1_28() {
    check(
        req(Method::GET, "/networks?filters=%7B%22name%22%3A%5B%22ap%22%5D%2C%22type%22%3A%5B%22custom%22%5D%7D"),
        expect![[r#"
            200 OK application/json 329
            [{"Name":"app","Id":"0123abcd","Created":"2024-01-02T03:04:05.5Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"IPAM":{"Driver":"","Options":null,"Config":null},"Internal":false,"Attachable":false,"Ingress":false,"ConfigFrom":{"Network":""},"ConfigOnly":false,"Containers":{},"Options":{},"Labels":{}}]
            > list name=ap,type=custom
        "#]],
    )
    .await;
    let old = req(Method::GET, "/networks/").version(27).send().await;
    assert!(old.contains(r#""Containers":{"c0ffee":{"Name":"web","EndpointID":"e1""#), "{old}");
    assert!(old.ends_with("> list \n"), "{old}");
    check(
        req(Method::GET, "/networks?filters=%7B%22label!%22%3A%5B%22a%22%5D%7D"),
        expect![[r#"
            400 Bad Request application/json 38
            {"message":"invalid filter 'label!'"}
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/networks?filters=%7B%22dangling%22%3A%5B%22yes%22%5D%7D"),
        expect![[r#"
            400 Bad Request application/json 104
            {"message":"invalid value for filter 'dangling', must be \"true\" (or \"1\"), or \"false\" (or \"0\")"}
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/networks?filters=%7Bnope"),
        expect![[r#"
            400 Bad Request application/json 29
            {"message":"invalid filter"}
        "#]],
    )
    .await;
}

#[tokio::test]
async fn inspect_reads_verbose_and_scope() {
    let out = req(Method::GET, "/networks/app?verbose=True&scope=local").send().await;
    assert!(out.starts_with("200 OK application/json"), "{out}");
    assert!(out.contains(r#""Containers":{"c0ffee":"#), "inspect keeps containers: {out}");
    assert!(out.ends_with("> inspect \"app\" verbose=true scope=Some(\"local\")\n"), "{out}");
    check(
        req(Method::GET, "/networks/app?verbose=yes"),
        expect![[r#"
            400 Bad Request application/json 97
            {"message":"invalid value for verbose: yes: strconv.ParseBool: parsing \"yes\": invalid syntax"}
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/networks/missing?verbose=0&scope="),
        expect![[r#"
            404 Not Found application/json 40
            {"message":"network missing not found"}
            > inspect "missing" verbose=false scope=None
        "#]],
    )
    .await;
    check(
        req(Method::HEAD, "/networks/app"),
        expect![[r#"
            404 Not Found application/json 29
        "#]],
    )
    .await;
}

#[tokio::test]
async fn create_answers_201_and_drops_enable_ipv4_below_1_48() {
    let body = r#"{"Name":"app","Driver":null,"EnableIPv4":false,"EnableIPv6":false,"Internal":true,
        "IPAM":{"Driver":"default","Config":[{"Subnet":"10.9.0.0/16"}]},"Labels":{"a":"b"},"Future":1}"#;
    check(
        req(Method::POST, "/networks/create").json(body),
        expect![[r#"
            201 Created application/json 31
            {"Id":"0123abcd","Warning":""}
            > create name="app" driver="" ipv4=Some(false) ipv6=Some(false) internal=true pools=Some(1) labels=Some({"a": "b"})
        "#]],
    )
    .await;
    let old = req(Method::POST, "/networks/create").version(47).json(body).send().await;
    assert!(old.contains("ipv4=None ipv6=Some(false)"), "{old}");
    check(
        req(Method::POST, "/networks/create"),
        expect![[r#"
            201 Created application/json 31
            {"Id":"0123abcd","Warning":""}
            > create name="" driver="" ipv4=None ipv6=None internal=false pools=None labels=None
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/networks/create").json(r#"{"Name":"taken"}"#),
        expect![[r#"
            409 Conflict application/json 53
            {"message":"network with name taken already exists"}
            > create name="taken" driver="" ipv4=None ipv6=None internal=false pools=None labels=None
        "#]],
    )
    .await;
}

#[tokio::test]
async fn bad_bodies_are_400s_with_dockerd_messages() {
    check(
        req(Method::POST, "/networks/create").json(r#"{"Name":"#),
        expect![[r#"
            400 Bad Request application/json 63
            {"message":"invalid JSON: got EOF while reading request body"}
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/networks/create").json(r#"{"Internal":"yes"}"#),
        expect![[r#"
            400 Bad Request application/json 77
            {"message":"invalid JSON: invalid type: string \"yes\", expected a boolean"}
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/networks/create").typed("text/plain", r#"{"Name":"app"}"#),
        expect![[r#"
            400 Bad Request application/json 87
            {"message":"unsupported Content-Type header (text/plain): must be 'application/json'"}
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/networks/app/connect").json(r#"{"Container":7}"#),
        expect![[r#"
            400 Bad Request application/json 73
            {"message":"invalid JSON: invalid type: integer `7`, expected a string"}
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/networks/app/disconnect").json("[] []"),
        expect![[r#"
            400 Bad Request application/json 44
            {"message":"unexpected content after JSON"}
        "#]],
    )
    .await;
    // The route is picked before the body is read.
    check(
        req(Method::POST, "/networks/app/bogus").json("{nope"),
        expect![[r#"
            404 Not Found application/json 29
            {"message":"page not found"}
        "#]],
    )
    .await;
}

#[tokio::test]
async fn connect_and_disconnect_answer_200_empty() {
    check(
        req(Method::POST, "/networks/team%2Fapp/connect").json(
            r#"{"Container":"web","EndpointConfig":{"Aliases":["db"],"IPAMConfig":{"IPv4Address":"10.9.0.7"}}}"#,
        ),
        expect![[r#"
            200 OK - 0
            > connect "team/app" container="web" aliases=Some(["db"]) ip=Some("10.9.0.7")
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/networks/app/connect/disconnect")
            .json(r#"{"Container":"web","Force":true}"#),
        expect![[r#"
            200 OK - 0
            > disconnect "app/connect" container="web" force=true
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/networks/missing/disconnect"),
        expect![[r#"
            404 Not Found application/json 40
            {"message":"network missing not found"}
            > disconnect "missing" container="" force=false
        "#]],
    )
    .await;
}

#[tokio::test]
async fn remove_answers_204_and_dockerd_errors() {
    check(
        req(Method::DELETE, "/networks/app"),
        expect![[r#"
            204 No Content - 0
            > remove "app"
        "#]],
    )
    .await;
    check(
        req(Method::DELETE, "/networks/busy"),
        expect![[r#"
            403 Forbidden application/json 103
            {"message":"error while removing network: network busy has active endpoints (name:\"web\" id:\"e1\")"}
            > remove "busy"
        "#]],
    )
    .await;
}

#[tokio::test]
async fn prune_checks_its_filters() {
    check(
        req(Method::POST, "/networks/prune?filters=%7B%22until%22%3A%5B%2224h%22%5D%2C%22label!%22%3A%5B%22keep%22%5D%7D"),
        expect![[r#"
            200 OK application/json 28
            {"NetworksDeleted":["old"]}
            > prune label!=keep,until=24h
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/networks/prune?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D"),
        expect![[r#"
            400 Bad Request application/json 40
            {"message":"invalid filter 'dangling'"}
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/networks/prune?filters=%7B%22until%22%3A%5B%221h%22%2C%222h%22%5D%7D"),
        expect![[r#"
            400 Bad Request application/json 51
            {"message":"more than one until filter specified"}
        "#]],
    )
    .await;
}

#[tokio::test]
async fn greedy_references_reach_the_backend_decoded() {
    let cases = [
        (Method::GET, "/networks/a%2Fb", r#"inspect "a/b""#),
        (Method::GET, "/networks/team/app", r#"inspect "team/app""#),
        (Method::GET, "/networks/create", r#"inspect "create""#),
        (Method::GET, "/networks/prune", r#"inspect "prune""#),
        (Method::GET, "/networks/x/connect", r#"inspect "x/connect""#),
        (Method::POST, "/networks/create/connect", r#"connect "create""#),
        (Method::POST, "/networks/prune/disconnect", r#"disconnect "prune""#),
        (Method::DELETE, "/networks/", r#"remove """#),
        (Method::DELETE, "/networks/create", r#"remove "create""#),
        (Method::DELETE, "/networks/prune", r#"remove "prune""#),
        (Method::DELETE, "/networks/a/b", r#"remove "a/b""#),
    ];
    for (method, uri, call) in cases {
        let out = req(method, uri).send().await;
        assert!(out.contains(&format!("> {call}")), "{uri}: {out}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_page_not_found() {
    let cases = [
        (Method::POST, "/networks"),
        (Method::POST, "/networks/"),
        (Method::POST, "/networks/app"),
        (Method::POST, "/networks/connect"),
        (Method::DELETE, "/networks"),
        (Method::PUT, "/networks/app"),
        (Method::PATCH, "/networks/create"),
    ];
    for (method, uri) in cases {
        let out = req(method, uri).json("{}").send().await;
        let want = "404 Not Found application/json 29\n{\"message\":\"page not found\"}\n";
        assert_eq!(out, want, "{uri}");
    }
}

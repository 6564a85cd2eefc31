//! The image router over a fake backend, driven with `oneshot` (no socket).
//!
//! The fake records every call with its parsed arguments, so tests can check both the answer and
//! what reached the backend. Names steer its behaviour: `missing` is a 404, `early` fails before
//! the first progress message, `late` after it.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use berth_api::image::{
    AuthConfig, Descriptor, DistributionInspect, HistoryItem, ImageConfig, ImageDeleteItem,
    ImageInspect, ImagePruneReport, ImageSummary, Platform, ProgressMessage, Reference,
};
use berth_api::{ApiVersion, Error, Filters, Result};
use berth_backend::{
    ByteStream, ImageBackend, ImageImportOptions, ImageInspectOptions, ImageListOptions,
    ImageLoadOptions, ImagePullOptions, ImagePushOptions, ImageRemoveOptions, ImageSaveOptions,
    ImportSource, ProgressStream,
};
use berth_http::RequestApiVersion;
use bytes::Bytes;
use expect_test::{Expect, expect};
use futures_util::StreamExt;
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

    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }
}

fn missing(name: &str) -> Error {
    Error::not_found(format!("No such image: {name}"))
}

/// Progress for `name`: two messages, with the failure `early` or `late` asks for.
fn progress(name: &str) -> ProgressStream {
    let items = match name {
        n if n.contains("early") => vec![Err(Error::not_found("manifest unknown"))],
        n if n.contains("late") => vec![
            Ok(ProgressMessage::status("", "Pulling from library/late")),
            Err(Error::system("connection reset by peer")),
            Ok(ProgressMessage::status("", "never sent")),
        ],
        _ => vec![
            Ok(ProgressMessage::status("", format!("Pulling from {name}"))),
            Ok(ProgressMessage::status("", "Status: Downloaded newer image")),
        ],
    };
    futures_util::stream::iter(items).boxed()
}

async fn collect(body: ByteStream) -> String {
    let chunks: Vec<Result<Bytes>> = body.collect().await;
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend_from_slice(&chunk.expect("body chunk"));
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn short(p: &Option<Platform>) -> String {
    p.as_ref().map_or("-".to_owned(), |p| format!("{}/{}{}", p.os, p.architecture, p.variant))
}

fn who(auth: &AuthConfig) -> String {
    if auth.is_empty() {
        "anonymous".to_owned()
    } else {
        format!("{}@{}", auth.username, auth.serveraddress)
    }
}

fn filters(f: &Filters) -> String {
    let mut out = Vec::new();
    for key in ["before", "dangling", "label", "label!", "reference", "since", "until"] {
        let values: Vec<&str> = f.get(key).collect();
        if !values.is_empty() {
            out.push(format!("{key}={}", values.join("|")));
        }
    }
    out.join(",")
}

#[async_trait::async_trait]
impl ImageBackend for Fake {
    async fn list(&self, o: ImageListOptions) -> Result<Vec<ImageSummary>> {
        self.record(format!(
            "list all={} shared={} manifests={} filters={}",
            o.all,
            o.shared_size,
            o.manifests,
            filters(&o.filters)
        ));
        Ok(vec![
            ImageSummary {
                id: "sha256:aa".into(),
                repo_tags: vec!["localhost:5000/team/app:1".into()],
                created: 1_700_000_000,
                size: 6,
                shared_size: -1,
                containers: 1,
                descriptor: Some(Descriptor {
                    media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                    digest: "sha256:dd".into(),
                    size: 400,
                    ..Descriptor::default()
                }),
                ..ImageSummary::default()
            },
            ImageSummary {
                id: "sha256:bb".into(),
                created: 1_600_000_000,
                size: 3,
                shared_size: -1,
                containers: 0,
                ..ImageSummary::default()
            },
        ])
    }

    async fn inspect(&self, name: &str, o: ImageInspectOptions) -> Result<ImageInspect> {
        self.record(format!(
            "inspect {name} manifests={} platform={}",
            o.manifests,
            short(&o.platform)
        ));
        if name == "missing" {
            return Err(missing("missing:latest"));
        }
        Ok(ImageInspect {
            id: "sha256:aa".into(),
            repo_tags: vec![name.to_owned()],
            created: Some("2026-11-22T04:45:30.611502291Z".into()),
            config: Some(ImageConfig {
                cmd: vec!["sh".into()],
                env: vec!["A=b".into()],
                ..ImageConfig::default()
            }),
            architecture: "amd64".into(),
            os: "linux".into(),
            size: 6,
            ..ImageInspect::default()
        })
    }

    async fn history(&self, name: &str, platform: Option<Platform>) -> Result<Vec<HistoryItem>> {
        self.record(format!("history {name} platform={}", short(&platform)));
        Ok(vec![HistoryItem {
            comment: "hi".into(),
            created: 1,
            id: "sha256:aa".into(),
            size: 6,
            tags: Some(vec![name.to_owned()]),
            ..HistoryItem::default()
        }])
    }

    async fn tag(&self, source: &str, target: Reference) -> Result<()> {
        self.record(format!("tag {source} -> {target}"));
        if source == "missing" {
            return Err(missing("missing:latest"));
        }
        Ok(())
    }

    async fn remove(&self, name: &str, o: ImageRemoveOptions) -> Result<Vec<ImageDeleteItem>> {
        let platforms: Vec<String> = o.platforms.iter().map(|p| short(&Some(p.clone()))).collect();
        self.record(format!(
            "remove {name} force={} prune={} platforms={}",
            o.force,
            o.prune_children,
            platforms.join("|")
        ));
        if name == "missing" {
            return Err(missing("missing:latest"));
        }
        Ok(vec![
            ImageDeleteItem::Untagged(name.to_owned()),
            ImageDeleteItem::Deleted("sha256:aa".into()),
        ])
    }

    async fn import(&self, o: ImageImportOptions) -> Result<ProgressStream> {
        let source = match o.source {
            ImportSource::Body(body) => format!("body={:?}", collect(body).await),
            ImportSource::Url(url) => format!("url={url}"),
        };
        let reference = o.reference.map_or("-".to_owned(), |r| r.to_string());
        self.record(format!(
            "import {source} ref={reference} changes={:?} message={:?} platform={}",
            o.changes,
            o.message,
            short(&o.platform)
        ));
        Ok(futures_util::stream::iter([Ok(ProgressMessage::status("", "sha256:aa"))]).boxed())
    }

    async fn pull(&self, o: ImagePullOptions) -> Result<ProgressStream> {
        self.record(format!(
            "pull {} platform={} auth={}",
            o.reference,
            short(&o.platform),
            who(&o.auth)
        ));
        Ok(progress(&o.reference.to_string()))
    }

    async fn push(&self, o: ImagePushOptions) -> Result<ProgressStream> {
        self.record(format!(
            "push {} platform={} auth={}",
            o.reference,
            short(&o.platform),
            who(&o.auth)
        ));
        Ok(progress(&o.reference.to_string()))
    }

    async fn save(&self, o: ImageSaveOptions) -> Result<ByteStream> {
        self.record(format!("save {:?} platform={}", o.names, short(&o.platform)));
        if o.names.iter().any(|n| n == "missing") {
            return Err(missing("missing"));
        }
        let mut chunks =
            vec![Ok(Bytes::from_static(b"tar-part-1;")), Ok(Bytes::from_static(b"tar-part-2;"))];
        if o.names.iter().any(|n| n == "late") {
            chunks.push(Err(Error::system("layer vanished")));
        }
        Ok(futures_util::stream::iter(chunks).boxed())
    }

    async fn load(&self, o: ImageLoadOptions) -> Result<ProgressStream> {
        let body = collect(o.body).await;
        self.record(format!(
            "load body={body:?} quiet={} platform={}",
            o.quiet,
            short(&o.platform)
        ));
        if body == "garbage" {
            return Err(Error::invalid("unexpected EOF"));
        }
        Ok(futures_util::stream::iter([Ok(ProgressMessage::stream(
            "Loaded image: busybox:latest\n",
        ))])
        .boxed())
    }

    async fn prune(&self, f: Filters) -> Result<ImagePruneReport> {
        self.record(format!("prune filters={}", filters(&f)));
        Ok(ImagePruneReport {
            images_deleted: vec![ImageDeleteItem::Deleted("sha256:bb".into())],
            space_reclaimed: 3,
        })
    }

    async fn distribution_inspect(
        &self,
        reference: Reference,
        auth: AuthConfig,
    ) -> Result<DistributionInspect> {
        self.record(format!("distribution {reference} auth={}", who(&auth)));
        Ok(DistributionInspect {
            descriptor: Descriptor {
                media_type: "application/vnd.oci.image.index.v1+json".into(),
                digest: "sha256:ee".into(),
                size: 9,
                ..Descriptor::default()
            },
            platforms: vec![Platform {
                architecture: "amd64".into(),
                os: "linux".into(),
                ..Platform::default()
            }],
        })
    }
}

/// A request to send: method, URI, optional API version, headers and body.
struct Call {
    method: Method,
    uri: String,
    version: Option<ApiVersion>,
    headers: Vec<(&'static str, String)>,
    body: &'static str,
}

fn req(method: Method, uri: &str) -> Call {
    Call { method, uri: uri.to_owned(), version: None, headers: Vec::new(), body: "" }
}

impl Call {
    fn version(mut self, minor: u32) -> Self {
        self.version = Some(ApiVersion::new(1, minor));
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, body: &'static str) -> Self {
        self.body = body;
        self
    }

    /// Sends the request; renders status, headers (without `date`) and body, then the calls
    /// the backend received.
    async fn send(self, fake: &Arc<Fake>) -> String {
        let app = berth_router_image::router(Arc::clone(fake) as Arc<dyn ImageBackend>);
        let mut builder = Request::builder().method(self.method).uri(&self.uri);
        for (name, value) in &self.headers {
            builder = builder.header(*name, value);
        }
        let mut request = builder.body(Body::from(self.body)).expect("request");
        if let Some(v) = self.version {
            request.extensions_mut().insert(RequestApiVersion(v));
        }
        let res = app.oneshot(request).await.expect("infallible");
        let mut out = format!("{}\n", res.status());
        let mut names: Vec<_> = res.headers().keys().map(|k| k.as_str().to_owned()).collect();
        names.sort();
        for name in names.iter().filter(|n| *n != "date") {
            let v = res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
            out.push_str(&format!("{name}: {v}\n"));
        }
        let body = res.into_body().collect().await.expect("body").to_bytes();
        out.push('\n');
        out.push_str(&String::from_utf8_lossy(&body));
        for call in fake.calls() {
            out.push_str(&format!("> {call}\n"));
        }
        out
    }
}

async fn check(call: Call, expected: Expect) {
    expected.assert_eq(&call.send(&Arc::new(Fake::default())).await);
}

fn b64(json: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE.encode(json)
}

#[tokio::test]
async fn list_shapes_per_version_and_passes_options() {
    check(
        req(Method::GET, "/images/json?all=1&shared-size=1&manifests=true&filters=%7B%22dangling%22%3A%5B%22false%22%5D%2C%22reference%22%3A%5B%22app*%22%5D%7D"),
        expect![[r#"
            200 OK
            content-length: 411
            content-type: application/json

            [{"Containers":1,"Created":1700000000,"Id":"sha256:aa","Labels":null,"ParentId":"","Descriptor":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:dd","size":400},"RepoDigests":[],"RepoTags":["localhost:5000/team/app:1"],"SharedSize":-1,"Size":6},{"Containers":0,"Created":1600000000,"Id":"sha256:bb","Labels":null,"ParentId":"","RepoDigests":[],"RepoTags":[],"SharedSize":-1,"Size":3}]
            > list all=true shared=true manifests=true filters=dangling=false,reference=app*
        "#]],
    )
    .await;
    // API 1.40: <none> placeholders, VirtualSize, Containers -1, no Descriptor; shared-size and
    // manifests are not parameters yet, and the old `filter` is a reference filter.
    check(
        req(Method::GET, "/images/json?shared-size=1&manifests=1&filter=busy*").version(40),
        expect![[r#"
            200 OK
            content-length: 373
            content-type: application/json

            [{"Containers":-1,"Created":1700000000,"Id":"sha256:aa","Labels":null,"ParentId":"","RepoDigests":null,"RepoTags":["localhost:5000/team/app:1"],"SharedSize":-1,"Size":6,"VirtualSize":6},{"Containers":-1,"Created":1600000000,"Id":"sha256:bb","Labels":null,"ParentId":"","RepoDigests":["<none>@<none>"],"RepoTags":["<none>:<none>"],"SharedSize":-1,"Size":3,"VirtualSize":3}]
            > list all=false shared=false manifests=false filters=reference=busy*
        "#]],
    )
    .await;
}

#[tokio::test]
async fn bad_list_and_prune_filters_are_json_400s() {
    check(
        req(Method::GET, "/images/json?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D"),
        expect![[r#"
            400 Bad Request
            content-length: 38
            content-type: application/json

            {"message":"invalid filter 'colour'"}
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/images/json?filters=%7B%22dangling%22%3A%5B%22maybe%22%5D%7D"),
        expect![[r#"
            400 Bad Request
            content-length: 48
            content-type: application/json

            {"message":"invalid filter 'dangling=[maybe]'"}
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/images/json?filters=nope"),
        expect![[r#"
            400 Bad Request
            content-length: 29
            content-type: application/json

            {"message":"invalid filter"}
        "#]],
    )
    .await;
    // `before` is a list filter, not a prune filter.
    check(
        req(Method::POST, "/images/prune?filters=%7B%22before%22%3A%5B%22x%22%5D%7D"),
        expect![[r#"
            400 Bad Request
            content-length: 38
            content-type: application/json

            {"message":"invalid filter 'before'"}
        "#]],
    )
    .await;
}

#[tokio::test]
async fn prune_reports_what_went() {
    check(
        req(Method::POST, "/images/prune?filters=%7B%22dangling%22%3A%7B%22false%22%3Atrue%7D%2C%22until%22%3A%7B%2224h%22%3Atrue%7D%7D"),
        expect![[r#"
            200 OK
            content-length: 63
            content-type: application/json

            {"ImagesDeleted":[{"Deleted":"sha256:bb"}],"SpaceReclaimed":3}
            > prune filters=dangling=false,until=24h
        "#]],
    )
    .await;
}

#[tokio::test]
async fn inspect_takes_names_with_registries_ports_tags_and_digests() {
    check(
        req(Method::GET, "/images/localhost:5000/team/app:1/json"),
        expect![[r#"
            200 OK
            content-length: 447
            content-type: application/json

            {"Id":"sha256:aa","RepoTags":["localhost:5000/team/app:1"],"RepoDigests":[],"Parent":"","Comment":"","Created":"2026-11-22T04:45:30.611502291Z","DockerVersion":"","Author":"","Architecture":"amd64","Os":"linux","Size":6,"GraphDriver":{"Data":null,"Name":""},"RootFS":{},"Metadata":{"LastTagTime":"0001-01-01T00:00:00Z"},"Config":{"Cmd":["sh"],"Entrypoint":null,"Env":["A=b"],"Labels":null,"OnBuild":null,"User":"","Volumes":null,"WorkingDir":""}}
            > inspect localhost:5000/team/app:1 manifests=false platform=-
        "#]],
    )
    .await;
    let fake = Arc::new(Fake::default());
    let digest = format!("sha256:{}", "a".repeat(64));
    for uri in [
        format!("/images/registry.example.com/a/b@{digest}/json"),
        "/images/team%2Fapp%3A2/json".to_owned(),
        "/images/sha256:aa/json".to_owned(),
        "/images/a/get/json".to_owned(),
    ] {
        req(Method::GET, &uri).send(&fake).await;
    }
    assert_eq!(
        fake.calls(),
        [
            format!("inspect registry.example.com/a/b@{digest} manifests=false platform=-"),
            "inspect team/app:2 manifests=false platform=-".to_owned(),
            "inspect sha256:aa manifests=false platform=-".to_owned(),
            "inspect a/get manifests=false platform=-".to_owned(),
        ]
    );
}

#[tokio::test]
async fn inspect_shapes_per_version_and_checks_options() {
    check(
        req(Method::GET, "/images/busybox/json?manifests=1").version(41),
        expect![[r#"
            200 OK
            content-length: 596
            content-type: application/json

            {"Id":"sha256:aa","RepoTags":["busybox"],"RepoDigests":[],"Parent":"","Comment":"","Created":"2026-11-22T04:45:30.611502291Z","DockerVersion":"","Author":"","Architecture":"amd64","Os":"linux","Size":6,"VirtualSize":6,"GraphDriver":{"Data":null,"Name":""},"RootFS":{},"Metadata":{"LastTagTime":"0001-01-01T00:00:00Z"},"Config":{"AttachStderr":false,"AttachStdin":false,"AttachStdout":false,"Cmd":["sh"],"Domainname":"","Entrypoint":null,"Env":["A=b"],"Hostname":"","Image":"","Labels":null,"OnBuild":null,"OpenStdin":false,"StdinOnce":false,"Tty":false,"User":"","Volumes":null,"WorkingDir":""}}
            > inspect busybox manifests=false platform=-
        "#]],
    )
    .await;
    check(
        req(
            Method::GET,
            "/images/busybox/json?manifests=1&platform=%7B%22os%22%3A%22linux%22%2C%22architecture%22%3A%22arm64%22%7D",
        ),
        expect![[r#"
            400 Bad Request
            content-length: 85
            content-type: application/json

            {"message":"conflicting options: manifests and platform options cannot both be set"}
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/images/busybox/json?platform=%7B%22os%22%3A%22linux%22%7D"),
        expect![[r#"
            400 Bad Request
            content-length: 56
            content-type: application/json

            {"message":"both OS and Architecture must be provided"}
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/images/missing/json"),
        expect![[r#"
            404 Not Found
            content-length: 44
            content-type: application/json

            {"message":"No such image: missing:latest"}
            > inspect missing manifests=false platform=-
        "#]],
    )
    .await;
}

#[tokio::test]
async fn history_passes_the_platform_from_1_48() {
    check(
        req(
            Method::GET,
            "/images/localhost:5000/app/history?platform=%7B%22os%22%3A%22linux%22%2C%22architecture%22%3A%22arm%22%2C%22variant%22%3A%22v7%22%7D",
        ),
        expect![[r#"
            200 OK
            content-length: 102
            content-type: application/json

            [{"Comment":"hi","Created":1,"CreatedBy":"","Id":"sha256:aa","Size":6,"Tags":["localhost:5000/app"]}]
            > history localhost:5000/app platform=linux/armv7
        "#]],
    )
    .await;
    let fake = Arc::new(Fake::default());
    req(Method::GET, "/images/a/history?platform=nonsense").version(47).send(&fake).await;
    assert_eq!(fake.calls(), ["history a platform=-"]);
}

#[tokio::test]
async fn unknown_suffixes_and_methods_are_dockerds_404() {
    for (method, uri) in [
        (Method::GET, "/images/foo/bogus"),
        (Method::GET, "/images/foo"),
        (Method::GET, "/images/json/x"),
        (Method::POST, "/images/foo/bogus"),
        (Method::POST, "/images/push"),
        (Method::GET, "/distribution/busybox"),
    ] {
        let fake = Arc::new(Fake::default());
        let out = req(method.clone(), uri).send(&fake).await;
        expect![[r#"
            404 Not Found
            content-length: 29
            content-type: application/json

            {"message":"page not found"}
        "#]]
        .assert_eq(&out);
        assert!(fake.calls().is_empty(), "{method} {uri}");
    }
    // dockerd registers no HEAD route here (the 404 body is dropped for HEAD).
    let head = req(Method::HEAD, "/images/busybox/json").send(&Arc::new(Fake::default())).await;
    assert!(head.starts_with("404 Not Found\n"), "{head}");
}

#[tokio::test]
async fn exact_paths_leave_other_methods_to_the_daemon() {
    // GET /images/search is not routed here (the daemon's table answers 501), and a method
    // dockerd has no route for is left to the daemon's fallback too: axum reports 405.
    for (method, uri) in [
        (Method::GET, "/images/search"),
        (Method::POST, "/images/json"),
        (Method::GET, "/images/load"),
        (Method::GET, "/images/"),
        (Method::PUT, "/images/busybox/json"),
    ] {
        let fake = Arc::new(Fake::default());
        let out = req(method.clone(), uri).send(&fake).await;
        assert!(out.starts_with("405"), "{method} {uri}: {out}");
    }
}

#[tokio::test]
async fn delete_names_everything_after_images() {
    check(
        req(Method::DELETE, "/images/localhost:5000/team/app:1?force=1&noprune=true"),
        expect![[r#"
            200 OK
            content-length: 67
            content-type: application/json

            [{"Untagged":"localhost:5000/team/app:1"},{"Deleted":"sha256:aa"}]
            > remove localhost:5000/team/app:1 force=true prune=false platforms=
        "#]],
    )
    .await;
    let fake = Arc::new(Fake::default());
    for uri in [
        "/images/json",
        "/images/search",
        "/images/create",
        "/images/a/b/json",
        "/images/x?platforms=%7B%22os%22%3A%22linux%22%2C%22architecture%22%3A%22amd64%22%7D&platforms=%7B%22os%22%3A%22linux%22%2C%22architecture%22%3A%22arm64%22%7D",
    ] {
        req(Method::DELETE, uri).send(&fake).await;
    }
    req(Method::DELETE, "/images/y?platforms=junk").version(49).send(&fake).await;
    assert_eq!(
        fake.calls(),
        [
            "remove json force=false prune=true platforms=",
            "remove search force=false prune=true platforms=",
            "remove create force=false prune=true platforms=",
            "remove a/b/json force=false prune=true platforms=",
            "remove x force=false prune=true platforms=linux/amd64|linux/arm64",
            "remove y force=false prune=true platforms=",
        ]
    );
    for uri in ["/images/", "/images/%20"] {
        check(
            req(Method::DELETE, uri),
            expect![[r#"
                400 Bad Request
                content-length: 41
                content-type: application/json

                {"message":"image name cannot be blank"}
            "#]],
        )
        .await;
    }
    check(
        req(Method::DELETE, "/images/missing"),
        expect![[r#"
            404 Not Found
            content-length: 44
            content-type: application/json

            {"message":"No such image: missing:latest"}
            > remove missing force=false prune=true platforms=
        "#]],
    )
    .await;
}

#[tokio::test]
async fn tag_answers_201_with_a_normalized_target() {
    check(
        req(Method::POST, "/images/sha256:aa/tag?repo=localhost:5000/team/app&tag=v1"),
        expect![[r#"
            201 Created
            content-length: 0

            > tag sha256:aa -> localhost:5000/team/app:v1
        "#]],
    )
    .await;
    let fake = Arc::new(Fake::default());
    req(Method::POST, "/images/a/b:1/tag?repo=app").send(&fake).await;
    assert_eq!(fake.calls(), ["tag a/b:1 -> docker.io/library/app:latest"]);
}

#[tokio::test]
async fn tag_errors_follow_dockerd_28() {
    // dockerd 28 answers an empty 200 when `repo` is missing (a nil error wrapped) and tags nothing.
    check(
        req(Method::POST, "/images/busybox/tag"),
        expect![[r#"
            200 OK
            content-length: 0

        "#]],
    )
    .await;
    check(
        req(Method::POST, "/images/busybox/tag?repo=Bad"),
        expect![[r#"
            400 Bad Request
            content-length: 88
            content-type: application/json

            {"message":"invalid reference format: repository name (library/Bad) must be lowercase"}
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/images/busybox/tag?repo=new&tag=bad:tag"),
        expect![[r#"
            400 Bad Request
            content-length: 33
            content-type: application/json

            {"message":"invalid tag format"}
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/images/busybox/tag?repo=sha256"),
        expect![[r#"
            400 Bad Request
            content-length: 81
            content-type: application/json

            {"message":"refusing to create an ambiguous tag using digest algorithm as name"}
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/images/missing/tag?repo=new"),
        expect![[r#"
            404 Not Found
            content-length: 44
            content-type: application/json

            {"message":"No such image: missing:latest"}
            > tag missing -> docker.io/library/new:latest
        "#]],
    )
    .await;
}

#[tokio::test]
async fn pull_streams_progress_and_passes_auth_and_platform() {
    let auth = b64(r#"{"username":"me","password":"secret","serveraddress":"localhost:5000"}"#);
    check(
        req(
            Method::POST,
            "/images/create?fromImage=localhost:5000/team/app&tag=1&platform=linux/aarch64",
        )
        .header("x-registry-auth", auth.clone()),
        expect![[r#"
            200 OK
            content-type: application/json

            {"status":"Pulling from localhost:5000/team/app:1"}
            {"status":"Status: Downloaded newer image"}
            > pull localhost:5000/team/app:1 platform=linux/arm64 auth=me@localhost:5000
        "#]],
    )
    .await;
    let fake = Arc::new(Fake::default());
    let digest = format!("sha256:{}", "b".repeat(64));
    let unpadded = auth.trim_end_matches('=').to_owned();
    for (uri, header) in [
        ("/images/create?fromImage=busybox&tag=latest".to_owned(), unpadded),
        ("/images/create?fromImage=busybox:".to_owned(), "!!not base64!!".to_owned()),
        (format!("/images/create?fromImage=busybox&tag={digest}"), String::new()),
        // fromImage wins over fromSrc, as in dockerd; an old client's platform is ignored.
        ("/images/create?fromImage=busybox&fromSrc=-&platform=bogus".to_owned(), String::new()),
    ] {
        let call = req(Method::POST, &uri).version(31);
        let call = if header.is_empty() { call } else { call.header("x-registry-auth", header) };
        call.send(&fake).await;
    }
    assert_eq!(
        fake.calls(),
        [
            "pull docker.io/library/busybox:latest platform=- auth=me@localhost:5000".to_owned(),
            "pull docker.io/library/busybox platform=- auth=anonymous".to_owned(),
            format!("pull docker.io/library/busybox@{digest} platform=- auth=anonymous"),
            "pull docker.io/library/busybox platform=- auth=anonymous".to_owned(),
        ]
    );
}

#[tokio::test]
async fn pull_failures_before_and_after_the_first_message() {
    // Nothing written yet: a plain error with the backend's status.
    check(
        req(Method::POST, "/images/create?fromImage=early&tag=1"),
        expect![[r#"
            404 Not Found
            content-length: 31
            content-type: application/json

            {"message":"manifest unknown"}
            > pull docker.io/library/early:1 platform=- auth=anonymous
        "#]],
    )
    .await;
    // After the first message: 200, then dockerd's in-band error line, then nothing more.
    check(
        req(Method::POST, "/images/create?fromImage=late&tag=1"),
        expect![[r#"
            200 OK
            content-type: application/json

            {"status":"Pulling from library/late"}
            {"errorDetail":{"message":"connection reset by peer"},"error":"connection reset by peer"}
            > pull docker.io/library/late:1 platform=- auth=anonymous
        "#]],
    )
    .await;
}

#[tokio::test]
async fn create_rejects_bad_input_like_dockerd() {
    for (uri, want) in [
        (
            "/images/create?fromImage=INVALID",
            expect![[r#"
                400 Bad Request
                content-length: 92
                content-type: application/json

                {"message":"invalid reference format: repository name (library/INVALID) must be lowercase"}
            "#]],
        ),
        (
            "/images/create?fromImage=busybox&tag=a:b",
            expect![[r#"
                400 Bad Request
                content-length: 33
                content-type: application/json

                {"message":"invalid tag format"}
            "#]],
        ),
        (
            "/images/create?fromImage=scratch",
            expect![[r#"
                403 Forbidden
                content-length: 43
                content-type: application/json

                {"message":"'scratch' is a reserved name"}
            "#]],
        ),
        (
            "/images/create?fromImage=busybox&platform=linux/*",
            expect![[r#"
                400 Bad Request
                content-length: 73
                content-type: application/json

                {"message":"\"linux/*\": wildcards not yet supported: invalid argument"}
            "#]],
        ),
        (
            "/images/create",
            expect![[r#"
                500 Internal Server Error
                content-length: 58
                content-type: application/json

                {"message":"Get \"http:\": http: no Host in request URL"}
            "#]],
        ),
        (
            "/images/create?fromSrc=-&repo=app@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            expect![[r#"
                400 Bad Request
                content-length: 45
                content-type: application/json

                {"message":"cannot import digest reference"}
            "#]],
        ),
    ] {
        check(req(Method::POST, uri), want).await;
    }
}

#[tokio::test]
async fn import_reads_the_body_or_a_url() {
    check(
        req(
            Method::POST,
            "/images/create?fromSrc=-&repo=localhost:5000/team/app&tag=1&changes=CMD%20%5B%22sh%22%5D&changes=ENV%20A%3Db&platform=linux/arm64/v8",
        )
        .header("content-type", "application/x-tar")
        .body("root.tar bytes"),
        expect![[r#"
            200 OK
            content-type: application/json

            {"status":"sha256:aa"}
            > import body="root.tar bytes" ref=localhost:5000/team/app:1 changes=["CMD [\"sh\"]", "ENV A=b"] message="Imported from -" platform=linux/arm64v8
        "#]],
    )
    .await;
    let fake = Arc::new(Fake::default());
    req(Method::POST, "/images/create?fromSrc=example.com/root.tar&message=hi").send(&fake).await;
    req(Method::POST, "/images/create?fromSrc=https://example.com/r.tar").send(&fake).await;
    assert_eq!(
        fake.calls(),
        [
            r#"import url=http://example.com/root.tar ref=- changes=[] message="hi" platform=-"#,
            r#"import url=https://example.com/r.tar ref=- changes=[] message="Imported from https://example.com/r.tar" platform=-"#,
        ]
    );
}

#[tokio::test]
async fn push_streams_progress() {
    let fake = Arc::new(Fake::default());
    let out = req(
        Method::POST,
        "/images/localhost:5000/team/app/push?tag=1&platform=%7B%22os%22%3A%22linux%22%2C%22architecture%22%3A%22amd64%22%7D",
    )
    .header("x-registry-auth", b64(r#"{"username":"me","serveraddress":"r"}"#))
    .send(&fake)
    .await;
    expect![[r#"
        200 OK
        content-type: application/json

        {"status":"Pulling from localhost:5000/team/app:1"}
        {"status":"Status: Downloaded newer image"}
        > push localhost:5000/team/app:1 platform=linux/amd64 auth=me@r
    "#]]
    .assert_eq(&out);
    let fake = Arc::new(Fake::default());
    // No tag: every tag of the repository; before 1.46 the platform is ignored.
    req(Method::POST, "/images/team/app/push?platform=junk").version(45).send(&fake).await;
    assert_eq!(fake.calls(), ["push docker.io/team/app platform=- auth=anonymous"]);
    check(
        req(Method::POST, "/images/team/late/push?tag=x"),
        expect![[r#"
            200 OK
            content-type: application/json

            {"status":"Pulling from library/late"}
            {"errorDetail":{"message":"connection reset by peer"},"error":"connection reset by peer"}
            > push docker.io/team/late:x platform=- auth=anonymous
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/images/team/APP/push?tag=x"),
        expect![[r#"
            400 Bad Request
            content-length: 85
            content-type: application/json

            {"message":"invalid reference format: repository name (team/APP) must be lowercase"}
        "#]],
    )
    .await;
}

#[tokio::test]
async fn save_streams_a_tarball() {
    check(
        req(Method::GET, "/images/get?names=busybox&names=localhost:5000/a:1"),
        expect![[r#"
            200 OK
            content-type: application/x-tar

            tar-part-1;tar-part-2;> save ["busybox", "localhost:5000/a:1"] platform=-
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/images/localhost:5000/a:1/get"),
        expect![[r#"
            200 OK
            content-type: application/x-tar

            tar-part-1;tar-part-2;> save ["localhost:5000/a:1"] platform=-
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/images/missing/get"),
        expect![[r#"
            404 Not Found
            content-length: 37
            content-type: application/json

            {"message":"No such image: missing"}
            > save ["missing"] platform=-
        "#]],
    )
    .await;
    // A failure mid-archive is appended in-band, as dockerd does.
    check(
        req(Method::GET, "/images/late/get"),
        expect![[r#"
            200 OK
            content-type: application/x-tar

            tar-part-1;tar-part-2;{"errorDetail":{"message":"layer vanished"},"error":"layer vanished"}
            > save ["late"] platform=-
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/images/get?platform=%7B%7D&platform=%7B%7D"),
        expect![[r#"
            400 Bad Request
            content-length: 57
            content-type: application/json

            {"message":"multiple platform parameters not supported"}
        "#]],
    )
    .await;
}

#[tokio::test]
async fn load_answers_200_and_reports_failures_in_band() {
    check(
        req(Method::POST, "/images/load").body("tarball"),
        expect![[r#"
            200 OK
            content-type: application/json

            {"stream":"Loaded image: busybox:latest\n"}
            > load body="tarball" quiet=true platform=-
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/images/load?quiet=0")
            .header("content-type", "application/x-tar")
            .body("garbage"),
        expect![[r#"
            200 OK
            content-type: application/json

            {"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}
            > load body="garbage" quiet=false platform=-
        "#]],
    )
    .await;
}

#[tokio::test]
async fn distribution_inspect_normalizes_the_reference() {
    check(
        req(Method::GET, "/distribution/localhost:5000/team/app:1/json")
            .header("x-registry-auth", b64(r#"{"username":"me","serveraddress":"r"}"#)),
        expect![[r#"
            200 OK
            content-length: 153
            content-type: application/json

            {"Descriptor":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:ee","size":9},"Platforms":[{"architecture":"amd64","os":"linux"}]}
            > distribution localhost:5000/team/app:1 auth=me@r
        "#]],
    )
    .await;
    let fake = Arc::new(Fake::default());
    req(Method::GET, "/distribution/busybox/json").send(&fake).await;
    assert_eq!(fake.calls(), ["distribution docker.io/library/busybox:latest auth=anonymous"]);
    check(
        req(Method::GET, &format!("/distribution/{}/json", "c".repeat(64))),
        expect![[r#"
            500 Internal Server Error
            content-length: 50
            content-type: application/json

            {"message":"no manifest found for full image ID"}
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/distribution/a:b:c/json"),
        expect![[r#"
            400 Bad Request
            content-length: 39
            content-type: application/json

            {"message":"invalid reference format"}
        "#]],
    )
    .await;
}

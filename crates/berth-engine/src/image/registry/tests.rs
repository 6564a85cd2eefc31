//! Pull, push and distribution inspect against a private registry and a private containerd.

use std::time::Duration;

use berth_api::image::{AuthConfig, Platform, ProgressMessage, Reference};
use berth_api::{Error, ErrorKind};
use berth_backend::{ImagePullOptions, ImagePushOptions, ProgressStream};
use containerd_client::services::v1::{
    CreateRequest, DeleteRequest, ListRequest as ListLeasesRequest,
};
use futures_util::StreamExt;

use super::testregistry::TestRegistry;
use super::{inspect, pull, push};
use crate::containerd::Containerd;
use crate::image::import::{ImportRequest, import};
use crate::image::{Store, ops, parse_reference, views};
use crate::testutil::{TestContainerd, tarball};

async fn import_image(store: &Store, name: &str, files: &[(&str, &str)]) -> String {
    let request = ImportRequest {
        body: futures_util::stream::iter([Ok(tarball(files))]).boxed(),
        name: Some(parse_reference(name).expect("name").to_string()),
        changes: vec![r#"CMD ["sh"]"#.to_owned()],
        message: String::new(),
        source: "-".to_owned(),
    };
    import(store, request).await.expect("import")
}

fn reference(name: &str) -> Reference {
    Reference::parse_normalized(name).expect("reference")
}

fn auth(user: &str, password: &str) -> AuthConfig {
    AuthConfig { username: user.into(), password: password.into(), ..AuthConfig::default() }
}

async fn collect(stream: ProgressStream) -> (Vec<ProgressMessage>, Option<Error>) {
    let mut stream = stream;
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(m) => out.push(m),
            Err(e) => {
                assert!(stream.next().await.is_none(), "the error ends the stream");
                return (out, Some(e));
            }
        }
    }
    (out, None)
}

async fn do_pull(
    store: &Store,
    name: &str,
    auth: AuthConfig,
) -> (Vec<ProgressMessage>, Option<Error>) {
    let options = ImagePullOptions { reference: reference(name), platform: None, auth };
    collect(pull(store, options).await.expect("pull starts")).await
}

async fn do_push(
    store: &Store,
    name: &str,
    auth: AuthConfig,
) -> (Vec<ProgressMessage>, Option<Error>) {
    let options = ImagePushOptions { reference: reference(name), platform: None, auth };
    collect(push(store, options).await.expect("push starts")).await
}

fn statuses(messages: &[ProgressMessage]) -> Vec<String> {
    messages.iter().map(|m| m.status.clone()).collect()
}

/// Removes every image and runs containerd's GC now.
async fn wipe(store: &Store, conn: &Containerd) {
    for entry in store.entries().await.expect("entries") {
        ops::remove(store, &entry.image.id, true).await.expect("remove");
    }
    collect_garbage(conn).await;
    assert!(store.entries().await.expect("entries").is_empty());
}

/// Runs containerd's GC now (a sync lease delete collects before it answers).
async fn collect_garbage(conn: &Containerd) {
    let id = format!("berth-test-gc-{}", uuid::Uuid::new_v4());
    conn.leases()
        .create(CreateRequest { id: id.clone(), labels: Default::default() })
        .await
        .expect("lease");
    conn.leases().delete(DeleteRequest { id, sync: true }).await.expect("gc");
}

/// The manifest digest the registry serves for `repo:tag`.
async fn served_digest(registry: &TestRegistry, repo: &str, tag: &str) -> String {
    let url = format!("http://{}/v2/{repo}/manifests/{tag}", registry.domain());
    let client = super::client::http_client(true).expect("client");
    let body = client
        .get(url)
        .header("Accept", crate::image::MEDIA_OCI_MANIFEST)
        .send()
        .await
        .expect("get manifest")
        .bytes()
        .await
        .expect("body");
    crate::content::sha256_digest(&body)
}

async fn leases_gone(conn: &Containerd) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let leases = conn
            .leases()
            .list(ListLeasesRequest { filters: Vec::new() })
            .await
            .expect("leases")
            .into_inner()
            .leases;
        if leases.is_empty() {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "leases left behind: {leases:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn push_remove_pull_round_trip() {
    let ctrd = TestContainerd::start().await;
    let registry = TestRegistry::start(None).await;
    let store = Store::new(ctrd.conn.clone(), Vec::new());
    let domain = registry.domain();
    let id = import_image(&store, "app-src", &[("etc/hello", "hi\n"), ("bin/tool", "x")]).await;
    let name = format!("{domain}/team/app:1");
    ops::tag(&store, "app-src", &format!("{domain}/team/app"), Some("1")).await.expect("tag");

    let (messages, err) = do_push(&store, &name, AuthConfig::default()).await;
    assert!(err.is_none(), "{err:?}");
    let s = statuses(&messages);
    assert_eq!(s[0], format!("The push refers to repository [{domain}/team/app]"));
    assert!(s.contains(&"Preparing".to_owned()), "{s:?}");
    assert!(s.contains(&"Pushing".to_owned()), "{s:?}");
    assert!(s.contains(&"Pushed".to_owned()), "{s:?}");
    let aux = messages.last().and_then(|m| m.aux.clone()).expect("aux last");
    let digest = aux["Digest"].as_str().expect("digest").to_owned();
    assert_eq!(aux["Tag"], "1");
    let size = aux["Size"].as_i64().expect("size");
    assert_eq!(s[s.len() - 2], format!("1: digest: {digest} size: {size}"));
    assert_eq!(served_digest(&registry, "team/app", "1").await, digest);
    let repo_digest = format!("{domain}/team/app@{digest}");
    let entry = store.find(&id).await.expect("image");
    assert_eq!(views::repo_digests(&entry), [repo_digest.as_str()]);

    let (messages, err) = do_push(&store, &name, AuthConfig::default()).await;
    assert!(err.is_none(), "{err:?}");
    assert!(statuses(&messages).contains(&"Layer already exists".to_owned()));

    let missing = push(
        &store,
        ImagePushOptions {
            reference: reference("nothing/here:1"),
            platform: None,
            auth: AuthConfig::default(),
        },
    )
    .await
    .err()
    .expect("nothing to push");
    assert_eq!(
        (missing.kind(), missing.message()),
        (ErrorKind::NotFound, "An image does not exist locally with the tag: nothing/here")
    );

    let inspected =
        inspect(&store, reference(&name), AuthConfig::default()).await.expect("inspect");
    assert_eq!(inspected.descriptor.digest, digest);
    assert_eq!(inspected.descriptor.media_type, crate::image::MEDIA_OCI_MANIFEST);
    assert_eq!(
        inspected.platforms,
        [Platform {
            os: "linux".into(),
            architecture: crate::go_arch().into(),
            ..Platform::default()
        }]
    );

    wipe(&store, &ctrd.conn).await;
    let (messages, err) = do_pull(&store, &name, AuthConfig::default()).await;
    assert!(err.is_none(), "{err:?}");
    let s = statuses(&messages);
    assert_eq!((s[0].as_str(), messages[0].id.as_str()), ("Pulling from team/app", "1"));
    for expected in [
        "Pulling fs layer",
        "Downloading",
        "Verifying Checksum",
        "Download complete",
        "Extracting",
        "Pull complete",
    ] {
        assert!(s.contains(&expected.to_owned()), "{expected} missing from {s:?}");
    }
    let layer_message = messages.iter().find(|m| m.status == "Downloading").expect("downloading");
    assert_eq!(layer_message.id.len(), 12);
    assert!(layer_message.progress.starts_with('['), "{}", layer_message.progress);
    assert_eq!(s[s.len() - 2], format!("Digest: {digest}"));
    assert_eq!(s[s.len() - 1], format!("Status: Downloaded newer image for {name}"));
    let entries = store.entries().await.expect("entries");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].image.id, id, "same config digest, same image ID");
    assert_eq!(views::repo_digests(&entries[0]), [repo_digest.as_str()]);
    assert_eq!(views::repo_tags(&entries[0]), [name.as_str()]);
    assert!(views::size(&entries[0]) > 0);
    leases_gone(&ctrd.conn).await;

    let (messages, err) = do_pull(&store, &name, AuthConfig::default()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        statuses(&messages).last().cloned(),
        Some(format!("Status: Image is up to date for {name}"))
    );

    let (messages, err) =
        do_pull(&store, &format!("{domain}/team/app:nope"), AuthConfig::default()).await;
    assert!(messages.is_empty(), "the error comes first: {messages:?}");
    let err = err.expect("missing tag");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.message(),
        format!(
            "manifest for {domain}/team/app:nope not found: manifest unknown: manifest unknown"
        )
    );

    // By digest: only the digest reference is recorded.
    wipe(&store, &ctrd.conn).await;
    let (messages, err) = do_pull(&store, &repo_digest, AuthConfig::default()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(messages[0].id, digest);
    let entries = store.entries().await.expect("entries");
    assert_eq!(entries[0].image.id, id);
    assert_eq!(views::repo_digests(&entries[0]), [repo_digest]);
    assert!(views::repo_tags(&entries[0]).is_empty());

    // Every tag of the repository.
    wipe(&store, &ctrd.conn).await;
    let (messages, err) =
        do_pull(&store, &format!("{domain}/team/app"), AuthConfig::default()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        statuses(&messages).last().cloned(),
        Some(format!("Status: Downloaded newer image for {domain}/team/app"))
    );
    assert_eq!(views::repo_tags(&store.entries().await.expect("entries")[0]), [name]);

    registry.stop().await;
    ctrd.stop().await;
}

#[tokio::test]
async fn basic_auth_needs_credentials() {
    let ctrd = TestContainerd::start().await;
    let registry = TestRegistry::start(Some(("berth", "s3cret"))).await;
    let store = Store::new(ctrd.conn.clone(), Vec::new());
    let domain = registry.domain();
    let name = format!("{domain}/team/private:1");
    import_image(&store, &name, &[("secret", "42")]).await;

    let (messages, err) = do_push(&store, &name, AuthConfig::default()).await;
    let s = statuses(&messages);
    assert_eq!(s[0], format!("The push refers to repository [{domain}/team/private]"));
    assert!(!s.contains(&"Pushed".to_owned()), "{s:?}");
    let err = err.expect("anonymous push fails");
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{}", err.message());
    assert!(err.message().ends_with("no basic auth credentials"), "{}", err.message());

    let (_, err) = do_push(&store, &name, auth("berth", "wrong")).await;
    let err = err.expect("wrong password fails");
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{}", err.message());

    let (_, err) = do_push(&store, &name, auth("berth", "s3cret")).await;
    assert!(err.is_none(), "{err:?}");

    wipe(&store, &ctrd.conn).await;
    let (messages, err) = do_pull(&store, &name, AuthConfig::default()).await;
    assert!(messages.is_empty());
    assert_eq!(err.expect("anonymous pull fails").kind(), ErrorKind::Unauthorized);
    let (_, err) = do_pull(&store, &name, auth("berth", "s3cret")).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(store.entries().await.expect("entries").len(), 1);

    registry.stop().await;
    ctrd.stop().await;
}

#[tokio::test]
async fn cancelled_or_corrupt_pulls_leave_nothing() {
    let ctrd = TestContainerd::start().await;
    let registry = TestRegistry::start(None).await;
    let store = Store::new(ctrd.conn.clone(), Vec::new());
    let name = format!("{}/team/fragile:1", registry.domain());
    import_image(&store, &name, &[("data", &"x".repeat(4096))]).await;
    let (_, err) = do_push(&store, &name, AuthConfig::default()).await;
    assert!(err.is_none(), "{err:?}");
    let layer = store.entries().await.expect("entries")[0].image.layers[0].digest.clone();
    wipe(&store, &ctrd.conn).await;

    // The client goes away mid-download: the stream is dropped, the lease released.
    let options = ImagePullOptions {
        reference: reference(&name),
        platform: None,
        auth: AuthConfig::default(),
    };
    let mut stream = pull(&store, options).await.expect("pull starts");
    while let Some(item) = stream.next().await {
        if item.expect("no error").status == "Downloading" {
            break;
        }
    }
    drop(stream);
    leases_gone(&ctrd.conn).await;
    assert!(store.entries().await.expect("entries").is_empty());
    // What the cancelled pull wrote goes at the next collection: run one now, so the pull below
    // downloads the layer again instead of finding it.
    collect_garbage(&ctrd.conn).await;

    // A layer the registry serves garbled.
    let path = registry.blob_path(&layer);
    let len = std::fs::metadata(&path).expect("blob on disk").len() as usize;
    std::fs::write(&path, vec![b'!'; len]).expect("corrupt");
    let (messages, err) = do_pull(&store, &name, AuthConfig::default()).await;
    assert_eq!(statuses(&messages)[0], "Pulling from team/fragile");
    let err = err.expect("corrupt layer fails");
    assert_eq!(err.message(), format!("filesystem layer verification failed for digest {layer}"));
    assert!(store.entries().await.expect("entries").is_empty());
    leases_gone(&ctrd.conn).await;

    registry.stop().await;
    ctrd.stop().await;
}

//! The engine's `ImageBackend` against a real, private containerd.

use berth_api::image::{ImageDeleteItem, Reference};
use berth_api::{ErrorKind, Filters};
use berth_backend::{
    ImageBackend, ImageImportOptions, ImageInspectOptions, ImageListOptions, ImageRemoveOptions,
    ImportSource,
};
use futures_util::StreamExt;

use crate::Engine;
use crate::testutil::{TestContainerd, engine, tarball};

async fn import(
    engine: &Engine,
    name: Option<&str>,
    files: &[(&str, &str)],
    changes: &[&str],
) -> String {
    let body = futures_util::stream::iter([Ok(tarball(files))]).boxed();
    let options = ImageImportOptions {
        source: ImportSource::Body(body),
        reference: name.map(|n| Reference::parse_normalized(n).expect("valid name")),
        changes: changes.iter().map(|s| (*s).to_owned()).collect(),
        message: String::new(),
        platform: None,
    };
    let mut progress = engine.import(options).await.expect("import");
    let last = progress.next().await.expect("one message").expect("no error");
    let json = serde_json::to_value(&last).expect("json");
    json["status"].as_str().expect("status holds the ID").to_owned()
}

fn filters(json: &str) -> Filters {
    Filters::parse(json).expect("filters")
}

#[tokio::test]
async fn list_inspect_history_tag_remove() {
    let ctrd = TestContainerd::start().await;
    let engine = engine(&ctrd).await;
    assert!(engine.unavailable_reason().is_none());

    let a = import(&engine, Some("alpha"), &[("a", "1")], &[r#"LABEL tier=web"#, r#"CMD ["sh"]"#])
        .await;
    let b = import(&engine, Some("beta:2"), &[("b", "22")], &[]).await;
    let dangling = import(&engine, None, &[("c", "333")], &[]).await;

    let all = engine.list(ImageListOptions::default()).await.expect("list");
    assert_eq!(all.len(), 3);
    let tags: Vec<Vec<String>> = all.iter().map(|s| s.repo_tags.clone()).collect();
    assert!(tags.contains(&vec!["alpha:latest".to_owned()]), "{tags:?}");
    assert!(tags.contains(&vec!["beta:2".to_owned()]));
    assert!(tags.contains(&Vec::<String>::new()), "dangling image listed");

    let only = |f: &str| {
        let engine = &engine;
        let f = filters(f);
        async move {
            let list = engine
                .list(ImageListOptions { filters: f, ..Default::default() })
                .await
                .expect("list");
            list.into_iter().map(|s| s.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(only(r#"{"dangling":["true"]}"#).await, [dangling.as_str()]);
    assert_eq!(only(r#"{"label":["tier=web"]}"#).await, [a.as_str()]);
    assert_eq!(only(r#"{"reference":["bet*"]}"#).await, [b.as_str()]);
    assert!(only(r#"{"reference":["nothing"]}"#).await.is_empty());

    let inspect = engine.inspect("alpha", ImageInspectOptions::default()).await.expect("inspect");
    assert_eq!(inspect.id, a);
    assert_eq!(inspect.repo_tags, ["alpha:latest"]);
    assert_eq!(inspect.config.as_ref().map(|c| c.cmd.clone()), Some(vec!["sh".to_owned()]));
    assert_eq!(inspect.root_fs.layers.len(), 1);
    assert_eq!(inspect.os, "linux");
    assert!(inspect.created.is_some());
    let missing =
        engine.inspect("nope", ImageInspectOptions::default()).await.expect_err("missing");
    assert_eq!(
        (missing.kind(), missing.message()),
        (ErrorKind::NotFound, "No such image: nope:latest")
    );

    let history = engine.history("alpha", None).await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, a);
    assert_eq!(history[0].comment, "Imported from -");

    // Tag into a second repository; removal by ID then needs force.
    engine
        .tag("alpha", Reference::parse_normalized("localhost:5000/team/alpha:v1").expect("ref"))
        .await
        .expect("tag");
    let tagged = engine.inspect(&a, ImageInspectOptions::default()).await.expect("by id");
    assert_eq!(tagged.repo_tags, ["alpha:latest", "localhost:5000/team/alpha:v1"]);
    let conflict = engine.remove(&a, ImageRemoveOptions::default()).await.expect_err("needs force");
    assert_eq!(conflict.kind(), ErrorKind::Conflict);
    assert!(conflict.message().contains("must be forced"), "{}", conflict.message());

    // By reference: untag only, the image stays while another name points at it.
    let items = engine.remove("alpha", ImageRemoveOptions::default()).await.expect("untag");
    assert_eq!(items, [ImageDeleteItem::Untagged("alpha:latest".into())]);
    let items = engine
        .remove("localhost:5000/team/alpha:v1", ImageRemoveOptions::default())
        .await
        .expect("last tag");
    assert_eq!(
        items,
        [
            ImageDeleteItem::Untagged("localhost:5000/team/alpha:v1".into()),
            ImageDeleteItem::Deleted(a.clone())
        ]
    );
    let items = engine
        .remove(&dangling[7..19], ImageRemoveOptions::default())
        .await
        .expect("dangling by short id");
    assert_eq!(items, [ImageDeleteItem::Deleted(dangling.clone())]);
    let left = engine.list(ImageListOptions::default()).await.expect("list");
    assert_eq!(left.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), [b]);
    ctrd.stop().await;
}

#[tokio::test]
async fn without_containerd_every_call_is_503() {
    let engine = Engine::unavailable("no socket");
    let err = engine.list(ImageListOptions::default()).await.expect_err("unavailable");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.message(), "containerd is not available: no socket");
}

#[tokio::test]
async fn prune_removes_dangling_images_only_by_default() {
    let ctrd = TestContainerd::start().await;
    let engine = engine(&ctrd).await;
    let kept = import(&engine, Some("kept"), &[("k", "1")], &[]).await;
    let dangling = import(&engine, None, &[("d", "22")], &[]).await;

    let report = engine.prune(Filters::default()).await.expect("prune");
    assert_eq!(report.images_deleted, [ImageDeleteItem::Deleted(dangling)]);
    assert!(report.space_reclaimed > 0);
    let left: Vec<String> = engine
        .list(ImageListOptions::default())
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, [kept.as_str()]);

    let all = engine.prune(filters(r#"{"dangling":["false"]}"#)).await.expect("prune all");
    assert_eq!(all.images_deleted.len(), 2, "untagged + deleted: {:?}", all.images_deleted);
    assert!(engine.list(ImageListOptions::default()).await.expect("list").is_empty());
    ctrd.stop().await;
}

/// Serves `body` once over plain HTTP on 127.0.0.1; returns the URL.
async fn serve_once(body: bytes::Bytes) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        if let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
        }
    });
    format!("http://{addr}/rootfs.tar")
}

#[tokio::test]
async fn import_from_a_url() {
    let ctrd = TestContainerd::start().await;
    let engine = engine(&ctrd).await;
    let url = serve_once(tarball(&[("etc/motd", "from a url")])).await;
    let options = ImageImportOptions {
        source: ImportSource::Url(url.clone()),
        reference: Some(Reference::parse_normalized("fromurl:1").expect("ref")),
        changes: Vec::new(),
        message: String::new(),
        platform: None,
    };
    let mut progress = engine.import(options).await.expect("import from URL");
    assert!(progress.next().await.is_some_and(|m| m.is_ok()));
    let inspect =
        engine.inspect("fromurl:1", ImageInspectOptions::default()).await.expect("inspect");
    assert_eq!(inspect.comment, format!("Imported from {url}"));

    let bad = ImageImportOptions {
        source: ImportSource::Url("ftp://example.invalid/x.tar".into()),
        reference: None,
        changes: Vec::new(),
        message: String::new(),
        platform: None,
    };
    let err = engine.import(bad).await.err().expect("not http");
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    ctrd.stop().await;
}

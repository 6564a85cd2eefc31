use expect_test::expect;

use super::*;

fn json(value: impl Serialize) -> String {
    serde_json::to_string(&value).expect("serialize")
}

fn v(minor: u32) -> ApiVersion {
    ApiVersion::new(1, minor)
}

fn summary() -> ImageSummary {
    ImageSummary {
        id: "sha256:aa".into(),
        repo_tags: vec!["busybox:latest".into()],
        created: 7,
        size: 42,
        shared_size: -1,
        containers: 2,
        descriptor: Some(Descriptor {
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            digest: "sha256:bb".into(),
            size: 9,
            ..Descriptor::default()
        }),
        ..ImageSummary::default()
    }
}

#[test]
fn summary_follows_the_requested_version() {
    let s = summary();
    expect![[r#"{"Containers":2,"Created":7,"Id":"sha256:aa","Labels":null,"ParentId":"","Descriptor":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:bb","size":9},"RepoDigests":[],"RepoTags":["busybox:latest"],"SharedSize":-1,"Size":42}"#]]
        .assert_eq(&json(s.for_api(v(51))));
    // No Descriptor before 1.48, Containers -1 before 1.51.
    expect![[r#"{"Containers":-1,"Created":7,"Id":"sha256:aa","Labels":null,"ParentId":"","RepoDigests":[],"RepoTags":["busybox:latest"],"SharedSize":-1,"Size":42}"#]]
        .assert_eq(&json(s.for_api(v(47))));
    // VirtualSize before 1.44; nil lists are null before 1.43.
    expect![[r#"{"Containers":-1,"Created":7,"Id":"sha256:aa","Labels":null,"ParentId":"","RepoDigests":null,"RepoTags":["busybox:latest"],"SharedSize":-1,"Size":42,"VirtualSize":42}"#]]
        .assert_eq(&json(s.for_api(v(41))));
    let untagged = ImageSummary { repo_tags: vec![], ..summary() };
    expect![[r#"{"Containers":-1,"Created":7,"Id":"sha256:aa","Labels":null,"ParentId":"","RepoDigests":["<none>@<none>"],"RepoTags":["<none>:<none>"],"SharedSize":-1,"Size":42,"VirtualSize":42}"#]]
        .assert_eq(&json(untagged.for_api(v(42))));
    expect![[r#"{"Containers":-1,"Created":7,"Id":"sha256:aa","Labels":null,"ParentId":"","RepoDigests":[],"RepoTags":[],"SharedSize":-1,"Size":42}"#]]
        .assert_eq(&json(untagged.for_api(v(44))));
}

fn inspect() -> ImageInspect {
    ImageInspect {
        id: "sha256:aa".into(),
        repo_tags: vec!["busybox:latest".into()],
        created: Some("2024-01-01T00:00:00.5Z".into()),
        container: "c0ffee".into(),
        container_config: Some(serde_json::json!({"Hostname": "h"})),
        config: Some(ImageConfig {
            cmd: vec!["sh".into()],
            env: vec!["PATH=/bin".into()],
            exposed_ports: [("80/tcp".to_owned(), Empty {})].into(),
            healthcheck: Some(HealthConfig {
                test: vec!["CMD".into(), "true".into()],
                retries: 3,
                interval: 1_000_000_000,
                ..HealthConfig::default()
            }),
            ..ImageConfig::default()
        }),
        architecture: "amd64".into(),
        os: "linux".into(),
        size: 42,
        graph_driver: GraphDriver { data: None, name: "overlayfs".into() },
        root_fs: RootFs { kind: "layers".into(), layers: vec!["sha256:cc".into()] },
        descriptor: Some(Descriptor {
            media_type: "m".into(),
            digest: "sha256:aa".into(),
            size: 1,
            ..Descriptor::default()
        }),
        ..ImageInspect::default()
    }
}

#[test]
fn inspect_puts_a_sorted_config_last_with_the_legacy_fields() {
    expect![[r#"{"Id":"sha256:aa","RepoTags":["busybox:latest"],"RepoDigests":[],"Parent":"","Comment":"","Created":"2024-01-01T00:00:00.5Z","DockerVersion":"","Author":"","Architecture":"amd64","Os":"linux","Size":42,"GraphDriver":{"Data":null,"Name":"overlayfs"},"RootFS":{"Type":"layers","Layers":["sha256:cc"]},"Metadata":{"LastTagTime":"0001-01-01T00:00:00Z"},"Descriptor":{"mediaType":"m","digest":"sha256:aa","size":1},"Config":{"Cmd":["sh"],"Entrypoint":null,"Env":["PATH=/bin"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":1000000000,"Retries":3,"Test":["CMD","true"]},"Labels":null,"OnBuild":null,"User":"","Volumes":null,"WorkingDir":""}}"#]]
        .assert_eq(&json(inspect().for_api(v(51))));
}

#[test]
fn inspect_follows_the_requested_version() {
    // 1.44: Container fields still there, no Descriptor, the long legacy Config.
    expect![[r#"{"Id":"sha256:aa","RepoTags":["busybox:latest"],"RepoDigests":[],"Parent":"","Comment":"","Created":"2024-01-01T00:00:00.5Z","Container":"c0ffee","ContainerConfig":{"Hostname":"h"},"DockerVersion":"","Author":"","Architecture":"amd64","Os":"linux","Size":42,"GraphDriver":{"Data":null,"Name":"overlayfs"},"RootFS":{"Type":"layers","Layers":["sha256:cc"]},"Metadata":{"LastTagTime":"0001-01-01T00:00:00Z"},"Config":{"AttachStderr":false,"AttachStdin":false,"AttachStdout":false,"Cmd":["sh"],"Domainname":"","Entrypoint":null,"Env":["PATH=/bin"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":1000000000,"Retries":3,"Test":["CMD","true"]},"Hostname":"","Image":"","Labels":null,"OnBuild":null,"OpenStdin":false,"StdinOnce":false,"Tty":false,"User":"","Volumes":null,"WorkingDir":""}}"#]]
        .assert_eq(&json(inspect().for_api(v(44))));
    // 1.41: VirtualSize, and a zero Created when the image has none.
    let bare = ImageInspect { created: None, config: None, ..inspect() };
    let old: serde_json::Value = serde_json::to_value(bare.for_api(v(41))).expect("value");
    assert_eq!(old["VirtualSize"], 42);
    assert_eq!(old["Created"], ZERO_TIME);
    assert_eq!(old["Config"]["Tty"], false, "legacy defaults without a config");
    let new: serde_json::Value = serde_json::to_value(bare.for_api(v(51))).expect("value");
    assert!(new.get("Created").is_none() && new.get("VirtualSize").is_none());
    assert!(new.get("Container").is_none() && new.get("ContainerConfig").is_none());
}

#[test]
fn small_shapes_match_dockerd() {
    expect![[r#"[{"Untagged":"busybox:latest"},{"Deleted":"sha256:aa"}]"#]].assert_eq(&json(vec![
        ImageDeleteItem::Untagged("busybox:latest".into()),
        ImageDeleteItem::Deleted("sha256:aa".into()),
    ]));
    expect![[r#"{"ImagesDeleted":null,"SpaceReclaimed":0}"#]]
        .assert_eq(&json(ImagePruneReport::default()));
    expect![[
        r#"{"Comment":"","Created":1,"CreatedBy":"/bin/sh","Id":"<missing>","Size":0,"Tags":null}"#
    ]]
    .assert_eq(&json(HistoryItem {
        created: 1,
        created_by: "/bin/sh".into(),
        id: "<missing>".into(),
        ..HistoryItem::default()
    }));
    expect![[r#"{"Descriptor":{"mediaType":"m","digest":"sha256:aa","size":3},"Platforms":null}"#]]
        .assert_eq(&json(DistributionInspect {
            descriptor: Descriptor {
                media_type: "m".into(),
                digest: "sha256:aa".into(),
                size: 3,
                ..Descriptor::default()
            },
            platforms: vec![],
        }));
}

#[test]
fn progress_messages_match_jsonmessage() {
    expect![[r#"{"errorDetail":{"message":"boom"},"error":"boom"}"#]]
        .assert_eq(&json(ProgressMessage::error("boom")));
    expect![[r#"{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}"#]].assert_eq(&json(
        ProgressMessage {
            progress_detail: Some(ProgressDetail::default()),
            ..ProgressMessage::status("abc", "Pulling fs layer")
        },
    ));
    expect![[r#"{"stream":"Loaded image: busybox:latest\n"}"#]]
        .assert_eq(&json(ProgressMessage::stream("Loaded image: busybox:latest\n")));
}

#[test]
fn auth_config_decodes_like_go_and_never_shows_secrets() {
    let auth = AuthConfig::from_json(
        br#"{"Username":"u","password":"p","serveraddress":"r","email":null,"x":1} trailing"#,
    )
    .expect("decode");
    assert_eq!(
        (auth.username.as_str(), auth.password.as_str(), auth.serveraddress.as_str()),
        ("u", "p", "r")
    );
    let shown = format!("{auth:?}");
    assert!(!shown.contains("\"p\"") && shown.contains("<redacted>"), "{shown}");
    assert!(AuthConfig::from_json(br#"{"username":1}"#).is_err());
    assert!(AuthConfig::from_json(b"[]").is_err());
    assert!(AuthConfig::from_json(b"").is_err());
    assert!(AuthConfig::from_json(b"{}").expect("empty").is_empty());
}

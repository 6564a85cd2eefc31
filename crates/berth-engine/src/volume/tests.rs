//! The volume store on a temporary data-root: create, references, removal, prune, usage, and
//! tmpfs-typed volumes mounted by their first user and unmounted after the last (root only,
//! as every engine test).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use berth_api::volume::{ANONYMOUS_LABEL, VolumeCreateOptions};
use berth_api::{ErrorKind, Filters};

use super::{Volumes, local};
use crate::testutil::RecordedEvents;

fn open(root: &Path) -> (Volumes, Arc<RecordedEvents>) {
    let events = Arc::new(RecordedEvents::default());
    let store = Volumes::open(root.join("volumes"), events.clone()).expect("open");
    (store, events)
}

fn named(name: &str) -> VolumeCreateOptions {
    VolumeCreateOptions { name: name.to_owned(), ..VolumeCreateOptions::default() }
}

fn tmpfs(name: &str) -> VolumeCreateOptions {
    let options: BTreeMap<String, String> =
        [("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    VolumeCreateOptions { driver_opts: Some(options), ..named(name) }
}

fn filters(json: &str) -> Filters {
    Filters::parse(json).expect("filters")
}

/// Unmounts a test volume's `_data` if a failed assertion left it mounted.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        if local::is_mounted(&self.0) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[test]
fn volumes_are_created_once_and_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, events) = open(dir.path());
    let labels = Some(BTreeMap::from([("team".to_owned(), "a".to_owned())]));
    let created =
        store.create(VolumeCreateOptions { labels, ..named("data") }, None).expect("create");
    assert_eq!(created.name, "data");
    assert_eq!(created.driver, "local");
    assert_eq!(created.scope, "local");
    assert_eq!(created.options, None);
    assert_eq!(Path::new(&created.mountpoint), dir.path().join("volumes/data/_data"));
    assert!(Path::new(&created.mountpoint).is_dir());
    assert!(
        created.created_at.ends_with('Z') && created.created_at.len() == 20,
        "{}",
        created.created_at
    );

    // The same name again: that volume, unchanged, and no second event.
    let again = store.create(named("data"), Some("c1")).expect("existing");
    assert_eq!(again, created);
    assert_eq!(events.actions("data"), ["create"]);

    let anonymous = store.create(VolumeCreateOptions::default(), None).expect("anonymous");
    assert_eq!(anonymous.name.len(), 64);
    assert!(anonymous.name.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        anonymous.labels,
        Some(BTreeMap::from([(ANONYMOUS_LABEL.to_owned(), String::new())]))
    );
    assert!(store.is_anonymous(&anonymous.name) && !store.is_anonymous("data"));

    drop(store);
    let (reopened, _) = open(dir.path());
    assert_eq!(reopened.get("data").expect("kept"), created);
    assert_eq!(reopened.get(&anonymous.name).expect("kept"), anonymous);
    let names: Vec<String> =
        reopened.list(&Filters::default()).volumes.into_iter().map(|v| v.name).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"data".to_owned()));
}

#[test]
fn bad_names_drivers_and_options_are_refused_with_dockerds_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    let err = store.create(named("a"), None).expect_err("short");
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    assert_eq!(
        err.message(),
        "create a: volume name is too short, names should be at least two alphanumeric characters"
    );
    let err = store.create(named("a/b"), None).expect_err("slash");
    assert!(err.message().starts_with("create a/b: \"a/b\" includes invalid characters"), "{err}");
    let err = store
        .create(VolumeCreateOptions { driver: "nfs-plugin".into(), ..named("x1") }, None)
        .expect_err("driver");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.message(),
        "create x1: error looking up volume plugin nfs-plugin: plugin \"nfs-plugin\" not found"
    );
    let options = Some(BTreeMap::from([("colour".to_owned(), "red".to_owned())]));
    let err = store
        .create(VolumeCreateOptions { driver_opts: options, ..named("x2") }, None)
        .expect_err("option");
    assert_eq!(err.message(), "create x2: invalid option: \"colour\"");
    assert!(store.list(&Filters::default()).volumes.is_empty(), "nothing was created");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("volumes")).expect("dir").collect();
    assert!(left.is_empty(), "no directory left: {left:?}");
}

#[tokio::test]
async fn referenced_volumes_stay_until_released() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, events) = open(dir.path());
    store.create(named("shared"), Some("c1")).expect("create");
    store.reference("shared", "c2").expect("reference");
    let err = store.remove("shared", true).await.expect_err("in use");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.message(), "remove shared: volume is in use - [c1, c2]");
    assert_eq!(store.list(&filters(r#"{"dangling":["true"]}"#)).volumes.len(), 0);

    store.release("shared", "c1");
    store.release("shared", "c2");
    assert_eq!(store.list(&filters(r#"{"dangling":["true"]}"#)).volumes.len(), 1);
    store.remove("shared", false).await.expect("remove");
    assert!(!dir.path().join("volumes/shared").exists());
    assert_eq!(events.actions("shared"), ["create", "destroy"]);

    let err = store.remove("shared", false).await.expect_err("gone");
    assert_eq!((err.kind(), err.message()), (ErrorKind::NotFound, "get shared: no such volume"));
    store.remove("shared", true).await.expect("force forgives a missing volume");
    assert_eq!(store.get("nope").expect_err("missing").message(), "get nope: no such volume");
    assert!(store.reference("nope", "c3").is_err());
}

#[tokio::test]
async fn prune_takes_anonymous_unused_volumes_unless_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, events) = open(dir.path());
    store.create(named("named"), None).expect("named");
    let anon = store.create(VolumeCreateOptions::default(), None).expect("anonymous").name;
    let used = store.create(VolumeCreateOptions::default(), Some("c1")).expect("used").name;
    store.create(tmpfs("mounted"), None).expect("with options");
    std::fs::write(store.data_dir(&anon).join("f"), vec![7u8; 8192]).expect("write");

    let report = store.prune(&Filters::default()).await.expect("prune");
    assert_eq!(report.volumes_deleted, std::slice::from_ref(&anon));
    assert!(report.space_reclaimed >= 8192, "{report:?}");
    assert_eq!(events.actions(""), ["prune"]);

    let report = store.prune(&filters(r#"{"all":["true"],"label!":["keep"]}"#)).await.expect("all");
    assert_eq!(report.volumes_deleted, ["named"]);
    let left: Vec<String> =
        store.list(&Filters::default()).volumes.into_iter().map(|v| v.name).collect();
    assert_eq!(left, vec![used, "mounted".to_owned()], "referenced and option volumes stay");
}

#[tokio::test]
async fn usage_counts_size_and_references() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    store.create(named("big"), Some("c1")).expect("create");
    store.create(tmpfs("opts"), None).expect("create");
    std::fs::write(store.data_dir("big").join("f"), vec![1u8; 10_000]).expect("write");
    let usage = store.usage().await;
    assert_eq!(usage.len(), 1, "volumes with mount options are not measured, as dockerd");
    let data = usage[0].usage_data.as_ref().expect("usage");
    assert_eq!(data.ref_count, 1);
    assert!(data.size >= 10_000, "{data:?}");
}

#[test]
fn tmpfs_volumes_are_mounted_while_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    store.create(tmpfs("scratch"), Some("c1")).expect("create");
    let data = store.data_dir("scratch");
    let _guard = Unmount(data.clone());
    assert!(!local::is_mounted(&data), "not mounted before use");

    assert_eq!(store.mount("scratch", "c1").expect("mount"), data);
    assert!(local::is_mounted(&data));
    std::fs::write(data.join("f"), "in tmpfs").expect("write");
    store.reference("scratch", "c2").expect("reference");
    store.mount("scratch", "c2").expect("second user");
    assert!(store.unmount("scratch", "c1").expect("first leaves"));
    assert!(local::is_mounted(&data), "still mounted for the second user");
    assert!(!store.unmount("scratch", "c1").expect("again"), "c1 held no mount any more");

    // berthd restarts while c2 runs: the mount is found and kept for c2.
    drop(store);
    let (store, _) = open(dir.path());
    store.restore_reference("scratch", "c1", false);
    store.restore_reference("scratch", "c2", true);
    store.unmount_unused();
    assert!(local::is_mounted(&data), "kept for the running container");
    assert!(store.unmount("scratch", "c2").expect("last leaves"));
    assert!(!local::is_mounted(&data), "unmounted after the last user");
    assert!(!data.join("f").exists(), "the tmpfs content went with it");

    // A mount nobody uses after a restart is unmounted.
    store.mount("scratch", "c1").expect("mount");
    drop(store);
    let (store, _) = open(dir.path());
    store.restore_reference("scratch", "c1", false);
    store.unmount_unused();
    assert!(!local::is_mounted(&data));
}

#[test]
fn a_failed_mount_names_the_mount() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    let options: BTreeMap<String, String> =
        [("type", "nosuchfs"), ("device", "dev"), ("o", "password=s3cret")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    store
        .create(VolumeCreateOptions { driver_opts: Some(options), ..named("broken") }, Some("c1"))
        .expect("create");
    let err = store.mount("broken", "c1").expect_err("unknown filesystem");
    assert!(err.message().starts_with("error while mounting volume '"), "{err}");
    assert!(
        err.message().contains("password=********") && !err.message().contains("s3cret"),
        "{err}"
    );
    assert!(!store.unmount("broken", "c1").expect("no mount held"));
}

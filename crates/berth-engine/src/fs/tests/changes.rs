//! `docker diff` on a real overlay mount, and `SizeRw`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_api::container::ContainerChangeResponseItem;
use nix::mount::{MntFlags, MsFlags};

/// An overlay like a container's: two image layers, an upper and a work directory, mounted.
struct Overlay {
    dir: tempfile::TempDir,
    merged: PathBuf,
    mounted: bool,
}

impl Overlay {
    fn new(build_layers: impl FnOnce(&Path, &Path)) -> Self {
        let dir = tempfile::Builder::new().prefix("berth-diff-").tempdir_in("/tmp").expect("tmp");
        for sub in ["bottom", "top", "upper", "work", "merged", "scratch"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        build_layers(&dir.path().join("bottom"), &dir.path().join("top"));
        let p = |s: &str| dir.path().join(s).to_string_lossy().into_owned();
        let options = format!(
            "lowerdir={}:{},upperdir={},workdir={}",
            p("top"),
            p("bottom"),
            p("upper"),
            p("work")
        );
        let merged = dir.path().join("merged");
        nix::mount::mount(
            Some("overlay"),
            &merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(options.as_str()),
        )
        .expect("mount overlay (tests run as root)");
        Self { dir, merged, mounted: true }
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.merged.join(rel.trim_start_matches('/'))
    }

    fn lowers(&self) -> Vec<PathBuf> {
        vec![self.dir.path().join("top"), self.dir.path().join("bottom")]
    }

    fn upper(&self) -> PathBuf {
        self.dir.path().join("upper")
    }

    fn scratch(&self) -> PathBuf {
        self.dir.path().join("scratch")
    }

    fn unmount(&mut self) {
        nix::mount::umount2(&self.merged, MntFlags::empty()).expect("umount");
        self.mounted = false;
    }

    fn changes(&self) -> Vec<(u8, String)> {
        let found: Vec<ContainerChangeResponseItem> =
            crate::fs::changes(&self.lowers(), &self.upper(), &self.scratch()).expect("changes");
        found.into_iter().map(|c| (c.kind, c.path)).collect()
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        if self.mounted {
            let _ = nix::mount::umount2(&self.merged, MntFlags::MNT_DETACH);
        }
    }
}

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir -p");
    std::fs::write(path, content).expect("write");
}

fn image(bottom: &Path, top: &Path) {
    for (rel, content) in [
        ("a", "a"),
        ("b", "b"),
        ("d/x", "x"),
        ("d/y", "y"),
        ("o/p", "p"),
        ("o/q/deep", "deep"),
        ("keep/k", "k"),
        ("same", "same"),
    ] {
        write(&bottom.join(rel), content);
    }
    write(&top.join("c2"), "from the top layer");
}

fn expected() -> Vec<(u8, String)> {
    [
        (0, "/a"),
        (2, "/b"),
        (2, "/c2"),
        (0, "/d"),
        (2, "/d/x"),
        (1, "/d/z"),
        (0, "/keep"),
        (0, "/keep/k"),
        (1, "/new"),
        (1, "/newdir"),
        (1, "/newdir/f"),
        (0, "/o"),
        (1, "/o/fresh"),
        (2, "/o/p"),
        (2, "/o/q"),
    ]
    .into_iter()
    .map(|(k, p)| (k, p.to_owned()))
    .collect()
}

#[test]
fn changes_of_a_container_as_docker_diff_lists_them() {
    let mut overlay = Overlay::new(image);
    let m = |rel: &str| overlay.at(rel);
    std::fs::write(m("a"), "modified").expect("modify");
    std::fs::remove_file(m("b")).expect("delete");
    std::fs::remove_file(m("c2")).expect("delete from the top layer");
    std::fs::write(m("new"), "added").expect("add");
    std::fs::write(m("d/z"), "added").expect("add in a kept dir");
    std::fs::remove_file(m("d/x")).expect("delete in a kept dir");
    // Replaced directory: overlayfs makes it opaque.
    std::fs::remove_dir_all(m("o")).expect("rm -rf o");
    std::fs::create_dir(m("o")).expect("mkdir o");
    std::fs::write(m("o/fresh"), "new").expect("add in the opaque dir");
    write(&m("newdir/f"), "f");
    std::fs::set_permissions(m("keep/k"), std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    // What a runtime creates as mount points is not a change (dockerd's init layer).
    write(&m("etc/hosts"), "");
    write(&m(".dockerenv"), "");
    std::fs::create_dir(m("proc")).expect("mkdir proc");
    // Reading is no change.
    let _ = std::fs::read(m("same")).expect("read");

    assert_eq!(overlay.changes(), expected(), "while mounted (a running container)");
    overlay.unmount();
    assert_eq!(overlay.changes(), expected(), "stopped");
    let leftovers: Vec<_> = std::fs::read_dir(overlay.scratch())
        .expect("scratch")
        .map(|e| e.expect("e").path())
        .collect();
    assert!(leftovers.is_empty(), "views unmounted and removed: {leftovers:?}");
}

#[test]
fn a_fresh_container_has_no_changes() {
    let overlay = Overlay::new(image);
    assert_eq!(overlay.changes(), Vec::new());
}

#[test]
fn a_container_from_scratch_has_only_additions() {
    let dir = tempfile::Builder::new().prefix("berth-diff-").tempdir_in("/tmp").expect("tmp");
    let upper = dir.path().join("upper");
    write(&upper.join("bin/app"), "app");
    let found = crate::fs::changes(&[], &upper, &dir.path().join("scratch")).expect("changes");
    let found: Vec<_> = found.into_iter().map(|c| (c.kind, c.path)).collect();
    assert_eq!(found, [(1, "/bin".to_owned()), (1, "/bin/app".to_owned())]);
}

#[test]
fn size_counts_blocks_once_per_inode() {
    let dir = tempfile::Builder::new().prefix("berth-size-").tempdir_in("/tmp").expect("tmp");
    let root = dir.path().join("upper");
    write(&root.join("d/file"), &"x".repeat(10_000));
    std::fs::hard_link(root.join("d/file"), root.join("link")).expect("link");
    std::os::unix::fs::symlink("/", root.join("slash")).expect("symlink");
    let blocks = |p: &Path| std::fs::symlink_metadata(p).expect("lstat").blocks() * 512;
    let want = blocks(&root)
        + blocks(&root.join("d"))
        + blocks(&root.join("d/file"))
        + blocks(&root.join("slash"));
    assert_eq!(crate::fs::size(&root), want);
    assert!(want >= 10_000);
    assert_eq!(crate::fs::size(&dir.path().join("missing")), 0);
}

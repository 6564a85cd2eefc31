//! Temporary mounts of containerd snapshot mounts.

use std::path::{Path, PathBuf};

use containerd_client::types::Mount;

use crate::fs::{TempMount, lower_dirs, upper_dir};

fn mounted(path: &Path) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let path = path.to_string_lossy();
    mountinfo.lines().any(|line| line.split(' ').nth(4) == Some(path.as_ref()))
}

fn mount(kind: &str, source: &str, options: &[String]) -> Mount {
    Mount {
        r#type: kind.to_owned(),
        source: source.to_owned(),
        target: String::new(),
        options: options.to_vec(),
    }
}

struct Dirs {
    dir: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("berth-mnt-").tempdir_in("/tmp").expect("tmp");
        for sub in ["lower1", "lower2", "upper", "work", "mnt"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        std::fs::write(dir.path().join("lower1/one"), "1").expect("write");
        std::fs::write(dir.path().join("lower2/two"), "2").expect("write");
        Self { dir }
    }

    fn p(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    fn s(&self, sub: &str) -> String {
        self.p(sub).to_string_lossy().into_owned()
    }

    fn overlay(&self) -> Vec<Mount> {
        vec![mount(
            "overlay",
            "overlay",
            &[
                "index=off".to_owned(),
                format!("workdir={}", self.s("work")),
                format!("upperdir={}", self.s("upper")),
                format!("lowerdir={}:{}", self.s("lower2"), self.s("lower1")),
            ],
        )]
    }
}

#[test]
fn an_overlay_snapshot_is_mounted_and_cleaned_up() {
    let dirs = Dirs::new();
    let temp = TempMount::new(dirs.overlay(), &dirs.p("mnt")).expect("mount");
    let path = temp.path().to_owned();
    assert!(path.starts_with(dirs.p("mnt")));
    assert!(mounted(&path));
    assert_eq!(std::fs::read_to_string(path.join("one")).expect("one"), "1");
    assert_eq!(std::fs::read_to_string(path.join("two")).expect("two"), "2");
    std::fs::write(path.join("written"), "w").expect("write through the mount");
    assert!(dirs.p("upper/written").exists(), "writes land in the upper directory");
    drop(temp);
    assert!(!mounted(&path), "unmounted on drop");
    assert!(!path.exists(), "mount point removed on drop");
}

#[test]
fn a_read_only_bind_snapshot_is_read_only() {
    let dirs = Dirs::new();
    let options = ["rbind".to_owned(), "ro".to_owned()];
    let temp = TempMount::new(vec![mount("bind", &dirs.s("lower1"), &options)], &dirs.p("mnt"))
        .expect("mount");
    assert_eq!(std::fs::read_to_string(temp.path().join("one")).expect("one"), "1");
    let err = std::fs::write(temp.path().join("x"), "x").expect_err("read-only");
    assert_eq!(err.raw_os_error(), Some(nix::libc::EROFS));
    let path = temp.path().to_owned();
    drop(temp);
    assert!(!mounted(&path) && !path.exists());
}

#[test]
fn a_failed_mount_leaves_nothing_behind() {
    let dirs = Dirs::new();
    let bad = vec![mount("overlay", "overlay", &[format!("lowerdir={}", dirs.s("missing"))])];
    let err = TempMount::new(bad, &dirs.p("mnt")).expect_err("no such layer");
    assert_eq!(err.status().as_u16(), 500);
    assert_eq!(std::fs::read_dir(dirs.p("mnt")).expect("mnt").count(), 0);
}

#[test]
fn upper_and_lower_dirs_come_from_the_options() {
    let dirs = Dirs::new();
    let overlay = dirs.overlay();
    assert_eq!(upper_dir(&overlay), Some(dirs.p("upper")));
    assert_eq!(lower_dirs(&overlay), [dirs.p("lower2"), dirs.p("lower1")]);
    // A snapshot without parents is a read-write bind of its own directory.
    let bind = vec![mount("bind", &dirs.s("upper"), &["rbind".to_owned(), "rw".to_owned()])];
    assert_eq!(upper_dir(&bind), Some(dirs.p("upper")));
    assert!(lower_dirs(&bind).is_empty());
    let view = vec![mount("bind", &dirs.s("lower1"), &["rbind".to_owned(), "ro".to_owned()])];
    assert_eq!(upper_dir(&view), None);
}

#[test]
fn many_layers_with_long_paths_fit_in_one_mount() {
    let dirs = Dirs::new();
    let layers: Vec<PathBuf> = (0..60)
        .map(|i| {
            let layer = dirs.p(&format!("{i:03}-{}", "l".repeat(100)));
            std::fs::create_dir(&layer).expect("layer");
            std::fs::write(layer.join(format!("file{i}")), "x").expect("write");
            layer
        })
        .collect();
    let lowerdir: Vec<String> = layers.iter().map(|l| l.to_string_lossy().into_owned()).collect();
    let option = format!("lowerdir={}", lowerdir.join(":"));
    assert!(option.len() > 4096, "longer than a page: {}", option.len());
    let temp = TempMount::new(
        vec![mount("overlay", "overlay", &["ro".to_owned(), option])],
        &dirs.p("mnt"),
    )
    .expect("mount");
    for i in [0, 30, 59] {
        assert!(temp.path().join(format!("file{i}")).exists(), "layer {i} is in the view");
    }
}

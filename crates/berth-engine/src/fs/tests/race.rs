//! A running container swapping directories for links to the host while Berth copies (the
//! `docker cp` race, CVE-2018-15664): whichever side wins each step, nothing leaves the root.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{AT_FDCWD, RenameFlags};

use super::{Entry, Fixture, body, collect, tar};

/// Exchanges pairs of names (a directory and a link) as fast as it can, until dropped.
struct Swapper {
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Swapper {
    fn start(pairs: Vec<(PathBuf, PathBuf)>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicU64::new(0));
        let (flag, count) = (stop.clone(), swaps.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                for (a, b) in &pairs {
                    nix::fcntl::renameat2(
                        AT_FDCWD,
                        a.as_path(),
                        AT_FDCWD,
                        b.as_path(),
                        RenameFlags::RENAME_EXCHANGE,
                    )
                    .expect("exchange");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Self { stop, swaps, thread: Some(thread) }
    }

    /// Stops swapping; how many swaps were made.
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the swapper ran");
        }
        self.swaps.load(Ordering::Relaxed)
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn no_host_content(bytes: &[u8], what: &str) {
    assert!(!String::from_utf8_lossy(bytes).contains("host secret"), "{what} read the host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_directories_for_host_links_never_escapes() {
    let f = Fixture::new();
    let host = f.host_path();
    f.file("/dst/d/inner", "container data").dir("/dst/e");
    f.symlink("/dst/d.swap", &host);
    f.symlink("/dst/e.swap", &format!("../../../../../../../../..{host}"));
    let pairs = vec![(f.at("/dst/d"), f.at("/dst/d.swap")), (f.at("/dst/e"), f.at("/dst/e.swap"))];
    let swapper = Swapper::start(pairs);

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut rounds = 0;
    while rounds < 150 && Instant::now() < deadline {
        rounds += 1;
        // `docker cp` in: into the swapped directories, and with one as the extraction point.
        let archive = tar(&[
            Entry::File(&format!("d/new-{rounds}"), "pwned"),
            Entry::File("d/sentinel", "pwned"),
            Entry::File("e/sentinel", "pwned"),
        ]);
        let _ = put(&f.root, "/dst", archive).await;
        let _ = put(&f.root, "/dst/d", tar(&[Entry::File("sentinel", "pwned")])).await;
        let _ = put(&f.root, "/dst/e/", tar(&[Entry::File("sentinel", "pwned")])).await;
        // `docker cp` out, following the links (trailing slash), and `HEAD`.
        for path in ["/dst/d/", "/dst/e/sentinel", "/dst/d/sentinel", "/dst"] {
            if let Ok((_, stream)) = crate::fs::archive_get(&f.root, path, "ctr", ()).await {
                no_host_content(&collect(stream).await, path);
            }
        }
        let _ = crate::fs::stat(&f.root, "/dst/e/sentinel", "ctr").await;
        // Copy-up from a mount point that is being swapped.
        let volume = tempfile::tempdir().expect("volume");
        let _ = crate::fs::copy_up(&f.root, "/dst/d", volume.path());
        for (name, (_, content, _)) in super::tree(volume.path()) {
            assert!(!content.contains("host secret"), "copy-up read the host: {name}");
        }
        if rounds % 25 == 0 {
            f.assert_host_untouched();
        }
    }
    let swaps = swapper.finish();
    assert!(swaps > 0, "the directories were swapped");
    assert!(rounds > 10, "the race ran ({rounds} rounds)");
    f.assert_host_untouched();
    // The copies were not all refused: the real directory (under either name now) got files.
    let real = [f.at("/dst/d"), f.at("/dst/d.swap")]
        .into_iter()
        .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .expect("the directory is still there");
    let written = std::fs::read_dir(&real)
        .expect("list")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().starts_with("new-")))
        .count();
    assert!(written > 0, "no copy went through");
}

async fn put(root: &Path, path: &str, archive: Vec<u8>) -> berth_api::Result<()> {
    crate::fs::archive_put(root, path, "ctr", false, false, None, body(archive)).await
}

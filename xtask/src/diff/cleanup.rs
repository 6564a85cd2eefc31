//! Leaving the machine as we found it: stop processes of ours that outlived
//! their parent, and unmount what daemons mounted under our directory.
//!
//! "Ours" is decided by path: a process whose command line names the run's
//! unique temporary directory, or a mount point under it. Nothing else on
//! the machine can match, so other dockerd or containerd instances are safe.
//! Containers the scenarios create are removed through each daemon's API
//! first; a container process that outlives its daemon (it names no path of
//! ours) is found by its cgroup, which names the container's ID.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use super::client::{Client, Outgoing};
use crate::cmd;

/// How long a process we signalled gets before SIGKILL, and `umount` gets.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// Dropped last of the run's guards (after the daemons', before the
/// temporary directory's): whatever is still running or mounted under
/// `root` goes.
#[derive(Debug)]
pub(crate) struct Sweep {
    pub(crate) root: PathBuf,
}

impl Drop for Sweep {
    fn drop(&mut self) {
        sweep(&self.root);
    }
}

/// The IDs of every container the run saw on either daemon, shared by the
/// guards that remove them.
#[derive(Debug, Default, Clone)]
pub(crate) struct SeenContainers(Rc<RefCell<BTreeSet<String>>>);

impl SeenContainers {
    pub(crate) fn insert(&self, id: &str) {
        self.0.borrow_mut().insert(id.to_owned());
    }

    fn ids(&self) -> Vec<String> {
        self.0.borrow().iter().cloned().collect()
    }
}

/// Dropped before the daemons it names: every container each daemon has is
/// removed with `DELETE /containers/{id}?force=1&v=1`, whatever state a
/// failed scenario left it in.
#[derive(Debug)]
pub(crate) struct RemoveContainers {
    /// Each daemon's name (for messages) and socket.
    pub(crate) daemons: Vec<(&'static str, PathBuf)>,
    pub(crate) seen: SeenContainers,
}

impl Drop for RemoveContainers {
    fn drop(&mut self) {
        let client = match Client::new() {
            Ok(client) => client,
            Err(err) => {
                println!("cannot remove the run's containers: {err:#}");
                return;
            }
        };
        for (name, socket) in &self.daemons {
            match remove_all_containers(&client, socket, &self.seen) {
                Ok(0) => {}
                Ok(count) => println!("removed {count} container(s) from {name}"),
                Err(err) => println!("removing {name}'s containers: {err:#}"),
            }
        }
    }
}

/// Dropped after the daemons: stops any process still in the cgroup of a
/// container the run saw (a daemon that died cannot stop its containers).
#[derive(Debug)]
pub(crate) struct ContainerProcesses {
    pub(crate) seen: SeenContainers,
}

impl Drop for ContainerProcesses {
    fn drop(&mut self) {
        let ids = self.seen.ids();
        for pid in processes_in_cgroups_naming(&ids) {
            match stop_pid(pid) {
                Ok(how) => println!("left-over container process {pid}: {how}"),
                Err(err) => println!("stopping left-over container process {pid}: {err:#}"),
            }
        }
    }
}

/// Lists every container of the daemon on `socket` and force-removes each
/// (with its anonymous volumes); returns how many it removed.
fn remove_all_containers(client: &Client, socket: &Path, seen: &SeenContainers) -> Result<usize> {
    let list = Outgoing {
        method: "GET",
        path: "/v1.41/containers/json?all=1",
        headers: &[],
        body: Bytes::new(),
    };
    let answer = client.send(socket, &list)?;
    if !answer.status.is_success() {
        bail!("listing containers answered {}", answer.status);
    }
    let containers: Value = serde_json::from_slice(&answer.body).context("the container list")?;
    let ids: Vec<&str> = containers
        .as_array()
        .context("the container list is not an array")?
        .iter()
        .filter_map(|c| c["Id"].as_str())
        .collect();
    let mut failures = Vec::new();
    for id in &ids {
        seen.insert(id);
        let path = format!("/v1.41/containers/{id}?force=1&v=1");
        let remove = Outgoing { method: "DELETE", path: &path, headers: &[], body: Bytes::new() };
        match client.send(socket, &remove) {
            // 404: it went away on its own meanwhile.
            Ok(answer) if answer.status.is_success() || answer.status == 404 => {}
            Ok(answer) => failures.push(format!(
                "{id}: {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body).trim()
            )),
            Err(err) => failures.push(format!("{id}: {err:#}")),
        }
    }
    if !failures.is_empty() {
        bail!("could not remove {}", failures.join("; "));
    }
    Ok(ids.len())
}

/// Processes whose `/proc/<pid>/cgroup` names one of `ids`.
fn processes_in_cgroups_naming(ids: &[String]) -> Vec<i32> {
    if ids.is_empty() {
        return Vec::new();
    }
    other_pids()
        .filter(|&pid| {
            fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .is_ok_and(|cgroups| cgroup_names_any(&cgroups, ids))
        })
        .filter(|&pid| alive(pid))
        .collect()
}

/// Whether a `/proc/<pid>/cgroup` text puts the process in a cgroup whose
/// path has one of `ids` as a component (or a component's suffix after `-`,
/// as systemd's `docker-<id>.scope`).
fn cgroup_names_any(cgroups: &str, ids: &[String]) -> bool {
    cgroups.lines().filter_map(|line| line.splitn(3, ':').nth(2)).any(|path| {
        path.split('/').any(|component| {
            let component = component.strip_suffix(".scope").unwrap_or(component);
            ids.iter().any(|id| {
                component == id || component.rsplit_once('-').is_some_and(|(_, tail)| tail == id)
            })
        })
    })
}

/// Stops every process naming `root`, then unmounts everything under it;
/// reports what it did.
pub(crate) fn sweep(root: &Path) {
    for pid in processes_mentioning(root) {
        match stop_pid(pid) {
            Ok(how) => println!("left-over process {pid} under {}: {how}", root.display()),
            Err(err) => println!("stopping left-over process {pid}: {err:#}"),
        }
    }
    if let Err(err) = unmount_under(root) {
        println!("unmounting under {}: {err:#}", root.display());
    }
}

/// SIGTERM, wait, SIGKILL; for a process that is not our child (we cannot
/// reap it; gone or a zombie counts as stopped).
pub(crate) fn stop_pid(pid: i32) -> Result<String> {
    if !alive(pid) {
        return Ok("already gone".to_owned());
    }
    kill(Pid::from_raw(pid), Signal::SIGTERM).context("sending SIGTERM")?;
    if wait_gone(pid, KILL_TIMEOUT) {
        return Ok("exited after SIGTERM".to_owned());
    }
    kill(Pid::from_raw(pid), Signal::SIGKILL).context("sending SIGKILL")?;
    if wait_gone(pid, KILL_TIMEOUT) {
        Ok(format!("killed: still running {KILL_TIMEOUT:?} after SIGTERM"))
    } else {
        bail!("still running after SIGKILL")
    }
}

fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(cmd::POLL);
    }
    true
}

/// Running, and not a zombie waiting for a parent that is not us.
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and
        // may itself hold spaces or parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Whether the process's command line contains `path`.
pub(crate) fn process_mentions(pid: i32, path: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = path.to_string_lossy();
    String::from_utf8_lossy(&cmdline).split('\0').any(|arg| arg.contains(needle.as_ref()))
}

/// Live processes (not this one) whose command line contains `path`.
pub(crate) fn processes_mentioning(path: &Path) -> Vec<i32> {
    other_pids().filter(|&pid| alive(pid) && process_mentions(pid, path)).collect()
}

/// The PIDs in `/proc` but this process's own (none if `/proc` cannot be read).
fn other_pids() -> impl Iterator<Item = i32> {
    let own = std::process::id();
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(move |&pid| u32::try_from(pid).is_ok_and(|p| p != own))
}

/// Unmounts every mount point at or under `root`, deepest first.
fn unmount_under(root: &Path) -> Result<()> {
    let mountinfo =
        fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    let mut points = mount_points_under(&mountinfo, root);
    // Deepest first; a path mounted twice is unmounted twice.
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let plain = cmd::capture(Command::new("umount").arg(&point), KILL_TIMEOUT)?;
        if plain.success() {
            println!("unmounted {}", point.display());
            continue;
        }
        let lazy = cmd::capture(Command::new("umount").arg("-l").arg(&point), KILL_TIMEOUT)?;
        if lazy.success() {
            println!("unmounted {} (lazily)", point.display());
        } else {
            println!("cannot unmount {}:\n{}", point.display(), lazy.describe());
        }
    }
    Ok(())
}

/// Mount points in a `/proc/<pid>/mountinfo` text at or under `root`.
fn mount_points_under(mountinfo: &str, root: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_mountinfo(field)))
        .filter(|point| point.starts_with(root))
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let value =
                bytes[i + 1..i + 4].iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_under_a_root_are_found_and_unescaped() {
        let mountinfo = "\
42 27 254:0 /tmp/x/data /tmp/x/data rw,relatime shared:1 - ext4 /dev/vda rw
43 27 0:4 net:[4026532] /tmp/x/exec/netns/default rw shared:2 - nsfs nsfs rw
44 27 254:0 /a /tmp/x\\040y/data rw - ext4 /dev/vda rw
45 27 254:0 / /tmp/xy rw - ext4 /dev/vda rw
46 27 254:0 / / rw - ext4 /dev/vda rw
";
        assert_eq!(
            mount_points_under(mountinfo, Path::new("/tmp/x")),
            vec![PathBuf::from("/tmp/x/data"), PathBuf::from("/tmp/x/exec/netns/default")]
        );
        assert_eq!(
            mount_points_under(mountinfo, Path::new("/tmp/x y")),
            vec![PathBuf::from("/tmp/x y/data")]
        );
    }

    #[test]
    fn container_cgroups_are_recognised_by_id() {
        let id = "8bb50650c497e84c45ebe8756f63226b3997dbd29d9dc0ac5023c4e1bf8d0dd6".to_owned();
        let ids = [id.clone()];
        let cgroupfs = format!("4:memory:/docker/{id}\n0::/docker/{id}\n");
        assert!(cgroup_names_any(&cgroupfs, &ids));
        let systemd = format!("0::/system.slice/docker-{id}.scope\n");
        assert!(cgroup_names_any(&systemd, &ids));
        let nested = format!("9:name=systemd:/berth/{id}\n");
        assert!(cgroup_names_any(&nested, &ids));
        // A longer ID that starts with ours, or ours inside another name, is not ours.
        let other = format!("0::/docker/{id}0\n4:memory:/x{id}\n0::/\n");
        assert!(!cgroup_names_any(&other, &ids));
        assert!(!cgroup_names_any("0::/user.slice\n", &[]));
    }

    #[test]
    fn our_own_process_is_alive_and_a_made_up_one_is_not() {
        let own = i32::try_from(std::process::id()).expect("pid fits in i32");
        assert!(alive(own));
        assert!(!alive(i32::MAX));
    }

    #[test]
    fn a_process_naming_a_path_is_found_and_stopped() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("followed");
        fs::write(&file, "")?;
        let mut child = Command::new("tail")
            .arg("-f")
            .arg(&file)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let pid = i32::try_from(child.id())?;
        // The kernel fills in the new command line a moment after exec.
        let deadline = Instant::now() + KILL_TIMEOUT;
        let mut found = processes_mentioning(dir.path());
        while found.is_empty() && Instant::now() < deadline {
            thread::sleep(cmd::POLL);
            found = processes_mentioning(dir.path());
        }
        let stopped = stop_pid(pid);
        let _ = child.kill();
        child.wait()?;
        assert_eq!(found, vec![pid]);
        assert_eq!(stopped?, "exited after SIGTERM");
        Ok(())
    }
}

//! Volumes through the docker CLI: `docker volume` create/ls/inspect/rm/prune, named and
//! anonymous volumes in containers, the image's content copied into a new volume,
//! `--volumes-from`, and a tmpfs-typed local volume mounted only while a container uses it.

use std::path::Path;

use anyhow::{Result, ensure};

use super::checks::{CLI_TIMEOUT, Docker, ok};
use super::{Layout, Report};
use crate::cmd;

pub(super) fn run_all(docker: &Docker<'_>, layout: &Layout, report: &mut Report) {
    report.record(
        "volumes: docker volume create, ls (filters), inspect, rm; bad input refused",
        lifecycle(docker, layout),
    );
    report.record(
        "volumes: a named volume keeps data across containers, takes docker cp; in use it stays",
        named_volume(docker, layout),
    );
    report.record("volumes: -v /path is anonymous; rm -v and --rm remove it", anonymous(docker));
    report.record(
        "volumes: an image VOLUME gets the image's files (not with nocopy)",
        copy_up(docker),
    );
    report.record("volumes: --volumes-from, read-write and :ro", volumes_from(docker));
    report.record(
        "volumes: a tmpfs-typed local volume is mounted while used and unmounted after",
        tmpfs_volume(docker),
    );
    report.record("volumes: prune (anonymous, then -a) and system df", prune(docker));
}

fn cli(docker: &Docker<'_>, args: &[&str]) -> Result<cmd::Captured> {
    docker.unix(args, CLI_TIMEOUT)
}

/// `docker <args>` must fail with `message` in its error output.
fn fails_with(docker: &Docker<'_>, args: &[&str], message: &str) -> Result<()> {
    let out = cli(docker, args)?;
    ensure!(
        !out.success() && out.stderr.contains(message),
        "docker {} should fail with {message:?}\n{}",
        args.join(" "),
        out.describe()
    );
    Ok(())
}

fn names(docker: &Docker<'_>, filters: &[&str]) -> Result<Vec<String>> {
    let mut args = vec!["volume", "ls", "-q"];
    for filter in filters {
        args.extend(["--filter", filter]);
    }
    Ok(ok(docker, &args)?.lines().map(str::to_owned).collect())
}

fn lifecycle(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    let out = ok(docker, &["volume", "create", "--label", "team=a", "e2e-data"])?;
    ensure!(out.trim() == "e2e-data", "docker volume create printed {out:?}");
    let inspect = ok(
        docker,
        &[
            "volume",
            "inspect",
            "--format",
            "{{.Driver}} {{.Scope}} {{.Labels.team}} {{.Mountpoint}}",
            "e2e-data",
        ],
    )?;
    let mountpoint = layout.data_root.join("volumes/e2e-data/_data");
    ensure!(
        inspect.trim() == format!("local local a {}", mountpoint.display()),
        "docker volume inspect: {inspect:?}"
    );
    ensure!(mountpoint.is_dir(), "{} exists", mountpoint.display());
    let anonymous = ok(docker, &["volume", "create"])?.trim().to_owned();
    ensure!(
        anonymous.len() == 64 && anonymous.bytes().all(|b| b.is_ascii_hexdigit()),
        "a generated name: {anonymous:?}"
    );
    ensure!(names(docker, &[])?.contains(&anonymous), "listed");
    ensure!(names(docker, &["label=team=a"])? == ["e2e-data"], "label filter");
    ensure!(names(docker, &["name=e2e-da"])? == ["e2e-data"], "name filter");
    ensure!(names(docker, &["dangling=true", "name=e2e"])? == ["e2e-data"], "dangling filter");

    fails_with(docker, &["volume", "inspect", "e2e-missing"], "no such volume")?;
    fails_with(
        docker,
        &["volume", "create", "-d", "nope", "e2e-x"],
        "error looking up volume plugin nope",
    )?;
    fails_with(
        docker,
        &["volume", "create", "-o", "colour=red", "e2e-x"],
        r#"invalid option: "colour""#,
    )?;
    fails_with(
        docker,
        &["volume", "create", "e2e/x"],
        "includes invalid characters for a local volume name",
    )?;
    fails_with(docker, &["volume", "ls", "--filter", "colour=red"], "invalid filter 'colour'")?;

    ok(docker, &["volume", "rm", "e2e-data", &anonymous])?;
    ensure!(!mountpoint.exists(), "docker volume rm deleted {}", mountpoint.display());
    ensure!(names(docker, &["name=e2e"])?.is_empty(), "nothing left");
    ok(docker, &["volume", "rm", "-f", "e2e-missing"])?;
    Ok(())
}

fn named_volume(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    ok(
        docker,
        &["run", "--rm", "-v", "e2e-keep:/data", "busybox", "sh", "-c", "echo kept > /data/f"],
    )?;
    let out = ok(docker, &["run", "--rm", "-v", "e2e-keep:/data:ro", "busybox", "cat", "/data/f"])?;
    ensure!(out == "kept\n", "the second container reads {out:?}");
    let out =
        cli(docker, &["run", "--rm", "-v", "e2e-keep:/data:ro", "busybox", "touch", "/data/g"])?;
    ensure!(!out.success() && out.stderr.contains("Read-only"), ":ro\n{}", out.describe());

    let id = ok(docker, &["create", "--name", "e2e-user", "-v", "e2e-keep:/data", "busybox"])?;
    let id = id.trim();
    let mounts = ok(
        docker,
        &[
            "inspect",
            "--format",
            "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.Driver}} {{.Mode}} {{.RW}}{{end}}",
            "e2e-user",
        ],
    )?;
    ensure!(mounts.trim() == "volume e2e-keep /data local z true", "inspect Mounts: {mounts:?}");
    // docker cp into the stopped container lands in its volume.
    let file = layout.root.join("into-volume.txt");
    std::fs::write(&file, "copied\n")?;
    ok(docker, &["cp", &file.to_string_lossy(), "e2e-user:/data/copied"])?;
    let copied = layout.data_root.join("volumes/e2e-keep/_data/copied");
    ensure!(std::fs::read_to_string(&copied)? == "copied\n", "docker cp into the volume");
    let listed = ok(docker, &["ps", "-aq", "--no-trunc", "--filter", "volume=e2e-keep"])?;
    ensure!(listed.trim() == id, "docker ps --filter volume: {listed:?}");
    fails_with(
        docker,
        &["volume", "rm", "e2e-keep"],
        &format!("remove e2e-keep: volume is in use - [{id}]"),
    )?;
    fails_with(docker, &["volume", "rm", "-f", "e2e-keep"], "volume is in use")?;
    ok(docker, &["rm", "e2e-user"])?;
    ok(docker, &["volume", "rm", "e2e-keep"])?;
    Ok(())
}

fn anonymous(docker: &Docker<'_>) -> Result<()> {
    let before = names(docker, &["label=com.docker.volume.anonymous"])?;
    ok(docker, &["run", "-d", "--name", "e2e-anon", "-v", "/scratch", "busybox", "sleep", "60"])?;
    let name =
        ok(docker, &["inspect", "--format", "{{range .Mounts}}{{.Name}}{{end}}", "e2e-anon"])?;
    let name = name.trim().to_owned();
    ensure!(name.len() == 64, "an anonymous volume: {name:?}");
    ensure!(
        names(docker, &["label=com.docker.volume.anonymous"])?.contains(&name),
        "labelled anonymous"
    );
    ok(docker, &["rm", "-fv", "e2e-anon"])?;
    fails_with(docker, &["volume", "inspect", &name], "no such volume")?;

    ok(docker, &["run", "--rm", "-v", "/scratch", "-v", "e2e-named:/named", "busybox", "true"])?;
    ensure!(
        names(docker, &["label=com.docker.volume.anonymous"])? == before,
        "--rm removed the anonymous volume"
    );
    ensure!(names(docker, &["name=e2e-named"])? == ["e2e-named"], "--rm keeps named volumes");
    ok(docker, &["volume", "rm", "e2e-named"])?;
    Ok(())
}

fn copy_up(docker: &Docker<'_>) -> Result<()> {
    ok(
        docker,
        &[
            "run",
            "--name",
            "e2e-seed",
            "busybox",
            "sh",
            "-c",
            "mkdir /seed && echo from-image > /seed/f && chown 7:8 /seed",
        ],
    )?;
    ok(docker, &["commit", "-c", "VOLUME [\"/seed\"]", "e2e-seed", "e2e/withvol"])?;
    ok(docker, &["rm", "e2e-seed"])?;

    let out = ok(
        docker,
        &["run", "--rm", "e2e/withvol", "sh", "-c", "cat /seed/f; stat -c '%u:%g' /seed"],
    )?;
    ensure!(out == "from-image\n7:8\n", "anonymous image volume: {out:?}");
    ok(docker, &["run", "--rm", "-v", "e2e-seeded:/seed", "e2e/withvol", "true"])?;
    let out = ok(docker, &["run", "--rm", "-v", "e2e-seeded:/x", "busybox", "cat", "/x/f"])?;
    ensure!(out == "from-image\n", "the named volume got the image's files: {out:?}");
    // Only an empty volume gets the image's files.
    let replace = "rm /seed/f && echo mine > /seed/g";
    ok(docker, &["run", "--rm", "-v", "e2e-seeded:/seed", "busybox", "sh", "-c", replace])?;
    ok(docker, &["run", "--rm", "-v", "e2e-seeded:/seed", "e2e/withvol", "true"])?;
    let out = ok(docker, &["run", "--rm", "-v", "e2e-seeded:/x", "busybox", "ls", "/x"])?;
    ensure!(out == "g\n", "no copy into a volume with files: {out:?}");
    let out = ok(
        docker,
        &["run", "--rm", "-v", "e2e-nocopy:/seed:nocopy", "e2e/withvol", "ls", "/seed"],
    )?;
    ensure!(out.is_empty(), "nocopy: {out:?}");
    ok(docker, &["volume", "rm", "e2e-seeded", "e2e-nocopy"])?;
    ok(docker, &["rmi", "e2e/withvol"])?;
    Ok(())
}

fn volumes_from(docker: &Docker<'_>) -> Result<()> {
    ok(docker, &["create", "--name", "e2e-src", "-v", "e2e-shared:/shared", "busybox"])?;
    ok(
        docker,
        &["run", "--rm", "--volumes-from", "e2e-src", "busybox", "sh", "-c", "echo hi > /shared/x"],
    )?;
    let out = cli(
        docker,
        &[
            "run",
            "--rm",
            "--volumes-from",
            "e2e-src:ro",
            "busybox",
            "sh",
            "-c",
            "cat /shared/x; touch /shared/y",
        ],
    )?;
    ensure!(
        out.stdout == "hi\n" && !out.success() && out.stderr.contains("Read-only"),
        "--volumes-from :ro\n{}",
        out.describe()
    );
    fails_with(
        docker,
        &["create", "--volumes-from", "e2e-nosuch", "busybox"],
        "No such container: e2e-nosuch",
    )?;
    ok(docker, &["rm", "-v", "e2e-src"])?;
    ensure!(names(docker, &["name=e2e-shared"])? == ["e2e-shared"], "rm -v keeps named volumes");
    ok(docker, &["volume", "rm", "e2e-shared"])?;
    Ok(())
}

/// Whether something is mounted exactly on `path` (the e2e run shares berthd's mount namespace).
fn mounted(path: &Path) -> Result<bool> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let path = path.to_string_lossy();
    Ok(info.lines().any(|l| l.split(' ').nth(4) == Some(path.as_ref())))
}

fn tmpfs_volume(docker: &Docker<'_>) -> Result<()> {
    ok(
        docker,
        &[
            "volume",
            "create",
            "--opt",
            "type=tmpfs",
            "--opt",
            "device=tmpfs",
            "--opt",
            "o=size=1m",
            "e2e-tmp",
        ],
    )?;
    let mountpoint = ok(docker, &["volume", "inspect", "--format", "{{.Mountpoint}}", "e2e-tmp"])?;
    let mountpoint = Path::new(mountpoint.trim()).to_owned();
    let options = ok(docker, &["volume", "inspect", "--format", "{{json .Options}}", "e2e-tmp"])?;
    ensure!(
        options.trim() == r#"{"device":"tmpfs","o":"size=1m","type":"tmpfs"}"#,
        "Options: {options:?}"
    );
    ensure!(!mounted(&mountpoint)?, "not mounted before use");

    ok(
        docker,
        &["run", "-d", "--name", "e2e-tmpuser", "-v", "e2e-tmp:/t", "busybox", "sleep", "60"],
    )?;
    ensure!(mounted(&mountpoint)?, "mounted while a container uses it");
    let df = ok(docker, &["exec", "e2e-tmpuser", "df", "-k", "/t"])?;
    ensure!(
        df.contains("tmpfs") && df.contains(" 1024 "),
        "a 1 MiB tmpfs in the container: {df:?}"
    );
    ok(docker, &["rm", "-f", "e2e-tmpuser"])?;
    ensure!(!mounted(&mountpoint)?, "unmounted once the container is gone");
    ok(docker, &["volume", "rm", "e2e-tmp"])?;
    Ok(())
}

fn prune(docker: &Docker<'_>) -> Result<()> {
    ok(docker, &["volume", "create", "e2e-prune-named"])?;
    let anonymous = ok(docker, &["volume", "create"])?.trim().to_owned();
    ok(docker, &["create", "--name", "e2e-holder", "-v", "e2e-held:/h", "busybox"])?;

    let total = names(docker, &[])?.len();
    let df = ok(docker, &["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"])?;
    let want = format!("Local Volumes {total} 1");
    ensure!(total >= 3 && df.lines().any(|l| l == want), "docker system df: {df:?}");

    let out = ok(docker, &["volume", "prune", "-f"])?;
    ensure!(out.contains(&anonymous) && !out.contains("e2e-prune-named"), "prune: {out:?}");
    let out = ok(docker, &["volume", "prune", "-af"])?;
    ensure!(out.contains("e2e-prune-named") && !out.contains("e2e-held"), "prune -a: {out:?}");
    ensure!(names(docker, &[])? == ["e2e-held"], "only the referenced volume stays");
    ok(docker, &["rm", "e2e-holder"])?;
    ok(docker, &["volume", "rm", "e2e-held"])?;
    Ok(())
}

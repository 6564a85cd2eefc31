//! The Python side: a virtualenv with the pinned packages of
//! `xtask/conformance/requirements.txt`, and docker-py 6.1.3's source
//! distribution (the tests) unpacked next to it. Both are cached under
//! `target/conformance/` and rebuilt only when their pin file changes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// The interpreter the virtualenv is made from.
const PYTHON: &str = "python3";
/// Records what a cached directory was built from; compared on reuse.
const STAMP: &str = ".berth-stamp";
/// The directory the sdist unpacks to.
const SDIST_DIR: &str = "docker-6.1.3";

/// Where the suite runs from.
#[derive(Debug)]
pub(crate) struct Suite {
    /// The virtualenv's python.
    pub(crate) python: PathBuf,
    /// The unpacked sdist: pytest's rootdir (it holds `pytest.ini`).
    pub(crate) root: PathBuf,
}

/// The virtualenv and the unpacked tests under `cache`, made or reused.
pub(crate) fn prepare(cache: &Path, pins: &Path) -> Result<Suite> {
    fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let python = ensure_venv(&cache.join("venv"), &pins.join("requirements.txt"))?;
    let root = ensure_sdist(cache, &python, &pins.join("sdist.txt"))?;
    Ok(Suite { python, root })
}

fn ensure_venv(venv: &Path, requirements: &Path) -> Result<PathBuf> {
    let pinned = fs::read_to_string(requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let version =
        cmd::stdout(Command::new(PYTHON).args(["-c", "import sys; print(sys.version.split()[0])"]))
            .with_context(|| format!("`{PYTHON}` is needed to run docker-py's tests"))?;
    let stamp = venv_stamp(version.trim(), &pinned);
    let python = venv.join("bin/python");
    if python.is_file() && read_stamp(venv).as_deref() == Some(stamp.as_str()) {
        println!("ok: virtualenv {} matches requirements.txt", venv.display());
        return Ok(python);
    }
    println!(
        "conformance: (re)creating the virtualenv {} from {}",
        venv.display(),
        requirements.display()
    );
    remove_dir(venv)?;
    cmd::run(Command::new(PYTHON).args(["-m", "venv"]).arg(venv))?;
    // --no-deps: the file pins every package, dependencies included; `pip
    // check` then proves none is missing. Wheels only: nothing to compile.
    cmd::run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input"])
            .args(["--no-deps", "--only-binary", ":all:", "--requirement"])
            .arg(requirements),
    )?;
    cmd::run(Command::new(&python).args(["-m", "pip", "check", "--disable-pip-version-check"]))?;
    write_stamp(venv, &stamp)?;
    Ok(python)
}

/// The sdist, downloaded with its hash checked and unpacked; returns its
/// directory.
fn ensure_sdist(cache: &Path, python: &Path, pin: &Path) -> Result<PathBuf> {
    let pinned = fs::read_to_string(pin).with_context(|| format!("reading {}", pin.display()))?;
    let root = cache.join(SDIST_DIR);
    if root.join("tests/integration/conftest.py").is_file()
        && read_stamp(&root).as_deref() == Some(pinned.as_str())
    {
        println!("ok: docker-py's tests are unpacked in {}", root.display());
        return Ok(root);
    }
    let download = cache.join("sdist-download");
    let unpack = cache.join("sdist-unpack");
    remove_dir(&download)?;
    remove_dir(&unpack)?;
    remove_dir(&root)?;
    cmd::run(
        Command::new(python)
            .args(["-m", "pip", "download", "--disable-pip-version-check", "--no-input"])
            .args(["--no-deps", "--no-binary", ":all:", "--require-hashes"])
            .arg("--dest")
            .arg(&download)
            .arg("--requirement")
            .arg(pin),
    )?;
    let archive = single_file(&download)?;
    fs::create_dir_all(&unpack).with_context(|| format!("creating {}", unpack.display()))?;
    cmd::run(
        Command::new("tar")
            .arg("--extract")
            .arg("--file")
            .arg(&archive)
            .arg("--directory")
            .arg(&unpack),
    )?;
    let unpacked = unpack.join(SDIST_DIR);
    if !unpacked.join("tests/integration/conftest.py").is_file() {
        bail!("{} holds no {SDIST_DIR}/tests/integration/conftest.py", archive.display());
    }
    fs::rename(&unpacked, &root)
        .with_context(|| format!("moving {} to {}", unpacked.display(), root.display()))?;
    remove_dir(&unpack)?;
    remove_dir(&download)?;
    write_stamp(&root, &pinned)?;
    Ok(root)
}

/// What the virtualenv is built from: the interpreter's version and the
/// requirements, byte for byte (a copy says more than a hash of it).
fn venv_stamp(python_version: &str, requirements: &str) -> String {
    format!("python {python_version}\n{requirements}")
}

fn read_stamp(dir: &Path) -> Option<String> {
    fs::read_to_string(dir.join(STAMP)).ok()
}

fn write_stamp(dir: &Path, stamp: &str) -> Result<()> {
    let path = dir.join(STAMP);
    fs::write(&path, stamp).with_context(|| format!("writing {}", path.display()))
}

fn remove_dir(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("removing {}", dir.display())),
    }
}

fn single_file(dir: &Path) -> Result<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        files.push(entry.with_context(|| format!("reading {}", dir.display()))?.path());
    }
    match files.as_slice() {
        [file] => Ok(file.clone()),
        _ => bail!("expected one downloaded file in {}, found {files:?}", dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_changes_with_python_or_requirements() {
        let stamp = venv_stamp("3.11.7", "pytest==7.4.0\n");
        assert_eq!(stamp, "python 3.11.7\npytest==7.4.0\n");
        assert_ne!(stamp, venv_stamp("3.12.1", "pytest==7.4.0\n"));
        assert_ne!(stamp, venv_stamp("3.11.7", "pytest==7.4.1\n"));
    }

    #[test]
    fn stamps_round_trip_and_missing_ones_do_not_match() -> Result<()> {
        let dir = tempfile::tempdir()?;
        assert_eq!(read_stamp(dir.path()), None);
        write_stamp(dir.path(), "python 3.11.7\n")?;
        assert_eq!(read_stamp(dir.path()).as_deref(), Some("python 3.11.7\n"));
        Ok(())
    }

    #[test]
    fn the_pin_files_pin_exact_versions() -> Result<()> {
        let pins = cmd::project_root().join("xtask/conformance");
        for file in ["requirements.txt", "sdist.txt"] {
            let text = fs::read_to_string(pins.join(file))?;
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let requirement = line.split_whitespace().next().unwrap_or_default();
                assert!(
                    requirement.contains("==") && !requirement.contains(['<', '>', '~', '*']),
                    "{file}: {line:?} is not pinned to one version"
                );
            }
        }
        let requirements = fs::read_to_string(pins.join("requirements.txt"))?;
        for needed in ["docker==6.1.3", "pytest==", "pytest-timeout==", "paramiko=="] {
            assert!(requirements.contains(needed), "requirements.txt lacks {needed}");
        }
        Ok(())
    }
}

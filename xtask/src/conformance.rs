//! `cargo xtask conformance`: docker-py 6.1.3's own integration suite
//! (`tests/integration` of its sdist) against a real berthd, counted per API
//! area. `--ratchet` runs only the tests listed in
//! `xtask/conformance/ratchet.txt` and fails if any does not pass; `cargo
//! xtask ci` runs it as a step. See docs/conformance.md.
//!
//! One run: a cached virtualenv and sdist (`target/conformance/`), berthd
//! on a temporary socket and roots (the e2e harness), the three test images
//! built from busybox and imported, pytest with a per-test timeout and a
//! JUnit report, the table. berthd is stopped and the temporary directory
//! removed whatever happens (the guards' `Drop`).

mod junit;
mod lists;
mod python;
mod report;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::e2e::daemon::Daemon;
use crate::e2e::{self, Layout};
use crate::{cmd, deps};
use junit::Outcome;
use lists::{AreaRule, Exclusion};
use report::TestResult;

const USAGE: &str = "\
usage: cargo xtask conformance [--ratchet] [-k EXPR] [--keep]

  --ratchet  run only the tests in xtask/conformance/ratchet.txt; fail if any
             of them does not pass (what `cargo xtask ci` runs)
  -k EXPR    pass `-k EXPR` to pytest: run only the matching tests
  --keep     keep the temporary directory (berthd's log, the JUnit report,
             the image tars) and print its path
";

/// Debian packages a run needs on top of berthd's runtime ones: the static
/// busybox the test images are made of, and curl to import them over the
/// unix socket.
const APT_PACKAGES: &[&str] = &["busybox-static", "curl"];
/// pytest-timeout's per-test limit, in seconds.
const PER_TEST_TIMEOUT_SECS: u32 = 60;
/// Ceiling for collecting the suite (`pytest --collect-only`).
const COLLECT_TIMEOUT: Duration = Duration::from_secs(120);
/// Ceiling for a whole pytest run, on top of the per-test timeout.
const PYTEST_DEADLINE: Duration = Duration::from_secs(90 * 60);
/// How long berthd gets to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The API version the suite's clients pin, as docker-py's own CI runs it
/// (its Makefile: TEST_API_VERSION 1.41, engine 20.10).
const TEST_API_VERSION: &str = "1.41";
/// Our pytest plugin, `xtask/conformance/berth_conformance.py`: it marks
/// XPASSes in the JUnit report.
const PLUGIN: &str = "berth_conformance";
/// docs/conformance.md's generated sections.
const DOCS: &str = "docs/conformance.md";
const RESULTS_SECTION: &str = "conformance-results";
const EXCLUDED_SECTION: &str = "conformance-excluded";

#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    ratchet: bool,
    keyword: Option<String>,
    keep: bool,
}

/// The options, or `None` for `--help`.
fn parse_args(args: &[String]) -> Result<Option<Options>> {
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ratchet" => options.ratchet = true,
            "--keep" => options.keep = true,
            "-k" => {
                let expr = args.next().context(format!("-k needs an expression\n\n{USAGE}"))?;
                options.keyword = Some(expr.clone());
            }
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown argument {other:?} for `cargo xtask conformance`\n\n{USAGE}"),
        }
    }
    ensure!(
        !(options.ratchet && options.keyword.is_some()),
        "--ratchet runs exactly the ratchet list; it does not take -k\n\n{USAGE}"
    );
    Ok(Some(options))
}

/// `cargo xtask conformance [...]`. A full run exits 0 once the table is
/// printed (failures are the data), unless a test of the ratchet list
/// failed; `--ratchet` exits non-zero if any listed test did not pass.
pub(crate) fn run(args: &[String]) -> Result<ExitCode> {
    let Some(options) = parse_args(args)? else {
        print!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    let run = execute(&options)?;
    if run.ratchet_failures.is_empty() { Ok(ExitCode::SUCCESS) } else { Ok(ExitCode::FAILURE) }
}

/// The ratchet, for `cargo xtask ci`: how many listed tests passed, or an
/// error naming those that did not.
pub(crate) fn ratchet() -> Result<usize> {
    let run = execute(&Options { ratchet: true, ..Options::default() })?;
    if !run.ratchet_failures.is_empty() {
        bail!(
            "docker-py tests of xtask/conformance/ratchet.txt did not pass: {}",
            run.ratchet_failures.join(", ")
        );
    }
    Ok(run.totals.passed)
}

/// What a run found.
#[derive(Debug, Default)]
struct Run {
    totals: report::Tally,
    /// Tests of the ratchet list that ran and did not pass.
    ratchet_failures: Vec<String>,
}

/// The checked-in lists, parsed and checked against each other.
#[derive(Debug)]
struct Lists {
    exclusions: Vec<Exclusion>,
    areas: Vec<AreaRule>,
    ratchet: Vec<String>,
}

impl Lists {
    fn load(dir: &Path) -> Result<Lists> {
        let read = |name: &str| -> Result<String> {
            let path = dir.join(name);
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        };
        let lists = Lists {
            exclusions: lists::parse_exclusions(&read("excluded.txt")?)?,
            areas: lists::parse_areas(&read("areas.txt")?)?,
            ratchet: lists::parse_ratchet(&read("ratchet.txt")?)?,
        };
        for node_id in &lists.ratchet {
            if let Some(exclusion) = lists::exclusion_of(&lists.exclusions, node_id) {
                bail!(
                    "ratchet.txt lists {node_id}, which excluded.txt excludes ({})",
                    exclusion.pattern
                );
            }
            lists.area(node_id)?;
        }
        Ok(lists)
    }

    fn area(&self, node_id: &str) -> Result<&'static str> {
        lists::area_of(&self.areas, node_id)
            .with_context(|| format!("{node_id} has no area in xtask/conformance/areas.txt"))
    }
}

/// Which collected tests run, and the areas of those that do not.
#[derive(Debug, PartialEq, Eq)]
struct Selection {
    run: Vec<String>,
    excluded_areas: Vec<&'static str>,
}

/// Applies the exclusions to the collected tests. Fails if a test has no
/// area, if an exclusion matches nothing (a stale list), or if the ratchet
/// names a test the suite does not have.
fn select(collected: &[String], lists: &Lists) -> Result<Selection> {
    let unmapped: Vec<&str> = collected
        .iter()
        .filter(|id| lists::area_of(&lists.areas, id).is_none())
        .map(String::as_str)
        .collect();
    ensure!(
        unmapped.is_empty(),
        "tests with no area in xtask/conformance/areas.txt:\n  {}",
        unmapped.join("\n  ")
    );
    let mut used = BTreeSet::new();
    let mut selection = Selection { run: Vec::new(), excluded_areas: Vec::new() };
    for node_id in collected {
        let covering: Vec<&Exclusion> = lists
            .exclusions
            .iter()
            .filter(|exclusion| lists::covers(&exclusion.pattern, node_id))
            .collect();
        if covering.is_empty() {
            selection.run.push(node_id.clone());
        } else {
            used.extend(covering.iter().map(|exclusion| exclusion.pattern.as_str()));
            selection.excluded_areas.push(lists.area(node_id)?);
        }
    }
    let stale: Vec<&str> = lists
        .exclusions
        .iter()
        .map(|exclusion| exclusion.pattern.as_str())
        .filter(|pattern| !used.contains(pattern))
        .collect();
    ensure!(
        stale.is_empty(),
        "xtask/conformance/excluded.txt names tests docker-py's suite does not have:\n  {}",
        stale.join("\n  ")
    );
    let known: BTreeSet<&str> = collected.iter().map(String::as_str).collect();
    let unknown: Vec<&str> =
        lists.ratchet.iter().map(String::as_str).filter(|id| !known.contains(id)).collect();
    ensure!(
        unknown.is_empty(),
        "xtask/conformance/ratchet.txt names tests docker-py's suite does not have:\n  {}",
        unknown.join("\n  ")
    );
    Ok(selection)
}

fn execute(options: &Options) -> Result<Run> {
    let pins = cmd::project_root().join("xtask/conformance");
    let lists = Lists::load(&pins)?;
    if options.ratchet && lists.ratchet.is_empty() {
        println!(
            "conformance --ratchet: {} lists no test yet: nothing to run",
            pins.join("ratchet.txt").display()
        );
        let run = Run::default();
        println!("{}", report::totals_line(&run.totals));
        return Ok(run);
    }

    deps::ensure_apt(APT_PACKAGES)?;
    containerd_hook()?;
    let cache = crate::target_dir()?.join("conformance");
    let suite = python::prepare(&cache, &pins)?;
    let version = e2e::daemon_version()?;
    let berthd = e2e::build_berthd()?;

    let tmp = tempfile::Builder::new()
        .prefix("berth-conformance-")
        .tempdir()
        .context("creating a temporary directory")?;
    let root = tmp.path().canonicalize().context("canonicalizing the temporary directory")?;
    let layout = Layout::create(&root)?;
    println!("conformance: berthd {} in {}", berthd.display(), root.display());

    // Declared after `tmp`: dropped (berthd stopped) before the directory goes.
    let mut daemon = Daemon::start(&berthd, &layout)?;
    let result = daemon.wait_ready(READY_TIMEOUT).and_then(|()| {
        let session = Session {
            options,
            pins: &pins,
            lists: &lists,
            suite: &suite,
            layout: &layout,
            cache: &cache,
            version: &version,
        };
        session.run()
    });
    if let Err(err) = daemon.shutdown() {
        println!("warning: {err:#}");
    }
    if result.is_err() {
        crate::e2e::print_log_tail(&layout);
    }
    drop(daemon);
    // berthd keeps its bridge (as dockerd keeps docker0); the test run's own goes now.
    crate::e2e::remove_bridge(crate::e2e::E2E_BRIDGE);

    crate::e2e::finish_tempdir(tmp, options.keep, "conformance")?;
    // The closing line comes last, after the teardown's messages.
    let run = result?;
    println!("{}", report::totals_line(&run.totals));
    Ok(run)
}

/// CONTAINERD HOOK: what the engine needs before berthd starts. berthd
/// starts and supervises its own containerd (under the layout's exec-root)
/// and stops it on SIGTERM, so this only makes sure containerd and runc are
/// installed. A run against a containerd of its own would start it here and
/// pass `--containerd SOCKET` through the e2e harness.
fn containerd_hook() -> Result<()> {
    deps::ensure_apt(deps::RUNTIME_APT_PACKAGES)
}

/// One run against a listening berthd.
struct Session<'a> {
    options: &'a Options,
    /// `xtask/conformance/`, which also holds our pytest plugin.
    pins: &'a Path,
    lists: &'a Lists,
    suite: &'a python::Suite,
    layout: &'a Layout,
    cache: &'a Path,
    version: &'a str,
}

impl Session<'_> {
    fn run(&self) -> Result<Run> {
        let imported = crate::testimage::build_and_import(&self.layout.root, &self.layout.socket)?;
        let (to_run, excluded) = if self.options.ratchet {
            (self.lists.ratchet.clone(), None)
        } else {
            let selection = select(&self.collect()?, self.lists)?;
            println!(
                "conformance: {} tests selected, {} excluded (xtask/conformance/excluded.txt)",
                selection.run.len(),
                selection.excluded_areas.len()
            );
            (selection.run, Some(selection.excluded_areas))
        };

        let junit_path = self.layout.root.join("junit.xml");
        self.pytest_run(&to_run, &junit_path)?;
        let xml = fs::read_to_string(&junit_path)
            .with_context(|| format!("reading pytest's JUnit report {}", junit_path.display()))?;
        let last = self.cache.join("junit.xml");
        fs::write(&last, &xml).with_context(|| format!("writing {}", last.display()))?;
        let cases = junit::parse(&xml).context("reading pytest's JUnit report")?;

        let mut results = Vec::new();
        for node_id in &to_run {
            let outcome = match cases.get(&junit::key_of(node_id)) {
                Some(outcome) => outcome.clone(),
                // -k deselected it.
                None if self.options.keyword.is_some() => continue,
                None => Outcome::Failed("no result in pytest's JUnit report".to_owned()),
            };
            results.push(TestResult {
                node_id: node_id.clone(),
                area: self.lists.area(node_id)?,
                outcome,
            });
        }

        // With -k, the excluded counts of the whole suite would mislead.
        let excluded = excluded.filter(|_| self.options.keyword.is_none());
        let summary = report::summarize(&results, excluded.as_deref());
        let failures = report::top_failures(&results);
        let image_lines: Vec<String> =
            imported.iter().map(crate::testimage::Imported::describe_stable).collect();
        println!();
        if !failures.is_empty() {
            println!("most frequent failures:");
            for (count, message) in &failures {
                println!("  {count:>4} × {message}");
            }
            println!();
        }
        print!("{}", report::table(&summary));
        let ratchet_failures = self.check_ratchet(&results);
        if !self.options.ratchet && self.options.keyword.is_none() {
            let results = report::docs_results(&summary, self.version, &image_lines, &failures);
            update_docs(&results, &report::docs_excluded(&self.lists.exclusions))?;
        }
        Ok(Run { totals: summary.total, ratchet_failures })
    }

    /// Every test of the suite, by node id.
    fn collect(&self) -> Result<Vec<String>> {
        let mut pytest = self.pytest();
        pytest.args(["--collect-only", "-q", "tests/integration"]);
        let out = cmd::capture(&mut pytest, COLLECT_TIMEOUT)?;
        ensure!(out.success(), "collecting docker-py's tests failed:\n{}", out.describe());
        let collected = parse_collected(&out.stdout);
        ensure!(!collected.is_empty(), "pytest collected no tests:\n{}", out.describe());
        Ok(collected)
    }

    /// pytest over `node_ids`, output on the terminal, report in `junit`.
    fn pytest_run(&self, node_ids: &[String], junit: &Path) -> Result<()> {
        let mut pytest = self.pytest();
        pytest
            .args(["-q", "--timeout", &PER_TEST_TIMEOUT_SECS.to_string()])
            .arg(format!("--junitxml={}", junit.display()));
        // A full run prints one character a test; the report has the details.
        let few = self.options.ratchet || self.options.keyword.is_some();
        pytest.arg(if few { "--tb=short" } else { "--tb=no" });
        if let Some(expr) = &self.options.keyword {
            pytest.args(["-k", expr]);
        }
        println!("$ {} <{} node ids>", cmd::display(&pytest), node_ids.len());
        pytest.args(node_ids).stdin(Stdio::null());
        let mut child = pytest.spawn().context("starting pytest")?;
        let status = cmd::wait_deadline(&mut child, Instant::now() + PYTEST_DEADLINE)
            .context("waiting for pytest")?;
        let Some(status) = status else {
            child.kill().context("killing pytest")?;
            child.wait().context("reaping pytest")?;
            bail!("pytest was still running after {PYTEST_DEADLINE:?}: killed");
        };
        match status.code() {
            // All passed; some failed; -k selected nothing.
            Some(0 | 1) => Ok(()),
            Some(5) if self.options.keyword.is_some() => Ok(()),
            _ => bail!(
                "pytest did not complete: {status} (2: interrupted, 3: internal error, \
                 4: usage error, 5: no tests)"
            ),
        }
    }

    /// `python -m pytest` in the sdist, talking to our berthd only.
    fn pytest(&self) -> Command {
        let mut pytest = Command::new(&self.suite.python);
        pytest.current_dir(&self.suite.root).args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            PLUGIN,
        ]);
        // The developer's docker setup must neither leak in nor be touched.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DOCKER_") {
                pytest.env_remove(&key);
            }
        }
        pytest
            .env("DOCKER_HOST", self.layout.unix_host())
            .env("DOCKER_CONFIG", &self.layout.docker_config)
            .env("DOCKER_TEST_API_VERSION", TEST_API_VERSION)
            .env("PYTHONPATH", self.pins);
        pytest
    }

    /// Prints the ratchet's state; returns the listed tests that ran and
    /// did not pass.
    fn check_ratchet(&self, results: &[TestResult]) -> Vec<String> {
        let listed: BTreeSet<&str> = self.lists.ratchet.iter().map(String::as_str).collect();
        let mut failures = Vec::new();
        let mut newly_passing = Vec::new();
        let mut xpassed = Vec::new();
        for result in results {
            let in_ratchet = listed.contains(result.node_id.as_str());
            match (&result.outcome, in_ratchet) {
                (Outcome::Passed, false) => newly_passing.push(result.node_id.as_str()),
                (Outcome::XPassed(reason), false) => {
                    xpassed.push(format!("{} (xfail: {reason})", result.node_id));
                }
                (Outcome::Failed(message) | Outcome::Skipped(message), true) => {
                    println!("RATCHET FAIL {}\n    {message}", result.node_id);
                    failures.push(result.node_id.clone());
                }
                _ => {}
            }
        }
        if !newly_passing.is_empty() {
            println!(
                "passing but not in xtask/conformance/ratchet.txt (add them):\n  {}",
                newly_passing.join("\n  ")
            );
        }
        if !xpassed.is_empty() {
            println!(
                "XPASS, counted as passed but not for the ratchet: docker-py expects dockerd \
                 to fail these, so passing is a difference from dockerd:\n  {}",
                xpassed.join("\n  ")
            );
        }
        if !listed.is_empty() {
            println!(
                "ratchet: {} of the {} listed tests ran, {} did not pass",
                results.iter().filter(|r| listed.contains(r.node_id.as_str())).count(),
                listed.len(),
                failures.len()
            );
        }
        failures
    }
}

/// The node ids in `pytest --collect-only -q` output.
fn parse_collected(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|line| !line.starts_with(char::is_whitespace) && line.contains("::"))
        .map(|line| line.trim().to_owned())
        .collect()
}

/// Rewrites the generated sections of docs/conformance.md: the results of
/// this run and the list of excluded tests.
fn update_docs(results: &str, excluded: &str) -> Result<()> {
    let path: PathBuf = cmd::project_root().join(DOCS);
    let doc = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let updated = report::replace_section(&doc, RESULTS_SECTION, results)
        .and_then(|doc| report::replace_section(&doc, EXCLUDED_SECTION, excluded))
        .with_context(|| format!("updating {}", path.display()))?;
    if updated != doc {
        fs::write(&path, updated).with_context(|| format!("writing {}", path.display()))?;
        println!("conformance: updated {DOCS}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins() -> PathBuf {
        cmd::project_root().join("xtask/conformance")
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn arguments_are_parsed() -> Result<()> {
        assert_eq!(parse_args(&[])?, Some(Options::default()));
        assert_eq!(
            parse_args(&args(&["--keep", "-k", "volume and not prune"]))?,
            Some(Options {
                ratchet: false,
                keyword: Some("volume and not prune".to_owned()),
                keep: true,
            })
        );
        assert_eq!(
            parse_args(&args(&["--ratchet"]))?,
            Some(Options { ratchet: true, ..Options::default() })
        );
        assert_eq!(parse_args(&args(&["--help"]))?, None);
        assert!(parse_args(&args(&["-k"])).is_err());
        assert!(parse_args(&args(&["--ratchet", "-k", "x"])).is_err());
        assert!(parse_args(&args(&["--fast"])).is_err());
        Ok(())
    }

    #[test]
    fn the_checked_in_lists_are_consistent() -> Result<()> {
        let lists = Lists::load(&pins())?;
        assert!(!lists.exclusions.is_empty());
        for file in [
            "api_swarm_test.py",
            "api_service_test.py",
            "api_secret_test.py",
            "api_config_test.py",
            "models_swarm_test.py",
            "models_services_test.py",
            "models_nodes_test.py",
        ] {
            let node_id = format!("tests/integration/{file}::T::test_x");
            let exclusion =
                lists::exclusion_of(&lists.exclusions, &node_id).context("swarm file excluded")?;
            assert_eq!(exclusion.category, lists::Category::SwarmOnly, "{file}");
            assert_eq!(lists.area(&node_id)?, "swarm", "{file}");
        }
        for (node_id, area) in [
            ("tests/integration/api_container_test.py::LogsTest::test_logs", "attach/logs"),
            ("tests/integration/api_container_test.py::KillTest::test_kill", "containers"),
            ("tests/integration/api_image_test.py::CommitTest::test_commit", "containers"),
            ("tests/integration/models_images_test.py::ImageCollectionTest::test_build", "build"),
            (
                "tests/integration/models_images_test.py::ImageCollectionTest::test_save_and_load",
                "images",
            ),
            ("tests/integration/client_test.py::ClientTest::test_ping", "system"),
            ("tests/integration/api_exec_test.py::ExecTest::test_execute_command", "exec"),
        ] {
            assert_eq!(lists.area(node_id)?, area, "{node_id}");
        }
        // Exact names: excluding test_pull must not exclude its neighbours.
        assert!(
            lists::exclusion_of(
                &lists.exclusions,
                "tests/integration/api_image_test.py::PullImageTest::test_pull_invalid_platform"
            )
            .is_none()
        );
        Ok(())
    }

    #[test]
    fn docs_list_the_exclusions() -> Result<()> {
        let lists = Lists::load(&pins())?;
        let path = cmd::project_root().join(DOCS);
        let doc = fs::read_to_string(&path)?;
        let expected = report::replace_section(
            &doc,
            EXCLUDED_SECTION,
            &report::docs_excluded(&lists.exclusions),
        )?;
        if expected != doc {
            if std::env::var_os("UPDATE_EXPECT").is_some() {
                fs::write(&path, expected)?;
            } else {
                bail!(
                    "{DOCS} does not list what xtask/conformance/excluded.txt excludes; \
                     `UPDATE_EXPECT=1 cargo test -p xtask conformance` rewrites it"
                );
            }
        }
        Ok(())
    }

    fn test_lists(exclusions: &str, ratchet: &str) -> Result<Lists> {
        Ok(Lists {
            exclusions: lists::parse_exclusions(exclusions)?,
            areas: lists::parse_areas(
                "tests/integration/a_test.py  system\n\
                 tests/integration/b_test.py  volumes\n",
            )?,
            ratchet: lists::parse_ratchet(ratchet)?,
        })
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|id| format!("tests/integration/{id}")).collect()
    }

    #[test]
    fn selection_applies_exclusions_exactly() -> Result<()> {
        let lists = test_lists(
            "tests/integration/a_test.py::T::test_pull  internet  pulls\n\
             tests/integration/b_test.py  client-side  no daemon\n",
            "",
        )?;
        let collected = ids(&[
            "a_test.py::T::test_pull",
            "a_test.py::T::test_pull_streaming",
            "b_test.py::U::test_one",
            "b_test.py::U::test_two",
        ]);
        assert_eq!(
            select(&collected, &lists)?,
            Selection {
                run: ids(&["a_test.py::T::test_pull_streaming"]),
                excluded_areas: vec!["system", "volumes", "volumes"],
            }
        );
        Ok(())
    }

    #[test]
    fn selection_rejects_stale_and_unmapped_entries() -> Result<()> {
        let stale = test_lists("tests/integration/a_test.py::T::gone  internet  pulls\n", "")?;
        let err = select(&ids(&["a_test.py::T::test_x"]), &stale).expect_err("stale");
        assert!(format!("{err:#}").contains("a_test.py::T::gone"), "{err:#}");

        let lists = test_lists("", "")?;
        let err = select(&ids(&["c_test.py::T::test_x"]), &lists).expect_err("unmapped");
        assert!(format!("{err:#}").contains("no area"), "{err:#}");

        let ratchet = test_lists("", "tests/integration/a_test.py::T::gone\n")?;
        let err = select(&ids(&["a_test.py::T::test_x"]), &ratchet).expect_err("unknown");
        assert!(format!("{err:#}").contains("ratchet.txt"), "{err:#}");
        Ok(())
    }

    #[test]
    fn collected_ids_are_read_from_quiet_output() {
        let stdout = "tests/integration/a_test.py::T::test_one\n\
                      tests/integration/credentials/utils_test.py::test_env\n\
                      \n\
                      2 tests collected in 0.74s\n";
        assert_eq!(
            parse_collected(stdout),
            ids(&["a_test.py::T::test_one", "credentials/utils_test.py::test_env"])
        );
    }
}

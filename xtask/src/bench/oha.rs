//! The load generator: `oha` against a unix socket, its JSON summary read
//! into the three numbers the report keeps (req/s, p50, p99).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::cmd;

/// The crate `cargo install` gets oha from.
const CRATE: &str = "oha";
/// What oha may take beyond the run's own duration (start, drain, JSON).
const GRACE: Duration = Duration::from_secs(30);

/// The oha binary to run: on `PATH`, in cargo's bin directory, or installed
/// there now (`cargo install --locked oha`, a few minutes).
pub(crate) fn ensure() -> Result<PathBuf> {
    let candidates = [PathBuf::from("oha"), cargo_bin().join("oha")];
    for candidate in &candidates {
        if cmd::succeeds(Command::new(candidate).arg("--version")) {
            return Ok(candidate.clone());
        }
    }
    println!("oha is missing: installing it with cargo (this takes a few minutes)");
    cmd::run(cmd::cargo().args(["install", "--locked", CRATE]))?;
    let installed = cargo_bin().join("oha");
    if !cmd::succeeds(Command::new(&installed).arg("--version")) {
        bail!("`cargo install {CRATE}` succeeded but {} does not run", installed.display());
    }
    Ok(installed)
}

fn cargo_bin() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"));
    home.join("bin")
}

/// `oha --version`, for the report.
pub(crate) fn version(oha: &Path) -> Result<String> {
    Ok(cmd::stdout(Command::new(oha).arg("--version"))?.trim().to_owned())
}

/// One load run's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Load {
    /// Answers with status 200 per second of the run.
    pub(crate) rps: f64,
    pub(crate) p50: Option<Duration>,
    pub(crate) p99: Option<Duration>,
    /// Answers with status 200.
    pub(crate) ok: u64,
    /// Answers with another status, plus requests that got no answer
    /// (including those cut off by the deadline).
    pub(crate) failed: u64,
    /// CPU time spent during the run, when the bench measured it.
    pub(crate) cpu: Option<Cpu>,
}

/// CPU time one load run cost, on each side of the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cpu {
    /// The server: the daemon, its containerd, and what they reaped.
    pub(crate) server: Duration,
    /// oha itself.
    pub(crate) client: Duration,
}

impl Load {
    /// CPU per request sent (answered or not) on the server's and on oha's side.
    pub(crate) fn cpu_per_request(&self) -> Option<(Duration, Duration)> {
        let cpu = self.cpu?;
        let requests = u32::try_from(self.ok + self.failed).ok().filter(|&n| n > 0)?;
        Some((cpu.server / requests, cpu.client / requests))
    }
}

/// Runs oha for `duration` with `concurrency` connections against `path` on
/// the daemon listening on `socket`.
pub(crate) fn run(
    oha: &Path,
    socket: &Path,
    path: &str,
    concurrency: u32,
    duration: Duration,
) -> Result<Load> {
    let mut command = Command::new(oha);
    command
        .args(["--no-tui", "--output-format", "json"])
        .arg("-z")
        .arg(format!("{}ms", duration.as_millis()))
        // Let requests in flight at the deadline finish instead of counting
        // them as aborted: a slow daemon would otherwise show failures.
        .arg("--wait-ongoing-requests-after-deadline")
        .arg("-c")
        .arg(concurrency.to_string())
        .arg("--unix-socket")
        .arg(socket)
        // The host part is what goes in the Host header; the socket is
        // what gets connected to.
        .arg(format!("http://localhost{path}"));
    let captured = cmd::capture(&mut command, duration + GRACE)?;
    if !captured.success() {
        bail!("oha failed:\n{}", captured.describe());
    }
    parse(&captured.stdout).with_context(|| format!("reading oha's output:\n{}", captured.stdout))
}

/// The parts of oha's `--output-format json` summary we read. Latencies
/// are in seconds; they are `null` when no request completed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Output {
    summary: Summary,
    latency_percentiles: BTreeMap<String, Option<f64>>,
    #[serde(default)]
    status_code_distribution: BTreeMap<String, u64>,
    #[serde(default)]
    error_distribution: BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    /// Wall time of the whole run, in seconds.
    total: f64,
}

fn parse(json: &str) -> Result<Load> {
    let output: Output = serde_json::from_str(json).context("not oha's JSON summary")?;
    if !(output.summary.total.is_finite() && output.summary.total > 0.0) {
        bail!("oha reports a run of {} s", output.summary.total);
    }
    let ok = output.status_code_distribution.get("200").copied().unwrap_or(0);
    let other: u64 = output
        .status_code_distribution
        .iter()
        .filter(|(status, _)| status.as_str() != "200")
        .map(|(_, count)| count)
        .sum();
    let errors: u64 = output.error_distribution.values().sum();
    let percentile = |name: &str| -> Result<Option<Duration>> {
        match output.latency_percentiles.get(name) {
            None => bail!("oha's latencyPercentiles has no {name}"),
            Some(None) => Ok(None),
            Some(Some(seconds)) => Duration::try_from_secs_f64(*seconds)
                .map(Some)
                .with_context(|| format!("{name} is {seconds} s")),
        }
    };
    #[allow(clippy::cast_precision_loss, reason = "request counts stay far below 2^52")]
    let rps = ok as f64 / output.summary.total;
    Ok(Load {
        rps,
        p50: percentile("p50")?,
        p99: percentile("p99")?,
        ok,
        failed: other + errors,
        cpu: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from a real `oha --no-tui --output-format json` run.
    const SAMPLE: &str = r#"{
      "summary": {"successRate": 1.0, "total": 2.0, "slowest": 0.01, "fastest": 0.0001,
                  "average": 0.0003, "requestsPerSec": 5000.5, "totalData": 20000,
                  "sizePerRequest": 2, "sizePerSec": 10000.0},
      "responseTimeHistogram": {"0.0001": 10},
      "latencyPercentiles": {"p10": 0.0001, "p25": 0.0002, "p50": 0.00025, "p75": 0.0003,
                             "p90": 0.0004, "p95": 0.0005, "p99": 0.002, "p99.9": 0.005,
                             "p99.99": 0.009},
      "rps": {"mean": 5000.0, "stddev": 1.0, "max": 6000.0, "min": 4000.0,
              "percentiles": {"p50": 5000.0}},
      "details": {"DNSDialup": {"average": 0.0, "fastest": 0.0, "slowest": 0.0},
                  "DNSLookup": {"average": 0.0, "fastest": 0.0, "slowest": 0.0}},
      "statusCodeDistribution": {"200": 9990, "500": 4},
      "errorDistribution": {"aborted due to deadline": 6}
    }"#;

    #[test]
    fn rate_counts_only_ok_answers_over_the_run_time() -> Result<()> {
        let load = parse(SAMPLE)?;
        assert_eq!(load.ok, 9990);
        assert_eq!(load.failed, 10);
        assert!((load.rps - 4995.0).abs() < 1e-9, "{}", load.rps);
        assert_eq!(load.p50, Some(Duration::from_micros(250)));
        assert_eq!(load.p99, Some(Duration::from_millis(2)));
        Ok(())
    }

    #[test]
    fn a_run_without_answers_has_no_percentiles() -> Result<()> {
        let json = r#"{"summary": {"total": 3.0},
            "latencyPercentiles": {"p50": null, "p99": null},
            "statusCodeDistribution": {},
            "errorDistribution": {"connection refused": 12}}"#;
        let load = parse(json)?;
        assert_eq!((load.ok, load.failed, load.rps), (0, 12, 0.0));
        assert_eq!((load.p50, load.p99), (None, None));
        Ok(())
    }

    #[test]
    fn cpu_is_shared_out_over_every_request_sent() -> Result<()> {
        let mut load = parse(SAMPLE)?;
        assert_eq!(load.cpu_per_request(), None);
        load.cpu =
            Some(Cpu { server: Duration::from_millis(500), client: Duration::from_millis(1000) });
        assert_eq!(
            load.cpu_per_request(),
            Some((Duration::from_micros(50), Duration::from_micros(100)))
        );
        load.ok = 0;
        load.failed = 0;
        assert_eq!(load.cpu_per_request(), None);
        Ok(())
    }

    #[test]
    fn output_that_is_not_a_summary_is_refused() {
        assert!(parse("").is_err());
        assert!(parse(r#"{"summary": {"total": 0.0}, "latencyPercentiles": {}}"#).is_err());
        let no_p99 = r#"{"summary": {"total": 1.0}, "latencyPercentiles": {"p50": 0.1}}"#;
        assert!(parse(no_p99).is_err());
    }
}

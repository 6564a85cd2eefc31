//! `docs/benchmarks.md`: the machine, the versions, the numbers, the ratios
//! Berth/dockerd, and issue 8's targets judged against them.

use std::fmt::Write as _;
use std::time::Duration;

use super::oha::Load;

/// Where the report goes, relative to the workspace root.
pub(crate) const DOC_PATH: &str = "docs/benchmarks.md";

/// One endpoint at one concurrency, for each server.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) path: &'static str,
    pub(crate) concurrency: u32,
    pub(crate) berthd: Load,
    pub(crate) dockerd: Load,
    /// The bare hyper server, measured for `/_ping` only.
    pub(crate) ceiling: Option<Load>,
}

/// Resident memory of a daemon and of the containerd it runs, in KiB.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Memory {
    pub(crate) daemon: u64,
    pub(crate) containerd: Option<u64>,
}

impl Memory {
    fn total(&self) -> Option<u64> {
        Some(self.daemon + self.containerd?)
    }
}

/// What one daemon did outside the load runs.
#[derive(Debug)]
pub(crate) struct Daemon {
    pub(crate) version: String,
    /// From spawning it to the first `/_ping` answered 200.
    pub(crate) startup: Duration,
    pub(crate) idle: Memory,
    pub(crate) loaded: Memory,
}

#[derive(Debug)]
pub(crate) struct Results {
    pub(crate) machine: String,
    pub(crate) tools: Vec<String>,
    pub(crate) duration: Duration,
    pub(crate) rows: Vec<Row>,
    pub(crate) berthd: Daemon,
    pub(crate) dockerd: Daemon,
}

impl Results {
    fn row(&self, path: &str, concurrency: u32) -> Option<&Row> {
        self.rows.iter().find(|row| row.path == path && row.concurrency == concurrency)
    }
}

/// A target from issue 8 and how this run fared.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    Met(String),
    Missed(String),
    NotMeasured(String),
}

pub(crate) fn targets(results: &Results) -> Vec<(&'static str, Verdict)> {
    let rps_ratio = |path: &str, against_ceiling: bool, at_least: f64| -> Verdict {
        let Some(row) = results.row(path, 32) else {
            return Verdict::NotMeasured(format!("{path} at c=32 was not run"));
        };
        let (other, name) = if against_ceiling {
            match row.ceiling {
                Some(ceiling) => (ceiling, "bare hyper"),
                None => return Verdict::NotMeasured("no ceiling run".to_owned()),
            }
        } else {
            (row.dockerd, "dockerd")
        };
        judge(ratio(row.berthd.rps, other.rps), at_least, true, &format!("× {name}'s req/s"))
    };
    let berthd = &results.berthd.loaded;
    let dockerd = &results.dockerd.loaded;
    #[allow(clippy::cast_precision_loss, reason = "KiB counts stay far below 2^52")]
    let kib = |value: u64| value as f64;
    let rss_abs = if berthd.daemon <= 20 * 1024 {
        Verdict::Met(format!("{} after load", mib(berthd.daemon)))
    } else {
        Verdict::Missed(format!("{} after load", mib(berthd.daemon)))
    };
    let both = match (berthd.total(), dockerd.total()) {
        (Some(b), Some(d)) => judge(ratio(kib(b), kib(d)), 0.5, false, "× dockerd + containerd"),
        _ => Verdict::NotMeasured("a containerd was not found".to_owned()),
    };
    vec![
        ("`/_ping` c=32 ≥ 3× dockerd req/s", rps_ratio("/_ping", false, 3.0)),
        ("`/_ping` c=32 ≥ 0.8× bare hyper req/s", rps_ratio("/_ping", true, 0.8)),
        ("`/version` ≥ 50× dockerd req/s (c=32)", rps_ratio("/version", false, 50.0)),
        ("`/info` ≥ 50× dockerd req/s (c=32)", rps_ratio("/info", false, 50.0)),
        (
            "`/containers/json` with 100 containers ≥ 10× faster",
            Verdict::NotMeasured(
                "the bench does not create containers yet (only 0 containers measured)".to_owned(),
            ),
        ),
        (
            "lifecycle median ≤ 0.5× dockerd",
            Verdict::NotMeasured("the bench does not create containers yet".to_owned()),
        ),
        ("`berthd` RSS ≤ 20 MiB", rss_abs),
        (
            "`berthd` RSS ≤ 0.25× dockerd",
            judge(ratio(kib(berthd.daemon), kib(dockerd.daemon)), 0.25, false, "× dockerd"),
        ),
        ("`berthd` + containerd ≤ 0.5× dockerd + containerd", both),
    ]
}

fn ratio(berth: f64, other: f64) -> Option<f64> {
    (other > 0.0).then(|| berth / other)
}

fn judge(ratio: Option<f64>, bound: f64, at_least: bool, unit: &str) -> Verdict {
    let Some(ratio) = ratio else {
        return Verdict::NotMeasured("the other side measured 0".to_owned());
    };
    let text = format!("{ratio:.2}{unit}");
    let met = if at_least { ratio >= bound } else { ratio <= bound };
    if met { Verdict::Met(text) } else { Verdict::Missed(text) }
}

fn mib(kib: u64) -> String {
    #[allow(clippy::cast_precision_loss, reason = "KiB counts stay far below 2^52")]
    let mib = kib as f64 / 1024.0;
    format!("{mib:.1} MiB")
}

fn latency(value: Option<Duration>) -> String {
    match value {
        Some(d) if d < Duration::from_millis(10) => format!("{:.0} µs", d.as_secs_f64() * 1e6),
        Some(d) => format!("{:.1} ms", d.as_secs_f64() * 1e3),
        None => "-".to_owned(),
    }
}

fn load_cells(load: &Load) -> String {
    let failed = if load.failed > 0 { format!(" ({} failed)", load.failed) } else { String::new() };
    format!("{:.0}{failed} | {} | {}", load.rps, latency(load.p50), latency(load.p99))
}

fn memory_cell(memory: &Memory) -> String {
    let containerd = memory.containerd.map_or_else(|| "?".to_owned(), mib);
    let total = memory.total().map_or_else(|| "?".to_owned(), mib);
    format!("{} | {containerd} | {total}", mib(memory.daemon))
}

pub(crate) fn markdown(results: &Results) -> String {
    let mut out = String::new();
    let secs = results.duration.as_secs_f64();
    let _ = write!(
        out,
        "# Benchmarks: berthd against dockerd\n\n\
         Written by `cargo xtask bench` (see `xtask/src/bench.rs`); rerun it rather than \
         editing this file. One run, on one machine: both daemons run at the same time, each \
         on its own socket and roots, and every measurement alternates between them so that \
         noise hits both alike. Benchmarks never run in CI or in timed tests.\n\n\
         ## Machine and versions\n\n{}\n",
        results.machine
    );
    for tool in &results.tools {
        let _ = writeln!(out, "- {tool}");
    }
    let _ = writeln!(out, "- berthd: {}", results.berthd.version);
    let _ = writeln!(out, "- dockerd: {}", results.dockerd.version);

    let _ = write!(
        out,
        "\n## HTTP load\n\n\
         `oha --unix-socket` for {secs:.0} s per cell; req/s counts answers with status 200. \
         oha shares the 2 cores with the daemons, so high-concurrency numbers are bounded by \
         the machine as much as by the server. Both daemons are empty (no images, no \
         containers).\n\n\
         | endpoint | c | berthd req/s | p50 | p99 | dockerd req/s | p50 | p99 | Berth/dockerd req/s |\n\
         |---|---|---|---|---|---|---|---|---|\n"
    );
    for row in &results.rows {
        let ratio = ratio(row.berthd.rps, row.dockerd.rps)
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.1}×"));
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {ratio} |",
            row.path,
            row.concurrency,
            load_cells(&row.berthd),
            load_cells(&row.dockerd)
        );
    }
    let ceilings: Vec<&Row> = results.rows.iter().filter(|row| row.ceiling.is_some()).collect();
    if !ceilings.is_empty() {
        let _ = write!(
            out,
            "\nThe ceiling: a bare hyper 1 HTTP/1.1 server on a multi-threaded tokio runtime, \
             answering `OK` (`xtask/src/bench/ceiling.rs`, built in release like berthd).\n\n\
             | endpoint | c | bare hyper req/s | p50 | p99 | berthd / bare hyper |\n\
             |---|---|---|---|---|---|\n"
        );
        for row in ceilings {
            let Some(ceiling) = row.ceiling else { continue };
            let ratio = ratio(row.berthd.rps, ceiling.rps)
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}×"));
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {ratio} |",
                row.path,
                row.concurrency,
                load_cells(&ceiling)
            );
        }
    }

    let _ = write!(
        out,
        "\n## Memory and start-up\n\n\
         `VmRSS` from `/proc/<pid>/status`; \"containerd\" is the one each daemon starts as its \
         child. Idle: right after start-up; loaded: right after the last load run.\n\n\
         | daemon | when | daemon RSS | its containerd RSS | together |\n\
         |---|---|---|---|---|\n"
    );
    for (name, daemon) in [("berthd", &results.berthd), ("dockerd", &results.dockerd)] {
        let _ = writeln!(out, "| {name} | idle | {} |", memory_cell(&daemon.idle));
        let _ = writeln!(out, "| {name} | loaded | {} |", memory_cell(&daemon.loaded));
    }
    let _ = write!(
        out,
        "\nFrom spawning the daemon to its first `/_ping` answered 200 (polled every 5 ms; \
         berthd's time includes starting its containerd, dockerd's starting its own): \
         berthd {:.0} ms, dockerd {:.0} ms.\n",
        results.berthd.startup.as_secs_f64() * 1e3,
        results.dockerd.startup.as_secs_f64() * 1e3
    );

    let _ = write!(
        out,
        "\n## Container lifecycle\n\n\
         Not measured: the bench does not create containers yet (Berth runs them since issue 5), so \
         create → start → wait → remove, and `/containers/json` with 100 containers, wait \
         for it.\n\n\
         ## Issue 8's targets\n\n\
         | target | verdict | this run |\n|---|---|---|\n"
    );
    for (target, verdict) in targets(results) {
        let (word, detail) = match verdict {
            Verdict::Met(detail) => ("met", detail),
            Verdict::Missed(detail) => ("**missed**", detail),
            Verdict::NotMeasured(detail) => ("not measured", detail),
        };
        let _ = writeln!(out, "| {target} | {word} | {detail} |");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(rps: f64) -> Load {
        Load {
            rps,
            p50: Some(Duration::from_micros(100)),
            p99: Some(Duration::from_millis(12)),
            ok: 10,
            failed: 0,
        }
    }

    fn results() -> Results {
        let memory = |daemon, containerd| Memory { daemon, containerd: Some(containerd) };
        let daemon = |idle, loaded| Daemon {
            version: "x".to_owned(),
            startup: Duration::from_millis(100),
            idle,
            loaded,
        };
        Results {
            machine: "a machine".to_owned(),
            tools: vec!["oha 1".to_owned()],
            duration: Duration::from_secs(3),
            rows: vec![
                Row {
                    path: "/_ping",
                    concurrency: 32,
                    berthd: load(30_000.0),
                    dockerd: load(10_000.0),
                    ceiling: Some(load(40_000.0)),
                },
                Row {
                    path: "/version",
                    concurrency: 32,
                    berthd: load(30_000.0),
                    dockerd: load(1_000.0),
                    ceiling: None,
                },
            ],
            berthd: daemon(memory(8_000, 20_000), memory(10_000, 20_000)),
            dockerd: daemon(memory(40_000, 30_000), memory(50_000, 30_000)),
        }
    }

    #[test]
    fn targets_are_judged_from_the_ratios() {
        let verdicts = targets(&results());
        let find = |prefix: &str| {
            &verdicts.iter().find(|(t, _)| t.starts_with(prefix)).expect("a target").1
        };
        assert_eq!(find("`/_ping` c=32 ≥ 3×"), &Verdict::Met("3.00× dockerd's req/s".to_owned()));
        assert_eq!(
            find("`/_ping` c=32 ≥ 0.8×"),
            &Verdict::Missed("0.75× bare hyper's req/s".to_owned())
        );
        assert_eq!(find("`/version`"), &Verdict::Missed("30.00× dockerd's req/s".to_owned()));
        assert!(matches!(find("`/info`"), Verdict::NotMeasured(_)));
        assert!(matches!(find("lifecycle"), Verdict::NotMeasured(_)));
        assert_eq!(find("`berthd` RSS ≤ 20"), &Verdict::Met("9.8 MiB after load".to_owned()));
        assert_eq!(find("`berthd` RSS ≤ 0.25×"), &Verdict::Met("0.20× dockerd".to_owned()));
        assert_eq!(find("`berthd` +"), &Verdict::Met("0.38× dockerd + containerd".to_owned()));
    }

    #[test]
    fn markdown_holds_the_table_and_the_verdicts() {
        let doc = markdown(&results());
        assert!(doc.contains("| `/_ping` | 32 | 30000 | 100 µs | 12.0 ms | 10000 |"), "{doc}");
        assert!(doc.contains("| `/_ping` | 32 | 40000 | 100 µs | 12.0 ms | 0.75× |"), "{doc}");
        assert!(doc.contains("| berthd | loaded | 9.8 MiB | 19.5 MiB | 29.3 MiB |"), "{doc}");
        assert!(doc.contains("the bench does not create containers yet"), "{doc}");
    }
}

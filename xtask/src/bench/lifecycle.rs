//! Containers over the Engine API, as a client library drives them (no CLI in the
//! measurement): the create → start → wait → remove cycle of `true`, phase by phase, and the
//! many idle containers `/containers/json` is loaded with.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use serde_json::Value;

use crate::diff::client::{Answer, Client, Outgoing};

/// The image every benchmark container runs: imported offline into both daemons by
/// `testimage.rs`.
pub(crate) const IMAGE: &str = "busybox:latest";
/// What a docker 20.10 CLI sends: both daemons speak it, so both get the same requests.
const API: &str = "/v1.41";

/// The create body: `true`, without networking on both sides (the bench runs dockerd with
/// `--bridge=none --iptables=false`), so the cycle measures the container engines, not CNI
/// against libnetwork.
fn create_body() -> Bytes {
    let body = serde_json::json!({
        "Image": IMAGE,
        "Cmd": ["true"],
        "HostConfig": { "NetworkMode": "none" },
    });
    Bytes::from(body.to_string())
}

/// How long each phase of one cycle took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Phases {
    pub(crate) create: Duration,
    pub(crate) start: Duration,
    pub(crate) wait: Duration,
    pub(crate) remove: Duration,
}

impl Phases {
    pub(crate) fn total(&self) -> Duration {
        self.create + self.start + self.wait + self.remove
    }
}

/// The daemon on one socket, driven over its Engine API.
pub(crate) struct Api<'a> {
    pub(crate) client: &'a Client,
    pub(crate) socket: &'a Path,
}

impl Api<'_> {
    fn send(&self, method: &str, path: &str, body: Bytes) -> Result<Answer> {
        let headers = if body.is_empty() {
            Vec::new()
        } else {
            vec![("Content-Type".to_owned(), "application/json".to_owned())]
        };
        let path = format!("{API}{path}");
        let request = Outgoing { method, path: &path, headers: &headers, body };
        self.client
            .send(self.socket, &request)
            .with_context(|| format!("{method} {path} on {}", self.socket.display()))
    }

    /// `POST /containers/create` for `true`; the new container's ID.
    pub(crate) fn create(&self) -> Result<String> {
        let answer = self.send("POST", "/containers/create", create_body())?;
        expect_status(&answer, 201, "create")?;
        let json: Value = serde_json::from_slice(&answer.body).with_context(|| {
            format!("create answered {:?}", String::from_utf8_lossy(&answer.body))
        })?;
        match json["Id"].as_str() {
            Some(id) if !id.is_empty() => Ok(id.to_owned()),
            _ => bail!("create answered no Id: {json}"),
        }
    }

    pub(crate) fn start(&self, id: &str) -> Result<()> {
        let answer = self.send("POST", &format!("/containers/{id}/start"), Bytes::new())?;
        expect_status(&answer, 204, "start")
    }

    /// `POST /containers/{id}/wait` until `true` has exited; fails unless it exited 0.
    pub(crate) fn wait(&self, id: &str) -> Result<()> {
        let answer = self.send("POST", &format!("/containers/{id}/wait"), Bytes::new())?;
        expect_status(&answer, 200, "wait")?;
        let json: Value = serde_json::from_slice(&answer.body).with_context(|| {
            format!("wait answered {:?}", String::from_utf8_lossy(&answer.body))
        })?;
        ensure!(json["StatusCode"] == 0, "`true` exited with {}", json["StatusCode"]);
        Ok(())
    }

    pub(crate) fn remove(&self, id: &str) -> Result<()> {
        let answer = self.send("DELETE", &format!("/containers/{id}"), Bytes::new())?;
        expect_status(&answer, 204, "remove")
    }

    /// One create → start → wait → remove cycle, each phase timed on its own.
    pub(crate) fn cycle(&self) -> Result<Phases> {
        let started = Instant::now();
        let id = self.create()?;
        let create = started.elapsed();
        let started = Instant::now();
        self.start(&id)?;
        let start = started.elapsed();
        let started = Instant::now();
        self.wait(&id)?;
        let wait = started.elapsed();
        let started = Instant::now();
        self.remove(&id)?;
        let remove = started.elapsed();
        Ok(Phases { create, start, wait, remove })
    }
}

fn expect_status(answer: &Answer, status: u16, what: &str) -> Result<()> {
    if answer.status.as_u16() != status {
        bail!(
            "{what} answered {} instead of {status}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body).trim()
        );
    }
    Ok(())
}

/// Median and 90th percentile of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) median: Duration,
    pub(crate) p90: Duration,
}

/// The median (the mean of the two middle values for an even count) and the 90th percentile
/// (nearest rank: the smallest value at least 90 % of the samples do not exceed); `None`
/// without samples.
pub(crate) fn summarize(samples: &[Duration]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        let (low, high) = (sorted[n / 2 - 1], sorted[n / 2]);
        low + (high - low) / 2
    };
    // Nearest rank: ceil(0.9 n), 1-based.
    let rank = (9 * n).div_ceil(10).max(1);
    Some(Summary { median, p90: sorted[rank - 1] })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn median_of_an_odd_count_is_the_middle_value() {
        let summary = summarize(&ms(&[9, 1, 5])).expect("samples");
        assert_eq!(summary.median, Duration::from_millis(5));
        assert_eq!(summary.p90, Duration::from_millis(9));
    }

    #[test]
    fn median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let summary = summarize(&ms(&[4, 1, 3, 2])).expect("samples");
        assert_eq!(summary.median, Duration::from_micros(2500));
    }

    #[test]
    fn p90_of_twenty_samples_is_the_eighteenth() {
        // 1..=20 shuffled: the 18th smallest is 18, whatever the order.
        let samples = ms(&[20, 3, 17, 8, 1, 19, 12, 5, 14, 10, 2, 18, 7, 16, 4, 11, 15, 6, 13, 9]);
        let summary = summarize(&samples).expect("samples");
        assert_eq!(summary.p90, Duration::from_millis(18));
        assert_eq!(summary.median, Duration::from_micros(10_500));
    }

    #[test]
    fn one_sample_is_its_own_summary_and_none_has_none() {
        let one = summarize(&ms(&[7])).expect("a sample");
        assert_eq!((one.median, one.p90), (Duration::from_millis(7), Duration::from_millis(7)));
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn a_cycle_totals_its_phases() {
        let phases = Phases {
            create: Duration::from_millis(1),
            start: Duration::from_millis(20),
            wait: Duration::from_millis(3),
            remove: Duration::from_millis(4),
        };
        assert_eq!(phases.total(), Duration::from_millis(28));
    }

    #[test]
    fn the_create_body_runs_true_from_busybox_without_a_network() {
        let body: Value = serde_json::from_slice(&create_body()).expect("JSON");
        assert_eq!(body["Image"], "busybox:latest");
        assert_eq!(body["Cmd"], serde_json::json!(["true"]));
        assert_eq!(body["HostConfig"]["NetworkMode"], "none");
    }
}

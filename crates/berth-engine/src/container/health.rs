//! Health checks: a probe loop per run of a container with a `Healthcheck`, recording results in
//! `State.Health` and emitting `health_status` events when the status changes, as dockerd does
//! (moby `daemon/health.go`).

use std::sync::Arc;
use std::time::Duration;

use berth_api::container::HealthcheckResult;
use berth_api::image::HealthConfig;

use super::Container;
use super::manager::Manager;
use super::record::{HealthState, now_rfc3339};

/// dockerd's defaults.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Results kept in `State.Health.Log`.
const MAX_LOG: usize = 5;

fn nanos(n: i64, default: Duration) -> Duration {
    u64::try_from(n).ok().filter(|n| *n > 0).map_or(default, Duration::from_nanos)
}

/// The probe's argv: `CMD` args as they are, `CMD-SHELL` through `/bin/sh -c`. `None` for no
/// check (`NONE`, empty).
pub(crate) fn probe_argv(test: &[String]) -> Option<Vec<String>> {
    match test.split_first() {
        Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
        Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
            Some(vec!["/bin/sh".to_owned(), "-c".to_owned(), rest.join(" ")])
        }
        _ => None,
    }
}

/// Starts the probe loop of the current run of `c`, if it has a health check.
pub(crate) fn spawn(manager: &Arc<Manager>, c: &Arc<Container>) {
    let Some(check) = c.with(|r| r.config.healthcheck.clone()) else { return };
    let Some(argv) = probe_argv(&check.test) else { return };
    let manager = Arc::clone(manager);
    let c = Arc::clone(c);
    tokio::spawn(async move { run(manager, c, check, argv).await });
}

async fn run(manager: Arc<Manager>, c: Arc<Container>, check: HealthConfig, argv: Vec<String>) {
    let interval = nanos(check.interval, DEFAULT_INTERVAL);
    let timeout = nanos(check.timeout, DEFAULT_TIMEOUT);
    let start_period = nanos(check.start_period, Duration::ZERO);
    let start_interval = nanos(check.start_interval, DEFAULT_START_INTERVAL);
    let retries = if check.retries > 0 { check.retries } else { DEFAULT_RETRIES };
    let started = tokio::time::Instant::now();
    let mut phase = c.watch();
    let run_exits = phase.borrow().exits;
    loop {
        let in_start = started.elapsed() < start_period;
        let wait = if in_start { start_interval } else { interval };
        let ended = async {
            phase.wait_for(|p| p.exits != run_exits || p.removed || !p.running).await.is_ok()
        };
        tokio::select! {
            _ = ended => return,
            () = tokio::time::sleep(wait) => {}
        }
        if c.with(|r| r.state.status) != super::record::Status::Running {
            // Paused: no probes, as dockerd.
            continue;
        }
        let start = now_rfc3339();
        let (code, output) = match manager.probe(&c, argv.clone(), timeout).await {
            Ok(r) => r,
            Err(e) => (-1, e.message().to_owned()),
        };
        let result = HealthcheckResult { start, end: now_rfc3339(), exit_code: code, output };
        let in_start = started.elapsed() < start_period;
        let mut changed = None;
        let saved = c.update(|r| {
            if !r.state.is_running() {
                return;
            }
            let h = r.state.health.get_or_insert_with(HealthState::default);
            let before = h.status.clone();
            if code == 0 {
                h.status = "healthy".to_owned();
                h.failing_streak = 0;
            } else if !in_start || h.status != "starting" {
                h.failing_streak += 1;
                if h.failing_streak >= retries {
                    h.status = "unhealthy".to_owned();
                }
            }
            h.log.push(result);
            if h.log.len() > MAX_LOG {
                let extra = h.log.len() - MAX_LOG;
                h.log.drain(..extra);
            }
            if h.status != before {
                changed = Some(h.status.clone());
            }
        });
        if let Err(e) = saved {
            tracing::warn!(container = %c.id, error = %e, "cannot record health");
        }
        if let Some(status) = changed {
            manager.event(&c, &format!("health_status: {status}"), &[]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_commands_follow_the_test_kind() {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(probe_argv(&s(&["CMD", "true"])), Some(s(&["true"])));
        assert_eq!(probe_argv(&s(&["CMD-SHELL", "exit 1"])), Some(s(&["/bin/sh", "-c", "exit 1"])));
        assert_eq!(probe_argv(&s(&["NONE"])), None);
        assert_eq!(probe_argv(&[]), None);
    }
}

//! `GET /containers/{name}/stats` over time, as dockerd's `ContainerStats` and its collector
//! produce it: a sample per second carrying the previous one's CPU counters, the two-sample
//! dance of a non-streamed answer, and the empty samples of a container that is not running.

use std::sync::Arc;
use std::time::Duration;

use berth_api::container::{ContainerStats, CpuStats};
use berth_api::{ErrorKind, Result};
use berth_backend::BoxStream;
use futures_util::StreamExt;

use super::{Sampler, ZERO_TIME};

/// dockerd's collection interval.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

/// The container a stats stream is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatsTarget {
    /// Full container ID.
    pub(crate) id: String,
    /// Name with its leading `/`.
    pub(crate) name: String,
    /// The container's cgroup, relative to each hierarchy (`/berth/<id>`).
    pub(crate) cgroup: String,
    /// Whether to report interfaces: false for `--network host` and `--network none` (dockerd
    /// has no sandbox interfaces to list for them) and when networking is disabled.
    pub(crate) networks: bool,
}

impl StatsTarget {
    /// dockerd's answer for a container that is not running (or whose sample failed): its ID
    /// and name, zero times and zero counters.
    pub(crate) fn empty_stats(&self) -> ContainerStats {
        ContainerStats {
            id: self.id.clone(),
            name: self.name.clone(),
            read: ZERO_TIME.to_owned(),
            preread: ZERO_TIME.to_owned(),
            ..ContainerStats::default()
        }
    }
}

/// What the previous sample left for the next one's `preread` and `precpu_stats`.
#[derive(Debug, Clone)]
struct Previous {
    /// Its `read`.
    read: String,
    /// Its `cpu_stats`.
    cpu: CpuStats,
}

impl Previous {
    /// Go's zero time and zero counters: what a first sample carries.
    fn none() -> Self {
        Self { read: ZERO_TIME.to_owned(), cpu: CpuStats::default() }
    }

    /// `stats` as the sample after this one, then `stats` becomes the previous sample.
    fn chain(&mut self, mut stats: ContainerStats) -> ContainerStats {
        let next = Self { read: stats.read.clone(), cpu: stats.cpu_stats.clone() };
        let previous = std::mem::replace(self, next);
        stats.preread = previous.read;
        stats.precpu_stats = previous.cpu;
        stats
    }
}

impl Sampler {
    /// The samples of `GET /containers/{name}/stats`.
    ///
    /// `running` says whether the container runs now, with its init PID (whose network
    /// namespace is read). As dockerd:
    /// - `stream` false, not running: one empty sample ([`StatsTarget::empty_stats`]);
    /// - `stream` false, `one_shot`: one sample with zero `preread`/`precpu_stats`; its errors
    ///   are the stream's;
    /// - `stream` false: two samples [`INTERVAL`] apart, only the second sent, carrying the
    ///   first's `read` and `cpu_stats` as `preread` and `precpu_stats`;
    /// - `stream` true: a sample now and every [`INTERVAL`], each carrying the previous one's;
    ///   `one_shot` has no effect. The stream ends when a container seen running stops; for a
    ///   container that was not running it sends empty samples until dropped (dockerd's
    ///   collector does the same).
    ///
    /// A failed sample of a running container is logged and sent empty, as dockerd's collector
    /// publishes it. Dropping the stream stops it at once.
    pub(crate) fn stream<F>(
        self: &Arc<Self>,
        target: StatsTarget,
        stream: bool,
        one_shot: bool,
        running: F,
    ) -> BoxStream<'static, Result<ContainerStats>>
    where
        F: Fn() -> Option<u32> + Send + Sync + 'static,
    {
        self.stream_every(INTERVAL, target, stream, one_shot, running)
    }

    /// [`Sampler::stream`] with another interval (tests).
    pub(crate) fn stream_every<F>(
        self: &Arc<Self>,
        interval: Duration,
        target: StatsTarget,
        stream: bool,
        one_shot: bool,
        running: F,
    ) -> BoxStream<'static, Result<ContainerStats>>
    where
        F: Fn() -> Option<u32> + Send + Sync + 'static,
    {
        let sampler = Arc::clone(self);
        if !stream {
            let once = async move {
                let Some(pid) = running() else { return Ok(target.empty_stats()) };
                if one_shot {
                    return sampler.sample_of(&target, pid).map(|s| Previous::none().chain(s));
                }
                let mut previous = Previous::none();
                previous.chain(sampler.collect(&target, running()));
                tokio::time::sleep(interval).await;
                Ok(previous.chain(sampler.collect(&target, running())))
            };
            return futures_util::stream::once(once).boxed();
        }

        /// What the stream carries from one sample to the next.
        struct State<F> {
            sampler: Arc<Sampler>,
            target: StatsTarget,
            running: F,
            previous: Previous,
            /// The container ran at some sample: its stop ends the stream.
            seen_running: bool,
            /// No sample sent yet: send one without waiting.
            first: bool,
        }
        let state = State {
            sampler,
            target,
            running,
            previous: Previous::none(),
            seen_running: false,
            first: true,
        };
        futures_util::stream::unfold(state, move |mut state| async move {
            if !std::mem::replace(&mut state.first, false) {
                tokio::time::sleep(interval).await;
            }
            let pid = (state.running)();
            if pid.is_some() {
                state.seen_running = true;
            } else if state.seen_running {
                return None;
            }
            let stats = state.sampler.collect(&state.target, pid);
            let stats = state.previous.chain(stats);
            Some((Ok(stats), state))
        })
        .boxed()
    }

    /// A sample of `target` named and identified, or the empty sample when it does not run or
    /// its sample fails (logged unless the container merely went away).
    fn collect(&self, target: &StatsTarget, pid: Option<u32>) -> ContainerStats {
        let Some(pid) = pid else { return target.empty_stats() };
        match self.sample_of(target, pid) {
            Ok(stats) => stats,
            Err(e) => {
                if e.kind() != ErrorKind::NotFound {
                    tracing::warn!(container = %target.id, error = %e, "cannot collect stats");
                }
                target.empty_stats()
            }
        }
    }

    /// A sample of `target` running as `pid`; a container whose cgroup or process vanished
    /// (it is exiting) gives the empty sample, as dockerd answers for a stopped task.
    fn sample_of(&self, target: &StatsTarget, pid: u32) -> Result<ContainerStats> {
        match self.sample(&target.cgroup, target.networks.then_some(pid)) {
            Ok(stats) => {
                Ok(ContainerStats { id: target.id.clone(), name: target.name.clone(), ..stats })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(target.empty_stats()),
            Err(e) => Err(e),
        }
    }
}

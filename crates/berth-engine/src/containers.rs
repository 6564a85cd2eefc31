//! The container and exec backends on the container [`Manager`].

use crate::container::manager::Manager;

use std::sync::Arc;

use berth_api::container::{
    ContainerChangeResponseItem, ContainerCreateResponse, ContainerInspect, ContainerPruneReport,
    ContainerStats, ContainerSummary, ContainerTopResponse, ContainerUpdateBody,
    ContainerUpdateResponse, ContainerWaitResponse, ExecCreateBody, ExecInspect, PathStat,
    WaitCondition,
};
use berth_api::{Error, Filters, Result};
use berth_backend::{
    ArchivePutOptions, AttachOptions, AttachStream, BoxFuture, BoxStream, ByteStream,
    ContainerBackend, ContainerCommitOptions, ContainerCreateOptions, ContainerListOptions,
    ContainerLogsOptions, ContainerRemoveOptions, ContainerStopOptions, ExecBackend,
    ExecStartOptions, LogStream,
};
use futures_util::StreamExt;

use crate::Engine;
use crate::container::record::{Status, parse_time};
use crate::container::{io, logging, views};

impl Engine {
    fn manager(&self) -> Result<&Arc<Manager>> {
        self.containers()
    }
}

#[async_trait::async_trait]
impl ContainerBackend for Engine {
    async fn create(&self, options: ContainerCreateOptions) -> Result<ContainerCreateResponse> {
        self.manager()?.create(options).await
    }

    async fn inspect(&self, name: &str, size: bool) -> Result<ContainerInspect> {
        let m = self.manager()?;
        let c = m.get(name)?;
        let graph = m.graph_driver_data(&c).await;
        let mut out = views::inspect(&c, graph);
        if size {
            let (rw, root) = m.sizes(&c).await;
            out.size_rw = Some(rw);
            out.size_root_fs = Some(root);
        }
        Ok(out)
    }

    async fn list(&self, options: ContainerListOptions) -> Result<Vec<ContainerSummary>> {
        let m = self.manager()?;
        views::check_filters(&options.filters)?;
        // Newest first; each creation time is parsed once, for the sort and the filters.
        let mut all: Vec<_> =
            m.registry.all().into_iter().map(|c| (c.with(|r| parse_time(&r.created)), c)).collect();
        all.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
        let bound = |key: &str| -> Result<Option<time::OffsetDateTime>> {
            match options.filters.get(key).next() {
                Some(name) => Ok(m.get(name)?.with(|r| parse_time(&r.created))),
                None => Ok(None),
            }
        };
        let before = bound("before")?;
        let since = bound("since")?;
        let ancestors = if options.filters.contains("ancestor") {
            let mut ids = Vec::new();
            for name in options.filters.get("ancestor") {
                if let Ok(entry) = m.images.find(name).await {
                    ids.push(entry.image.id.clone());
                }
            }
            Some(ids)
        } else {
            None
        };
        let all_flag = options.all || options.limit > 0 || before.is_some() || since.is_some();
        let mut out = Vec::new();
        for (created, c) in all {
            let keep = c.with(|r| {
                let shown = all_flag
                    || matches!(
                        r.state.status,
                        Status::Running | Status::Paused | Status::Restarting
                    )
                    || options.filters.contains("status")
                    || options.filters.contains("exited");
                shown
                    && before.is_none_or(|b| created.is_some_and(|t| t < b))
                    && since.is_none_or(|s| created.is_some_and(|t| t > s))
                    && views::matches(r, &options.filters, ancestors.as_deref())
            });
            if !keep {
                continue;
            }
            let mut entry = views::summary(&c);
            if options.size {
                let (rw, root) = m.sizes(&c).await;
                entry.size_rw = rw;
                entry.size_root_fs = root;
            }
            out.push(entry);
            if options.limit > 0 && out.len() as i64 >= options.limit {
                break;
            }
        }
        Ok(out)
    }

    async fn start(&self, name: &str, checkpoint: &str, _checkpoint_dir: &str) -> Result<()> {
        if !checkpoint.is_empty() {
            return Err(Error::not_implemented("checkpoints are not implemented by Berth"));
        }
        self.manager()?.start(name).await
    }

    async fn stop(&self, name: &str, options: ContainerStopOptions) -> Result<()> {
        self.manager()?.stop(name, options).await
    }

    async fn restart(&self, name: &str, options: ContainerStopOptions) -> Result<()> {
        self.manager()?.restart(name, options).await
    }

    async fn kill(&self, name: &str, signal: &str) -> Result<()> {
        self.manager()?.kill(name, signal).await
    }

    async fn pause(&self, name: &str) -> Result<()> {
        self.manager()?.pause(name).await
    }

    async fn unpause(&self, name: &str) -> Result<()> {
        self.manager()?.unpause(name).await
    }

    async fn wait(
        &self,
        name: &str,
        condition: WaitCondition,
    ) -> Result<BoxFuture<'static, ContainerWaitResponse>> {
        self.manager()?.wait(name, condition)
    }

    async fn remove(&self, name: &str, options: ContainerRemoveOptions) -> Result<()> {
        if options.link {
            return Err(Error::not_implemented("legacy links are not implemented by Berth"));
        }
        self.manager()?.remove(name, options.force, options.volumes).await
    }

    async fn rename(&self, name: &str, new_name: &str) -> Result<()> {
        self.manager()?.rename(name, new_name).await
    }

    async fn update(
        &self,
        name: &str,
        update: ContainerUpdateBody,
    ) -> Result<ContainerUpdateResponse> {
        self.manager()?.update(name, update).await
    }

    async fn top(&self, name: &str, ps_args: &str) -> Result<ContainerTopResponse> {
        self.manager()?.top(name, ps_args).await
    }

    async fn stats(
        &self,
        name: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<BoxStream<'static, Result<ContainerStats>>> {
        self.manager()?.stats(name, stream, one_shot)
    }

    async fn logs(&self, name: &str, options: ContainerLogsOptions) -> Result<LogStream> {
        let c = self.manager()?.get(name)?;
        logging::logs(&c, &options).await
    }

    async fn changes(&self, name: &str) -> Result<Option<Vec<ContainerChangeResponseItem>>> {
        self.manager()?.changes(name).await
    }

    async fn export(&self, name: &str) -> Result<ByteStream> {
        self.manager()?.export(name).await
    }

    async fn archive_stat(&self, name: &str, path: &str) -> Result<PathStat> {
        self.manager()?.archive_stat(name, path).await
    }

    async fn archive_get(&self, name: &str, path: &str) -> Result<(PathStat, ByteStream)> {
        self.manager()?.archive_get(name, path).await
    }

    async fn archive_put(&self, name: &str, options: ArchivePutOptions) -> Result<()> {
        self.manager()?.archive_put(name, options).await
    }

    async fn prune(&self, filters: Filters) -> Result<ContainerPruneReport> {
        self.manager()?.prune(filters).await
    }

    async fn commit(&self, options: ContainerCommitOptions) -> Result<String> {
        self.manager()?.commit(options).await
    }

    async fn resize(&self, name: &str, height: u32, width: u32) -> Result<()> {
        let m = self.manager()?;
        let c = m.get(name)?;
        if !c.with(|r| r.state.is_running()) {
            return Err(Error::conflict(format!("Container {} is not running", c.id)));
        }
        m.runtime.resize(&c.id, "", width, height).await
    }

    async fn attach(
        &self,
        name: &str,
        options: AttachOptions,
        stdin: Option<ByteStream>,
    ) -> Result<AttachStream> {
        let m = self.manager()?;
        let c = m.get(name)?;
        let (status, tty, stdin_once) =
            c.with(|r| (r.state.status, r.config.tty, r.config.stdin_once));
        match status {
            Status::Paused => {
                return Err(Error::conflict(format!(
                    "container {name} is paused, unpause the container before attach"
                )));
            }
            Status::Restarting => {
                return Err(Error::conflict(format!(
                    "container {name} is restarting, wait until the container is running"
                )));
            }
            _ => {}
        }
        // Subscribe before anything else, so no live output is missed.
        let receiver = c.output().subscribe();
        let (detach_tx, detach_rx) = tokio::sync::oneshot::channel();
        let mut detach = Some(detach_rx);
        if let (true, Some(client), Some(queue)) = (options.stdin, stdin, c.stdin.clone()) {
            let keys = io::detach_sequence(&options.detach_keys);
            // dockerd's CopyStreams: only a StdinOnce container without a TTY gets its stdin
            // closed; for any other the attach ends (so a client that went away is let go of
            // even when the container prints nothing).
            let on_end =
                if stdin_once && !tty { io::StdinEnd::CloseStdin } else { io::StdinEnd::EndOutput };
            tokio::spawn(io::forward_stdin(client, queue, keys, on_end, detach_tx));
        }
        let replay = if options.logs {
            let logs = ContainerLogsOptions {
                stdout: options.stdout,
                stderr: options.stderr,
                ..ContainerLogsOptions::default()
            };
            match logging::logs(&c, &logs).await {
                Ok(stream) => stream.chunks,
                Err(e) => {
                    tracing::debug!(container = %c.id, error = %e, "no log to replay");
                    futures_util::stream::empty().boxed()
                }
            }
        } else {
            futures_util::stream::empty().boxed()
        };
        let live = if options.stream {
            io::live_output(receiver, options.stdout, options.stderr, detach.take())
        } else {
            futures_util::stream::empty().boxed()
        };
        m.event(&c, "attach", &[]);
        let output = replay
            .map(|r| {
                r.map(|mut chunk| {
                    chunk.timestamp.clear();
                    chunk.attrs.clear();
                    chunk
                })
            })
            .chain(live)
            .boxed();
        Ok(AttachStream { tty, output })
    }
}

#[async_trait::async_trait]
impl ExecBackend for Engine {
    async fn create(&self, container: &str, body: ExecCreateBody) -> Result<String> {
        self.manager()?.exec_create(container, body)
    }

    async fn start(
        &self,
        id: &str,
        options: ExecStartOptions,
        stdin: Option<ByteStream>,
    ) -> Result<AttachStream> {
        self.manager()?.exec_start(id, options, stdin).await
    }

    async fn resize(&self, id: &str, height: u32, width: u32) -> Result<()> {
        self.manager()?.exec_resize(id, height, width).await
    }

    async fn inspect(&self, id: &str) -> Result<ExecInspect> {
        self.manager()?.exec_inspect(id)
    }
}

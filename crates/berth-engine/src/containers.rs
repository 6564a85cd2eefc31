//! The container and exec groups, as far as they go today: the engine cannot create containers
//! yet (issue 5), so none exist. Listing answers an empty list and every named container or exec
//! instance is dockerd's 404, which is the truth; creating one answers 501.

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

use crate::Engine;

fn no_such_container(name: &str) -> Error {
    Error::not_found(format!("No such container: {name}"))
}

fn no_such_exec(id: &str) -> Error {
    Error::not_found(format!("No such exec instance: {id}"))
}

#[async_trait::async_trait]
impl ContainerBackend for Engine {
    async fn create(&self, options: ContainerCreateOptions) -> Result<ContainerCreateResponse> {
        // dockerd checks the image first: `docker run` pulls on this 404.
        let image = &options.body.config.image;
        if !image.is_empty() {
            self.images()?.find(image).await?;
        }
        Err(Error::not_implemented("creating containers is not implemented by Berth yet (issue 5)"))
    }

    async fn inspect(&self, name: &str, _size: bool) -> Result<ContainerInspect> {
        Err(no_such_container(name))
    }

    async fn list(&self, _options: ContainerListOptions) -> Result<Vec<ContainerSummary>> {
        Ok(Vec::new())
    }

    async fn start(&self, name: &str, _checkpoint: &str, _checkpoint_dir: &str) -> Result<()> {
        Err(no_such_container(name))
    }

    async fn stop(&self, name: &str, _options: ContainerStopOptions) -> Result<()> {
        Err(no_such_container(name))
    }

    async fn restart(&self, name: &str, _options: ContainerStopOptions) -> Result<()> {
        Err(no_such_container(name))
    }

    async fn kill(&self, name: &str, _signal: &str) -> Result<()> {
        Err(no_such_container(name))
    }

    async fn pause(&self, name: &str) -> Result<()> {
        Err(no_such_container(name))
    }

    async fn unpause(&self, name: &str) -> Result<()> {
        Err(no_such_container(name))
    }

    async fn wait(
        &self,
        name: &str,
        _condition: WaitCondition,
    ) -> Result<BoxFuture<'static, ContainerWaitResponse>> {
        Err(no_such_container(name))
    }

    async fn remove(&self, name: &str, _options: ContainerRemoveOptions) -> Result<()> {
        Err(no_such_container(name))
    }

    async fn rename(&self, name: &str, _new_name: &str) -> Result<()> {
        Err(no_such_container(name))
    }

    async fn update(
        &self,
        name: &str,
        _update: ContainerUpdateBody,
    ) -> Result<ContainerUpdateResponse> {
        Err(no_such_container(name))
    }

    async fn top(&self, name: &str, _ps_args: &str) -> Result<ContainerTopResponse> {
        Err(no_such_container(name))
    }

    async fn stats(
        &self,
        name: &str,
        _stream: bool,
        _one_shot: bool,
    ) -> Result<BoxStream<'static, Result<ContainerStats>>> {
        Err(no_such_container(name))
    }

    async fn logs(&self, name: &str, _options: ContainerLogsOptions) -> Result<LogStream> {
        Err(no_such_container(name))
    }

    async fn changes(&self, name: &str) -> Result<Option<Vec<ContainerChangeResponseItem>>> {
        Err(no_such_container(name))
    }

    async fn export(&self, name: &str) -> Result<ByteStream> {
        Err(no_such_container(name))
    }

    async fn archive_stat(&self, name: &str, _path: &str) -> Result<PathStat> {
        Err(no_such_container(name))
    }

    async fn archive_get(&self, name: &str, _path: &str) -> Result<(PathStat, ByteStream)> {
        Err(no_such_container(name))
    }

    async fn archive_put(&self, name: &str, _options: ArchivePutOptions) -> Result<()> {
        Err(no_such_container(name))
    }

    async fn prune(&self, _filters: Filters) -> Result<ContainerPruneReport> {
        Ok(ContainerPruneReport::default())
    }

    async fn commit(&self, options: ContainerCommitOptions) -> Result<String> {
        Err(no_such_container(&options.container))
    }

    async fn resize(&self, name: &str, _height: u32, _width: u32) -> Result<()> {
        Err(no_such_container(name))
    }

    async fn attach(
        &self,
        name: &str,
        _options: AttachOptions,
        _stdin: Option<ByteStream>,
    ) -> Result<AttachStream> {
        Err(no_such_container(name))
    }
}

#[async_trait::async_trait]
impl ExecBackend for Engine {
    async fn create(&self, container: &str, _body: ExecCreateBody) -> Result<String> {
        Err(no_such_container(container))
    }

    async fn start(
        &self,
        id: &str,
        _options: ExecStartOptions,
        _stdin: Option<ByteStream>,
    ) -> Result<AttachStream> {
        Err(no_such_exec(id))
    }

    async fn resize(&self, id: &str, _height: u32, _width: u32) -> Result<()> {
        Err(no_such_exec(id))
    }

    async fn inspect(&self, id: &str) -> Result<ExecInspect> {
        Err(no_such_exec(id))
    }
}

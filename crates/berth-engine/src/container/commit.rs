//! `POST /commit`: a new image from a container's changes.
//!
//! Facts from moby `daemon/commit.go` (the checks, the pause, the config merge, the event) and
//! `daemon/containerd/image_commit.go` (the image config). The image itself is made by
//! [`crate::image::commit`].

use std::sync::Arc;

use berth_api::container::Config;
use berth_api::image::ImageConfig;
use berth_api::{Error, Result};
use berth_backend::ContainerCommitOptions;
use serde_json::{Map, Value};

use super::Container;
use super::manager::Manager;
use super::record::Status;
use crate::image::commit::CommitRequest;

impl Manager {
    /// `POST /commit`: the container's filesystem changes as one more layer on its image, with
    /// the container's config (overridden by the body's and by `changes`). Returns the image ID.
    #[tracing::instrument(skip_all)]
    pub(crate) async fn commit(
        self: &Arc<Self>,
        options: ContainerCommitOptions,
    ) -> Result<String> {
        let c = self.get(&options.container)?;
        committable(&c)?;
        let container_config = c.with(|r| r.config.clone());
        let config = new_config(&container_config, options.config, &options.changes)?;

        let _op = c.op.lock().await;
        if c.phase().removed {
            return Err(Error::not_found(format!("No such container: {}", options.container)));
        }
        committable(&c)?;
        let (image_id, status) = c.with(|r| (r.image_id.clone(), r.state.status));
        let parent = self.images.find(&image_id).await?;
        let rootfs = self.runtime.rootfs_mounts(&c.id).await?;
        let name = options.reference.map(|r| r.with_default_tag());
        let request = CommitRequest {
            parent: &parent.image,
            rootfs,
            config,
            container: &c.id,
            author: &options.author,
            comment: &options.comment,
            created_by: container_config.cmd.unwrap_or_default().join(" "),
            name: name.as_ref().map(ToString::to_string),
        };

        let frozen = if options.pause && status == Status::Running && self.freeze(&c).await {
            Some(Frozen { manager: Arc::clone(self), container: Arc::clone(&c), thawed: false })
        } else {
            None
        };
        let committed = crate::image::commit::commit(&self.images, request).await;
        if let Some(frozen) = frozen {
            frozen.thaw().await;
        }
        let id = committed?;
        let image_ref = name.map(|n| n.familiar()).unwrap_or_default();
        self.event(
            &c,
            "commit",
            &[("comment", options.comment), ("imageID", id.clone()), ("imageRef", image_ref)],
        );
        Ok(id)
    }

    /// Pauses `c` for the commit (the caller holds its `op` lock); whether it did. As dockerd, a
    /// failure only means the commit goes on unpaused.
    async fn freeze(&self, c: &Container) -> bool {
        if let Err(e) = self.runtime.pause(&c.id).await {
            tracing::debug!(container = %c.id, error = %e, "cannot pause for commit; committing anyway");
            return false;
        }
        if let Err(e) = c.update(|r| r.state.status = Status::Paused) {
            tracing::warn!(container = %c.id, error = %e, "cannot record the pause");
        }
        self.event(c, "pause", &[]);
        true
    }

    /// Undoes [`Manager::freeze`].
    async fn thaw(&self, c: &Container) {
        if let Err(e) = self.runtime.resume(&c.id).await {
            tracing::warn!(container = %c.id, error = %e, "cannot unpause after commit");
            return;
        }
        let saved = c.update(|r| {
            // The process may have been killed meanwhile; its exit is recorded already.
            if r.state.status == Status::Paused {
                r.state.status = Status::Running;
            }
        });
        if let Err(e) = saved {
            tracing::warn!(container = %c.id, error = %e, "cannot record the unpause");
        }
        self.event(c, "unpause", &[]);
    }
}

/// A container paused for a commit. Thawed by [`Frozen::thaw`], or, when the commit is dropped
/// half-way (its client went away), by a task spawned from `Drop`: as dockerd's deferred
/// unpause, a commit never leaves the container paused.
struct Frozen {
    manager: Arc<Manager>,
    container: Arc<Container>,
    thawed: bool,
}

impl Frozen {
    async fn thaw(mut self) {
        // Marked after: a thaw dropped half-way is done again from `Drop` (a second resume of
        // a running container only logs a warning).
        self.manager.thaw(&self.container).await;
        self.thawed = true;
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if self.thawed {
            return;
        }
        let (manager, c) = (Arc::clone(&self.manager), Arc::clone(&self.container));
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    // After the dropped commit let go of the container's lock.
                    let _op = c.op.lock().await;
                    manager.thaw(&c).await;
                });
            }
            Err(_) => tracing::error!(container = %c.id, "cannot unpause after a dropped commit"),
        }
    }
}

/// dockerd's 409s for containers that cannot be committed.
fn committable(c: &Container) -> Result<()> {
    match c.with(|r| r.state.status) {
        Status::Dead => {
            Err(Error::conflict(format!("You cannot commit container {} which is Dead", c.id)))
        }
        Status::Removing => Err(Error::conflict(format!(
            "You cannot commit container {} which is being removed",
            c.id
        ))),
        _ => Ok(()),
    }
}

/// The new image's runtime config, as dockerd makes it: the body's config (else the
/// container's) with `changes` applied, then the container's config filling what is still
/// unset; only the fields an image config has are kept.
fn new_config(container: &Config, body: Option<Config>, changes: &[String]) -> Result<Value> {
    let mut section = without_nulls(&body.unwrap_or_else(|| container.clone()))?;
    crate::image::changes::apply(&mut section, changes)?;
    let mut config: Config = serde_json::from_value(Value::Object(section))
        .map_err(|e| Error::invalid(format!("invalid config after changes: {e}")))?;
    super::config::merge_image(&mut config, &Value::Object(without_nulls(container)?));
    let image: ImageConfig = serde_json::from_value(Value::Object(without_nulls(&config)?))
        .map_err(|e| Error::system("cannot convert the config").with_source(e))?;
    serde_json::to_value(image)
        .map_err(|e| Error::system("cannot encode the config").with_source(e))
}

/// `config` as a JSON object without its unset (`null`) fields.
fn without_nulls(config: &Config) -> Result<Map<String, Value>> {
    match serde_json::to_value(config) {
        Ok(Value::Object(map)) => Ok(map.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        Ok(_) => Err(Error::system("a container config is not a JSON object")),
        Err(e) => Err(Error::system("cannot encode the config").with_source(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use berth_api::container::WaitCondition;
    use berth_api::image::Reference;
    use berth_backend::{ContainerBackend, ContainerCommitOptions, ImageBackend};

    use super::*;
    use crate::container::tests::{create_options, import_busybox, logs};
    use crate::testutil::{TestContainerd, engine_with};

    #[test]
    fn changes_override_the_container_config_which_fills_the_rest() {
        let container = Config {
            hostname: "abc".to_owned(),
            image: "busybox".to_owned(),
            env: Some(vec!["A=1".to_owned(), "B=2".to_owned()]),
            cmd: Some(vec!["sh".to_owned()]),
            working_dir: "/tmp".to_owned(),
            ..Config::default()
        };
        let changes = ["CMD [\"cat\",\"/x\"]".to_owned(), "ENV B=3".to_owned()];
        let config = new_config(&container, None, &changes).expect("config");
        assert_eq!(config["Cmd"], serde_json::json!(["cat", "/x"]));
        assert_eq!(config["Env"], serde_json::json!(["A=1", "B=3"]));
        assert_eq!(config["WorkingDir"], "/tmp");
        assert!(config.get("Hostname").is_none() && config.get("Image").is_none(), "{config}");

        let body = Config { user: "nobody".to_owned(), ..Config::default() };
        let config = new_config(&container, Some(body), &[]).expect("config");
        assert_eq!(config["User"], "nobody");
        assert_eq!(config["Cmd"], serde_json::json!(["sh"]));

        let err = new_config(&container, None, &["RUN true".to_owned()]).expect_err("bad change");
        assert_eq!(err.kind(), berth_api::ErrorKind::InvalidParameter, "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_committed_container_runs_as_an_image() {
        let ctrd = TestContainerd::start().await;
        let (engine, events) = engine_with(&ctrd, "berthcm0", "10.213.253.1/24").await;
        import_busybox(&engine).await;

        let cmd = ["sh", "-c", "echo committed-content > /hello.txt"];
        let created = ContainerBackend::create(&engine, create_options("src", &cmd, "none"))
            .await
            .expect("create");
        let wait =
            ContainerBackend::wait(&engine, "src", WaitCondition::NextExit).await.expect("wait");
        ContainerBackend::start(&engine, "src", "", "").await.expect("start");
        let status = tokio::time::timeout(Duration::from_secs(30), wait).await.expect("exits");
        assert_eq!(status.status_code, 0);

        let options = ContainerCommitOptions {
            container: "src".to_owned(),
            reference: Some(Reference::parse_normalized("committed:1").expect("ref")),
            comment: "a file".to_owned(),
            author: "Berth Tests".to_owned(),
            pause: true,
            changes: vec!["CMD [\"cat\",\"/hello.txt\"]".to_owned()],
            config: None,
        };
        let id = ContainerBackend::commit(&engine, options).await.expect("commit");
        assert!(id.starts_with("sha256:"), "{id}");
        assert_eq!(events.actions(&created.id).last().map(String::as_str), Some("commit"));

        let base = ImageBackend::inspect(&engine, "busybox", Default::default())
            .await
            .expect("inspect busybox");
        let image = ImageBackend::inspect(&engine, "committed:1", Default::default())
            .await
            .expect("inspect");
        assert_eq!(image.id, id);
        assert_eq!((image.author.as_str(), image.comment.as_str()), ("Berth Tests", "a file"));
        let config = image.config.expect("config");
        assert_eq!(config.cmd, ["cat", "/hello.txt"]);
        assert_eq!(image.root_fs.layers.len(), base.root_fs.layers.len() + 1);
        assert_eq!(image.root_fs.layers[..1], base.root_fs.layers[..]);
        let history = ImageBackend::history(&engine, "committed:1", None).await.expect("history");
        let newest = &history[0];
        assert_eq!(newest.created_by, cmd.join(" "));
        assert_eq!(newest.comment, "a file");
        assert!(newest.size > 0, "{newest:?}");

        // Only the image holds the new layer's snapshot now; a GC must leave it.
        ContainerBackend::remove(&engine, "src", Default::default()).await.expect("rm");
        collect_garbage(&ctrd).await;
        let mut run = create_options("copy", &[], "none");
        run.body.config.image = "committed:1".to_owned();
        run.body.config.cmd = None;
        ContainerBackend::create(&engine, run).await.expect("create from the commit");
        let wait =
            ContainerBackend::wait(&engine, "copy", WaitCondition::NextExit).await.expect("wait");
        ContainerBackend::start(&engine, "copy", "", "").await.expect("start");
        let status = tokio::time::timeout(Duration::from_secs(30), wait).await.expect("exits");
        assert_eq!(status.status_code, 0);
        assert_eq!(logs(&engine, "copy").await, "committed-content\n");

        // Nothing changed in a created container: no layer, an empty-layer history entry.
        ContainerBackend::create(&engine, create_options("idle", &["true"], "none"))
            .await
            .expect("create");
        let options = ContainerCommitOptions { container: "idle".to_owned(), ..Default::default() };
        let id = ContainerBackend::commit(&engine, options).await.expect("commit");
        let image = ImageBackend::inspect(&engine, &id, Default::default()).await.expect("inspect");
        assert_eq!(image.root_fs.layers, base.root_fs.layers);
        assert_eq!((image.author.as_str(), image.comment.as_str()), ("", ""));

        // A running container is paused while its changes are read, and runs on afterwards.
        let live = ContainerBackend::create(
            &engine,
            create_options("live", &["sh", "-c", "while true; do sleep 1; done"], "none"),
        )
        .await
        .expect("create");
        ContainerBackend::start(&engine, "live", "", "").await.expect("start");
        let options = ContainerCommitOptions {
            container: "live".to_owned(),
            pause: true,
            ..Default::default()
        };
        ContainerBackend::commit(&engine, options).await.expect("commit a running container");
        assert_eq!(events.actions(&live.id), ["create", "start", "pause", "unpause", "commit"]);
        let state = ContainerBackend::inspect(&engine, "live", false)
            .await
            .expect("inspect")
            .state
            .expect("state");
        assert_eq!(state.status, "running");
        let force = berth_backend::ContainerRemoveOptions { force: true, ..Default::default() };
        ContainerBackend::remove(&engine, "live", force).await.expect("rm -f");

        let options =
            ContainerCommitOptions { container: "nosuch".to_owned(), ..Default::default() };
        let err = ContainerBackend::commit(&engine, options).await.expect_err("no container");
        assert_eq!(err.kind(), berth_api::ErrorKind::NotFound, "{err}");
        engine.shutdown().await;
        ctrd.stop().await;
    }

    /// Runs containerd's GC now: deleting a lease with `sync` collects before it answers.
    async fn collect_garbage(ctrd: &TestContainerd) {
        use containerd_client::services::v1::{CreateRequest, DeleteRequest};
        let id = format!("berth-test-gc-{}", uuid::Uuid::new_v4());
        let leases = ctrd.conn.leases();
        leases
            .clone()
            .create(CreateRequest { id: id.clone(), labels: Default::default() })
            .await
            .expect("lease");
        leases.clone().delete(DeleteRequest { id, sync: true }).await.expect("gc");
    }
}

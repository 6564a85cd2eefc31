//! One object-safe trait per Docker API group, so routers and the engine meet without knowing
//! each other.
//!
//! Traits carry no HTTP types: arguments and results are `berth-api` wire types, failures are
//! [`berth_api::Error`]. Streams are boxed and `'static` so a router can hand them straight to a
//! response body.

use std::pin::Pin;

use berth_api::Result;
use berth_api::filters::Filters;
use berth_api::image::{
    AuthConfig, DistributionInspect, HistoryItem, ImageDeleteItem, ImageInspect, ImagePruneReport,
    ImageSummary, Platform, ProgressMessage, Reference,
};
use berth_api::system::{Event, Info, Version};
use bytes::Bytes;
use futures_core::Stream;

mod network;
mod volume;
pub use network::{NetworkBackend, NetworkInspectOptions};
pub use volume::VolumeBackend;

/// A boxed, sendable stream.
pub type BoxStream<'a, T> = Pin<Box<dyn Stream<Item = T> + Send + 'a>>;

/// Time bounds of an events query, in Unix nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsQuery {
    /// Replay events at or after this time.
    pub since: Option<i64>,
    /// Stop the stream at this time (immediately if it is in the past).
    pub until: Option<i64>,
    /// Filters, already validated by the router.
    pub filters: Filters,
}

/// What `/_ping` reports besides `OK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingInfo {
    /// `Builder-Version` header value (`1` or `2`).
    pub builder_version: String,
    /// `Swarm` header value (`inactive` for a standalone engine).
    pub swarm: String,
}

/// The system API group: `/_ping`, `/version`, `/info`, `/events`.
#[async_trait::async_trait]
pub trait SystemBackend: Send + Sync + 'static {
    /// Facts for the `/_ping` headers. Must be cheap: clients call it before every command.
    fn ping(&self) -> PingInfo;

    /// `GET /version`.
    async fn version(&self) -> Result<Version>;

    /// `GET /info`.
    async fn info(&self) -> Result<Info>;

    /// `GET /events`: past events matching `query` from `since`, then live ones until `until`.
    /// The stream ends at `until`; without it, only when the client goes away.
    fn events(&self, query: EventsQuery) -> Result<BoxStream<'static, Result<Event>>>;

    /// `POST /auth` (`docker login`): checks `auth` against its registry; the status text on
    /// success (`Login Succeeded`), 401 when the registry refuses the credentials.
    async fn login(&self, auth: berth_api::image::AuthConfig) -> Result<String>;

    /// `GET /system/df`: what images and volumes use on disk (containers and build cache are
    /// the router's to add once they exist).
    async fn disk_usage(&self) -> Result<DiskUsage>;
}

/// Disk usage of images and volumes, for `GET /system/df`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiskUsage {
    /// Bytes all image layers take.
    pub layers_size: i64,
    /// Every image, with `SharedSize` and `Containers` computed.
    pub images: Vec<berth_api::image::ImageSummary>,
    /// Every local volume, with `UsageData` filled (size -1 for volumes with mount options).
    pub volumes: Vec<berth_api::volume::Volume>,
}

/// A stream of bytes: a request body handed to the backend, or an archive it produces.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// A JSON progress stream (`POST /images/create`, `/images/{name}/push`, `/images/load`).
///
/// The router writes each message as one line the moment it arrives. An `Err` item is the
/// failure that ends the operation: when it is the very first item the client gets a plain
/// HTTP error with its status (dockerd has written nothing yet); after that it becomes dockerd's
/// in-band `{"errorDetail":{"message":..},"error":..}` line and the stream ends.
pub type ProgressStream = BoxStream<'static, Result<ProgressMessage>>;

/// Options of `GET /images/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageListOptions {
    /// `all`: include intermediate images of the legacy builder.
    pub all: bool,
    /// Filters, already parsed and checked by the router: only the keys `before`, `dangling`,
    /// `label`, `label!`, `reference`, `since`, `until` occur, and `dangling` holds one boolean
    /// (`Filters::get_bool` succeeds). The backend still resolves `before`/`since` images (404
    /// `No such image: ...` when missing) and parses `until` timestamps (400 when malformed).
    pub filters: Filters,
    /// `shared-size` (API ≥ 1.42): compute `SharedSize`; otherwise report it as -1.
    pub shared_size: bool,
    /// `manifests` (API ≥ 1.47): fill `Manifests`.
    pub manifests: bool,
}

/// Options of `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInspectOptions {
    /// `manifests` (API ≥ 1.48): fill `Manifests`.
    pub manifests: bool,
    /// `platform` (API ≥ 1.49): inspect this platform of a multi-platform image. Never set
    /// together with `manifests` (the router rejects that).
    pub platform: Option<Platform>,
}

/// Options of `DELETE /images/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageRemoveOptions {
    /// `force`: remove even when containers use the image, and untag every reference.
    pub force: bool,
    /// The inverse of `noprune`: also delete untagged parents.
    pub prune_children: bool,
    /// `platforms` (API ≥ 1.50): delete only these platforms' content.
    pub platforms: Vec<Platform>,
}

/// Where `POST /images/create?fromSrc=...` takes the root filesystem tarball from.
pub enum ImportSource {
    /// `fromSrc=-`: the request body.
    Body(ByteStream),
    /// Any other `fromSrc`: a URL to download (`http://` already prepended when it had no scheme).
    Url(String),
}

impl std::fmt::Debug for ImportSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportSource::Body(_) => f.write_str("Body(..)"),
            ImportSource::Url(url) => f.debug_tuple("Url").field(url).finish(),
        }
    }
}

/// Options of an import (`POST /images/create` with `fromSrc`).
#[derive(Debug)]
pub struct ImageImportOptions {
    /// The tarball.
    pub source: ImportSource,
    /// `repo` and `tag` as a tagged reference (`:latest` when no tag), or `None` for an untagged
    /// image.
    pub reference: Option<Reference>,
    /// `changes`: Dockerfile instructions applied to the config (`CMD ["sh"]`, `ENV A=b`, …).
    pub changes: Vec<String>,
    /// `message`: the history comment; the router fills dockerd's default
    /// `Imported from <fromSrc>` when the client sent none.
    pub message: String,
    /// `platform` (API ≥ 1.32): the image's OS/architecture; `None` means the host's.
    pub platform: Option<Platform>,
}

/// Options of a pull (`POST /images/create` with `fromImage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePullOptions {
    /// What to pull, normalized. A name without tag and digest means every tag (`docker pull
    /// -a`); the CLI otherwise always sends a tag.
    pub reference: Reference,
    /// `platform` (API ≥ 1.32): the platform to pull; `None` means the host's.
    pub platform: Option<Platform>,
    /// Credentials from `X-Registry-Auth`; empty when absent or malformed (dockerd ignores bad
    /// credentials on pull).
    pub auth: AuthConfig,
}

/// Options of `POST /images/{name}/push`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePushOptions {
    /// What to push, normalized. A name without tag means every tag of the repository.
    pub reference: Reference,
    /// `platform` (API ≥ 1.46): push only this platform of a multi-platform image.
    pub platform: Option<Platform>,
    /// Credentials from `X-Registry-Auth`; empty when absent or malformed (dockerd ignores bad
    /// credentials on push).
    pub auth: AuthConfig,
}

/// Options of `GET /images/get` and `GET /images/{name}/get`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSaveOptions {
    /// Images to export, as the client named them (names, IDs, short IDs). Empty is allowed:
    /// dockerd then writes an archive with an empty manifest.
    pub names: Vec<String>,
    /// `platform` (API ≥ 1.48): export only this platform.
    pub platform: Option<Platform>,
}

/// Options of `POST /images/load`.
pub struct ImageLoadOptions {
    /// The archive (`docker save` format or an OCI layout tarball).
    pub body: ByteStream,
    /// `quiet` (default true): no progress bars, only the `Loaded image: ...` lines.
    pub quiet: bool,
    /// `platform` (API ≥ 1.48): load only this platform.
    pub platform: Option<Platform>,
}

impl std::fmt::Debug for ImageLoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageLoadOptions")
            .field("quiet", &self.quiet)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// The image API group: `/images/...` and `/distribution/{name}/json`.
///
/// Image names (`name`, `source`) are passed as the client wrote them: a reference
/// (`busybox`, `localhost:5000/team/app:1`), a full or short ID, or `name@digest`; resolving them
/// is the backend's job, and an unknown image is a 404 `No such image: <name>` (dockerd's
/// wording, with `:latest` added to a bare name).
#[async_trait::async_trait]
pub trait ImageBackend: Send + Sync + 'static {
    /// `GET /images/json`: the images matching `options`, newest first.
    async fn list(&self, options: ImageListOptions) -> Result<Vec<ImageSummary>>;

    /// `GET /images/{name}/json`. 404 when there is no such image; 404 `image with reference
    /// <name> was found but does not provide the specified platform (<platform>)` when a
    /// requested platform is missing.
    async fn inspect(&self, name: &str, options: ImageInspectOptions) -> Result<ImageInspect>;

    /// `GET /images/{name}/history` (API ≥ 1.48 may name a `platform`): newest entry first; the
    /// top entry carries the image ID and its tags, older ones `<missing>` and no tags.
    async fn history(&self, name: &str, platform: Option<Platform>) -> Result<Vec<HistoryItem>>;

    /// `POST /images/{name}/tag`: points `target` (normalized, always tagged) at the image
    /// `source`. 404 when `source` does not exist (dockerd maps any lookup failure to 404). An
    /// existing `target` is moved, as `docker tag` does; emits an image `tag` event.
    async fn tag(&self, source: &str, target: Reference) -> Result<()>;

    /// `DELETE /images/{name}`: untags and deletes, reporting each step in order. 404 when there
    /// is no such image. Without `force`, 409 when a container uses the image
    /// (`conflict: unable to remove repository reference "busybox" (must force) - container
    /// 0123abcd is using its referenced image 4567ef`, wording as dockerd's) or when an ID is
    /// given for an image with several references (`conflict: unable to delete 4567ef (must be
    /// forced) - image is referenced in multiple repositories`).
    async fn remove(&self, name: &str, options: ImageRemoveOptions)
    -> Result<Vec<ImageDeleteItem>>;

    /// `POST /images/create?fromSrc=...`: imports a root filesystem tarball as a one-layer image.
    /// The stream ends with `{"status":"sha256:<id>"}`; for a URL it first sends
    /// `{"status":"Downloading from <url>"}` and download progress. URL failures: 404 when the
    /// host does not resolve or the server answers 404, otherwise the server's status class
    /// (`failed to GET <url> with status <status>: <body>`). A bad `changes` instruction is 400.
    async fn import(&self, options: ImageImportOptions) -> Result<ProgressStream>;

    /// `POST /images/create?fromImage=...`: pulls from a registry with dockerd's progress
    /// messages (`Pulling from <repo>`, per-layer `Pulling fs layer` / `Downloading` / `Download
    /// complete` / `Pull complete`, `Digest: ...`, `Status: Downloaded newer image for <ref>`).
    /// Registry failures map to statuses: unknown repository or tag 404 (`pull access denied for
    /// <repo>, repository does not exist or may require 'docker login'` / `manifest for <ref> not
    /// found: manifest unknown: manifest unknown`), bad credentials 401, registry unreachable 500
    /// (dockerd's `Get "https://...": dial tcp ...`). A missing platform in an index is 404
    /// `no matching manifest for <platform> in the manifest list entries`.
    async fn pull(&self, options: ImagePullOptions) -> Result<ProgressStream>;

    /// `POST /images/{name}/push`: pushes with dockerd's progress (`The push refers to repository
    /// [<repo>]`, per-layer `Preparing` / `Pushing` / `Pushed` / `Layer already exists`, then
    /// `<tag>: digest: sha256:... size: N` and an `aux` `{"Tag","Digest","Size"}`). 404 `An image
    /// does not exist locally with the tag: <name>` when nothing matches; 401 / 500 for registry
    /// failures as for pull.
    async fn push(&self, options: ImagePushOptions) -> Result<ProgressStream>;

    /// `GET /images/get`, `GET /images/{name}/get`: a `docker save` tarball (OCI layout plus
    /// `manifest.json` and `repositories`), streamed. 404 `No such image: <name>` before the first
    /// byte when a name does not resolve.
    async fn save(&self, options: ImageSaveOptions) -> Result<ByteStream>;

    /// `POST /images/load`: imports a `docker save` or OCI tarball. dockerd reports every failure
    /// in-band (the status is always 200), so whether the error comes as `Err` here or as a stream
    /// item makes no difference to the client. The stream has one `{"stream":"Loaded image:
    /// <ref>\n"}` per tagged image (`Loaded image ID: sha256:...` for untagged ones); without
    /// `quiet`, layer progress precedes them.
    async fn load(&self, options: ImageLoadOptions) -> Result<ProgressStream>;

    /// `POST /images/prune`: deletes dangling images (or, with `dangling=false`, every image no
    /// container uses). `filters` are parsed and checked by the router: only `dangling`, `label`,
    /// `label!`, `until` occur and `dangling` is one boolean. 409 `a prune operation is already
    /// running` when one is.
    async fn prune(&self, filters: Filters) -> Result<ImagePruneReport>;

    /// `GET /distribution/{name}/json`: asks the registry for the manifest of `reference`
    /// (normalized; always tagged or digested) and the platforms it covers. Registry failures as
    /// for pull; credentials are empty when absent or malformed.
    async fn distribution_inspect(
        &self,
        reference: Reference,
        auth: AuthConfig,
    ) -> Result<DistributionInspect>;
}

// ---------------------------------------------------------------------------------------------
// Containers and exec
// ---------------------------------------------------------------------------------------------

use berth_api::container::{
    ContainerChangeResponseItem, ContainerCreateBody, ContainerCreateResponse, ContainerInspect,
    ContainerPruneReport, ContainerStats, ContainerSummary, ContainerTopResponse,
    ContainerUpdateBody, ContainerUpdateResponse, ContainerWaitResponse, ExecCreateBody,
    ExecInspect, PathStat, WaitCondition,
};
pub use berth_api::stdcopy::StdStream;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// One piece of a container's or an exec's output, as the backend produces it. The router
/// frames it (8-byte stdcopy header) unless the stream is a TTY, and adds the `timestamps` /
/// `details` prefixes of logs; backends never frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    /// The stream it was written to (`Stdout` for everything a TTY produces).
    pub stream: StdStream,
    /// The bytes, as written.
    pub bytes: Bytes,
    /// When it was written, RFC 3339 with exactly nine fraction digits in UTC
    /// (`2024-01-02T03:04:05.000000006Z`, dockerd's `rfc3339NanoFixed`); logs only, empty
    /// elsewhere.
    pub timestamp: String,
    /// Log attributes (`--log-opt labels/env`), shown with `details=1`; logs only.
    pub attrs: Vec<(String, String)>,
}

impl OutputChunk {
    /// A chunk without timestamp or attributes.
    pub fn new(stream: StdStream, bytes: impl Into<Bytes>) -> Self {
        Self { stream, bytes: bytes.into(), timestamp: String::new(), attrs: Vec::new() }
    }
}

/// A stream of output chunks. It ends when the output ends (the process exited, or `follow` is
/// off and the log is exhausted). An `Err` item is a failure after output started: logs write
/// it in-band as `Error grabbing logs: <err>\n` on the system-error stream (3), attach as
/// `Error attaching: <err>\n` on stdout; the stream then ends.
pub type OutputStream = BoxStream<'static, Result<OutputChunk>>;

/// Options of `POST /containers/create`, after the router applied dockerd's per-version
/// adjustments (AutoRemove dropped below 1.25, IpcMode `shareable` default below 1.40, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerCreateOptions {
    /// `name`: the requested name (without or with a leading `/`), or empty for a generated one.
    pub name: String,
    /// The body. `host_config` and `networking_config` are always `Some` (empty when the client
    /// sent none); `HostConfig.NetworkMode` empty or `default` is already `bridge`.
    pub body: ContainerCreateBody,
    /// `platform` (API ≥ 1.41), as sent (`linux/amd64`); the backend parses it.
    pub platform: Option<String>,
    /// Read-only mounts are non-recursive unless asked (API < 1.44 clients).
    pub default_read_only_non_recursive: bool,
}

/// Options of `GET /containers/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerListOptions {
    /// `all`: include stopped containers.
    pub all: bool,
    /// `size`: compute `SizeRw` and `SizeRootFs`.
    pub size: bool,
    /// `limit`: the newest `n` containers (implies all when > 0); 0 is no limit.
    pub limit: i64,
    /// Filters, checked by the router against dockerd's list: `ancestor`, `before`, `expose`,
    /// `exited`, `health`, `id`, `isolation`, `is-task`, `label`, `name`, `network`,
    /// `publish`, `since`, `status`, `volume`. The backend checks values (400 `invalid filter
    /// 'status=bogus'`, unknown `before`/`since` 404 `No such container: x`).
    pub filters: Filters,
}

/// Options of stop and restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerStopOptions {
    /// `t`: seconds to wait before SIGKILL; `None` uses the container's `StopTimeout` (10 s by
    /// default); -1 waits forever.
    pub timeout: Option<i64>,
    /// `signal` (API ≥ 1.42): the stop signal; `None` uses the container's `StopSignal`.
    pub signal: Option<String>,
}

/// Options of `DELETE /containers/{name}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerRemoveOptions {
    /// `force`: kill a running container first.
    pub force: bool,
    /// `v`: remove its anonymous volumes.
    pub volumes: bool,
    /// `link`: remove the link named `name` instead of a container.
    pub link: bool,
}

/// Options of `GET /containers/{name}/logs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerLogsOptions {
    /// `stdout`.
    pub stdout: bool,
    /// `stderr` (the router guarantees at least one of the two).
    pub stderr: bool,
    /// `follow`: keep streaming until the container stops.
    pub follow: bool,
    /// `since`, as sent (Unix seconds with optional fraction, or a duration); the backend
    /// parses it.
    pub since: String,
    /// `until`, as `since`.
    pub until: String,
    /// `tail`: `all`, empty, or a number of lines.
    pub tail: String,
    /// `timestamps`: the backend must fill [`OutputChunk::timestamp`] (the router prefixes it).
    pub timestamps: bool,
    /// `details`: the backend must fill [`OutputChunk::attrs`].
    pub details: bool,
}

/// What `logs` returns: the container's TTY flag (it decides framing and content type) and the
/// messages.
pub struct LogStream {
    /// `Config.Tty` of the container: no framing when true.
    pub tty: bool,
    /// The log messages, each a whole line as logged.
    pub chunks: OutputStream,
}

impl std::fmt::Debug for LogStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStream").field("tty", &self.tty).finish_non_exhaustive()
    }
}

/// Options of `POST /containers/{name}/attach`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachOptions {
    /// `stdin`: forward the client's bytes to the container's stdin.
    pub stdin: bool,
    /// `stdout`.
    pub stdout: bool,
    /// `stderr`.
    pub stderr: bool,
    /// `logs`: replay the log first.
    pub logs: bool,
    /// `stream`: then stream live output.
    pub stream: bool,
    /// `detachKeys`, already validated by the router; empty for the default (`ctrl-p,ctrl-q`).
    pub detach_keys: String,
}

/// What `attach` and exec `start` return: the TTY flag and the output.
pub struct AttachStream {
    /// Whether the output is a TTY stream (no framing). For attach the container's
    /// `Config.Tty`; exec start ignores it (the start body's `Tty` decides, as in dockerd).
    pub tty: bool,
    /// Output chunks; the stream ends when the container's (or exec's) output ends, or when the
    /// detach keys were read from stdin. The router then half-closes the connection.
    pub output: OutputStream,
}

impl std::fmt::Debug for AttachStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachStream").field("tty", &self.tty).finish_non_exhaustive()
    }
}

/// Options of `POST /commit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerCommitOptions {
    /// `container`: the container to commit.
    pub container: String,
    /// `repo` and `tag` as a tagged reference; `None` for an untagged image.
    pub reference: Option<berth_api::image::Reference>,
    /// `comment`.
    pub comment: String,
    /// `author`.
    pub author: String,
    /// `pause` (default true): pause the container while committing.
    pub pause: bool,
    /// `changes`: Dockerfile instructions to apply.
    pub changes: Vec<String>,
    /// The body: a `Config` to merge into the image config; `None` when empty.
    pub config: Option<berth_api::container::Config>,
}

/// Options of `PUT /containers/{name}/archive`.
pub struct ArchivePutOptions {
    /// `path`: the directory to extract into (must exist).
    pub path: String,
    /// `noOverwriteDirNonDir`: refuse to replace a directory with a non-directory and back.
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID`: keep the archive's owners instead of the container user's.
    pub copy_uid_gid: bool,
    /// The tar archive (possibly compressed).
    pub body: ByteStream,
}

impl std::fmt::Debug for ArchivePutOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchivePutOptions")
            .field("path", &self.path)
            .field("no_overwrite_dir_non_dir", &self.no_overwrite_dir_non_dir)
            .field("copy_uid_gid", &self.copy_uid_gid)
            .finish_non_exhaustive()
    }
}

/// The container API group: `/containers/...` and `/commit`.
///
/// `name` is what the client wrote: a name (with or without the leading `/`), a full ID, or an
/// unambiguous ID prefix. Every method answers an unknown container with 404
/// `No such container: <name>` (the name as the client wrote it); an ambiguous prefix is 400
/// `multiple IDs found with provided prefix: <name>`.
#[async_trait::async_trait]
pub trait ContainerBackend: Send + Sync + 'static {
    /// `POST /containers/create` (201). 404 `No such image: <image>` when the image is not
    /// local (the CLI then pulls and retries); 409 `Conflict. The container name "/<name>" is
    /// already in use by container "<id>". You have to remove (or rename) that container to be
    /// able to reuse that name.`; 400 for invalid names (`Invalid container name (<n>), only
    /// [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`) and invalid configuration (bad bind specs,
    /// unknown restart policy, `Config` without `Cmd` and image without one: `no command
    /// specified`).
    async fn create(&self, options: ContainerCreateOptions) -> Result<ContainerCreateResponse>;

    /// `GET /containers/{name}/json`; `size` fills `SizeRw`/`SizeRootFs`.
    async fn inspect(&self, name: &str, size: bool) -> Result<ContainerInspect>;

    /// `GET /containers/json`: newest first.
    async fn list(&self, options: ContainerListOptions) -> Result<Vec<ContainerSummary>>;

    /// `POST /containers/{name}/start` (204). 304 (no body) when already running; 409
    /// `cannot start a paused container, try unpause instead`; 409 `container is marked for
    /// removal and cannot be started`; 400/500 with the runtime's message when the process
    /// cannot start (`failed to create task for container: ... exec: "nope": executable file
    /// not found in $PATH: unknown` is a 400). `checkpoint`/`checkpoint_dir` are the
    /// experimental checkpoint restore parameters, empty normally.
    async fn start(&self, name: &str, checkpoint: &str, checkpoint_dir: &str) -> Result<()>;

    /// `POST /containers/{name}/stop` (204). 304 (no body) when not running. Sends the stop
    /// signal, waits `timeout`, then SIGKILL; returns once the container stopped.
    async fn stop(&self, name: &str, options: ContainerStopOptions) -> Result<()>;

    /// `POST /containers/{name}/restart` (204): stop (if running) then start.
    async fn restart(&self, name: &str, options: ContainerStopOptions) -> Result<()>;

    /// `POST /containers/{name}/kill` (204); `signal` empty means SIGKILL. 409 `Container
    /// <id> is not running` when not running; 400 `Invalid signal: <s>` for unknown signals.
    /// (The router prefixes any error with `cannot kill container: <name>: `, as dockerd.)
    async fn kill(&self, name: &str, signal: &str) -> Result<()>;

    /// `POST /containers/{name}/pause` (204). 409 `Container <id> is not running` / `Container
    /// <id> is already paused`.
    async fn pause(&self, name: &str) -> Result<()>;

    /// `POST /containers/{name}/unpause` (204). 500 `Container <id> is not paused` (a plain
    /// error in dockerd).
    async fn unpause(&self, name: &str) -> Result<()>;

    /// `POST /containers/{name}/wait`. Resolves the container now (404 before the 200 is
    /// sent), returns a future that completes with the exit status when `condition` is met.
    /// The router sends the 200 header at once and the body when the future completes; a
    /// failure while waiting goes in `Error.Message` of the answer.
    async fn wait(
        &self,
        name: &str,
        condition: WaitCondition,
    ) -> Result<BoxFuture<'static, ContainerWaitResponse>>;

    /// `DELETE /containers/{name}` (204). 409 `cannot remove container "<name as given>":
    /// container is running: stop the container before removing or force remove` without
    /// `force`; 409
    /// `removal of container <id> is already in progress`. With `link`, 404 / 400 as dockerd
    /// for a missing or invalid link name.
    async fn remove(&self, name: &str, options: ContainerRemoveOptions) -> Result<()>;

    /// `POST /containers/{name}/rename` (204). 400 `Neither old nor new names may be empty`;
    /// 400 `Renaming a container with the same name as its current name`; 409 `Error when
    /// allocating new name: Conflict. The container name "/<new>" is already in use by
    /// container "<id>". You have to remove (or rename) that container to be able to reuse
    /// that name.`; 400 `Error when allocating new name: Invalid container name (/<new>), …`.
    async fn rename(&self, name: &str, new_name: &str) -> Result<()>;

    /// `POST /containers/{name}/update`. `PidsLimit` of 0 or below is already 0 (unlimited),
    /// `KernelMemory` dropped for API ≥ 1.42, `PidsLimit` dropped below 1.40. 400 naming the
    /// invalid value (no container prefix, as dockerd 28); failures applying the update are
    /// `Cannot update container <id>: ...`.
    async fn update(
        &self,
        name: &str,
        update: ContainerUpdateBody,
    ) -> Result<ContainerUpdateResponse>;

    /// `GET /containers/{name}/top`; `ps_args` default `-ef`. 409 `Container <id> is not
    /// running`; 500 `ps: ...` when ps fails.
    async fn top(&self, name: &str, ps_args: &str) -> Result<ContainerTopResponse>;

    /// `GET /containers/{name}/stats`: one sample and end (`stream` false; `one_shot` skips
    /// the second sample used for `precpu_stats`), or a sample per second until the container
    /// stops or the client goes away. A stopped container yields zeroed samples, not an error.
    async fn stats(
        &self,
        name: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<BoxStream<'static, Result<ContainerStats>>>;

    /// `GET /containers/{name}/logs`. 501 `configured logging driver does not support reading`
    /// for drivers without read support; 400 for a malformed `since`/`until`.
    async fn logs(&self, name: &str, options: ContainerLogsOptions) -> Result<LogStream>;

    /// `GET /containers/{name}/changes`: filesystem changes against the image; `None` (sent as
    /// `null`, as dockerd does) when nothing changed.
    async fn changes(&self, name: &str) -> Result<Option<Vec<ContainerChangeResponseItem>>>;

    /// `GET /containers/{name}/export`: the root filesystem as a tar stream.
    async fn export(&self, name: &str) -> Result<ByteStream>;

    /// `HEAD /containers/{name}/archive`: stat of `path`. 404 `Could not find the file <path>
    /// in container <name>`; 400 for a relative path.
    async fn archive_stat(&self, name: &str, path: &str) -> Result<PathStat>;

    /// `GET /containers/{name}/archive`: a tar of `path` and its stat. Errors as
    /// [`ContainerBackend::archive_stat`].
    async fn archive_get(&self, name: &str, path: &str) -> Result<(PathStat, ByteStream)>;

    /// `PUT /containers/{name}/archive` (200): extracts a tar into `path`. 404 when `path` does
    /// not exist; 400 `extraction point is not a directory`; 403 when the root filesystem is
    /// read-only.
    async fn archive_put(&self, name: &str, options: ArchivePutOptions) -> Result<()>;

    /// `POST /containers/prune`: removes stopped containers. Filters checked by the router:
    /// `label`, `label!`, `until`. 409 `a prune operation is already running`.
    async fn prune(&self, filters: Filters) -> Result<ContainerPruneReport>;

    /// `POST /commit` (201): the new image's ID. 404 for the container; 409 `You cannot commit
    /// a container that is ... ` as dockerd for removing/dead containers.
    async fn commit(&self, options: ContainerCommitOptions) -> Result<String>;

    /// `POST /containers/{name}/resize` (200, empty). 409 `Container <id> is not running`.
    async fn resize(&self, name: &str, height: u32, width: u32) -> Result<()>;

    /// `POST /containers/{name}/attach`. Errors returned here reach the client before the
    /// upgrade: 404; 409 `container <name> is paused, unpause the container before attach`;
    /// 409 `container <name> is restarting, wait until the container is running`.
    ///
    /// `stdin` is the client's side of the hijacked connection (raw, unframed) when
    /// `options.stdin`; it ends when the client half-closes, and the backend then closes the
    /// container's stdin (if `StdinOnce`) — that is what lets `docker run -i` finish. It is
    /// fed only after the upgrade completes, so do not wait on it before returning.
    async fn attach(
        &self,
        name: &str,
        options: AttachOptions,
        stdin: Option<ByteStream>,
    ) -> Result<AttachStream>;
}

/// Options of `POST /exec/{id}/start`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecStartOptions {
    /// `Detach`: start and return; no streams.
    pub detach: bool,
    /// `Tty` of the start body (the framing; the process's terminal was decided at create).
    pub tty: bool,
    /// `ConsoleSize` `[height, width]`: already dropped by the router below API 1.42 or
    /// without `Tty`.
    pub console_size: Option<[u32; 2]>,
}

/// The exec API group: `/containers/{name}/exec` and `/exec/...`.
#[async_trait::async_trait]
pub trait ExecBackend: Send + Sync + 'static {
    /// `POST /containers/{name}/exec` (201): the exec ID. The router has checked `Cmd` (400
    /// `No exec command specified`) and dropped `ConsoleSize` below API 1.42. 404 `No such
    /// container: <name>`; 409 `container <id> is not running` / `Container <name as given> is
    /// paused, unpause the container before exec` / `Container <id> is restarting, wait until the
    /// container is running`.
    async fn create(&self, container: &str, body: ExecCreateBody) -> Result<String>;

    /// `POST /exec/{id}/start`. 404 `No such exec instance: <id>` is answered as JSON before
    /// any upgrade; any other error returned here is written in-band after the upgrade (as
    /// `<err>\r\n` on stdout), as dockerd does (409 `container <id> is not running`, then 409
    /// `exec command <id> has already run` / `exec command <id> is already running`). With `detach`, the output stream is ignored and
    /// every error is a plain JSON answer.
    ///
    /// `stdin` as for [`ContainerBackend::attach`]: raw client bytes, ending on half-close.
    async fn start(
        &self,
        id: &str,
        options: ExecStartOptions,
        stdin: Option<ByteStream>,
    ) -> Result<AttachStream>;

    /// `POST /exec/{id}/resize` (200, empty). 404 `No such exec instance: <id>`.
    async fn resize(&self, id: &str, height: u32, width: u32) -> Result<()>;

    /// `GET /exec/{id}/json`. 404 `No such exec instance: <id>`.
    async fn inspect(&self, id: &str) -> Result<ExecInspect>;
}

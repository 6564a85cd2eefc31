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

    /// `GET /system/df`: what images use on disk (containers, volumes and build cache are the
    /// router's to add once they exist; Berth has none of them yet).
    async fn disk_usage(&self) -> Result<DiskUsage>;
}

/// Disk usage of images, for `GET /system/df`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiskUsage {
    /// Bytes all image layers take.
    pub layers_size: i64,
    /// Every image, with `SharedSize` and `Containers` computed.
    pub images: Vec<berth_api::image::ImageSummary>,
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

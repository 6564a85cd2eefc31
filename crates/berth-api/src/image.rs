//! JSON shapes of the image and distribution APIs (`/images/...`, `/distribution/{name}/json`),
//! image references, platforms and registry credentials.
//!
//! Field names and orders follow Docker's swagger (API 1.51) and the Go structs dockerd 28
//! marshals, so the bytes on the wire match. Types whose shape depends on the API version a client
//! asked for ([`ImageSummary`], [`ImageInspect`]) are not `Serialize` themselves: the router
//! serializes `value.for_api(version)`, which applies dockerd's per-version rules in one place.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

use crate::ApiVersion;

pub mod platform;
pub mod reference;

pub use platform::Platform;
pub use reference::{Digest, Reference};

/// Serializes an empty vector as `null`, as Go marshals a nil slice.
fn empty_as_null<T: Serialize, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() { s.serialize_none() } else { s.collect_seq(v) }
}

/// Go's `time.Time{}` as JSON: what dockerd writes for an unknown time.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

// ---------------------------------------------------------------------------------------------
// OCI building blocks
// ---------------------------------------------------------------------------------------------

/// An OCI content descriptor (`ocispec.Descriptor`), in its camelCase JSON form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the content (`sha256:...`).
    pub digest: String,
    /// Size of the content in bytes.
    pub size: i64,
    /// Alternative download locations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform of a manifest in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The artifact type of an artifact manifest.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub artifact_type: String,
}

/// `{}`: the value type of Go's `map[string]struct{}` sets (`ExposedPorts`, `Volumes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

// ---------------------------------------------------------------------------------------------
// GET /images/json
// ---------------------------------------------------------------------------------------------

/// One image of `GET /images/json` (swagger `ImageSummary`), as the backend reports it.
///
/// Serialize it with [`ImageSummary::for_api`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageSummary {
    /// Content-addressable ID (`sha256:...`).
    pub id: String,
    /// ID of the parent image (legacy builder only), or empty.
    pub parent_id: String,
    /// Familiar `name:tag` references pointing at this image.
    pub repo_tags: Vec<String>,
    /// Familiar `name@digest` references.
    pub repo_digests: Vec<String>,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// Total size of the image's content, bytes.
    pub size: i64,
    /// Size shared with other images, bytes; `-1` when not computed (no `shared-size`).
    pub shared_size: i64,
    /// Image config labels; `None` marshals as `null`, as dockerd does for images without labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Containers using the image; `-1` when not computed. Reported as `-1` below API 1.51.
    pub containers: i64,
    /// Descriptor of the image target (API ≥ 1.48).
    pub descriptor: Option<Descriptor>,
    /// Per-platform manifests, only when the client asked for `manifests` (API ≥ 1.47).
    pub manifests: Option<Vec<ManifestSummary>>,
}

impl ImageSummary {
    /// The JSON a client of API `version` gets (dockerd 28's `getImagesJSON` rules): `<none>`
    /// placeholders below 1.43, `VirtualSize` below 1.44, no `Descriptor` below 1.48,
    /// `Containers` forced to -1 below 1.51.
    pub fn for_api(&self, version: ApiVersion) -> impl Serialize + '_ {
        let none_placeholders = version < ApiVersion::new(1, 43)
            && self.repo_tags.is_empty()
            && self.repo_digests.is_empty();
        let list = |v: &Vec<String>, placeholder: &'static str| -> Option<Vec<String>> {
            if none_placeholders {
                Some(vec![placeholder.to_owned()])
            } else if v.is_empty() && version < ApiVersion::new(1, 43) {
                None
            } else {
                Some(v.clone())
            }
        };
        SummaryWire {
            containers: if version < ApiVersion::new(1, 51) { -1 } else { self.containers },
            created: self.created,
            id: &self.id,
            labels: self.labels.as_ref(),
            parent_id: &self.parent_id,
            descriptor: if version < ApiVersion::new(1, 48) {
                None
            } else {
                self.descriptor.as_ref()
            },
            manifests: self.manifests.as_deref(),
            repo_digests: list(&self.repo_digests, "<none>@<none>"),
            repo_tags: list(&self.repo_tags, "<none>:<none>"),
            shared_size: self.shared_size,
            size: self.size,
            virtual_size: (version < ApiVersion::new(1, 44) && self.size != 0).then_some(self.size),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SummaryWire<'a> {
    containers: i64,
    created: i64,
    #[serde(rename = "Id")]
    id: &'a str,
    labels: Option<&'a BTreeMap<String, String>>,
    #[serde(rename = "ParentId")]
    parent_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    descriptor: Option<&'a Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifests: Option<&'a [ManifestSummary]>,
    repo_digests: Option<Vec<String>>,
    repo_tags: Option<Vec<String>>,
    shared_size: i64,
    size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    virtual_size: Option<i64>,
}

/// One manifest of a multi-platform image (swagger `ImageManifestSummary`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManifestSummary {
    /// Content-addressable ID of the manifest.
    #[serde(rename = "ID")]
    pub id: String,
    /// The manifest's descriptor.
    #[serde(rename = "Descriptor")]
    pub descriptor: Descriptor,
    /// Whether all of the manifest's content is present locally.
    #[serde(rename = "Available")]
    pub available: bool,
    /// Sizes of the manifest's content.
    #[serde(rename = "Size")]
    pub size: ManifestSize,
    /// `image`, `attestation` or `unknown`.
    #[serde(rename = "Kind")]
    pub kind: String,
    /// Present for `image` manifests.
    #[serde(rename = "ImageData", default, skip_serializing_if = "Option::is_none")]
    pub image_data: Option<ManifestImageData>,
    /// Present for `attestation` manifests.
    #[serde(rename = "AttestationData", default, skip_serializing_if = "Option::is_none")]
    pub attestation_data: Option<ManifestAttestationData>,
}

/// `ManifestSummary.Size`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestSize {
    /// Size of the manifest's content (manifest, config, layers), bytes.
    pub content: i64,
    /// Content plus unpacked snapshots, bytes.
    pub total: i64,
}

/// `ManifestSummary.ImageData`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestImageData {
    /// The platform the manifest is for.
    pub platform: Platform,
    /// Unpacked size.
    pub size: ManifestUnpackedSize,
    /// IDs of containers using this platform's image.
    pub containers: Vec<String>,
}

/// `ManifestImageData.Size`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestUnpackedSize {
    /// Size of the unpacked snapshot, bytes.
    pub unpacked: i64,
}

/// `ManifestSummary.AttestationData`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestAttestationData {
    /// Digest of the manifest this attestation is for.
    pub r#for: String,
}

// ---------------------------------------------------------------------------------------------
// GET /images/{name}/json
// ---------------------------------------------------------------------------------------------

/// `GET /images/{name}/json` (swagger `ImageInspect`), as the backend reports it.
///
/// Serialize it with [`ImageInspect::for_api`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageInspect {
    /// Content-addressable ID (`sha256:...`).
    pub id: String,
    /// Familiar `name:tag` references.
    pub repo_tags: Vec<String>,
    /// Familiar `name@digest` references.
    pub repo_digests: Vec<String>,
    /// Parent image ID (legacy builder only), or empty.
    pub parent: String,
    /// Comment of the last history entry.
    pub comment: String,
    /// Creation time, RFC 3339 with nanoseconds; `None` when the image config has none.
    pub created: Option<String>,
    /// ID of the container the image was committed from (legacy images); API < 1.45 only.
    pub container: String,
    /// The container config of legacy images, verbatim; API < 1.45 only.
    pub container_config: Option<serde_json::Value>,
    /// Docker version that built the image (legacy builder), or empty.
    pub docker_version: String,
    /// Image author.
    pub author: String,
    /// The image's runtime config; `None` when no platform of the image is available.
    pub config: Option<ImageConfig>,
    /// CPU architecture, Go naming (`amd64`).
    pub architecture: String,
    /// CPU variant (`v8`), or empty.
    pub variant: String,
    /// Operating system (`linux`).
    pub os: String,
    /// OS version (Windows), or empty.
    pub os_version: String,
    /// Total size of the image's content, bytes.
    pub size: i64,
    /// Storage driver (snapshotter) data.
    pub graph_driver: GraphDriver,
    /// Layer diff IDs.
    pub root_fs: RootFs,
    /// Local metadata.
    pub metadata: ImageMetadata,
    /// Descriptor of the image target (API ≥ 1.48).
    pub descriptor: Option<Descriptor>,
    /// Per-platform manifests, only when the client asked for `manifests` (API ≥ 1.48).
    pub manifests: Option<Vec<ManifestSummary>>,
}

/// `Config` fields dockerd 28 adds for clients below API 1.50 (always empty values).
const LEGACY_CONFIG_V1_49: &[(&str, LegacyDefault)] = &[
    ("AttachStderr", LegacyDefault::False),
    ("AttachStdin", LegacyDefault::False),
    ("AttachStdout", LegacyDefault::False),
    ("Cmd", LegacyDefault::Null),
    ("Domainname", LegacyDefault::EmptyString),
    ("Entrypoint", LegacyDefault::Null),
    ("Env", LegacyDefault::Null),
    ("Hostname", LegacyDefault::EmptyString),
    ("Image", LegacyDefault::EmptyString),
    ("Labels", LegacyDefault::Null),
    ("OnBuild", LegacyDefault::Null),
    ("OpenStdin", LegacyDefault::False),
    ("StdinOnce", LegacyDefault::False),
    ("Tty", LegacyDefault::False),
    ("User", LegacyDefault::EmptyString),
    ("Volumes", LegacyDefault::Null),
    ("WorkingDir", LegacyDefault::EmptyString),
];

/// `Config` fields dockerd 28 always includes from API 1.50 on (they had no `omitempty`).
const LEGACY_CONFIG_CURRENT: &[(&str, LegacyDefault)] = &[
    ("Cmd", LegacyDefault::Null),
    ("Entrypoint", LegacyDefault::Null),
    ("Env", LegacyDefault::Null),
    ("Labels", LegacyDefault::Null),
    ("OnBuild", LegacyDefault::Null),
    ("User", LegacyDefault::EmptyString),
    ("Volumes", LegacyDefault::Null),
    ("WorkingDir", LegacyDefault::EmptyString),
];

#[derive(Clone, Copy)]
enum LegacyDefault {
    False,
    Null,
    EmptyString,
}

impl LegacyDefault {
    fn value(self) -> serde_json::Value {
        match self {
            LegacyDefault::False => serde_json::Value::Bool(false),
            LegacyDefault::Null => serde_json::Value::Null,
            LegacyDefault::EmptyString => serde_json::Value::String(String::new()),
        }
    }
}

/// Rebuilds every object with its keys in byte order: dockerd 28 passes `Config` through a Go
/// `map[string]any`, whose keys Go marshals sorted, whatever serde_json's map flavour is.
fn sorted_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sorted_keys(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted_keys).collect())
        }
        other => other,
    }
}

impl ImageInspect {
    /// The JSON a client of API `version` gets (dockerd 28's `getImagesByName` rules):
    ///
    /// - `VirtualSize` (= `Size`) and a zero `Created` below 1.44;
    /// - `Container` and `ContainerConfig` only below 1.45;
    /// - `Descriptor` only from 1.48;
    /// - `Config` always last, keys sorted, with the legacy container-config fields filled in
    ///   (the full set below 1.50, the eight that never had `omitempty` from 1.50).
    pub fn for_api(&self, version: ApiVersion) -> impl Serialize + '_ {
        let before_1_44 = version < ApiVersion::new(1, 44);
        let before_1_45 = version < ApiVersion::new(1, 45);
        let legacy = if version < ApiVersion::new(1, 50) {
            LEGACY_CONFIG_V1_49
        } else {
            LEGACY_CONFIG_CURRENT
        };
        let mut config = match self.config.as_ref().map(serde_json::to_value) {
            Some(Ok(serde_json::Value::Object(map))) => map,
            _ => serde_json::Map::new(),
        };
        for (key, default) in legacy {
            if !config.contains_key(*key) {
                config.insert((*key).to_owned(), default.value());
            }
        }
        let created = match &self.created {
            Some(c) if !c.is_empty() => Some(c.as_str()),
            _ if before_1_44 => Some(ZERO_TIME),
            _ => None,
        };
        InspectWire {
            id: &self.id,
            repo_tags: &self.repo_tags,
            repo_digests: &self.repo_digests,
            parent: &self.parent,
            comment: &self.comment,
            created,
            container: if before_1_45 { &self.container } else { "" },
            container_config: if before_1_45 { self.container_config.as_ref() } else { None },
            docker_version: &self.docker_version,
            author: &self.author,
            architecture: &self.architecture,
            variant: &self.variant,
            os: &self.os,
            os_version: &self.os_version,
            size: self.size,
            virtual_size: (before_1_44 && self.size != 0).then_some(self.size),
            graph_driver: &self.graph_driver,
            root_fs: &self.root_fs,
            metadata: &self.metadata,
            descriptor: if version < ApiVersion::new(1, 48) {
                None
            } else {
                self.descriptor.as_ref()
            },
            manifests: self.manifests.as_deref(),
            config: sorted_keys(serde_json::Value::Object(config)),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectWire<'a> {
    #[serde(rename = "Id")]
    id: &'a str,
    repo_tags: &'a [String],
    repo_digests: &'a [String],
    parent: &'a str,
    comment: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    container: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    container_config: Option<&'a serde_json::Value>,
    docker_version: &'a str,
    author: &'a str,
    architecture: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    variant: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    os_version: &'a str,
    size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    virtual_size: Option<i64>,
    graph_driver: &'a GraphDriver,
    #[serde(rename = "RootFS")]
    root_fs: &'a RootFs,
    metadata: &'a ImageMetadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    descriptor: Option<&'a Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifests: Option<&'a [ManifestSummary]>,
    config: serde_json::Value,
}

/// The image's runtime configuration (`config` of the image config blob; Docker's
/// `DockerOCIImageConfig`). Every field is omitted when empty, as in the image spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    /// User (and group) processes run as.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Exposed ports, `80/tcp` style, as a set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Empty>,
    /// Environment, `KEY=value`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    /// Default command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    /// Volumes, as a set of paths.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Empty>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Signal that stops the container.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    /// Windows only: the command line is already escaped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub args_escaped: bool,
    /// Health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// `ONBUILD` triggers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_build: Vec<String>,
    /// Shell for shell-form instructions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shell: Vec<String>,
}

/// `Config.Healthcheck`. Durations are nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", cmd]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Time before a check is considered hung.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Start-up grace period.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// Time between checks during the start period.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Consecutive failures before unhealthy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// `ImageInspect.GraphDriver`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    /// Driver-specific data; `None` marshals as `null` (containerd snapshotters have none).
    pub data: Option<BTreeMap<String, String>>,
    /// Driver (snapshotter) name.
    pub name: String,
}

/// `ImageInspect.RootFS`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    /// `layers`.
    #[serde(rename = "Type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Layer diff IDs, bottom first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
}

/// `ImageInspect.Metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageMetadata {
    /// When the image was last tagged, RFC 3339 with nanoseconds ([`ZERO_TIME`] if never).
    pub last_tag_time: String,
}

impl Default for ImageMetadata {
    fn default() -> Self {
        Self { last_tag_time: ZERO_TIME.to_owned() }
    }
}

// ---------------------------------------------------------------------------------------------
// History, delete, prune
// ---------------------------------------------------------------------------------------------

/// One entry of `GET /images/{name}/history`, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// History comment.
    #[serde(rename = "Comment")]
    pub comment: String,
    /// Unix seconds.
    #[serde(rename = "Created")]
    pub created: i64,
    /// The instruction that created the layer.
    #[serde(rename = "CreatedBy")]
    pub created_by: String,
    /// Image ID for the top entry of a local image, else `<missing>`.
    #[serde(rename = "Id")]
    pub id: String,
    /// Layer size, bytes.
    #[serde(rename = "Size")]
    pub size: i64,
    /// References of the image at this entry; `None` marshals as `null` (non-top entries).
    #[serde(rename = "Tags")]
    pub tags: Option<Vec<String>>,
}

/// One item of `DELETE /images/{name}` and of a prune report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageDeleteItem {
    /// A reference was removed: `{"Untagged":"busybox:latest"}`.
    Untagged(String),
    /// An image (or its content) was deleted: `{"Deleted":"sha256:..."}`.
    Deleted(String),
}

/// `POST /images/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImagePruneReport {
    /// What was untagged and deleted; empty marshals as `null`, as dockerd does.
    #[serde(serialize_with = "empty_as_null", default)]
    pub images_deleted: Vec<ImageDeleteItem>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

// ---------------------------------------------------------------------------------------------
// Progress streams: create (pull, import), push, load
// ---------------------------------------------------------------------------------------------

/// One line of a JSON progress stream (Docker's `jsonmessage.JSONMessage`), as written by
/// `POST /images/create`, `/images/{name}/push` and `/images/load`. Empty fields are omitted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgressMessage {
    /// Free text (`Loaded image: busybox:latest\n`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stream: String,
    /// Status line (`Pulling fs layer`, `Download complete`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Structured progress; `Some(default)` marshals as `{}`, as dockerd sends on status lines.
    #[serde(rename = "progressDetail", default, skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    /// Pre-rendered progress bar (deprecated, still sent by dockerd 28).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub progress: String,
    /// What the line is about: a layer's short ID, a tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The failure that ended the stream.
    #[serde(rename = "errorDetail", default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    /// The failure's message again (deprecated field, still sent by dockerd 28).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// Out-of-band data (the pushed digest: `{"Tag":..,"Digest":..,"Size":..}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl ProgressMessage {
    /// `{"status": status}`, with an `id` when not empty.
    pub fn status(id: impl Into<String>, status: impl Into<String>) -> Self {
        Self { id: id.into(), status: status.into(), ..Self::default() }
    }

    /// `{"stream": text}`.
    pub fn stream(text: impl Into<String>) -> Self {
        Self { stream: text.into(), ..Self::default() }
    }

    /// dockerd's in-band failure line: `{"errorDetail":{"message":m},"error":m}`.
    pub fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            error_detail: Some(ErrorDetail { code: 0, message: message.clone() }),
            error: message,
            ..Self::default()
        }
    }
}

/// `progressDetail` of a [`ProgressMessage`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressDetail {
    /// Units done.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: i64,
    /// Units in all.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total: i64,
    /// Start value.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start: i64,
    /// Hide the `x/y` counter.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidecounts: bool,
    /// Unit name; bytes when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub units: String,
}

/// `errorDetail` of a [`ProgressMessage`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A registry error code, when there is one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub code: i64,
    /// The error text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

// ---------------------------------------------------------------------------------------------
// GET /distribution/{name}/json
// ---------------------------------------------------------------------------------------------

/// `GET /distribution/{name}/json`: what the registry says about a reference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DistributionInspect {
    /// The manifest (or index) descriptor.
    #[serde(rename = "Descriptor")]
    pub descriptor: Descriptor,
    /// Platforms the manifest covers; empty marshals as `null`, as dockerd does.
    #[serde(rename = "Platforms", serialize_with = "empty_as_null", default)]
    pub platforms: Vec<Platform>,
}

// ---------------------------------------------------------------------------------------------
// Registry credentials
// ---------------------------------------------------------------------------------------------

/// Registry credentials from an `X-Registry-Auth` header (or a `POST /auth` body).
///
/// `Debug` shows who, never the secrets; do not log it any other way.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    /// User name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// Password.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// base64 of `username:password`, an alternative to the two fields.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    /// Registry the credentials are for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    /// OAuth refresh token from a previous login.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    /// Bearer token sent to the registry as is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &secret(&self.password))
            .field("auth", &secret(&self.auth))
            .field("serveraddress", &self.serveraddress)
            .field("identitytoken", &secret(&self.identitytoken))
            .field("registrytoken", &secret(&self.registrytoken))
            .finish()
    }
}

impl AuthConfig {
    /// True when no credential is set (anonymous access).
    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.auth.is_empty()
            && self.identitytoken.is_empty()
            && self.registrytoken.is_empty()
    }

    /// Decodes the JSON of a credential object as Go's `encoding/json` does: the first JSON value
    /// only (trailing bytes ignored), keys matched case-insensitively, unknown keys and `null`
    /// values ignored; anything but a string for a known key is an error.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let mut values =
            serde_json::Deserializer::from_slice(bytes).into_iter::<serde_json::Value>();
        let value = match values.next() {
            Some(Ok(value)) => value,
            Some(Err(err)) => return Err(err.to_string()),
            None => return Err("EOF".to_owned()),
        };
        let serde_json::Value::Object(map) = value else {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type registry.AuthConfig",
                json_kind(&value)
            ));
        };
        let mut auth = AuthConfig::default();
        for (key, value) in map {
            let slot = match key.to_ascii_lowercase().as_str() {
                "username" => &mut auth.username,
                "password" => &mut auth.password,
                "auth" => &mut auth.auth,
                "serveraddress" => &mut auth.serveraddress,
                "identitytoken" => &mut auth.identitytoken,
                "registrytoken" => &mut auth.registrytoken,
                _ => continue,
            };
            match value {
                serde_json::Value::String(s) => *slot = s,
                serde_json::Value::Null => {}
                other => {
                    return Err(format!(
                        "json: cannot unmarshal {} into Go struct field AuthConfig.{key} of type string",
                        json_kind(&other)
                    ));
                }
            }
        }
        Ok(auth)
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests;

//! What list, inspect and history answer, computed from the store's entries.

use std::collections::BTreeMap;

use berth_api::image::{
    Descriptor as ApiDescriptor, GraphDriver, HistoryItem, ImageConfig, ImageInspect,
    ImageMetadata, ImageSummary, RootFs, ZERO_TIME,
};
use containerd_client::types::Descriptor;
use serde_json::Value;

use super::{DANGLING_PREFIX, Entry, LABEL_SIZE, LABEL_TAG_TIME, familiar};
use crate::unpack::SNAPSHOTTER;

/// Familiar `name:tag` references of an entry, sorted.
pub(crate) fn repo_tags(entry: &Entry) -> Vec<String> {
    let mut tags: Vec<String> = entry.names().filter(|n| !n.contains('@')).map(familiar).collect();
    tags.sort();
    tags
}

/// Familiar `name@digest` references of an entry, sorted.
pub(crate) fn repo_digests(entry: &Entry) -> Vec<String> {
    let mut digests: Vec<String> = entry
        .names()
        .filter_map(|n| n.split_once('@'))
        .map(|(repo, digest)| format!("{}@{digest}", familiar(repo)))
        .collect();
    digests.sort();
    digests.dedup();
    digests
}

/// Bytes the image takes: recorded at unpack, else the sum of its layer blobs.
pub(crate) fn size(entry: &Entry) -> i64 {
    entry
        .label(LABEL_SIZE)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| entry.image.layers.iter().map(|l| l.size).sum())
}

/// Unix seconds of an RFC 3339 time, 0 when absent or unparsable.
pub(crate) fn unix_seconds(text: Option<&str>) -> i64 {
    text.and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    })
    .map_or(0, |t| t.unix_timestamp())
}

fn api_descriptor(d: &Descriptor) -> ApiDescriptor {
    ApiDescriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        ..ApiDescriptor::default()
    }
}

fn labels(config: &Value) -> Option<BTreeMap<String, String>> {
    let map = config["config"]["Labels"].as_object()?;
    Some(map.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
}

/// `GET /images/json` for one image.
pub(crate) fn summary(entry: &Entry) -> ImageSummary {
    let config = &entry.image.config;
    ImageSummary {
        id: entry.image.id.clone(),
        parent_id: String::new(),
        repo_tags: repo_tags(entry),
        repo_digests: repo_digests(entry),
        created: unix_seconds(config["created"].as_str()),
        size: size(entry),
        shared_size: -1,
        labels: labels(config),
        containers: -1,
        descriptor: Some(api_descriptor(&entry.image.target)),
        manifests: None,
    }
}

/// The image's runtime config, tolerant of `null` fields (registries write them).
fn image_config(config: &Value) -> Option<ImageConfig> {
    let section = config.get("config")?.as_object()?;
    let cleaned: serde_json::Map<String, Value> =
        section.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
    match serde_json::from_value(Value::Object(cleaned)) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "image config section does not parse; reporting none");
            None
        }
    }
}

/// `GET /images/{name}/json`.
pub(crate) fn inspect(entry: &Entry) -> ImageInspect {
    let config = &entry.image.config;
    let text = |key: &str| config[key].as_str().unwrap_or_default().to_owned();
    ImageInspect {
        id: entry.image.id.clone(),
        repo_tags: repo_tags(entry),
        repo_digests: repo_digests(entry),
        parent: String::new(),
        comment: text("comment"),
        created: config["created"].as_str().map(str::to_owned),
        container: String::new(),
        container_config: None,
        docker_version: text("docker_version"),
        author: text("author"),
        config: image_config(config).or(Some(ImageConfig::default())),
        architecture: text("architecture"),
        variant: text("variant"),
        os: text("os"),
        os_version: text("os.version"),
        size: size(entry),
        graph_driver: GraphDriver { data: None, name: SNAPSHOTTER.to_owned() },
        root_fs: RootFs { kind: "layers".to_owned(), layers: entry.image.diff_ids() },
        metadata: ImageMetadata {
            last_tag_time: entry
                .records
                .iter()
                .filter(|r| !r.name.starts_with(DANGLING_PREFIX))
                .filter_map(|r| r.labels.get(LABEL_TAG_TIME))
                .max()
                .cloned()
                .unwrap_or_else(|| ZERO_TIME.to_owned()),
        },
        descriptor: Some(api_descriptor(&entry.image.target)),
        manifests: None,
    }
}

/// `GET /images/{name}/history`: newest first; each layer-creating entry gets its layer's size.
pub(crate) fn history(entry: &Entry) -> Vec<HistoryItem> {
    let config = &entry.image.config;
    let entries = config["history"].as_array().cloned().unwrap_or_default();
    let mut layer_sizes = entry.image.layers.iter().map(|l| l.size);
    let mut items: Vec<HistoryItem> = entries
        .iter()
        .map(|h| {
            let empty = h["empty_layer"].as_bool().unwrap_or(false);
            HistoryItem {
                comment: h["comment"].as_str().unwrap_or_default().to_owned(),
                created: unix_seconds(h["created"].as_str()),
                created_by: h["created_by"].as_str().unwrap_or_default().to_owned(),
                id: "<missing>".to_owned(),
                size: if empty { 0 } else { layer_sizes.next().unwrap_or(0) },
                tags: None,
            }
        })
        .collect();
    items.reverse();
    if let Some(top) = items.first_mut() {
        top.id = entry.image.id.clone();
        top.tags = Some(repo_tags(entry));
    }
    items
}

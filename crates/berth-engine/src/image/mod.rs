//! Berth's image store on containerd: image records name a manifest; the manifest names the
//! config (whose digest is the image ID, as in dockerd) and the layers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use berth_api::Error;
use berth_api::image::Reference;
use containerd_client::services::v1::{
    CreateImageRequest, DeleteImageRequest, GetImageRequest, Image as Record, ListImagesRequest,
    UpdateImageRequest,
};
use containerd_client::types::Descriptor;
use serde_json::Value;

use crate::containerd::{Containerd, status_error};
use crate::content;

pub(crate) mod archive;
mod backend;
#[cfg(test)]
mod backend_tests;
pub(crate) mod changes;
pub(crate) mod commit;
pub(crate) mod import;
pub(crate) mod ops;
mod registry;
#[cfg(test)]
mod store_tests;
pub(crate) mod views;

/// Name prefix of records that keep an untagged image alive (dockerd's `<none>:<none>`).
pub(crate) const DANGLING_PREFIX: &str = "berth-dangling@";
/// Image record label: when the record's name was last set (`Metadata.LastTagTime`).
pub(crate) const LABEL_TAG_TIME: &str = "io.berth.last-tag-time";
/// Image record label: bytes the image's layers take unpacked (`Size`).
pub(crate) const LABEL_SIZE: &str = "io.berth.size";

pub(crate) const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const MEDIA_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const MEDIA_OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// An image as Berth sees it: everything needed to answer list, inspect and history.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// Config digest: the image ID.
    pub(crate) id: String,
    /// Digest of the manifest the records point at (or of the index, for multi-platform).
    pub(crate) target: Descriptor,
    /// The image config JSON.
    pub(crate) config: Value,
    /// Layer blobs, bottom first.
    pub(crate) layers: Vec<Descriptor>,
}

impl Resolved {
    /// `rootfs.diff_ids` from the config.
    pub(crate) fn diff_ids(&self) -> Vec<String> {
        self.config["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// One image with every record that names it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) image: Arc<Resolved>,
    pub(crate) records: Vec<Record>,
}

impl Entry {
    /// The names of the records that are tags (not dangling keepers).
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.records.iter().map(|r| r.name.as_str()).filter(|n| !n.starts_with(DANGLING_PREFIX))
    }

    /// A label from whichever record has it.
    pub(crate) fn label(&self, key: &str) -> Option<&str> {
        self.records.iter().find_map(|r| r.labels.get(key).map(String::as_str))
    }
}

/// Docker's short form of a normalized name: `docker.io/library/busybox:latest` → `busybox:latest`.
pub(crate) fn familiar(name: &str) -> String {
    let short = name.strip_prefix("docker.io/").unwrap_or(name);
    let short = match short.strip_prefix("library/") {
        Some(rest) if !rest.contains('/') => rest,
        _ => short,
    };
    short.to_owned()
}

/// Parses and normalizes a reference the way dockerd does (`busybox` →
/// `docker.io/library/busybox:latest`).
pub(crate) fn parse_reference(name: &str) -> Result<Reference, Error> {
    Reference::parse_normalized(name)
        .map(Reference::with_default_tag)
        .map_err(|e| Error::invalid(e.to_string()))
}

/// The image store. Cloning is cheap and clones share the caches, so background tasks (pull,
/// push, load) take their own handle.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    conn: Containerd,
    cache: Arc<Mutex<HashMap<String, Arc<Resolved>>>>,
    /// containerd's image records, kept between requests: `/info`, `/images/json` and every
    /// container create read them, and containerd's list costs a gRPC round trip plus its own
    /// CPU each time (the bench's profile of `/info`). Every write of a record goes through
    /// this store and drops the copy, so it is never older than the store's own changes.
    records: Arc<Mutex<RecordCache>>,
    /// Registries reached over plain HTTP (`host[:port]` or CIDR) besides `127.0.0.0/8`.
    pub(crate) insecure_registries: Vec<String>,
}

/// The last list of image records, and how many times the records changed: a list fetched
/// while a write was under way is not kept.
#[derive(Debug, Default)]
struct RecordCache {
    generation: u64,
    records: Option<Arc<Vec<Record>>>,
}

impl Store {
    pub(crate) fn new(conn: Containerd, insecure_registries: Vec<String>) -> Self {
        Self {
            conn,
            cache: Arc::new(Mutex::new(HashMap::new())),
            records: Arc::default(),
            insecure_registries,
        }
    }

    pub(crate) fn conn(&self) -> &Containerd {
        &self.conn
    }

    /// containerd's image records: the kept copy, or a fresh list (kept unless a write
    /// happened meanwhile).
    async fn records(&self) -> Result<Arc<Vec<Record>>, Error> {
        let generation = {
            let cache = self.records.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(records) = &cache.records {
                return Ok(Arc::clone(records));
            }
            cache.generation
        };
        let records = self
            .conn
            .images()
            .list(ListImagesRequest { filters: Vec::new() })
            .await
            .map_err(|s| status_error("list images", s))?
            .into_inner()
            .images;
        let records = Arc::new(records);
        let mut cache = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if cache.generation == generation {
            cache.records = Some(Arc::clone(&records));
        }
        Ok(records)
    }

    /// Drops the kept records: called after every create, update or delete of a record,
    /// whether it succeeded or not (a failed call may still have changed containerd), and after
    /// containerd was restarted.
    pub(crate) fn records_changed(&self) {
        let mut cache = self.records.lock().unwrap_or_else(|p| p.into_inner());
        cache.generation += 1;
        cache.records = None;
    }

    /// Every image, each with the records naming it, newest record order kept stable.
    pub(crate) async fn entries(&self) -> Result<Vec<Entry>, Error> {
        let records = self.records().await?;
        let mut by_id: BTreeMap<String, Entry> = BTreeMap::new();
        for record in records.iter().cloned() {
            let Some(target) = record.target.clone() else {
                continue;
            };
            let image = match self.resolve(&target).await {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!(name = %record.name, error = %e, "skipping unreadable image");
                    continue;
                }
            };
            by_id
                .entry(image.id.clone())
                .or_insert_with(|| Entry { image: Arc::clone(&image), records: Vec::new() })
                .records
                .push(record);
        }
        Ok(by_id.into_values().collect())
    }

    /// Finds an image by name (`busybox`, `busybox:1`, `repo@sha256:…`), full ID or ID prefix,
    /// with dockerd's `No such image: <name>` when nothing matches.
    pub(crate) async fn find(&self, name: &str) -> Result<Entry, Error> {
        // dockerd 28 names a reference with its default tag: `No such image: nosuch:latest`.
        let shown = match parse_reference(name) {
            Ok(r) if !name.starts_with("sha256:") => r.familiar(),
            _ => name.to_owned(),
        };
        let not_found = || Error::not_found(format!("No such image: {shown}"));
        let entries = self.entries().await?;
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        let is_hex = !hex.is_empty()
            && hex.len() <= 64
            && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if let Ok(reference) = parse_reference(name) {
            let whole = reference.to_string();
            if let Some(e) = entries.iter().find(|e| e.records.iter().any(|r| r.name == whole)) {
                return Ok(e.clone());
            }
        }
        if is_hex {
            let matches: Vec<&Entry> = entries
                .iter()
                .filter(|e| e.image.id.trim_start_matches("sha256:").starts_with(hex))
                .collect();
            match matches.as_slice() {
                [one] => return Ok((*one).clone()),
                [] => {}
                _ => {
                    return Err(Error::invalid(format!(
                        "multiple IDs found with provided prefix: {name}"
                    )));
                }
            }
        }
        Err(not_found())
    }

    /// Reads the manifest (choosing linux/amd64-like platform from an index) and config.
    pub(crate) async fn resolve(&self, target: &Descriptor) -> Result<Arc<Resolved>, Error> {
        if let Some(hit) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&target.digest)
        {
            return Ok(Arc::clone(hit));
        }
        let mut manifest_desc = target.clone();
        if matches!(target.media_type.as_str(), MEDIA_OCI_INDEX | MEDIA_DOCKER_LIST) {
            let index: Value = json_blob(&self.conn, &target.digest).await?;
            manifest_desc = pick_platform(&index).ok_or_else(|| {
                Error::not_found("no matching manifest for linux in the manifest list entries")
            })?;
        }
        let manifest: Value = json_blob(&self.conn, &manifest_desc.digest).await?;
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .ok_or_else(|| {
                Error::system(format!("manifest {} has no config", manifest_desc.digest))
            })?
            .to_owned();
        let config: Value = json_blob(&self.conn, &config_digest).await?;
        let layers = manifest["layers"]
            .as_array()
            .map(|ls| ls.iter().filter_map(descriptor_of).collect())
            .unwrap_or_default();
        let resolved =
            Arc::new(Resolved { id: config_digest, target: target.clone(), config, layers });
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(target.digest.clone(), Arc::clone(&resolved));
        Ok(resolved)
    }

    /// Points `name` at `target`. If that takes the name from another image that has no other
    /// name left, the other image is kept as dangling (dockerd's `<none>:<none>`).
    pub(crate) async fn set_name(
        &self,
        name: &str,
        target: Descriptor,
        mut labels: HashMap<String, String>,
    ) -> Result<(), Error> {
        let now = rfc3339_now()?;
        labels.insert(LABEL_TAG_TIME.to_owned(), now);
        let previous = match self.conn.images().get(GetImageRequest { name: name.to_owned() }).await
        {
            Ok(r) => r.into_inner().image,
            Err(s) if s.code() == tonic::Code::NotFound => None,
            Err(s) => return Err(status_error("get image", s)),
        };
        let record = Record {
            name: name.to_owned(),
            labels,
            target: Some(target.clone()),
            ..Default::default()
        };
        match &previous {
            None => {
                let created = self
                    .conn
                    .images()
                    .create(CreateImageRequest { image: Some(record), ..Default::default() })
                    .await;
                self.records_changed();
                created.map_err(|s| status_error("create image", s))?;
            }
            Some(old) => {
                let updated = self
                    .conn
                    .images()
                    .update(UpdateImageRequest { image: Some(record), ..Default::default() })
                    .await;
                self.records_changed();
                updated.map_err(|s| status_error("update image", s))?;
                if let Some(old_target) = &old.target
                    && old_target.digest != target.digest
                {
                    self.keep_if_unnamed(old_target, &old.labels).await?;
                }
            }
        }
        // A dangling keeper for this image is no longer needed now that it has a name.
        if !name.starts_with(DANGLING_PREFIX) {
            let image = self.resolve(&target).await?;
            let keeper = format!("{DANGLING_PREFIX}{}", image.id);
            self.delete_record(&keeper).await?;
        }
        Ok(())
    }

    /// Gives `target` a dangling keeper record when no record names it any more.
    pub(crate) async fn keep_if_unnamed(
        &self,
        target: &Descriptor,
        labels: &HashMap<String, String>,
    ) -> Result<(), Error> {
        let image = self.resolve(target).await?;
        let still_named = self.entries().await?.iter().any(|e| e.image.id == image.id);
        if !still_named {
            let keeper = Record {
                name: format!("{DANGLING_PREFIX}{}", image.id),
                labels: labels.clone(),
                target: Some(target.clone()),
                ..Default::default()
            };
            let created = self
                .conn
                .images()
                .create(CreateImageRequest { image: Some(keeper), ..Default::default() })
                .await;
            self.records_changed();
            created.map_err(|s| status_error("create image", s))?;
        }
        Ok(())
    }

    /// Deletes a record; a missing one is fine.
    pub(crate) async fn delete_record(&self, name: &str) -> Result<(), Error> {
        let deleted = self
            .conn
            .images()
            .delete(DeleteImageRequest { name: name.to_owned(), sync: false, ..Default::default() })
            .await;
        self.records_changed();
        match deleted {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(status_error("delete image", s)),
        }
    }
}

async fn json_blob(conn: &Containerd, digest: &str) -> Result<Value, Error> {
    let bytes = content::read_all(conn, digest).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::system(format!("blob {digest} is not valid JSON")).with_source(e))
}

fn descriptor_of(v: &Value) -> Option<Descriptor> {
    Some(Descriptor {
        media_type: v["mediaType"].as_str().unwrap_or_default().to_owned(),
        digest: v["digest"].as_str()?.to_owned(),
        size: v["size"].as_i64().unwrap_or(0),
        annotations: HashMap::new(),
    })
}

/// The manifest of an index for this host's platform (linux and Go's name of our architecture).
fn pick_platform(index: &Value) -> Option<Descriptor> {
    let arch = crate::go_arch();
    index["manifests"].as_array()?.iter().find_map(|m| {
        let p = &m["platform"];
        (p["os"] == "linux" && p["architecture"] == arch).then(|| descriptor_of(m)).flatten()
    })
}

pub(crate) fn rfc3339_now() -> Result<String, Error> {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::system("cannot format the time").with_source(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn familiar_names_drop_docker_hub_prefixes() {
        assert_eq!(familiar("docker.io/library/busybox:latest"), "busybox:latest");
        assert_eq!(familiar("docker.io/team/app:1"), "team/app:1");
        assert_eq!(familiar("localhost:5000/app:1"), "localhost:5000/app:1");
        assert_eq!(familiar("docker.io/library/a/b:1"), "library/a/b:1");
    }

    #[test]
    fn references_normalize_like_dockerd() {
        let r = parse_reference("busybox").expect("valid");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        let r = parse_reference("localhost:5000/team/app:1").expect("valid");
        assert_eq!(r.to_string(), "localhost:5000/team/app:1");
        assert!(parse_reference("").is_err());
        assert!(parse_reference("UPPER").is_err());
    }
}

//! JSON shapes of the volume API (`/volumes/...`) and of the volume part of `GET /system/df`.
//!
//! Field names and orders follow the Go structs dockerd 28 marshals (`api/types/volume`): a Go
//! map or pointer is an `Option` here (`None` marshals as `null`, as Go's nil does), `omitempty`
//! is a `skip_serializing_if`, maps are `BTreeMap` (Go sorts map keys). Request bodies are read
//! like Go's `encoding/json` reads them: unknown fields ignored, `null` leaves the zero value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Filters};

/// The one volume driver Berth has.
pub const LOCAL_DRIVER: &str = "local";

/// The label dockerd puts on volumes it created without a name (value empty): `docker volume
/// prune` removes only those from API 1.42 on, unless `all=true`.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// Size and users of a volume, in `GET /system/df` (Go `volume.UsageData`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UsageData {
    /// Containers referencing the volume.
    pub ref_count: i64,
    /// Bytes used, or -1 when not computed (volumes with mount options).
    pub size: i64,
}

/// One volume (Go `volume.Volume`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    /// Creation time, RFC 3339 with seconds; omitted when unknown.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    /// Driver name (`local`).
    pub driver: String,
    /// Labels; `None` (null) when the volume was created without any.
    pub labels: Option<BTreeMap<String, String>>,
    /// Where the volume's data is on the host (`<data-root>/volumes/<name>/_data`).
    pub mountpoint: String,
    /// Name.
    pub name: String,
    /// Driver options; `None` (null) when created without any.
    pub options: Option<BTreeMap<String, String>>,
    /// `local` (the driver's scope).
    pub scope: String,
    /// Driver status (inspect only); omitted when the driver reports none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, serde_json::Value>>,
    /// Usage, `GET /system/df` only; omitted elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<UsageData>,
}

/// The body of `POST /volumes/create` (Go `volume.CreateRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCreateOptions {
    /// Name; empty for a generated one (64 hex digits, marked anonymous).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Driver; empty means `local`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// Driver options (`type`, `device`, `o` for `local`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// Labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Swarm cluster volume spec: read and ignored (Berth is never a swarm manager, and
    /// dockerd outside a swarm also creates a local volume then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_volume_spec: Option<serde_json::Value>,
}

/// `GET /volumes` (Go `volume.ListResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeListResponse {
    /// The volumes; `[]` when there are none.
    pub volumes: Vec<Volume>,
    /// Driver warnings; `None` (null) when there are none.
    pub warnings: Option<Vec<String>>,
}

/// `POST /volumes/prune` (Go `volume.PruneReport`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumePruneReport {
    /// Names of the removed volumes; `[]` when none.
    pub volumes_deleted: Vec<String>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

/// The `all` filter of `POST /volumes/prune`: whether named volumes go too (false when unset).
/// At most one value, read as Go's `strconv.ParseBool`; errors with dockerd's wording.
pub fn prune_all(filters: &Filters) -> Result<bool, Error> {
    let values: Vec<&str> = filters.get("all").collect();
    match values.as_slice() {
        [] => Ok(false),
        [one] => crate::params::parse_go_bool(one).ok_or_else(|| {
            Error::invalid(format!(
                "invalid filter 'all': strconv.ParseBool: parsing {one:?}: invalid syntax"
            ))
        }),
        many => Err(Error::invalid(format!(
            "invalid filter 'all=[{}]': only one value is expected",
            many.join(" ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_marshal_as_dockerd() {
        let v = Volume {
            created_at: "2024-01-02T03:04:05Z".into(),
            driver: LOCAL_DRIVER.into(),
            mountpoint: "/var/lib/berth/volumes/data/_data".into(),
            name: "data".into(),
            scope: "local".into(),
            ..Volume::default()
        };
        assert_eq!(
            serde_json::to_string(&v).expect("json"),
            r#"{"CreatedAt":"2024-01-02T03:04:05Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/berth/volumes/data/_data","Name":"data","Options":null,"Scope":"local"}"#
        );
        let with_usage = Volume {
            usage_data: Some(UsageData { ref_count: 1, size: -1 }),
            labels: Some(BTreeMap::new()),
            ..v
        };
        let json = serde_json::to_string(&with_usage).expect("json");
        assert!(
            json.contains(r#""Labels":{}"#)
                && json.ends_with(r#""UsageData":{"RefCount":1,"Size":-1}}"#),
            "{json}"
        );
        let list = VolumeListResponse::default();
        assert_eq!(
            serde_json::to_string(&list).expect("json"),
            r#"{"Volumes":[],"Warnings":null}"#
        );
        let prune = VolumePruneReport::default();
        assert_eq!(
            serde_json::to_string(&prune).expect("json"),
            r#"{"VolumesDeleted":[],"SpaceReclaimed":0}"#
        );
    }

    #[test]
    fn prune_all_reads_one_go_bool() {
        let all = |json: &str| prune_all(&Filters::parse(json).expect("filters"));
        assert!(!all("").expect("unset"));
        assert!(all(r#"{"all":["True"]}"#).expect("true"));
        assert!(!all(r#"{"all":["0"]}"#).expect("false"));
        assert_eq!(
            all(r#"{"all":["maybe"]}"#).expect_err("bad").message(),
            r#"invalid filter 'all': strconv.ParseBool: parsing "maybe": invalid syntax"#
        );
        assert_eq!(
            all(r#"{"all":["true","false"]}"#).expect_err("two").message(),
            "invalid filter 'all=[false true]': only one value is expected"
        );
    }

    #[test]
    fn create_requests_read_like_go() {
        let body: VolumeCreateOptions = serde_json::from_str(
            r#"{"Name":"v","Driver":"local","DriverOpts":{"type":"tmpfs"},"Labels":{"a":"b"},"Extra":1,"ClusterVolumeSpec":{"Group":"g"}}"#,
        )
        .expect("parse");
        assert_eq!(body.name, "v");
        assert_eq!(
            body.driver_opts.as_ref().and_then(|o| o.get("type")).map(String::as_str),
            Some("tmpfs")
        );
        assert!(body.cluster_volume_spec.is_some());
        let empty: VolumeCreateOptions = serde_json::from_str("{}").expect("empty");
        assert_eq!(empty, VolumeCreateOptions::default());
    }
}

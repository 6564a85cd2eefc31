//! JSON shapes of the container and exec APIs (`/containers/...`, `/exec/...`, `/commit`).
//!
//! Field names and orders follow the Go structs dockerd 28 marshals (`api/types/container`,
//! `api/types/network`, `api/types/mount`), so the bytes on the wire match: a Go slice, map or
//! pointer is an `Option` here (`None` marshals as `null`, as Go's nil does), `omitempty` is a
//! `skip_serializing_if`, maps are `BTreeMap` (Go sorts map keys).
//!
//! Input is read the way Go's `encoding/json` reads it: unknown fields are ignored and `null`
//! means "leave the zero value" for every field, scalars included (decode request bodies with
//! [`decode_body`], which drops `null` members before deserializing). Output is exact.
//!
//! Types whose shape depends on the requested API version ([`ContainerSummary`],
//! [`ContainerInspect`]) are shaped by `value.for_api(version)`; routers serialize only that.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::Error;

mod config;
mod ops;
mod views;

pub use config::*;
pub use ops::*;
pub use views::*;

pub use crate::image::{Descriptor, Empty, HealthConfig};

/// Decodes a request body value as Go's `encoding/json` would into a struct: keys match field
/// names exactly or, failing that, in any case; `null` members (at any depth, inside objects)
/// leave the field at its zero value; unknown members are ignored ([`crate::go_json`]).
pub fn decode_body<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Error> {
    crate::go_json::from_value(value).map_err(|err| Error::invalid(format!("{err}")))
}

/// Go's `strslice.StrSlice`: accepts `null`, a string (one element) or an array of strings.
fn str_slice<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(vec![s]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

/// `omitempty` on a Go slice: skip when nil or empty.
fn no_items<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

/// `omitempty` on a Go map: skip when nil or empty.
fn no_entries<K, V>(v: &Option<BTreeMap<K, V>>) -> bool {
    v.as_ref().is_none_or(BTreeMap::is_empty)
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

#[cfg(test)]
mod tests;

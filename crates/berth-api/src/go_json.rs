//! Request bodies decoded as Go's `encoding/json` decodes them into dockerd's structs.
//!
//! Go matches an object's keys to a struct's fields preferring an exact match but also
//! accepting one that differs only in case (`{"image": "busybox"}` sets `Image`), ignores keys
//! it has no field for, and treats `null` as "leave the zero value". serde matches names exactly,
//! so [`GoValue`] sits between a parsed [`Value`] and the types: each object decoded into a struct
//! has its keys renamed to the struct's field names first, at every depth, and `null` members
//! are dropped. Objects decoded into maps (labels, options) keep their keys as sent.
//!
//! serde gives the field names of a struct to the deserializer, except for a struct with a
//! `#[serde(flatten)]` field (it reads those as a map). The three such types of the API decode
//! through [`flattened`] instead, which is told their own field names and those of the struct
//! they inline.

use std::cell::Cell;

use serde::Deserialize;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};
use serde_json::{Map, Value};

/// Decodes `value` into `T` with Go's rules (see the module documentation).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    T::deserialize(GoValue(value))
}

/// The field names of a struct `T` without flattened fields, as its `Deserialize` gives them
/// to a deserializer (aliases included).
pub fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    thread_local! {
        static SEEN: Cell<&'static [&'static str]> = const { Cell::new(&[]) };
    }
    struct Probe;
    impl<'de> Deserializer<'de> for Probe {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            SEEN.with(|seen| seen.set(fields));
            Err(de::Error::custom("probed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    SEEN.with(|seen| seen.set(&[]));
    let _ = T::deserialize(Probe);
    SEEN.with(Cell::get)
}

/// The body of a `Deserialize` for a struct with a flattened field: `deserializer`'s object
/// with its keys renamed to `own` and `inlined` names (Go's matching), decoded by `derived` (the
/// struct's own derived decoder, which fills the fields named in `own`) and by `inline` (the
/// flattened struct, from the members named in `inlined`).
pub fn flattened<'de, D, T, I>(
    deserializer: D,
    own: &[&str],
    inlined: &[&str],
    derived: impl FnOnce(GoValue) -> Result<T, serde_json::Error>,
    inline: impl FnOnce(&mut T, I),
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    I: DeserializeOwned,
{
    let object = Map::<String, Value>::deserialize(deserializer)?;
    let (mut mine, mut theirs) = (Map::new(), Map::new());
    for (key, value) in object {
        if value.is_null() {
            continue;
        }
        if let Some(name) = field_name(&key, inlined).filter(|n| field_name(n, own).is_none()) {
            theirs.insert(name.to_owned(), value);
        } else {
            mine.insert(field_name(&key, own).unwrap_or(&key).to_owned(), value);
        }
    }
    let mut out = derived(GoValue(Value::Object(mine))).map_err(de::Error::custom)?;
    let part = I::deserialize(GoValue(Value::Object(theirs))).map_err(de::Error::custom)?;
    inline(&mut out, part);
    Ok(out)
}

/// The field `key` names: the exact one, else the first that differs only in ASCII case.
fn field_name<'a>(key: &str, fields: &[&'a str]) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| **f == key)
        .or_else(|| fields.iter().find(|f| f.eq_ignore_ascii_case(key)))
        .copied()
}

/// A JSON value decoded with Go's rules.
#[derive(Debug)]
pub struct GoValue(pub Value);

impl<'de> Deserializer<'de> for GoValue {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(GoMap::new(map, None)),
            Value::Array(items) => visitor.visit_seq(GoSeq(items.into_iter())),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(GoMap::new(map, Some(fields))),
            // Go decodes a struct from an object only (serde_json would take an array too).
            Value::Array(_) => Err(de::Error::invalid_type(de::Unexpected::Seq, &visitor)),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(GoMap::new(map, None)),
            other => other.deserialize_map(visitor),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(GoSeq(items.into_iter())),
            other => other.deserialize_seq(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct identifier
    }
}

impl<'de> IntoDeserializer<'de, serde_json::Error> for GoValue {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

/// An object's members, `null` ones left out, keys renamed to `fields` when it is a struct.
struct GoMap {
    members: std::vec::IntoIter<(String, Value)>,
    value: Option<Value>,
}

impl GoMap {
    fn new(map: Map<String, Value>, fields: Option<&'static [&'static str]>) -> Self {
        let members = map.into_iter().filter(|(_, value)| !value.is_null());
        let members: Vec<(String, Value)> = match fields {
            // A map's keys are unique already and kept as sent.
            None => members.collect(),
            Some(fields) => {
                // Keys renamed to field names; two spellings of one field: the later wins, as
                // in Go. Keyed by name so that an object of many members stays linear.
                let mut by_name: Map<String, Value> = Map::new();
                for (key, value) in members {
                    let key = field_name(&key, fields).map_or(key, str::to_owned);
                    by_name.insert(key, value);
                }
                by_name.into_iter().collect()
            }
        };
        Self { members: members.into_iter(), value: None }
    }
}

impl<'de> MapAccess<'de> for GoMap {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.members.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(Value::String(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let value = self.value.take().ok_or_else(|| de::Error::custom("a value without a key"))?;
        seed.deserialize(GoValue(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.members.len())
    }
}

/// An array's items, each decoded with Go's rules.
struct GoSeq(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for GoSeq {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|item| seed.deserialize(GoValue(item))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

#[cfg(test)]
mod tests;

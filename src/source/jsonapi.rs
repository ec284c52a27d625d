//! JSON:API documents as the admin API returns them and webhooks carry them.
//!
//! Parsing is tolerant in the ways the contract allows (ids as numbers or numeric strings,
//! a single resource or a list in `data`, missing optional members) and strict about the
//! rest, so that a malformed page is reported instead of half-read.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::ContractError;

/// One JSON:API resource object, with the exact JSON it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The resource id as text: a number's digits, or the string as sent.
    pub id: String,
    /// The JSON:API `type` member; empty when the sender left it out.
    pub kind: String,
    /// The `attributes` object; empty when absent. Read members with
    /// [`Resource::attribute`].
    pub attributes: Members,
    /// The `relationships` object; empty when absent. Read ids with
    /// [`Resource::related_id`] and [`Resource::related_ids`].
    pub relationships: Members,
    /// The whole resource object as JSON text, unknown members included.
    pub raw: String,
}

impl Resource {
    /// Reads one resource object; `what` names its place in the payload for errors. `raw`
    /// is the object written out again (keys in order, no spaces).
    pub fn from_value(value: Value, what: &str) -> Result<Resource, ContractError> {
        let Value::Object(object) = value else {
            return Err(ContractError::shape(what, "expected a resource object"));
        };
        let raw = serde_json::to_string(&object)?;
        Resource::from_object(object, raw, what)
    }

    /// Reads one resource object from its JSON text, which becomes `raw` as it is. The
    /// attributes and relationships are not parsed into values here: each member is found
    /// in `raw`, in the same pass that reads `id` and `type`, and parsed when asked for,
    /// which spares building and dropping a tree of every member.
    pub fn from_raw(text: &RawValue, what: &str) -> Result<Resource, ContractError> {
        let raw = text.get().to_string();
        if !raw.starts_with('{') {
            return Err(ContractError::shape(what, "expected a resource object"));
        }
        // The text is JSON already; what fails here is the shape, such as a repeated member.
        let shape = |e: serde_json::Error| ContractError::shape(what, e.to_string());
        let wire: WireResource = serde_json::from_str(&raw).map_err(shape)?;
        let id = resource_id(wire.id.as_ref(), what)?;
        let kind = resource_kind(wire.kind, what)?;
        let attributes = Members::located(&raw, wire.attributes, "attributes", what)?;
        let relationships = Members::located(&raw, wire.relationships, "relationships", what)?;
        Ok(Resource {
            id,
            kind,
            attributes,
            relationships,
            raw,
        })
    }

    fn from_object(
        mut object: Map<String, Value>,
        raw: String,
        what: &str,
    ) -> Result<Resource, ContractError> {
        let id = resource_id(object.get("id"), what)?;
        let kind = resource_kind(object.remove("type"), what)?;
        let attributes = Members::Parsed(take_object(&mut object, "attributes", what)?);
        let relationships = Members::Parsed(take_object(&mut object, "relationships", what)?);
        Ok(Resource {
            id,
            kind,
            attributes,
            relationships,
            raw,
        })
    }

    /// The attribute `name`, or `None` when it is absent.
    pub fn attribute(&self, name: &str) -> Option<Cow<'_, Value>> {
        self.attributes.get(&self.raw, name)
    }

    /// The resource id as a number, for entities whose ids are numeric.
    pub fn numeric_id(&self) -> Result<i64, String> {
        parse_id_text(&self.id)
    }

    /// The id of a to-one relationship, such as `location` in
    /// `relationships.location.data.id`.
    pub fn related_id(&self, name: &str) -> Option<Value> {
        let relationship = self.relationships.get(&self.raw, name)?;
        relationship.get("data")?.as_object()?.get("id").cloned()
    }

    /// The ids of a to-many relationship, such as `clients`.
    pub fn related_ids(&self, name: &str) -> Option<Vec<Value>> {
        let relationship = self.relationships.get(&self.raw, name)?;
        let data = relationship.get("data")?.as_array()?;
        Some(data.iter().filter_map(|r| r.get("id").cloned()).collect())
    }
}

/// Takes the member `key`, which must be an object when present; absent or null is empty.
fn take_object(
    object: &mut Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Map<String, Value>, ContractError> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(other) => {
            let reason = format!("{key} must be an object, found {}", kind_of(&other));
            Err(ContractError::shape(what, reason))
        }
    }
}

fn resource_id(id: Option<&Value>, what: &str) -> Result<String, ContractError> {
    match id {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => {
            let reason = format!("id must be a number or a string, found {}", kind_of(other));
            Err(ContractError::shape(what, reason))
        }
        None => Err(ContractError::shape(what, "missing id")),
    }
}

fn resource_kind(kind: Option<Value>, what: &str) -> Result<String, ContractError> {
    match kind {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Ok(String::new()),
        Some(other) => {
            let reason = format!("type must be a string, found {}", kind_of(&other));
            Err(ContractError::shape(what, reason))
        }
    }
}

/// The members of a resource's `attributes` or `relationships` object: parsed values, or
/// where each member's value lies in the resource's `raw` text, parsed only when read.
#[derive(Debug, Clone, PartialEq)]
pub enum Members {
    /// Members parsed into values.
    Parsed(Map<String, Value>),
    /// Members located in `raw`, in the order sent.
    Located(Vec<(MemberName, Range<usize>)>),
}

/// The name of a located member: where it lies in `raw`, or the text itself when it was
/// sent with escapes.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberName {
    /// The name is `raw[range]` as it is.
    At(Range<usize>),
    /// The name, unescaped.
    Text(String),
}

impl Default for Members {
    fn default() -> Self {
        Members::Parsed(Map::new())
    }
}

impl Members {
    /// The members of `key` as found in `raw`: none when absent or null, an error when it
    /// is not an object.
    fn located(
        raw: &str,
        found: Option<ObjectText<'_>>,
        key: &str,
        what: &str,
    ) -> Result<Members, ContractError> {
        match found {
            None => Ok(Members::default()),
            Some(ObjectText::Members(members)) => Ok(Members::at(raw, members)),
            Some(ObjectText::Other(kind)) => {
                let reason = format!("{key} must be an object, found {kind}");
                Err(ContractError::shape(what, reason))
            }
        }
    }

    fn at(raw: &str, members: Vec<(Cow<'_, str>, &RawValue)>) -> Members {
        let base = raw.as_ptr() as usize;
        let offset = |text: &str| text.as_ptr() as usize - base;
        let members = members
            .into_iter()
            .map(|(name, value)| {
                let name = match name {
                    Cow::Borrowed(name) => MemberName::At(offset(name)..offset(name) + name.len()),
                    Cow::Owned(name) => MemberName::Text(name),
                };
                let start = offset(value.get());
                (name, start..start + value.get().len())
            })
            .collect();
        Members::Located(members)
    }

    /// The member `name` (the last one when a name repeats), or `None` when it is absent;
    /// `raw` is the text a located member lies in.
    pub fn get(&self, raw: &str, name: &str) -> Option<Cow<'_, Value>> {
        match self {
            Members::Parsed(map) => map.get(name).map(Cow::Borrowed),
            Members::Located(members) => {
                let (_, range) = members.iter().rev().find(|(member, _)| match member {
                    MemberName::At(at) => raw.get(at.clone()) == Some(name),
                    MemberName::Text(text) => text == name,
                })?;
                // Located members were valid JSON when they were found.
                serde_json::from_str(raw.get(range.clone())?)
                    .ok()
                    .map(Cow::Owned)
            }
        }
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        match self {
            Members::Parsed(map) => map.is_empty(),
            Members::Located(members) => members.is_empty(),
        }
    }

    /// Every member parsed, as a map (a repeated name keeps its last value).
    pub fn to_map(&self, raw: &str) -> Map<String, Value> {
        match self {
            Members::Parsed(map) => map.clone(),
            Members::Located(members) => members
                .iter()
                .filter_map(|(member, range)| {
                    let name = match member {
                        MemberName::At(at) => raw.get(at.clone())?.to_string(),
                        MemberName::Text(text) => text.clone(),
                    };
                    let value = serde_json::from_str(raw.get(range.clone())?).ok()?;
                    Some((name, value))
                })
                .collect(),
        }
    }
}

/// The members of a resource object that [`Resource::from_raw`] reads; the members of
/// `attributes` and `relationships` stay text.
#[derive(Deserialize)]
struct WireResource<'a> {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default, rename = "type")]
    kind: Option<Value>,
    #[serde(default, borrow)]
    attributes: Option<ObjectText<'a>>,
    #[serde(default, borrow)]
    relationships: Option<ObjectText<'a>>,
}

/// A member that should be an object: its members as (name, value text) pairs, borrowed
/// from the text where they can be, or what else it was (null reads as `None` around it).
enum ObjectText<'a> {
    Members(Vec<(Cow<'a, str>, &'a RawValue)>),
    /// Not an object: the kind of value, as [`kind_of`] names it.
    Other(&'static str),
}

impl<'de: 'a, 'a> Deserialize<'de> for ObjectText<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Text<'a> {
            type Value = ObjectText<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(name) = map.next_key::<Name<'de>>()? {
                    members.push((name.0, map.next_value::<&'de RawValue>()?));
                }
                Ok(ObjectText::Members(members))
            }

            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(ObjectText::Other("a boolean"))
            }

            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(ObjectText::Other("a number"))
            }

            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(ObjectText::Other("a number"))
            }

            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(ObjectText::Other("a number"))
            }

            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(ObjectText::Other("a string"))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ObjectText::Other("an array"))
            }
        }
        deserializer.deserialize_any(Text(std::marker::PhantomData))
    }
}

/// A member name, borrowed unless it had escapes.
#[derive(Deserialize)]
struct Name<'a>(#[serde(borrow)] Cow<'a, str>);

/// A JSON:API document: one page of a resource listing, or a single resource.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    /// The primary resources.
    pub data: Vec<Resource>,
    /// Related resources sent alongside, such as locations with their time zones.
    pub included: Vec<Resource>,
    /// `links.next`, the URL of the following page, when there is one.
    pub next: Option<String>,
    /// `meta.pagination.total_pages`, when the server says.
    pub total_pages: Option<u64>,
    /// `meta.pagination.total`, when the server says.
    pub total: Option<u64>,
}

impl Document {
    /// Parses a document from its JSON bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Document, ContractError> {
        let value: Value = serde_json::from_slice(bytes)?;
        Document::from_value(value)
    }

    /// Parses a document from a JSON value.
    pub fn from_value(value: Value) -> Result<Document, ContractError> {
        let Value::Object(mut top) = value else {
            return Err(ContractError::shape("document", "expected a JSON object"));
        };
        let data = match top.remove("data") {
            Some(Value::Array(items)) => resources(items, "data")?,
            Some(object @ Value::Object(_)) => vec![Resource::from_value(object, "data")?],
            Some(Value::Null) => Vec::new(),
            Some(other) => {
                let reason = format!("expected an array or an object, found {}", kind_of(&other));
                return Err(ContractError::shape("data", reason));
            }
            None => return Err(ContractError::shape("document", "missing data")),
        };
        let included = match top.remove("included") {
            Some(Value::Array(items)) => resources(items, "included")?,
            None | Some(Value::Null) => Vec::new(),
            Some(other) => {
                let reason = format!("expected an array, found {}", kind_of(&other));
                return Err(ContractError::shape("included", reason));
            }
        };
        let next = top
            .get("links")
            .and_then(|l| l.get("next"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let pagination = top.get("meta").and_then(|m| m.get("pagination"));
        let number = |key: &str| pagination.and_then(|p| p.get(key)).and_then(Value::as_u64);
        Ok(Document {
            data,
            included,
            next,
            total_pages: number("total_pages"),
            total: number("total"),
        })
    }
}

/// The few members of a listing page that decide the next request: each record's id,
/// `updated_at` and `timezone` (as sent), and the pagination counts. Reading only these
/// skips over everything else, so the next page can be asked for before the page is read
/// in full.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outline {
    /// The primary records, in order.
    pub records: Vec<OutlineRecord>,
    /// `meta.pagination.total_pages`, when the server says.
    pub total_pages: Option<u64>,
    /// `meta.pagination.total`, when the server says.
    pub total: Option<u64>,
}

/// One record of an [`Outline`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutlineRecord {
    /// The id as text, read as [`Resource::id`] is.
    pub id: String,
    /// `attributes.updated_at` as sent.
    pub updated_at: Option<String>,
    /// `attributes.timezone` as sent.
    pub timezone: Option<String>,
}

impl Outline {
    /// Reads the outline of a document's JSON bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Outline, ContractError> {
        let raw: outline::Doc = serde_json::from_slice(bytes)?;
        let pagination = raw.meta.and_then(|m| m.pagination);
        let records = raw
            .data
            .into_iter()
            .map(|r| OutlineRecord {
                id: match r.id {
                    Some(Value::String(s)) => s.trim().to_string(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => String::new(),
                },
                updated_at: r.attributes.as_ref().and_then(|a| text(&a.updated_at)),
                timezone: r.attributes.as_ref().and_then(|a| text(&a.timezone)),
            })
            .collect();
        Ok(Outline {
            records,
            total_pages: pagination.as_ref().and_then(|p| p.total_pages),
            total: pagination.as_ref().and_then(|p| p.total),
        })
    }
}

fn text(value: &Option<Value>) -> Option<String> {
    value.as_ref().and_then(Value::as_str).map(str::to_string)
}

/// The shapes [`Outline::from_slice`] reads; serde skips every other member unparsed.
mod outline {
    use serde::Deserialize;
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor, value::MapAccessDeserializer};
    use serde_json::Value;

    #[derive(Deserialize)]
    pub struct Doc {
        #[serde(default, deserialize_with = "one_or_many")]
        pub data: Vec<Record>,
        #[serde(default)]
        pub meta: Option<Meta>,
    }

    #[derive(Deserialize)]
    pub struct Meta {
        #[serde(default)]
        pub pagination: Option<Pagination>,
    }

    #[derive(Deserialize)]
    pub struct Pagination {
        #[serde(default)]
        pub total: Option<u64>,
        #[serde(default)]
        pub total_pages: Option<u64>,
    }

    #[derive(Deserialize)]
    pub struct Record {
        #[serde(default)]
        pub id: Option<Value>,
        #[serde(default)]
        pub attributes: Option<Attributes>,
    }

    #[derive(Deserialize)]
    pub struct Attributes {
        #[serde(default)]
        pub updated_at: Option<Value>,
        #[serde(default)]
        pub timezone: Option<Value>,
    }

    /// `data` as a list, a single object or null.
    fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Record>, D::Error> {
        struct Data;
        impl<'de> Visitor<'de> for Data {
            type Value = Vec<Record>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a resource, a list of resources or null")
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(record) = seq.next_element()? {
                    records.push(record);
                }
                Ok(records)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Record::deserialize(MapAccessDeserializer::new(map)).map(|r| vec![r])
            }
        }
        deserializer.deserialize_any(Data)
    }
}

fn resources(items: Vec<Value>, what: &str) -> Result<Vec<Resource>, ContractError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| Resource::from_value(item, &format!("{what}[{i}]")))
        .collect()
}

/// Reads an id sent as a JSON number or a numeric string.
pub fn parse_id(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| format!("id {n} is not a whole number")),
        Value::String(s) => parse_id_text(s),
        other => Err(format!("expected an id, found {}", kind_of(other))),
    }
}

/// Reads an id from text holding digits.
pub fn parse_id_text(text: &str) -> Result<i64, String> {
    text.trim()
        .parse::<i64>()
        .map_err(|_| format!("id {text:?} is not numeric"))
}

/// A short name for a JSON value's kind, for error messages (never the value itself).
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_page_with_links_and_pagination() -> Result<(), ContractError> {
        let doc = Document::from_value(json!({
            "data": [{"id": 7, "type": "appointments", "attributes": {"status": "confirmed"}}],
            "included": [{"id": "3", "type": "locations", "attributes": {"timezone": "UTC"}}],
            "meta": {"pagination": {"total": 1, "total_pages": 1}},
            "links": {"next": "http://x/appointments?page=2"}
        }))?;
        assert_eq!(doc.data[0].id, "7");
        assert_eq!(doc.included[0].id, "3");
        assert_eq!(doc.next.as_deref(), Some("http://x/appointments?page=2"));
        assert_eq!(doc.total, Some(1));
        Ok(())
    }

    #[test]
    fn an_outline_reads_what_the_full_parse_reads() -> Result<(), ContractError> {
        let text = r#"{"data": [
            {"id": 7, "type": "appointments", "attributes": {"status": "x", "updated_at": "2026-03-08T07:00:00Z",
             "nested": {"updated_at": "not this one"}}},
            {"id": " 8 ", "attributes": {"updated_at": "2026-03-08 02:00:00", "timezone": "America/Toronto"}},
            {"id": "9"}
          ], "meta": {"pagination": {"total": 3, "total_pages": 1, "per_page": 100}},
          "links": {"next": null}}"#;
        let outline = Outline::from_slice(text.as_bytes())?;
        let full = Document::from_slice(text.as_bytes())?;
        let ids: Vec<&str> = outline.records.iter().map(|r| r.id.as_str()).collect();
        let full_ids: Vec<&str> = full.data.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, full_ids);
        assert_eq!(
            outline.records[0].updated_at.as_deref(),
            Some("2026-03-08T07:00:00Z")
        );
        assert_eq!(
            outline.records[1].timezone.as_deref(),
            Some("America/Toronto")
        );
        assert_eq!(outline.records[2].updated_at, None);
        assert_eq!((outline.total, outline.total_pages), (Some(3), Some(1)));
        let single = Outline::from_slice(br#"{"data": {"id": 1}}"#)?;
        assert_eq!(single.records.len(), 1);
        assert!(Outline::from_slice(br#"{"data": [{"id": 1}"#).is_err());
        Ok(())
    }

    #[test]
    fn rejects_resources_without_ids() {
        let err = Document::from_value(json!({"data": [{"id": 1}, {"type": "clients"}]}));
        assert_eq!(
            err.map(|_| ()).map_err(|e| e.to_string()),
            Err("data[1]: missing id".to_string())
        );
    }

    #[test]
    fn ids_come_as_numbers_or_numeric_strings() {
        assert_eq!(parse_id(&json!(12)), Ok(12));
        assert_eq!(parse_id(&json!(" 12 ")), Ok(12));
        assert_eq!(parse_id(&json!(12.0)), Ok(12));
        assert!(parse_id(&json!("12a")).is_err());
        assert!(parse_id(&json!(true)).is_err());
    }
}

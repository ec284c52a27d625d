//! Turning one JSON:API resource into one landing row, tolerant where the contract allows
//! and exact about what was wrong where it does not.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use super::cell::Cell;
use super::envelope::Envelope;
use super::spec::{Column, EntitySpec, Kind, spec};
use super::time;
use crate::source::jsonapi_kind_of as kind_of;
use crate::source::{Entity, Resource, parse_id};

/// A record that cannot become a row, with the field and the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot convert {entity} {id}: field {field}: {reason}")]
pub struct ConvertError {
    /// The entity being converted.
    pub entity: Entity,
    /// The record id as sent.
    pub id: String,
    /// The column or attribute at fault.
    pub field: String,
    /// What is wrong with it (never the value of a personal field).
    pub reason: String,
}

/// The parts of the contract a pipeline can change.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// The zone for engagements whose record and location give none.
    pub default_zone: Option<Tz>,
    /// Per entity, column name to the attribute it is read from, overriding the default.
    pub attribute_names: HashMap<Entity, HashMap<String, String>>,
    /// Status words to replace after normalising, such as `noshow` to `no_show`.
    pub status_aliases: HashMap<String, String>,
}

/// Converts resources to rows; remembers location time zones it has seen.
#[derive(Debug, Default)]
pub struct Converter {
    options: ConvertOptions,
    location_zones: RwLock<HashMap<i64, Tz>>,
}

impl Converter {
    /// A converter with the pipeline's options.
    pub fn new(options: ConvertOptions) -> Converter {
        Converter {
            options,
            location_zones: RwLock::default(),
        }
    }

    /// Remembers the zone of a location, so later engagements there get a business day.
    pub fn learn_location_zone(&self, location_id: i64, zone: Tz) {
        if let Ok(mut zones) = self.location_zones.write() {
            zones.insert(location_id, zone);
        }
    }

    /// Remembers the zone of a location unless one is known already (a zone learned from
    /// an event is newer than one read back from the store); true when it was remembered.
    pub fn learn_location_zone_unless_known(&self, location_id: i64, zone: Tz) -> bool {
        let Ok(mut zones) = self.location_zones.write() else {
            return false;
        };
        match zones.entry(location_id) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(zone);
                true
            }
        }
    }

    /// Remembers the zones of location resources sent alongside, as in `included[]`.
    pub fn learn_included(&self, included: &[Resource]) {
        for resource in included {
            if Entity::from_type(&resource.kind) != Some(Entity::Locations) {
                continue;
            }
            let id = resource.numeric_id();
            let zone = resource.attribute("timezone");
            let zone = zone.as_deref().and_then(Value::as_str);
            if let (Ok(id), Some(Ok(zone))) = (id, zone.map(time::parse_zone)) {
                self.learn_location_zone(id, zone);
            }
        }
    }

    fn location_zone(&self, location_id: i64) -> Option<Tz> {
        self.location_zones.read().ok()?.get(&location_id).copied()
    }

    /// Converts one resource of `entity` into the cells of its landing row.
    pub fn convert(
        &self,
        entity: Entity,
        resource: &Resource,
        envelope: &Envelope,
    ) -> Result<Vec<Cell>, ConvertError> {
        let spec = spec(entity);
        let fail = |field: &str, reason: String| ConvertError {
            entity,
            id: resource.id.clone(),
            field: field.to_string(),
            reason,
        };
        let id = resource.numeric_id().map_err(|r| fail("id", r))?;
        let reader = Reader {
            converter: self,
            spec,
            resource,
        };
        let zone = if spec.anchor.is_some() {
            reader.zone().map_err(|r| fail("timezone", r))?
        } else {
            None
        };

        let mut cells = Vec::with_capacity(spec.columns.len());
        for column in spec.columns {
            let cell = reader
                .read(column, zone)
                .map_err(|r| fail(column.name, r))?;
            cells.push(cell);
        }
        if entity == Entity::Locations {
            self.remember_own_zone(id, spec, &cells);
        }

        let updated_at = micros_of(spec, &cells, "updated_at")
            .or_else(|| envelope.occurred_at.map(|t| t.timestamp_micros()));
        let mut row = envelope_cells(envelope, updated_at, Some(&resource.raw));
        row.push(Cell::Int(id));
        if let Some(anchor) = spec.anchor {
            row.extend(local_cells(micros_of(spec, &cells, anchor), zone));
        }
        row.extend(cells);
        Ok(row)
    }

    fn remember_own_zone(&self, id: i64, spec: &EntitySpec, cells: &[Cell]) {
        let position = spec.columns.iter().position(|c| c.kind == Kind::Zone);
        if let Some(Cell::Text(name)) = position.map(|i| &cells[i])
            && let Ok(zone) = time::parse_zone(name)
        {
            self.learn_location_zone(id, zone);
        }
    }
}

/// The envelope cells that open every landing row.
pub(super) fn envelope_cells(
    envelope: &Envelope,
    source_updated_at: Option<i64>,
    raw: Option<&str>,
) -> Vec<Cell> {
    vec![
        Cell::Text(envelope.event_id.clone()),
        Cell::Text(envelope.source.as_str().to_string()),
        Cell::Text(envelope.event_type.clone()),
        Cell::Micros(envelope.received_at.timestamp_micros()),
        Cell::Text(envelope.verified_by.clone()),
        source_updated_at.map_or(Cell::Null, Cell::Micros),
        Cell::Text(envelope.payload_sha256.clone()),
        Cell::text(raw),
    ]
}

fn micros_of(spec: &EntitySpec, cells: &[Cell], name: &str) -> Option<i64> {
    let i = spec.columns.iter().position(|c| c.name == name)?;
    match cells[i] {
        Cell::Micros(v) => Some(v),
        _ => None,
    }
}

fn local_cells(anchor: Option<i64>, zone: Option<Tz>) -> [Cell; 3] {
    let instant = anchor.and_then(DateTime::<Utc>::from_timestamp_micros);
    match (instant, zone) {
        (Some(instant), Some(zone)) => {
            let local = time::to_local(instant, zone);
            [
                Cell::Date(time::date32(local.date())),
                Cell::Text(zone.name().to_string()),
                Cell::Micros(local.and_utc().timestamp_micros()),
            ]
        }
        (None, Some(zone)) => [Cell::Null, Cell::Text(zone.name().to_string()), Cell::Null],
        _ => [Cell::Null, Cell::Null, Cell::Null],
    }
}

/// Reads the attributes of one resource for one spec.
struct Reader<'a> {
    converter: &'a Converter,
    spec: &'a EntitySpec,
    resource: &'a Resource,
}

impl<'a> Reader<'a> {
    fn attr_name<'c>(&'c self, column: &'c Column) -> &'c str {
        self.converter
            .options
            .attribute_names
            .get(&self.spec.entity)
            .and_then(|names| names.get(column.name))
            .map_or(column.attr, String::as_str)
    }

    /// The attribute `name`, or `None` when it is absent or null.
    fn attr(&self, name: &str) -> Option<Cow<'a, Value>> {
        self.resource.attribute(name).filter(|v| !v.is_null())
    }

    /// The record's own zone, else its location's, else the pipeline default.
    fn zone(&self) -> Result<Option<Tz>, String> {
        if let Some(value) = self.attr("timezone") {
            let name = value.as_str().ok_or("expected a zone name string")?;
            if !name.trim().is_empty() {
                return time::parse_zone(name).map(Some);
            }
        }
        let location = self
            .spec
            .columns
            .iter()
            .find(|c| c.name == "location_id")
            .and_then(|c| self.id_value(c));
        let from_location = location
            .and_then(|v| parse_id(&v).ok())
            .and_then(|id| self.converter.location_zone(id));
        Ok(from_location.or(self.converter.options.default_zone))
    }

    fn id_value(&self, column: &Column) -> Option<Cow<'a, Value>> {
        let name = self.attr_name(column);
        self.attr(name).or_else(|| {
            let relationship = name.strip_suffix("_id").unwrap_or(name);
            self.resource
                .related_id(relationship)
                .filter(|v| !v.is_null())
                .map(Cow::Owned)
        })
    }

    fn read(&self, column: &Column, zone: Option<Tz>) -> Result<Cell, String> {
        if column.kind == Kind::Id {
            return self
                .id_value(column)
                .map_or(Ok(Cell::Null), |v| parse_id(&v).map(Cell::Int));
        }
        let name = self.attr_name(column);
        if column.kind == Kind::IdList && self.attr(name).is_none() {
            let related = self.resource.related_ids(name).unwrap_or_default();
            return ids(related.iter());
        }
        if column.kind == Kind::Attendees && self.attr(name).is_none() {
            let Some(related) = self.resource.related_ids("clients") else {
                return Ok(Cell::Null);
            };
            let attendees = related
                .iter()
                .map(|id| parse_id(id).map(|id| Cell::Struct(vec![Cell::Int(id), Cell::Null])));
            return attendees.collect::<Result<_, _>>().map(Cell::List);
        }
        let Some(value) = self.attr(name) else {
            return Ok(Cell::Null);
        };
        let value: &Value = &value;
        match column.kind {
            Kind::Id => parse_id(value).map(Cell::Int),
            Kind::Int => int(value),
            Kind::Text => text(value),
            Kind::Status => Ok(self.status(value)?),
            Kind::Zone => {
                let name = value.as_str().ok_or("expected a zone name string")?;
                time::parse_zone(name).map(|z| Cell::Text(z.name().to_string()))
            }
            Kind::Bool => boolean(value),
            Kind::Timestamp => match value {
                Value::String(s) if s.trim().is_empty() => Ok(Cell::Null),
                Value::String(s) => {
                    time::parse_timestamp(s, zone).map(|t| Cell::Micros(t.timestamp_micros()))
                }
                other => Err(format!(
                    "expected a timestamp string, found {}",
                    kind_of(other)
                )),
            },
            Kind::IdList => match value {
                Value::Array(items) => ids(items.iter().map(|v| v.get("id").unwrap_or(v))),
                other => Err(format!("expected a list of ids, found {}", kind_of(other))),
            },
            Kind::Attendees => pairs(value, &["client_id", "id"], "status"),
            Kind::Answers => pairs(value, &["question_id", "id"], "value"),
        }
    }

    fn status(&self, value: &Value) -> Result<Cell, String> {
        let Value::String(word) = value else {
            return Err(format!("expected a status word, found {}", kind_of(value)));
        };
        let normal = word.trim().to_lowercase().replace([' ', '-'], "_");
        let aliases = &self.converter.options.status_aliases;
        Ok(Cell::Text(aliases.get(&normal).cloned().unwrap_or(normal)))
    }
}

fn int(value: &Value) -> Result<Cell, String> {
    match value {
        Value::Number(_) | Value::String(_) => parse_id(value)
            .map(Cell::Int)
            .map_err(|_| "expected a whole number".to_string()),
        other => Err(format!("expected a whole number, found {}", kind_of(other))),
    }
}

fn text(value: &Value) -> Result<Cell, String> {
    match value {
        Value::String(s) => Ok(Cell::Text(s.clone())),
        Value::Number(n) => Ok(Cell::Text(n.to_string())),
        Value::Bool(b) => Ok(Cell::Text(b.to_string())),
        other => Err(format!("expected text, found {}", kind_of(other))),
    }
}

fn boolean(value: &Value) -> Result<Cell, String> {
    let truth = match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    };
    truth
        .map(Cell::Bool)
        .ok_or_else(|| format!("expected a boolean, found {}", kind_of(value)))
}

fn ids<'v>(values: impl Iterator<Item = &'v Value>) -> Result<Cell, String> {
    values
        .map(|v| parse_id(v).map(Cell::Int))
        .collect::<Result<_, _>>()
        .map(Cell::List)
}

/// Reads a list of `{<id key>, <value key>}` objects, such as attendees or answers.
fn pairs(value: &Value, id_keys: &[&str], value_key: &str) -> Result<Cell, String> {
    let Value::Array(items) = value else {
        return Err(format!("expected a list, found {}", kind_of(value)));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(object) = item else {
            return Err(format!(
                "item {i}: expected an object, found {}",
                kind_of(item)
            ));
        };
        let id = id_keys
            .iter()
            .find_map(|k| object.get(*k).filter(|v| !v.is_null()))
            .map(parse_id)
            .transpose()
            .map_err(|r| format!("item {i}: {r}"))?;
        let second = match object.get(value_key) {
            None | Some(Value::Null) => Cell::Null,
            Some(Value::String(s)) => Cell::Text(s.clone()),
            Some(other) => Cell::Text(other.to_string()),
        };
        out.push(Cell::Struct(vec![id.map_or(Cell::Null, Cell::Int), second]));
    }
    Ok(Cell::List(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Rows, Source, Table};
    use chrono::TimeZone;
    use serde_json::json;

    fn resource(value: Value) -> Resource {
        Resource::from_value(value, "test").unwrap_or_else(|e| panic!("bad fixture: {e}"))
    }

    fn envelope() -> Envelope {
        Envelope {
            event_id: "e1".into(),
            source: Source::Webhook,
            event_type: "appointment.updated".into(),
            received_at: Utc.with_ymd_and_hms(2026, 3, 9, 0, 0, 0).unwrap(),
            verified_by: "test".into(),
            occurred_at: None,
            payload_sha256: "00".into(),
        }
    }

    /// The cell of a named column in an entity row.
    fn cell<'r>(entity: Entity, row: &'r [Cell], name: &str) -> &'r Cell {
        let schema = Table::Entity(entity).schema();
        let i = schema
            .index_of(name)
            .unwrap_or_else(|_| panic!("no column {name}"));
        &row[i]
    }

    fn micros(text: &str) -> Cell {
        Cell::Micros(
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.timestamp_micros())
                .unwrap_or_default(),
        )
    }

    fn date(text: &str) -> Cell {
        let d = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default();
        Cell::Date(time::date32(d))
    }

    #[test]
    fn appointment_in_a_spring_forward_gap_lands_on_its_local_day() {
        let converter = Converter::default();
        let r = resource(json!({"id": "42", "type": "appointments", "attributes": {
            "timezone": "America/Toronto", "start": "2026-03-08 02:30:00",
            "status": "No-Show", "location_id": "1", "unknown_thing": {"a": 1}}}));
        let row = converter
            .convert(Entity::Appointments, &r, &envelope())
            .unwrap();
        let e = Entity::Appointments;
        assert_eq!(cell(e, &row, "id"), &Cell::Int(42));
        assert_eq!(cell(e, &row, "location_id"), &Cell::Int(1));
        assert_eq!(cell(e, &row, "start_at"), &micros("2026-03-08T07:30:00Z"));
        assert_eq!(cell(e, &row, "business_date"), &date("2026-03-08"));
        assert_eq!(cell(e, &row, "status"), &Cell::Text("no_show".into()));
        assert_eq!(cell(e, &row, "end_at"), &Cell::Null);
        let Cell::Text(raw) = cell(e, &row, "raw") else {
            panic!("raw is not text")
        };
        assert!(raw.contains("unknown_thing"));
    }

    #[test]
    fn walk_in_takes_its_location_zone_across_fall_back() {
        let converter = Converter::default();
        let london = resource(json!({"id": 3, "attributes": {"timezone": "Europe/London"}}));
        converter
            .convert(Entity::Locations, &london, &envelope())
            .unwrap();
        // 00:30 UTC on 2026-10-25 is 01:30 BST, the first of London's two 01:30s.
        let r = resource(json!({"id": 9, "attributes": {
            "location_id": 3, "created_at": "2026-10-25T00:30:00Z", "status": "waiting"}}));
        let row = converter
            .convert(Entity::QueueAppointments, &r, &envelope())
            .unwrap();
        let e = Entity::QueueAppointments;
        assert_eq!(
            cell(e, &row, "timezone"),
            &Cell::Text("Europe/London".into())
        );
        assert_eq!(cell(e, &row, "business_date"), &date("2026-10-25"));
        let local = chrono::NaiveDate::from_ymd_opt(2026, 10, 25)
            .and_then(|d| d.and_hms_opt(1, 30, 0))
            .map(|t| t.and_utc().timestamp_micros());
        assert_eq!(
            cell(e, &row, "created_at_local"),
            &Cell::Micros(local.unwrap())
        );
    }

    #[test]
    fn late_evening_in_vancouver_is_the_previous_business_day() {
        let converter = Converter::default();
        converter.learn_location_zone(2, chrono_tz::America::Vancouver);
        let r = resource(json!({"id": 1, "attributes": {
            "location_id": 2, "start": "2026-11-01T04:30:00Z"}}));
        let row = converter
            .convert(Entity::Appointments, &r, &envelope())
            .unwrap();
        assert_eq!(
            cell(Entity::Appointments, &row, "business_date"),
            &date("2026-10-31")
        );
    }

    #[test]
    fn relationships_supply_missing_ids_and_attendees() {
        let converter = Converter::default();
        let r = resource(json!({"id": 1, "attributes": {},
        "relationships": {
            "location": {"data": {"type": "locations", "id": "8"}},
            "clients": {"data": [{"type": "clients", "id": "5"}, {"type": "clients", "id": 6}]}
        }}));
        let row = converter
            .convert(Entity::Appointments, &r, &envelope())
            .unwrap();
        let e = Entity::Appointments;
        assert_eq!(cell(e, &row, "location_id"), &Cell::Int(8));
        let attendee = |id| Cell::Struct(vec![Cell::Int(id), Cell::Null]);
        assert_eq!(
            cell(e, &row, "attendees"),
            &Cell::List(vec![attendee(5), attendee(6)])
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let converter = Converter::default();
        let cases = [
            (
                json!({"id": 1, "attributes": {"start": 1774872000}}),
                "start_at",
            ),
            (
                json!({"id": 1, "attributes": {"location_id": "north"}}),
                "location_id",
            ),
            (
                json!({"id": 1, "attributes": {"attendees": "ann"}}),
                "attendees",
            ),
            (json!({"id": "x1", "attributes": {}}), "id"),
            (
                json!({"id": 1, "attributes": {"timezone": "Mars/Olympus"}}),
                "timezone",
            ),
            (
                json!({"id": 1, "attributes": {"start": "2026-03-08 09:00"}}),
                "start_at",
            ),
        ];
        for (value, field) in cases {
            let err = converter
                .convert(Entity::Appointments, &resource(value), &envelope())
                .expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn options_rename_attributes_and_map_statuses() {
        let mut options = ConvertOptions::default();
        let renames = HashMap::from([("arrived_at".to_string(), "checked_in".to_string())]);
        options
            .attribute_names
            .insert(Entity::Appointments, renames);
        options
            .status_aliases
            .insert("showed".to_string(), "arrived".to_string());
        let converter = Converter::new(options);
        let r = resource(json!({"id": 1, "attributes": {
            "checked_in": "2026-01-01T10:00:00Z", "status": "SHOWED"}}));
        let row = converter
            .convert(Entity::Appointments, &r, &envelope())
            .unwrap();
        let e = Entity::Appointments;
        assert_eq!(cell(e, &row, "arrived_at"), &micros("2026-01-01T10:00:00Z"));
        assert_eq!(cell(e, &row, "status"), &Cell::Text("arrived".into()));
    }

    #[test]
    fn source_updated_at_falls_back_to_the_event_time() {
        let converter = Converter::default();
        let mut env = envelope();
        env.occurred_at = Some(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap());
        let bare = resource(json!({"id": 902}));
        let row = converter.convert(Entity::Clients, &bare, &env).unwrap();
        assert_eq!(
            cell(Entity::Clients, &row, "source_updated_at"),
            &micros("2026-03-01T12:00:00Z")
        );
    }

    /// Every entity, fed with values of every JSON kind in every attribute, converts or
    /// fails with an error; it never panics and every success builds a valid batch.
    #[test]
    fn no_input_panics() {
        let converter = Converter::default();
        let values = [
            json!(null),
            json!(true),
            json!(-1),
            json!(1.5),
            json!(""),
            json!("2026-03-08 02:30:00"),
            json!("2026-03-08T02:30:00+05:45"),
            json!("Europe/London"),
            json!([1, "2", {"id": 3}, {"client_id": "4", "status": 5}]),
            json!({"id": 1}),
            json!("9223372036854775808"),
        ];
        for entity in Entity::ALL {
            let mut rows = Rows::new(Table::Entity(entity));
            let columns = crate::model::spec::spec(entity).columns;
            for (round, value) in values.iter().enumerate() {
                let mut attributes = serde_json::Map::new();
                for (i, column) in columns.iter().enumerate() {
                    let pick = &values[(round + i) % values.len()];
                    attributes.insert(column.attr.to_string(), pick.clone());
                }
                attributes.insert("timezone".into(), value.clone());
                let r = resource(json!({"id": round, "attributes": attributes}));
                if let Ok(row) = converter.convert(entity, &r, &envelope()) {
                    rows.push(row);
                }
            }
            rows.to_batch().unwrap_or_else(|e| panic!("{entity}: {e}"));
        }
    }

    #[test]
    fn located_attributes_convert_like_parsed_ones() {
        use crate::simulate::webhooks::events;
        use crate::simulate::{TenantOptions, generate};
        use crate::source::WebhookEvent;
        let tenant = generate(&TenantOptions {
            days: 2,
            ..TenantOptions::default()
        });
        let located = Converter::default();
        let parsed = Converter::default();
        let raw = Table::Entity(Entity::Clients)
            .schema()
            .index_of("raw")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut compared = 0;
        for (i, event) in events(&tenant, None, None).iter().enumerate() {
            let body = event.body(&tenant, &event.id(&tenant, 0), i % 7 == 0);
            let fast = WebhookEvent::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
            let value: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
            let slow = WebhookEvent::from_value(value).unwrap_or_else(|e| panic!("{e}"));
            let Some(entity) = fast.entity() else {
                continue;
            };
            if entity == Entity::Locations {
                located.learn_included(std::slice::from_ref(&fast.data));
                parsed.learn_included(std::slice::from_ref(&slow.data));
            }
            let envelope = Envelope::for_webhook(&fast, &body, Utc::now(), "test");
            let mut a = located.convert(entity, &fast.data, &envelope);
            let mut b = parsed.convert(entity, &slow.data, &envelope);
            // Only the raw text differs: as sent against written out again.
            for row in [&mut a, &mut b].into_iter().flatten() {
                row[raw] = Cell::Null;
            }
            assert_eq!(a, b, "{entity} event {}", fast.id);
            compared += 1;
        }
        assert!(compared > 1000, "only {compared} events compared");
    }

    #[test]
    fn located_members_keep_the_contract() {
        let read = |text: &str| {
            let value: Box<serde_json::value::RawValue> =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
            Resource::from_raw(&value, "data")
        };
        let r = read(
            r#"{"id": 4, "attributes": {"a\u0062": 1, "x": "first", "x": "last", "n": null}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.attribute("ab").as_deref(), Some(&Value::from(1)));
        assert_eq!(r.attribute("x").as_deref(), Some(&Value::from("last")));
        assert_eq!(r.attribute("n").as_deref(), Some(&Value::Null));
        assert_eq!(r.attribute("absent"), None);
        assert!(read(r#"{"id": 4, "attributes": null}"#).is_ok_and(|r| r.attributes.is_empty()));
        let r = read(
            r#"{"id": 4, "relationships": {"location": {"data": {"type": "locations", "id": "7"}},
                "clients": {"data": [{"id": 1}, {"id": "2"}, {"type": "clients"}]},
                "staff": {"data": null}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.related_id("location"), Some(Value::from("7")));
        assert_eq!(r.related_id("staff"), None);
        assert_eq!(r.related_id("absent"), None);
        let clients = Some(vec![Value::from(1), Value::from("2")]);
        assert_eq!(r.related_ids("clients"), clients);
        assert!(
            read(r#"{"id": 4, "relationships": null}"#).is_ok_and(|r| r.relationships.is_empty())
        );
        let err = |text: &str| read(text).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(
            err(r#"{"id": 4, "attributes": "text"}"#),
            Err("data: attributes must be an object, found a string".to_string())
        );
        assert_eq!(
            err(r#"{"attributes": {}}"#),
            Err("data: missing id".to_string())
        );
        assert_eq!(
            err(r#"{"id": 4, "relationships": [1]}"#),
            Err("data: relationships must be an object, found an array".to_string())
        );
        assert_eq!(
            err(r#"{"id": 4, "attributes": 1.5}"#),
            Err("data: attributes must be an object, found a number".to_string())
        );
        assert_eq!(
            err(r#"{"id": 4, "relationships": true}"#),
            Err("data: relationships must be an object, found a boolean".to_string())
        );
        assert_eq!(
            err("[4]"),
            Err("data: expected a resource object".to_string())
        );
    }
}

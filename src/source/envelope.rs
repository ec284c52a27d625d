//! The webhook event envelope: `{id, type, occurred_at, data}`.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::jsonapi::kind_of;
use super::{ContractError, Entity, Resource};

/// One webhook delivery, parsed but not yet converted.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// The sender's event id; retries of one event carry the same id.
    pub id: String,
    /// The event type, such as `appointment.updated`.
    pub event_type: String,
    /// When the change happened at the source, as sent.
    pub occurred_at: Option<String>,
    /// The resource the event is about; it may carry only an id.
    pub data: Resource,
}

impl WebhookEvent {
    /// Parses an envelope from the request body in one pass. The resource's `raw` is the
    /// `data` member's text as sent, not the parsed value written out again. Bytes that
    /// are not JSON give [`ContractError::Json`]; JSON of another shape gives
    /// [`ContractError::Shape`], as [`WebhookEvent::from_value`] does.
    pub fn from_slice(bytes: &[u8]) -> Result<WebhookEvent, ContractError> {
        // serde would also read a struct from a JSON array, by position.
        let opens_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !opens_object {
            serde_json::from_slice::<serde::de::IgnoredAny>(bytes)?;
            return Err(ContractError::shape("event", "expected a JSON object"));
        }
        let wire: Wire<&RawValue> = serde_json::from_slice(bytes).map_err(|e| {
            if e.is_data() {
                ContractError::shape("event", e.to_string())
            } else {
                ContractError::Json(e)
            }
        })?;
        wire.into_event(|data| Resource::from_raw(data, "data"))
    }

    /// Parses an envelope from a JSON value.
    pub fn from_value(value: Value) -> Result<WebhookEvent, ContractError> {
        let Value::Object(mut top) = value else {
            return Err(ContractError::shape("event", "expected a JSON object"));
        };
        let members = Wire {
            id: top.remove("id"),
            event_type: top.remove("type"),
            occurred_at: top.remove("occurred_at"),
            data: top.remove("data"),
        };
        members.into_event(|data| Resource::from_value(data, "data"))
    }

    /// The entity the event is about, from its type prefix or else the resource type.
    pub fn entity(&self) -> Option<Entity> {
        let prefix = self.event_type.split('.').next().unwrap_or_default();
        Entity::from_type(prefix).or_else(|| Entity::from_type(&self.data.kind))
    }
}

/// The members of an envelope, with `data` as a value or, read from the body, as its
/// unparsed text.
#[derive(Deserialize)]
struct Wire<D> {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default, rename = "type")]
    event_type: Option<Value>,
    #[serde(default)]
    occurred_at: Option<Value>,
    #[serde(default = "Option::default")]
    data: Option<D>,
}

impl<D> Wire<D> {
    /// The event, with `data` read as a resource by `read`.
    fn into_event(
        self,
        read: impl FnOnce(D) -> Result<Resource, ContractError>,
    ) -> Result<WebhookEvent, ContractError> {
        let missing = |member| ContractError::shape("event", format!("missing {member}"));
        Ok(WebhookEvent {
            id: text("id", self.id)?.ok_or_else(|| missing("id"))?,
            event_type: text("type", self.event_type)?.ok_or_else(|| missing("type"))?,
            occurred_at: text("occurred_at", self.occurred_at)?,
            data: read(self.data.ok_or_else(|| missing("data"))?)?,
        })
    }
}

/// A member sent as a string or a number; empty strings and nulls count as absent.
fn text(key: &str, value: Option<Value>) -> Result<Option<String>, ContractError> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        None | Some(Value::Null) | Some(Value::String(_)) => Ok(None),
        Some(other) => Err(ContractError::shape(
            key,
            format!("expected a string, found {}", kind_of(&other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_an_id_only_event() -> Result<(), ContractError> {
        let event = WebhookEvent::from_value(json!({
            "id": "evt_1", "type": "queue_appointment.completed",
            "occurred_at": "2026-03-08T10:00:00Z", "data": {"id": 5}
        }))?;
        assert_eq!(event.entity(), Some(Entity::QueueAppointments));
        assert_eq!(event.data.id, "5");
        assert!(event.data.attributes.is_empty());
        Ok(())
    }

    #[test]
    fn unknown_types_have_no_entity() -> Result<(), ContractError> {
        let event = WebhookEvent::from_value(json!({
            "id": "evt_2", "type": "invoice.paid", "data": {"id": 5, "type": "invoices"}
        }))?;
        assert_eq!(event.entity(), None);
        Ok(())
    }

    #[test]
    fn one_pass_parsing_reads_what_the_value_parse_reads() -> Result<(), ContractError> {
        let body = br#" {"id": "evt_3", "type": "appointment.updated", "occurred_at": 17,
            "extra": [1, 2], "data": {"type": "appointments", "id": "9",
            "attributes": {"status": "confirmed", "note": "a \"quoted\" word"}}}"#;
        let fast = WebhookEvent::from_slice(body)?;
        let value: Value = serde_json::from_slice(body)?;
        let slow = WebhookEvent::from_value(value)?;
        assert_eq!(
            (&fast.id, &fast.event_type, &fast.occurred_at),
            (&slow.id, &slow.event_type, &slow.occurred_at)
        );
        assert_eq!(
            fast.data.attributes.to_map(&fast.data.raw),
            slow.data.attributes.to_map(&slow.data.raw)
        );
        assert_eq!(
            fast.data.attribute("note").as_deref(),
            Some(&Value::from("a \"quoted\" word"))
        );
        assert_eq!(fast.data.attribute("missing"), None);
        assert_eq!(
            (&fast.data.id, &fast.data.kind),
            (&slow.data.id, &slow.data.kind)
        );
        // The raw text is the data member as sent, spaces and key order included.
        assert!(
            fast.data
                .raw
                .starts_with(r#"{"type": "appointments", "id": "9","#)
        );
        let reparsed: Value = serde_json::from_str(&fast.data.raw)?;
        assert_eq!(serde_json::to_string(&reparsed)?, slow.data.raw);
        Ok(())
    }

    #[test]
    fn one_pass_parsing_tells_bad_json_from_a_bad_shape() {
        let json_error =
            |body: &[u8]| matches!(WebhookEvent::from_slice(body), Err(ContractError::Json(_)));
        let shape = |body: &[u8]| match WebhookEvent::from_slice(body) {
            Err(ContractError::Shape { what, reason }) => format!("{what}: {reason}"),
            other => panic!("expected a shape error, got {other:?}"),
        };
        assert!(json_error(b"{\"id\": "));
        assert!(json_error(b"not json"));
        assert!(json_error(b"[1, 2"));
        // An array is valid JSON but no event, even one that lines up with the members.
        assert_eq!(
            shape(br#"["e", "appointment.updated", null, {"id": 1}]"#),
            "event: expected a JSON object"
        );
        assert_eq!(
            shape(br#"{"id": "e", "type": "x.y"}"#),
            "event: missing data"
        );
        assert_eq!(
            shape(br#"{"id": "", "type": "x.y", "data": {"id": 1}}"#),
            "event: missing id"
        );
        assert_eq!(
            shape(br#"{"id": {"a": 1}, "type": "x.y", "data": {"id": 1}}"#),
            "id: expected a string, found an object"
        );
        assert_eq!(
            shape(br#"{"id": "e", "type": "x.y", "data": [1]}"#),
            "data: expected a resource object"
        );
        assert!(
            shape(br#"{"id": "e", "id": "f", "type": "x.y", "data": {"id": 1}}"#)
                .contains("duplicate field")
        );
    }
}

//! The webhook event envelope: `{id, type, occurred_at, data}`.

use serde_json::Value;

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
    /// Parses an envelope from the request body.
    pub fn from_slice(bytes: &[u8]) -> Result<WebhookEvent, ContractError> {
        let value: Value = serde_json::from_slice(bytes)?;
        WebhookEvent::from_value(value)
    }

    /// Parses an envelope from a JSON value.
    pub fn from_value(value: Value) -> Result<WebhookEvent, ContractError> {
        let Value::Object(mut top) = value else {
            return Err(ContractError::shape("event", "expected a JSON object"));
        };
        let text = |top: &serde_json::Map<String, Value>, key: &str| match top.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            None | Some(Value::Null) => Ok(None),
            Some(other) => Err(ContractError::shape(
                key,
                format!("expected a string, found {}", kind_of(other)),
            )),
        };
        let id = text(&top, "id")?.ok_or_else(|| ContractError::shape("event", "missing id"))?;
        let event_type =
            text(&top, "type")?.ok_or_else(|| ContractError::shape("event", "missing type"))?;
        let occurred_at = text(&top, "occurred_at")?;
        let data = top
            .remove("data")
            .ok_or_else(|| ContractError::shape("event", "missing data"))?;
        let data = Resource::from_value(data, "data")?;
        Ok(WebhookEvent {
            id,
            event_type,
            occurred_at,
            data,
        })
    }

    /// The entity the event is about, from its type prefix or else the resource type.
    pub fn entity(&self) -> Option<Entity> {
        let prefix = self.event_type.split('.').next().unwrap_or_default();
        Entity::from_type(prefix).or_else(|| Entity::from_type(&self.data.kind))
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
}

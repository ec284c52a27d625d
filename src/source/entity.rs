//! The entities of a Coconut tenant and the names each one goes by.

use std::fmt;
use std::str::FromStr;

/// One kind of record coconut-lake lands, with its stable public names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    /// Pre-booked appointments.
    Appointments,
    /// Walk-in queue appointments.
    QueueAppointments,
    /// Clients (the people who book or walk in).
    Clients,
    /// Branches, each with its IANA time zone.
    Locations,
    /// Services that can be booked.
    Services,
    /// Staff members.
    Users,
    /// Booking shortcuts (pre-filled booking links).
    BookingShortcuts,
    /// Quickstream blocks (walk-in capacity windows).
    QuickstreamBlocks,
}

impl Entity {
    /// Every entity, in the order reports and listings use.
    pub const ALL: [Entity; 8] = [
        Entity::Appointments,
        Entity::QueueAppointments,
        Entity::Clients,
        Entity::Locations,
        Entity::Services,
        Entity::Users,
        Entity::BookingShortcuts,
        Entity::QuickstreamBlocks,
    ];

    /// The landing folder and view prefix, such as `queue_appointments`.
    pub fn name(self) -> &'static str {
        match self {
            Entity::Appointments => "appointments",
            Entity::QueueAppointments => "queue_appointments",
            Entity::Clients => "clients",
            Entity::Locations => "locations",
            Entity::Services => "services",
            Entity::Users => "users",
            Entity::BookingShortcuts => "booking_shortcuts",
            Entity::QuickstreamBlocks => "quickstream_blocks",
        }
    }

    /// The default admin API resource path, such as `queue-appointments`.
    pub fn resource(self) -> &'static str {
        match self {
            Entity::Appointments => "appointments",
            Entity::QueueAppointments => "queue-appointments",
            Entity::Clients => "clients",
            Entity::Locations => "locations",
            Entity::Services => "services",
            Entity::Users => "users",
            Entity::BookingShortcuts => "booking-shortcuts",
            Entity::QuickstreamBlocks => "quickstream-blocks",
        }
    }

    /// The prefix of webhook event types, such as `queue_appointment` in
    /// `queue_appointment.completed`.
    pub fn event_prefix(self) -> &'static str {
        match self {
            Entity::Appointments => "appointment",
            Entity::QueueAppointments => "queue_appointment",
            Entity::Clients => "client",
            Entity::Locations => "location",
            Entity::Services => "service",
            Entity::Users => "user",
            Entity::BookingShortcuts => "booking_shortcut",
            Entity::QuickstreamBlocks => "quickstream_block",
        }
    }

    /// Recognises a JSON:API `type` or an event prefix in any of the spellings Coconut
    /// uses: plural or singular, with dashes or underscores, any case.
    pub fn from_type(kind: &str) -> Option<Entity> {
        let normal = kind.trim().to_ascii_lowercase().replace('-', "_");
        Entity::ALL
            .into_iter()
            .find(|e| normal == e.name() || normal == e.event_prefix())
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name given is not one of the entities.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown entity: {0} (expected one of appointments, queue_appointments, clients, locations, services, users, booking_shortcuts, quickstream_blocks)"
)]
pub struct UnknownEntity(pub String);

impl FromStr for Entity {
    type Err = UnknownEntity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Entity::from_type(s).ok_or_else(|| UnknownEntity(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_resolves() {
        for e in Entity::ALL {
            assert_eq!(Entity::from_type(e.name()), Some(e));
            assert_eq!(Entity::from_type(e.resource()), Some(e));
            assert_eq!(Entity::from_type(e.event_prefix()), Some(e));
            assert_eq!(Entity::from_type(&e.resource().to_uppercase()), Some(e));
        }
        assert_eq!(Entity::from_type("invoices"), None);
    }
}

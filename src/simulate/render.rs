//! Writes a record as it stood at a given instant as a JSON:API resource, the shape both
//! the admin API pages and the webhook payloads carry.
//!
//! Ids are strings at the top level (as JSON:API requires) and numbers inside attributes;
//! lifecycle instants are RFC 3339 in UTC; appointment start and end carry the branch's
//! offset, except on every fifth appointment, which sends local wall-clock times plus its
//! `timezone` attribute, as the contract allows.

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;
use serde::Serialize;
use serde::ser::Serializer;

use super::generate::mix;
use super::tenant::{Tenant, Time, reached};
use super::vocabulary::{
    Answer, BOOKED_THROUGH, LANGS, MEETING_METHODS, WALK_IN_CHANNELS, answer, person,
};
use crate::source::Entity;

/// Appends record `index` of `entity` as it stood at `at` to `out`, as one JSON object.
pub fn resource(tenant: &Tenant, entity: Entity, index: usize, at: Time, out: &mut Vec<u8>) {
    let r = Renderer { tenant, at };
    let written = match entity {
        Entity::Appointments => r.appointment(index, out),
        Entity::QueueAppointments => r.walk_in(index, out),
        Entity::Clients => r.client(index, out),
        Entity::Locations => r.location(index, out),
        Entity::Services => r.service(index, out),
        Entity::Users => r.user(index, out),
        Entity::BookingShortcuts => r.shortcut(index, out),
        Entity::QuickstreamBlocks => r.block(index, out),
    };
    // Serialising plain structs into a Vec cannot fail.
    debug_assert!(written.is_ok());
}

type Written = serde_json::Result<()>;

struct Renderer<'a> {
    tenant: &'a Tenant,
    at: Time,
}

/// A JSON:API resource object.
#[derive(Serialize)]
struct Resource<'a, A, R> {
    id: Id,
    #[serde(rename = "type")]
    kind: &'a str,
    attributes: A,
    #[serde(skip_serializing_if = "Option::is_none")]
    relationships: Option<R>,
}

/// A top-level id, written as a JSON string.
#[derive(Clone, Copy)]
struct Id(u64);

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// An instant written as RFC 3339 in UTC.
#[derive(Clone, Copy)]
struct Utc(Time);

impl Serialize for Utc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut text = [0u8; 25];
        let n = write_time(&mut text, self.0, None);
        s.serialize_str(std::str::from_utf8(&text[..n]).unwrap_or_default())
    }
}

/// An instant written in a branch's zone, with its offset or as bare wall-clock time.
#[derive(Clone, Copy)]
struct Local {
    at: Time,
    zone: Tz,
    wall: bool,
}

impl Serialize for Local {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let utc = DateTime::from_timestamp(self.at, 0).unwrap_or_default();
        let offset = self.zone.offset_from_utc_datetime(&utc.naive_utc());
        let offset = i64::from(offset.fix().local_minus_utc());
        let mut text = [0u8; 25];
        let n = if self.wall {
            let n = write_time(&mut text, self.at + offset, None);
            text[10] = b' ';
            n - 1
        } else {
            write_time(&mut text, self.at + offset, Some(offset))
        };
        s.serialize_str(std::str::from_utf8(&text[..n]).unwrap_or_default())
    }
}

/// Writes `YYYY-MM-DDTHH:MM:SS` and then `Z` (no offset) or `+HH:MM`; returns the length.
/// Hand-rolled because pages format millions of instants and a format string is parsed on
/// every use.
fn write_time(out: &mut [u8; 25], at: Time, offset: Option<i64>) -> usize {
    let (days, seconds) = (at.div_euclid(86_400), at.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let digits = |out: &mut [u8; 25], at: usize, value: i64, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    digits(out, 0, year, 4);
    out[4] = b'-';
    digits(out, 5, month, 2);
    out[7] = b'-';
    digits(out, 8, day, 2);
    out[10] = b'T';
    digits(out, 11, seconds / 3_600, 2);
    out[13] = b':';
    digits(out, 14, seconds / 60 % 60, 2);
    out[16] = b':';
    digits(out, 17, seconds % 60, 2);
    match offset {
        None => {
            out[19] = b'Z';
            20
        }
        Some(offset) => {
            out[19] = if offset < 0 { b'-' } else { b'+' };
            let minutes = offset.abs() / 60;
            digits(out, 20, minutes / 60, 2);
            out[22] = b':';
            digits(out, 23, minutes % 60, 2);
            25
        }
    }
}

/// The (year, month, day) of a count of days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[derive(Serialize)]
struct Link {
    data: Ref,
}

#[derive(Serialize)]
struct Links {
    data: Vec<Ref>,
}

#[derive(Serialize)]
struct Ref {
    #[serde(rename = "type")]
    kind: &'static str,
    id: Id,
}

fn link(kind: &'static str, id: u64) -> Link {
    Link {
        data: Ref { kind, id: Id(id) },
    }
}

#[derive(Serialize)]
struct Attendee {
    client_id: u64,
    status: &'static str,
}

#[derive(Serialize)]
struct Answered {
    question_id: u64,
    value: Answer,
}

#[derive(Serialize)]
struct AppointmentAttributes<'a> {
    location_id: u64,
    service_id: u64,
    staff_id: Option<u64>,
    start: Local,
    end: Local,
    timezone: &'a str,
    status: &'static str,
    meeting_method: &'static str,
    booked_through: &'static str,
    booking_shortcut_id: Option<u64>,
    workflow_id: Option<u64>,
    created_at: Utc,
    updated_at: Utc,
    arrived_at: Option<Utc>,
    started_at: Option<Utc>,
    served_at: Option<Utc>,
    completed_at: Option<Utc>,
    cancelled_at: Option<Utc>,
    cancelled_by: Option<&'static str>,
    attendees: Vec<Attendee>,
    answers: Vec<Answered>,
}

#[derive(Serialize)]
struct EngagementLinks {
    location: Link,
    service: Link,
    #[serde(skip_serializing_if = "Option::is_none")]
    clients: Option<Links>,
}

#[derive(Serialize)]
struct WalkInAttributes {
    location_id: u64,
    service_id: u64,
    client_id: Option<u64>,
    preferred_staff_id: Option<u64>,
    staff_id: Option<u64>,
    status: &'static str,
    lang: &'static str,
    booked_through: &'static str,
    created_at: Utc,
    called_at: Option<Utc>,
    started_at: Option<Utc>,
    served_at: Option<Utc>,
    completed_at: Option<Utc>,
    cancelled_at: Option<Utc>,
    updated_at: Utc,
}

#[derive(Serialize)]
struct ClientAttributes {
    external_id: Option<String>,
    first_name: &'static str,
    last_name: &'static str,
    email: String,
    phone: String,
    cell_phone: Option<String>,
    lang: &'static str,
    receive_sms: bool,
    created_at: Utc,
    updated_at: Utc,
}

#[derive(Serialize)]
struct LocationAttributes<'a> {
    name: &'a str,
    timezone: &'a str,
    city: &'a str,
    region: &'a str,
    country: &'a str,
    hours: Vec<Option<String>>,
    created_at: Utc,
    updated_at: Utc,
}

#[derive(Serialize)]
struct ServiceAttributes<'a> {
    name: &'a str,
    duration: u32,
    questions: &'a [u64],
    created_at: Utc,
    updated_at: Utc,
}

#[derive(Serialize)]
struct UserAttributes {
    first_name: &'static str,
    last_name: &'static str,
    email: String,
    role: &'static str,
    location_id: u64,
    created_at: Utc,
    updated_at: Utc,
}

#[derive(Serialize)]
struct ShortcutAttributes {
    name: String,
    location_id: u64,
    service_id: u64,
    staff_id: Option<u64>,
    url: String,
    created_at: Utc,
    updated_at: Utc,
}

#[derive(Serialize)]
struct BlockAttributes {
    location_id: u64,
    start: Utc,
    end: Utc,
    limit: u32,
    services: Vec<u64>,
    created_at: Utc,
    updated_at: Utc,
}

/// No relationships.
type None_ = Option<()>;

impl Renderer<'_> {
    fn when(&self, instant: Option<Time>) -> Option<Utc> {
        instant.filter(|&t| t <= self.at).map(Utc)
    }

    fn updated(&self, entity: Entity, index: usize) -> Utc {
        let at = self.tenant.updated_at(entity, index, self.at);
        Utc(at.unwrap_or(self.at))
    }

    fn location_id(&self, index: u32) -> u64 {
        self.tenant.locations[index as usize].id
    }

    fn service_id(&self, index: u32) -> u64 {
        self.tenant.services[index as usize].id
    }

    fn user_id(&self, index: u32) -> u64 {
        self.tenant.users[index as usize].id
    }

    fn appointment(&self, index: usize, out: &mut Vec<u8>) -> Written {
        let a = &self.tenant.appointments[index];
        let location = &self.tenant.locations[a.location as usize];
        let service = &self.tenant.services[a.service as usize];
        let status = a.status_at(self.at);
        let (start, end) = a.slot_at(self.at);
        let wall = a.id.is_multiple_of(5);
        let attendees = a
            .clients
            .iter()
            .enumerate()
            .map(|(i, &client_id)| {
                let absent = i > 0 && a.absent_attendees & (1 << (i - 1)) != 0;
                let status = match status {
                    "completed" | "served" if absent => "no_show",
                    "completed" | "served" | "in_progress" | "arrived" => "attended",
                    "no_show" => "no_show",
                    "cancelled" => "cancelled",
                    _ => "confirmed",
                };
                Attendee { client_id, status }
            })
            .collect();
        let answers = service
            .questions
            .iter()
            .map(|&q| Answered {
                question_id: q,
                value: answer(q, mix(self.tenant.seed, a.id, q)),
            })
            .collect();
        let attributes = AppointmentAttributes {
            location_id: location.id,
            service_id: service.id,
            staff_id: a.staff.map(|s| self.user_id(s)),
            start: Local {
                at: start,
                zone: location.zone,
                wall,
            },
            end: Local {
                at: end,
                zone: location.zone,
                wall,
            },
            timezone: location.zone.name(),
            status,
            meeting_method: MEETING_METHODS[usize::from(a.meeting_method)],
            booked_through: BOOKED_THROUGH[usize::from(a.booked_through)],
            booking_shortcut_id: a.shortcut.map(|s| self.tenant.shortcuts[s as usize].id),
            workflow_id: service.workflow_id,
            created_at: Utc(a.created_at),
            updated_at: self.updated(Entity::Appointments, index),
            arrived_at: self.when(a.arrived_at),
            started_at: self.when(a.started_at),
            served_at: self.when(a.served_at),
            completed_at: self.when(a.completed_at),
            cancelled_at: self.when(a.cancelled_at),
            cancelled_by: a
                .cancelled_by
                .filter(|_| reached(a.cancelled_at, self.at))
                .map(|c| c.word()),
            attendees,
            answers,
        };
        let relationships = EngagementLinks {
            location: link("locations", location.id),
            service: link("services", service.id),
            clients: Some(Links {
                data: a
                    .clients
                    .iter()
                    .map(|&id| Ref {
                        kind: "clients",
                        id: Id(id),
                    })
                    .collect(),
            }),
        };
        write(out, a.id, "appointments", attributes, Some(relationships))
    }

    fn walk_in(&self, index: usize, out: &mut Vec<u8>) -> Written {
        let w = &self.tenant.walk_ins[index];
        let called = reached(w.called_at, self.at);
        let attributes = WalkInAttributes {
            location_id: self.location_id(w.location),
            service_id: self.service_id(w.service),
            client_id: w.client,
            preferred_staff_id: w.preferred_staff.map(|s| self.user_id(s)),
            staff_id: w.staff.filter(|_| called).map(|s| self.user_id(s)),
            status: w.status_at(self.at),
            lang: LANGS[usize::from(w.lang)],
            booked_through: WALK_IN_CHANNELS[usize::from(w.booked_through)],
            created_at: Utc(w.created_at),
            called_at: self.when(w.called_at),
            started_at: self.when(w.started_at),
            served_at: self.when(w.served_at),
            completed_at: self.when(w.completed_at),
            cancelled_at: self.when(w.cancelled_at),
            updated_at: self.updated(Entity::QueueAppointments, index),
        };
        let relationships = EngagementLinks {
            location: link("locations", self.location_id(w.location)),
            service: link("services", self.service_id(w.service)),
            clients: None,
        };
        write(
            out,
            w.id,
            "queue-appointments",
            attributes,
            Some(relationships),
        )
    }

    fn client(&self, index: usize, out: &mut Vec<u8>) -> Written {
        let c = &self.tenant.clients[index];
        let n = mix(self.tenant.seed, c.id, 7);
        let (first_name, last_name) = person(n);
        let attributes = ClientAttributes {
            external_id: c
                .has_external_id
                .then(|| format!("CU-{:08}", n % 100_000_000)),
            first_name,
            last_name,
            email: format!("client{}@example.com", c.id),
            phone: format!("+1-555-{:03}-{:04}", (n >> 20) % 1_000, (n >> 32) % 10_000),
            cell_phone: (n % 5 < 3)
                .then(|| format!("+1-555-{:03}-{:04}", (n >> 40) % 1_000, (n >> 8) % 10_000)),
            lang: LANGS[((n >> 12) % 10).min(2) as usize % 3],
            receive_sms: reached(c.sms_opt_in_at, self.at),
            created_at: Utc(c.created_at),
            updated_at: self.updated(Entity::Clients, index),
        };
        write(out, c.id, "clients", attributes, None_::None)
    }

    fn location(&self, index: usize, out: &mut Vec<u8>) -> Written {
        let l = &self.tenant.locations[index];
        let attributes = LocationAttributes {
            name: &l.name,
            timezone: l.zone.name(),
            city: l.city,
            region: l.region,
            country: l.country,
            hours: l
                .hours
                .iter()
                .map(|h| h.map(|(open, close)| format!("{open:02}:00-{close:02}:00")))
                .collect(),
            created_at: Utc(l.created_at),
            updated_at: Utc(l.created_at),
        };
        write(out, l.id, "locations", attributes, None_::None)
    }

    fn service(&self, index: usize, out: &mut Vec<u8>) -> Written {
        let s = &self.tenant.services[index];
        let attributes = ServiceAttributes {
            name: s.name,
            duration: s.duration,
            questions: s.questions,
            created_at: Utc(s.created_at),
            updated_at: Utc(s.created_at),
        };
        write(out, s.id, "services", attributes, None_::None)
    }

    fn user(&self, index: usize, out: &mut Vec<u8>) -> Written {
        let u = &self.tenant.users[index];
        let (first_name, last_name) = person(mix(self.tenant.seed, u.id, 11));
        let attributes = UserAttributes {
            first_name,
            last_name,
            email: format!("staff{}@example.com", u.id),
            role: u.role,
            location_id: self.location_id(u.location),
            created_at: Utc(u.created_at),
            updated_at: Utc(u.created_at),
        };
        write(out, u.id, "users", attributes, None_::None)
    }

    fn shortcut(&self, index: usize, out: &mut Vec<u8>) -> Written {
        let s = &self.tenant.shortcuts[index];
        let location = &self.tenant.locations[s.location as usize];
        let service = &self.tenant.services[s.service as usize];
        let attributes = ShortcutAttributes {
            name: format!("{} at {}", service.name, location.name),
            location_id: location.id,
            service_id: service.id,
            staff_id: s.staff.map(|u| self.user_id(u)),
            url: format!("https://book.example.com/s/{}", s.id),
            created_at: Utc(s.created_at),
            updated_at: Utc(s.created_at),
        };
        write(out, s.id, "booking-shortcuts", attributes, None_::None)
    }

    fn block(&self, index: usize, out: &mut Vec<u8>) -> Written {
        let b = &self.tenant.blocks[index];
        let attributes = BlockAttributes {
            location_id: self.location_id(b.location),
            start: Utc(b.start),
            end: Utc(b.end),
            limit: b.limit,
            services: b.services.iter().map(|&s| self.service_id(s)).collect(),
            created_at: Utc(b.created_at),
            updated_at: Utc(b.created_at),
        };
        write(out, b.id, "quickstream-blocks", attributes, None_::None)
    }
}

fn write<A: Serialize, R: Serialize>(
    out: &mut Vec<u8>,
    id: u64,
    kind: &str,
    attributes: A,
    relationships: Option<R>,
) -> Written {
    let resource = Resource {
        id: Id(id),
        kind,
        attributes,
        relationships,
    };
    serde_json::to_writer(out, &resource)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::generate::{TenantOptions, generate};
    use crate::source::Resource as Parsed;

    fn tenant() -> Tenant {
        generate(&TenantOptions {
            days: 3,
            appointments_per_day: 40,
            walk_ins_per_day: 30,
            ..TenantOptions::default()
        })
    }

    #[test]
    fn every_entity_renders_as_a_contract_resource() {
        let tenant = tenant();
        for entity in Entity::ALL {
            assert!(tenant.len(entity) > 0, "{entity} is empty");
            for index in 0..tenant.len(entity) {
                let mut out = Vec::new();
                resource(&tenant, entity, index, tenant.settled_at, &mut out);
                let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
                let parsed = Parsed::from_value(value, "data").unwrap();
                assert_eq!(Entity::from_type(&parsed.kind), Some(entity));
                assert_eq!(
                    parsed.numeric_id().unwrap() as u64,
                    tenant.id(entity, index)
                );
            }
        }
    }

    #[test]
    fn instants_format_like_chrono() {
        let zones = [
            chrono_tz::America::St_Johns,
            chrono_tz::Pacific::Auckland,
            chrono_tz::UTC,
        ];
        for at in (-86_400 * 800..86_400 * 40_000).step_by(86_400 * 7 + 3_607) {
            let utc = DateTime::from_timestamp(at, 0).unwrap();
            let text = serde_json::to_string(&Utc(at)).unwrap();
            assert_eq!(text, format!("\"{}\"", utc.format("%Y-%m-%dT%H:%M:%SZ")));
            for zone in zones {
                let local = utc.with_timezone(&zone);
                for wall in [false, true] {
                    let format = if wall {
                        "%Y-%m-%d %H:%M:%S"
                    } else {
                        "%Y-%m-%dT%H:%M:%S%:z"
                    };
                    let text = serde_json::to_string(&Local { at, zone, wall }).unwrap();
                    assert_eq!(text, format!("\"{}\"", local.format(format)));
                }
            }
        }
    }

    #[test]
    fn a_version_shows_only_what_had_happened() {
        let tenant = tenant();
        let index = tenant
            .appointments
            .iter()
            .position(|a| a.completed_at.is_some())
            .unwrap();
        let a = &tenant.appointments[index];
        let render = |at| {
            let mut out = Vec::new();
            resource(&tenant, Entity::Appointments, index, at, &mut out);
            serde_json::from_slice::<serde_json::Value>(&out).unwrap()["attributes"].clone()
        };
        let booked = render(a.created_at);
        assert_eq!(booked["status"], "confirmed");
        assert!(booked["completed_at"].is_null());
        let done = render(tenant.settled_at);
        assert_eq!(done["status"], "completed");
        assert!(done["completed_at"].is_string());
        assert_eq!(done["updated_at"], done["completed_at"]);
    }
}

//! The simulated tenant's records and the lifecycle of each one.
//!
//! A record stores the instant of every change it will ever go through; its state at any
//! moment (the API's answer, a webhook's payload) is derived from those instants, so one
//! record yields all its versions without storing them.

use chrono_tz::Tz;

use crate::source::Entity;

/// Seconds since the Unix epoch, UTC.
pub type Time = i64;

/// One change in a record's life: when it happened and the webhook action it is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// When the change happened, which is also the record's `updated_at` from then on.
    pub at: Time,
    /// The action part of the event type, such as `completed` in `appointment.completed`.
    pub action: &'static str,
}

/// A branch with its time zone and opening hours.
#[derive(Debug, Clone)]
pub struct Location {
    /// The location id.
    pub id: u64,
    /// The branch name.
    pub name: String,
    /// The branch's IANA time zone.
    pub zone: Tz,
    /// City, region and country.
    pub city: &'static str,
    /// Province or state.
    pub region: &'static str,
    /// ISO country code.
    pub country: &'static str,
    /// Opening hours per weekday, Monday first, as local (open, close) hours; `None` closed.
    pub hours: [Option<(u32, u32)>; 7],
    /// Relative size: how much of the tenant's traffic this branch sees.
    pub weight: f64,
    /// When the location was created.
    pub created_at: Time,
}

/// A bookable service.
#[derive(Debug, Clone)]
pub struct Service {
    /// The service id.
    pub id: u64,
    /// The service name.
    pub name: &'static str,
    /// Length of a booking, in minutes.
    pub duration: u32,
    /// The intake questions asked when booking it.
    pub questions: &'static [u64],
    /// The workflow that handles it, if any.
    pub workflow_id: Option<u64>,
    /// Relative popularity.
    pub weight: f64,
    /// When the service was created.
    pub created_at: Time,
}

/// A staff member, working at one location.
#[derive(Debug, Clone)]
pub struct User {
    /// The user id.
    pub id: u64,
    /// Index of the user's location in [`Tenant::locations`].
    pub location: u32,
    /// Staff role.
    pub role: &'static str,
    /// When the user was created.
    pub created_at: Time,
}

/// A pre-filled booking link for one location and service.
#[derive(Debug, Clone)]
pub struct BookingShortcut {
    /// The shortcut id.
    pub id: u64,
    /// Index of its location.
    pub location: u32,
    /// Index of its service.
    pub service: u32,
    /// Index of its staff member, if the link names one.
    pub staff: Option<u32>,
    /// When the shortcut was created.
    pub created_at: Time,
}

/// A window of walk-in capacity at a location.
#[derive(Debug, Clone)]
pub struct QuickstreamBlock {
    /// The block id.
    pub id: u64,
    /// Index of its location.
    pub location: u32,
    /// Start of the window.
    pub start: Time,
    /// End of the window.
    pub end: Time,
    /// How many walk-ins the window takes.
    pub limit: u32,
    /// Indexes of the services it serves.
    pub services: Vec<u32>,
    /// When the block was created.
    pub created_at: Time,
}

/// A person who books or walks in.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client id.
    pub id: u64,
    /// Whether the client carries an id from the institution's own system.
    pub has_external_id: bool,
    /// When the client was created.
    pub created_at: Time,
    /// When the client opted in to text messages, if they did after creation.
    pub sms_opt_in_at: Option<Time>,
}

/// How an appointment or walk-in was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelledBy {
    /// The client cancelled.
    Client,
    /// Staff cancelled.
    Staff,
}

impl CancelledBy {
    /// The `cancelled_by` word.
    pub fn word(self) -> &'static str {
        match self {
            CancelledBy::Client => "client",
            CancelledBy::Staff => "staff",
        }
    }
}

/// A pre-booked appointment and every change it goes through.
#[derive(Debug, Clone)]
pub struct Appointment {
    /// The appointment id.
    pub id: u64,
    /// Index of its location.
    pub location: u32,
    /// Index of its service.
    pub service: u32,
    /// Index of its staff member.
    pub staff: Option<u32>,
    /// Client ids of the attendees; the first booked it.
    pub clients: Vec<u64>,
    /// Booked start, before a reschedule moved it; equal to `start` otherwise.
    pub first_start: Time,
    /// When it was rescheduled to `start`, if it was.
    pub rescheduled_at: Option<Time>,
    /// Start after any reschedule.
    pub start: Time,
    /// End after any reschedule.
    pub end: Time,
    /// Index into the meeting method vocabulary.
    pub meeting_method: u8,
    /// Index into the booking channel vocabulary.
    pub booked_through: u8,
    /// Index of the booking shortcut used, if one was.
    pub shortcut: Option<u32>,
    /// When it was booked.
    pub created_at: Time,
    /// Lifecycle instants; `None` when the appointment never got there.
    pub arrived_at: Option<Time>,
    /// When service started.
    pub started_at: Option<Time>,
    /// When service ended.
    pub served_at: Option<Time>,
    /// When staff closed it, sometimes hours after it was served.
    pub completed_at: Option<Time>,
    /// When it was marked a no-show.
    pub no_show_at: Option<Time>,
    /// When it was cancelled.
    pub cancelled_at: Option<Time>,
    /// Who cancelled it.
    pub cancelled_by: Option<CancelledBy>,
    /// Bit i set when attendee i (after the first) did not attend a completed group visit.
    pub absent_attendees: u8,
}

impl Appointment {
    /// When the last change happens: the final `updated_at`.
    pub fn last_change(&self) -> Option<Time> {
        self.updated_at(Time::MAX)
    }

    /// Every change, in time order.
    pub fn changes(&self, out: &mut Vec<Change>) {
        push_steps(out, &self.steps());
    }

    /// The `updated_at` as of `at`: the last change by then, if it existed.
    pub fn updated_at(&self, at: Time) -> Option<Time> {
        latest(&self.steps(), at)
    }

    fn steps(&self) -> [(Option<Time>, &'static str); 8] {
        [
            (Some(self.created_at), "created"),
            (self.rescheduled_at, "updated"),
            (self.arrived_at, "arrived"),
            (self.started_at, "started"),
            (self.served_at, "served"),
            (self.completed_at, "completed"),
            (self.no_show_at, "no_show"),
            (self.cancelled_at, "cancelled"),
        ]
    }

    /// The status word at `at`.
    pub fn status_at(&self, at: Time) -> &'static str {
        if reached(self.cancelled_at, at) {
            "cancelled"
        } else if reached(self.no_show_at, at) {
            "no_show"
        } else if reached(self.completed_at, at) {
            "completed"
        } else if reached(self.served_at, at) {
            "served"
        } else if reached(self.started_at, at) {
            "in_progress"
        } else if reached(self.arrived_at, at) {
            "arrived"
        } else {
            "confirmed"
        }
    }

    /// Start and end as booked at `at`.
    pub fn slot_at(&self, at: Time) -> (Time, Time) {
        if self.rescheduled_at.is_some_and(|r| r > at) {
            (self.first_start, self.first_start + (self.end - self.start))
        } else {
            (self.start, self.end)
        }
    }
}

/// A walk-in (queue appointment) and every change it goes through.
#[derive(Debug, Clone)]
pub struct WalkIn {
    /// The queue appointment id.
    pub id: u64,
    /// Index of its location.
    pub location: u32,
    /// Index of its service.
    pub service: u32,
    /// Client id, when the visitor gave one.
    pub client: Option<u64>,
    /// Index of the staff member asked for, if any.
    pub preferred_staff: Option<u32>,
    /// Index of the staff member who called the visitor.
    pub staff: Option<u32>,
    /// Index into the language vocabulary.
    pub lang: u8,
    /// Index into the walk-in channel vocabulary.
    pub booked_through: u8,
    /// Check-in time.
    pub created_at: Time,
    /// When the visitor was called.
    pub called_at: Option<Time>,
    /// When service started.
    pub started_at: Option<Time>,
    /// When service ended.
    pub served_at: Option<Time>,
    /// When staff closed it.
    pub completed_at: Option<Time>,
    /// When the visitor left the queue on their own.
    pub cancelled_at: Option<Time>,
    /// When staff cleared it from the queue (at closing, for all left waiting).
    pub removed_at: Option<Time>,
    /// When a called visitor was marked absent.
    pub no_show_at: Option<Time>,
}

impl WalkIn {
    /// When the last change happens: the final `updated_at`.
    pub fn last_change(&self) -> Option<Time> {
        self.updated_at(Time::MAX)
    }

    /// Every change, in time order.
    pub fn changes(&self, out: &mut Vec<Change>) {
        push_steps(out, &self.steps());
    }

    /// The `updated_at` as of `at`: the last change by then, if it existed.
    pub fn updated_at(&self, at: Time) -> Option<Time> {
        latest(&self.steps(), at)
    }

    fn steps(&self) -> [(Option<Time>, &'static str); 8] {
        [
            (Some(self.created_at), "created"),
            (self.called_at, "called"),
            (self.started_at, "started"),
            (self.served_at, "served"),
            (self.completed_at, "completed"),
            (self.cancelled_at, "cancelled"),
            (self.removed_at, "removed"),
            (self.no_show_at, "no_show"),
        ]
    }

    /// The status word at `at`.
    pub fn status_at(&self, at: Time) -> &'static str {
        if reached(self.removed_at, at) {
            "removed"
        } else if reached(self.cancelled_at, at) {
            "cancelled"
        } else if reached(self.no_show_at, at) {
            "no_show"
        } else if reached(self.completed_at, at) {
            "completed"
        } else if reached(self.served_at, at) {
            "served"
        } else if reached(self.started_at, at) {
            "in_progress"
        } else if reached(self.called_at, at) {
            "called"
        } else {
            "waiting"
        }
    }
}

impl Client {
    /// When the last change happens: the final `updated_at`.
    pub fn last_change(&self) -> Option<Time> {
        self.updated_at(Time::MAX)
    }

    /// Every change, in time order.
    pub fn changes(&self, out: &mut Vec<Change>) {
        push_steps(out, &self.steps());
    }

    /// The `updated_at` as of `at`: the last change by then, if it existed.
    pub fn updated_at(&self, at: Time) -> Option<Time> {
        latest(&self.steps(), at)
    }

    fn steps(&self) -> [(Option<Time>, &'static str); 2] {
        [
            (Some(self.created_at), "created"),
            (self.sms_opt_in_at, "updated"),
        ]
    }
}

fn push_steps(out: &mut Vec<Change>, steps: &[(Option<Time>, &'static str)]) {
    out.clear();
    out.extend(
        steps
            .iter()
            .filter_map(|&(at, action)| at.map(|at| Change { at, action })),
    );
    // Stable, so a creation stays first even when a change shares its instant.
    out.sort_by_key(|c| c.at);
}

/// The last of the instants at or before `at`, if the first (creation) is.
fn latest(steps: &[(Option<Time>, &'static str)], at: Time) -> Option<Time> {
    steps.first().and_then(|s| s.0).filter(|&c| c <= at)?;
    steps.iter().filter_map(|s| s.0).filter(|&t| t <= at).max()
}

/// Whether an optional instant has happened by `at`.
pub fn reached(instant: Option<Time>, at: Time) -> bool {
    instant.is_some_and(|t| t <= at)
}

/// The whole simulated tenant: dimensions, clients and engagements.
#[derive(Debug, Clone, Default)]
pub struct Tenant {
    /// The seed the tenant was generated from; event ids derive from it.
    pub seed: u64,
    /// Branches.
    pub locations: Vec<Location>,
    /// Services.
    pub services: Vec<Service>,
    /// Staff.
    pub users: Vec<User>,
    /// Booking shortcuts.
    pub shortcuts: Vec<BookingShortcut>,
    /// Quickstream blocks.
    pub blocks: Vec<QuickstreamBlock>,
    /// Clients.
    pub clients: Vec<Client>,
    /// Appointments, in id order (which is booking order).
    pub appointments: Vec<Appointment>,
    /// Walk-ins, in id order (which is check-in order).
    pub walk_ins: Vec<WalkIn>,
    /// The instant after the last change of any record.
    pub settled_at: Time,
}

impl Tenant {
    /// How many records of an entity the tenant holds.
    pub fn len(&self, entity: Entity) -> usize {
        match entity {
            Entity::Appointments => self.appointments.len(),
            Entity::QueueAppointments => self.walk_ins.len(),
            Entity::Clients => self.clients.len(),
            Entity::Locations => self.locations.len(),
            Entity::Services => self.services.len(),
            Entity::Users => self.users.len(),
            Entity::BookingShortcuts => self.shortcuts.len(),
            Entity::QuickstreamBlocks => self.blocks.len(),
        }
    }

    /// Whether the tenant holds no records at all.
    pub fn is_empty(&self) -> bool {
        Entity::ALL.iter().all(|&e| self.len(e) == 0)
    }

    /// The id of record `index` of an entity.
    pub fn id(&self, entity: Entity, index: usize) -> u64 {
        match entity {
            Entity::Appointments => self.appointments[index].id,
            Entity::QueueAppointments => self.walk_ins[index].id,
            Entity::Clients => self.clients[index].id,
            Entity::Locations => self.locations[index].id,
            Entity::Services => self.services[index].id,
            Entity::Users => self.users[index].id,
            Entity::BookingShortcuts => self.shortcuts[index].id,
            Entity::QuickstreamBlocks => self.blocks[index].id,
        }
    }

    /// The index of the record with an id (records are kept in id order).
    pub fn index_of(&self, entity: Entity, id: u64) -> Option<usize> {
        let (mut low, mut high) = (0, self.len(entity));
        while low < high {
            let middle = low + (high - low) / 2;
            match self.id(entity, middle).cmp(&id) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(middle),
            }
        }
        None
    }

    /// Every change of record `index` of an entity, in time order, into `out`.
    pub fn changes(&self, entity: Entity, index: usize, out: &mut Vec<Change>) {
        let mut created = |at| {
            out.clear();
            out.push(Change {
                at,
                action: "created",
            });
        };
        match entity {
            Entity::Appointments => self.appointments[index].changes(out),
            Entity::QueueAppointments => self.walk_ins[index].changes(out),
            Entity::Clients => self.clients[index].changes(out),
            Entity::Locations => created(self.locations[index].created_at),
            Entity::Services => created(self.services[index].created_at),
            Entity::Users => created(self.users[index].created_at),
            Entity::BookingShortcuts => created(self.shortcuts[index].created_at),
            Entity::QuickstreamBlocks => created(self.blocks[index].created_at),
        }
    }

    /// Record `index`'s `updated_at` as of `at`, or `None` if it did not exist yet.
    pub fn updated_at(&self, entity: Entity, index: usize, at: Time) -> Option<Time> {
        let created = |t: Time| (t <= at).then_some(t);
        match entity {
            Entity::Appointments => self.appointments[index].updated_at(at),
            Entity::QueueAppointments => self.walk_ins[index].updated_at(at),
            Entity::Clients => self.clients[index].updated_at(at),
            Entity::Locations => created(self.locations[index].created_at),
            Entity::Services => created(self.services[index].created_at),
            Entity::Users => created(self.users[index].created_at),
            Entity::BookingShortcuts => created(self.shortcuts[index].created_at),
            Entity::QuickstreamBlocks => created(self.blocks[index].created_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit() -> Appointment {
        Appointment {
            id: 1,
            location: 0,
            service: 0,
            staff: Some(0),
            clients: vec![7],
            first_start: 1_000,
            rescheduled_at: Some(500),
            start: 2_000,
            end: 3_800,
            meeting_method: 0,
            booked_through: 0,
            shortcut: None,
            created_at: 100,
            arrived_at: Some(1_950),
            started_at: Some(2_010),
            served_at: Some(3_600),
            completed_at: Some(9_000),
            no_show_at: None,
            cancelled_at: None,
            cancelled_by: None,
            absent_attendees: 0,
        }
    }

    #[test]
    fn state_follows_the_changes() {
        let a = visit();
        assert_eq!(a.slot_at(400), (1_000, 2_800));
        assert_eq!(a.slot_at(500), (2_000, 3_800));
        assert_eq!(a.status_at(100), "confirmed");
        assert_eq!(a.status_at(2_000), "arrived");
        assert_eq!(a.status_at(3_600), "served");
        assert_eq!(a.status_at(9_000), "completed");
        let mut changes = Vec::new();
        a.changes(&mut changes);
        let actions: Vec<_> = changes.iter().map(|c| c.action).collect();
        assert_eq!(
            actions,
            [
                "created",
                "updated",
                "arrived",
                "started",
                "served",
                "completed"
            ]
        );
    }
}

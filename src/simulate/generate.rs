//! Builds a tenant from a seed: branches in several time zones, their staff and services,
//! clients, and the appointments and walk-ins of every business day with realistic outcomes.
//!
//! The same options and seed always give the same tenant, byte for byte. Each business day
//! of each branch draws from its own random stream, so the size of one part never shifts
//! the values of another.

use chrono::{Datelike, Duration, NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::tenant::{
    Appointment, BookingShortcut, CancelledBy, Client, Location, QuickstreamBlock, Service, Tenant,
    Time, User, WalkIn,
};
use super::vocabulary::{BOOKED_THROUGH, SERVICES, SHORTCUT_CHANNEL, ZONES};

/// How big a tenant to build and from which seed.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantOptions {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of branches.
    pub locations: u32,
    /// Number of services (at most the size of the built-in catalogue).
    pub services: u32,
    /// Number of staff, spread over the branches (at least one each).
    pub staff: u32,
    /// First business day.
    pub start: NaiveDate,
    /// Number of calendar days.
    pub days: u32,
    /// Appointments per calendar day, tenant-wide, on average.
    pub appointments_per_day: u64,
    /// Walk-ins per calendar day, tenant-wide, on average.
    pub walk_ins_per_day: u64,
    /// Number of clients; `None` picks one per three appointments (at least 50).
    pub clients: Option<u64>,
}

impl Default for TenantOptions {
    /// Six branches over five weeks from 2026-03-02, so the window crosses the North
    /// American (March 8), European (March 29) and New Zealand (April 5) clock changes.
    fn default() -> Self {
        TenantOptions {
            seed: 1,
            locations: 6,
            services: 8,
            staff: 30,
            start: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default(),
            days: 35,
            appointments_per_day: 300,
            walk_ins_per_day: 200,
            clients: None,
        }
    }
}

/// Share of appointments booked the same day.
const SAME_DAY: f64 = 0.12;
/// Share of appointments moved to another day after booking.
const RESCHEDULED: f64 = 0.09;
/// Share of appointments cancelled, and of those, the share cancelled by staff.
const CANCELLED: f64 = 0.14;
const CANCELLED_BY_STAFF: f64 = 0.25;
/// Share of client cancellations made within a day of the start.
const LATE_CANCEL: f64 = 0.3;
/// Share of kept appointments where nobody came.
const NO_SHOW: f64 = 0.065;
/// Share of visits closed hours after they were served.
const LATE_CLOSE: f64 = 0.12;
/// Share of appointments with more than one attendee.
const GROUP: f64 = 0.07;

/// Builds the tenant the options describe.
pub fn generate(options: &TenantOptions) -> Tenant {
    let mut tenant = Tenant {
        seed: options.seed,
        ..Tenant::default()
    };
    let window_start = midnight_utc(options.start, chrono_tz::UTC);
    let epoch = window_start - 90 * 86_400;

    tenant.locations = locations(options, epoch);
    tenant.services = services(options, epoch);
    tenant.users = users(options, epoch, &tenant.locations);
    tenant.shortcuts = shortcuts(options, epoch, &tenant);
    tenant.clients = clients(options, epoch, window_start);

    let days = Days::new(options, &tenant.locations);
    tenant.blocks = blocks(options, &days, &tenant.services);
    appointments(options, &days, &mut tenant);
    walk_ins(options, &days, &mut tenant);

    tenant.settled_at = settled_at(&tenant);
    tenant
}

/// A branch's business day: its local date, UTC offset at noon and opening hours.
#[derive(Debug, Clone, Copy)]
struct Day {
    location: u32,
    date: NaiveDate,
    /// UTC offset in seconds; clock changes happen at night, so it holds all day.
    offset: i64,
    open: u32,
    close: u32,
}

impl Day {
    /// The UTC instant of a local time on this day, in minutes after midnight.
    fn at(&self, minutes: i64) -> Time {
        midnight_utc(self.date, chrono_tz::UTC) + minutes * 60 - self.offset
    }
}

/// Every open branch-day of the window, with its share of the traffic.
struct Days {
    days: Vec<Day>,
    weights: Vec<f64>,
}

impl Days {
    fn new(options: &TenantOptions, locations: &[Location]) -> Days {
        const WEEKDAY_WEIGHT: [f64; 7] = [1.2, 1.0, 1.0, 1.1, 1.15, 0.6, 0.4];
        let mut days = Vec::new();
        let mut weights = Vec::new();
        for n in 0..options.days {
            let date = options.start + Duration::days(i64::from(n));
            let weekday = date.weekday().num_days_from_monday() as usize;
            for (index, location) in locations.iter().enumerate() {
                let Some((open, close)) = location.hours[weekday] else {
                    continue;
                };
                let offset = noon_offset(date, location.zone);
                days.push(Day {
                    location: index as u32,
                    date,
                    offset,
                    open,
                    close,
                });
                let hours = f64::from(close - open) / 8.0;
                weights.push(WEEKDAY_WEIGHT[weekday] * location.weight * hours);
            }
        }
        Days { days, weights }
    }
}

fn locations(options: &TenantOptions, epoch: Time) -> Vec<Location> {
    const BRANCHES: [&str; 5] = [
        "Main Street",
        "Downtown",
        "Westside",
        "Harbour",
        "Northgate",
    ];
    (0..options.locations.max(1))
        .map(|i| {
            let i = i as usize;
            let zone = &ZONES[i % ZONES.len()];
            let mut hours = [None; 7];
            for (weekday, slot) in hours.iter_mut().enumerate().take(5) {
                let late_thursday = weekday == 3 && i.is_multiple_of(2);
                *slot = Some((9, if late_thursday { 19 } else { 17 }));
            }
            if i % 3 != 2 {
                hours[5] = Some((9, 13));
            }
            if i % 4 == 3 {
                hours[6] = Some((11, 15));
            }
            Location {
                id: i as u64 + 1,
                name: format!(
                    "{} {}",
                    zone.city,
                    BRANCHES[(i / ZONES.len()) % BRANCHES.len()]
                ),
                zone: zone.zone,
                city: zone.city,
                region: zone.region,
                country: zone.country,
                hours,
                weight: 1.0 + (mix(options.seed, 1, i as u64) % 100) as f64 / 50.0,
                created_at: epoch + i as i64 * 3_600,
            }
        })
        .collect()
}

fn services(options: &TenantOptions, epoch: Time) -> Vec<Service> {
    let count = (options.services.max(1) as usize).min(SERVICES.len());
    SERVICES[..count]
        .iter()
        .enumerate()
        .map(|(i, s)| Service {
            id: 101 + i as u64,
            name: s.name,
            duration: s.minutes,
            questions: s.questions,
            workflow_id: s.workflow.then_some(900 + i as u64),
            weight: s.weight,
            created_at: epoch + 86_400 + i as i64 * 60,
        })
        .collect()
}

fn users(options: &TenantOptions, epoch: Time, locations: &[Location]) -> Vec<User> {
    let count = options.staff.max(locations.len() as u32);
    (0..count)
        .map(|i| {
            let location = i % locations.len() as u32;
            let first_at_branch = i < locations.len() as u32;
            let role = match (first_at_branch, i % 3) {
                (true, _) => "manager",
                (false, 0) => "teller",
                _ => "advisor",
            };
            User {
                id: 1_001 + u64::from(i),
                location,
                role,
                created_at: epoch + 2 * 86_400 + i64::from(i) * 60,
            }
        })
        .collect()
}

fn shortcuts(options: &TenantOptions, epoch: Time, tenant: &Tenant) -> Vec<BookingShortcut> {
    let mut rng = stream(options.seed, 2, 0);
    let count = tenant.locations.len() * 2;
    (0..count)
        .map(|i| {
            let location = (i % tenant.locations.len()) as u32;
            let staff = staff_at(&tenant.users, location);
            BookingShortcut {
                id: 301 + i as u64,
                location,
                service: rng.random_range(0..tenant.services.len() as u32),
                staff: rng
                    .random_bool(0.4)
                    .then(|| staff[rng.random_range(0..staff.len())]),
                created_at: epoch + 3 * 86_400 + i as i64 * 60,
            }
        })
        .collect()
}

fn clients(options: &TenantOptions, epoch: Time, window_start: Time) -> Vec<Client> {
    let expected = options.appointments_per_day * u64::from(options.days);
    let count = options.clients.unwrap_or((expected / 3).max(50)).max(1);
    let mut rng = stream(options.seed, 3, 0);
    let window_end = window_start + i64::from(options.days) * 86_400;
    (0..count)
        .map(|i| {
            // Most clients exist before the window; the rest are created when they first
            // book or walk in (the generator moves `created_at` back to that moment).
            let created_at = if rng.random_bool(0.85) {
                rng.random_range(epoch - 2 * 365 * 86_400..window_start)
            } else {
                window_end
            };
            let sms_opt_in_at = rng
                .random_bool(0.25)
                .then(|| rng.random_range(window_start..window_end));
            Client {
                id: 20_001 + i,
                has_external_id: rng.random_bool(0.8),
                created_at,
                sms_opt_in_at,
            }
        })
        .collect()
}

fn blocks(options: &TenantOptions, days: &Days, services: &[Service]) -> Vec<QuickstreamBlock> {
    let mut blocks = Vec::new();
    for (n, day) in days.days.iter().enumerate() {
        let mut rng = stream(options.seed, 4, n as u64);
        let windows = [(day.open, (day.open + 3).min(day.close)), (13, day.close)];
        for (open, close) in windows {
            if close <= open || (open == 13 && day.close <= 13) {
                continue;
            }
            let picked: Vec<u32> = (0..services.len() as u32)
                .filter(|_| rng.random_bool(0.5))
                .collect();
            let start = day.at(i64::from(open) * 60);
            blocks.push(QuickstreamBlock {
                id: 0,
                location: day.location,
                start,
                end: day.at(i64::from(close) * 60),
                limit: rng.random_range(8..=20),
                services: if picked.is_empty() { vec![0] } else { picked },
                created_at: start - 7 * 86_400 - rng.random_range(0..3_600),
            });
        }
    }
    blocks.sort_by_key(|b| (b.created_at, b.location, b.start));
    for (i, block) in blocks.iter_mut().enumerate() {
        block.id = 700_001 + i as u64;
    }
    blocks
}

fn appointments(options: &TenantOptions, days: &Days, tenant: &mut Tenant) {
    const HOUR_WEIGHT: [f64; 24] = [
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.3, 1.3, 0.9, 1.0, 1.2, 1.1, 0.9, 0.7,
        0.6, 0.5, 0.0, 0.0, 0.0, 0.0,
    ];
    let total = options.appointments_per_day * u64::from(options.days);
    let counts = allocate(total, &days.weights);
    let service_pick = Weighted::new(tenant.services.iter().map(|s| s.weight));
    let method_pick = Weighted::new([0.76, 0.15, 0.09]);
    let channel_pick = Weighted::new([0.55, 0.30, 0.10, 0.05]);
    let mut out = Vec::with_capacity(total as usize);

    for (n, (day, &count)) in days.days.iter().zip(&counts).enumerate() {
        let mut rng = stream(options.seed, 5, n as u64);
        let hours = Weighted::new((0..24).map(|h| {
            let open = (day.open..day.close).contains(&h);
            if open { HOUR_WEIGHT[h as usize] } else { 0.0 }
        }));
        let staff = staff_at(&tenant.users, day.location);
        let branch_shortcuts: Vec<u32> = (0..tenant.shortcuts.len() as u32)
            .filter(|&s| tenant.shortcuts[s as usize].location == day.location)
            .collect();
        for _ in 0..count {
            let service = service_pick.pick(&mut rng) as u32;
            let minutes = i64::from(tenant.services[service as usize].duration);
            let hour = hours.pick(&mut rng) as i64;
            let mut local = hour * 60 + 15 * rng.random_range(0..4);
            local = local.min(i64::from(day.close) * 60 - minutes);
            let start = day.at(local);
            let mut booked_through = channel_pick.pick(&mut rng) as u8;
            let mut shortcut = None;
            if usize::from(booked_through) == SHORTCUT_CHANNEL {
                if branch_shortcuts.is_empty() {
                    booked_through = 0;
                } else {
                    shortcut = Some(branch_shortcuts[rng.random_range(0..branch_shortcuts.len())]);
                }
            }
            let mut appointment = Appointment {
                id: 0,
                location: day.location,
                service,
                staff: Some(staff[rng.random_range(0..staff.len())]),
                clients: Vec::new(),
                first_start: start,
                rescheduled_at: None,
                start,
                end: start + minutes * 60,
                meeting_method: method_pick.pick(&mut rng) as u8,
                booked_through,
                shortcut,
                created_at: 0,
                arrived_at: None,
                started_at: None,
                served_at: None,
                completed_at: None,
                no_show_at: None,
                cancelled_at: None,
                cancelled_by: None,
                absent_attendees: 0,
            };
            book(&mut appointment, &mut rng, tenant);
            reschedule(&mut appointment, &mut rng, tenant);
            outcome(&mut appointment, &mut rng, day);
            out.push(appointment);
        }
    }
    debug_assert!(BOOKED_THROUGH.len() == 4);
    out.sort_by_key(|a| (a.created_at, a.location, a.start));
    for (i, appointment) in out.iter_mut().enumerate() {
        appointment.id = 100_001 + i as u64;
    }
    tenant.appointments = out;
}

/// Picks the lead time and the attendees.
fn book(a: &mut Appointment, rng: &mut StdRng, tenant: &mut Tenant) {
    let lead = if rng.random_bool(SAME_DAY) {
        rng.random_range(20 * 60..5 * 3_600)
    } else {
        let days = lognormal(rng, 5.0, 0.9).clamp(1.0, 60.0);
        (days * 86_400.0) as i64 + rng.random_range(0..3_600)
    };
    a.created_at = a.start - lead;
    let attendees = if rng.random_bool(GROUP) {
        rng.random_range(2..=4)
    } else {
        1
    };
    for _ in 0..attendees {
        let client = rng.random_range(0..tenant.clients.len());
        a.clients.push(tenant.clients[client].id);
        met(&mut tenant.clients[client], a.created_at);
    }
}

/// A client first seen at `at` must exist by then.
fn met(client: &mut Client, at: Time) {
    if client.created_at > at {
        client.created_at = at - 600;
    }
    if client.sms_opt_in_at.is_some_and(|t| t <= client.created_at) {
        client.sms_opt_in_at = Some(client.created_at + 86_400);
    }
}

/// Moves some bookings: `first_start` is where the appointment was first booked.
fn reschedule(a: &mut Appointment, rng: &mut StdRng, tenant: &Tenant) {
    if !rng.random_bool(RESCHEDULED) {
        return;
    }
    let shift = rng.random_range(1..=7) * if rng.random_bool(0.5) { 1 } else { -1 };
    let zone = tenant.locations[a.location as usize].zone;
    let local = local_date(a.start, zone);
    let other = local + Duration::days(shift);
    let first_start =
        a.start + shift * 86_400 + noon_offset(local, zone) - noon_offset(other, zone);
    let latest = first_start.min(a.start) - 3_600;
    if latest <= a.created_at + 600 {
        return;
    }
    a.first_start = first_start;
    a.rescheduled_at = Some(rng.random_range(a.created_at + 600..latest));
}

/// Decides how the appointment ends and when each step happened.
fn outcome(a: &mut Appointment, rng: &mut StdRng, day: &Day) {
    let booked = a.rescheduled_at.unwrap_or(a.created_at);
    if rng.random_bool(CANCELLED) {
        let by_staff = rng.random_bool(CANCELLED_BY_STAFF);
        let late = !by_staff && rng.random_bool(LATE_CANCEL);
        let (from, to) = if late {
            ((a.start - 23 * 3_600).max(booked + 60), a.start - 30 * 60)
        } else {
            (booked + 60, (a.start - 25 * 3_600).max(booked + 120))
        };
        a.cancelled_at = Some(if to > from {
            rng.random_range(from..to)
        } else {
            booked + 60
        });
        a.cancelled_by = Some(if by_staff {
            CancelledBy::Staff
        } else {
            CancelledBy::Client
        });
        return;
    }
    if rng.random_bool(NO_SHOW) {
        // Most no-shows are marked by the nightly job at 23:00, all at the same instant.
        a.no_show_at = Some(if rng.random_bool(0.6) {
            day.at(23 * 60)
        } else {
            a.start + rng.random_range(20 * 60..60 * 60)
        });
        return;
    }
    let early = if rng.random_bool(0.8) {
        rng.random_range(0..15 * 60)
    } else {
        -rng.random_range(0..10 * 60)
    };
    let arrived = a.start - early;
    let wait = (lognormal(rng, 180.0, 0.8) as i64).min(45 * 60);
    let started = arrived.max(a.start) + wait;
    let planned = (a.end - a.start) as f64;
    let handle = (planned * lognormal(rng, 1.0, 0.35)).clamp(120.0, 3.0 * planned) as i64;
    let served = started + handle;
    // Visits left open are closed hours later: half by the nightly job at 23:00 (all at
    // one instant), half by staff the next day.
    let closed = if rng.random_bool(LATE_CLOSE) {
        if rng.random_bool(0.5) {
            day.at(23 * 60).max(served + 60)
        } else {
            served + rng.random_range(2 * 3_600..30 * 3_600)
        }
    } else {
        served + rng.random_range(0..300)
    };
    a.arrived_at = Some(arrived);
    a.started_at = Some(started);
    a.served_at = Some(served);
    a.completed_at = Some(closed);
    for i in 1..a.clients.len() {
        if rng.random_bool(0.15) {
            a.absent_attendees |= 1 << (i - 1);
        }
    }
}

fn walk_ins(options: &TenantOptions, days: &Days, tenant: &mut Tenant) {
    const HOUR_WEIGHT: [f64; 24] = [
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.8, 1.0, 1.1, 1.6, 1.5, 1.0, 0.9, 1.3, 1.2,
        0.8, 0.6, 0.0, 0.0, 0.0, 0.0,
    ];
    let total = options.walk_ins_per_day * u64::from(options.days);
    let counts = allocate(total, &days.weights);
    // Short services dominate the queue.
    let service_pick = Weighted::new(
        tenant
            .services
            .iter()
            .map(|s| s.weight * 60.0 / f64::from(s.duration)),
    );
    let lang_pick = Weighted::new([0.75, 0.2, 0.05]);
    let channel_pick = Weighted::new([0.5, 0.3, 0.2]);
    let mut out = Vec::with_capacity(total as usize);

    for (n, (day, &count)) in days.days.iter().zip(&counts).enumerate() {
        let mut rng = stream(options.seed, 6, n as u64);
        let hours = Weighted::new((0..24).map(|h| {
            let open = (day.open..day.close).contains(&h);
            if open { HOUR_WEIGHT[h as usize] } else { 0.0 }
        }));
        let staff = staff_at(&tenant.users, day.location);
        let last_check_in = i64::from(day.close) * 60 - 15;
        let cleared = day.at(i64::from(day.close) * 60 + 30);
        for _ in 0..count {
            let local =
                (hours.pick(&mut rng) as i64 * 60 + rng.random_range(0..60)).min(last_check_in);
            let created_at = day.at(local) + rng.random_range(0..60);
            let service = service_pick.pick(&mut rng) as u32;
            let preferred_staff = rng
                .random_bool(0.15)
                .then(|| staff[rng.random_range(0..staff.len())]);
            let client = rng.random_bool(0.7).then(|| {
                let index = rng.random_range(0..tenant.clients.len());
                met(&mut tenant.clients[index], created_at);
                tenant.clients[index].id
            });
            let mut visit = WalkIn {
                id: 0,
                location: day.location,
                service,
                client,
                preferred_staff,
                staff: None,
                lang: lang_pick.pick(&mut rng) as u8,
                booked_through: channel_pick.pick(&mut rng) as u8,
                created_at,
                called_at: None,
                started_at: None,
                served_at: None,
                completed_at: None,
                cancelled_at: None,
                removed_at: None,
                no_show_at: None,
            };
            let minutes = tenant.services[service as usize].duration;
            queue(&mut visit, &mut rng, &staff, minutes, cleared);
            out.push(visit);
        }
    }
    out.sort_by_key(|w| (w.created_at, w.location));
    for (i, visit) in out.iter_mut().enumerate() {
        visit.id = 5_000_001 + i as u64;
    }
    tenant.walk_ins = out;
}

/// Waits are heavy-tailed; the longer the wait, the likelier the visitor gives up.
fn queue(w: &mut WalkIn, rng: &mut StdRng, staff: &[u32], minutes: u32, cleared: Time) {
    let mut wait = lognormal(rng, 540.0, 0.9);
    if rng.random_bool(0.03) {
        wait *= 3.0;
    }
    let wait = wait as i64 + 30;
    let give_up = 0.02 + 0.25 * (1.0 - (-(wait as f64) / 2_400.0).exp());
    if rng.random_bool(give_up) {
        let how = rng.random::<f64>();
        if how < 0.55 {
            let left = (wait as f64 * rng.random_range(0.3..1.0)) as i64;
            w.cancelled_at = Some(w.created_at + left.max(60));
        } else if how < 0.8 {
            let called = w.created_at + wait;
            w.called_at = Some(called);
            w.staff = Some(caller(w, rng, staff));
            w.no_show_at = Some(called + rng.random_range(180..480));
        } else {
            // Still waiting at closing: staff clear the queue, all in one action.
            w.removed_at = Some(cleared.max(w.created_at + 60));
        }
        return;
    }
    let called = w.created_at + wait;
    let started = called + rng.random_range(30..180);
    let handle = (lognormal(rng, f64::from(minutes) * 30.0, 0.6) as i64).max(60);
    let served = started + handle;
    w.staff = Some(caller(w, rng, staff));
    w.called_at = Some(called);
    w.started_at = Some(started);
    w.served_at = Some(served);
    // Some visits stay open: half are closed in the queue clear-out after closing (one
    // instant for the whole branch), half by staff hours later.
    w.completed_at = Some(if rng.random_bool(0.1) {
        if rng.random_bool(0.5) {
            cleared.max(served + 60)
        } else {
            served + rng.random_range(3_600..20 * 3_600)
        }
    } else {
        served + rng.random_range(0..120)
    });
}

fn caller(w: &WalkIn, rng: &mut StdRng, staff: &[u32]) -> u32 {
    match w.preferred_staff {
        Some(preferred) if rng.random_bool(0.8) => preferred,
        _ => staff[rng.random_range(0..staff.len())],
    }
}

fn settled_at(tenant: &Tenant) -> Time {
    let mut last = 0;
    let mut changes = Vec::new();
    for entity in crate::source::Entity::ALL {
        for i in 0..tenant.len(entity) {
            tenant.changes(entity, i, &mut changes);
            if let Some(change) = changes.last() {
                last = last.max(change.at);
            }
        }
    }
    last + 1
}

/// Indexes of the staff working at a location (never empty: every branch has a manager).
fn staff_at(users: &[User], location: u32) -> Vec<u32> {
    let staff: Vec<u32> = (0..users.len() as u32)
        .filter(|&u| users[u as usize].location == location)
        .collect();
    if staff.is_empty() { vec![0] } else { staff }
}

/// Splits `total` over cells in proportion to their weights, exactly (largest remainder).
fn allocate(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| w / sum * total as f64).collect();
    let mut counts: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let short = total.saturating_sub(counts.iter().sum());
    for &i in order.iter().cycle().take(short as usize) {
        counts[i] += 1;
    }
    counts
}

/// Cumulative weights for drawing an index.
struct Weighted(Vec<f64>);

impl Weighted {
    fn new(weights: impl IntoIterator<Item = f64>) -> Weighted {
        let mut sum = 0.0;
        Weighted(
            weights
                .into_iter()
                .map(|w| {
                    sum += w.max(0.0);
                    sum
                })
                .collect(),
        )
    }

    fn pick(&self, rng: &mut StdRng) -> usize {
        let total = self.0.last().copied().unwrap_or(0.0);
        let x = rng.random::<f64>() * total;
        self.0
            .partition_point(|&c| c <= x)
            .min(self.0.len().saturating_sub(1))
    }
}

/// A log-normal draw with the given median.
fn lognormal(rng: &mut StdRng, median: f64, sigma: f64) -> f64 {
    let (u, v) = (
        rng.random::<f64>().max(f64::MIN_POSITIVE),
        rng.random::<f64>(),
    );
    let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
    median * (sigma * z).exp()
}

/// The random stream of one part (`phase`) of one cell of the tenant.
fn stream(seed: u64, phase: u64, cell: u64) -> StdRng {
    StdRng::seed_from_u64(mix(seed, phase, cell))
}

/// A 64-bit hash of three numbers (SplitMix64 finaliser over their combination).
pub fn mix(a: u64, b: u64, c: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(c.wrapping_mul(0x94D0_49BB_1331_11EB))
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The UTC offset of a zone at local noon of a date, in seconds.
fn noon_offset(date: NaiveDate, zone: Tz) -> i64 {
    let noon = date.and_hms_opt(12, 0, 0).unwrap_or_default();
    let offset = zone
        .offset_from_local_datetime(&noon)
        .earliest()
        .map(|o| o.fix());
    offset.map_or(0, |o| i64::from(o.local_minus_utc()))
}

fn midnight_utc(date: NaiveDate, zone: Tz) -> Time {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    zone.from_local_datetime(&midnight)
        .earliest()
        .map_or(0, |t| t.timestamp())
}

/// The local calendar date of an instant in a zone.
pub fn local_date(at: Time, zone: Tz) -> NaiveDate {
    chrono::DateTime::from_timestamp(at, 0)
        .unwrap_or_default()
        .with_timezone(&zone)
        .date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> TenantOptions {
        TenantOptions {
            appointments_per_day: 120,
            walk_ins_per_day: 80,
            ..TenantOptions::default()
        }
    }

    #[test]
    fn allocation_is_exact() {
        let counts = allocate(1_000, &[1.0, 2.0, 0.5, 0.0, 3.3]);
        assert_eq!(counts.iter().sum::<u64>(), 1_000);
        assert_eq!(counts[3], 0);
        assert!(counts[4] > counts[1] && counts[1] > counts[0] && counts[0] > counts[2]);
    }

    #[test]
    fn sizes_and_rates_are_plausible() {
        let options = small();
        let tenant = generate(&options);
        assert_eq!(tenant.appointments.len() as u64, 120 * 35);
        assert_eq!(tenant.walk_ins.len() as u64, 80 * 35);
        let share = |f: &dyn Fn(&Appointment) -> bool| {
            tenant.appointments.iter().filter(|a| f(a)).count() as f64 / 4_200.0
        };
        let cancelled = share(&|a| a.cancelled_at.is_some());
        let no_show = share(&|a| a.no_show_at.is_some());
        let moved = share(&|a| a.rescheduled_at.is_some());
        let groups = share(&|a| a.clients.len() > 1);
        assert!((0.11..0.17).contains(&cancelled), "cancelled {cancelled}");
        assert!((0.03..0.09).contains(&no_show), "no-show {no_show}");
        assert!((0.05..0.12).contains(&moved), "rescheduled {moved}");
        assert!((0.04..0.10).contains(&groups), "groups {groups}");
        let abandoned = tenant
            .walk_ins
            .iter()
            .filter(|w| w.served_at.is_none())
            .count();
        let abandoned = abandoned as f64 / 2_800.0;
        assert!((0.05..0.3).contains(&abandoned), "abandoned {abandoned}");
    }

    #[test]
    fn every_record_is_consistent() {
        let tenant = generate(&small());
        for a in &tenant.appointments {
            assert!(a.created_at < a.start, "booked after start: {a:?}");
            assert!(
                a.rescheduled_at
                    .is_none_or(|r| r > a.created_at && r < a.start)
            );
            let ended = [a.completed_at, a.no_show_at, a.cancelled_at];
            assert_eq!(ended.iter().flatten().count(), 1, "one outcome: {a:?}");
            for id in &a.clients {
                let client = &tenant.clients[(id - 20_001) as usize];
                assert!(client.created_at <= a.created_at);
            }
        }
        for w in &tenant.walk_ins {
            let ends = [w.completed_at, w.cancelled_at, w.removed_at, w.no_show_at];
            assert_eq!(ends.iter().flatten().count(), 1, "one outcome: {w:?}");
            assert!(w.called_at.is_none_or(|c| c > w.created_at));
        }
        let ids: Vec<u64> = tenant.appointments.iter().map(|a| a.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn business_hours_hold_in_local_time_across_clock_changes() {
        let tenant = generate(&small());
        for a in &tenant.appointments {
            let zone = tenant.locations[a.location as usize].zone;
            let local = chrono::DateTime::from_timestamp(a.start, 0)
                .unwrap()
                .with_timezone(&zone);
            let hour = chrono::Timelike::hour(&local);
            assert!((9..19).contains(&hour), "{local} outside opening hours");
        }
        let zones: std::collections::BTreeSet<_> =
            tenant.locations.iter().map(|l| l.zone.name()).collect();
        assert!(zones.len() >= 5);
    }

    #[test]
    fn the_same_seed_gives_the_same_tenant() {
        let a = generate(&small());
        let b = generate(&small());
        assert_eq!(
            format!("{:?}", a.appointments),
            format!("{:?}", b.appointments)
        );
        assert_eq!(format!("{:?}", a.walk_ins), format!("{:?}", b.walk_ins));
        let c = generate(&TenantOptions { seed: 2, ..small() });
        assert_ne!(
            format!("{:?}", a.appointments),
            format!("{:?}", c.appointments)
        );
    }
}

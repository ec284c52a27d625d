//! The fixed catalogues the simulated tenant draws from: zones, services, channels, names
//! and intake questions.

use chrono_tz::Tz;

/// A branch city and its time zone.
pub struct Zone {
    /// IANA zone.
    pub zone: Tz,
    /// City name.
    pub city: &'static str,
    /// Province or state code.
    pub region: &'static str,
    /// ISO country code.
    pub country: &'static str,
}

/// Branch zones, in the order branches take them: DST in both hemispheres, a zone without
/// DST (Regina) and one with a half-hour offset (St. John's).
pub static ZONES: [Zone; 10] = [
    zone(chrono_tz::America::Toronto, "Toronto", "ON", "CA"),
    zone(chrono_tz::America::Vancouver, "Vancouver", "BC", "CA"),
    zone(chrono_tz::Europe::London, "London", "ENG", "GB"),
    zone(chrono_tz::America::Regina, "Regina", "SK", "CA"),
    zone(chrono_tz::America::St_Johns, "St. John's", "NL", "CA"),
    zone(chrono_tz::Pacific::Auckland, "Auckland", "AUK", "NZ"),
    zone(chrono_tz::America::Halifax, "Halifax", "NS", "CA"),
    zone(chrono_tz::America::Chicago, "Chicago", "IL", "US"),
    zone(chrono_tz::America::Edmonton, "Calgary", "AB", "CA"),
    zone(chrono_tz::America::Winnipeg, "Winnipeg", "MB", "CA"),
];

const fn zone(zone: Tz, city: &'static str, region: &'static str, country: &'static str) -> Zone {
    Zone {
        zone,
        city,
        region,
        country,
    }
}

/// A service of the catalogue.
pub struct ServiceKind {
    /// Display name.
    pub name: &'static str,
    /// Booking length in minutes.
    pub minutes: u32,
    /// Intake question ids asked when booking it.
    pub questions: &'static [u64],
    /// Whether a workflow handles it.
    pub workflow: bool,
    /// Relative popularity.
    pub weight: f64,
}

/// The service catalogue, most common first.
pub static SERVICES: [ServiceKind; 10] = [
    service("Account opening", 45, &[1, 2], true, 3.0),
    service("Mortgage consultation", 60, &[1, 3], true, 2.0),
    service("Credit card inquiry", 30, &[], false, 2.0),
    service("Loan application", 60, &[3], true, 1.5),
    service("Investment review", 45, &[1], false, 1.2),
    service("Foreign exchange", 15, &[], false, 1.0),
    service("Fraud and disputes", 30, &[2], false, 0.8),
    service("Business banking", 60, &[1, 2, 3], true, 0.7),
    service("Notary services", 15, &[], false, 0.4),
    service("Financial planning", 60, &[2], false, 0.6),
];

const fn service(
    name: &'static str,
    minutes: u32,
    questions: &'static [u64],
    workflow: bool,
    weight: f64,
) -> ServiceKind {
    ServiceKind {
        name,
        minutes,
        questions,
        workflow,
        weight,
    }
}

/// `meeting_method` words.
pub static MEETING_METHODS: [&str; 3] = ["in_person", "phone", "video"];

/// `booked_through` words of appointments.
pub static BOOKED_THROUGH: [&str; 4] = ["client_booking", "staff", "booking_shortcut", "api"];

/// The index of the booking shortcut channel in [`BOOKED_THROUGH`].
pub const SHORTCUT_CHANNEL: usize = 2;

/// `booked_through` words of walk-ins.
pub static WALK_IN_CHANNELS: [&str; 3] = ["kiosk", "online", "staff"];

/// Client languages.
pub static LANGS: [&str; 3] = ["en", "fr", "es"];

static FIRST_NAMES: [&str; 16] = [
    "Amelia", "Liam", "Olivia", "Noah", "Chloé", "Mateo", "Aanya", "Wei", "Fatima", "Lucas",
    "Sofia", "Ethan", "Maya", "Oliver", "Zoë", "Arjun",
];

static LAST_NAMES: [&str; 16] = [
    "Tremblay",
    "Smith",
    "Nguyen",
    "Gagnon",
    "Singh",
    "Brown",
    "Roy",
    "Wilson",
    "Côté",
    "Li",
    "Martin",
    "O'Neil",
    "Taylor",
    "García",
    "Chen",
    "MacDonald",
];

/// A first and last name chosen by a number.
pub fn person(n: u64) -> (&'static str, &'static str) {
    let first = FIRST_NAMES[(n % 16) as usize];
    let last = LAST_NAMES[((n / 16) % 16) as usize];
    (first, last)
}

/// A client's answer to an intake question: a choice, a yes/no or an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// One of the question's choices.
    Choice(&'static str),
    /// Yes or no.
    Flag(bool),
    /// An amount in dollars.
    Amount(u64),
}

/// The answer a client gave to an intake question, chosen by a number.
pub fn answer(question: u64, n: u64) -> Answer {
    const REASONS: [&str; 4] = ["new_customer", "existing_product", "life_event", "other"];
    match question {
        1 => Answer::Choice(REASONS[(n % 4) as usize]),
        2 => Answer::Flag(n.is_multiple_of(3)),
        _ => Answer::Amount(((n % 60) + 1) * 5_000),
    }
}

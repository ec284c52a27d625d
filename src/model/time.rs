//! Timestamps as Coconut sends them, and the branch-local calendar.
//!
//! Two forms arrive: RFC 3339 with an offset, and a local `YYYY-MM-DD HH:MM:SS` that means
//! wall-clock time in the record's time zone. Local times that fall in a DST gap are moved
//! forward by the gap's length; ambiguous ones (the repeated hour) take the earlier instant.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

const LOCAL_FORMATS: [&str; 4] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
];

const OFFSET_FORMATS: [&str; 2] = ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%z"];

/// Reads a timestamp; `zone` is needed only for the local form.
pub fn parse_timestamp(text: &str, zone: Option<Tz>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    // No text reads in both a local and an offset form, so the common local form is tried
    // before the rarer offset ones.
    let local = LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok());
    let Some(local) = local else {
        for format in OFFSET_FORMATS {
            if let Ok(t) = DateTime::parse_from_str(text, format) {
                return Ok(t.with_timezone(&Utc));
            }
        }
        return Err(format!(
            "{text:?} is not an RFC 3339 or YYYY-MM-DD HH:MM:SS timestamp"
        ));
    };
    let zone =
        zone.ok_or_else(|| format!("local time {text:?} has no time zone to place it in"))?;
    Ok(local_to_utc(local, zone))
}

/// Places a wall-clock time in a zone, resolving DST gaps and repeats as the module says.
pub fn local_to_utc(local: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: read the wall clock with the offset in force before the gap.
            let before = local - Duration::days(1);
            let offset = zone.offset_from_utc_datetime(&before).fix();
            (local - Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc()
        }
    }
}

/// The wall-clock time of an instant in a zone.
pub fn to_local(instant: DateTime<Utc>, zone: Tz) -> NaiveDateTime {
    instant.with_timezone(&zone).naive_local()
}

/// The calendar date of an instant in a zone: the branch's business day.
pub fn business_date(instant: DateTime<Utc>, zone: Tz) -> NaiveDate {
    to_local(instant, zone).date()
}

/// Days since 1970-01-01, as Arrow's Date32 stores them.
pub fn date32(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (date - epoch).num_days() as i32
}

/// Reads an IANA zone name such as `America/Toronto`.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| format!("{name:?} is not an IANA time zone name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn offsets_and_local_forms_agree() {
        let toronto = chrono_tz::America::Toronto;
        let a = parse_timestamp("2026-07-01T09:30:00-04:00", None);
        let b = parse_timestamp("2026-07-01 09:30:00", Some(toronto));
        let c = parse_timestamp("2026-07-01 13:30:00+00:00", None);
        let d = parse_timestamp("2026-07-01T09:30:00.000-0400", None);
        assert_eq!(a, Ok(utc("2026-07-01T13:30:00Z")));
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a, d);
    }

    #[test]
    fn local_without_zone_is_an_error() {
        let err = parse_timestamp("2026-07-01 09:30:00", None);
        assert!(err.is_err_and(|e| e.contains("no time zone")));
        assert!(parse_timestamp("yesterday", None).is_err());
    }

    #[test]
    fn spring_forward_gap_moves_forward() {
        // 02:30 does not exist in Toronto on 2026-03-08; it reads as 03:30 EDT.
        let t = parse_timestamp("2026-03-08 02:30:00", Some(chrono_tz::America::Toronto));
        assert_eq!(t, Ok(utc("2026-03-08T07:30:00Z")));
    }

    #[test]
    fn fall_back_repeat_takes_the_earlier_instant() {
        // 01:30 happens twice in London on 2026-10-25; the first is BST (+01:00).
        let t = parse_timestamp("2026-10-25 01:30:00", Some(chrono_tz::Europe::London));
        assert_eq!(t, Ok(utc("2026-10-25T00:30:00Z")));
    }

    #[test]
    fn business_date_follows_the_branch_clock() {
        let late = utc("2026-11-01T03:30:00Z");
        let vancouver = chrono_tz::America::Vancouver;
        assert_eq!(business_date(late, vancouver).to_string(), "2026-10-31");
        assert_eq!(
            business_date(late, chrono_tz::UTC).to_string(),
            "2026-11-01"
        );
    }
}

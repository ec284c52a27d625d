//! SQL functions the views need and DataFusion lacks: a UTC instant as the wall-clock
//! time of an IANA zone given per row.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::DateTime;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

use crate::model::spec::utc_micros;
use crate::model::time::{parse_zone, to_local};

/// `local_time(instant, zone)`: the wall-clock time (a timestamp without zone) of a UTC
/// instant in an IANA zone. NULL when either is NULL or the zone is not a zone name.
pub fn local_time() -> ScalarUDF {
    create_udf(
        "local_time",
        vec![utc_micros(), DataType::Utf8],
        DataType::Timestamp(TimeUnit::Microsecond, None),
        Volatility::Immutable,
        Arc::new(local_time_of),
    )
}

fn local_time_of(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let [instants, zones] = args else {
        return Err(DataFusionError::Plan(
            "local_time takes an instant and a zone name".into(),
        ));
    };
    let rows = [instants, zones]
        .iter()
        .find_map(|a| match a {
            ColumnarValue::Array(array) => Some(array.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1);
    let instants = instants.to_array(rows)?;
    let instants = cast(&instants, &utc_micros())?;
    let zones = cast(&zones.to_array(rows)?, &DataType::Utf8)?;
    let instants = downcast::<TimestampMicrosecondArray>(&instants)?;
    let zones = downcast::<StringArray>(&zones)?;

    // Most rows of a batch share a handful of zones: parse each name once, and look each
    // zone's offset up once per quarter day it is asked about.
    let mut parsed: Vec<(&str, Option<Offsets>)> = Vec::new();
    let local: TimestampMicrosecondArray = (0..rows)
        .map(|i| {
            if instants.is_null(i) || zones.is_null(i) {
                return None;
            }
            let name = zones.value(i);
            let at = match parsed.iter().position(|(n, _)| *n == name) {
                Some(at) => at,
                None => {
                    parsed.push((name, parse_zone(name).ok().map(Offsets::new)));
                    parsed.len() - 1
                }
            };
            let offsets = parsed[at].1.as_mut()?;
            let instant = instants.value(i);
            Some(instant + offsets.at(instant)? * 1_000_000)
        })
        .collect();
    let array: ArrayRef = Arc::new(local);
    Ok(ColumnarValue::Array(array))
}

/// A zone's UTC offsets, remembered per quarter day (UTC) in which the offset is the same
/// at the first and the last second; a quarter day with a transition inside is looked up
/// instant by instant. No zone changes its offset twice within six hours.
struct Offsets {
    zone: chrono_tz::Tz,
    known: HashMap<i64, Option<i64>>,
}

/// Microseconds in a quarter day.
const QUARTER_DAY: i64 = 6 * 3_600 * 1_000_000;

impl Offsets {
    fn new(zone: chrono_tz::Tz) -> Offsets {
        Offsets {
            zone,
            known: HashMap::new(),
        }
    }

    /// The offset, in seconds, of the zone at an instant (UTC microseconds).
    fn at(&mut self, instant: i64) -> Option<i64> {
        let quarter = instant.div_euclid(QUARTER_DAY);
        let zone = self.zone;
        let steady = *self.known.entry(quarter).or_insert_with(|| {
            let first = offset(zone, quarter * QUARTER_DAY)?;
            let last = offset(zone, (quarter + 1) * QUARTER_DAY - 1_000_000)?;
            (first == last).then_some(first)
        });
        steady.or_else(|| offset(zone, instant))
    }
}

/// The offset, in seconds, of a zone at one instant (UTC microseconds).
fn offset(zone: chrono_tz::Tz, instant: i64) -> Option<i64> {
    let utc = DateTime::from_timestamp_micros(instant)?.naive_utc();
    let local = to_local(utc.and_utc(), zone);
    Some((local - utc).num_seconds())
}

fn downcast<T: 'static>(array: &ArrayRef) -> Result<&T> {
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| DataFusionError::Internal("local_time: unexpected argument type".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    #[test]
    fn remembered_offsets_agree_with_the_zone_rules_at_every_instant() {
        let zones = [
            "America/Toronto",
            "America/St_Johns",
            "Australia/Lord_Howe",
            "Asia/Kathmandu",
            "Europe/London",
            "Pacific/Auckland",
            "America/Regina",
            "Pacific/Chatham",
        ];
        // Every 7 minutes and 13 seconds through 2026, each zone in turn.
        let start = 1_767_225_600_000_000i64;
        let step = (7 * 60 + 13) * 1_000_000i64;
        let instants: Vec<i64> = (0..73_000).map(|i| start + i * step).collect();
        let names: Vec<&str> = (0..instants.len())
            .map(|i| zones[i % zones.len()])
            .collect();
        let out = local_time_of(&[
            ColumnarValue::Array(Arc::new(
                TimestampMicrosecondArray::from(instants.clone()).with_timezone("UTC"),
            )),
            ColumnarValue::Array(Arc::new(StringArray::from(names.clone()))),
        ])
        .unwrap()
        .to_array(instants.len())
        .unwrap();
        let out = out
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        for (i, (instant, name)) in instants.iter().zip(&names).enumerate() {
            let utc = DateTime::from_timestamp_micros(*instant).unwrap();
            let want = to_local(utc, parse_zone(name).unwrap())
                .and_utc()
                .timestamp_micros();
            assert_eq!(out.value(i), want, "{name} at {utc}");
        }
    }

    #[test]
    fn wall_clock_per_row_zone_across_a_dst_change() {
        // 2026-03-08 06:30 and 07:30 UTC: 01:30 EST, then 03:30 EDT in Toronto.
        let instants = TimestampMicrosecondArray::from(vec![
            Some(1_772_951_400_000_000),
            Some(1_772_955_000_000_000),
            Some(1_772_955_000_000_000),
            None,
            Some(0),
        ])
        .with_timezone("UTC");
        let zones = StringArray::from(vec![
            Some("America/Toronto"),
            Some("America/Toronto"),
            Some("Europe/London"),
            Some("Europe/London"),
            Some("Not/AZone"),
        ]);
        let out = local_time_of(&[
            ColumnarValue::Array(Arc::new(instants)),
            ColumnarValue::Array(Arc::new(zones)),
        ])
        .unwrap()
        .to_array(5)
        .unwrap();
        let out = cast(&out, &DataType::Int64).unwrap();
        let out = out.as_any().downcast_ref::<Int64Array>().unwrap();
        let hours: Vec<Option<i64>> = out
            .iter()
            .map(|v| v.map(|v| v / 3_600_000_000 % 24 * 100 + v / 60_000_000 % 60))
            .collect();
        assert_eq!(hours, vec![Some(130), Some(330), Some(730), None, None]);
    }
}

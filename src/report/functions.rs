//! SQL functions the views need and DataFusion lacks: a UTC instant as the wall-clock
//! time of an IANA zone given per row.

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

    // Most rows of a batch share a handful of zones: parse each name once.
    let mut parsed: Vec<(&str, Option<chrono_tz::Tz>)> = Vec::new();
    let local: TimestampMicrosecondArray = (0..rows)
        .map(|i| {
            if instants.is_null(i) || zones.is_null(i) {
                return None;
            }
            let name = zones.value(i);
            let zone = match parsed.iter().find(|(n, _)| *n == name) {
                Some((_, zone)) => *zone,
                None => {
                    let zone = parse_zone(name).ok();
                    parsed.push((name, zone));
                    zone
                }
            }?;
            let instant = DateTime::from_timestamp_micros(instants.value(i))?;
            Some(to_local(instant, zone).and_utc().timestamp_micros())
        })
        .collect();
    let array: ArrayRef = Arc::new(local);
    Ok(ColumnarValue::Array(array))
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

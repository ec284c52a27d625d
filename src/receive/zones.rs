//! Location zones from what is already landed, for a receiver that starts on a store with
//! history: without them, engagements get no `business_date` until their location's next
//! event reaches this process.

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use datafusion::error::DataFusionError;

use crate::land::Store;
use crate::model::{Converter, time};

/// Teaches `converter` the zone of every landed location, from each location's latest
/// version (the current-state rule), keeping any zone it learned meanwhile from an event.
/// Returns how many zones it learned.
pub async fn learn_landed_zones(
    store: &Store,
    converter: &Converter,
) -> Result<usize, DataFusionError> {
    let ctx = crate::report::open_session(store).await?;
    let latest = "SELECT id, timezone FROM latest_version('locations') WHERE timezone IS NOT NULL";
    let batches = ctx.sql(latest).await?.collect().await?;
    let mut learned = 0;
    for batch in &batches {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let zones = batch.column(1).as_string::<i32>();
        for i in (0..batch.num_rows()).filter(|&i| ids.is_valid(i) && zones.is_valid(i)) {
            let Ok(zone) = time::parse_zone(zones.value(i)) else {
                continue;
            };
            if converter.learn_location_zone_unless_known(ids.value(i), zone) {
                learned += 1;
            }
        }
    }
    Ok(learned)
}

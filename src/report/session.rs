//! A DataFusion session with every landing table registered under its entity name, read
//! with the known schemas (no inference) and the `date=` partition as a DATE column, and
//! the project's SQL functions (`local_time`, and the table function `latest_version`).

use std::sync::Arc;

use arrow::array::{Array, Int64Array};
use arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::latest::LatestVersions;
use crate::land::Store;
use crate::model::Table;

/// Opens a session over the store with every landing table registered, such as
/// `appointments` and `unrecognized`.
pub async fn open_session(store: &Store) -> Result<SessionContext, DataFusionError> {
    let config = SessionConfig::new().with_information_schema(true).set_bool(
        "datafusion.execution.parquet.schema_force_view_types",
        false,
    );
    let ctx = SessionContext::new_with_config(config);
    ctx.register_udf(super::functions::local_time());
    ctx.register_object_store(&store.bucket_url(), store.bucket_store().clone());
    let mut latest = LatestVersions::default();
    for table in Table::all() {
        let url = ListingTableUrl::parse(store.url_of(&format!("{}/", table.prefix())))?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![("date".to_string(), DataType::Date32)]);
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(table.schema());
        let listing: Arc<dyn TableProvider> = Arc::new(ListingTable::try_new(config)?);
        if let Table::Entity(_) = table {
            latest = latest.with_table(table.name(), listing.clone());
        }
        ctx.register_table(table.name(), listing)?;
    }
    ctx.register_udtf("latest_version", Arc::new(latest));
    Ok(ctx)
}

/// Rows in each landing table, in [`Table::all`] order.
pub async fn table_counts(ctx: &SessionContext) -> Result<Vec<(Table, i64)>, DataFusionError> {
    let mut counts = Vec::new();
    for table in Table::all() {
        let sql = format!("SELECT count(*) FROM {}", table.name());
        let batches = ctx.sql(&sql).await?.collect().await?;
        let count = batches
            .first()
            .and_then(|b| b.column(0).as_any().downcast_ref::<Int64Array>())
            .filter(|a| !a.is_empty())
            .map_or(0, |a| a.value(0));
        counts.push((table, count));
    }
    Ok(counts)
}

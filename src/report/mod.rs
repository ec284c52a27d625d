//! Reading what landing wrote: a DataFusion session over the store's landing tables.

mod session;

pub use session::{open_session, table_counts};

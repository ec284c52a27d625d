//! Reading what landing wrote: a DataFusion session over the landing tables, the views and
//! reports defined in `sql/`, their exports, and the analysts' queries.

pub mod definitions;
pub mod export;
mod functions;
pub mod http;
pub mod latest;
pub mod query;
pub mod run;
mod session;

pub use definitions::{Definitions, Parameters};
pub use run::{ReportError, ReportRun, RunOptions, open_query_session, open_views, run_reports};
pub use session::{open_session, table_counts};

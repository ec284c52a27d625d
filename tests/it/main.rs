//! The integration suite, one binary: landing on every store, real readers, the CLI, the
//! receiver, the backfill, the reports and the simulated tenant.

// Test code may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod backfill;
mod cli;
mod landing;
mod readers;
mod receive;
mod reports;
mod signature;
mod simulator;
mod support;

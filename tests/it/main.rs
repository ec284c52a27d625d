//! The integration suite, one binary: landing on every store, real readers, the CLI and
//! the simulated tenant.

// Test code may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod backfill;
mod cli;
mod landing;
mod readers;
mod receive;
mod signature;
mod simulator;
mod support;

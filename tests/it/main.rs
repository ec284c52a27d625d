//! The integration suite, one binary: landing on every store, real readers, and the CLI.

mod cli;
mod landing;
mod readers;
mod signature;
mod support;

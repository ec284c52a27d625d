//! The one place that writes command results to standard output.
//!
//! A closed standard output (a reader that went away, such as `| head`) does not stop a
//! command: servers keep serving, and their results are only not shown.
#![allow(clippy::print_stderr)]

use std::io::Write;

/// Prints one line of command output.
pub fn line(text: impl std::fmt::Display) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Prints rows as aligned columns under a header.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let render = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", render(header.to_vec()));
    for row in rows {
        let _ = writeln!(out, "{}", render(row.iter().map(String::as_str).collect()));
    }
}

/// Prints a command's failure, with its causes, to standard error.
pub fn error(error: &anyhow::Error) {
    eprintln!("error: {error:#}");
}

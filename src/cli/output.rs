//! The one place that writes command results to standard output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

/// Prints one line of command output.
pub fn line(text: impl std::fmt::Display) {
    println!("{text}");
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
    println!("{}", render(header.to_vec()));
    for row in rows {
        println!("{}", render(row.iter().map(String::as_str).collect()));
    }
}

/// Prints a command's failure, with its causes, to standard error.
pub fn error(error: &anyhow::Error) {
    eprintln!("error: {error:#}");
}

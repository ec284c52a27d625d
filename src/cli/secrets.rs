//! Secrets from an environment variable or a file, as the pipeline names them; never
//! printed or logged.

use std::path::{Path, PathBuf};

/// A missing or unreadable secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Neither the variable nor the file holds one.
    #[error("no {what}: set {variable}{}", file_hint(.file))]
    Missing {
        /// What the secret is for, such as "webhook secret".
        what: &'static str,
        /// The environment variable.
        variable: String,
        /// The file, if the pipeline names one.
        file: Option<PathBuf>,
    },
    /// The file could not be read.
    #[error("failed to read the {what} file {path}: {source}")]
    Read {
        /// What the secret is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The secret does not parse.
    #[error("invalid webhook secret: {0}")]
    Invalid(#[from] crate::source::signature::SignatureError),
}

fn file_hint(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map(|f| format!(" or write {}", f.display()))
        .unwrap_or_default()
}

/// The secret in `variable`, else in `file`, trimmed; an error when neither has one.
pub fn read(
    what: &'static str,
    variable: &str,
    file: Option<&Path>,
) -> Result<String, SecretError> {
    if let Ok(value) = std::env::var(variable)
        && !value.trim().is_empty()
    {
        return Ok(value.trim().to_string());
    }
    let missing = || SecretError::Missing {
        what,
        variable: variable.to_string(),
        file: file.map(Path::to_path_buf),
    };
    let path = file.ok_or_else(missing)?;
    if !path.exists() {
        return Err(missing());
    }
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(missing());
    }
    Ok(text.to_string())
}

//! Unfinished uploads that a killed process leaves in a local-folder store.
//!
//! The local store writes an object to `<path>#<n>` and then links it into place. A process
//! killed between the two leaves that staging file behind. Nothing was acknowledged for it
//! (the put had not returned), but readers that take a table folder whole, such as pyarrow
//! datasets and Spark, read it as a broken Parquet file and fail the whole table. The
//! landing writer of a local store therefore removes staging files older than
//! [`STALE_AFTER`], which no live put takes: the whole store tree when it starts, then
//! every [`STALE_AFTER`] the partitions of the last two UTC days, where a process that dies
//! in the meantime leaves them.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The age past which a staging file is an upload that will never finish.
pub const STALE_AFTER: Duration = Duration::from_secs(600);

/// Whether a file name is a staging name: `<name>#<digits>`. Object names in the store
/// never contain `#`.
fn is_staging(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(stem, n)| {
        !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Removes staging files last modified more than `older_than` ago in `folders` and every
/// folder below them, and returns how many it removed. Missing folders, and files removed
/// by another process meanwhile, are skipped.
pub fn remove_stale_uploads(folders: &[PathBuf], older_than: Duration) -> io::Result<usize> {
    let cutoff = SystemTime::now()
        .checked_sub(older_than)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut removed = 0;
    let mut stack: Vec<PathBuf> = folders.to_vec();
    while let Some(folder) = stack.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file()
                && entry.file_name().to_str().is_some_and(is_staging)
                && remove_if_older(&entry.path(), cutoff)?
            {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

fn remove_if_older(path: &Path, cutoff: SystemTime) -> io::Result<bool> {
    let modified = match std::fs::metadata(path).and_then(|m| m.modified()) {
        Ok(modified) => modified,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if modified > cutoff {
        return Ok(false);
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names() {
        assert!(is_staging("20261204T101010.000001Z-9f2c.parquet#1"));
        assert!(is_staging("checkpoint.json#12"));
        assert!(!is_staging("x.parquet"));
        assert!(!is_staging("x.parquet#"));
        assert!(!is_staging("#1"));
        assert!(!is_staging("x.parquet#1a"));
    }

    #[test]
    fn only_old_staging_files_are_removed() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let partition = dir.path().join("landing/clients/date=2026-12-04");
        std::fs::create_dir_all(&partition)?;
        let old = SystemTime::now() - Duration::from_secs(3600);
        let file = |name: &str, modified: Option<SystemTime>| -> io::Result<PathBuf> {
            let path = partition.join(name);
            let handle = std::fs::File::create(&path)?;
            if let Some(modified) = modified {
                handle.set_modified(modified)?;
            }
            Ok(path)
        };
        let landed = file("a.parquet", Some(old))?;
        let stale = file("b.parquet#1", Some(old))?;
        let fresh = file("c.parquet#1", None)?;
        let other = file("d#x", Some(old))?;
        let missing = dir.path().join("quarantine");
        let removed = remove_stale_uploads(&[dir.path().to_path_buf(), missing], STALE_AFTER)?;
        assert_eq!(removed, 1);
        assert!(!stale.exists());
        assert!(landed.exists() && fresh.exists() && other.exists());
        Ok(())
    }
}

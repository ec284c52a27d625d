//! Landing files put straight into a local-folder store.
//!
//! object_store's local store writes each object from Tokio's blocking pool, so every file
//! costs a trip to another thread and back; for the few kilobytes of a webhook flush that
//! trip costs as much as the write. [`LocalFolder`] writes the way that store does, and
//! the staging sweep relies on: the bytes go to a staging file `<path>#<n>`, which is
//! linked into place only if nothing has the name yet and then unlinked, so that a file
//! appears complete or not at all. It does so on the calling thread. Without `sync` the
//! write only reaches the page cache, and the landing writer calls it from its flush task
//! for files under a mebibyte; larger files, and with `sync` the put and its `fsync`s
//! together, go to the blocking pool.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::durable::Syncer;

/// Staging names tried before a put gives up; another name is needed only when a file of
/// a killed process is left under the same one.
const STAGING_ATTEMPTS: u32 = 16;

/// Puts new files into one local folder, and forces them to disk when asked to.
#[derive(Debug)]
pub struct LocalFolder {
    root: PathBuf,
    syncer: Option<Syncer>,
    next_staging: AtomicU64,
}

impl LocalFolder {
    /// The folder at `root`; with `sync`, [`LocalFolder::put_new`] returns only once the
    /// file and the folder entries naming it are on disk.
    pub fn new(root: PathBuf, sync: bool) -> LocalFolder {
        LocalFolder {
            syncer: sync.then(|| Syncer::new(root.clone())),
            root,
            next_staging: AtomicU64::new(1),
        }
    }

    /// Whether puts force their files to disk, and so block on the disk.
    pub fn syncs(&self) -> bool {
        self.syncer.is_some()
    }

    /// Writes `bytes` as the new file `relative` (a store path), making its folders as
    /// needed, and fails with [`io::ErrorKind::AlreadyExists`] rather than replace a file.
    /// Returns the time spent forcing it to disk, zero without `sync`. Blocking.
    pub fn put_new(&self, relative: &str, bytes: &[u8]) -> Result<Duration, PutError> {
        let target = self.root.join(relative);
        let (staging, mut file) = self.create_staging(&target).map_err(PutError::Write)?;
        let written = file
            .write_all(bytes)
            .map_err(PutError::Write)
            .and_then(|()| self.force_data(&file))
            .and_then(|took| {
                std::fs::hard_link(&staging, &target)
                    .map(|()| took)
                    .map_err(PutError::Write)
            });
        drop(file);
        // Linked, the staging name is a second name of the file; unlinked, it is an
        // upload that will never finish. Either way it goes. Should that fail once the
        // file is in place, the file stands and the staging sweep removes the name later.
        if let Err(e) = std::fs::remove_file(&staging) {
            tracing::warn!(path = %staging.display(), error = %e, "could not remove a staging file");
        }
        let data_took = written?;
        let Some(syncer) = &self.syncer else {
            return Ok(data_took);
        };
        let started = Instant::now();
        syncer.sync_entries(relative).map_err(PutError::Sync)?;
        Ok(data_took + started.elapsed())
    }

    /// Forces the file's data to disk through the handle it was written with, when this
    /// folder syncs; returns the time that took.
    fn force_data(&self, file: &File) -> Result<Duration, PutError> {
        if self.syncer.is_none() {
            return Ok(Duration::ZERO);
        }
        let started = Instant::now();
        file.sync_all().map_err(PutError::Sync)?;
        Ok(started.elapsed())
    }

    /// Creates a staging file beside `target`, and `target`'s folders if they are missing.
    fn create_staging(&self, target: &Path) -> io::Result<(PathBuf, File)> {
        let mut made_folders = false;
        let mut attempts = 0;
        loop {
            let n = self.next_staging.fetch_add(1, Ordering::Relaxed);
            let mut name = OsString::from(target.as_os_str());
            name.push(format!("#{n}"));
            let staging = PathBuf::from(name);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&staging)
            {
                Ok(file) => return Ok((staging, file)),
                Err(e) if e.kind() == io::ErrorKind::NotFound && !made_folders => {
                    let folder = target.parent().unwrap_or(&self.root);
                    std::fs::create_dir_all(folder)?;
                    made_folders = true;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    attempts += 1;
                    if attempts >= STAGING_ATTEMPTS {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Why a local put failed. After [`PutError::Write`] nothing new is under the file's name;
/// after [`PutError::Sync`] the file may be there but not on disk.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The file could not be written or named, or the name is taken.
    #[error("{0}")]
    Write(#[source] io::Error),
    /// The file was written but could not be forced to disk.
    #[error("{0}")]
    Sync(#[source] io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARTITION: &str = "landing/clients/date=2026-03-09";
    const FILE: &str = "landing/clients/date=2026-03-09/a.parquet";

    /// A fresh temporary folder and a [`LocalFolder`] on it.
    fn folder(sync: bool) -> Result<(tempfile::TempDir, LocalFolder), PutError> {
        let dir = tempfile::tempdir().map_err(PutError::Write)?;
        let folder = LocalFolder::new(dir.path().to_path_buf(), sync);
        Ok((dir, folder))
    }

    /// The bytes of [`FILE`] in `dir`.
    fn read(dir: &tempfile::TempDir) -> Result<Vec<u8>, PutError> {
        std::fs::read(dir.path().join(FILE)).map_err(PutError::Write)
    }

    /// The sorted names in [`PARTITION`] of `dir`.
    fn names_in_partition(dir: &tempfile::TempDir) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join(PARTITION))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn puts_a_file_and_its_folders_and_leaves_no_staging_file() -> Result<(), PutError> {
        let (dir, folder) = folder(false)?;
        assert!(!folder.syncs());
        assert_eq!(folder.put_new(FILE, b"PAR1 data PAR1")?, Duration::ZERO);
        assert_eq!(read(&dir)?, b"PAR1 data PAR1");
        assert_eq!(names_in_partition(&dir), ["a.parquet"]);
        Ok(())
    }

    #[test]
    fn never_replaces_a_file() -> Result<(), PutError> {
        let (dir, folder) = folder(false)?;
        folder.put_new(FILE, b"first")?;
        let Err(PutError::Write(e)) = folder.put_new(FILE, b"second") else {
            panic!("a second put to one name must fail");
        };
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(read(&dir)?, b"first");
        assert_eq!(names_in_partition(&dir), ["a.parquet"]);
        Ok(())
    }

    #[test]
    fn a_staging_name_left_by_a_killed_process_is_stepped_over() -> Result<(), PutError> {
        let (dir, folder) = folder(false)?;
        let partition = dir.path().join(PARTITION);
        std::fs::create_dir_all(&partition).map_err(PutError::Write)?;
        std::fs::write(partition.join("a.parquet#1"), b"torn").map_err(PutError::Write)?;
        folder.put_new(FILE, b"whole")?;
        assert_eq!(names_in_partition(&dir), ["a.parquet", "a.parquet#1"]);
        assert_eq!(read(&dir)?, b"whole");
        Ok(())
    }

    #[test]
    fn with_sync_a_put_reports_the_time_it_took_to_force() -> Result<(), PutError> {
        let (dir, folder) = folder(true)?;
        assert!(folder.syncs());
        assert!(folder.put_new(FILE, b"durable")? > Duration::ZERO);
        assert!(dir.path().join(FILE).is_file());
        Ok(())
    }
}

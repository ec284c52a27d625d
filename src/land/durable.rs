//! Landed files on a local folder made to survive a power loss or a kernel crash, not only a
//! crash of the process.
//!
//! A file put into a local folder (by object_store's local store or by
//! [`super::local::LocalFolder`]) is written and linked into place without `fsync`, so it is
//! in the page cache and may be lost, or named by a folder entry that is lost, if the
//! machine stops. [`Syncer`] forces the file's data, then the folder entry that names it,
//! and the first time it sees a partition folder, the entries of the folders above it up
//! to the store's root. Cloud stores need none of this: their put returns once the object
//! is durable.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Forces the folder entries of landed files of one local-folder store to disk,
/// remembering which folders are already durable so that each file costs one `fsync`
/// here besides its own.
#[derive(Debug)]
pub struct Syncer {
    root: PathBuf,
    durable_folders: Mutex<HashSet<PathBuf>>,
}

impl Syncer {
    /// A syncer for the store rooted at `root`.
    pub fn new(root: PathBuf) -> Syncer {
        Syncer {
            root,
            durable_folders: Mutex::new(HashSet::new()),
        }
    }

    /// Forces to disk the folder entries naming the file at `relative` (a store path),
    /// whose own data the caller has forced through its handle. Blocking: call it off the
    /// async workers.
    pub fn sync_entries(&self, relative: &str) -> io::Result<()> {
        let file = self.root.join(relative);
        let Some(folder) = file.parent() else {
            return Ok(());
        };
        sync_folder(folder)?;
        if self.is_durable(folder) {
            return Ok(());
        }
        // A folder made for this file: its own entry, and those of any new folders above
        // it, must reach the disk too.
        let mut above = folder.parent();
        while let Some(next) = above {
            if !next.starts_with(&self.root) || self.is_durable(next) {
                break;
            }
            sync_folder(next)?;
            self.mark_durable(next);
            above = next.parent();
        }
        self.mark_durable(folder);
        Ok(())
    }

    fn is_durable(&self, folder: &Path) -> bool {
        self.durable_folders
            .lock()
            .is_ok_and(|folders| folders.contains(folder))
    }

    fn mark_durable(&self, folder: &Path) {
        if let Ok(mut folders) = self.durable_folders.lock() {
            folders.insert(folder.to_path_buf());
        }
    }
}

/// `fsync` of a folder, which makes the entries made or renamed in it durable.
fn sync_folder(folder: &Path) -> io::Result<()> {
    File::open(folder)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_a_file_and_remembers_its_folders() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let syncer = Syncer::new(dir.path().to_path_buf());
        let relative = "landing/clients/date=2026-03-09/a.parquet";
        std::fs::create_dir_all(dir.path().join("landing/clients/date=2026-03-09"))?;
        std::fs::write(dir.path().join(relative), b"PAR1")?;
        syncer.sync_entries(relative)?;
        for folder in [
            "landing/clients/date=2026-03-09",
            "landing/clients",
            "landing",
            "",
        ] {
            assert!(syncer.is_durable(&dir.path().join(folder)), "{folder:?}");
        }
        assert!(!syncer.is_durable(dir.path().parent().unwrap_or(dir.path())));
        Ok(())
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let syncer = Syncer::new(dir.path().to_path_buf());
        let missing = syncer.sync_entries("landing/clients/date=2026-03-09/gone.parquet");
        assert_eq!(missing.unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}

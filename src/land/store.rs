//! Opening the store a pipeline names: a local folder, S3, GCS, Azure or memory.
//!
//! Credentials and endpoints for the cloud stores come from the environment, read the way
//! object_store's builders read them (`AWS_*`, `GOOGLE_*`, `AZURE_*`).

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ClientConfigKey, ObjectStore, RetryConfig};
use url::Url;

/// A store URL that cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The text is neither a URL of a known scheme nor a local path.
    #[error(
        "unsupported store url: {url} (use a folder, file://, s3://, gs://, az:// or memory://)"
    )]
    Unsupported {
        /// The URL as given.
        url: String,
    },
    /// The local folder could not be made or resolved.
    #[error("failed to prepare local store {path}: {source}")]
    Local {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The object_store builder refused the URL or its environment.
    #[error("failed to open store {url}: {source}")]
    Open {
        /// The URL.
        url: String,
        /// The cause.
        source: object_store::Error,
    },
}

/// One store: the object store rooted at the store URL, and how to name it to others.
#[derive(Debug, Clone)]
pub struct Store {
    url: Url,
    root: Arc<dyn ObjectStore>,
    objects: Arc<dyn ObjectStore>,
}

impl Store {
    /// Opens a store from a URL or a local folder path; relative folders are resolved
    /// against the working directory and made if missing.
    pub fn open(location: &str) -> Result<Store, StoreError> {
        Store::open_with(location, RetryConfig::default(), None)
    }

    /// Opens a store whose remote requests follow `retry` instead of object_store's default
    /// (10 retries within 3 minutes) and, when given, may each take at most `timeout`
    /// instead of 30 seconds: for callers that must answer quickly when the store fails or
    /// hangs, such as the webhook receiver.
    pub fn open_with(
        location: &str,
        retry: RetryConfig,
        timeout: Option<Duration>,
    ) -> Result<Store, StoreError> {
        let timeout = timeout.map(|t| format!("{}ms", t.as_millis().max(1)));
        let unsupported = || StoreError::Unsupported {
            url: location.to_string(),
        };
        let url = match Url::parse(location) {
            Ok(url) if url.scheme().len() > 1 => url,
            _ => return Store::local(FsPath::new(location)),
        };
        let opened = |source| StoreError::Open {
            url: location.to_string(),
            source,
        };
        let root: Arc<dyn ObjectStore> = match url.scheme() {
            "file" => {
                let path = url.to_file_path().map_err(|()| unsupported())?;
                return Store::local(&path);
            }
            "memory" => Arc::new(InMemory::new()),
            "s3" | "s3a" => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_url(url.as_str())
                    .with_retry(retry);
                if let Some(timeout) = &timeout {
                    let key = AmazonS3ConfigKey::Client(ClientConfigKey::Timeout);
                    builder = builder.with_config(key, timeout);
                }
                Arc::new(builder.build().map_err(opened)?)
            }
            "gs" => {
                let mut builder = GoogleCloudStorageBuilder::from_env()
                    .with_url(url.as_str())
                    .with_retry(retry);
                if let Some(timeout) = &timeout {
                    let key = GoogleConfigKey::Client(ClientConfigKey::Timeout);
                    builder = builder.with_config(key, timeout);
                }
                Arc::new(builder.build().map_err(opened)?)
            }
            "az" | "abfs" | "abfss" => {
                let mut builder = MicrosoftAzureBuilder::from_env()
                    .with_url(url.as_str())
                    .with_retry(retry);
                if let Some(timeout) = &timeout {
                    let key = AzureConfigKey::Client(ClientConfigKey::Timeout);
                    builder = builder.with_config(key, timeout);
                }
                Arc::new(builder.build().map_err(opened)?)
            }
            _ => return Err(unsupported()),
        };
        let prefix = Path::from(url.path().trim_matches('/'));
        Ok(Store::with_root(url, root, prefix))
    }

    fn local(path: &FsPath) -> Result<Store, StoreError> {
        let failed = |source| StoreError::Local {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(path).map_err(failed)?;
        let absolute = std::fs::canonicalize(path).map_err(failed)?;
        let url = Url::from_directory_path(&absolute).map_err(|()| StoreError::Unsupported {
            url: absolute.display().to_string(),
        })?;
        let root = Arc::new(LocalFileSystem::new());
        let prefix = Path::from_absolute_path(&absolute).map_err(|e| StoreError::Open {
            url: url.to_string(),
            source: e.into(),
        })?;
        Ok(Store::with_root(url, root, prefix))
    }

    fn with_root(mut url: Url, root: Arc<dyn ObjectStore>, prefix: Path) -> Store {
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let objects: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
            root.clone()
        } else {
            Arc::new(PrefixStore::new(root.clone(), prefix))
        };
        Store { url, root, objects }
    }

    /// The objects below the store URL; every path coconut-lake uses is relative to it.
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    /// The folder of a local-folder store; `None` for the other stores.
    pub fn local_folder(&self) -> Option<PathBuf> {
        (self.url.scheme() == "file")
            .then(|| self.url.to_file_path().ok())
            .flatten()
    }

    /// The store URL, ending in `/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL of a folder or object below the store, such as `landing/clients/`.
    pub fn url_of(&self, relative: &str) -> String {
        format!("{}{}", self.url, relative.trim_start_matches('/'))
    }

    /// The object store for the URL's bucket or host as a whole, for engines such as
    /// DataFusion that address objects by full URL.
    pub fn bucket_store(&self) -> &Arc<dyn ObjectStore> {
        &self.root
    }

    /// The URL that names [`Store::bucket_store`], such as `s3://bucket`.
    pub fn bucket_url(&self) -> Url {
        let mut base = self.url.clone();
        base.set_path("/");
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_folders_become_file_urls() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let nested = dir.path().join("lake");
        let store = Store::open(nested.to_str().unwrap_or_default())?;
        assert!(nested.is_dir());
        assert_eq!(store.url().scheme(), "file");
        assert!(store.url().path().ends_with("/lake/"));
        Ok(())
    }

    #[test]
    fn unknown_schemes_are_refused() {
        let err = Store::open("ftp://host/x");
        assert!(err.is_err_and(|e| e.to_string().starts_with("unsupported store url")));
    }
}

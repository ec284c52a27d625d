//! What a backfill keeps in the store's `state/` folder: per resource, a checkpoint (how far
//! the landed data reaches) and a lease (who is pulling it now).
//!
//! A lease is a chain of generations, `state/backfill/<resource>/lease/<generation>.json`,
//! each created with a conditional put that fails if the object exists. Taking, renewing
//! and releasing the lease each create the next generation, so of two runs racing for a
//! lease exactly one creates it, and a holder whose renewal finds its generation taken
//! knows it lost the lease. This needs only create-if-absent, which every store offers
//! (local folders, S3 with `If-None-Match`, GCS, Azure, memory).

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::land::Store;
use crate::source::Entity;

/// A failure reading or writing backfill state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store refused.
    #[error("the store failed at {path}: {source}")]
    Store {
        /// The object.
        path: String,
        /// The cause.
        source: object_store::Error,
    },
    /// The object is not what a backfill writes.
    #[error("{path} is not a readable backfill state file: {reason}")]
    Corrupt {
        /// The object.
        path: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Another run holds the lease.
    #[error(
        "{resource} is being backfilled by {owner} (lease until {until}); not starting a second run"
    )]
    Held {
        /// The resource.
        resource: Entity,
        /// Who holds it.
        owner: String,
        /// When it expires unless renewed.
        until: DateTime<Utc>,
    },
    /// The lease was taken over after it expired, so this run must stop.
    #[error("the lease on {resource} was lost (it expired and another run took it)")]
    Lost {
        /// The resource.
        resource: Entity,
    },
}

fn folder(entity: Entity) -> String {
    format!("state/backfill/{}", entity.name())
}

/// How far the landed data of one resource reaches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The resource's entity name.
    pub resource: String,
    /// Every record updated before this instant has landed.
    pub complete_before: DateTime<Utc>,
    /// Records landed by the run that wrote this checkpoint, so far.
    pub records: u64,
    /// That run's id.
    pub run_id: String,
    /// When that run started.
    pub run_started_at: DateTime<Utc>,
    /// When this checkpoint was written.
    pub written_at: DateTime<Utc>,
    /// Whether that run had read the listing to its end.
    pub finished: bool,
}

impl Checkpoint {
    fn path(entity: Entity) -> Path {
        Path::from(format!("{}/checkpoint.json", folder(entity)))
    }

    /// The resource's checkpoint, if one was written.
    pub async fn load(store: &Store, entity: Entity) -> Result<Option<Checkpoint>, StateError> {
        let path = Checkpoint::path(entity);
        let Some(bytes) = read(store.objects().as_ref(), &path).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path: store.url_of(path.as_ref()),
                reason: e.to_string(),
            })
    }

    /// Writes the checkpoint, replacing the previous one.
    pub async fn save(&self, store: &Store, entity: Entity) -> Result<(), StateError> {
        let path = Checkpoint::path(entity);
        let body = serde_json::to_vec_pretty(self).unwrap_or_default();
        store
            .objects()
            .put(&path, PutPayload::from(body))
            .await
            .map_err(|source| StateError::Store {
                path: store.url_of(path.as_ref()),
                source,
            })?;
        Ok(())
    }
}

async fn read(objects: &dyn ObjectStore, path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    let failed = |source| StateError::Store {
        path: path.to_string(),
        source,
    };
    match objects.get(path).await {
        Ok(got) => Ok(Some(got.bytes().await.map_err(failed)?.to_vec())),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(failed(e)),
    }
}

/// One generation of a lease object.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Generation {
    owner: String,
    run_id: String,
    expires_at: DateTime<Utc>,
    released: bool,
}

/// A lease held by this run on one resource.
#[derive(Debug)]
pub struct Lease {
    store: Store,
    entity: Entity,
    owner: String,
    run_id: String,
    ttl: chrono::Duration,
    generation: u64,
}

fn generation_path(entity: Entity, generation: u64) -> Path {
    Path::from(format!("{}/lease/{generation:020}.json", folder(entity)))
}

impl Lease {
    /// Takes the lease on `entity` for `ttl`, unless another run holds an unexpired one.
    pub async fn acquire(
        store: &Store,
        entity: Entity,
        run_id: &str,
        ttl: std::time::Duration,
    ) -> Result<Lease, StateError> {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let owner = format!("{} pid {} run {run_id}", host_name(), std::process::id());
        let latest = latest_generation(store, entity).await?;
        let next = match &latest {
            Some((number, current)) => {
                if !current.released && current.expires_at > Utc::now() {
                    return Err(StateError::Held {
                        resource: entity,
                        owner: current.owner.clone(),
                        until: current.expires_at,
                    });
                }
                if !current.released {
                    tracing::warn!(resource = %entity, owner = %current.owner,
                        expired_at = %current.expires_at, "taking over an expired lease");
                }
                number + 1
            }
            None => 1,
        };
        let mut lease = Lease {
            store: store.clone(),
            entity,
            owner,
            run_id: run_id.to_string(),
            ttl,
            generation: next - 1,
        };
        if !lease.write_next(false).await? {
            // Another run created this generation first.
            let (_, winner) = latest_generation(store, entity)
                .await?
                .ok_or(StateError::Lost { resource: entity })?;
            return Err(StateError::Held {
                resource: entity,
                owner: winner.owner,
                until: winner.expires_at,
            });
        }
        lease.prune().await;
        Ok(lease)
    }

    /// Extends the lease by its time to live; fails if another run took it meanwhile.
    pub async fn renew(&mut self) -> Result<(), StateError> {
        if self.write_next(false).await? {
            self.prune().await;
            Ok(())
        } else {
            Err(StateError::Lost {
                resource: self.entity,
            })
        }
    }

    /// Gives the lease up, so the next run need not wait for it to expire.
    pub async fn release(mut self) -> Result<(), StateError> {
        if self.write_next(true).await? {
            self.prune().await;
            Ok(())
        } else {
            Err(StateError::Lost {
                resource: self.entity,
            })
        }
    }

    /// When the lease runs out unless renewed, as this run last wrote it.
    pub fn ttl(&self) -> chrono::Duration {
        self.ttl
    }

    /// Creates the next generation; `false` when it already exists.
    async fn write_next(&mut self, released: bool) -> Result<bool, StateError> {
        let number = self.generation + 1;
        let body = Generation {
            owner: self.owner.clone(),
            run_id: self.run_id.clone(),
            expires_at: Utc::now() + self.ttl,
            released,
        };
        let path = generation_path(self.entity, number);
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let payload = PutPayload::from(serde_json::to_vec(&body).unwrap_or_default());
        match self.store.objects().put_opts(&path, payload, options).await {
            Ok(_) => {
                self.generation = number;
                Ok(true)
            }
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(source) => Err(StateError::Store {
                path: self.store.url_of(path.as_ref()),
                source,
            }),
        }
    }

    /// Deletes generations older than the previous one; failures only cost space.
    async fn prune(&self) {
        for old in self.generation.saturating_sub(3)..self.generation.saturating_sub(1) {
            if old == 0 {
                continue;
            }
            let path = generation_path(self.entity, old);
            match self.store.objects().delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    tracing::debug!(error = %e, path = %path, "could not prune a lease generation")
                }
            }
        }
    }
}

/// The newest generation of a resource's lease and its number.
async fn latest_generation(
    store: &Store,
    entity: Entity,
) -> Result<Option<(u64, Generation)>, StateError> {
    let prefix = Path::from(format!("{}/lease", folder(entity)));
    let listed: Vec<_> = store
        .objects()
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|source| StateError::Store {
            path: store.url_of(prefix.as_ref()),
            source,
        })?;
    let newest = listed
        .iter()
        .filter_map(|meta| {
            let name = meta.location.filename()?;
            let number = name.strip_suffix(".json")?.parse::<u64>().ok()?;
            Some((number, meta.location.clone()))
        })
        .max_by_key(|(number, _)| *number);
    let Some((number, path)) = newest else {
        return Ok(None);
    };
    let Some(bytes) = read(store.objects().as_ref(), &path).await? else {
        // Pruned between the listing and the read: a newer generation exists.
        return Err(StateError::Lost { resource: entity });
    };
    let generation = serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
        path: store.url_of(path.as_ref()),
        reason: e.to_string(),
    })?;
    Ok(Some((number, generation)))
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn memory() -> Store {
        Store::open("memory://").unwrap()
    }

    #[tokio::test]
    async fn one_run_at_a_time_and_an_expired_lease_is_taken_over() {
        let store = memory();
        let entity = Entity::Appointments;
        let mut first = Lease::acquire(&store, entity, "a", Duration::from_millis(300))
            .await
            .unwrap();
        let refused = Lease::acquire(&store, entity, "b", Duration::from_secs(60)).await;
        assert!(
            matches!(refused, Err(StateError::Held { .. })),
            "{refused:?}"
        );
        first.renew().await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        // Expired without renewal: a second run takes it, and the first learns it lost it.
        let second = Lease::acquire(&store, entity, "b", Duration::from_secs(60))
            .await
            .unwrap();
        assert!(matches!(first.renew().await, Err(StateError::Lost { .. })));
        second.release().await.unwrap();
        // Released: the next run starts at once.
        let third = Lease::acquire(&store, entity, "c", Duration::from_secs(60)).await;
        assert!(third.is_ok());
        // Another resource is independent.
        assert!(
            Lease::acquire(&store, Entity::Clients, "d", Duration::from_secs(60))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn racing_runs_get_one_lease() {
        let store = memory();
        let runs = (0..8).map(|i| {
            let store = store.clone();
            async move {
                Lease::acquire(
                    &store,
                    Entity::Clients,
                    &i.to_string(),
                    Duration::from_secs(60),
                )
                .await
            }
        });
        let results = futures::future::join_all(runs).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    }

    #[tokio::test]
    async fn checkpoints_round_trip_and_corruption_names_the_file() {
        let store = memory();
        let entity = Entity::Clients;
        assert_eq!(Checkpoint::load(&store, entity).await.unwrap(), None);
        let checkpoint = Checkpoint {
            resource: entity.name().into(),
            complete_before: Utc::now(),
            records: 12,
            run_id: "r".into(),
            run_started_at: Utc::now(),
            written_at: Utc::now(),
            finished: true,
        };
        checkpoint.save(&store, entity).await.unwrap();
        assert_eq!(
            Checkpoint::load(&store, entity).await.unwrap(),
            Some(checkpoint)
        );
        store
            .objects()
            .put(&Checkpoint::path(entity), PutPayload::from_static(b"{"))
            .await
            .unwrap();
        let error = Checkpoint::load(&store, entity).await.unwrap_err();
        assert!(error.to_string().contains("checkpoint.json"), "{error}");
    }
}

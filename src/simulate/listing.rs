//! Answers "which records, in which order" for the admin API: the latest version of each
//! record as of the tenant's clock, filtered by `updated_since` and sorted.
//!
//! Every version of every record is indexed once by time; a listing is a scan of that
//! index, cached so that paging through one listing costs one scan, not one per page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::tenant::{Tenant, Time};
use crate::source::Entity;

/// The order of a listing, from the `sort` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sort {
    /// `id`: ascending id (the default).
    Id,
    /// `-id`: descending id.
    IdDesc,
    /// `updated_at`: oldest change first, ties by ascending id.
    Updated,
    /// `-updated_at`: newest change first, ties by descending id.
    UpdatedDesc,
}

impl Sort {
    /// Reads a `sort` parameter value.
    pub fn parse(text: &str) -> Option<Sort> {
        match text {
            "id" => Some(Sort::Id),
            "-id" => Some(Sort::IdDesc),
            "updated_at" => Some(Sort::Updated),
            "-updated_at" => Some(Sort::UpdatedDesc),
            _ => None,
        }
    }
}

/// What to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Query {
    /// The resource.
    pub entity: Entity,
    /// Only records whose `updated_at` is at or after this instant (inclusive, so a client
    /// resuming from a watermark never misses a record that shares it).
    pub since: Option<Time>,
    /// The tenant's clock: records appear as they stood at this instant.
    pub now: Time,
    /// The order.
    pub sort: Sort,
}

/// One record in a listing: its index in the tenant and its `updated_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    /// Index of the record in the tenant's list for the entity.
    pub index: u32,
    /// The record's `updated_at` as of the listing's clock.
    pub updated_at: Time,
}

/// One version of one record: it was current from `at` until `next`.
#[derive(Debug, Clone, Copy)]
struct Version {
    at: Time,
    next: Time,
    index: u32,
}

/// How many listings the cache keeps.
const CACHED: usize = 64;

/// The version index of a whole tenant, and a cache of recent listings.
pub struct Listings {
    versions: HashMap<Entity, Vec<Version>>,
    cache: Mutex<Vec<(Query, Arc<Vec<Listed>>)>>,
}

impl Listings {
    /// Indexes every version of every record of the tenant.
    pub fn new(tenant: &Tenant) -> Listings {
        let mut versions = HashMap::new();
        let mut changes = Vec::new();
        for entity in Entity::ALL {
            let mut list = Vec::with_capacity(tenant.len(entity) * 2);
            for index in 0..tenant.len(entity) {
                tenant.changes(entity, index, &mut changes);
                for (i, change) in changes.iter().enumerate() {
                    let next = changes.get(i + 1).map_or(Time::MAX, |c| c.at);
                    if next > change.at {
                        list.push(Version {
                            at: change.at,
                            next,
                            index: index as u32,
                        });
                    }
                }
            }
            // Record order is id order for every entity, so this sorts ties by id.
            list.sort_unstable_by_key(|v| (v.at, v.index));
            versions.insert(entity, list);
        }
        Listings {
            versions,
            cache: Mutex::new(Vec::new()),
        }
    }

    /// The records a query selects, in its order.
    pub fn list(&self, query: &Query) -> Arc<Vec<Listed>> {
        if let Some(hit) = self.cached(query) {
            return hit;
        }
        let listed = Arc::new(self.scan(query));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHED {
            cache.remove(0);
        }
        cache.push((*query, Arc::clone(&listed)));
        listed
    }

    fn cached(&self, query: &Query) -> Option<Arc<Vec<Listed>>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .iter()
            .find(|(q, _)| q == query)
            .map(|(_, listed)| Arc::clone(listed))
    }

    fn scan(&self, query: &Query) -> Vec<Listed> {
        let Some(versions) = self.versions.get(&query.entity) else {
            return Vec::new();
        };
        let since = query.since.unwrap_or(Time::MIN);
        let from = versions.partition_point(|v| v.at < since);
        let to = versions.partition_point(|v| v.at <= query.now);
        let mut listed: Vec<Listed> = versions[from.min(to)..to]
            .iter()
            .filter(|v| v.next > query.now)
            .map(|v| Listed {
                index: v.index,
                updated_at: v.at,
            })
            .collect();
        match query.sort {
            Sort::Updated => {}
            Sort::UpdatedDesc => listed.reverse(),
            Sort::Id => listed.sort_unstable_by_key(|l| l.index),
            Sort::IdDesc => listed.sort_unstable_by_key(|l| std::cmp::Reverse(l.index)),
        }
        listed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::generate::{TenantOptions, generate};

    #[test]
    fn a_listing_holds_each_visible_record_once_at_its_latest_version() {
        let tenant = generate(&TenantOptions {
            days: 4,
            appointments_per_day: 50,
            walk_ins_per_day: 40,
            ..TenantOptions::default()
        });
        let listings = Listings::new(&tenant);
        for entity in [
            Entity::Appointments,
            Entity::QueueAppointments,
            Entity::Clients,
        ] {
            let midway = tenant.appointments[tenant.appointments.len() / 2].start;
            for now in [midway, tenant.settled_at] {
                let query = Query {
                    entity,
                    since: None,
                    now,
                    sort: Sort::Updated,
                };
                let listed = listings.list(&query);
                let expected: Vec<(u32, Time)> = (0..tenant.len(entity))
                    .filter_map(|i| {
                        let at = tenant.updated_at(entity, i, now)?;
                        Some((i as u32, at))
                    })
                    .collect();
                let mut got: Vec<(u32, Time)> =
                    listed.iter().map(|l| (l.index, l.updated_at)).collect();
                assert!(got.windows(2).all(|w| (w[0].1, w[0].0) < (w[1].1, w[1].0)));
                got.sort_unstable();
                assert_eq!(got, expected, "{entity} at {now}");
            }
        }
    }
}

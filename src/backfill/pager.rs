//! Which page to ask for next, and which records of a page are new.
//!
//! With `sort=updated_at`, paging re-anchors on the newest `updated_at` seen: after a page
//! whose last record changed at `M`, the next request is page 1 of `updated_since=M`. A
//! record that changes while a run pages through is then met again later, at its new
//! place, and records that did not change never shift under the reader, which page
//! numbers over a changing listing cannot promise. Records that share `M` come back on
//! the next page; those already seen are dropped. When a whole page shares one instant
//! the anchor cannot move, and the next request is the following page of the same
//! listing.
//!
//! Without that sort the pager walks page numbers of one listing from start to end.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

/// One request of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `filter[updated_since]`, when set.
    pub since: Option<DateTime<Utc>>,
    /// 1-based page number.
    pub page: u64,
}

/// One record of an answered page: its id and `updated_at` (if it has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The record's id.
    pub id: String,
    /// Its `updated_at`.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The paging state of one resource in one run.
#[derive(Debug, Clone)]
pub struct Pager {
    keyset: bool,
    limit: usize,
    next: Option<Request>,
    /// Ids already taken at the current anchor instant.
    at_anchor: HashSet<String>,
    /// The newest `updated_at` of the run so far.
    newest: Option<DateTime<Utc>>,
}

/// What to do with an answered page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Positions in the page of the records to land (the others were landed already in
    /// this run).
    pub keep: Vec<usize>,
    /// Every record before this instant has now been handed on; `None` while unknown.
    pub complete_before: Option<DateTime<Utc>>,
}

impl Pager {
    /// A pager from `since` (`None`: everything), re-anchoring when `keyset`.
    pub fn new(since: Option<DateTime<Utc>>, limit: usize, keyset: bool) -> Pager {
        Pager {
            keyset,
            limit: limit.max(1),
            next: Some(Request { since, page: 1 }),
            at_anchor: HashSet::new(),
            newest: None,
        }
    }

    /// The request to make next, or `None` when the run is complete.
    pub fn next_request(&self) -> Option<&Request> {
        self.next.as_ref()
    }

    /// Takes in the answer to `next_request()`: the page's records in order, and the
    /// listing's page count if the answer gave one.
    pub fn advance(&mut self, records: &[Seen], total_pages: Option<u64>) -> Step {
        let Some(request) = self.next.take() else {
            return Step {
                keep: Vec::new(),
                complete_before: None,
            };
        };
        let last_page =
            records.len() < self.limit || total_pages.is_some_and(|t| request.page >= t);
        let keep: Vec<usize> = (0..records.len())
            .filter(|&i| {
                let r = &records[i];
                !(self.keyset && r.updated_at == request.since && self.at_anchor.contains(&r.id))
            })
            .collect();
        let newest = records.iter().filter_map(|r| r.updated_at).max();
        self.newest = self.newest.max(newest);

        if !self.keyset {
            // Page numbers promise nothing until the listing has been read to its end.
            self.next = (!last_page).then(|| Request {
                since: request.since,
                page: request.page + 1,
            });
            return Step {
                keep,
                complete_before: self.finished_before(&request),
            };
        }

        match newest {
            Some(newest) if request.since.is_none_or(|since| newest > since) => {
                self.at_anchor = records
                    .iter()
                    .filter(|r| r.updated_at == Some(newest))
                    .map(|r| r.id.clone())
                    .collect();
                self.next = (!last_page).then_some(Request {
                    since: Some(newest),
                    page: 1,
                });
            }
            _ => {
                // The whole page shares the anchor (or carries no times): read on.
                self.at_anchor
                    .extend(keep.iter().map(|&i| records[i].id.clone()));
                self.next = (!last_page).then(|| Request {
                    since: request.since,
                    page: request.page + 1,
                });
            }
        }
        // Everything before the anchor of the next request has been handed on, and at
        // the end of the run everything up to the newest record.
        let complete_before = match &self.next {
            Some(next) => next.since,
            None => self.finished_before(&request),
        };
        Step {
            keep,
            complete_before,
        }
    }

    /// After the last page: everything up to the newest record of the run.
    fn finished_before(&self, last: &Request) -> Option<DateTime<Utc>> {
        if self.next.is_some() {
            return None;
        }
        self.newest
            .or(last.since)
            .map(|t| t + chrono::Duration::microseconds(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(second: i64) -> Option<DateTime<Utc>> {
        Utc.timestamp_opt(1_770_000_000 + second, 0).single()
    }

    fn seen(id: u32, second: i64) -> Seen {
        Seen {
            id: id.to_string(),
            updated_at: at(second),
        }
    }

    /// A listing of (id, second) sorted by time then id, served like the API does.
    fn serve(listing: &[(u32, i64)], request: &Request, limit: usize) -> (Vec<Seen>, u64) {
        let matching: Vec<Seen> = listing
            .iter()
            .filter(|(_, s)| request.since.is_none_or(|since| at(*s) >= Some(since)))
            .map(|(id, s)| seen(*id, *s))
            .collect();
        let pages = matching.len().div_ceil(limit).max(1) as u64;
        let from = (request.page as usize - 1) * limit;
        let page = matching.into_iter().skip(from).take(limit).collect();
        (page, pages)
    }

    fn run(listing: &[(u32, i64)], limit: usize, keyset: bool) -> (Vec<String>, usize) {
        let mut pager = Pager::new(None, limit, keyset);
        let mut taken = Vec::new();
        let mut requests = 0;
        while let Some(request) = pager.next_request().cloned() {
            requests += 1;
            assert!(requests < 1000, "no progress");
            let (page, pages) = serve(listing, &request, limit);
            let step = pager.advance(&page, Some(pages));
            taken.extend(step.keep.iter().map(|&i| page[i].id.clone()));
        }
        (taken, requests)
    }

    #[test]
    fn keyset_paging_takes_every_record_once_across_ties_larger_than_a_page() {
        // Ten records at second 5 (more than a page of 4), others spread around.
        let mut listing: Vec<(u32, i64)> = (0..10).map(|i| (i, 5)).collect();
        listing.extend((10..20).map(|i| (i, i64::from(i))));
        listing.sort_by_key(|(id, s)| (*s, *id));
        for keyset in [true, false] {
            let (mut taken, _) = run(&listing, 4, keyset);
            taken.sort_by_key(|id| id.parse::<u32>().unwrap());
            let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
            assert_eq!(taken, expected, "keyset {keyset}");
        }
    }

    #[test]
    fn an_exactly_full_last_page_ends_on_the_page_count() {
        let listing: Vec<(u32, i64)> = (0..8).map(|i| (i, i64::from(i))).collect();
        let (taken, requests) = run(&listing, 4, true);
        assert_eq!(taken.len(), 8);
        // Page 1, then page 1 from second 3 (records 3..6), then from 6 (6, 7).
        assert_eq!(requests, 3);
    }

    #[test]
    fn a_record_changed_mid_run_does_not_hide_another() {
        // Page numbers over a listing that changes under the reader skip a record; the
        // keyset pager does not.
        let limit = 3;
        let mut listing: Vec<(u32, i64)> = (0..9).map(|i| (i, i64::from(i))).collect();
        let mut pager = Pager::new(None, limit, true);
        let mut taken = Vec::new();
        let mut first = true;
        while let Some(request) = pager.next_request().cloned() {
            let (page, pages) = serve(&listing, &request, limit);
            let step = pager.advance(&page, Some(pages));
            taken.extend(step.keep.iter().map(|&i| page[i].id.clone()));
            if first {
                // Record 1, already read, changes at second 100 and moves to the end.
                listing.retain(|(id, _)| *id != 1);
                listing.push((1, 100));
                first = false;
            }
        }
        taken.sort();
        taken.dedup();
        assert_eq!(taken.len(), 9, "{taken:?}");
    }

    #[test]
    fn completeness_follows_the_anchor() {
        let mut pager = Pager::new(None, 2, true);
        let step = pager.advance(&[seen(1, 1), seen(2, 2)], Some(3));
        assert_eq!(step.complete_before, at(2));
        let step = pager.advance(&[seen(2, 2), seen(3, 3)], Some(2));
        assert_eq!(step.complete_before, at(3));
        let step = pager.advance(&[seen(3, 3)], Some(1));
        assert_eq!(step.keep, Vec::<usize>::new());
        assert_eq!(
            step.complete_before,
            at(3).map(|t| t + chrono::Duration::microseconds(1))
        );
        assert!(pager.next_request().is_none());
    }
}

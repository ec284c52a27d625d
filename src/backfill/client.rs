//! The admin API as the backfill sees it: one request per page, with the pipeline's
//! parameter names, resource paths and authorisation, through the shared retry policy.

use chrono::{DateTime, SecondsFormat, Utc};
use url::Url;

use super::pager::Request;
use crate::config::{Pipeline, SourceConfig};
use crate::http::{Http, HttpError, Repeat};
use crate::source::{Document, Entity, Outline};

/// A page request that did not give a usable page.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The call failed (refused, exhausted, unauthorised).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// A 2xx whose body is not a JSON:API document.
    #[error("{url} answered a page that is not a JSON:API document: {reason}")]
    Malformed {
        /// The page's URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The configured base URL and path do not make a URL.
    #[error("invalid admin API URL {url}: {reason}")]
    BadUrl {
        /// What was tried.
        url: String,
        /// The parser's complaint.
        reason: String,
    },
}

/// One answered page: its body, and the outline that decides the next request.
#[derive(Debug)]
pub struct Page {
    /// The URL it came from.
    pub url: String,
    /// The ids, `updated_at` and counts, read ahead of the full parse.
    pub outline: Outline,
    /// The body as received.
    pub body: bytes::Bytes,
}

impl Page {
    /// Reads the whole document; a body whose records differ from its outline is refused.
    pub fn document(&self) -> Result<Document, FetchError> {
        let malformed = |reason: String| FetchError::Malformed {
            url: self.url.clone(),
            reason,
        };
        let document = Document::from_slice(&self.body).map_err(|e| malformed(e.to_string()))?;
        if document.data.len() != self.outline.records.len() {
            return Err(malformed(
                "the records could not be read consistently".into(),
            ));
        }
        Ok(document)
    }
}

/// Pages of the admin API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: Http,
    base: String,
    auth_header: String,
    auth_value: String,
    paths: Vec<(Entity, String)>,
    source: SourceConfig,
}

impl ApiClient {
    /// A client for the pipeline's `[source]` table, with `api_url` replacing its base URL
    /// when given.
    pub fn new(pipeline: &Pipeline, api_url: Option<&str>, token: &str, http: Http) -> ApiClient {
        let source = &pipeline.source;
        let auth_value = if source.auth_scheme.is_empty() {
            token.to_string()
        } else {
            format!("{} {token}", source.auth_scheme)
        };
        ApiClient {
            http,
            base: api_url
                .unwrap_or(&source.api_url)
                .trim_end_matches('/')
                .to_string(),
            auth_header: source.auth_header.clone(),
            auth_value,
            paths: Entity::ALL
                .into_iter()
                .map(|e| (e, pipeline.resource_path(e)))
                .collect(),
            source: source.clone(),
        }
    }

    /// The URL of one page of `entity`'s listing.
    pub fn page_url(&self, entity: Entity, request: &Request) -> Result<String, FetchError> {
        let path = self
            .paths
            .iter()
            .find(|(e, _)| *e == entity)
            .map_or(entity.resource(), |(_, p)| p.as_str());
        let text = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let mut url = Url::parse(&text).map_err(|e| FetchError::BadUrl {
            url: text.clone(),
            reason: e.to_string(),
        })?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair(&self.source.page_param, &request.page.to_string());
            query.append_pair(&self.source.limit_param, &self.source.page_size.to_string());
            if !self.source.sort.is_empty() {
                query.append_pair("sort", &self.source.sort);
            }
            if let Some(since) = request.since {
                query.append_pair(&self.source.updated_since_param, &timestamp(since));
            }
        }
        Ok(url.to_string())
    }

    /// Fetches one page and reads its outline; [`Page::document`] reads the rest.
    pub async fn fetch(&self, entity: Entity, request: &Request) -> Result<Page, FetchError> {
        let url = self.page_url(entity, request)?;
        let answer = self
            .http
            .send(&url, Repeat::Safe, |client| {
                client
                    .get(&url)
                    .header(&self.auth_header, &self.auth_value)
                    .header(reqwest::header::ACCEPT, "application/vnd.api+json")
            })
            .await?;
        let outline = Outline::from_slice(&answer.body).map_err(|e| FetchError::Malformed {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        Ok(Page {
            url,
            outline,
            body: answer.body,
        })
    }
}

/// RFC 3339 in UTC with as many fractional digits as the instant needs.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn page_urls_follow_the_pipeline() {
        let text = r#"
            [store]
            url = "lake"
            [source]
            api_url = "https://tenant.example/api/v2/"
            page_size = 250
            [source.resource_paths]
            queue_appointments = "queue"
        "#;
        let pipeline =
            crate::config::Pipeline::parse(text, std::path::Path::new("t.toml")).unwrap();
        let http = Http::new(crate::http::RetryPolicy::default(), None).unwrap();
        let client = ApiClient::new(&pipeline, None, "t0k", http);
        let since = Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).single();
        let url = client
            .page_url(Entity::QueueAppointments, &Request { since, page: 3 })
            .unwrap();
        assert_eq!(
            url,
            "https://tenant.example/api/v2/queue?page=3&limit=250&sort=updated_at&filter%5Bupdated_since%5D=2026-03-08T07%3A00%3A00Z"
        );
        assert_eq!(client.auth_value, "Bearer t0k");
    }
}

//! One fetch of a web knowledge source: a page (conditional GET with the ETag and
//! Last-Modified kept from the last fetch), or a sitemap (an index followed one level) and
//! its pages, each read within its bounds and turned into text by its content type.

use crate::flows::knowledge::web::{self, WebSource};
use crate::flows::knowledge::{Document, Kind};
use crate::store::KnowledgePage;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A client for knowledge fetches: through the network guard unless private networks are
/// allowed, following up to 3 redirects.
pub fn client(allow_private: bool) -> reqwest::Client {
    crate::net::client_builder(allow_private, 3)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .user_agent("Parley knowledge fetcher")
        .build()
        .unwrap_or_default()
}

/// Refuses an internal address written as such (an IP literal never reaches the guard's
/// resolver) unless private networks are allowed.
fn guard_url(allow_private: bool, url: &str) -> Result<(), String> {
    web::check_url(url)?;
    if allow_private {
        return Ok(());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    crate::net::Guard::system().check_url(&parsed).map_err(|refused| {
        format!("{refused}; Parley fetches knowledge from private networks only when the config sets `flows.allow_private_networks: true`")
    })
}

/// What a fetch found: the source's pages (`None`: nothing changed) and what failed.
pub struct Outcome {
    pub pages: Option<Vec<KnowledgePage>>,
    pub error: Option<String>,
}

/// Fetches `source`, given the pages stored for it.
pub async fn fetch(
    client: &reqwest::Client,
    allow_private: bool,
    source: &WebSource,
    stored: &[KnowledgePage],
    now: DateTime<Utc>,
) -> Outcome {
    let known: HashMap<&str, &KnowledgePage> = stored.iter().map(|p| (p.url.as_str(), p)).collect();
    let urls = if source.sitemap {
        match sitemap_pages(client, allow_private, source).await {
            Ok(urls) => urls,
            Err(error) => {
                return Outcome {
                    pages: None,
                    error: Some(error),
                }
            }
        }
    } else {
        vec![source.url.clone()]
    };
    let mut pages = Vec::new();
    let mut errors = Vec::new();
    let mut changed = urls.len() != stored.len();
    for url in urls {
        match page(
            client,
            allow_private,
            &source.url,
            &url,
            known.get(url.as_str()).copied(),
            now,
        )
        .await
        {
            Ok(Some(p)) => {
                changed |= known.get(url.as_str()).is_none_or(|k| k.hash != p.hash);
                pages.push(p);
            }
            Ok(None) => pages.extend(known.get(url.as_str()).map(|p| (*p).clone())),
            Err(e) => {
                // The last good copy of this page stays.
                errors.push(format!("{url}: {e}"));
                pages.extend(known.get(url.as_str()).map(|p| (*p).clone()));
            }
        }
    }
    let error = match errors.len() {
        0 => None,
        1 if !source.sitemap => Some(
            errors
                .remove(0)
                .split_once(": ")
                .map_or(String::new(), |(_, e)| e.to_string()),
        ),
        n => Some(format!("{n} pages failed; first: {}", errors[0])),
    };
    Outcome {
        pages: changed.then_some(pages),
        error,
    }
}

/// One page: `Ok(None)` when the server says it has not changed.
async fn page(
    client: &reqwest::Client,
    allow_private: bool,
    source: &str,
    url: &str,
    known: Option<&KnowledgePage>,
    now: DateTime<Utc>,
) -> Result<Option<KnowledgePage>, String> {
    guard_url(allow_private, url)?;
    let mut request = client.get(url);
    if let Some(k) = known {
        if let Some(etag) = &k.etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &k.last_modified {
            request = request.header(reqwest::header::IF_MODIFIED_SINCE, lm);
        }
    }
    let response = request.send().await.map_err(|e| describe(&e))?;
    if response.status() == reqwest::StatusCode::NOT_MODIFIED && known.is_some() {
        return Ok(None);
    }
    if !response.status().is_success() {
        return Err(format!("the server answered {}", response.status()));
    }
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let etag = header(reqwest::header::ETAG);
    let last_modified = header(reqwest::header::LAST_MODIFIED);
    let Some(kind) = Kind::of_content_type(content_type.as_deref(), url) else {
        return Err(format!(
            "it is {}, not a web page, PDF or text",
            content_type.as_deref().unwrap_or("of no type")
        ));
    };
    let bytes = crate::net::read_limited(response, web::PAGE_MAX_BYTES as usize)
        .await
        .map_err(|e| e.to_string())?;
    let name = url.to_string();
    let document =
        tokio::task::spawn_blocking(move || Document::read(&name, &bytes, kind, Some(&name)))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|r| r.message)?;
    let body = document.pages.join("\u{c}");
    let hash = format!("{:x}", Sha256::digest(body.as_bytes()));
    Ok(Some(KnowledgePage {
        source: source.to_string(),
        url: url.to_string(),
        title: document.title,
        kind: match kind {
            Kind::Html => "html",
            Kind::Pdf => "pdf",
            Kind::Text => "text",
        }
        .into(),
        body,
        hash,
        etag,
        last_modified,
        fetched_at: now,
    }))
}

/// The pages a sitemap lists (an index's sitemaps read one level down), filtered by
/// `include`, at most `max_pages`.
async fn sitemap_pages(
    client: &reqwest::Client,
    allow_private: bool,
    source: &WebSource,
) -> Result<Vec<String>, String> {
    let (mut urls, index) = read_sitemap(client, allow_private, &source.url).await?;
    if index {
        let sitemaps = std::mem::take(&mut urls);
        for s in sitemaps.iter().take(50) {
            let (more, _) = read_sitemap(client, allow_private, s).await?;
            urls.extend(more);
            if urls.len() >= web::SITEMAP_MAX_URLS {
                break;
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    Ok(urls
        .into_iter()
        .filter(|u| web::check_url(u).is_ok())
        .filter(|u| source.include.as_deref().is_none_or(|i| u.contains(i)))
        .filter(|u| seen.insert(u.clone()))
        .take(source.max_pages)
        .collect())
}

async fn read_sitemap(
    client: &reqwest::Client,
    allow_private: bool,
    url: &str,
) -> Result<(Vec<String>, bool), String> {
    guard_url(allow_private, url)?;
    let response = client.get(url).send().await.map_err(|e| describe(&e))?;
    if !response.status().is_success() {
        return Err(format!(
            "the sitemap {url}: the server answered {}",
            response.status()
        ));
    }
    let bytes = crate::net::read_limited(response, web::SITEMAP_MAX_BYTES as usize)
        .await
        .map_err(|e| format!("the sitemap {url}: {e}"))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(web::sitemap_locations(&text))
}

/// A request's failure in plain words; a private address names the setting that allows it.
fn describe(e: &reqwest::Error) -> String {
    if crate::net::refused_address(e) {
        let why = crate::net::refusal(e).unwrap_or_else(|| "it is a private address".into());
        return format!("{why}; Parley fetches knowledge from private networks only when the config sets `flows.allow_private_networks: true`");
    }
    if e.is_timeout() {
        return format!("no answer within {} seconds", REQUEST_TIMEOUT.as_secs());
    }
    if e.is_connect() {
        return "cannot connect to the server".into();
    }
    e.to_string()
}

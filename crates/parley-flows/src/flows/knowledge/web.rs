//! Knowledge from the web: the pages and sitemaps an agent's `knowledge:` names
//! (`- { url: "https://…", refresh: 6h }`, `- { sitemap: "https://…/sitemap.xml", … }`)
//! and the texts fetched for them. Loading flows never fetches: the process that runs
//! them keeps the texts it fetched or read from the database in `WebTexts`, by project
//! folder, and each load of that project's flows takes its pages from there. A source with
//! no text yet loads with no passages from it (and `parley check` says so).

use super::Document;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a source is fetched again when the flow does not say.
pub const REFRESH_DEFAULT: Duration = Duration::from_secs(24 * 3600);
/// The most often a source may be fetched again.
pub const REFRESH_MIN: Duration = Duration::from_secs(60);
/// Pages of a sitemap read when the flow does not say.
pub const MAX_PAGES_DEFAULT: usize = 100;
/// The most pages one sitemap may give.
pub const MAX_PAGES_MAX: usize = 1_000;
/// The largest web page (HTML, PDF or text).
pub const PAGE_MAX_BYTES: u64 = 2 * 1024 * 1024;
/// The largest sitemap.
pub const SITEMAP_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// The most addresses read from one sitemap.
pub const SITEMAP_MAX_URLS: usize = 50_000;

/// One web entry of a `knowledge:` list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebSource {
    /// The page's or the sitemap's address: also how the source is named in the database
    /// and the API.
    pub url: String,
    pub sitemap: bool,
    pub refresh: Duration,
    /// For a sitemap: the most pages read.
    pub max_pages: usize,
    /// For a sitemap: only pages whose address contains this.
    pub include: Option<String>,
}

/// What is known of a source: its pages, and the last fetch's error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebState {
    pub pages: Vec<Document>,
    /// Whether it was ever fetched (its pages may still be none, or the fetch failed).
    pub fetched: bool,
    pub error: Option<String>,
}

/// The texts of a project's web sources, by source address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebTexts {
    pub sources: HashMap<String, WebState>,
}

fn shelves() -> &'static Mutex<HashMap<PathBuf, Arc<WebTexts>>> {
    static SHELVES: std::sync::OnceLock<Mutex<HashMap<PathBuf, Arc<WebTexts>>>> =
        std::sync::OnceLock::new();
    SHELVES.get_or_init(Default::default)
}

fn key(project_dir: &Path) -> PathBuf {
    project_dir
        .canonicalize()
        .unwrap_or_else(|_| project_dir.to_path_buf())
}

/// The folder holding `flows_dir`, from which `knowledge:` is named (as the loader finds it).
pub fn project_of(flows_dir: &Path) -> &Path {
    match flows_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Sets the web texts the next loads of `project_dir`'s flows use (all of them: a source
/// missing here has no text).
pub fn set_texts(project_dir: &Path, texts: WebTexts) {
    let mut s = shelves().lock().unwrap_or_else(|e| e.into_inner());
    s.insert(key(project_dir), Arc::new(texts));
}

/// The web texts of `project_dir`'s flows.
pub fn texts(project_dir: &Path) -> Arc<WebTexts> {
    let s = shelves().lock().unwrap_or_else(|e| e.into_inner());
    s.get(&key(project_dir)).cloned().unwrap_or_default()
}

/// Whether `url` is an address Parley fetches (http or https, with a host).
pub fn check_url(url: &str) -> Result<(), String> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Err(format!("`{url}` is not a web address"));
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "`{url}` is not an http or https address (Parley fetches only web pages)"
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{url}` has no host"));
    }
    Ok(())
}

/// The addresses a sitemap lists (`<loc>`), and whether it is a sitemap index (whose
/// addresses are sitemaps). At most `SITEMAP_MAX_URLS`.
pub fn sitemap_locations(xml: &str) -> (Vec<String>, bool) {
    let index = xml.contains("<sitemapindex");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<loc>") {
        rest = &rest[start + 5..];
        let Some(end) = rest.find("</loc>") else {
            break;
        };
        let raw = rest[..end].trim();
        let raw = raw
            .strip_prefix("<![CDATA[")
            .and_then(|r| r.strip_suffix("]]>"))
            .unwrap_or(raw);
        out.push(super::html::decode(raw.trim()));
        rest = &rest[end + 6..];
        if out.len() >= SITEMAP_MAX_URLS {
            break;
        }
    }
    (out, index)
}

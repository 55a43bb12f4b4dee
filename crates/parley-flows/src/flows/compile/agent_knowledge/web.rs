//! The web entries of a `knowledge:` list: `{ url: …, refresh: 6h }` and `{ sitemap: …,
//! refresh: 1d, max_pages: 200, include: "/help/" }` checked at load, and their pages
//! taken from what the running process fetched (`knowledge::web::texts`).

use super::super::super::knowledge::web::{self, WebSource};
use super::super::super::knowledge::Document;
use super::super::super::problem::Problems;
use super::super::super::yaml::{self, YamlNode};
use marked_yaml::types::MarkedMappingNode;
use std::path::Path;

const KEYS: &[&str] = &["url", "sitemap", "refresh", "max_pages", "include"];

/// A web entry, checked; `None` (with the problems said) when it is malformed.
pub(super) fn source(m: &MarkedMappingNode, problems: &mut Problems) -> Option<WebSource> {
    yaml::check_keys(m, KEYS, "a web knowledge source", problems);
    let at = || yaml::pos(&YamlNode::Mapping(m.clone()));
    let (url_node, sitemap) = match (m.get_node("url"), m.get_node("sitemap")) {
        (Some(u), None) => (u, false),
        (None, Some(s)) => (s, true),
        (Some(_), Some(s)) => {
            problems.error(
                yaml::pos(s),
                "a web knowledge source has either `url:` or `sitemap:`, not both",
                Some("write the page and the sitemap as two entries".into()),
            );
            return None;
        }
        (None, None) => {
            problems.error(
                at(),
                "a web knowledge source needs `url:` (a page) or `sitemap:` (a sitemap.xml)",
                Some(
                    "write it like `- { url: \"https://acme.example/help/returns\", refresh: 6h }`"
                        .into(),
                ),
            );
            return None;
        }
    };
    let url = yaml::as_str(url_node, "the address", problems)?
        .trim()
        .to_string();
    if let Err(e) = web::check_url(&url) {
        problems.error(
            yaml::pos(url_node),
            e,
            Some("write the whole address, like `https://acme.example/help/returns`".into()),
        );
        return None;
    }
    let mut ok = true;
    let refresh = match m.get_node("refresh") {
        Some(n) => match yaml::as_duration(n, "`refresh`", problems) {
            Some(d) if d < web::REFRESH_MIN => {
                problems.error(
                    yaml::pos(n),
                    format!("`refresh: {}` is too often", humantime::format_duration(d)),
                    Some(format!("fetch a source at most every {} seconds; most pages change daily: `refresh: 1d`", web::REFRESH_MIN.as_secs())),
                );
                ok = false;
                web::REFRESH_DEFAULT
            }
            Some(d) => d,
            None => {
                ok = false;
                web::REFRESH_DEFAULT
            }
        },
        None => web::REFRESH_DEFAULT,
    };
    let mut max_pages = web::MAX_PAGES_DEFAULT;
    for key in ["max_pages", "include"] {
        if let (Some(n), false) = (m.get_node(key), sitemap) {
            problems.error(
                yaml::pos(n),
                format!("`{key}` is for sitemaps; this entry is one page (`url:`)"),
                Some("remove it, or name a sitemap with `sitemap:`".into()),
            );
            ok = false;
        }
    }
    if let (Some(n), true) = (m.get_node("max_pages"), sitemap) {
        match yaml::as_int(n, "`max_pages`", problems) {
            Some(v) if (1..=web::MAX_PAGES_MAX as i64).contains(&v) => max_pages = v as usize,
            Some(v) => {
                problems.error(
                    yaml::pos(n),
                    format!("`max_pages: {v}` is out of range"),
                    Some(format!("a sitemap gives 1 to {} pages", web::MAX_PAGES_MAX)),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    let include = match (m.get_node("include"), sitemap) {
        (Some(n), true) => Some(yaml::as_str(n, "`include`", problems)?.to_string()),
        _ => None,
    };
    ok.then_some(WebSource {
        url,
        sitemap,
        refresh,
        max_pages,
        include,
    })
}

/// The pages fetched for `sources`, within `left` bytes of text; a source not fetched
/// yet, or whose last fetch failed, is a warning at its entry.
pub(super) fn documents(
    project_dir: &Path,
    sources: &[(WebSource, &YamlNode)],
    left: &mut u64,
    problems: &mut Problems,
) -> Vec<Document> {
    let texts = web::texts(project_dir);
    let mut out = Vec::new();
    for (source, node) in sources {
        let state = texts.sources.get(&source.url);
        let Some(state) = state.filter(|s| s.fetched) else {
            problems.warning(
                yaml::pos(node),
                format!(
                    "`{}` is not fetched yet: the agent has no passages from it",
                    source.url
                ),
                Some(
                    "Parley fetches it when it starts; `GET /api/knowledge` shows its state".into(),
                ),
            );
            continue;
        };
        if let Some(error) = &state.error {
            let kept = if state.pages.is_empty() {
                "the agent has no passages from it"
            } else {
                "the copy fetched before is used"
            };
            problems.warning(
                yaml::pos(node),
                format!("the last fetch of `{}` failed: {error}; {kept}", source.url),
                Some("check the address; Parley tries again later, and `POST /api/knowledge/refresh` tries now".into()),
            );
        }
        for page in &state.pages {
            if page.len() > *left {
                problems.warning(
                    yaml::pos(node),
                    format!(
                        "the page `{}` is left out: the knowledge of this step is over {} MiB with it",
                        page.name,
                        super::knowledge::STEP_MAX_BYTES / (1024 * 1024)
                    ),
                    Some("give this agent fewer pages (`max_pages`, `include`) or fewer files".into()),
                );
                continue;
            }
            *left -= page.len();
            out.push(page.clone());
        }
    }
    out
}

//! Knowledge from the web (issue 59): the web pages and sitemaps agent steps name are fetched through the network guard, kept in `knowledge_documents`, refreshed on their schedule, and the flows reloaded when one changed.
//!
//! Every few seconds the worker records the sources the running flows name, claims those
//! due (a lease, so two processes never fetch one source at once), fetches them and hands
//! the result back. The texts every load compiles from (`flows::knowledge::web`) are read
//! from the database at start and after each change, so a restart needs no fetch and
//! every process answers from the same copy. A failed fetch keeps the last good copy,
//! records the error and tries again later, backing off; nothing here stops the daemon.

mod fetch;

use crate::config::Config;
use crate::domain::Clock;
use crate::engine::FlowEngine;
use crate::flows::knowledge::web::{self, WebSource, WebState, WebTexts};
use crate::flows::knowledge::Document;
use crate::store::{DynStore, KnowledgeFetched, KnowledgeUse};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often the worker looks for due sources.
const TICK: Duration = Duration::from_secs(2);
/// How long a claim lasts: longer than a sitemap's fetch normally takes.
const LEASE: Duration = Duration::from_secs(600);
/// Sources fetched per tick.
const PER_TICK: i64 = 8;
/// The longest wait after failures in a row.
const BACKOFF_MAX: Duration = Duration::from_secs(6 * 3600);

/// Starts the worker on `workers` until `stop`.
pub fn spawn(
    config: &Arc<Config>,
    store: &DynStore,
    engine: &Arc<FlowEngine>,
    clock: &Arc<dyn Clock>,
    owner: &str,
    workers: &TaskTracker,
    stop: &CancellationToken,
) {
    let worker = Worker {
        config: config.clone(),
        store: store.clone(),
        engine: engine.clone(),
        clock: clock.clone(),
        owner: owner.to_string(),
        client: fetch::client(config.flows.allow_private_networks),
        texts: None,
    };
    let stop = stop.clone();
    workers.spawn(async move { worker.run(stop).await });
}

struct Worker {
    config: Arc<Config>,
    store: DynStore,
    engine: Arc<FlowEngine>,
    clock: Arc<dyn Clock>,
    owner: String,
    client: reqwest::Client,
    /// The texts the running flows were loaded with.
    texts: Option<WebTexts>,
}

impl Worker {
    async fn run(mut self, stop: CancellationToken) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!("knowledge from the web: {e}");
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    async fn tick(&mut self) -> anyhow::Result<()> {
        let sources = named_sources(&self.engine);
        if sources.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let uses: Vec<KnowledgeUse> = sources
            .iter()
            .map(|(url, (_, used_by))| KnowledgeUse {
                source: url.clone(),
                used_by: used_by.join(", "),
            })
            .collect();
        self.store.knowledge_register(&uses, now).await?;
        let lease_until = now + chrono::Duration::from_std(LEASE)?;
        let claimed = self
            .store
            .knowledge_claim(&self.owner, now, lease_until, PER_TICK)
            .await?;
        for url in claimed {
            let Some((source, _)) = sources.get(&url) else {
                continue;
            };
            let stored = self.store.knowledge_pages(Some(&url)).await?;
            let outcome = fetch::fetch(
                &self.client,
                self.config.flows.allow_private_networks,
                source,
                &stored,
                now,
            )
            .await;
            let failures = self
                .store
                .knowledge_sources()
                .await?
                .into_iter()
                .find(|s| s.source == url)
                .map_or(0, |s| s.failures);
            let wait = match &outcome.error {
                None => source.refresh,
                // 1, 2, 4… minutes, at most the source's own refresh or six hours.
                Some(_) => Duration::from_secs(60 << failures.clamp(0, 12))
                    .min(source.refresh)
                    .min(BACKOFF_MAX),
            };
            if let Some(e) = &outcome.error {
                tracing::warn!(source = %url, "fetching knowledge failed: {e}");
            }
            self.store
                .knowledge_fetched(&KnowledgeFetched {
                    source: url.clone(),
                    owner: self.owner.clone(),
                    at: now,
                    pages: outcome.pages,
                    error: outcome.error,
                    next_fetch_at: now + chrono::Duration::from_std(wait)?,
                })
                .await?;
        }
        self.refresh_texts().await
    }

    /// Reads the stored texts and reloads the flows when they differ from those loaded.
    async fn refresh_texts(&mut self) -> anyhow::Result<()> {
        let texts = stored_texts(&self.store).await?;
        if self.texts.as_ref() == Some(&texts) {
            return Ok(());
        }
        let project = project_dir(&self.config);
        web::set_texts(&project, texts.clone());
        self.texts = Some(texts);
        let config = self.config.clone();
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || {
            let report = crate::flows::load_configured(&config);
            match report.set {
                Some(set) => {
                    tracing::info!(flows = set.len(), "flows reloaded with new web knowledge");
                    engine.replace(set);
                }
                None => tracing::error!(
                    "the flows have errors; the ones loaded before keep running:\n{}",
                    report.render()
                ),
            }
        })
        .await?;
        Ok(())
    }
}

/// The project folder whose loads use the web texts.
pub fn project_dir(config: &Config) -> PathBuf {
    web::project_of(std::path::Path::new(&config.flows.dir)).to_path_buf()
}

/// The web sources the running flows name, by address, with the steps naming them.
fn named_sources(engine: &FlowEngine) -> BTreeMap<String, (WebSource, Vec<String>)> {
    let mut out: BTreeMap<String, (WebSource, Vec<String>)> = BTreeMap::new();
    let flows = engine.flows();
    for flow in flows.flows() {
        for step in &flow.steps {
            let crate::flows::Op::Agent(spec) = &step.op else {
                continue;
            };
            let Some(k) = &spec.knowledge else { continue };
            let name = format!(
                "{}/{}",
                flow.id,
                step.id
                    .clone()
                    .unwrap_or_else(|| format!("line {}", step.at.line))
            );
            for source in &k.web {
                let entry = out
                    .entry(source.url.clone())
                    .or_insert_with(|| (source.clone(), Vec::new()));
                // The most often any step asks for.
                entry.0.refresh = entry.0.refresh.min(source.refresh);
                if !entry.1.contains(&name) {
                    entry.1.push(name.clone());
                }
            }
        }
    }
    out
}

/// The texts stored for every source, as the flows' loads take them.
pub async fn stored_texts(store: &DynStore) -> anyhow::Result<WebTexts> {
    let mut texts = WebTexts::default();
    for s in store.knowledge_sources().await? {
        texts.sources.insert(
            s.source.clone(),
            WebState {
                pages: Vec::new(),
                fetched: s.fetched_at.is_some() || s.error.is_some(),
                error: s.error,
            },
        );
    }
    for p in store.knowledge_pages(None).await? {
        let paged = p.kind == "pdf";
        let document = Document {
            name: p.url.clone(),
            title: p.title,
            link: Some(p.url),
            pages: if paged {
                p.body.split('\u{c}').map(str::to_string).collect()
            } else {
                vec![p.body]
            },
            paged,
        };
        let state = texts.sources.entry(p.source).or_default();
        state.fetched = true;
        state.pages.push(document);
    }
    Ok(texts)
}

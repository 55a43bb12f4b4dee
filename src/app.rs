//! Wiring: config → store → senders → flows → workers → HTTP, and an orderly shutdown:
//! stop accepting requests, let the ingestor drain, let workers finish the steps and sends
//! in flight, exit.

use crate::channels::senders::Senders;
use crate::config::Config;
use crate::domain::{Clock, WindowPolicy};
use crate::engine::{EngineOptions, FlowEngine};
use crate::http::{self, AppState};
use crate::store::{self, DynStore};
use crate::workers::inbox::Inbox;
use crate::workers::ingest::Ingestor;
use crate::workers::media::MediaWorker;
use crate::workers::outbox::Outbox;
use crate::workers::reload::{FlowStatus, Reloader};
use crate::workers::scheduler::Scheduler;
use crate::workers::{timers, Wakeups};
use anyhow::Context;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutdown waits for work in flight before giving up on it (its leases expire
/// and another process, or the next start, takes it over).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

pub struct App {
    pub state: AppState,
    wake: Wakeups,
    owner: String,
    flow_files: crate::workers::reload::Fingerprint,
    knowledge_files: Vec<std::path::PathBuf>,
}

/// The engine with voice notes transcribed before flows see them, when `transcribe:` is set.
fn transcribing(engine: FlowEngine, config: &Config) -> anyhow::Result<FlowEngine> {
    let Some(t) = &config.transcribe else {
        return Ok(engine);
    };
    let transcriber = crate::models::Transcriber::from_config(t)
        .map_err(|e| anyhow::anyhow!("transcribe: {e}"))?;
    let whatsapp = crate::domain::limits::media_bytes_max(crate::domain::MediaKind::Audio);
    let audio_max = config
        .media
        .max_bytes
        .map_or(whatsapp, |cap| cap.min(whatsapp));
    Ok(engine.with_transcriber(Arc::new(transcriber), t.timeout * 2, audio_max))
}

/// The trace exporter (`telemetry:`), started when an endpoint is set; else a tracer that
/// records nothing.
fn start_tracer(config: &Config) -> anyhow::Result<crate::telemetry::Tracer> {
    match config.telemetry.export_settings() {
        Some(s) => crate::telemetry::start(s).map_err(|e| anyhow::anyhow!(e)),
        None => Ok(crate::telemetry::Tracer::off()),
    }
}

impl App {
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::build_with_models(config, clock, |models| models).await
    }

    /// As `build`, with the configured models passed through `models` first: `parley
    /// test` answers from the test file or a recording instead, or records the answers.
    pub async fn build_with_models(
        config: Config,
        clock: Arc<dyn Clock>,
        models: impl FnOnce(crate::models::Models) -> crate::models::Models,
    ) -> anyhow::Result<Self> {
        Self::build_with(config, clock, models, &crate::flows::Overrides::new()).await
    }

    /// As `build_with_models`, with unsaved texts standing in for flow files (the studio's
    /// try-out and tests run the version being typed; nothing on disk changes). Hot reload
    /// reads the files on disk, so whoever passes overrides turns it off (the driver does).
    pub async fn build_with(
        config: Config,
        clock: Arc<dyn Clock>,
        models: impl FnOnce(crate::models::Models) -> crate::models::Models,
        overrides: &crate::flows::Overrides,
    ) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        // Flows first: a project whose flows cannot load is refused before the database
        // file is created.
        let report = crate::flows::load_configured_with(&config, overrides);
        let knowledge_files = report.knowledge_files.clone();
        let flow_files = crate::workers::reload::fingerprint(&config, &knowledge_files);
        for w in &report.problems {
            tracing::warn!("{w}");
        }
        let rendered = report.render();
        let problems = report.problems;
        let flows = report.set.ok_or_else(|| {
            anyhow::anyhow!(
                "the flows in {} have problems (run `parley check`):\n{rendered}",
                config.flows.dir
            )
        })?;
        tracing::info!(flows = flows.len(), dir = %config.flows.dir, "flows loaded");
        // Once at start: every send is priced from this card (README "Costs").
        let pricer = Arc::new(config.pricer().map_err(|e| anyhow::anyhow!(e))?);
        for w in config.warnings(flows.len()) {
            tracing::warn!("{w}");
        }
        let store: DynStore = store::connect(&config.database)
            .await
            .with_context(|| format!("opening database {}", redact(&config.database.url)))?;
        // Events out are recorded only when someone listens: decided once, so that without
        // an endpoint the hot path builds and writes no event (README "Events").
        if !config.events.endpoints.is_empty() || config.chatwoot.is_some() {
            store.record_events_from_now();
        }
        // A restart is how an operator says "credentials fixed": senders stopped by 190/368
        // get another chance (and are stopped again on the first refusal).
        for stop in store.stopped_senders().await? {
            tracing::info!(sender_id = stop.sender_id, reason = %stop.reason, "resuming sender stopped before restart");
            store.resume_sender(stop.sender_id).await?;
        }
        let flow_status = Arc::new(std::sync::RwLock::new(FlowStatus {
            loaded_at: Some(chrono::Utc::now()),
            flows: flows.len(),
            problems,
            stale: false,
        }));
        let http_client = reqwest::Client::builder()
            .timeout(config.outbox.send_timeout)
            .connect_timeout(Duration::from_secs(5))
            // Provider APIs do not redirect; a redirected POST would turn into a GET.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        let senders = Arc::new(Senders::build_with(
            &config,
            http_client.clone(),
            Arc::new(StoredContents(store.clone())),
        ));
        let engine_options = EngineOptions::from_config(&config);
        let wake = Wakeups::default();
        let ingestor = Ingestor::spawn(
            store.clone(),
            wake.clone(),
            config.webhooks.max_waiting,
            config.webhooks.ack_timeout,
        );
        let me = crate::workers::owner::OwnerId::current();
        // A restart on the same host continues its predecessor's work now, not when the
        // dead process's leases run out (SQLite already did so when it took the file).
        crate::workers::owner::take_over_dead(&store, &me)
            .await
            .context("taking over the leases of a process that is gone")?;
        let owner = me.to_string();
        let webhook_log = Arc::new(http::state::WebhookLog::new(&config));
        let metrics = crate::metrics::handle();
        let tracer = start_tracer(&config)?;
        crate::metrics::register_senders(config.senders.iter().map(|s| s.id));
        // Conversation routing: the numbers' roles, for `/readyz` and the metrics (never
        // delays the start; a sender without `meta.routing` makes no call).
        tokio::spawn({
            let senders = senders.clone();
            async move { senders.read_routing_roles().await }
        });
        // One media store, for the API and the sandbox alike; a folder it cannot write is
        // refused now, not at the first customer photo.
        if let Some(problem) = crate::config::places::media(&config) {
            anyhow::bail!(problem);
        }
        let media_files = crate::store::files::MediaFiles::configured(&config.media)
            .map_err(|e| anyhow::anyhow!(e))?;
        let (clock, sandbox) = crate::sandbox::Sandbox::build(
            &config,
            clock,
            &senders,
            &store,
            &ingestor,
            media_files.clone(),
        );
        let models = models(
            crate::models::Models::from_config(&config).map_err(|problems| {
                anyhow::anyhow!(
                    "the config's models cannot be used:\n  {}",
                    problems.join("\n  ")
                )
            })?,
        );
        let engine = FlowEngine::new(flows, engine_options)
            .with_typing(senders.clone())
            .with_models(Arc::new(models), Some(store.clone()));
        let engine = Arc::new(transcribing(engine, &config)?);
        crate::workers::rollouts::load(&store, &engine).await;
        let studio = Arc::new(crate::studio::analysis::Project::new(config.clone()));
        let state = AppState::new(crate::http::Shared {
            config,
            store,
            senders,
            ingestor,
            clock,
            engine,
            flow_status,
            metrics,
            sandbox,
            wake: wake.clone(),
            webhook_log,
            media_files,
            pricer,
            imports: Arc::new(tokio::sync::Semaphore::new(1)),
            studio,
            studio_runner: None,
            tracer,
        });
        Ok(Self {
            state,
            wake,
            owner,
            flow_files,
            knowledge_files,
        })
    }

    /// Serves HTTP and runs the workers until `signal` resolves, then shuts down in order.
    pub async fn serve(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.serve_on(listener, signal, None).await
    }

    /// `serve`, with HTTP (connections, handlers and the webhook ingestor) on the runtime
    /// `http` when given, and the workers on the current one. `parley serve` does so: an
    /// acknowledgement then waits for the writer, not behind the steps, model answers and
    /// sends that keep the workers' runtime busy (BENCHMARKS.md, issue 17).
    pub async fn serve_on(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
        http: Option<tokio::runtime::Handle>,
    ) -> anyhow::Result<()> {
        let running = self.start_workers()?;
        tracing::info!(listen = %listener.local_addr()?, backend = self.state.store.backend(), "parley is serving");
        let http_stop = CancellationToken::new();
        // One grace for the whole shutdown, counted from the signal: the HTTP drain and then
        // the workers' work in flight share it (one after the other, each with its own,
        // a stop took twice as long, past a service manager's stop timeout).
        let stopping_at = Arc::new(std::sync::OnceLock::new());
        tokio::spawn({
            let http_stop = http_stop.clone();
            let stopping_at = stopping_at.clone();
            async move {
                signal.await;
                let _ = stopping_at.set(tokio::time::Instant::now());
                http_stop.cancel();
            }
        });
        self.serve_http(listener, http, http_stop).await?;
        tracing::info!("shutting down: finishing work in flight");
        let deadline = stopping_at
            .get()
            .copied()
            .unwrap_or_else(tokio::time::Instant::now)
            + SHUTDOWN_GRACE;
        running.finish(deadline).await;
        tracing::info!("stopped");
        Ok(())
    }

    /// Starts every worker: the inbox and the background workers on one stop, the outbox on
    /// its own (see [`Running`]).
    fn start_workers(&self) -> anyhow::Result<Running> {
        let st = &self.state;
        let window = st.config.window.policy();
        let running = Running {
            workers_stop: CancellationToken::new(),
            workers: TaskTracker::new(),
            sends_stop: CancellationToken::new(),
            sends: TaskTracker::new(),
        };
        // Shared: the inbox giving back a lost commit's hand-over holds the outbox's claims.
        let unrecorded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let outbox = self.outbox(window, unrecorded.clone());
        let inbox = self.inbox(window, outbox.send_lease(), unrecorded);
        let (workers, workers_stop) = (&running.workers, &running.workers_stop);
        workers.spawn(inbox.run(workers_stop.clone()));
        workers.spawn(crate::workers::inbox::follow_announcements(
            st.store.clone(),
            self.wake.clone(),
            workers_stop.clone(),
        ));
        running.sends.spawn(outbox.run(running.sends_stop.clone()));
        running.sends.close();
        self.spawn_background(window, workers, workers_stop)?;
        workers.close();
        Ok(running)
    }

    fn outbox(
        &self,
        window: WindowPolicy,
        unrecorded: Arc<std::sync::atomic::AtomicUsize>,
    ) -> Arc<Outbox> {
        let st = &self.state;
        let cfg = &st.config;
        Arc::new(Outbox {
            store: st.store.clone(),
            senders: st.senders.clone(),
            clock: st.clock.clone(),
            window,
            owner: self.owner.clone(),
            concurrency: cfg.outbox.concurrency,
            lease: cfg.outbox.lease,
            poll_interval: cfg.outbox.poll_interval,
            send_timeout: cfg.outbox.send_timeout,
            retry: cfg.outbox.retry.clone(),
            unknown_outcome_wait: cfg.outbox.unknown_outcome_wait,
            wake: self.wake.clone(),
            unrecorded,
            template_categories: Arc::new(
                cfg.templates
                    .iter()
                    .filter_map(|t| Some((t.name.clone(), t.category?)))
                    .collect(),
            ),
            pricer: st.pricer.clone(),
            tracer: st.tracer.clone(),
        })
    }

    /// The inbox, which hands a step's first reply to the outbox leased for `send_lease`.
    fn inbox(
        &self,
        window: WindowPolicy,
        send_lease: Duration,
        unrecorded: Arc<std::sync::atomic::AtomicUsize>,
    ) -> Arc<Inbox> {
        let st = &self.state;
        let cfg = &st.config;
        Arc::new(Inbox {
            store: st.store.clone(),
            engine: st.sandbox.engine(st.engine.clone()),
            clock: st.clock.clone(),
            window,
            owner: self.owner.clone(),
            concurrency: cfg.inbox.concurrency,
            lease: cfg.inbox.lease,
            poll_interval: cfg.inbox.poll_interval,
            wake: self.wake.clone(),
            hand_to_outbox: Some(send_lease),
            pricer: st.pricer.clone(),
            handing: crate::workers::inbox::Handing::new(unrecorded),
            tracer: st.tracer.clone(),
        })
    }

    /// The workers beside the inbox and the outbox: media downloads and their retention,
    /// timers, schedules, broadcasts, and the flows' hot reload.
    fn spawn_background(
        &self,
        window: WindowPolicy,
        workers: &TaskTracker,
        workers_stop: &CancellationToken,
    ) -> anyhow::Result<()> {
        let st = &self.state;
        let cfg = st.config.clone();
        let media = Arc::new(MediaWorker {
            store: st.store.clone(),
            senders: st.senders.clone(),
            files: st.media_files.clone(),
            http: MediaWorker::http_client(cfg.media.download_timeout)
                .context("building the media download client")?,
            clock: st.clock.clone(),
            config: cfg.media.clone(),
            owner: self.owner.clone(),
            wake: self.wake.media.clone(),
        });
        // Turned off, downloads stay queued (they start when it is turned back on, while
        // the provider still has the files); the retention sweep runs either way.
        if cfg.media.enabled {
            workers.spawn(media.clone().run(workers_stop.clone()));
        }
        workers.spawn(media.sweep_loop(workers_stop.clone()));
        workers.spawn(timers::run(
            st.store.clone(),
            st.clock.clone(),
            self.wake.clone(),
            cfg.inbox.poll_interval,
            workers_stop.clone(),
        ));
        workers.spawn(
            Scheduler {
                store: st.store.clone(),
                engine: st.engine.clone(),
                clock: st.clock.clone(),
                config: cfg.clone(),
                owner: self.owner.clone(),
                wake: self.wake.clone(),
                last_round: Default::default(),
            }
            .run(workers_stop.clone()),
        );
        workers.spawn(
            crate::workers::broadcasts::BroadcastWorker {
                store: st.store.clone(),
                clock: st.clock.clone(),
                config: cfg.clone(),
                owner: self.owner.clone(),
                wake: self.wake.clone(),
                pricing: crate::store::SendPricing {
                    pricer: st.pricer.clone(),
                    window,
                },
            }
            .run(workers_stop.clone()),
        );
        workers.spawn(crate::workers::rollouts::run(
            st.store.clone(),
            st.engine.clone(),
            workers_stop.clone(),
        ));
        for spawn in [
            crate::workers::scoring::spawn,
            crate::workers::knowledge::spawn,
            crate::workers::retention::spawn,
        ] {
            spawn(
                &cfg,
                &st.store,
                &st.engine,
                &st.clock,
                &self.owner,
                workers,
                workers_stop,
            );
        }
        crate::workers::events_out::endpoints::spawn(
            &cfg,
            &st.store,
            &st.clock,
            &self.owner,
            workers,
            workers_stop,
            &st.tracer,
        );
        if cfg.flows.hot_reload {
            let reloader = Reloader {
                engine: st.engine.clone(),
                config: cfg.clone(),
                status: st.flow_status.clone(),
                loaded: self.flow_files.clone(),
                knowledge: std::sync::Mutex::new(self.knowledge_files.clone()),
            };
            workers.spawn(reloader.run(workers_stop.clone()));
        }
        Ok(())
    }

    /// Serves HTTP until `http_stop` and the drain after it: here, or on the runtime `http`
    /// when given, with the webhooks' ingestor there too.
    async fn serve_http(
        &self,
        listener: TcpListener,
        http: Option<tokio::runtime::Handle>,
        http_stop: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut st = self.state.clone();
        let cfg = st.config.clone();
        match http {
            None => {
                http::listen::serve(
                    listener,
                    http::router(st),
                    cfg.http.clone(),
                    http_stop,
                    SHUTDOWN_GRACE,
                )
                .await
            }
            Some(on) => {
                // Webhooks are stored from that runtime too: its gathering task, where the
                // store needs one, runs there (the one built with the state stays idle; the
                // sandbox's simulated messages still use it).
                let ingestor = Ingestor::spawn_on(
                    &on,
                    st.store.clone(),
                    self.wake.clone(),
                    cfg.webhooks.max_waiting,
                    cfg.webhooks.ack_timeout,
                );
                st = st.with_ingestor(ingestor);
                // A listener belongs to the runtime it was made on: moved over as it is.
                let listener = listener.into_std()?;
                let config = cfg.http.clone();
                let served = on
                    .spawn(async move {
                        match TcpListener::from_std(listener) {
                            Ok(listener) => {
                                http::listen::serve(
                                    listener,
                                    http::router(st),
                                    config,
                                    http_stop,
                                    SHUTDOWN_GRACE,
                                )
                                .await
                            }
                            Err(e) => tracing::error!(error = %e, "cannot serve HTTP"),
                        }
                    })
                    .await;
                // Whatever ended it, the workers below still finish their work in flight.
                if let Err(e) = served {
                    tracing::error!(error = %e, "serving HTTP stopped");
                }
            }
        }
        Ok(())
    }

    pub fn wakeups(&self) -> Wakeups {
        self.wake.clone()
    }
}

/// The workers of a serving app, on two stops. The outbox stops last, on its own token:
/// the replies of steps that finish during shutdown (a model call in flight) go out before
/// the process exits, instead of waiting, leased to a stopped process, for
/// `unknown_outcome_wait` after the next start.
struct Running {
    workers_stop: CancellationToken,
    workers: TaskTracker,
    sends_stop: CancellationToken,
    sends: TaskTracker,
}

impl Running {
    /// Stops the workers, then the outbox, each finishing its work in flight until
    /// `deadline`; what is still in flight then is left to its leases.
    async fn finish(self, deadline: tokio::time::Instant) {
        self.workers_stop.cancel();
        let finished = tokio::time::timeout_at(deadline, self.workers.wait())
            .await
            .is_ok();
        self.sends_stop.cancel();
        let sent = tokio::time::timeout_at(deadline, self.sends.wait())
            .await
            .is_ok();
        if !(finished && sent) {
            tracing::warn!("work still in flight after {SHUTDOWN_GRACE:?}; its leases will expire and it will be retried");
        }
    }
}

/// The Twilio channel's content-SID cache, kept in the database so restarts and other
/// processes reuse the templates already created.
struct StoredContents(DynStore);

#[async_trait::async_trait]
impl crate::channels::twilio::ContentCache for StoredContents {
    async fn get(&self, account_sid: &str, hash: &str) -> Result<Option<String>, String> {
        self.0
            .twilio_content_sid(account_sid, hash)
            .await
            .map_err(|e| e.to_string())
    }

    async fn put(&self, account_sid: &str, hash: &str, content_sid: &str) -> Result<(), String> {
        self.0
            .save_twilio_content_sid(account_sid, hash, content_sid, chrono::Utc::now())
            .await
            .map_err(|e| e.to_string())
    }
}

/// Hides a password in a database URL for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("sqlite://parley.db"), "sqlite://parley.db");
    }
}

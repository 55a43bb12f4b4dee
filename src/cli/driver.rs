//! Parley running in-process for `simulate` and `test`: the real app (HTTP, inbox, outbox,
//! timers) on a temporary SQLite database, the configured senders all sending through the
//! sandbox, and a manual clock. Each action waits until the bot has finished (nothing left
//! to handle or send), so what the bot replied is known exactly and runs are repeatable.

use crate::app::App;
use crate::config::{ChannelKind, Config, SenderConfig};
use crate::domain::{Clock, ManualClock};
use crate::http::AppState;
use crate::sandbox::inject::{inject, CustomerMessage, Injected};
use crate::sandbox::view::{self, ContactView, SentMessage};
use crate::sandbox::TracedEvent;
use crate::store::{Id, NewEvent};
use crate::workers::scheduler::Scheduler;
use crate::workers::Wakeups;
use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// How long one action may keep the bot busy before the driver gives up.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Driver {
    pub state: AppState,
    pub clock: ManualClock,
    pub sender_id: i64,
    /// `http://127.0.0.1:PORT`, where the sandbox page and API answer.
    pub addr: String,
    scheduler: Scheduler,
    wake: Wakeups,
    seen: HashMap<String, Id>,
    last: Option<CustomerMessage>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// What one customer message did.
pub struct Turn {
    pub injected: Injected,
    pub replies: Vec<SentMessage>,
    pub trace: Option<Arc<TracedEvent>>,
}

impl Driver {
    /// Starts Parley with `config`'s flows and templates, on a fresh database, with the
    /// clock at `start`.
    pub async fn start(config: Config, start: DateTime<Utc>) -> anyhow::Result<Self> {
        Self::start_with_models(config, start, |models| models).await
    }

    /// As `start`, with the configured models passed through `models` (flow tests put
    /// scripted or recorded answers in their place).
    pub async fn start_with_models(
        config: Config,
        start: DateTime<Utc>,
        models: impl FnOnce(crate::models::Models) -> crate::models::Models,
    ) -> anyhow::Result<Self> {
        Self::start_with(config, start, models, &crate::flows::Overrides::new()).await
    }

    /// As `start_with_models`, with unsaved texts standing in for flow files: the studio
    /// tries the version being typed. Hot reload is off, so the files on disk never
    /// replace them.
    pub async fn start_with(
        config: Config,
        start: DateTime<Utc>,
        models: impl FnOnce(crate::models::Models) -> crate::models::Models,
        overrides: &crate::flows::Overrides,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("creating a temporary folder")?;
        let (config, sender_id) = prepare(config, dir.path());
        let clock = Arc::new(ManualClock::new(start));
        let app = App::build_with(config.clone(), clock, models, overrides).await?;
        let state = app.state.clone();
        let clock = state
            .sandbox
            .manual_clock
            .clone()
            .ok_or_else(|| anyhow!("the sandbox did not get a manual clock"))?;
        let wake = app.wakeups();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.serve(listener, async move {
            let _ = stopped.await;
        }));
        let scheduler = Scheduler {
            store: state.store.clone(),
            engine: state.engine.clone(),
            clock: Arc::new(clock.clone()),
            config: state.config.clone(),
            owner: "parley-driver".into(),
            wake: wake.clone(),
            last_round: Default::default(),
        };
        let driver = Self {
            state,
            clock,
            sender_id,
            addr,
            scheduler,
            wake,
            seen: HashMap::new(),
            last: None,
            stop: Some(stop),
            server: Some(server),
            _dir: dir,
        };
        // Schedules count their fires from now on.
        driver.scheduler.tick(&CancellationToken::new()).await?;
        Ok(driver)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The customer writes; returns once the bot has answered.
    pub async fn say(&mut self, mut msg: CustomerMessage) -> anyhow::Result<Turn> {
        msg.sender_id = Some(self.sender_id);
        let st = &self.state;
        let injected = inject(
            &st.sandbox,
            &st.ingestor,
            &st.store,
            st.clock.as_ref(),
            &msg,
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
        self.last = Some(CustomerMessage {
            id: Some(injected.provider_message_id.clone()),
            ..msg.clone()
        });
        if let Some(event_id) = injected.event_id {
            let started = Instant::now();
            while self.state.sandbox.traces.get(event_id).is_none() {
                if started.elapsed() > SETTLE_TIMEOUT {
                    bail!("the bot did not handle the message within {SETTLE_TIMEOUT:?}");
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        self.settle().await?;
        let replies = self.replies(&msg.from).await?;
        let trace = injected
            .event_id
            .and_then(|id| self.state.sandbox.traces.get(id));
        Ok(Turn {
            injected,
            replies,
            trace,
        })
    }

    /// The provider delivers the last customer message again (same id).
    pub async fn duplicate_last(&mut self) -> anyhow::Result<Turn> {
        let last = self
            .last
            .clone()
            .ok_or_else(|| anyhow!("no customer message to duplicate yet"))?;
        self.say(last).await
    }

    /// Moves the clock forward, stopping at every timer and cron fire on the way so each
    /// runs at its own time (a reminder due at 23h sees the window still open), and waits
    /// for the bot to finish.
    pub async fn advance(&mut self, by: Duration) -> anyhow::Result<()> {
        // Test files and the simulator cannot write more than ten years (the parser
        // refuses it); past that, or past the last date there is, this is an error
        // rather than an overflow.
        let target = chrono::Duration::from_std(by)
            .ok()
            .filter(|_| by <= crate::domain::clock::LONGEST)
            .and_then(|by| self.clock.now().checked_add_signed(by))
            .ok_or_else(|| {
                anyhow!(
                    "`advance` of {} is longer than the longest Parley accepts, {}; advance in shorter steps",
                    humantime::format_duration(by),
                    crate::domain::clock::LONGEST_IN_WORDS
                )
            })?;
        for _ in 0..10_000 {
            let now = self.clock.now();
            let mut next = self.state.store.next_timer_due().await?.map(|d| d.max(now));
            for flow in self.state.engine.flows().flows() {
                if let Some(due) = flow.schedule.as_ref().and_then(|s| s.next_after(now)) {
                    next = Some(next.map_or(due, |n| n.min(due)));
                }
            }
            let stop = next.filter(|n| *n <= target).unwrap_or(target);
            self.clock.set(stop);
            self.run_due().await?;
            if stop >= target {
                return Ok(());
            }
        }
        bail!("too many timers and schedule fires on the way; advance in smaller steps")
    }

    /// Fires the timers and schedules due now and waits until the bot is done with them.
    async fn run_due(&mut self) -> anyhow::Result<()> {
        loop {
            let fired = self
                .state
                .store
                .fire_due_timers(self.clock.now(), 1000)
                .await?;
            if fired > 0 {
                self.wake.inbox.notify_one();
            }
            self.scheduler.tick(&CancellationToken::new()).await?;
            self.settle().await?;
            if fired == 0 {
                return Ok(());
            }
        }
    }

    /// Runs a scheduled flow now, for its audience, as if its cron had fired.
    pub async fn run_schedule(&mut self, flow: &str) -> anyhow::Result<()> {
        let flows = self.state.engine.flows();
        let Some(f) = flows.get(flow) else {
            bail!("there is no flow `{flow}`");
        };
        if f.schedule.is_none() {
            bail!("flow `{flow}` has no `schedule:`");
        }
        let now = self.clock.now();
        let mut recorded = false;
        for i in 0..1000 {
            let at = now + chrono::Duration::microseconds(i);
            if self
                .state
                .store
                .record_schedule_fire(flow, at, false, now)
                .await?
            {
                recorded = true;
                break;
            }
        }
        if !recorded {
            bail!("could not record a fire of `{flow}`");
        }
        self.scheduler.tick(&CancellationToken::new()).await?;
        self.settle().await
    }

    /// What the bot sent to `phone` since the last call.
    pub async fn replies(&mut self, phone: &str) -> anyhow::Result<Vec<SentMessage>> {
        let phone = normalize_phone(&self.state.sandbox, phone)?;
        let after = self.seen.get(&phone).copied();
        let sent = view::sent_to(&self.state.store, self.sender_id, &phone, after).await?;
        if let Some(last) = sent.last() {
            self.seen.insert(phone, last.id);
        }
        Ok(sent)
    }

    /// A person hands the customer's conversation back to the bot, as
    /// `POST /api/conversations/{id}/release` does; returns once the bot has it back, false
    /// when it was not handed off.
    pub async fn release(&mut self, phone: &str) -> anyhow::Result<bool> {
        let phone = normalize_phone(&self.state.sandbox, phone)?;
        let conversation = self
            .state
            .store
            .find_conversation(self.sender_id, &phone)
            .await?;
        let Some(event) = conversation
            .as_ref()
            .and_then(|c| NewEvent::release(c, "simulate", self.clock.now()))
        else {
            return Ok(false);
        };
        self.state.store.insert_events(&[event]).await?;
        self.wake.inbox.notify_one();
        self.settle().await?;
        Ok(true)
    }

    pub async fn contact(&self, phone: &str) -> anyhow::Result<Option<ContactView>> {
        let phone = normalize_phone(&self.state.sandbox, phone)?;
        Ok(view::contact(
            &self.state.store,
            &self.state.sandbox,
            &self.state.engine,
            self.state.config.window.policy(),
            self.clock.now(),
            self.sender_id,
            &phone,
        )
        .await?)
    }

    /// Waits until no sender has an event to handle or a message to send.
    async fn settle(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let backlog = self
            .state
            .sandbox
            .settle(&self.state.store, &self.wake, deadline)
            .await?;
        if backlog > 0 {
            bail!("the bot is still busy after {SETTLE_TIMEOUT:?}: {backlog} message(s) waiting to be handled or sent (a retry waiting for the clock?)");
        }
        Ok(())
    }

    /// Stops Parley and deletes its temporary database.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

/// The contact key of the customer typed as `raw` (a BSUID key when the sandbox withholds
/// phones).
fn normalize_phone(sandbox: &crate::sandbox::Sandbox, raw: &str) -> anyhow::Result<String> {
    crate::domain::PhoneNumber::parse(raw)
        .map(|p| sandbox.customer(p).key())
        .map_err(|e| anyhow!("`{raw}` is not a phone number: {e}"))
}

/// The config the driver runs: the flows and templates of `config`, a temporary database,
/// fast polling, schedules driven by the driver, and every configured sender with its id,
/// name and number but sending through the sandbox, so a flow that names any of them (a
/// schedule's `sender:`) runs as it would in production and nothing reaches a provider.
///
/// Returns the sender the customer writes to: the first real number, as in production
/// (the first sandbox sender when there is none; sandbox sender 1 without any sender).
fn prepare(mut config: Config, dir: &std::path::Path) -> (Config, i64) {
    config.database.url = format!("sqlite://{}", dir.join("parley.db").display());
    config.listen = "127.0.0.1:0".into();
    config.flows.hot_reload = false;
    config.inbox.poll_interval = Duration::from_millis(20);
    config.outbox.poll_interval = Duration::from_millis(20);
    config.outbox.retry.initial = Duration::from_millis(20);
    config.scheduler.poll_interval = Duration::from_secs(24 * 3600);
    let customer_writes_to = config
        .senders
        .iter()
        .find(|s| s.channel != ChannelKind::Sandbox)
        .or(config.senders.first())
        .map_or(1, |s| s.id);
    config.senders = if config.senders.is_empty() {
        vec![SenderConfig::sandbox(1, "Sandbox", "+15550000000")]
    } else {
        config
            .senders
            .into_iter()
            .map(|s| SenderConfig {
                channel: ChannelKind::Sandbox,
                meta: None,
                twilio: None,
                // The sandbox is unpaced; a test must not wait on a provider's pace.
                messages_per_second: None,
                ..s
            })
            .collect()
    };
    config.sandbox.enabled = true;
    config.sandbox.manual_clock = true;
    // Statuses arrive in real time, which would make a reply's status depend on how fast
    // the machine is; a test sees accepted, failed or skipped.
    config.sandbox.statuses.enabled = false;
    (config, customer_writes_to)
}

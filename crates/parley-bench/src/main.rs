//! `parley-bench`: Parley's end-to-end load benchmark.
//!
//! Starts the release `parley` binary as a child process on a fresh database with K keyword
//! flows and one Meta sender whose Graph API is a double inside this process, sends signed
//! Meta text webhooks open-loop at a fixed rate from N contacts, and reports acknowledged
//! and reply rates, end-to-end latency (webhook sent → reply at the double, one clock),
//! lost and duplicate replies, and Parley's peak memory and CPU. `--sweep` runs increasing
//! rates, each on a fresh Parley and database, and reports the highest that passes (no
//! loss, no duplicate, only 200s, p99 under the target).
//!
//! It measures and changes nothing in Parley. BENCHMARKS.md has the results and how to read
//! them.
//!
//! The daemon's size and circle rules (`tests/it/sizes.rs`, `tests/it/circles.rs`) name this
//! crate as an exception: `main.rs` (the command line, one flag per measured setting, and
//! `run`/`run_once`, a run's stages in the order the report prints them) and `report.rs`
//! (the report, one section per figure) are long, and the scenarios (`agents`,
//! `broadcast`, `pace`, the doubles) share their figures with the report and each other.
//!
//! `--pin` puts the generator (and the Graph API double, and PostgreSQL) on CPU 0 and the
//! server under test on CPU 1; `--baseline` measures, at each rate of the same run, a bare
//! server that verifies the signature and calls the double storing nothing (`baseline.rs`),
//! and prints Parley's figures as multiples of it; `--mix w2` adds the three status webhooks
//! Meta sends for every reply. Parley runs with the settings a user gets unless `--tuned`.
//!
//! Agents (issue 17): `--mix agent` sends every message to flow `agent`, whose first step is
//! an `agent` step on an OpenAI-compatible model double in this process that answers at
//! once (`model.rs`): replies per second are agent turns per second. `--agent-waiting N`
//! keeps N other conversations waiting on that model for `--model-delay` each
//! (`agents.rs`) while the measured traffic runs, and first runs the same rate without
//! them, to compare the acknowledgement and reply latency.
//!
//! ```sh
//! cargo run --release --bin parley-bench -- --pin --baseline --sweep
//! cargo run --release --bin parley-bench -- --pin --baseline --mix w2 --rate 1000
//! cargo run --release --bin parley-bench -- --rate 1000 --duration 20
//! cargo run --release --bin parley-bench -- --rate 1000 --duration 20 --script-load 16
//! cargo run --release --bin parley-bench -- --pin --mix agent --sweep --rates 500,1000,1500,2000
//! cargo run --release --bin parley-bench -- --pin --rate 1000 --duration 10 --agent-waiting 1000 --model-delay 2s
//! cargo run --release --bin parley-bench -- --sweep --db postgres --postgres-url postgres://root@127.0.0.1:5432/postgres
//! cargo run --release --bin parley-bench -- --pin --rate 500 --duration 20 --broadcast 20000
//! cargo run --release --bin parley-bench -- --pin --rate 20 --duration 30 --broadcast 10000 --senders 2 --pace 80
//! ```
//!
//! Pacing (issues 62, 60): `--pace N` sets every sender's `messages_per_second`; `--senders
//! S` (up to 20) Meta senders share the measured webhooks in turn, a broadcast goes on
//! sender 1 only; the report splits the replies' latency by sender (`pace.rs`).

mod agents;
mod baseline;
mod broadcast;
mod child;
mod double;
mod load;
mod model;
mod pace;
mod pin;
mod preload;
mod record;
mod report;
mod sampler;
mod server;
mod stages;

use anyhow::{bail, Context};
use child::Database;
use clap::{Parser, ValueEnum};
use record::Tracker;
use report::RunResult;
use server::Running;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const PHONE_NUMBER: &str = "+15550783880";
/// Waiting agents at most: under the `concurrency` of the run's model.
const MAX_WAITING: u32 = 1_900;
const PHONE_NUMBER_ID: &str = "106540352242922";

#[derive(Parser, Debug)]
#[command(
    name = "parley-bench",
    about = "End-to-end load benchmark: open-loop signed Meta webhooks in, replies at a Graph API double out"
)]
struct Args {
    /// Webhooks per second (open loop: sent on schedule, whatever the answers).
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Seconds of sending per run [default: 20, or 10 per rate with --sweep].
    #[arg(long)]
    duration: Option<f64>,
    /// Distinct customers writing (message i comes from contact i mod N).
    #[arg(long, default_value_t = 10_000)]
    contacts: u32,
    /// Conversations stored before each run (contact, one processed message and one
    /// accepted reply each), written straight into the fresh database once Parley is up:
    /// shows that latency and memory do not grow with what is stored.
    #[arg(long, default_value_t = 0)]
    preload: u64,
    /// Keyword flows loaded (message i says `kw<i mod K> <i>`).
    #[arg(long, default_value_t = 100)]
    flows: u32,
    /// Parley's database: a fresh SQLite file in the run's folder, or a fresh PostgreSQL
    /// database (needs --postgres-url).
    #[arg(long, value_enum, default_value_t = Db::Sqlite)]
    db: Db,
    /// Admin URL of a PostgreSQL server (a database that exists); each run creates its own
    /// database there and drops it after.
    #[arg(long, env = "PARLEY_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Run each of --rates on a fresh Parley and report the highest that passes.
    #[arg(long)]
    sweep: bool,
    /// Rates tried by --sweep, in order (webhooks per second, comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "250,500,750,1000,1500,2000,3000,4000,5000,6000,8000"
    )]
    rates: Vec<u32>,
    /// With --sweep, keep going after two rates in a row failed (by default the sweep stops
    /// there: higher rates only queue more).
    #[arg(long)]
    keep_going: bool,
    /// Seconds to wait after the last answer for replies still on their way.
    #[arg(long, default_value_t = 10.0)]
    drain: f64,
    /// A run passes when its end-to-end p99 is under this (and nothing is lost).
    #[arg(long, default_value_t = 100.0)]
    p99_target_ms: f64,
    /// Also write every figure as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The parley binary [default: target/release/parley, built first].
    #[arg(long)]
    parley: Option<PathBuf>,
    /// Do not run `cargo build --release --bin parley` first.
    #[arg(long)]
    no_build: bool,
    /// Keep each run's folder (config, flows, log, SQLite file) for inspection.
    #[arg(long)]
    keep: bool,
    /// A YAML mapping merged over the generated Parley config, e.g.
    /// `--set 'inbox: { concurrency: 128 }'` (repeatable; for experiments).
    #[arg(long = "set", value_name = "YAML")]
    overrides: Vec<String>,
    /// Also send this many webhooks per second that each start a script burning its whole
    /// time budget (flow `burn`, contacts of their own, no reply), to measure how scripts
    /// affect the acknowledgement and reply latency of the other webhooks.
    #[arg(long, default_value_t = 0)]
    script_load: u32,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Pin the generator (with the Graph API double and PostgreSQL) to CPU 0 and the
    /// server under test to CPU 1.
    #[arg(long)]
    pin: bool,
    /// Also run the storage-less baseline server at each rate, and print Parley's figures
    /// as multiples of its.
    #[arg(long)]
    baseline: bool,
    /// The traffic: `w1` text webhooks only; `w2` also the `sent`, `delivered` and `read`
    /// status webhooks Meta posts for every reply (4 webhooks per reply); `agent` text
    /// webhooks that each are a turn of an `agent` step whose model answers at once.
    #[arg(long, value_enum, default_value_t = Mix::W1)]
    mix: Mix,
    /// Keep this many other conversations waiting on the model (`--model-delay` per turn,
    /// each writing again as soon as it is answered) while the measured traffic runs; each
    /// rate is first run without them, for comparison.
    #[arg(long, default_value_t = 0)]
    agent_waiting: u32,
    /// Import this many contacts through the API (reported as rows/s), then send them one
    /// broadcast while the measured webhooks run, and report its template send rate at the
    /// Graph API double, duplicates, and the webhook ack latency against the same rate
    /// without a broadcast (run first).
    #[arg(long, default_value_t = 0)]
    broadcast: u32,
    /// Every sender's `messages_per_second` in the generated config [default: 100000, so
    /// pacing is not what is measured]. A broadcast run with a pace starts the measured
    /// webhooks once the broadcast's first send reached the Graph API double.
    #[arg(long)]
    pace: Option<u32>,
    /// Meta senders (1 to 20) sharing the measured webhooks (`pace.rs`; `--rate` is the total).
    #[arg(long, default_value_t = 1)]
    senders: u32,
    /// Stop watching a broadcast after this many seconds [default: until all is sent].
    #[arg(long)]
    broadcast_watch: Option<u64>,
    /// How long the model double takes to answer a waiting conversation (`2s`, `500ms`).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    model_delay: Duration,
    /// With `--mix w2`, how long after accepting a reply the double posts its statuses.
    #[arg(long, default_value_t = 100)]
    status_delay_ms: u64,
    /// Run Parley with the settings of earlier benchmark runs (warn-level logs, 200 ms
    /// polls, no hot reload) instead of the shipped defaults.
    #[arg(long)]
    tuned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mix {
    W1,
    W2,
    Agent,
}

impl Mix {
    fn name(self) -> &'static str {
        match self {
            Mix::W1 => "w1",
            Mix::W2 => "w2",
            Mix::Agent => "agent",
        }
    }
}

/// What a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Parley,
    Baseline,
}

impl Subject {
    /// The run's name in the report: what ran beside the measured traffic, if anything.
    fn name(self, waiting: u32, broadcast: u32) -> &'static str {
        match self {
            Subject::Parley if waiting > 0 => "waiting",
            Subject::Parley if broadcast > 0 => "broadcast",
            Subject::Parley => "parley",
            Subject::Baseline => "baseline",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Db {
    Sqlite,
    Postgres,
}

fn main() -> anyhow::Result<()> {
    let raw: Vec<String> = std::env::args().collect();
    if raw.get(1).map(String::as_str) == Some(baseline::MODE) {
        return baseline::main(&raw[2..]);
    }
    let args = Args::parse();
    if args.pin {
        pin::check()?;
        // Before the runtime exists: its threads inherit the CPU.
        pin::pin(0, pin::GENERATOR_CPU)?;
    }
    if args.rate == 0 || args.rates.contains(&0) || args.contacts == 0 || args.flows == 0 {
        bail!("--rate, --rates, --contacts and --flows must be at least 1");
    }
    if args.baseline && (args.mix == Mix::Agent || args.agent_waiting > 0) {
        bail!("the baseline server has no agents: leave out --baseline with --mix agent or --agent-waiting");
    }
    if args.baseline && args.broadcast > 0 {
        bail!("the baseline server has no broadcasts: leave out --baseline with --broadcast");
    }
    if args.broadcast > 0 && args.agent_waiting > 0 {
        bail!("--broadcast and --agent-waiting each compare against a run without them: use one at a time");
    }
    pace::check_args(&args)?;
    if args.agent_waiting > MAX_WAITING {
        bail!("--agent-waiting can be at most {MAX_WAITING} (Parley's model concurrency in the run's config is 2000)");
    }
    let database = match (args.db, &args.postgres_url) {
        (Db::Sqlite, _) => Database::Sqlite,
        (Db::Postgres, Some(url)) => Database::Postgres {
            admin_url: url.clone(),
        },
        (Db::Postgres, None) => bail!(
            "--db postgres needs --postgres-url (e.g. postgres://root@127.0.0.1:5432/postgres)"
        ),
    };
    let binary = parley_binary(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(run(args, database, binary))
}

async fn run(args: Args, database: Database, binary: PathBuf) -> anyhow::Result<()> {
    let rates = if args.sweep {
        args.rates.clone()
    } else {
        vec![args.rate]
    };
    let duration = args
        .duration
        .unwrap_or(if args.sweep { 10.0 } else { 20.0 });
    if args.agent_waiting > 0 {
        println!(
            "parley-bench: plus {} conversations each waiting {} on the model (not in the figures); each rate first runs without them",
            args.agent_waiting,
            humantime::format_duration(args.model_delay)
        );
    }
    if args.broadcast > 0 {
        println!(
            "parley-bench: plus an import of {} contacts and a broadcast to them during the measured webhooks; each rate first runs without them",
            args.broadcast
        );
    }
    if let Some(line) = pace::banner(&args) {
        println!("{line}");
    }
    if args.script_load > 0 {
        println!(
            "parley-bench: plus {}/s webhooks that each run a script for its whole time budget (flow `burn`, not in the figures)",
            args.script_load
        );
    }
    println!(
        "parley-bench: {}{} | {} flows | {} contacts | {} s per rate | p99 target {} ms | {} | source {}",
        database.name(),
        args.overrides
            .iter()
            .map(|o| format!(" --set {o:?}"))
            .collect::<String>(),
        args.flows,
        args.contacts,
        duration,
        args.p99_target_ms,
        machine_line(),
        source_version(&args)
    );
    if let Database::Postgres { .. } = &database {
        if args.pin {
            // The database shares the generator's CPU: Parley has one core of its own.
            for (pid, _) in sampler::processes_named("postgres") {
                pin::pin_all_threads(pid, pin::GENERATOR_CPU);
            }
        }
    }
    let mut results: Vec<RunResult> = Vec::new();
    let mut baselines: Vec<RunResult> = Vec::new();
    let mut references: Vec<RunResult> = Vec::new();
    for rate in rates {
        if args.agent_waiting > 0 || args.broadcast > 0 {
            eprintln!(
                "parley-bench: {rate}/s on {} without {} …",
                database.name(),
                if args.broadcast > 0 {
                    "a broadcast"
                } else {
                    "waiting agents"
                }
            );
            let result = run_once(
                &args,
                &database,
                &binary,
                Subject::Parley,
                rate,
                duration,
                0,
                0,
            )
            .await?;
            print!("{}", report::details(&result));
            references.push(result);
        }
        if args.baseline {
            eprintln!("parley-bench: {rate}/s on the baseline server …");
            let result = run_once(
                &args,
                &database,
                &binary,
                Subject::Baseline,
                rate,
                duration,
                0,
                0,
            )
            .await?;
            print!("{}", report::details(&result));
            baselines.push(result);
        }
        eprintln!("parley-bench: {}/s on {} …", rate, database.name());
        let result = run_once(
            &args,
            &database,
            &binary,
            Subject::Parley,
            rate,
            duration,
            args.agent_waiting,
            args.broadcast,
        )
        .await?;
        print!("{}", report::details(&result));
        results.push(result);
        let failed_twice = results.len() >= 2 && results.iter().rev().take(2).all(|r| !r.passed);
        if args.sweep && failed_twice && !args.keep_going {
            println!("two rates in a row failed: stopping the sweep (--keep-going runs them all)");
            break;
        }
    }
    println!();
    println!("{}", report::HEADER);
    for r in baselines.iter().chain(&references).chain(&results) {
        println!("{}", report::row(r));
    }
    if args.broadcast > 0 {
        println!(
            "\nWith a broadcast to {} imported contacts, against the same rate without it:",
            args.broadcast
        );
        for (with, without) in results.iter().zip(&references) {
            println!("{}", report::broadcast_vs(with, without));
            if with.pace.is_some() {
                println!("{}", pace::vs(with, without));
            }
        }
    } else if !references.is_empty() {
        println!(
            "\nWith {} conversations waiting {} on the model, against the same rate without them:",
            args.agent_waiting,
            humantime::format_duration(args.model_delay)
        );
        for (with, without) in results.iter().zip(&references) {
            println!("{}", report::waiting_vs(with, without));
        }
    }
    let best = results.iter().filter(|r| r.passed).map(|r| r.rate).max();
    let best_baseline = baselines.iter().filter(|r| r.passed).map(|r| r.rate).max();
    if !baselines.is_empty() {
        println!("\nParley as a multiple of the baseline server, same run, same generator:");
        for (p, b) in results.iter().zip(&baselines) {
            println!("{}", report::ratios(p, b));
        }
    }
    if args.sweep {
        match best {
            Some(rate) => println!(
                "\nhighest rate with no loss, no duplicate, only 200s and p99 < {} ms: {rate}/s",
                args.p99_target_ms
            ),
            None => println!(
                "\nno rate passed (no loss, no duplicate, only 200s, p99 < {} ms)",
                args.p99_target_ms
            ),
        }
        if !baselines.is_empty() {
            let highest_tried = baselines.iter().map(|r| r.rate).max().unwrap_or(0);
            println!(
                "{}",
                report::passing_ratio(best, best_baseline, highest_tried)
            );
        }
    }
    if let Some(path) = &args.json {
        let runs = Runs {
            results: &results,
            baselines: &baselines,
            references: &references,
            best,
            best_baseline,
        };
        write_json(path, &args, &database, &binary, duration, runs)?;
    }
    Ok(())
}

/// The runs of one invocation, for `--json`.
struct Runs<'a> {
    results: &'a [RunResult],
    baselines: &'a [RunResult],
    references: &'a [RunResult],
    best: Option<u32>,
    best_baseline: Option<u32>,
}

/// `--json FILE`: every figure of every run, with the arguments that made them.
fn write_json(
    path: &std::path::Path,
    args: &Args,
    database: &Database,
    binary: &std::path::Path,
    duration: f64,
    runs: Runs,
) -> anyhow::Result<()> {
    let doc = serde_json::json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "machine": machine_line(),
        "parley_binary": binary.display().to_string(),
        "source": source_version(args),
        "db": database.name(),
        "flows": args.flows,
        "contacts": args.contacts,
        "duration_s": duration,
        "drain_s": args.drain,
        "p99_target_ms": args.p99_target_ms,
        "config_overrides": args.overrides,
        "script_load_per_s": args.script_load,
        "sweep": args.sweep,
        "best_passing_rate": runs.best,
        "baseline_best_passing_rate": runs.best_baseline,
        "pinned": args.pin,
        "mix": args.mix.name(),
        "tuned": args.tuned,
        "agent_waiting": args.agent_waiting,
        "model_delay_ms": args.model_delay.as_millis() as u64,
        "runs": runs.results,
        "baseline_runs": runs.baselines,
        "broadcast_contacts": args.broadcast,
        "messages_per_second": args.pace.unwrap_or(pace::UNPACED),
        "senders": args.senders,
        "runs_without_waiting_agents": if args.broadcast > 0 { Vec::new() } else { runs.references.to_vec() },
        "runs_without_broadcast": if args.broadcast > 0 { runs.references.to_vec() } else { Vec::new() },
    });
    std::fs::write(path, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("parley-bench: figures written to {}", path.display());
    Ok(())
}

/// One rate on a fresh Parley and database (or a fresh baseline server), with `waiting`
/// conversations waiting on the model meanwhile, or a broadcast to `broadcast` imported
/// contacts; the server is stopped whatever happens.
#[allow(clippy::too_many_arguments)]
async fn run_once(
    args: &Args,
    database: &Database,
    binary: &std::path::Path,
    subject: Subject,
    rate: u32,
    duration: f64,
    waiting: u32,
    broadcast: u32,
) -> anyhow::Result<RunResult> {
    let total = ((rate as f64) * duration).round().max(1.0) as usize;
    let app_secret = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let tracker = Arc::new(Tracker::new(total, args.contacts));
    let double = double::Double::start(tracker.clone()).await?;
    let model = if args.mix == Mix::Agent || waiting > 0 {
        Some(model::ModelDouble::start(args.model_delay).await?)
    } else {
        None
    };
    let account = load::Account {
        phone_number_id: PHONE_NUMBER_ID,
        display_phone_number: PHONE_NUMBER.trim_start_matches('+'),
        app_secret: &app_secret,
    };
    let webhooks = Arc::new(prepare_webhooks(args, total, &account));
    let started = server::StartWith {
        binary,
        database,
        api_base: double.api_base(),
        app_secret: &app_secret,
        model_base_url: model.as_ref().map(|m| m.base_url()),
        broadcast: broadcast > 0,
    };
    let running = server::start(args, subject, started).await?;
    let url = format!("{}/webhooks/meta", running.base());
    let prepared = match broadcast {
        0 => None,
        n => Some(broadcast::import_for_broadcast(&double, running.base(), n).await?),
    };
    if args.mix == Mix::W2 {
        double.post_statuses(
            url.clone(),
            &app_secret,
            PHONE_NUMBER_ID,
            PHONE_NUMBER.trim_start_matches('+'),
            Duration::from_millis(args.status_delay_ms),
        )?;
    }
    let agents = match (&model, waiting) {
        (Some(model), 1..) => Some(start_waiting(&double, model, waiting, &url, &account).await?),
        _ => None,
    };
    let pid = running.pid();
    let postgres = matches!(database, Database::Postgres { .. }) && subject == Subject::Parley;
    let sampler = sampler::Sampler::spawn(pid, {
        let t = tracker.clone();
        move || t.now_ns()
    });
    // Let the server settle after start (migrations, first polls) before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = load::client()?;
    let threads_before = sampler::threads(pid);
    let switches_before = sampler::context_switches(pid);
    let postgres_before = sampler::processes_named("postgres");
    let (statements_measured, wal_start) = match &running {
        Running::Parley(parley) if postgres => (
            parley.reset_statement_stats().await,
            parley.wal_position().await,
        ),
        _ => (false, None),
    };
    let scripts = (args.script_load > 0 && subject == Subject::Parley)
        .then(|| spawn_scripts(args, duration, &account, &url, &client));
    let watching = agents
        .as_ref()
        .zip(model.as_ref())
        .map(|(_, m)| watch_waiting(m));
    let sending = match &prepared {
        Some((_, sends)) => {
            let base = running.base();
            Some(
                broadcast::start_broadcast(base, broadcast, duration, args, sends, &tracker)
                    .await?,
            )
        }
        None => None,
    };
    let phase = load::send_open_loop(&url, &client, webhooks, rate, tracker.clone()).await;
    let waiting_seen = match watching {
        Some((done, watch)) => {
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            Some(watch.await?)
        }
        None => None,
    };
    if let Some(scripts) = scripts {
        let _ = scripts.await;
    }
    let phase_secs = (phase.answers_done - phase.t0) as f64 / 1e9;
    let busiest = sampler::busiest_threads(&threads_before, &sampler::threads(pid), phase_secs, 4);
    let context_switches = sampler::context_switches(pid).saturating_sub(switches_before);
    let postgres_cpu_pct = postgres.then(|| {
        sampler::processes_pct(
            &postgres_before,
            &sampler::processes_named("postgres"),
            phase_secs,
        )
    });
    let drain = load::drain(&tracker, Duration::from_secs_f64(args.drain)).await;
    let statuses = if args.mix == Mix::W2 {
        Some(settle_statuses(&double, &running, &tracker, args.drain).await)
    } else {
        None
    };
    if let Some(agents) = &agents {
        agents.stop();
    }
    let all_sends = prepared.as_ref().map(|(_, sends)| sends.clone());
    let broadcast_figures = match (prepared, sending) {
        (Some((import_s, sends)), Some(sending)) => {
            Some(broadcast::broadcast_figures(broadcast, import_s, &sends, sending, args).await?)
        }
        _ => None,
    };
    // After the broadcast's watch: its sends in all, not only those before the drain.
    let paced = (args.pace.is_some() || args.senders > 1).then(|| {
        let pace = args.pace.unwrap_or(pace::UNPACED);
        pace::figures(
            &tracker,
            &phase,
            duration,
            args.senders,
            pace,
            all_sends.as_deref(),
        )
    });
    let agent_figures = model
        .as_ref()
        .map(|m| agents::figures(m, agents.as_ref(), &double, args, waiting, waiting_seen));
    let samples = sampler.finish(pid, tracker.now_ns()).await;
    drop(client);
    let (stages, postgres_counters, log_problems, stopped) =
        server::stop(running, postgres, statements_measured, wal_start).await?;
    drop(agents);
    drop(double);
    drop(model);
    Ok(report::compute(report::Inputs {
        broadcast: broadcast_figures,
        pace: paced,
        subject: subject.name(waiting, broadcast),
        agents: agent_figures,
        mix: args.mix.name(),
        statuses,
        db: if subject == Subject::Baseline {
            "none"
        } else {
            database.name()
        },
        rate,
        duration_s: duration,
        contacts: args.contacts,
        flows: args.flows,
        tracker: &tracker,
        phase,
        drain,
        samples: &samples,
        postgres_cpu_pct,
        log_problems,
        shutdown_s: stopped,
        p99_target_ms: args.p99_target_ms,
        stages,
        busiest,
        context_switches,
        postgres_counters,
        overrides: &args.overrides,
    }))
}

/// `--script-load`: webhooks that each run a script for its whole budget, sent open loop
/// beside the measured ones, with a tracker of their own (no reply, not in the figures).
fn spawn_scripts(
    args: &Args,
    duration: f64,
    account: &load::Account,
    url: &str,
    client: &reqwest::Client,
) -> tokio::task::JoinHandle<load::SendPhase> {
    let total = ((args.script_load as f64) * duration).round().max(1.0) as usize;
    let hooks = Arc::new(load::prepare_scripts(total, account));
    let (url, client, rate) = (url.to_string(), client.clone(), args.script_load);
    let tracker = Arc::new(Tracker::new(total, total as u32));
    tokio::spawn(async move { load::send_open_loop(&url, &client, hooks, rate, tracker).await })
}

/// `--agent-waiting`: samples the calls waiting on the model until the flag is set.
fn watch_waiting(
    model: &model::ModelDouble,
) -> (
    Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<agents::WaitingSeen>,
) {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counts = model.counts_handle();
    let watch = tokio::spawn(agents::watch(
        move || counts.waiting.load(std::sync::atomic::Ordering::Relaxed),
        done.clone(),
    ));
    (done, watch)
}

/// The measured webhooks: W1 (alternating between the numbers with `--senders`), W2's
/// text webhooks, or agent turns.
fn prepare_webhooks(args: &Args, total: usize, account: &load::Account) -> Vec<load::Webhook> {
    match args.mix {
        Mix::Agent => load::prepare_agent(total, args.contacts, account),
        Mix::W1 if args.senders > 1 => {
            let accounts = pace::accounts(args.senders, account.app_secret);
            load::prepare_alternating(total, args.contacts, args.flows, &accounts)
        }
        Mix::W1 | Mix::W2 => load::prepare(total, args.contacts, args.flows, account),
    }
}

/// `--agent-waiting`: starts the waiting conversations (their first messages over one
/// second) and waits until nearly all of them wait on the model, so the measured traffic
/// starts with them in place.
async fn start_waiting(
    double: &double::Double,
    model: &model::ModelDouble,
    n: u32,
    url: &str,
    account: &load::Account<'_>,
) -> anyhow::Result<agents::Agents> {
    use std::sync::atomic::Ordering::Relaxed;
    let agents = agents::Agents::start(n, url, account, load::client()?, Duration::from_secs(1));
    double.send_slow_replies_to(agents.replies.clone())?;
    let enough = u64::from(n) * 95 / 100;
    let limit = Duration::from_secs(15) + model.delay();
    let start = std::time::Instant::now();
    while model.counts().waiting.load(Relaxed) < enough {
        if start.elapsed() > limit {
            bail!(
                "only {} of {n} conversations wait on the model after {:.0} s ({} of their webhooks not answered 200)",
                model.counts().waiting.load(Relaxed),
                limit.as_secs_f64(),
                agents.counts.non_200.load(Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "parley-bench: {} conversations wait on the model",
        model.counts().waiting.load(Relaxed)
    );
    Ok(agents)
}

/// `--mix w2`: waits (up to `limit` seconds) until the double has posted every reply's three
/// statuses and the server answered them, then asks Parley how many replies ended `read`.
async fn settle_statuses(
    double: &double::Double,
    running: &Running,
    tracker: &Tracker,
    limit: f64,
) -> report::StatusOutcome {
    use std::sync::atomic::Ordering::Relaxed;
    let replied = tracker.replied() as u64;
    let counts = double.status_counts();
    let start = std::time::Instant::now();
    loop {
        let posted = counts.posted.load(Relaxed);
        let answered = counts.ok.load(Relaxed) + counts.failed.load(Relaxed);
        if (posted >= 3 * replied && answered >= posted) || start.elapsed().as_secs_f64() > limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let replies_read = match running {
        Running::Parley(parley) => {
            // Statuses are applied after their webhook is acknowledged.
            let mut read = parley.replies_read().await;
            while read.is_some_and(|n| n < replied) && start.elapsed().as_secs_f64() < limit {
                tokio::time::sleep(Duration::from_millis(100)).await;
                read = parley.replies_read().await;
            }
            read
        }
        Running::Baseline(_) => None,
    };
    report::StatusOutcome {
        posted: counts.posted.load(Relaxed),
        ok: counts.ok.load(Relaxed),
        failed: counts.failed.load(Relaxed),
        replies_read,
    }
}

/// The parley binary next to this one in `target/release`, built first unless told not to
/// (`cargo run --bin parley-bench` builds only the benchmark).
fn parley_binary(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(path) = &args.parley {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe()?;
    let target = exe
        .parent()
        .and_then(|p| p.parent())
        .context("cannot find the target folder")?;
    let binary = target.join("release").join("parley");
    if !exe.starts_with(target.join("release")) {
        eprintln!("parley-bench: this is not a release build of the benchmark; run it with `cargo run --release` so the generator is not the bottleneck");
    }
    if !args.no_build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        eprintln!("parley-bench: cargo build --release --bin parley");
        let status = std::process::Command::new(cargo)
            .args(["build", "--release", "-p", "parley", "--bin", "parley"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .context("running cargo build (pass --parley PATH or --no-build to skip)")?;
        if !status.success() {
            bail!("building parley failed");
        }
    }
    if !binary.exists() {
        bail!(
            "{} not found: build it with `cargo build --release --bin parley` or pass --parley PATH",
            binary.display()
        );
    }
    Ok(binary)
}

/// The commit of the source tree the parley binary is built from (`-dirty` when edited),
/// when this benchmark built it.
fn source_version(args: &Args) -> String {
    if let Some(path) = &args.parley {
        return format!("binary {}", path.display());
    }
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// CPU count and model, for the record (the machine's, not this process's: `--pin` limits
/// the latter to one).
fn machine_line() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs ({model})")
}

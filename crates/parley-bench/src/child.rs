//! Parley under test: a child process of the release binary with its own temporary folder
//! (config, K generated keyword flows, log, and the SQLite file) and a fresh database —
//! a new SQLite file, or a PostgreSQL database created for the run and dropped after it.
//! Stopped with SIGTERM, as an operator would.

use anyhow::{bail, Context};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Where the run's data lives.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite,
    /// An admin URL (a database that exists, e.g. `postgres://root@127.0.0.1:5432/postgres`)
    /// used to create and drop the run's own database.
    Postgres {
        admin_url: String,
    },
}

impl Database {
    pub fn name(&self) -> &'static str {
        match self {
            Database::Sqlite => "sqlite",
            Database::Postgres { .. } => "postgres",
        }
    }
}

pub struct Setup<'a> {
    pub binary: &'a Path,
    pub flows: u32,
    pub database: &'a Database,
    pub api_base: String,
    pub phone_number: &'a str,
    pub phone_number_id: &'a str,
    pub app_secret: &'a str,
    /// YAML mappings merged over the generated config, in order (`--set`).
    pub overrides: &'a [String],
    pub keep: bool,
    /// Conversations written into the database before the run (`--preload`).
    pub preload: u64,
    /// The settings of earlier benchmark runs instead of the shipped defaults (`--tuned`).
    pub tuned: bool,
    /// The CPU Parley runs on (`--pin`).
    pub pin: Option<usize>,
    /// The model double's base URL (`…/v1`) when the run has agents: the config gets model
    /// `bench` and the flows get `agent`.
    pub model_base_url: Option<String>,
    /// The run sends a broadcast (`--broadcast`): the config gets an API key and its
    /// template (`broadcast.rs`).
    pub broadcast: bool,
    /// Every sender's `messages_per_second` (`--pace`; 100,000 unless told).
    pub pace: u32,
    /// Meta senders (`--senders`): those after the first are `pace::more_senders_yaml`.
    pub senders: u32,
}

pub struct Parley {
    child: tokio::process::Child,
    pub pid: u32,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    dir: PathBuf,
    postgres: Option<(String, String)>,
    db_url: String,
    /// Bytes of the log written during start (start-up warnings are not the run's problems).
    start_log_bytes: usize,
    keep: bool,
}

/// How the stop went.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    pub exit_code: Option<i32>,
    pub seconds: f64,
    pub killed: bool,
}

/// `pg_stat_statements`, Parley's statements in the run's database only (not the
/// benchmark's own reads of it and of the outbox).
macro_rules! parleys_statements {
    () => {
        " from pg_stat_statements
         where dbid = (select oid from pg_database where datname = current_database())
           and query not ilike '%pg_stat%' and query not ilike 'create extension%'
           and query not ilike 'select count(*) from outbound_messages where status%'"
    };
}

impl Parley {
    pub async fn start(setup: Setup<'_>) -> anyhow::Result<Self> {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..10];
        let dir = std::env::temp_dir().join(format!("parley-bench-{id}"));
        write_flows(&setup, &dir)?;
        let (db_url, postgres) = match setup.database {
            Database::Sqlite => (
                format!("sqlite://{}", dir.join("parley.db").display()),
                None,
            ),
            Database::Postgres { admin_url } => {
                let name = format!("parley_bench_{id}");
                let url = create_database(admin_url, &name).await?;
                (url, Some((admin_url.clone(), name)))
            }
        };
        let port = free_port()?;
        let config = dir.join("parley.yaml");
        let yaml = with_overrides(&config_yaml(&setup, &dir, port, &db_url), setup.overrides)?;
        std::fs::write(&config, yaml)?;
        let log = std::fs::File::create(dir.join("parley.log"))?;
        let mut command = tokio::process::Command::new(setup.binary);
        if let Some(cpu) = setup.pin {
            crate::pin::pin_child(&mut command, cpu);
        }
        let child = command
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .current_dir(&dir)
            .env_remove("RUST_LOG")
            .env_remove("PARLEY_CONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", setup.binary.display()))?;
        let pid = child.id().context("the child has no pid")?;
        let mut parley = Self {
            child,
            pid,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            postgres,
            db_url: db_url.clone(),
            start_log_bytes: 0,
            keep: setup.keep,
        };
        if let Err(e) = parley.wait_healthy(Duration::from_secs(60)).await {
            let log = parley.log_tail();
            parley.stop().await.ok();
            bail!("{e:#}\n--- parley log ---\n{log}");
        }
        parley.start_log_bytes = parley.log_text().len();
        if setup.preload > 0 {
            eprintln!(
                "parley-bench: storing {} conversations before the run …",
                setup.preload
            );
            let took = match &parley.postgres {
                None => crate::preload::sqlite(&parley.dir.join("parley.db"), setup.preload),
                Some(_) => crate::preload::postgres(&db_url, setup.preload).await,
            };
            match took {
                Ok(seconds) => eprintln!("parley-bench: stored them in {seconds:.1} s"),
                Err(e) => {
                    parley.stop().await.ok();
                    bail!("preloading the database failed: {e:#}");
                }
            }
        }
        Ok(parley)
    }

    async fn wait_healthy(&mut self, limit: Duration) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("parley exited during start ({status})");
            }
            let ok = http
                .get(format!("{}/healthz", self.base))
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok(());
            }
            if start.elapsed() > limit {
                bail!("parley did not answer /healthz within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines Parley logged (warnings and errors: the run logs at `warn`), without
    /// colour codes and cut to a readable width.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                let plain = strip_ansi(l);
                match plain.char_indices().nth(400) {
                    Some((cut, _)) => format!("{}…", &plain[..cut]),
                    None => plain,
                }
            })
            .collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("parley.log")).unwrap_or_default()
    }

    /// Lines Parley logged at warn or error after it started (start-up warnings, such as
    /// "no api_keys configured", are not problems of the run).
    pub fn logged_problems(&self) -> usize {
        let text = self.log_text();
        text.get(self.start_log_bytes..)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .count()
    }

    /// Forgets the statement timings `pg_stat_statements` holds for the run's database, so
    /// that `postgres_counters` reports the longest statement of the measured phase (not of
    /// migrations and seeding). Creates the extension in the run's own database, which is
    /// dropped after the run; `false` (nothing measured) when the server does not load it
    /// (`shared_preload_libraries`) or on SQLite.
    pub async fn reset_statement_stats(&self) -> bool {
        if self.postgres.is_none() {
            return false;
        }
        let Ok(mut conn) = sqlx::PgConnection::connect(&self.db_url).await else {
            return false;
        };
        let reset = async {
            sqlx::query("create extension if not exists pg_stat_statements")
                .execute(&mut conn)
                .await?;
            sqlx::query(
                "select pg_stat_statements_reset(0, (select oid from pg_database
                                                     where datname = current_database()), 0)",
            )
            .execute(&mut conn)
            .await
        }
        .await;
        conn.close().await.ok();
        reset.is_ok()
    }

    /// Where the server's write-ahead log is now (`pg_current_wal_lsn`), to count the WAL
    /// the measured phase writes; `None` on SQLite or when it cannot be read.
    pub async fn wal_position(&self) -> Option<String> {
        self.postgres.as_ref()?;
        let mut conn = sqlx::PgConnection::connect(&self.db_url).await.ok()?;
        let lsn = sqlx::query_scalar("select pg_current_wal_lsn()::text")
            .fetch_one(&mut conn)
            .await
            .ok();
        conn.close().await.ok();
        lsn
    }

    /// How many of Parley's statements ran in the run's database since
    /// `reset_statement_stats`, and their execution time in all (ms).
    async fn statements(own: &mut sqlx::PgConnection) -> Option<(i64, f64)> {
        sqlx::query_as(concat!(
            "select coalesce(sum(calls), 0)::bigint, coalesce(sum(total_exec_time), 0)::float8",
            parleys_statements!()
        ))
        .fetch_one(own)
        .await
        .ok()
    }

    /// The longest execution of any of Parley's statements in the run's database since
    /// `reset_statement_stats` (ms, and the statement's start); `None` when not measured.
    async fn longest_statement(own: &mut sqlx::PgConnection) -> Option<(f64, String)> {
        sqlx::query_as(concat!(
            "select max_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 80)",
            parleys_statements!(),
            " order by max_exec_time desc limit 1"
        ))
        .fetch_optional(own)
        .await
        .ok()
        .flatten()
    }

    /// PostgreSQL's counters for the run's database (transactions and rows), to show how
    /// much database work one webhook costs; the WAL written since `wal_start`
    /// (`wal_position`, server-wide); and, when measured (`statements_measured`:
    /// `reset_statement_stats` succeeded), the statements run, their execution time and the
    /// longest one. `None` on SQLite.
    pub async fn postgres_counters(
        &self,
        statements_measured: bool,
        wal_start: Option<&str>,
    ) -> Option<serde_json::Value> {
        let (admin, name) = self.postgres.as_ref()?;
        let mut conn = sqlx::PgConnection::connect(admin).await.ok()?;
        let row: (i64, i64, i64, i64, i64) = sqlx::query_as(
            "select xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted
             from pg_stat_database where datname = $1",
        )
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .ok()?;
        conn.close().await.ok();
        // Table statistics are per database: ask the run's own.
        let mut url = reqwest::Url::parse(admin).ok()?;
        url.set_path(&format!("/{name}"));
        let mut own = sqlx::PgConnection::connect(url.as_str()).await.ok()?;
        let scans: (i64, i64) = sqlx::query_as(
            "select coalesce(sum(seq_scan), 0)::bigint, coalesce(sum(seq_tup_read), 0)::bigint
             from pg_stat_user_tables",
        )
        .fetch_one(&mut own)
        .await
        .ok()?;
        let (longest, statements) = if statements_measured {
            (
                Self::longest_statement(&mut own).await,
                Self::statements(&mut own).await,
            )
        } else {
            (None, None)
        };
        let wal_bytes: Option<i64> = match wal_start {
            Some(start) => sqlx::query_scalar(
                "select pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint",
            )
            .bind(start)
            .fetch_one(&mut own)
            .await
            .ok(),
            None => None,
        };
        own.close().await.ok();
        Some(serde_json::json!({
            "xact_commit": row.0, "xact_rollback": row.1,
            "tup_inserted": row.2, "tup_updated": row.3, "tup_deleted": row.4,
            "seq_scan": scans.0, "seq_tup_read": scans.1,
            "wal_bytes": wal_bytes,
            "statements": statements.map(|s| s.0),
            "statement_exec_ms": statements.map(|s| s.1),
            "longest_statement_ms": longest.as_ref().map(|l| l.0),
            "longest_statement": longest.map(|l| l.1),
        }))
    }

    /// Outbound messages whose stored status is `read` (`--mix w2`); `None` when the
    /// database cannot be read.
    pub async fn replies_read(&self) -> Option<u64> {
        const SQL: &str = "select count(*) from outbound_messages where status = 'read'";
        if self.postgres.is_some() {
            let mut conn = sqlx::PgConnection::connect(&self.db_url).await.ok()?;
            let n: i64 = sqlx::query_scalar(SQL).fetch_one(&mut conn).await.ok()?;
            conn.close().await.ok();
            return u64::try_from(n).ok();
        }
        let path = self.dir.join("parley.db");
        tokio::task::spawn_blocking(move || {
            let conn = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .ok()?;
            conn.busy_timeout(Duration::from_secs(5)).ok()?;
            let n: i64 = conn.query_row(SQL, [], |row| row.get(0)).ok()?;
            u64::try_from(n).ok()
        })
        .await
        .ok()
        .flatten()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// SIGTERM, wait for the orderly shutdown (Parley allows itself 30 s), SIGKILL after
    /// 45 s; then drop the run's database and folder.
    pub async fn stop(mut self) -> anyhow::Result<Stopped> {
        let start = Instant::now();
        let mut killed = false;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let status = match tokio::time::timeout(Duration::from_secs(45), self.child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                killed = true;
                let _ = self.child.kill().await;
                None
            }
        };
        let stopped = Stopped {
            exit_code: status.and_then(|s| s.code()),
            seconds: start.elapsed().as_secs_f64(),
            killed,
        };
        if let Some((admin, name)) = &self.postgres {
            drop_database(admin, name).await?;
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        Ok(stopped)
    }
}

/// The run's flows: K keyword flows, `burn`, and `agent` when the run has agents.
fn write_flows(setup: &Setup, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("flows"))?;
    std::fs::create_dir_all(dir.join("scripts"))?;
    for k in 0..setup.flows {
        std::fs::write(dir.join("flows").join(format!("kw{k}.yaml")), flow_yaml(k))?;
    }
    std::fs::write(dir.join("flows").join("burn.yaml"), BURN_FLOW)?;
    if setup.model_base_url.is_some() {
        std::fs::write(dir.join("flows").join("agent.yaml"), AGENT_FLOW)?;
    }
    Ok(())
}

/// The text without terminal colour sequences (`ESC [ … m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Flow `burn` (`--script-load`): a script that copies 64 KB strings until its time budget
/// stops it, then ends without a reply.
pub const BURN_FLOW: &str = "id: burn\ntriggers:\n  - keyword: [burn]\nsteps:\n  - script: { code: \"let s = \\\"x\\\"; for i in 0..15 { s += s; } loop { let t = s + s; }\", on_error: done }\n  - id: done\n    end: {}\n";

/// Flow `agent` (`--mix agent`, `--agent-waiting`): its first step is an `agent` step on
/// model `bench`, started by `agent <seq>` (measured) or `slow <k>` (waiting agents); each
/// later message of the contact is a turn of the same step. The history is Parley's default
/// (10 messages), so requests grow as a real conversation's do.
pub const AGENT_FLOW: &str = "\
id: agent
triggers:
  - keyword: [agent, slow]
steps:
  - agent:
      model: bench
      instructions: Repeat the customer's last message word for word.
      scope: a load test of Parley
      max_turns: 1000
      if_window_closed: skip
";

/// Model `bench`: the model double, allowed as many calls at once as the run can make.
fn models_yaml(base_url: &str) -> String {
    format!(
        "models:\n  - {{ name: bench, kind: openai, base_url: \"{base_url}\", model: bench, concurrency: 2000, timeout: 30s }}\n"
    )
}

/// Flow `kw<k>`: answers a message whose first word is `kw<k>` with the message's own text.
fn flow_yaml(k: u32) -> String {
    format!(
        "id: kw{k}\ntriggers:\n  - keyword: [kw{k}]\nsteps:\n  - send:\n      text: \"{{{{ message.text }}}}\"\n"
    )
}

/// The settings earlier benchmark runs used (`--tuned`): fewer log lines, slower polls, no
/// file watching. Without `--tuned` Parley runs on its shipped defaults.
const TUNED: &str = "\
flows: { hot_reload: false }
inbox: { poll_interval: 200ms }
outbox: { poll_interval: 200ms }
log: { level: warn }
";

fn config_yaml(s: &Setup, dir: &Path, port: u16, db_url: &str) -> String {
    let mut base = config_base(s, dir, port, db_url);
    if let Some(url) = &s.model_base_url {
        base += &models_yaml(url);
    }
    if s.broadcast {
        base += &crate::broadcast::config_yaml();
    }
    if !s.tuned {
        return base;
    }
    with_overrides(&base, &[TUNED.to_string()]).expect("the tuned settings merge")
}

/// The run's config on Parley's defaults: only what the run must say (where to listen, the
/// database, the flows, the sender pointed at the double).
fn config_base(s: &Setup, dir: &Path, port: u16, db_url: &str) -> String {
    format!(
        r#"# Generated by parley-bench for one run.
listen: 127.0.0.1:{port}
database: {{ url: "{db_url}" }}
flows: {{ dir: "{flows}", scripts_dir: "{scripts}" }}
senders:
  - id: 1
    name: Bench line
    channel: meta
    phone_number: "{phone}"
    messages_per_second: {pace}
    meta:
      phone_number_id: "{pnid}"
      access_token: bench-token
      app_secret: "{secret}"
      verify_token: bench-verify
      api_base: "{api_base}"
"#,
        flows = dir.join("flows").display(),
        scripts = dir.join("scripts").display(),
        phone = s.phone_number,
        pnid = s.phone_number_id,
        secret = s.app_secret,
        api_base = s.api_base,
        pace = s.pace,
    ) + crate::pace::more_senders_yaml(s).as_str()
}

/// The generated config with each `--set` mapping merged over it (nested mappings merge,
/// anything else replaces).
fn with_overrides(yaml: &str, overrides: &[String]) -> anyhow::Result<String> {
    if overrides.is_empty() {
        return Ok(yaml.to_string());
    }
    let mut config: serde_yaml::Value = serde_yaml::from_str(yaml)?;
    for o in overrides {
        let over: serde_yaml::Value =
            serde_yaml::from_str(o).with_context(|| format!("--set {o:?} is not YAML"))?;
        if !over.is_mapping() {
            bail!("--set {o:?} is not a mapping like 'inbox: {{ concurrency: 128 }}'");
        }
        merge(&mut config, over);
    }
    Ok(serde_yaml::to_string(&config)?)
}

fn merge(base: &mut serde_yaml::Value, over: serde_yaml::Value) {
    match (base, over) {
        (serde_yaml::Value::Mapping(b), serde_yaml::Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// A port nobody listens on now (Parley binds it a moment later).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Creates database `name` next to the admin URL's and returns its URL.
async fn create_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {admin_url}"))?;
    sqlx::raw_sql(&format!("create database {name}"))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating database {name}"))?;
    conn.close().await.ok();
    let mut url = reqwest::Url::parse(admin_url).context("--postgres-url is not a URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(&format!("drop database if exists {name} with (force)"))
        .execute(&mut conn)
        .await
        .with_context(|| format!("dropping database {name}"))?;
    conn.close().await.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn strips_colour_codes_from_log_lines() {
        assert_eq!(
            super::strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m slow"),
            "2026  WARN slow"
        );
    }

    #[test]
    fn overrides_merge_into_the_generated_config() {
        let yaml = "inbox: { poll_interval: 200ms }\nlog: { level: warn }\n";
        let merged = super::with_overrides(
            yaml,
            &[
                "inbox: { concurrency: 128 }".into(),
                "log: { level: info }".into(),
            ],
        )
        .unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&merged).unwrap();
        assert_eq!(v["inbox"]["poll_interval"].as_str(), Some("200ms"));
        assert_eq!(v["inbox"]["concurrency"].as_u64(), Some(128));
        assert_eq!(v["log"]["level"].as_str(), Some("info"));
    }

    /// A plain W1 run's setup on SQLite with one flow; tests change what they look at.
    fn setup(database: &super::Database) -> super::Setup<'_> {
        super::Setup {
            binary: std::path::Path::new("parley"),
            flows: 1,
            database,
            api_base: "http://127.0.0.1:9/v26.0".into(),
            phone_number: "+15550783880",
            phone_number_id: "106540352242922",
            app_secret: "s",
            overrides: &[],
            keep: false,
            preload: 0,
            tuned: false,
            pin: None,
            model_base_url: None,
            broadcast: false,
            pace: 100_000,
            senders: 1,
        }
    }

    /// Writes the run's flows and config into a fresh folder and loads the config as
    /// Parley would; the caller removes the folder.
    fn written(setup: &super::Setup) -> (std::path::PathBuf, parley::config::Config) {
        let dir = std::env::temp_dir().join(format!(
            "parley-bench-test-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        ));
        super::write_flows(setup, &dir).unwrap();
        let db_url = format!("sqlite://{}", dir.join("parley.db").display());
        let path = dir.join("parley.yaml");
        std::fs::write(&path, super::config_yaml(setup, &dir, 8080, &db_url)).unwrap();
        let config = parley::config::Config::load(&path).unwrap();
        (dir, config)
    }

    /// Without `--tuned` the run's config sets nothing Parley has a default for.
    #[test]
    fn parley_runs_on_its_defaults_unless_tuned() {
        let database = super::Database::Sqlite;
        let run = |tuned| super::Setup {
            tuned,
            ..setup(&database)
        };
        let dir = std::path::Path::new("/tmp/run");
        let plain: serde_yaml::Value =
            serde_yaml::from_str(&super::config_yaml(&run(false), dir, 8080, "sqlite://x.db"))
                .unwrap();
        for key in ["inbox", "outbox", "log"] {
            assert!(plain.get(key).is_none(), "{key} is Parley's default");
        }
        assert!(plain["flows"].get("hot_reload").is_none());
        let tuned: serde_yaml::Value =
            serde_yaml::from_str(&super::config_yaml(&run(true), dir, 8080, "sqlite://x.db"))
                .unwrap();
        assert_eq!(tuned["log"]["level"].as_str(), Some("warn"));
        assert_eq!(tuned["flows"]["hot_reload"].as_bool(), Some(false));
        assert_eq!(tuned["flows"]["dir"], plain["flows"]["dir"]);
    }

    /// An agent run's config and flows are what Parley's own loader accepts, with no
    /// warning: model `bench` at the double, the `agent` flow on it.
    #[test]
    fn agent_runs_give_parley_a_model_and_an_agent_flow_it_accepts() {
        let database = super::Database::Sqlite;
        let (dir, config) = written(&super::Setup {
            flows: 2,
            model_base_url: Some("http://127.0.0.1:9/v1".into()),
            ..setup(&database)
        });
        let model = &config.models[0];
        assert_eq!(model.name, "bench");
        assert_eq!(model.base_url.as_deref(), Some("http://127.0.0.1:9/v1"));
        assert_eq!(model.concurrency, 2000);
        let report = parley::flows::load_configured(&config);
        assert_eq!(
            (report.errors(), report.warnings()),
            (0, 0),
            "{}",
            report.render()
        );
        let set = report.set.expect("the flows load");
        assert_eq!(set.len(), 4, "kw0, kw1, burn and agent");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A broadcast run's config is what Parley's loader accepts: the API key, the template
    /// the broadcast sends, and a sender without a portfolio (no messaging limit).
    #[test]
    fn broadcast_runs_give_parley_an_api_key_and_the_template_it_accepts() {
        let database = super::Database::Sqlite;
        let (dir, config) = written(&super::Setup {
            broadcast: true,
            ..setup(&database)
        });
        assert_eq!(config.api_keys.len(), 1);
        let template = config
            .templates
            .iter()
            .find(|t| t.id == i64::from(crate::broadcast::TEMPLATE_ID))
            .expect("the broadcast's template");
        assert_eq!(template.name, "bench_offer");
        assert!(config.senders[0].portfolio.is_none());
        std::fs::remove_dir_all(&dir).ok();
    }

    /// `--pace 80 --senders 2`: two Meta senders Parley accepts, each at the pace, with
    /// numbers and `phone_number_id`s of their own.
    #[test]
    fn paced_runs_with_two_senders_give_parley_two_paced_meta_senders() {
        let database = super::Database::Sqlite;
        let (dir, config) = written(&super::Setup {
            broadcast: true,
            pace: 80,
            senders: 2,
            ..setup(&database)
        });
        let ids: Vec<&str> = config
            .senders
            .iter()
            .filter_map(|s| s.meta.as_ref().map(|m| m.phone_number_id.as_str()))
            .collect();
        assert_eq!(ids, [crate::PHONE_NUMBER_ID, "106540352242923"]);
        assert!(config.senders.iter().all(|s| s.pace() == Some(80)));
        std::fs::remove_dir_all(&dir).ok();
    }

    /// `--senders 20` (issue 60, W3): twenty paced Meta senders Parley accepts, every
    /// number and `phone_number_id` its own.
    #[test]
    fn twenty_senders_give_parley_twenty_meta_senders_of_their_own() {
        let database = super::Database::Sqlite;
        let (dir, config) = written(&super::Setup {
            broadcast: true,
            pace: 80,
            senders: 20,
            ..setup(&database)
        });
        assert_eq!(config.senders.len(), 20);
        let ids: std::collections::BTreeSet<&str> = config
            .senders
            .iter()
            .filter_map(|s| s.meta.as_ref().map(|m| m.phone_number_id.as_str()))
            .collect();
        assert_eq!(ids.len(), 20, "{ids:?}");
        assert!(ids.contains(crate::pace::phone_number_id(19)));
        assert!(config.senders.iter().all(|s| s.pace() == Some(80)));
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Without agents the run's config names no model and the flows have no `agent`.
    #[test]
    fn runs_without_agents_have_no_model() {
        let database = super::Database::Sqlite;
        let yaml = super::config_yaml(
            &setup(&database),
            std::path::Path::new("/tmp/run"),
            8080,
            "sqlite://x.db",
        );
        let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert!(v.get("models").is_none());
    }

    #[test]
    fn flow_echoes_the_message_text() {
        assert_eq!(
            super::flow_yaml(7),
            "id: kw7\ntriggers:\n  - keyword: [kw7]\nsteps:\n  - send:\n      text: \"{{ message.text }}\"\n"
        );
    }
}

//! Cells (issue 60, item 5): groups of numbers, each with its own Parley processes and its
//! own database, Meta sending each number's webhooks to its cell (README "Cells: many
//! numbers, many databases", `deploy/cells/`). Two real `parley serve` processes side by
//! side — two SQLite files, and two PostgreSQL databases made (and dropped) by the test
//! when PARLEY_TEST_POSTGRES_URL is set — each with its own senders, flows and Graph API
//! double and the same app secret: each cell answers its own numbers' customers through its
//! own double; a webhook for the other cell's number is acknowledged, never processed, and
//! counted by number, and the right cell still takes it afterwards. A number then moves
//! from one cell to the other as README says (its customers' contacts copied by
//! `deploy/cells/move-contacts.sh`, the senders changed in both configs). The example
//! configs pass `parley check`, and `point-webhooks.sh` makes the calls Meta documents.

use crate::crash::{free_port, post_meta_to, sigterm_and_wait, start, wait_healthy, Parley};
use crate::helpers::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wiremock::MockServer;

const KEY: &str = "cells-ops-key";
/// A customer of cell B's first number whose webhook Meta wrongly sends to cell A.
const STRAY_CUSTOMER: &str = "16315559999";

/// The cells' numbers (phone_number_ids), of senders 1 and 2 (cell A), 3 and 4 (cell B).
const A1: &str = "110000000000001";
const A2: &str = "110000000000002";
const B3: &str = "220000000000003";
const B4: &str = "220000000000004";

/// One cell: its senders (id and phone_number_id), its verify token, database and folder,
/// the process and its Graph API double.
struct Cell {
    name: &'static str,
    senders: Vec<(i64, &'static str)>,
    verify_token: String,
    port: u16,
    addr: String,
    db: String,
    meta: MockServer,
    process: Option<Parley>,
    dir: tempfile::TempDir,
}

impl Cell {
    async fn start(name: &'static str, senders: &[(i64, &'static str)], db: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let flows = dir.path().join("flows");
        std::fs::create_dir_all(&flows).unwrap();
        // Each cell its own flow, so a reply says which cell made it.
        std::fs::write(
            flows.join("echo.yaml"),
            format!("id: echo\ntriggers:\n  - keyword: [hi]\nsteps:\n  - send:\n      text: \"cell {name}: {{{{ message.text }}}}\"\n"),
        )
        .unwrap();
        let meta = MockServer::start().await;
        mount_meta_ok(&meta).await;
        let port = free_port();
        let mut cell = Self {
            name,
            senders: senders.to_vec(),
            verify_token: format!("verify-cell-{name}"),
            port,
            addr: format!("http://127.0.0.1:{port}"),
            db: db.replace("{dir}", &dir.path().display().to_string()),
            meta,
            process: None,
            dir,
        };
        cell.launch().await;
        cell
    }

    /// Writes its config (its senders now) and starts `parley serve` on it.
    async fn launch(&mut self) {
        let sender = |(id, number): &(i64, &str)| {
            format!(
                "  - id: {id}\n    name: Number {id}\n    channel: meta\n    phone_number: \"+1555000{id:04}\"\n    messages_per_second: 1000\n    meta: {{ phone_number_id: \"{number}\", access_token: token-{name}, app_secret: {APP_SECRET}, verify_token: {token}, api_base: \"{uri}/v26.0\" }}\n",
                name = self.name,
                token = self.verify_token,
                uri = self.meta.uri(),
            )
        };
        let yaml = format!(
            "listen: 127.0.0.1:{port}\ndatabase: {{ url: \"{db}\" }}\nflows: {{ dir: \"{flows}\" }}\ninbox: {{ poll_interval: 50ms }}\noutbox: {{ poll_interval: 50ms, send_timeout: 2s }}\nlog: {{ level: warn }}\napi_keys:\n  - {{ name: ops, key_sha256: \"{key}\" }}\nsenders:\n{senders}",
            port = self.port,
            db = self.db,
            flows = self.dir.path().join("flows").display(),
            key = hex::encode(Sha256::digest(KEY.as_bytes())),
            senders = self.senders.iter().map(sender).collect::<String>(),
        );
        let config = self.dir.path().join(format!("cell-{}.yaml", self.name));
        std::fs::write(&config, yaml).unwrap();
        self.process = Some(start(&config, self.dir.path()));
        wait_healthy(&reqwest::Client::new(), &self.addr).await;
    }

    /// Restarts the cell with these senders, as an operator does after editing its config.
    async fn restart_with(&mut self, senders: &[(i64, &'static str)]) {
        self.stop().await;
        self.senders = senders.to_vec();
        self.launch().await;
    }

    async fn stop(&mut self) {
        if let Some(p) = self.process.take() {
            assert!(
                sigterm_and_wait(p).await.success(),
                "cell {} stops cleanly",
                self.name
            );
        }
    }

    /// The sends its Graph API double took: the phone_number_id of the path and the text.
    async fn sends(&self) -> Vec<(String, String)> {
        let requests = self.meta.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/messages"))
            .map(|r| {
                let number = r
                    .url
                    .path()
                    .split('/')
                    .nth(2)
                    .unwrap_or_default()
                    .to_string();
                let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                (number, body_text(&body).to_string())
            })
            .collect()
    }

    async fn wait_sends(&self, n: usize) -> Vec<(String, String)> {
        let mut sends = Vec::new();
        for _ in 0..400 {
            sends = self.sends().await;
            if sends.len() >= n {
                return sends;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cell {}: {n} sends expected, got {sends:?}", self.name);
    }

    /// Its conversations, read through its API: (sender id, contact key).
    async fn conversations(&self, http: &reqwest::Client) -> Vec<(i64, String)> {
        let page: Value = http
            .get(format!("{}/api/conversations?limit=200", self.addr))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["conversations"]
            .as_array()
            .unwrap_or_else(|| panic!("cell {}: {page}", self.name))
            .iter()
            .map(|c| {
                let key = c["contact"]["key"].as_str().unwrap_or_default();
                (c["sender_id"].as_i64().unwrap(), key.to_string())
            })
            .collect()
    }

    /// Its contacts, as its export gives them.
    async fn contacts(&self, http: &reqwest::Client) -> Vec<Value> {
        let r = http
            .get(format!("{}/api/contacts/export?format=json", self.addr))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        r.json::<Vec<Value>>().await.unwrap()
    }

    /// `parley_webhooks_unknown_sender_total` for `number` on its `/metrics`.
    async fn strays(&self, http: &reqwest::Client, number: &str) -> f64 {
        let page = metrics_page(http, &self.addr).await;
        page.lines()
            .filter(|l| l.starts_with("parley_webhooks_unknown_sender_total{"))
            .filter(|l| {
                l.contains("provider=\"meta\"") && l.contains(&format!("number=\"{number}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// A signed text webhook for `number` (a phone_number_id) from `customer`.
fn text_for(number: &str, customer: &str, wamid: &str, text: &str) -> Vec<u8> {
    let body = String::from_utf8(meta_text(customer, wamid, text, now_unix())).unwrap();
    body.replace(PHONE_NUMBER_ID, number).into_bytes()
}

/// A status webhook for a message sent from `number`.
fn status_for(number: &str, wamid: &str) -> Vec<u8> {
    let body = String::from_utf8(meta_status(wamid, "delivered", None, now_unix())).unwrap();
    body.replace(PHONE_NUMBER_ID, number).into_bytes()
}

/// Meta's `GET` handshake at `cell`'s webhook URL with `token`: the status and the body.
async fn handshake(http: &reqwest::Client, cell: &Cell, token: &str) -> (u16, String) {
    let r = http
        .get(format!("{}/webhooks/meta", cell.addr))
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", token),
            ("hub.challenge", "1158201444"),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn two_cells_side_by_side(db_a: &str, db_b: &str) {
    let http = reqwest::Client::new();
    let mut a = Cell::start("a", &[(1, A1), (2, A2)], db_a).await;
    let mut b = Cell::start("b", &[(3, B3), (4, B4)], db_b).await;

    // What Meta does when a number's override is set: the handshake with the cell's token.
    assert_eq!(
        handshake(&http, &a, &a.verify_token).await,
        (200, "1158201444".into())
    );
    assert_eq!(
        handshake(&http, &a, &b.verify_token).await.0,
        403,
        "a cell knows only its own token"
    );

    // Every number's customer writes; each webhook reaches its number's cell.
    for cell in [&a, &b] {
        for (id, number) in &cell.senders {
            let body = text_for(
                number,
                &customer(*id),
                &format!("wamid.{number}"),
                &format!("hi {number}"),
            );
            assert_eq!(post_meta_to(&http, &cell.addr, body).await, 200);
        }
    }
    for cell in [&a, &b] {
        let mut sends = cell.wait_sends(2).await;
        sends.sort();
        let expected: Vec<(String, String)> = cell
            .senders
            .iter()
            .map(|(_, n)| (n.to_string(), format!("cell {}: hi {n}", cell.name)))
            .collect();
        assert_eq!(
            sends, expected,
            "cell {} answers its numbers, from them",
            cell.name
        );
    }

    // Meta sends a message and a status of cell B's numbers to cell A (an override not yet
    // moved, or pointed wrong): acknowledged, so Meta does not retry for days, and counted.
    let stray = text_for(B3, STRAY_CUSTOMER, "wamid.stray.1", "hi stray");
    assert_eq!(post_meta_to(&http, &a.addr, stray.clone()).await, 200);
    assert_eq!(
        post_meta_to(&http, &a.addr, status_for(B4, "wamid.b.sent")).await,
        200
    );
    assert_eq!(a.strays(&http, B3).await, 1.0);
    assert_eq!(a.strays(&http, B4).await, 1.0);
    assert_eq!(b.strays(&http, B3).await, 0.0, "cell B saw nothing stray");
    // Never processed: no reply from cell A, no conversation, only its own senders'.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(a.sends().await.len(), 2, "{:?}", a.sends().await);
    let conversations = a.conversations(&http).await;
    assert_eq!(conversations.len(), 2, "{conversations:?}");
    assert!(conversations
        .iter()
        .all(|(s, k)| (1..=2).contains(s) && !k.contains(STRAY_CUSTOMER)));

    // Once the number's webhooks go to the right cell, Meta's retry is taken there.
    assert_eq!(post_meta_to(&http, &b.addr, stray).await, 200);
    let sends = b.wait_sends(3).await;
    assert!(
        sends.contains(&(B3.into(), "cell b: hi stray".into())),
        "{sends:?}"
    );
    let conversations = b.conversations(&http).await;
    assert_eq!(conversations.len(), 3, "{conversations:?}");
    assert!(conversations.iter().all(|(s, _)| (3..=4).contains(s)));
    assert_eq!(a.sends().await.len(), 2, "cell A never answered the stray");

    move_a_number(&http, &mut a, &mut b).await;
    a.stop().await;
    b.stop().await;
}

/// The customer who writes to sender `id`'s number.
fn customer(id: i64) -> String {
    format!("1631555{id:04}")
}

/// README "Moving a number", sender 2 from cell A to cell B: B gets the sender, the
/// number's customers' contacts are copied (deploy/cells/move-contacts.sh; the other
/// number's stay), Meta sends the number's webhooks to B, A lets the sender go. Then B
/// answers the number's customer from the number, and what still reaches A is a stray.
async fn move_a_number(http: &reqwest::Client, a: &mut Cell, b: &mut Cell) {
    b.restart_with(&[(2, A2), (3, B3), (4, B4)]).await;
    let env = [("FROM_KEY", KEY), ("TO_KEY", KEY)];
    if let Some((code, out, err)) = run_script(
        "move-contacts.sh",
        &["2", a.addr.as_str(), b.addr.as_str()],
        &env,
    )
    .await
    {
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("sender 2: 1 customers at"), "{out}");
        let contacts = b.contacts(http).await;
        let moved = contacts
            .iter()
            .find(|c| c["phone"] == format!("+{}", customer(2)));
        assert_eq!(
            moved.map(|c| &c["name"]),
            Some(&json!("Tester")),
            "{contacts:?}"
        );
        let other = format!("+{}", customer(1));
        assert!(
            !contacts.iter().any(|c| c["phone"] == other.as_str()),
            "{contacts:?}"
        );
    }
    a.restart_with(&[(1, A1)]).await;

    let body = text_for(A2, &customer(2), "wamid.moved.1", "hi after the move");
    assert_eq!(post_meta_to(http, &b.addr, body).await, 200);
    let sends = b.wait_sends(4).await;
    assert!(
        sends.contains(&(A2.into(), "cell b: hi after the move".into())),
        "{sends:?}"
    );
    let late = text_for(A2, &customer(2), "wamid.moved.2", "hi late");
    assert_eq!(post_meta_to(http, &a.addr, late).await, 200);
    assert_eq!(a.strays(http, A2).await, 1.0);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        a.sends().await.len(),
        2,
        "cell A sends nothing more for the number it let go"
    );
    assert_eq!(b.wait_sends(4).await.len(), 4);
}

#[tokio::test]
async fn two_cells_on_sqlite_answer_their_own_numbers_count_strays_and_move_one() {
    two_cells_side_by_side("sqlite://{dir}/cell.db", "sqlite://{dir}/cell.db").await;
}

/// Two PostgreSQL databases, one per cell, dropped when the test ends (failed or not).
struct Databases {
    base: String,
    names: Vec<String>,
}

impl Databases {
    async fn create(base: &str) -> Self {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(base)
            .await
            .expect("PARLEY_TEST_POSTGRES_URL reachable");
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let tag = &tag[..8];
        let names: Vec<String> = ["a", "b"]
            .iter()
            .map(|c| format!("cell_{c}_{}_{tag}", std::process::id()))
            .collect();
        for name in &names {
            sqlx::query(&format!("create database {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        Self {
            base: base.to_string(),
            names,
        }
    }

    fn url(&self, i: usize) -> String {
        let (prefix, _) = self.base.rsplit_once('/').unwrap();
        format!("{prefix}/{}", self.names[i])
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        let (base, names) = (self.base.clone(), std::mem::take(&mut self.names));
        // A runtime of its own on a thread of its own: drop runs inside the test's runtime.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect(&base).await.ok()?;
                    for name in names {
                        let sql = format!("drop database if exists {name} with (force)");
                        if let Err(e) = sqlx::query(&sql).execute(&mut conn).await {
                            eprintln!("could not drop {name}: {e}");
                        }
                    }
                    Some(())
                })
        });
        let _ = dropped.join();
    }
}

#[tokio::test]
async fn two_cells_on_two_postgres_databases_answer_their_own_numbers_count_strays_and_move_one() {
    let Ok(base) = std::env::var("PARLEY_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED: cells on PostgreSQL (set PARLEY_TEST_POSTGRES_URL)");
        return;
    };
    let dbs = Databases::create(&base).await;
    two_cells_side_by_side(&dbs.url(0), &dbs.url(1)).await;
}

fn cells_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/cells")
}

#[test]
fn the_example_cells_pass_parley_check() {
    for cell in ["a", "b"] {
        let upper = cell.to_uppercase();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
            .args(["check", "--config"])
            .arg(cells_dir().join(format!("cell-{cell}.yaml")))
            .env(format!("CELL_{upper}_DB_PASSWORD"), "secret")
            .env(
                format!("CELL_{upper}_VERIFY_TOKEN"),
                format!("verify-{cell}"),
            )
            .env(
                format!("CELL_{upper}_OPS_KEY_SHA256"),
                hex::encode(Sha256::digest(KEY.as_bytes())),
            )
            .env("META_ACCESS_TOKEN", "EAAtoken")
            .env("META_APP_SECRET", "app-secret")
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "cell-{cell}.yaml: {said}");
        // Clean: no warning, and the example flow is ready.
        assert!(
            said.contains("config ok;") && said.contains("1 flow(s) ready"),
            "cell-{cell}.yaml: {said}"
        );
    }
}

#[test]
fn the_example_cells_split_the_numbers_and_share_the_meta_app() {
    let read = |cell: &str| -> serde_yaml::Value {
        let text = std::fs::read_to_string(cells_dir().join(format!("cell-{cell}.yaml"))).unwrap();
        serde_yaml::from_str(&text).unwrap()
    };
    let (a, b) = (read("a"), read("b"));
    let senders = |c: &serde_yaml::Value| c["senders"].as_sequence().unwrap().clone();
    let all: Vec<serde_yaml::Value> = senders(&a).into_iter().chain(senders(&b)).collect();
    let distinct = |key: &dyn Fn(&serde_yaml::Value) -> String| {
        let values: std::collections::BTreeSet<String> = all.iter().map(key).collect();
        values.len()
    };
    assert_eq!(
        distinct(&|s| s["id"].as_i64().unwrap().to_string()),
        all.len(),
        "sender ids are unique across cells"
    );
    assert_eq!(
        distinct(&|s| s["meta"]["phone_number_id"].as_str().unwrap().into()),
        all.len()
    );
    assert_eq!(
        distinct(&|s| s["meta"]["app_secret"].as_str().unwrap().into()),
        1,
        "one Meta app"
    );
    assert_eq!(
        distinct(&|s| s["meta"]["verify_token"].as_str().unwrap().into()),
        2,
        "a token per cell"
    );
    assert_ne!(
        a["database"]["url"], b["database"]["url"],
        "a database per cell"
    );
}

/// `deploy/cells/<name>`, run by `sh` with `env`: exit code, stdout, stderr. `None` (the
/// test says it was skipped) where curl or jq, which the scripts need, are missing.
async fn run_script(
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Option<(i32, String, String)> {
    let have = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("curl") || !have("jq") {
        assert!(
            std::env::var("PARLEY_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
            "curl and jq are needed to run deploy/cells/{name}"
        );
        eprintln!("SKIPPED: deploy/cells/{name} (curl or jq missing)");
        return None;
    }
    let out = tokio::process::Command::new("sh")
        .arg(cells_dir().join(name))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Some((
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    ))
}

#[tokio::test]
async fn point_webhooks_sets_each_numbers_override_as_meta_documents() {
    use wiremock::matchers::{method, path, path_regex, query_param};
    use wiremock::{Mock, ResponseTemplate};
    let graph = MockServer::start().await;
    let url = "https://cell-b.bot.example.com/webhooks/meta";
    Mock::given(method("POST"))
        .and(path("/v26.0/220000000000099"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(
                json!({"error": {"message": "(#100) Invalid parameter", "code": 100}}),
            ),
        )
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v26\.0/\d+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v26\.0/\d+$"))
        .and(query_param("fields", "webhook_configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"webhook_configuration": {"phone_number": url, "application": "https://cell-a.bot.example.com/webhooks/meta"}, "id": "220000000000003"})))
        .mount(&graph)
        .await;
    let base = format!("{}/v26.0", graph.uri());
    let env = [
        ("GRAPH_API", base.as_str()),
        ("META_ACCESS_TOKEN", "EAAsecret"),
    ];
    let Some((code, out, err)) = run_script(
        "point-webhooks.sh",
        &[url, "verify-cell-b", "220000000000003", "220000000000004"],
        &env,
    )
    .await
    else {
        return;
    };
    assert_eq!(code, 0, "{out}{err}");
    let requests = graph.received_requests().await.unwrap();
    let posts: Vec<_> = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .collect();
    assert_eq!(posts.len(), 2);
    for (r, id) in posts.iter().zip(["220000000000003", "220000000000004"]) {
        assert_eq!(r.url.path(), format!("/v26.0/{id}"));
        assert_eq!(r.headers.get("authorization").unwrap(), "Bearer EAAsecret");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"webhook_configuration": {"override_callback_uri": url, "verify_token": "verify-cell-b"}})
        );
        assert!(
            out.contains(&format!("{id}: webhooks go to {url}")),
            "{out}"
        );
    }
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.method.as_str() == "GET")
            .count(),
        2
    );
    assert!(!out.contains("EAAsecret") && !err.contains("EAAsecret"));

    // Refused before anything is sent: an id that is not digits, a callback not https.
    for args in [
        [url, "verify-cell-b", "22000abc"],
        [
            "http://cell-b.bot.example.com/webhooks/meta",
            "verify-cell-b",
            "220000000000003",
        ],
    ] {
        let (code, _, err) = run_script("point-webhooks.sh", &args, &env).await.unwrap();
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    assert_eq!(graph.received_requests().await.unwrap().len(), 4);
    // Meta refuses one number: named, with Meta's words, the others still pointed.
    let (code, out, err) = run_script(
        "point-webhooks.sh",
        &[url, "verify-cell-b", "220000000000099", "220000000000003"],
        &env,
    )
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(
        err.contains("220000000000099: not pointed at") && err.contains("(#100) Invalid parameter"),
        "{err}"
    );
    assert!(out.contains("220000000000003: webhooks go to"), "{out}");
}

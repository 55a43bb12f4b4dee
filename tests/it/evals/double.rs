//! An OpenAI-compatible double for `parley eval` that plays the agent, the customer and the
//! judge, telling them apart by the request's system prompt, and answering with a function
//! of the request (the test's `Brain`). It counts calls per role and the most requests in
//! flight at once, and can be stopped (it then answers nothing more).

use parley::cli::eval::judge::JUDGE_SYSTEM;
use parley::cli::eval::run::CUSTOMER_SYSTEM;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Agent,
    Customer,
    Judge,
}

/// What the double answers.
#[derive(Debug, Clone)]
pub enum Reply {
    Text(String),
    Tool(String, Value),
}

/// What the double knows of one request: its role (from its system prompt), and its
/// messages (`role`, `content`) as OpenAI's body has them, the system prompt left out.
pub struct Request {
    pub role: Role,
    pub messages: Vec<(String, String)>,
}

impl Request {
    /// The text of the last message (`user` or `tool`).
    pub fn last(&self) -> &str {
        self.messages.last().map_or("", |(_, t)| t.as_str())
    }

    pub fn last_role(&self) -> &str {
        self.messages.last().map_or("", |(r, _)| r.as_str())
    }
}

pub type Brain = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

#[derive(Default)]
struct State {
    calls: BTreeMap<Role, usize>,
    in_flight: usize,
    most_in_flight: usize,
    stopped: bool,
}

#[derive(Clone)]
pub struct EvalDouble {
    /// The `base_url` of an `openai` model.
    pub base: String,
    brain: Brain,
    /// How long the agent's answers take.
    agent_delay: Duration,
    state: Arc<Mutex<State>>,
}

impl EvalDouble {
    pub async fn start(brain: Brain, agent_delay: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let double = EvalDouble {
            base: format!("http://{}/v1", listener.local_addr().unwrap()),
            brain,
            agent_delay,
            state: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(complete))
            .with_state(double.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        double
    }

    pub fn calls(&self, role: Role) -> usize {
        self.state
            .lock()
            .unwrap()
            .calls
            .get(&role)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_calls(&self) -> usize {
        self.state.lock().unwrap().calls.values().sum()
    }

    pub fn most_in_flight(&self) -> usize {
        self.state.lock().unwrap().most_in_flight
    }

    /// From now on every request fails, uncounted: a replay must not reach it.
    pub fn stop(&self) {
        self.state.lock().unwrap().stopped = true;
    }
}

fn role_of(system: &str) -> Role {
    if system.starts_with(CUSTOMER_SYSTEM) {
        Role::Customer
    } else if system.starts_with(JUDGE_SYSTEM) {
        Role::Judge
    } else {
        Role::Agent
    }
}

async fn complete(
    axum::extract::State(d): axum::extract::State<EvalDouble>,
    axum::Json(body): axum::Json<Value>,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    let mut system = String::new();
    let mut messages = Vec::new();
    for m in body["messages"].as_array().cloned().unwrap_or_default() {
        let role = m["role"].as_str().unwrap_or("").to_string();
        let content = m["content"].as_str().unwrap_or("").to_string();
        if role == "system" {
            system = content;
        } else {
            messages.push((role, content));
        }
    }
    let request = Request {
        role: role_of(&system),
        messages,
    };
    {
        let mut s = d.state.lock().unwrap();
        if s.stopped {
            return (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"error": {"message": "the double is stopped"}})),
            );
        }
        *s.calls.entry(request.role).or_default() += 1;
        s.in_flight += 1;
        s.most_in_flight = s.most_in_flight.max(s.in_flight);
    }
    if request.role == Role::Agent {
        tokio::time::sleep(d.agent_delay).await;
    }
    let reply = (d.brain)(&request);
    d.state.lock().unwrap().in_flight -= 1;
    let usage = json!({"prompt_tokens": 100, "completion_tokens": 10});
    let message = match reply {
        Reply::Text(text) => json!({"role": "assistant", "content": text}),
        Reply::Tool(name, args) => json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": format!("call_{}", name), "type": "function",
            "function": {"name": name, "arguments": args.to_string()},
        }]}),
    };
    (
        axum::http::StatusCode::OK,
        axum::Json(
            json!({"choices": [{"message": message, "finish_reason": "stop"}], "usage": usage}),
        ),
    )
}

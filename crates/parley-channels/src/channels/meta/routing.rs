//! Conversation Routing's Graph API calls for one Meta sender: thread control
//! (`POST /{phone-number-id}/thread_control` with `action` `pass`, `release` or `take`) and
//! the number's routing roles (`GET /{phone-number-id}/routing_roles`).
//!
//! One request per call, never retried here; answers are read up to `MAX_ANSWER`, errors
//! come back as a classified `SendFailure` (138038: calls have their own primary;
//! 2494191: not permitted). Meta's reference names the request's fields (`messaging_product`,
//! `to` or `recipient`, `action`, `metadata`, `control_pass.target_role`); a `pass` with no
//! `control_pass` goes to the number's escalation partner, so the app id Parley is
//! configured with is what it records as the new owner, and `ai_agent` asks for Meta's
//! Business Agent. The roles answer is read leniently (`roles` as strings or `{role}`
//! objects, at the top or in `data[]`), since Meta documents its fields in prose.

use super::client::{send_failure, MetaClient, MAX_ANSWER};
use super::words::{describe_transport, snippet};
use crate::domain::routing::{bounded, ROLES_MAX};
use crate::domain::{ContactRef, RoutingRoles, SendFailure, ThreadAction};
use reqwest::Method;
use serde_json::{json, Value};

/// Meta's name of its Business Agent as a pass target.
pub const AI_AGENT: &str = "ai_agent";

/// The body of a thread-control call.
pub(super) fn thread_control_body(
    to: &ContactRef,
    action: &ThreadAction,
    metadata: Option<&str>,
) -> Value {
    let mut body = json!({ "messaging_product": "whatsapp", "action": action.name() });
    match to {
        ContactRef::Phone(p) | ContactRef::PhoneAndBusinessScoped { phone: p, .. } => {
            body["to"] = json!(p.to_string().trim_start_matches('+'))
        }
        ContactRef::BusinessScoped(user) => body["recipient"] = json!(user),
    }
    if let ThreadAction::Pass { app } = action {
        if app == AI_AGENT {
            body["control_pass"] = json!({ "target_role": AI_AGENT });
        }
    }
    if let Some(m) = metadata.filter(|m| !m.is_empty()) {
        body["metadata"] = json!(bounded(m));
    }
    body
}

impl MetaClient {
    /// Asks Meta to move `to`'s thread. `Ok` once Meta accepted it.
    pub async fn thread_control(
        &self,
        to: &ContactRef,
        action: &ThreadAction,
        metadata: Option<&str>,
    ) -> Result<(), SendFailure> {
        let response = self
            .graph(Method::POST, "/thread_control")
            .json(&thread_control_body(to, action, metadata))
            .send()
            .await
            .map_err(|e| {
                let text = format!(
                    "no answer from Meta to `{}`: {}",
                    action.name(),
                    describe_transport(&e)
                );
                if e.is_connect() {
                    SendFailure::transport(text)
                } else {
                    SendFailure::unknown_outcome(text)
                }
            })?;
        let status = response.status();
        let body = crate::net::read_limited(response, MAX_ANSWER)
            .await
            .unwrap_or_default();
        if !status.is_success() {
            return Err(send_failure(status, &body));
        }
        // `{"success": false}` with 200 is a refusal all the same.
        match serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("success").cloned())
        {
            Some(Value::Bool(false)) => Err(SendFailure {
                class: crate::domain::ErrorClass::Permanent,
                ..SendFailure::new(
                    Some(status.as_u16()),
                    None,
                    format!(
                        "Meta refused `{}` without an error: {}",
                        action.name(),
                        snippet(&body)
                    ),
                )
            }),
            _ => Ok(()),
        }
    }

    /// The number's routing roles for Parley's business, or why they could not be read.
    pub async fn routing_roles(&self) -> Result<RoutingRoles, String> {
        let response = self
            .graph(Method::GET, "/routing_roles")
            .send()
            .await
            .map_err(|e| format!("no answer from Meta: {}", describe_transport(&e)))?;
        let status = response.status();
        let body = crate::net::read_limited(response, MAX_ANSWER)
            .await
            .map_err(|e| format!("Meta's answer could not be read: {e}"))?;
        if !status.is_success() {
            let f = send_failure(status, &body);
            let code = f.code.map(|c| format!(", code {c}")).unwrap_or_default();
            return Err(format!("Meta answered HTTP {status}{code}: {}", f.title));
        }
        let value: Value = serde_json::from_slice(&body)
            .map_err(|_| format!("Meta's routing roles are not JSON: {}", snippet(&body)))?;
        Ok(roles_from(&value))
    }
}

/// The roles in an answer, lowercased and bounded.
pub(super) fn roles_from(value: &Value) -> RoutingRoles {
    let mut out = RoutingRoles::default();
    let mut read = |v: &Value| {
        if let Some(list) = v.get("roles").and_then(Value::as_array) {
            for r in list {
                let name = r
                    .as_str()
                    .or_else(|| r.get("role").and_then(Value::as_str))
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty() && s.len() <= 64);
                if let Some(name) = name {
                    if out.roles.len() < ROLES_MAX && !out.roles.contains(&name) {
                        out.roles.push(name);
                    }
                }
            }
        }
        if v.get("is_standby").and_then(Value::as_bool) == Some(true) {
            out.is_standby = true;
        }
    };
    read(value);
    if let Some(data) = value.get("data").and_then(Value::as_array) {
        data.iter().take(ROLES_MAX).for_each(&mut read);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MetaSettings;
    use crate::domain::{ErrorClass, PhoneNumber};
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../../tests/fixtures/meta/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    fn client(base: &str) -> MetaClient {
        MetaClient::new(
            reqwest::Client::new(),
            MetaSettings {
                phone_number_id: "106540352242922".into(),
                access_token: "token".into(),
                app_secret: "secret".into(),
                verify_token: "verify".into(),
                api_base: base.into(),
                routing: None,
            },
        )
    }

    fn sheena() -> ContactRef {
        ContactRef::Phone(PhoneNumber::parse("+16315551181").unwrap())
    }

    #[test]
    fn bodies_name_the_action_the_customer_and_for_meta_ai_the_target_role() {
        let pass = thread_control_body(
            &sheena(),
            &ThreadAction::Pass { app: "123".into() },
            Some("order 4821"),
        );
        assert_eq!(
            pass,
            json!({"messaging_product":"whatsapp","action":"pass","to":"16315551181","metadata":"order 4821"})
        );
        let ai = thread_control_body(
            &sheena(),
            &ThreadAction::Pass {
                app: AI_AGENT.into(),
            },
            None,
        );
        assert_eq!(ai["control_pass"], json!({"target_role": "ai_agent"}));
        let take = thread_control_body(
            &ContactRef::BusinessScoped("US.1".into()),
            &ThreadAction::Take,
            None,
        );
        assert_eq!(
            take,
            json!({"messaging_product":"whatsapp","action":"take","recipient":"US.1"})
        );
    }

    #[test]
    fn roles_are_read_from_the_fixture_and_bounded() {
        let r = roles_from(&fixture("routing_roles_response.json"));
        assert_eq!(r.roles, vec!["primary", "escalation_partner"]);
        assert!(r.may_take() && !r.is_standby);
        let many: Vec<String> = (0..100).map(|i| format!("r{i}")).collect();
        let r = roles_from(&json!({"roles": many, "is_standby": true}));
        assert_eq!(r.roles.len(), ROLES_MAX);
        assert!(r.is_standby);
        assert_eq!(roles_from(&json!({"roles": "no"})), RoutingRoles::default());
    }

    #[tokio::test]
    async fn thread_control_posts_to_the_number_and_classifies_refusals() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/106540352242922/thread_control"))
            .and(body_partial_json(json!({"action": "release"})))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(fixture("thread_control_success_response.json")),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/106540352242922/thread_control"))
            .and(body_partial_json(json!({"action": "pass"})))
            .respond_with(
                ResponseTemplate::new(400)
                    .set_body_json(fixture("outbound_error_138038_response.json")),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/106540352242922/thread_control"))
            .and(body_partial_json(json!({"action": "take"})))
            .respond_with(
                ResponseTemplate::new(400)
                    .set_body_json(fixture("outbound_error_thread_not_owner_response.json")),
            )
            .mount(&server)
            .await;
        let c = client(&server.uri());
        c.thread_control(&sheena(), &ThreadAction::Release, None)
            .await
            .unwrap();
        let calls = c
            .thread_control(&sheena(), &ThreadAction::Pass { app: "1".into() }, None)
            .await
            .unwrap_err();
        assert_eq!(calls.code, Some(138038));
        assert_eq!(calls.class, ErrorClass::Permanent);
        assert!(calls.title.contains("calls"), "{}", calls.title);
        let take = c
            .thread_control(&sheena(), &ThreadAction::Take, None)
            .await
            .unwrap_err();
        assert_eq!(take.class, ErrorClass::Permanent);
    }

    #[tokio::test]
    async fn roles_are_fetched_and_a_refusal_says_why() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/106540352242922/routing_roles"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(fixture("routing_roles_response.json")),
            )
            .mount(&server)
            .await;
        let r = client(&server.uri()).routing_roles().await.unwrap();
        assert!(r.is_primary());
        let empty = MockServer::start().await;
        let e = client(&empty.uri()).routing_roles().await.unwrap_err();
        assert!(e.contains("HTTP 404"), "{e}");
    }
}

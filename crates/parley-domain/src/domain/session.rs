//! The session status of the hosted platforms' API (seeds 000–002): the window rule's
//! state, phrased the way those platforms phrase it, for the API's answers and its errors.

use super::WindowState;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionStatus {
    pub is_open: bool,
    pub can_send_freeform: bool,
    pub requires_template: bool,
    pub message: String,
    /// Only while open, like the platforms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minutes_remaining: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// `2026-02-25T10:30:00+00:00`, the hosted platforms' timestamp form.
pub fn platform_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// What the hosted platforms answer for a window in this state.
pub fn session_status(w: &WindowState) -> SessionStatus {
    if !w.is_open {
        return SessionStatus {
            is_open: false,
            can_send_freeform: false,
            requires_template: true,
            message: "Session expired. Send a template or wait for customer to reply.".into(),
            minutes_remaining: None,
            expires_at: None,
        };
    }
    let m = w.minutes_remaining;
    SessionStatus {
        is_open: true,
        can_send_freeform: true,
        requires_template: false,
        message: format!(
            "Session open ({} hr {} min remaining). Unlimited free-form messages allowed.",
            m / 60,
            m % 60
        ),
        minutes_remaining: Some(m),
        expires_at: w.expires_at.map(platform_time),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::WindowPolicy;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().into()
    }

    #[test]
    fn open_session_reads_like_the_hosted_platforms() {
        let w = WindowPolicy::default()
            .state(Some(at("2026-02-24T10:30:00Z")), at("2026-02-24T10:45:00Z"));
        let s = session_status(&w);
        assert_eq!(
            s.message,
            "Session open (23 hr 45 min remaining). Unlimited free-form messages allowed."
        );
        assert_eq!(s.minutes_remaining, Some(1425));
        assert_eq!(s.expires_at.as_deref(), Some("2026-02-25T10:30:00+00:00"));
    }

    #[test]
    fn closed_session_has_no_expiry_fields() {
        let s = session_status(&WindowPolicy::default().state(None, at("2026-02-24T10:45:00Z")));
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "is_open": false, "can_send_freeform": false, "requires_template": true,
                "message": "Session expired. Send a template or wait for customer to reply."
            })
        );
    }
}

//! `POST /sandbox/api/customers`: the customer to try the flows as — a fresh number that has
//! never written, or the `phone` given — with the language they speak and the experiment
//! arms forced for them (issue 58). The choices are checked against what the running
//! flows offer (`sandbox::choices::Offer`) and written on the customer's contact; a
//! refused choice changes nothing.

use super::{parse_phone, sender_of, ApiResult, SenderQuery};
use crate::domain::PhoneNumber;
use crate::http::error::Error;
use crate::http::state::AppState;
use crate::sandbox::choices::{self, ApplyError, Offer, TryChoices};
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// How many random numbers a fresh customer takes at most before giving up.
const FRESH_NUMBER_TRIES: usize = 20;

/// The body: all optional; `{}` (or none) is a fresh customer with no choices.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CustomerBody {
    /// An existing customer whose choices change; a fresh number when left out.
    phone: Option<String>,
    /// The customer's language: one the flows declare (`es`).
    language: Option<String>,
    /// Experiment → the arm forced: `{"welcome/opening": "long"}`.
    #[serde(default)]
    arms: BTreeMap<String, String>,
}

impl From<ApplyError> for Error {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Refused(why) => Error::bad_request(format!(
                "the customer's contact could not be changed: {why}"
            )),
            ApplyError::Store(e) => Error::from(e),
        }
    }
}

/// `POST /sandbox/api/customers`.
pub(super) async fn post_customer(
    State(st): State<AppState>,
    Query(q): Query<SenderQuery>,
    body: axum::body::Bytes,
) -> ApiResult {
    let sender = sender_of(&st, q.sender_id)?;
    let body: CustomerBody = if body.iter().all(u8::is_ascii_whitespace) {
        CustomerBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Error::bad_request(format!("invalid customer: {e}")))?
    };
    let wanted = TryChoices {
        language: body.language,
        arms: body.arms,
    };
    Offer::of(&st.engine.flows())
        .check(&wanted)
        .map_err(Error::bad_request)?;
    let phone = match &body.phone {
        Some(raw) => PhoneNumber::parse(raw)
            .map_err(|e| Error::bad_request(format!("`{raw}` is not a phone number: {e}")))?,
        None => fresh_number(&st, sender).await?,
    };
    let customer = st.sandbox.customer(phone);
    // A fresh customer with nothing chosen stays unknown until they write, as before.
    let chosen = if body.phone.is_none() && wanted.is_empty() {
        TryChoices::default()
    } else {
        choices::apply(&st.store, st.clock.as_ref(), &customer, &wanted).await?
    };
    Ok(Json(json!({
        "phone": customer.key(),
        "sender_id": sender,
        "language": chosen.language,
        "arms": chosen.arms,
    })))
}

/// A Spanish mobile number (like the page's first customer, +34600000001) that has never
/// written to `sender`.
async fn fresh_number(st: &AppState, sender: i64) -> Result<PhoneNumber, Error> {
    use rand::Rng;
    for _ in 0..FRESH_NUMBER_TRIES {
        let n: u32 = rand::rng().random_range(0..100_000_000);
        let raw = format!("+346{n:08}");
        let key = parse_phone(st, &raw)?;
        if st.store.find_conversation(sender, &key).await?.is_none() {
            return PhoneNumber::parse(&raw)
                .map_err(|e| Error::bad_request(format!("`{raw}` is not a phone number: {e}")));
        }
    }
    Err(Error::conflict(
        "every number tried has written already; try again",
    ))
}

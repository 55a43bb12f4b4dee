//! `POST /sandbox/api/customers` (`crate::http::sandbox::customers`): a customer to try
//! the flows as, with their language and forced experiment arms (issue 58), and the shapes
//! `GET /sandbox/api/flows` lists those choices in (`crate::sandbox::choices`).

use super::super::schema::{described, json_answer, json_body, list, obj, op, t, with_body};
use super::{bad_request, local, on_this_machine, sandbox_error, sender_query, unavailable};
use serde_json::{json, Value};

/// A flow's languages (`choices::LanguageOffer`), base first.
pub(in super::super) fn languages() -> Value {
    let language = json!({
        "code": described("string", "`es`, `pt_BR`"),
        "name": described("string", "The language's name in itself: `Español`"),
    });
    let about = "The languages the flow declares (`languages:`), the base first; empty for a \
        flow in one language";
    let mut schema = list(obj("code name", language));
    schema["description"] = json!(about);
    schema
}

/// A flow's experiments (`choices::ExperimentOffer`).
pub(in super::super) fn experiments() -> Value {
    let arm = json!({
        "name": t("string"),
        "weight": described("integer", "A split arm's weight (a version's arms have none)"),
    });
    let experiment = json!({
        "experiment": described("string", "`welcome/opening` (a split step) or `welcome@version` (a candidate version)"),
        "flow": t("string"),
        "kind": { "enum": ["split", "version"] },
        "arms": list(obj("name", arm)),
    });
    list(obj("experiment flow kind arms", experiment))
}

pub(in super::super) fn post_customers() -> Value {
    let arms = json!({
        "type": "object", "additionalProperties": t("string"),
        "description": "Experiment → arm forced for the customer (the contact field \
            `experiment_arms`), like `{\"welcome/opening\": \"long\"}`; an experiment left out \
            is drawn",
    });
    let body = json!({
        "phone": described("string", "An existing customer whose choices change; a fresh number when left out"),
        "language": described("string", "The customer's language (the contact field `language`): one a flow declares; none when left out"),
        "arms": arms,
    });
    let chosen = json!({
        "phone": described("string", "The customer, like `+34612345678`"),
        "sender_id": t("integer"),
        "language": { "type": ["string", "null"] },
        "arms": { "type": "object", "additionalProperties": t("string") },
    });
    let responses = json!({
        "200": json_answer("The customer and what their contact holds now", obj("phone sender_id language arms", chosen)),
        "400": bad_request("A `sender_id` that is not a sandbox sender, `phone` not a phone number, or a language, experiment or arm the flows do not have (the message lists the ones they do); nothing changes"),
        "409": sandbox_error("Every number tried (20) has written already; try again", &["conflict"]),
        "503": unavailable(false),
    });
    let operation = op(
        "post_sandbox_api_customers",
        "sandbox",
        "A customer to try the flows as, with their language and forced arms",
        &on_this_machine(
            "Picks a number that has never written to the sandbox sender (or takes `phone`) and \
             writes the customer's language and forced experiment arms on their contact, \
             exactly as given (left out: none). `GET /sandbox/api/flows` lists the languages \
             and experiments to choose from.",
            true,
        ),
        vec![sender_query()],
        local(true, responses),
    );
    let about = "All optional: `{}` is a fresh customer with nothing chosen";
    with_body(operation, json_body(false, about, obj("", body)))
}

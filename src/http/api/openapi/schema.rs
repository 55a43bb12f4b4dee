//! The pieces the OpenAPI document's routes are built of: JSON Schema types, parameters,
//! operations, bodies and answers, shared by both families of routes (`others`, `sandbox`).

use serde_json::{json, Map, Value};

pub(super) fn t(kind: &str) -> Value {
    json!({ "type": kind })
}

pub(super) fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

pub(super) fn time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

pub(super) fn time_or_null() -> Value {
    json!({ "type": ["string", "null"], "format": "date-time" })
}

pub(super) fn list(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

pub(super) fn or_null(schema: Value) -> Value {
    json!({ "oneOf": [schema, { "type": "null" }] })
}

/// An object of `props`; `required`, the names of those it always has, separated by spaces.
pub(super) fn obj(required: &str, props: Value) -> Value {
    let required: Vec<&str> = required.split_whitespace().collect();
    json!({ "type": "object", "required": required, "properties": props })
}

pub(super) fn described(kind: &str, description: &str) -> Value {
    json!({ "type": kind, "description": description })
}

pub(super) fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({
        "name": name, "in": "query", "required": false, "description": description,
        "schema": schema,
    })
}

pub(super) fn path_param(name: &str, schema: Value, description: &str) -> Value {
    json!({
        "name": name, "in": "path", "required": true, "description": description,
        "schema": schema,
    })
}

/// An operation: none takes the API key (`security: []`).
pub(super) fn op(
    id: &str,
    tag: &str,
    summary: &str,
    description: &str,
    parameters: Vec<Value>,
    responses: Value,
) -> Value {
    json!({
        "summary": summary, "description": description, "operationId": id, "tags": [tag],
        "security": [], "parameters": parameters, "responses": responses,
    })
}

pub(super) fn with_body(mut operation: Value, body: Value) -> Value {
    operation["requestBody"] = body;
    operation
}

pub(super) fn json_body(required: bool, description: &str, schema: Value) -> Value {
    json!({
        "required": required, "description": description,
        "content": { "application/json": { "schema": schema } },
    })
}

/// A response whose body is `mime`.
pub(super) fn answer(description: &str, mime: &str, schema: Value) -> Value {
    let mut content = Map::new();
    content.insert(mime.to_string(), json!({ "schema": schema }));
    json!({ "description": description, "content": content })
}

pub(super) fn json_answer(description: &str, schema: Value) -> Value {
    answer(description, "application/json", schema)
}

/// A 303 to `/sandbox` (axum's `Redirect::to`): no body.
pub(super) fn redirect(description: &str) -> Value {
    json!({
        "description": description,
        "headers": { "Location": { "schema": { "const": "/sandbox" } } },
    })
}

/// An HTML page of the sandbox family, with the headers that keep it from being framed.
pub(super) fn page(description: &str) -> Value {
    let mut html = answer(description, "text/html", t("string"));
    html["headers"] = json!({
        "Content-Security-Policy": { "schema": t("string") },
        "X-Frame-Options": { "schema": { "const": "DENY" } },
    });
    html
}

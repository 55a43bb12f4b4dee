//! Broadcasts: `POST /api/broadcasts` (one template to an audience or a list, variables
//! from contact fields, checked before anything is stored), `GET /api/broadcasts` and
//! `GET /api/broadcasts/{id}` (progress counted from the database), and
//! `POST /api/broadcasts/{id}/pause|resume|cancel`.

use crate::domain::broadcast::{BroadcastAction, MAX_LIST};
use crate::http::api::body::{FieldError, Fields};
use crate::http::error::{Error, PathParam};
use crate::http::state::AppState;
use crate::workers::broadcasts::plan::{
    self, AudienceSpec, CreateError, RefusalKind, Request, TemplateRef,
};
use crate::workers::broadcasts::report;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Longest list of tags or fields an audience may name.
const MAX_CONDITIONS: usize = 50;
/// Longest tag, field name or value.
const MAX_TEXT: usize = 1_024;

/// `POST /api/broadcasts`.
pub async fn create(
    State(st): State<AppState>,
    body: Bytes,
) -> Result<(axum::Extension<super::audit::AuditDetail>, Json<Value>), Error> {
    let f = Fields::parse(&body)?;
    let req = request(&f)?;
    let flows = st.engine.flows();
    let exists = |id: &str| flows.get(id).is_some();
    let created = plan::create(&st.store, &st.config, &exists, req, st.clock.now())
        .await
        .map_err(|e| match e {
            CreateError::Store(e) => Error::from(e),
            CreateError::Refused(r) => match r.kind {
                RefusalKind::SenderNotFound => Error::sender_not_found().with_field(r.field),
                RefusalKind::TemplateNotApproved => Error::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "TEMPLATE_NOT_APPROVED",
                    r.message,
                )
                .with_field(r.field),
                RefusalKind::Invalid => Error::field(r.field, r.message),
            },
        })?;
    st.wake.outbox.notify_one();
    let b = st.store.broadcast(created.id).await?.ok_or_else(|| {
        Error::unavailable("the broadcast was stored but could not be read back, please retry")
    })?;
    let counts = st.store.broadcast_counts(b.id).await?;
    let audit =
        json!({ "id": b.id, "recipients": created.recipients, "refused": created.refused.len() });
    Ok((
        axum::Extension(super::audit::AuditDetail(audit)),
        Json(json!({
            "success": true,
            "broadcast": report::describe(&b),
            "progress": report::progress(&b, &counts),
            "refused": created.refused,
        })),
    ))
}

fn strings(f: &Fields, name: &str, max: usize) -> Result<Vec<String>, FieldError> {
    let Some(items) = f.opt_array(name)? else {
        return Ok(Vec::new());
    };
    if items.len() > max {
        return Err(FieldError::new(
            name,
            format!("{name} lists {} items; at most {max}", items.len()),
        ));
    }
    items
        .iter()
        .map(|v| match v.as_str() {
            Some(s) if s.chars().count() <= MAX_TEXT => Ok(s.to_string()),
            Some(_) => Err(FieldError::new(
                name,
                format!("an item of {name} is longer than {MAX_TEXT} characters"),
            )),
            None => Err(FieldError::new(name, format!("{name} must list strings"))),
        })
        .collect()
}

fn duration(f: &Fields, name: &str) -> Result<Option<std::time::Duration>, FieldError> {
    f.opt_str(name)?
        .map(|s| {
            crate::config::duration::parse(s).map_err(|e| {
                FieldError::new(
                    name,
                    match e {
                        crate::config::duration::DurationError::TooLong => e.describe(s),
                        _ => format!("`{s}` is not a duration like 20h or 30d"),
                    },
                )
            })
        })
        .transpose()
}

fn string_map(f: &Fields, name: &str) -> Result<BTreeMap<String, String>, FieldError> {
    let Some(obj) = f.opt_object(name)? else {
        return Ok(BTreeMap::new());
    };
    if obj.0.len() > MAX_CONDITIONS {
        return Err(FieldError::new(
            name,
            format!("{name} has {} keys; at most {MAX_CONDITIONS}", obj.0.len()),
        ));
    }
    obj.0
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) if s.chars().count() <= MAX_TEXT && k.chars().count() <= MAX_TEXT => {
                Ok((k.clone(), s.clone()))
            }
            Value::String(_) => Err(FieldError::new(
                name,
                format!("{name}.{k} is longer than {MAX_TEXT} characters"),
            )),
            _ => Err(FieldError::new(
                name,
                format!("{name}.{k} must be a string (write numbers in quotes)"),
            )),
        })
        .collect()
}

fn request(f: &Fields) -> Result<Request, FieldError> {
    let template = match (f.opt_int("template_id")?, f.opt_str("template_name")?) {
        (Some(id), None) => Some(TemplateRef::Id(id)),
        (None, Some(name)) => Some(TemplateRef::Name {
            name: name.to_string(),
            language: f.str("language")?.to_string(),
        }),
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                "template_id",
                "give template_id or template_name, not both",
            ))
        }
        (None, None) => None,
    };
    let audience = match f.opt_object("audience")? {
        None => None,
        Some(a) => {
            for key in a.0.keys() {
                if ![
                    "tags",
                    "without_tags",
                    "fields",
                    "inactive_for",
                    "active_within",
                    "all",
                ]
                .contains(&key.as_str())
                {
                    return Err(FieldError::new(
                        "audience",
                        format!("audience.{key} is not a condition; use tags, without_tags, fields, inactive_for, active_within, or all: true"),
                    ));
                }
            }
            let all = match a.0.get("all") {
                None | Some(Value::Bool(false)) => false,
                Some(Value::Bool(true)) => true,
                Some(_) => {
                    return Err(FieldError::new(
                        "audience",
                        "audience.all must be true or false",
                    ))
                }
            };
            let spec = AudienceSpec {
                tags: strings(&a, "tags", MAX_CONDITIONS)?,
                without_tags: strings(&a, "without_tags", MAX_CONDITIONS)?,
                fields: string_map(&a, "fields")?,
                inactive_for_secs: duration(&a, "inactive_for")?.map(|d| d.as_secs()),
                active_within_secs: duration(&a, "active_within")?.map(|d| d.as_secs()),
            };
            // Every condition must hold, so none at all is every contact: said on purpose
            // only (as the CLI's --all), never by an empty object or empty lists.
            let everyone = spec == AudienceSpec::default();
            match (everyone, all) {
                (true, false) => {
                    return Err(FieldError::new(
                        "audience",
                        "the audience names no condition, so it would reach every contact; name tags, without_tags, fields, inactive_for or active_within, or say \"audience\": {\"all\": true} to send to everyone",
                    ))
                }
                (false, true) => {
                    return Err(FieldError::new(
                        "audience",
                        "audience.all: true means every contact; remove it, or remove the conditions",
                    ))
                }
                _ => {}
            }
            Some(spec)
        }
    };
    let recipients = match f.opt_array("recipients")? {
        None => None,
        Some(_) => Some(strings(f, "recipients", MAX_LIST)?),
    };
    let start_at = f
        .opt_str("start_at")?
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| {
                    FieldError::new(
                        "start_at",
                        format!("`{s}` is not a time like 2026-12-01T09:00:00Z"),
                    )
                })
        })
        .transpose()?;
    Ok(Request {
        name: f.opt_str("name")?.map(str::to_string),
        template,
        sender_id: f.opt_int("sender_id")?,
        variables: string_map(f, "variables")?,
        audience,
        recipients,
        start_at,
        reply_flow: f.opt_str("reply_flow")?.map(str::to_string),
        frequency_cap: duration(f, "frequency_cap")?,
    })
}

fn id_of(raw: &str) -> Result<i64, Error> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(broadcast_not_found)
}

fn broadcast_not_found() -> Error {
    Error::new(
        StatusCode::NOT_FOUND,
        "BROADCAST_NOT_FOUND",
        "no broadcast has this id; GET /api/broadcasts lists them",
    )
}

/// `GET /api/broadcasts?before=&limit=`.
pub async fn list(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let q = Fields::from_query(query.as_deref());
    let limit = q.opt_int("limit")?.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Error::field("limit", "limit must be between 1 and 200"));
    }
    let rows = st.store.broadcasts(q.opt_int("before")?, limit).await?;
    Ok(Json(json!({
        "success": true,
        "broadcasts": rows.iter().map(report::describe).collect::<Vec<_>>(),
    })))
}

/// `GET /api/broadcasts/{id}`.
pub async fn show(
    State(st): State<AppState>,
    PathParam(raw): PathParam,
) -> Result<Json<Value>, Error> {
    let id = id_of(&raw)?;
    let b = st
        .store
        .broadcast(id)
        .await?
        .ok_or_else(broadcast_not_found)?;
    let counts = st.store.broadcast_counts(id).await?;
    Ok(Json(json!({
        "success": true,
        "broadcast": report::describe(&b),
        "progress": report::progress(&b, &counts),
    })))
}

async fn act(st: AppState, raw: String, action: BroadcastAction) -> Result<Json<Value>, Error> {
    let id = id_of(&raw)?;
    match st
        .store
        .broadcast_action(id, action, st.clock.now())
        .await?
    {
        None => Err(broadcast_not_found()),
        Some(Err(why)) => Err(Error::conflict(why)),
        Some(Ok(state)) => Ok(Json(json!({
            "success": true,
            "id": id,
            "state": state.as_str(),
        }))),
    }
}

pub async fn pause(
    State(st): State<AppState>,
    PathParam(raw): PathParam,
) -> Result<Json<Value>, Error> {
    act(st, raw, BroadcastAction::Pause).await
}

pub async fn resume(
    State(st): State<AppState>,
    PathParam(raw): PathParam,
) -> Result<Json<Value>, Error> {
    act(st, raw, BroadcastAction::Resume).await
}

pub async fn cancel(
    State(st): State<AppState>,
    PathParam(raw): PathParam,
) -> Result<Json<Value>, Error> {
    act(st, raw, BroadcastAction::Cancel).await
}

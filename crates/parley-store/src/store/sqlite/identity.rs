//! Contact identities on SQLite, on the writer thread: finding the contact a phone and/or a
//! business-scoped user id name, joining the identities on it, and merging two contacts
//! that turn out to be one person (rules in `domain::identity`).

use super::rows::{self, from_text, json_text, micros, CONVERSATION_COLUMNS};
use super::statements::Conn;
use crate::domain::identity::{merged_conversation, merged_profile, surviving_contact};
use crate::domain::{Conversation, Identities, IdentityChange};
use crate::store::StoreResult;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde_json::{Map, Value};

/// The contact `given` names (creating it when `create` and none does), with `given`'s
/// identities joined on it; contacts found under `previous` or `given` that are not the
/// same row are merged into the oldest. Returns the contact's id and key.
pub(super) fn link(
    conn: &Conn<'_>,
    given: &Identities,
    previous: Option<&Identities>,
    name: Option<&str>,
    username: Option<&str>,
    now: i64,
    create: bool,
) -> StoreResult<Option<(i64, String)>> {
    let Some(key) = given.key() else {
        return Ok(None);
    };
    let mut found: Vec<i64> = Vec::new();
    for ids in std::iter::once(given).chain(previous) {
        for (by, value) in [
            ("select id from contacts where phone = ?1", &ids.phone),
            ("select id from contacts where bsuid = ?1", &ids.bsuid),
        ] {
            let Some(value) = value else { continue };
            let id: Option<i64> = conn
                .prepare_cached(by)?
                .query_row(params![value], |r| r.get(0))
                .optional()?;
            if let Some(id) = id.filter(|id| !found.contains(id)) {
                found.push(id);
            }
        }
    }
    let Some(mut survivor) = found.first().copied() else {
        if !create {
            return Ok(None);
        }
        let id = conn
            .prepare_cached(
                "insert into contacts (key, phone, bsuid, username, name, created_at)
                 values (?1, ?2, ?3, ?4, ?5, ?6) returning id",
            )?
            .query_row(
                params![key, given.phone, given.bsuid, username, name, now],
                |r| r.get(0),
            )?;
        return Ok(Some((id, key)));
    };
    for other in found.iter().skip(1) {
        let (keep, gone) = surviving_contact(survivor, *other);
        merge(conn, keep, gone)?;
        survivor = keep;
    }
    let (phone, bsuid): (Option<String>, Option<String>) = conn
        .prepare_cached("select phone, bsuid from contacts where id = ?1")?
        .query_row(params![survivor], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let ids = Identities { phone, bsuid }.updated_by(given);
    let key = ids.key().unwrap_or(key);
    conn.prepare_cached(
        "update contacts set phone = ?2, bsuid = ?3, key = ?4,
             username = coalesce(?5, username), name = coalesce(?6, name)
         where id = ?1
           -- most messages change nothing: no write then
           and (phone is not ?2 or bsuid is not ?3 or key is not ?4
                or (?5 is not null and username is not ?5)
                or (?6 is not null and name is not ?6))",
    )?
    .execute(params![survivor, ids.phone, ids.bsuid, key, username, name])?;
    Ok(Some((survivor, key)))
}

/// Applies a provider's identity change; the contact it moved, if Parley knew it.
pub(super) fn apply_change(
    conn: &Conn<'_>,
    change: &IdentityChange,
    now: DateTime<Utc>,
) -> StoreResult<Option<i64>> {
    let given = Identities::of(&change.current);
    let previous = Identities::of(&change.previous);
    Ok(link(
        conn,
        &given,
        Some(&previous),
        None,
        None,
        micros(now),
        false,
    )?
    .map(|(id, _)| id))
}

/// A contact's name, attributes and tags.
type Profile = (Option<String>, Map<String, Value>, Vec<String>);

/// Merges contact `gone` into `keep`: profile, conversations (per sender, joined), and a
/// tombstone left for `gone` so rows elsewhere that name it stay valid.
fn merge(conn: &Conn<'_>, keep: i64, gone: i64) -> StoreResult<()> {
    let profile = |id: i64| -> StoreResult<Profile> {
        let (name, attributes, tags): (Option<String>, String, String) = conn
            .prepare_cached("select name, attributes, tags from contacts where id = ?1")?
            .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok((
            name,
            from_text("contact attributes", &attributes)?,
            from_text("contact tags", &tags)?,
        ))
    };
    let (a, b) = (profile(keep)?, profile(gone)?);
    let (name, attributes, tags) = merged_profile((&a.0, &a.1, &a.2), (&b.0, &b.1, &b.2));
    conn.prepare_cached(
        "update contacts set phone = null, bsuid = null, key = 'merged:' || id, merged_into = ?2
         where id = ?1",
    )?
    .execute(params![gone, keep])?;
    conn.prepare_cached("update contacts set name = ?2, attributes = ?3, tags = ?4 where id = ?1")?
        .execute(params![
            keep,
            name,
            json_text("contact attributes", &attributes)?,
            json_text("contact tags", &tags)?
        ])?;
    // One person: a marketing stop or limit of either contact holds for both.
    conn.prepare_cached(
        "update contacts set
             marketing_stopped_at = coalesce(marketing_stopped_at,
                 (select marketing_stopped_at from contacts where id = ?2)),
             marketing_limited_until = nullif(max(coalesce(marketing_limited_until, 0),
                 coalesce((select marketing_limited_until from contacts where id = ?2), 0)), 0)
         where id = ?1",
    )?
    .execute(params![keep, gone])?;

    let conversations = |contact: i64| -> StoreResult<Vec<Conversation>> {
        let mut statement = conn.prepare_cached_text(&format!(
            "select {CONVERSATION_COLUMNS} from conversations where contact_id = ?1"
        ))?;
        let mut found = Vec::new();
        let mut rows_ = statement.query(params![contact])?;
        while let Some(row) = rows_.next()? {
            found.push(rows::conversation(row)?);
        }
        Ok(found)
    };
    let kept = conversations(keep)?;
    for other in conversations(gone)? {
        let Some(mine) = kept.iter().find(|c| c.sender_id == other.sender_id) else {
            conn.prepare_cached("update conversations set contact_id = ?2 where id = ?1")?
                .execute(params![other.id, keep])?;
            continue;
        };
        let merged = merged_conversation(mine, &other);
        conn.prepare_cached(
            "update conversations set state = ?2, last_inbound_at = ?3,
                 has_work = max(has_work, (select has_work from conversations where id = ?4)),
                 work_since = min(coalesce(work_since, (select work_since from conversations where id = ?4)),
                                  coalesce((select work_since from conversations where id = ?4), work_since))
             where id = ?1",
        )?
        .execute(params![
            mine.id,
            json_text("conversation state", &merged.state.to_value())?,
            merged.last_inbound_at.map(micros),
            other.id
        ])?;
        for table in [
            "conversation_events",
            "outbound_messages",
            "deferred_sends",
            "media_downloads",
        ] {
            conn.prepare_cached_text(&format!(
                "update {table} set conversation_id = ?2 where conversation_id = ?1"
            ))?
            .execute(params![other.id, mine.id])?;
        }
        // Timers belong to the state they were set for: the surviving state's move or
        // stay, the dropped state's go.
        let (dropped, moved) = if merged.state_from_other {
            (mine.id, Some(other.id))
        } else {
            (other.id, None)
        };
        conn.prepare_cached("delete from timers where conversation_id = ?1")?
            .execute(params![dropped])?;
        if let Some(moved) = moved {
            conn.prepare_cached(
                "update timers set conversation_id = ?2 where conversation_id = ?1",
            )?
            .execute(params![moved, mine.id])?;
        }
        conn.prepare_cached(
            "update conversations set state = 'null', last_inbound_at = null, has_work = 0,
                 work_since = null
             where id = ?1",
        )?
        .execute(params![other.id])?;
    }
    Ok(())
}

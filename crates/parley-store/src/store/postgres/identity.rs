//! Contact identities on PostgreSQL, inside the caller's transaction: finding the contact a
//! phone and/or a business-scoped user id name, joining the identities on it, and merging
//! two contacts that turn out to be one person (rules in `domain::identity`). Contacts
//! found are locked in id order, so two processes joining the same person queue.

use super::rows::{self, json, CONVERSATION_COLUMNS};
use crate::domain::identity::{merged_conversation, merged_profile, surviving_contact};
use crate::domain::{Conversation, Identities, IdentityChange};
use crate::store::StoreResult;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{PgConnection, Row};

/// The contact `given` names (creating it when `create` and none does), with `given`'s
/// identities joined on it; contacts found under `previous` or `given` that are not the
/// same row are merged into the oldest. Returns the contact's id and key.
pub(super) async fn link(
    conn: &mut PgConnection,
    given: &Identities,
    previous: Option<&Identities>,
    name: Option<&str>,
    username: Option<&str>,
    now: DateTime<Utc>,
    create: bool,
) -> StoreResult<Option<(i64, String)>> {
    let Some(key) = given.key() else {
        return Ok(None);
    };
    let mut phones: Vec<&str> = Vec::new();
    let mut bsuids: Vec<&str> = Vec::new();
    for ids in std::iter::once(given).chain(previous) {
        phones.extend(ids.phone.as_deref());
        bsuids.extend(ids.bsuid.as_deref());
    }
    let found: Vec<i64> = sqlx::query_scalar(
        "select id from contacts where phone = any($1) or bsuid = any($2)
         order by id for update",
    )
    .bind(&phones)
    .bind(&bsuids)
    .fetch_all(&mut *conn)
    .await?;
    let Some(mut survivor) = found.first().copied() else {
        if !create {
            return Ok(None);
        }
        // A concurrent first sight of the same person inserts once; this one then finds it.
        let id: Option<i64> = sqlx::query_scalar(
            "insert into contacts (key, phone, bsuid, username, name, created_at)
             values ($1, $2, $3, $4, $5, $6)
             on conflict do nothing
             returning id",
        )
        .bind(&key)
        .bind(&given.phone)
        .bind(&given.bsuid)
        .bind(username)
        .bind(name)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        return match id {
            Some(id) => Ok(Some((id, key))),
            None => Box::pin(link(conn, given, previous, name, username, now, false)).await,
        };
    };
    for other in found.iter().skip(1) {
        let (keep, gone) = surviving_contact(survivor, *other);
        merge(conn, keep, gone).await?;
        survivor = keep;
    }
    let row = sqlx::query("select phone, bsuid from contacts where id = $1")
        .bind(survivor)
        .fetch_one(&mut *conn)
        .await?;
    let ids = Identities {
        phone: row.try_get("phone")?,
        bsuid: row.try_get("bsuid")?,
    }
    .updated_by(given);
    let key = ids.key().unwrap_or(key);
    sqlx::query(
        "update contacts set phone = $2, bsuid = $3, key = $4,
             username = coalesce($5, username), name = coalesce($6, name)
         where id = $1
           -- most messages change nothing: no write then
           and (phone is distinct from $2 or bsuid is distinct from $3
                or key is distinct from $4
                or ($5::text is not null and username is distinct from $5)
                or ($6::text is not null and name is distinct from $6))",
    )
    .bind(survivor)
    .bind(&ids.phone)
    .bind(&ids.bsuid)
    .bind(&key)
    .bind(username)
    .bind(name)
    .execute(&mut *conn)
    .await?;
    Ok(Some((survivor, key)))
}

/// Applies a provider's identity change; the contact it moved, if Parley knew it.
pub(super) async fn apply_change(
    conn: &mut PgConnection,
    change: &IdentityChange,
    now: DateTime<Utc>,
) -> StoreResult<Option<i64>> {
    let given = Identities::of(&change.current);
    let previous = Identities::of(&change.previous);
    Ok(link(conn, &given, Some(&previous), None, None, now, false)
        .await?
        .map(|(id, _)| id))
}

type Profile = (Option<String>, Map<String, Value>, Vec<String>);

async fn profile(conn: &mut PgConnection, id: i64) -> StoreResult<Profile> {
    let row = sqlx::query("select name, attributes, tags from contacts where id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    Ok((
        row.try_get("name")?,
        json(&row, "attributes")?,
        json(&row, "tags")?,
    ))
}

async fn conversations(conn: &mut PgConnection, contact: i64) -> StoreResult<Vec<Conversation>> {
    sqlx::query(&format!(
        "select {CONVERSATION_COLUMNS} from conversations where contact_id = $1
         order by id for no key update"
    ))
    .bind(contact)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(rows::conversation)
    .collect()
}

/// Merges contact `gone` into `keep`: profile, conversations (per sender, joined), and a
/// tombstone left for `gone` so rows elsewhere that name it stay valid.
async fn merge(conn: &mut PgConnection, keep: i64, gone: i64) -> StoreResult<()> {
    let (a, b) = (profile(conn, keep).await?, profile(conn, gone).await?);
    let (name, attributes, tags) = merged_profile((&a.0, &a.1, &a.2), (&b.0, &b.1, &b.2));
    sqlx::query(
        "update contacts set phone = null, bsuid = null, key = 'merged:' || id, merged_into = $2
         where id = $1",
    )
    .bind(gone)
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    sqlx::query("update contacts set name = $2, attributes = $3, tags = $4 where id = $1")
        .bind(keep)
        .bind(name)
        .bind(Json(attributes))
        .bind(Json(tags))
        .execute(&mut *conn)
        .await?;
    // One person: a marketing stop or limit of either contact holds for both.
    sqlx::query(
        "update contacts k set
             marketing_stopped_at = coalesce(k.marketing_stopped_at, g.marketing_stopped_at),
             marketing_limited_until = greatest(k.marketing_limited_until, g.marketing_limited_until)
         from contacts g
         where k.id = $1 and g.id = $2",
    )
    .bind(keep)
    .bind(gone)
    .execute(&mut *conn)
    .await?;

    let kept = conversations(conn, keep).await?;
    for other in conversations(conn, gone).await? {
        let Some(mine) = kept.iter().find(|c| c.sender_id == other.sender_id) else {
            sqlx::query("update conversations set contact_id = $2 where id = $1")
                .bind(other.id)
                .bind(keep)
                .execute(&mut *conn)
                .await?;
            continue;
        };
        let merged = merged_conversation(mine, &other);
        sqlx::query(
            "update conversations v set state = $2, last_inbound_at = $3,
                 has_work = v.has_work or o.has_work,
                 work_since = least(v.work_since, o.work_since)
             from conversations o
             where v.id = $1 and o.id = $4",
        )
        .bind(mine.id)
        .bind(Json(merged.state.to_value()))
        .bind(merged.last_inbound_at)
        .bind(other.id)
        .execute(&mut *conn)
        .await?;
        for table in [
            "conversation_events",
            "outbound_messages",
            "deferred_sends",
            "media_downloads",
        ] {
            sqlx::query(&format!(
                "update {table} set conversation_id = $2 where conversation_id = $1"
            ))
            .bind(other.id)
            .bind(mine.id)
            .execute(&mut *conn)
            .await?;
        }
        // Timers belong to the state they were set for: the surviving state's move or
        // stay, the dropped state's go.
        let (dropped, moved) = if merged.state_from_other {
            (mine.id, Some(other.id))
        } else {
            (other.id, None)
        };
        sqlx::query("delete from timers where conversation_id = $1")
            .bind(dropped)
            .execute(&mut *conn)
            .await?;
        if let Some(moved) = moved {
            sqlx::query("update timers set conversation_id = $2 where conversation_id = $1")
                .bind(moved)
                .bind(mine.id)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(
            "update conversations set state = 'null', last_inbound_at = null, has_work = false,
                 work_since = null
             where id = $1",
        )
        .bind(other.id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

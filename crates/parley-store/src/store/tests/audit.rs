//! The audit log: appended rows read back newest first, with every field; filters by
//! period, actor and action (exactly or by its start); a cursor that pages without gaps or
//! repeats; a bounded limit; over-long texts and details cut, not refused; an append
//! cheap enough to follow every API change.

use crate::store::{
    AuditFilter, AuditVia, DynStore, NewAuditEntry, MAX_AUDIT_ENTRIES, MAX_AUDIT_TEXT,
};
use serde_json::json;

fn entry(at_ms: i64, actor: &str, action: &str) -> NewAuditEntry {
    NewAuditEntry::new(at_ms, actor, AuditVia::Api, action)
}

fn all() -> AuditFilter {
    AuditFilter {
        limit: MAX_AUDIT_ENTRIES,
        ..AuditFilter::default()
    }
}

async fn appended_changes_are_read_back_newest_first_with_every_field(store: DynStore) {
    let mut first = entry(1_000, "crm", "POST /api/broadcasts/{broadcast_id}/pause");
    first.target = Some("/api/broadcasts/7/pause".into());
    first.source = Some("203.0.113.9".into());
    first.status = Some(200);
    first.detail = json!({ "scope": "broadcasts", "ids": [7] });
    let first_id = store.append_audit(&first).await.unwrap();
    let mut second = NewAuditEntry::new(2_000, "cli:ana", AuditVia::Cli, "contacts.import");
    second.detail = json!({ "created": 3, "fields": ["name", "tier"] });
    let second_id = store.append_audit(&second).await.unwrap();
    assert!(second_id > first_id);

    let read = store.audit_entries(&all()).await.unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].id, second_id, "newest first");
    assert_eq!(read[0].via, "cli");
    assert_eq!(read[0].target, None);
    assert_eq!(read[0].status, None);
    assert_eq!(read[0].detail, second.detail);
    let old = &read[1];
    assert_eq!(old.at_ms, 1_000);
    assert_eq!(old.actor, "crm");
    assert_eq!(old.via, "api");
    assert_eq!(old.action, first.action);
    assert_eq!(old.target, first.target);
    assert_eq!(old.source, first.source);
    assert_eq!(old.status, Some(200));
    assert_eq!(old.detail, first.detail);
}

async fn filters_by_period_actor_and_action(store: DynStore) {
    for (at, actor, action) in [
        (1_000, "crm", "POST /api/user/whatsapp/send"),
        (2_000, "ops", "contacts.import"),
        (3_000, "crm", "contactsx.import"),
        (4_000, "crm", "contacts"),
        (5_000, "ops", "POST /api/broadcasts"),
    ] {
        store.append_audit(&entry(at, actor, action)).await.unwrap();
    }
    let at = |f: AuditFilter| {
        let store = store.clone();
        async move {
            let rows = store.audit_entries(&f).await.unwrap();
            rows.iter().map(|r| r.at_ms).collect::<Vec<_>>()
        }
    };
    let period = AuditFilter {
        since_ms: Some(2_000),
        until_ms: Some(4_000),
        ..all()
    };
    assert_eq!(at(period).await, vec![3_000, 2_000], "since in, until out");
    let crm = AuditFilter {
        actor: Some("crm".into()),
        ..all()
    };
    assert_eq!(at(crm).await, vec![4_000, 3_000, 1_000]);
    let contacts = AuditFilter {
        action: Some("contacts".into()),
        ..all()
    };
    assert_eq!(
        at(contacts).await,
        vec![4_000, 2_000],
        "the action itself and `contacts.…`, not `contactsx.…`, its neighbour by letters"
    );
    let posts = AuditFilter {
        action: Some("POST".into()),
        actor: Some("ops".into()),
        ..all()
    };
    assert_eq!(at(posts).await, vec![5_000]);
    let none = AuditFilter {
        action: Some("contacts.import%".into()),
        ..all()
    };
    assert!(at(none).await.is_empty(), "no pattern characters");
}

async fn a_cursor_pages_without_gaps_and_the_limit_is_bounded(store: DynStore) {
    for n in 0..25 {
        store
            .append_audit(&entry(n, "crm", "key.use"))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .audit_entries(&AuditFilter {
                before,
                limit: 10,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        before = page.last().map(|r| r.id);
        seen.extend(page.iter().map(|r| r.at_ms));
    }
    assert_eq!(seen, (0..25).rev().collect::<Vec<_>>());
    let one = store
        .audit_entries(&AuditFilter {
            limit: 0,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 1, "a limit under 1 reads one");
}

async fn long_texts_and_large_details_are_cut(store: DynStore) {
    let mut big = entry(1, &"a".repeat(5_000), "x");
    big.target = Some("é".repeat(5_000));
    big.detail = json!({ "ids": (0..5_000).collect::<Vec<_>>() });
    store.append_audit(&big).await.unwrap();
    let mut scalar = entry(2, "crm", "y");
    scalar.detail = json!(42);
    store.append_audit(&scalar).await.unwrap();
    let read = store.audit_entries(&all()).await.unwrap();
    assert_eq!(read[0].detail, json!({ "value": 42 }), "always an object");
    assert_eq!(read[1].actor.chars().count(), MAX_AUDIT_TEXT);
    assert_eq!(
        read[1].target.as_deref().unwrap().chars().count(),
        MAX_AUDIT_TEXT
    );
    assert_eq!(read[1].detail, json!({ "truncated": true }));
}

/// What an API change adds to its request: one append, timed (printed with
/// `--nocapture`; BENCHMARKS.md quotes it). The bound is loose, for slow machines: it
/// catches an append that became a scan or a lock wait, not a few microseconds.
async fn an_append_is_one_short_insert(store: DynStore) {
    let mut took = Vec::new();
    for n in 0..2_000 {
        let mut e = entry(n, "crm", "POST /api/user/whatsapp/send-freeform");
        e.source = Some("203.0.113.9".into());
        e.status = Some(200);
        e.detail = json!({ "scope": "send" });
        let start = std::time::Instant::now();
        store.append_audit(&e).await.unwrap();
        took.push(start.elapsed().as_micros());
    }
    took.sort_unstable();
    let (p50, p99) = (took[1_000], took[1_980]);
    println!(
        "audit append on {}: p50 {p50} µs, p99 {p99} µs, max {} µs (2,000 in a row)",
        store.backend(),
        took[1_999]
    );
    assert!(p50 < 50_000, "p50 {p50} µs");
}

conformance!(
    an_append_is_one_short_insert,
    appended_changes_are_read_back_newest_first_with_every_field,
    filters_by_period_actor_and_action,
    a_cursor_pages_without_gaps_and_the_limit_is_bounded,
    long_texts_and_large_details_are_cut,
);

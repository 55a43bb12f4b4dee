//! The API's reads: spend counted by kind (failed and skipped messages are free), the
//! latest template of a conversation, conversations newest first in pages, and inbound
//! messages without system events.

use super::fixtures::*;
use crate::domain::{EventKind, Handoff, Timer};
use crate::domain::{OutboundContent, OutboundMessage, WindowFallback};
use crate::store::{DynStore, KindCount, NewEvent, NewOutbound, Origin, SendOutcome};

fn template_to(conversation_id: i64, to: u32) -> NewOutbound {
    NewOutbound {
        sender_id: SENDER,
        conversation_id,
        message: OutboundMessage {
            to: customer(to),
            content: OutboundContent::Template(template("menu_reminder")),
            trace: None,
        },
        fallback: WindowFallback::Fail,
        origin: Origin::Api,
        flow: None,
        step: None,
        cost: None,
    }
}

async fn spend_counts_queued_and_sent_messages_by_kind(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    assert!(store
        .outbound_kind_counts(SENDER, None)
        .await
        .unwrap()
        .is_empty());
    sent(&store, text_to(conversation, 1, "a"), "wamid.out.1", t(1)).await;
    let ids = store
        .enqueue(
            &[
                text_to(conversation, 1, "b"),
                template_to(conversation, 1),
                text_to(conversation, 1, "c"),
            ],
            t(2),
        )
        .await
        .unwrap();
    // The first queued text fails: it costs nothing.
    let claimed = claim_ids(&store, "o", t(3), 1).await;
    assert_eq!(claimed, vec![ids[0]]);
    let failed = SendOutcome::Failed {
        code: Some(131026),
        title: "undeliverable".into(),
        window_closed: false,
    };
    store
        .record_outcome(ids[0], "o", &failed, t(3))
        .await
        .unwrap();
    let counts = store.outbound_kind_counts(SENDER, None).await.unwrap();
    assert_eq!(
        counts,
        vec![
            KindCount {
                kind: "template".into(),
                count: 1
            },
            KindCount {
                kind: "text".into(),
                count: 2
            },
        ]
    );
    let recent = store
        .outbound_kind_counts(SENDER, Some(t(2)))
        .await
        .unwrap();
    assert_eq!(recent.iter().map(|k| k.count).sum::<i64>(), 2);
    assert!(store
        .outbound_kind_counts(SENDER + 1, None)
        .await
        .unwrap()
        .is_empty());
}

async fn latest_template_is_the_newest_one_not_failed(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    assert_eq!(store.last_template_at(conversation).await.unwrap(), None);
    store
        .enqueue(&[text_to(conversation, 1, "a")], t(1))
        .await
        .unwrap();
    assert_eq!(store.last_template_at(conversation).await.unwrap(), None);
    store
        .enqueue(&[template_to(conversation, 1)], t(5))
        .await
        .unwrap();
    assert_eq!(
        store.last_template_at(conversation).await.unwrap(),
        Some(t(5))
    );
}

async fn conversations_are_listed_newest_first_in_pages(store: DynStore) {
    let mut ids = Vec::new();
    for n in 1..=5 {
        let (_, c) = receive(&store, &format!("wamid.{n}"), n, t(n as i64)).await;
        ids.push(c);
    }
    let first = store.conversations_page(None, None, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|s| s.conversation.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3]]
    );
    assert_eq!(first[0].contact.key, customer(5).key());
    assert_eq!(first[0].contact.name.as_deref(), Some("Customer 5"));
    assert_eq!(first[0].conversation.last_inbound_at, Some(t(5)));
    let next = store
        .conversations_page(None, Some(first[1].conversation.id), 10)
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|s| s.conversation.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1], ids[0]]
    );
    assert_eq!(
        store
            .conversations_page(Some(SENDER), None, 10)
            .await
            .unwrap()
            .len(),
        5
    );
    assert!(store
        .conversations_page(Some(SENDER + 7), None, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn inbound_messages_leave_out_system_events(store: DynStore) {
    let (first, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    let (second, same) = receive(&store, "wamid.2", 1, t(1)).await;
    assert_eq!(conversation, same);
    store
        .insert_events(&[NewEvent {
            conversation_id: conversation,
            sender_id: SENDER,
            dedupe_key: None,
            event: Timer::Release { by: None },
            now: t(2),
        }])
        .await
        .unwrap();
    let page = store
        .conversation_inbound(conversation, None, 10)
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![second, first]
    );
    assert!(matches!(&page[0].kind, EventKind::Message(m) if m.provider_message_id == "wamid.2"));
    let older = store
        .conversation_inbound(conversation, Some(second), 10)
        .await
        .unwrap();
    assert_eq!(older.iter().map(|e| e.id).collect::<Vec<_>>(), vec![first]);
}

/// Commits a step of `conversation` (whose event `event` was claimed by `owner`) that
/// leaves it in a handoff or out of one.
async fn set_handoff(store: &DynStore, conversation: i64, event: i64, owner: &str, on: bool) {
    let mut commit = step(conversation, event, owner, t(20));
    commit.state.handoff = on.then(|| Handoff {
        since: t(10),
        until: Some(t(10 + 4 * 3600)),
        flow: "human_handoff".into(),
    });
    commit.release = true;
    store.commit_step(&commit).await.unwrap();
}

async fn conversations_in_handoff_are_listed_with_their_contacts(store: DynStore) {
    let mut conversations = Vec::new();
    for n in 1..=3 {
        conversations.push(receive(&store, &format!("wamid.{n}"), n, t(n as i64)).await);
    }
    assert!(store.handoff_conversations(10).await.unwrap().is_empty());
    store.claim_work("a", t(5), LEASE, 10, 32).await.unwrap();
    for (i, (event, conversation)) in conversations.iter().enumerate() {
        set_handoff(&store, *conversation, *event, "a", i != 1).await;
    }
    let listed = store.handoff_conversations(10).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.conversation.id).collect::<Vec<_>>(),
        vec![conversations[0].1, conversations[2].1]
    );
    assert_eq!(listed[1].contact.key, customer(3).key());
    let handoff = listed[0].conversation.state.handoff.as_ref().unwrap();
    assert_eq!(
        (handoff.since, handoff.flow.as_str()),
        (t(10), "human_handoff")
    );
    assert_eq!(store.handoff_conversations(1).await.unwrap().len(), 1);
    // Released: it leaves the list.
    let (event, conversation) = receive(&store, "wamid.4", 1, t(30)).await;
    store.claim_work("b", t(31), LEASE, 10, 32).await.unwrap();
    set_handoff(&store, conversation, event, "b", false).await;
    let listed = store.handoff_conversations(10).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.conversation.id).collect::<Vec<_>>(),
        vec![conversations[2].1]
    );
}

async fn outbound_authors_are_read_by_their_steps_prefix(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    let by = |body: &str, step: Option<&str>| NewOutbound {
        step: step.map(str::to_string),
        ..text_to(conversation, 1, body)
    };
    let ids = store
        .enqueue(
            &[
                by("bot", Some("step 1")),
                by("ana", Some("inbox:ana")),
                by("api", None),
                by("bo", Some("inbox:bo")),
            ],
            t(1),
        )
        .await
        .unwrap();
    let authors = |from, limit| store.outbound_authors(conversation, from, "inbox:", limit);
    assert_eq!(
        authors(ids[0], 10).await.unwrap(),
        vec![
            (ids[1], "inbox:ana".to_string()),
            (ids[3], "inbox:bo".to_string())
        ]
    );
    assert_eq!(
        authors(ids[2], 10).await.unwrap(),
        vec![(ids[3], "inbox:bo".to_string())]
    );
    assert_eq!(authors(ids[0], 1).await.unwrap().len(), 1);
    assert!(store
        .outbound_authors(conversation + 1, 0, "inbox:", 10)
        .await
        .unwrap()
        .is_empty());
}

conformance!(
    outbound_authors_are_read_by_their_steps_prefix,
    conversations_in_handoff_are_listed_with_their_contacts,
    spend_counts_queued_and_sent_messages_by_kind,
    latest_template_is_the_newest_one_not_failed,
    conversations_are_listed_newest_first_in_pages,
    inbound_messages_leave_out_system_events,
);

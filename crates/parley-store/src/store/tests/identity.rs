//! Contact identities: a contact found by phone and/or business-scoped user id, identities
//! joined when a webhook brings both, identity changes that move a contact, and two
//! contacts of one person merged — never a duplicate, nothing of theirs lost.

use super::fixtures::*;
use crate::domain::{
    ContactPatch, ContactRef, ConversationState, IdentityChange, IdentityChangeKind,
    InboundMessage, PhoneNumber, Run,
};
use crate::store::{DynStore, Id, IngestItem, IngestOutcome};
use chrono::{DateTime, Utc};
use serde_json::json;

const BSUID: &str = "US.10482957361840527319";
const NEW_BSUID: &str = "US.24817305912873645029";

fn phone(n: u32) -> PhoneNumber {
    PhoneNumber::parse(&format!("+1631555{n:04}")).unwrap()
}

fn user(id: &str) -> ContactRef {
    ContactRef::BusinessScoped(id.to_string())
}

fn both(n: u32, id: &str) -> ContactRef {
    ContactRef::PhoneAndBusinessScoped {
        phone: phone(n),
        user_id: id.to_string(),
    }
}

fn from(id: &str, who: ContactRef, at: DateTime<Utc>) -> IngestItem {
    let mut m: InboundMessage = inbound(id, 1, Some(at), "hello");
    m.from = who;
    m.profile_name = None;
    m.username = Some("@maria".into());
    message(m, at)
}

async fn stored(store: &DynStore, item: IngestItem) -> Id {
    match store.ingest(&[item]).await.unwrap().as_slice() {
        [IngestOutcome::Stored {
            conversation_id, ..
        }] => *conversation_id,
        other => panic!("expected one stored message, got {other:?}"),
    }
}

fn change(previous: ContactRef, current: ContactRef, kind: IdentityChangeKind) -> IngestItem {
    IngestItem::IdentityChange {
        sender_id: SENDER,
        change: IdentityChange {
            previous,
            current,
            kind,
            timestamp: Some(t(50)),
        },
        received_at: t(50),
    }
}

/// Marks the conversation's only pending event processed, with a state and a patch.
async fn settle(
    store: &DynStore,
    conversation_id: Id,
    state: ConversationState,
    patch: ContactPatch,
) {
    let claimed = store
        .claim_conversations("w", t(1), LEASE, 10)
        .await
        .unwrap();
    assert!(claimed.contains(&conversation_id));
    let work = store.load_work(conversation_id, 10).await.unwrap();
    for event in work.events {
        let mut s = step(conversation_id, event.id, "w", t(1));
        s.state = state.clone();
        s.contact_patch = Some(patch.clone());
        s.release = true;
        store.commit_step(&s).await.unwrap();
    }
    for other in claimed.into_iter().filter(|c| *c != conversation_id) {
        store.release_conversation(other, "w").await.unwrap();
    }
}

fn asking(flow: &str) -> ConversationState {
    ConversationState {
        run: Some(Run {
            id: 1,
            flow: flow.into(),
            version: 1,
            step: 1,
            vars: Default::default(),
            wait: None,
            offered: vec![],
            started_at: t(0),
            arm: None,
        }),
        runs_started: 1,
        ..ConversationState::default()
    }
}

fn tagged(tag: &str) -> ContactPatch {
    let mut patch = ContactPatch::default();
    patch.tag(tag);
    patch
}

async fn a_business_scoped_sender_is_one_contact_found_by_its_id(store: DynStore) {
    let first = stored(&store, from("wamid.1", user(BSUID), t(0))).await;
    let second = stored(&store, from("wamid.2", user(BSUID), t(5))).await;
    assert_eq!(first, second);
    let conversation = store
        .find_conversation(SENDER, &format!("bsuid:{BSUID}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation.id, first);
    let contact = store
        .contact(conversation.contact_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.contact_ref(), Some(user(BSUID)));
}

async fn a_phone_arriving_for_a_business_scoped_contact_joins_it(store: DynStore) {
    let first = stored(&store, from("wamid.1", user(BSUID), t(0))).await;
    let joined = stored(&store, from("wamid.2", both(1, BSUID), t(5))).await;
    assert_eq!(first, joined, "same conversation, no duplicate contact");
    let conversation = store.conversation(first).await.unwrap().unwrap();
    let contact = store
        .contact(conversation.contact_id)
        .await
        .unwrap()
        .unwrap();
    // Sends now go to the phone; the BSUID and the username stay on the contact.
    assert_eq!(contact.contact_ref(), Some(ContactRef::Phone(phone(1))));
    assert_eq!(contact.user_id.as_deref(), Some(BSUID));
    assert_eq!(contact.username.as_deref(), Some("@maria"));
    // Found by either identity afterwards; a phone-only message lands there too.
    for key in [phone(1).as_e164().to_string(), format!("bsuid:{BSUID}")] {
        let found = store
            .find_conversation(SENDER, &key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, first, "{key}");
    }
    let phone_only = stored(&store, from("wamid.3", ContactRef::Phone(phone(1)), t(9))).await;
    assert_eq!(phone_only, first);
    // A BSUID-only message after the join stays on the same contact.
    let bsuid_only = stored(&store, from("wamid.4", user(BSUID), t(10))).await;
    assert_eq!(bsuid_only, first);
    // The API addressing the BSUID finds the same conversation.
    let via_api = store
        .ensure_conversation(SENDER, &user(BSUID), None, t(11))
        .await
        .unwrap();
    assert_eq!(via_api.id, first);
}

async fn a_bsuid_arriving_for_a_phone_contact_joins_it(store: DynStore) {
    let first = stored(&store, from("wamid.1", ContactRef::Phone(phone(1)), t(0))).await;
    let joined = stored(&store, from("wamid.2", both(1, BSUID), t(5))).await;
    assert_eq!(first, joined);
    let bsuid_only = stored(&store, from("wamid.3", user(BSUID), t(6))).await;
    assert_eq!(bsuid_only, first);
}

async fn two_contacts_of_one_person_merge_into_the_older(store: DynStore) {
    // Known twice: by phone (older, tagged, idle) and by BSUID (newer, waiting in an ask).
    let by_phone = stored(&store, from("wamid.1", ContactRef::Phone(phone(1)), t(0))).await;
    settle(
        &store,
        by_phone,
        ConversationState::default(),
        tagged("vip"),
    )
    .await;
    let by_id = stored(&store, from("wamid.2", user(BSUID), t(10))).await;
    let mut patch = tagged("lead");
    patch.set_attributes.insert("city".into(), json!("Lima"));
    settle(&store, by_id, asking("order"), patch).await;
    assert_ne!(by_phone, by_id);
    let older = store
        .conversation(by_phone)
        .await
        .unwrap()
        .unwrap()
        .contact_id;

    // A message naming both joins them.
    let joined = stored(&store, from("wamid.3", both(1, BSUID), t(20))).await;
    assert_eq!(
        joined, by_phone,
        "the older contact's conversation survives"
    );
    let conversation = store.conversation(joined).await.unwrap().unwrap();
    assert_eq!(conversation.contact_id, older);
    assert_eq!(
        conversation.state.run.map(|r| r.flow).as_deref(),
        Some("order")
    );
    assert_eq!(conversation.last_inbound_at, Some(t(20)));
    let contact = store.contact(older).await.unwrap().unwrap();
    assert_eq!(contact.tags, vec!["vip".to_string(), "lead".to_string()]);
    assert_eq!(contact.attributes.get("city"), Some(&json!("Lima")));
    // The new message waits on the surviving conversation, for one worker.
    let claimed = store
        .claim_conversations("w2", t(21), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(claimed, vec![joined]);
    let work = store.load_work(joined, 10).await.unwrap();
    assert_eq!(work.events.len(), 1);
    assert_eq!(work.contact.id, older);
    // History moved: every message is on the surviving conversation.
    let inbound = store.conversation_inbound(joined, None, 10).await.unwrap();
    assert_eq!(inbound.len(), 3);
    // The merged contact's emptied conversation is in no audience and no listing.
    let audience = store.audience_page(SENDER, 0, 10).await.unwrap();
    assert_eq!(
        audience
            .iter()
            .map(|r| r.conversation_id)
            .collect::<Vec<_>>(),
        vec![joined]
    );
    let listed = store
        .conversations_page(Some(SENDER), None, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    // Both identities find it; nothing finds the merged one.
    for key in [phone(1).as_e164().to_string(), format!("bsuid:{BSUID}")] {
        let found = store
            .find_conversation(SENDER, &key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, joined, "{key}");
    }
}

async fn a_changed_number_moves_the_contact_with_tags_and_window(store: DynStore) {
    let first = stored(&store, from("wamid.1", both(1, BSUID), t(0))).await;
    settle(&store, first, asking("order"), tagged("vip")).await;
    let outcome = store
        .ingest(&[change(
            both(1, BSUID),
            both(2, NEW_BSUID),
            IdentityChangeKind::ChangedNumber,
        )])
        .await
        .unwrap();
    let contact_id = store.conversation(first).await.unwrap().unwrap().contact_id;
    assert_eq!(
        outcome,
        vec![IngestOutcome::IdentityApplied {
            contact_id: Some(contact_id)
        }]
    );
    let contact = store.contact(contact_id).await.unwrap().unwrap();
    assert_eq!(contact.contact_ref(), Some(ContactRef::Phone(phone(2))));
    assert_eq!(contact.tags, vec!["vip".to_string()]);
    assert!(store
        .find_conversation(SENDER, phone(1).as_e164())
        .await
        .unwrap()
        .is_none());
    let moved = store
        .find_conversation(SENDER, phone(2).as_e164())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.id, first);
    assert_eq!(moved.last_inbound_at, Some(t(0)), "the window is kept");
    assert!(moved.state.run.is_some(), "the flow in progress is kept");
    // The next message from the new identities lands on the same conversation.
    let next = stored(&store, from("wamid.2", user(NEW_BSUID), t(60))).await;
    assert_eq!(next, first);
}

async fn a_user_id_update_moves_the_contact(store: DynStore) {
    let first = stored(&store, from("wamid.1", user(BSUID), t(0))).await;
    settle(&store, first, asking("order"), tagged("vip")).await;
    store
        .ingest(&[change(
            user(BSUID),
            user(NEW_BSUID),
            IdentityChangeKind::ChangedUserId,
        )])
        .await
        .unwrap();
    let moved = store
        .find_conversation(SENDER, &format!("bsuid:{NEW_BSUID}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.id, first);
    assert!(store
        .find_conversation(SENDER, &format!("bsuid:{BSUID}"))
        .await
        .unwrap()
        .is_none());
    let next = stored(&store, from("wamid.2", user(NEW_BSUID), t(60))).await;
    assert_eq!(next, first);
    // Applying it again changes nothing and names nobody.
    let again = store
        .ingest(&[change(
            user(BSUID),
            user(NEW_BSUID),
            IdentityChangeKind::ChangedUserId,
        )])
        .await
        .unwrap();
    let contact_id = store.conversation(first).await.unwrap().unwrap().contact_id;
    assert_eq!(
        again,
        vec![IngestOutcome::IdentityApplied {
            contact_id: Some(contact_id)
        }]
    );
}

async fn a_change_for_an_unknown_customer_creates_nothing(store: DynStore) {
    let outcome = store
        .ingest(&[change(
            ContactRef::Phone(phone(1)),
            ContactRef::Phone(phone(2)),
            IdentityChangeKind::ChangedNumber,
        )])
        .await
        .unwrap();
    assert_eq!(
        outcome,
        vec![IngestOutcome::IdentityApplied { contact_id: None }]
    );
    for n in [1, 2] {
        assert!(store
            .find_conversation(SENDER, phone(n).as_e164())
            .await
            .unwrap()
            .is_none());
    }
}

conformance!(
    a_business_scoped_sender_is_one_contact_found_by_its_id,
    a_phone_arriving_for_a_business_scoped_contact_joins_it,
    a_bsuid_arriving_for_a_phone_contact_joins_it,
    two_contacts_of_one_person_merge_into_the_older,
    a_changed_number_moves_the_contact_with_tags_and_window,
    a_user_id_update_moves_the_contact,
    a_change_for_an_unknown_customer_creates_nothing,
);

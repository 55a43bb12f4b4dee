//! The Chatwoot bridge's tables: a conversation's link found both ways and replaced; an event
//! never tried, in doubt, then mirrored (and not put back in doubt); an agent's message
//! taken once with its send queued in the same write, a second delivery writing nothing.

use super::fixtures::*;
use crate::store::{ChatwootLink, DynStore, Mirrored};

async fn a_conversations_link_is_found_both_ways_and_replaced(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.cw1", 1, t(0)).await;
    assert_eq!(store.chatwoot_link(conversation).await.unwrap(), None);
    assert_eq!(store.chatwoot_conversation(41).await.unwrap(), None);
    let link = ChatwootLink {
        conversation_id: conversation,
        contact_id: 7,
        source_id: "parley-contact-1".into(),
        chatwoot_conversation_id: 41,
    };
    store.save_chatwoot_link(&link, t(1)).await.unwrap();
    assert_eq!(
        store.chatwoot_link(conversation).await.unwrap(),
        Some(link.clone())
    );
    assert_eq!(
        store.chatwoot_conversation(41).await.unwrap(),
        Some(conversation)
    );
    let again = ChatwootLink {
        chatwoot_conversation_id: 42,
        ..link
    };
    store.save_chatwoot_link(&again, t(2)).await.unwrap();
    assert_eq!(
        store.chatwoot_link(conversation).await.unwrap(),
        Some(again)
    );
    assert_eq!(
        store.chatwoot_conversation(42).await.unwrap(),
        Some(conversation)
    );
}

async fn an_event_is_in_doubt_until_mirrored_and_stays_mirrored(store: DynStore) {
    assert_eq!(store.chatwoot_mirrored(5).await.unwrap(), Mirrored::No);
    store.chatwoot_mirroring(5, t(0)).await.unwrap();
    assert_eq!(store.chatwoot_mirrored(5).await.unwrap(), Mirrored::InDoubt);
    store.chatwoot_mirrored_as(5, 900, t(1)).await.unwrap();
    assert_eq!(store.chatwoot_mirrored(5).await.unwrap(), Mirrored::As(900));
    store.chatwoot_mirroring(5, t(2)).await.unwrap();
    assert_eq!(store.chatwoot_mirrored(5).await.unwrap(), Mirrored::As(900));
    assert_eq!(store.chatwoot_mirrored(6).await.unwrap(), Mirrored::No);
}

async fn an_agents_message_is_sent_once_however_often_it_arrives(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.cw2", 1, t(0)).await;
    let send = text_to(conversation, 1, "An agent here");
    let first = store
        .take_chatwoot_message(300, conversation, Some(&send), t(1))
        .await
        .unwrap();
    assert!(first.new);
    let outbound = first.outbound_id.expect("a send queued");
    let record = store.outbound(outbound).await.unwrap().expect("the send");
    assert_eq!(record.conversation_id, conversation);
    assert!(store.sent_for_chatwoot(outbound).await.unwrap());
    assert!(!store.sent_for_chatwoot(outbound + 1000).await.unwrap());
    let second = store
        .take_chatwoot_message(300, conversation, Some(&send), t(2))
        .await
        .unwrap();
    assert_eq!((second.new, second.outbound_id), (false, Some(outbound)));
    assert_eq!(
        store.outbound(outbound + 1).await.unwrap().map(|r| r.id),
        None,
        "nothing queued twice"
    );
    // Taken without a send (the window was closed): recorded, and still taken once.
    let refused = store
        .take_chatwoot_message(301, conversation, None, t(3))
        .await
        .unwrap();
    assert_eq!((refused.new, refused.outbound_id), (true, None));
    let again = store
        .take_chatwoot_message(301, conversation, Some(&send), t(4))
        .await
        .unwrap();
    assert_eq!((again.new, again.outbound_id), (false, None));
}

conformance!(
    a_conversations_link_is_found_both_ways_and_replaced,
    an_event_is_in_doubt_until_mirrored_and_stays_mirrored,
    an_agents_message_is_sent_once_however_often_it_arrives,
);

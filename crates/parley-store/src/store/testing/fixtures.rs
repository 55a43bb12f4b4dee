//! Builders for the conformance scenarios: a fixed clock origin, customers, inbound
//! messages, statuses and outbound messages, plus a few multi-step helpers.

use crate::domain::{
    ContactRef, ConversationState, DeliveryStatus, InboundContent, InboundMessage, OutboundContent,
    OutboundMessage, PhoneNumber, ProviderError, StatusUpdate, TemplateMessage, WindowFallback,
};
use crate::store::{
    ClaimedWork, ConversationWork, DynStore, Id, InboxClaim, IngestItem, IngestOutcome,
    NewOutbound, Origin, SendOutcome, StepCommit,
};
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

pub const SENDER: i64 = 1;
pub const LEASE: Duration = Duration::from_secs(30);
/// How long a send whose lease ran out waits for a status before it goes again.
pub const IN_DOUBT: Duration = Duration::from_secs(60);

/// `t(0)` is a fixed instant; `t(n)` is `n` seconds later.
pub fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_740_830_400, 0).expect("a valid instant")
        + TimeDelta::seconds(seconds)
}

pub fn customer(n: u32) -> ContactRef {
    ContactRef::Phone(PhoneNumber::parse(&format!("+1631555{n:04}")).expect("a valid number"))
}

pub fn inbound(id: &str, from: u32, at: Option<DateTime<Utc>>, text: &str) -> InboundMessage {
    InboundMessage {
        provider_message_id: id.to_string(),
        from: customer(from),
        profile_name: Some(format!("Customer {from}")),
        username: None,
        timestamp: at,
        content: InboundContent::Text {
            body: text.to_string(),
        },
        context: None,
        referral: None,
    }
}

/// A webhook of one text from customer `from`, received now.
pub fn text_now(id: &str, from: u32) -> Vec<IngestItem> {
    vec![message(inbound(id, from, None, "hi"), Utc::now())]
}

pub fn message(message: InboundMessage, received_at: DateTime<Utc>) -> IngestItem {
    IngestItem::Message {
        sender_id: SENDER,
        message,
        received_at,
    }
}

pub fn status(
    provider_id: &str,
    status: DeliveryStatus,
    code: Option<i64>,
    at: DateTime<Utc>,
) -> IngestItem {
    IngestItem::Status {
        sender_id: SENDER,
        status: StatusUpdate {
            provider_message_id: provider_id.to_string(),
            status,
            timestamp: Some(at),
            recipient: None,
            outbox_id: None,
            pricing: None,
            error: code.map(|code| ProviderError {
                code,
                title: format!("error {code}"),
                details: None,
            }),
        },
        received_at: at,
    }
}

pub fn template(name: &str) -> TemplateMessage {
    TemplateMessage {
        name: name.to_string(),
        language: "en".into(),
        variables: [("1".to_string(), "Ana".to_string())].into_iter().collect(),
        quick_reply_payloads: vec![],
        content_sid: None,
    }
}

pub fn text_to(conversation_id: Id, to: u32, body: &str) -> NewOutbound {
    NewOutbound {
        sender_id: SENDER,
        conversation_id,
        message: OutboundMessage {
            to: customer(to),
            content: OutboundContent::Text {
                body: body.to_string(),
                preview_url: false,
            },
            trace: None,
        },
        fallback: WindowFallback::Fail,
        origin: Origin::Flow,
        flow: None,
        step: None,
        cost: None,
    }
}

/// Ingests one message and returns its event and conversation.
pub async fn receive(store: &DynStore, id: &str, from: u32, at: DateTime<Utc>) -> (Id, Id) {
    let outcomes = store
        .ingest(&[message(inbound(id, from, Some(at), "hello"), at)])
        .await
        .expect("ingest");
    match outcomes.as_slice() {
        [IngestOutcome::Stored {
            event_id,
            conversation_id,
        }] => (*event_id, *conversation_id),
        other => panic!("expected one stored message, got {other:?}"),
    }
}

/// What is handed over when message `id` from contact `from` is ingested at `t(at)` with a
/// claim for `owner` (room for 10, 32 events each).
pub async fn ingest_one(
    store: &DynStore,
    id: &str,
    from: u32,
    at: i64,
    owner: &str,
) -> Vec<ClaimedWork> {
    let claim = InboxClaim {
        owner: owner.into(),
        now: t(at),
        lease: LEASE,
        limit: 10,
        events: 32,
    };
    store
        .ingest_and_claim(
            &[message(inbound(id, from, Some(t(at)), "again"), t(at))],
            Some(&claim),
        )
        .await
        .unwrap()
        .1
}

/// The work of the one conversation in `handed`, read as the inbox reads it (32 events).
pub async fn read_the_one_handed(store: &DynStore, handed: Vec<ClaimedWork>) -> ConversationWork {
    let [work] = <[ClaimedWork; 1]>::try_from(handed)
        .unwrap_or_else(|handed| panic!("one conversation handed over, not {handed:?}"));
    work.read_or_load(&**store, 32).await.unwrap()
}

/// A step that only marks the event processed.
pub fn step(conversation_id: Id, event_id: Id, owner: &str, now: DateTime<Utc>) -> StepCommit {
    StepCommit {
        conversation_id,
        owner: owner.to_string(),
        event_id,
        state: ConversationState::default(),
        contact_patch: None,
        outbound: vec![],
        timers: vec![],
        cancel_timers: vec![],
        now,
        queued_at: now,
        release: false,
        insights: Default::default(),
        events: Vec::new(),
        hand_until: None,
    }
}

/// Enqueues a message, sends it and records the provider's id, as the outbox would.
pub async fn sent(
    store: &DynStore,
    message: NewOutbound,
    provider_id: &str,
    now: DateTime<Utc>,
) -> Id {
    let ids = store.enqueue(&[message], now).await.expect("enqueue");
    let claimed = store
        .claim_outbound("outbox", now, LEASE, IN_DOUBT, 10)
        .await
        .expect("claim outbound");
    assert_eq!(claimed.iter().map(|i| i.id).collect::<Vec<_>>(), ids);
    let accepted = SendOutcome::Accepted {
        provider_message_id: provider_id.to_string(),
        converted_to: None,
    };
    store
        .record_outcome(ids[0], "outbox", &accepted, now)
        .await
        .expect("record outcome");
    ids[0]
}

/// The ids of a claim, for compact assertions.
pub async fn claim_ids(store: &DynStore, owner: &str, now: DateTime<Utc>, limit: i64) -> Vec<Id> {
    store
        .claim_outbound(owner, now, LEASE, IN_DOUBT, limit)
        .await
        .expect("claim outbound")
        .into_iter()
        .map(|item| item.id)
        .collect()
}

/// A price predicted at enqueue for `category` at `price_micros`, on the US card.
pub fn predicted(
    category: crate::domain::pricing::Category,
    price_micros: i64,
) -> crate::domain::pricing::CostPrediction {
    crate::domain::pricing::CostPrediction {
        category,
        pricing_type: crate::domain::pricing::PricingType::Regular,
        market: "1".into(),
        currency: "USD".into(),
        price_micros,
        rates: crate::domain::pricing::Rates {
            marketing: 25_000,
            utility: 3_400,
            authentication: 13_500,
            service: 3_400,
        },
    }
}

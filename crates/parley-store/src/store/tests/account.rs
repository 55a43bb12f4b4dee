//! What Meta says about the account: templates' live status and category, and contacts'
//! marketing state (131049 holds a marketing message back on a ladder, 131050 and
//! `user_preferences` stop marketing).

use super::fixtures::*;
use crate::domain::{
    ContactRef, DeliveryStatus, MarketingPreference, OutboundContent, TemplateCategory,
    TemplateChange, TemplateUpdate,
};
use crate::store::{DynStore, Id, NewOutbound, SendOutcome};

fn update(name: &str, language: Option<&str>, change: TemplateChange) -> TemplateUpdate {
    TemplateUpdate {
        name: name.into(),
        language: language.map(str::to_string),
        template_id: Some("1290398411124521".into()),
        change,
    }
}

fn changed_to(status: &str) -> TemplateChange {
    TemplateChange::Status {
        status: status.into(),
        reason: Some("LOW_QUALITY".into()),
        category: None,
    }
}

async fn template_changes_are_kept_and_looked_up_by_language(store: DynStore) {
    assert_eq!(store.live_template("promo", "en").await.unwrap(), None);
    store
        .record_template_update(&update("promo", Some("en"), changed_to("paused")), t(1))
        .await
        .unwrap();
    store
        .record_template_update(
            &update(
                "promo",
                Some("en"),
                TemplateChange::CategoryImpending {
                    category: TemplateCategory::Marketing,
                    on: Some(t(86_400)),
                },
            ),
            t(2),
        )
        .await
        .unwrap();
    let live = store.live_template("promo", "en").await.unwrap().unwrap();
    assert_eq!(live.status.as_deref(), Some("paused"));
    assert_eq!(live.reason.as_deref(), Some("LOW_QUALITY"));
    assert_eq!(live.impending_category, Some(TemplateCategory::Marketing));
    assert_eq!(live.impending_on, Some(t(86_400)));
    assert!(live.unsendable_reason().is_some());
    // Another language of the same name is another template.
    assert_eq!(store.live_template("promo", "es").await.unwrap(), None);

    // The change happens; the template is approved again.
    store
        .record_template_update(
            &update(
                "promo",
                Some("en"),
                TemplateChange::Category {
                    category: TemplateCategory::Marketing,
                    previous: Some(TemplateCategory::Utility),
                },
            ),
            t(3),
        )
        .await
        .unwrap();
    store
        .record_template_update(&update("promo", Some("en"), changed_to("approved")), t(4))
        .await
        .unwrap();
    let live = store.live_template("promo", "en").await.unwrap().unwrap();
    assert_eq!(live.category, Some(TemplateCategory::Marketing));
    assert_eq!(live.impending_category, None);
    assert_eq!(live.unsendable_reason(), None);
    assert_eq!(live.updated_at, t(4));

    // An update without a language applies to every language that has no row of its own.
    store
        .record_template_update(&update("welcome", None, changed_to("disabled")), t(5))
        .await
        .unwrap();
    let any = store
        .live_template("welcome", "pt_BR")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(any.status.as_deref(), Some("disabled"));
    let all = store.live_templates().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|l| (l.name.as_str(), l.language.as_str()))
            .collect::<Vec<_>>(),
        vec![("promo", "en"), ("welcome", "")]
    );
}

/// WhatsApp's status for `wamid`: held back by the per-user marketing limit (131049).
async fn held_back(store: &DynStore, wamid: &str, at: chrono::DateTime<chrono::Utc>) {
    store
        .ingest(&[status(wamid, DeliveryStatus::Failed, Some(131049), at)])
        .await
        .unwrap();
}

fn marketing_to(conversation_id: Id) -> NewOutbound {
    let mut message = text_to(conversation_id, 1, "");
    message.message.content = OutboundContent::Template(template("spring_sale"));
    message
}

async fn a_held_back_marketing_message_waits_on_the_ladder(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.in", 1, t(0)).await;
    let mut promo = marketing_to(conversation);
    promo.flow = Some("offers".into());
    promo.step = Some("send".into());
    promo.cost = Some(predicted(
        crate::domain::pricing::Category::Marketing,
        25_000,
    ));
    let first = sent(&store, promo, "wamid.m1", t(10)).await;
    // WhatsApp says 131049 in a status: the contact is limited for a day and a copy waits.
    held_back(&store, "wamid.m1", t(20)).await;
    let state = store.marketing_state(conversation).await.unwrap();
    assert_eq!(state.limited_until, Some(t(20 + 86_400)));
    assert_eq!(state.stopped_at, None);
    // The same status again adds no second copy.
    held_back(&store, "wamid.m1", t(21)).await;
    assert_eq!(store.release_deferred(t(20 + 86_399)).await.unwrap(), 0);
    assert_eq!(
        claim_ids(&store, "o", t(20 + 86_399), 10).await,
        Vec::<Id>::new()
    );
    assert_eq!(store.release_deferred(t(20 + 86_400)).await.unwrap(), 1);
    assert_eq!(store.release_deferred(t(20 + 86_401)).await.unwrap(), 0);
    let again = claim_ids(&store, "o", t(20 + 86_400), 10).await;
    assert_eq!(again.len(), 1);
    assert_ne!(again[0], first);
    // The copy keeps its original's flow, step and predicted price (the held-back original
    // is failed, so it no longer counts).
    let copy = store.cost_entry(again[0]).await.unwrap().expect("priced");
    assert_eq!((copy.predicted_micros, copy.market.as_str()), (25_000, "1"));
    let by_step = store
        .costs(crate::store::CostGrouping::Step, t(0), t(3 * 86_400), 10)
        .await
        .unwrap();
    assert_eq!(by_step.len(), 1, "{by_step:?}");
    assert_eq!(
        (
            by_step[0].flow.as_deref(),
            by_step[0].step.as_deref(),
            by_step[0].messages,
            by_step[0].predicted_micros
        ),
        (Some("offers"), Some("send"), 1, 25_000)
    );

    // Held back again and again: 48 h, then 96 h, then the ladder is spent.
    let mut now = 20 + 86_400;
    let mut id = again[0];
    for (round, wait) in [(1, Some(48)), (2, Some(96)), (3, None)] {
        store
            .record_outcome(id, "o", &failed(131049), t(now))
            .await
            .unwrap();
        let Some(h) = wait else {
            // The ladder is spent: no copy, ever.
            assert_eq!(
                store.release_deferred(t(now + 100 * 86_400)).await.unwrap(),
                0
            );
            break;
        };
        let due = now + h * 3600;
        assert_eq!(
            store.release_deferred(t(due - 1)).await.unwrap(),
            0,
            "round {round}"
        );
        assert_eq!(
            store.release_deferred(t(due)).await.unwrap(),
            1,
            "round {round}"
        );
        now = due;
        let claimed = claim_ids(&store, "o", t(now), 10).await;
        assert_eq!(claimed.len(), 1, "round {round}");
        id = claimed[0];
    }
}

/// A utility template that WhatsApp held back (131049) fails for good: the contact is
/// limited for marketing, but no copy waits for another day (README, error codes).
async fn a_held_back_utility_message_is_not_sent_again(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.in", 1, t(0)).await;
    let mut reminder = marketing_to(conversation);
    reminder.cost = Some(predicted(crate::domain::pricing::Category::Utility, 3_400));
    let id = sent(&store, reminder, "wamid.u1", t(10)).await;
    held_back(&store, "wamid.u1", t(20)).await;
    let state = store.marketing_state(conversation).await.unwrap();
    assert_eq!(state.limited_until, Some(t(20 + 86_400)));
    assert_eq!(
        store.release_deferred(t(20 + 10 * 86_400)).await.unwrap(),
        0,
        "no copy waits"
    );
    assert_eq!(
        store.outbound(id).await.unwrap().unwrap().status,
        DeliveryStatus::Failed
    );
}

/// A send that failed with a provider code.
fn failed(code: i64) -> SendOutcome {
    SendOutcome::Failed {
        code: Some(code),
        title: format!("error {code}"),
        window_closed: false,
    }
}

async fn a_customer_who_stopped_marketing_is_marked(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.in", 1, t(0)).await;
    sent(&store, marketing_to(conversation), "wamid.m1", t(10)).await;
    store
        .ingest(&[status(
            "wamid.m1",
            DeliveryStatus::Failed,
            Some(131050),
            t(20),
        )])
        .await
        .unwrap();
    assert_eq!(
        store
            .marketing_state(conversation)
            .await
            .unwrap()
            .stopped_at,
        Some(t(20))
    );
    // `user_preferences` resume clears it; stop sets it again, at the customer's time.
    let preference = |stopped, at| MarketingPreference {
        contact: customer(1),
        stopped,
        at: Some(at),
    };
    store
        .set_marketing_preference(&preference(false, t(30)), t(31))
        .await
        .unwrap();
    assert_eq!(
        store
            .marketing_state(conversation)
            .await
            .unwrap()
            .stopped_at,
        None
    );
    store
        .set_marketing_preference(&preference(true, t(40)), t(41))
        .await
        .unwrap();
    assert_eq!(
        store
            .marketing_state(conversation)
            .await
            .unwrap()
            .stopped_at,
        Some(t(40))
    );
    // A customer Parley never met is created, stopped.
    store
        .set_marketing_preference(
            &MarketingPreference {
                contact: customer(7),
                stopped: true,
                at: None,
            },
            t(50),
        )
        .await
        .unwrap();
    let other = store
        .ensure_conversation(SENDER, &customer(7), None, t(51))
        .await
        .unwrap()
        .id;
    assert_eq!(
        store.marketing_state(other).await.unwrap().stopped_at,
        Some(t(50))
    );
}

async fn a_failure_recorded_with_a_marketing_code_acts_in_the_same_transaction(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.in", 1, t(0)).await;
    let ids = store
        .enqueue(&[marketing_to(conversation)], t(1))
        .await
        .unwrap();
    assert_eq!(claim_ids(&store, "o", t(2), 10).await, ids);
    let held = SendOutcome::Failed {
        code: Some(131049),
        title: "held back".into(),
        window_closed: false,
    };
    store
        .record_outcome(ids[0], "o", &held, t(3))
        .await
        .unwrap();
    assert_eq!(
        store
            .marketing_state(conversation)
            .await
            .unwrap()
            .limited_until,
        Some(t(3 + 86_400))
    );
    assert_eq!(store.release_deferred(t(3 + 86_399)).await.unwrap(), 0);
    assert_eq!(store.release_deferred(t(3 + 86_400)).await.unwrap(), 1);
    let copy = claim_ids(&store, "o", t(3 + 86_400), 10).await;
    assert_eq!(copy.len(), 1);
    // The customer stopped marketing: the failure marks them.
    store
        .record_outcome(copy[0], "o", &failed(131050), t(3 + 86_401))
        .await
        .unwrap();
    assert_eq!(
        store
            .marketing_state(conversation)
            .await
            .unwrap()
            .stopped_at,
        Some(t(3 + 86_401))
    );
    // A lost lease records nothing, so it holds nothing back either.
    let late = store
        .enqueue(&[marketing_to(conversation)], t(3 + 86_402))
        .await
        .unwrap();
    assert!(store
        .record_outcome(late[0], "o", &held, t(3 + 86_403))
        .await
        .is_err());
    assert_eq!(store.release_deferred(t(10 * 86_400)).await.unwrap(), 0);
}

/// Two contacts turn out to be one person: a marketing stop of either holds for the survivor,
/// and a held-back copy moves with the conversation.
async fn a_marketing_stop_and_a_held_back_copy_survive_a_contact_merge(store: DynStore) {
    const BSUID: &str = "US.10482957361840527319";
    let (_, by_phone) = receive(&store, "wamid.p", 1, t(0)).await;
    let by_id_message = |id: &str, from: ContactRef, at| {
        let mut m = inbound(id, 1, Some(at), "hello");
        m.from = from;
        message(m, at)
    };
    store
        .ingest(&[by_id_message(
            "wamid.b",
            ContactRef::BusinessScoped(BSUID.into()),
            t(1),
        )])
        .await
        .unwrap();
    let by_id = store
        .ensure_conversation(
            SENDER,
            &ContactRef::BusinessScoped(BSUID.into()),
            None,
            t(2),
        )
        .await
        .unwrap()
        .id;
    assert_ne!(by_phone, by_id);
    store
        .set_marketing_preference(
            &MarketingPreference {
                contact: ContactRef::BusinessScoped(BSUID.into()),
                stopped: true,
                at: Some(t(3)),
            },
            t(3),
        )
        .await
        .unwrap();
    sent(&store, marketing_to(by_id), "wamid.m", t(4)).await;
    held_back(&store, "wamid.m", t(5)).await;

    // A message naming both identities joins them on the older contact.
    let phone = customer(1).phone().expect("a phone").clone();
    store
        .ingest(&[by_id_message(
            "wamid.both",
            ContactRef::PhoneAndBusinessScoped {
                phone,
                user_id: BSUID.into(),
            },
            t(6),
        )])
        .await
        .unwrap();
    let state = store.marketing_state(by_phone).await.unwrap();
    assert_eq!(state.stopped_at, Some(t(3)));
    assert_eq!(state.limited_until, Some(t(5 + 86_400)));
    // The copy goes to the surviving conversation.
    assert_eq!(store.release_deferred(t(5 + 86_400)).await.unwrap(), 1);
    let copy = store
        .claim_outbound("o", t(5 + 86_400), LEASE, IN_DOUBT, 10)
        .await
        .unwrap();
    assert_eq!(copy.len(), 1);
    assert_eq!(copy[0].conversation_id, by_phone);
}

conformance!(
    a_held_back_utility_message_is_not_sent_again,
    a_marketing_stop_and_a_held_back_copy_survive_a_contact_merge,
    a_failure_recorded_with_a_marketing_code_acts_in_the_same_transaction,
    template_changes_are_kept_and_looked_up_by_language,
    a_held_back_marketing_message_waits_on_the_ladder,
    a_customer_who_stopped_marketing_is_marked,
);
